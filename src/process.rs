//! Whether a process still runs: the watchdog stops when the process that started it is gone
//! (`NATSDR_OWNER_PID`), and the lab uses the same check for the processes it started.

/// True while `pid` runs. A zombie (exited, not yet reaped by its parent) counts as gone: the
/// parent of a lab process may not have reaped it yet.
pub fn is_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) S ...": comm may hold spaces and parentheses, so the state follows the last ')'.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, None | Some('Z' | 'X'))
}
