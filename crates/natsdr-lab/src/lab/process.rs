//! Starting, probing and killing the lab's detached processes by pid.
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

/// Starts `program args` in a process group of its own, stdin closed, stdout and stderr appended
/// to `log`. NB: a new process group (not a new session: `setsid` would need `pre_exec`, which is
/// unsafe) is enough for a lab started by the CLI to outlive the command and its Ctrl-C.
pub(crate) fn spawn_detached(
    program: &Path,
    args: &[&std::ffi::OsStr],
    log: &Path,
) -> io::Result<Child> {
    let out = OpenOptions::new().create(true).append(true).open(log)?;
    let err = out.try_clone()?;
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
}

pub use natsdr::process::is_alive;

/// True if `pid` is alive and its command line mentions `dir`: every lab process is started with a
/// path inside the lab directory, so a recycled pid of an unrelated process is never signalled.
pub(crate) fn belongs_to(pid: u32, dir: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let needle = dir.as_os_str().as_encoded_bytes();
    is_alive(pid) && !needle.is_empty() && cmdline.windows(needle.len()).any(|w| w == needle)
}

/// Sends `sig` to `pid` if it is one of this lab's processes. Returns whether a signal was sent.
pub(crate) fn signal_lab_process(pid: u32, dir: &Path, sig: Signal) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    belongs_to(pid, dir) && signal::kill(Pid::from_raw(raw), sig).is_ok()
}

/// Waits until none of `pids` is alive, or `timeout` passes. Returns the pids still alive.
pub(crate) async fn wait_gone(pids: &[u32], timeout: Duration) -> Vec<u32> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let alive: Vec<u32> = pids.iter().copied().filter(|p| is_alive(*p)).collect();
        if alive.is_empty() || tokio::time::Instant::now() >= deadline {
            return alive;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Writes `contents` to `path` atomically (temporary file, then rename), so a reader polling the
/// file never sees half of it.
pub(crate) fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        let mut f = File::create(&tmp)?;
        io::Write::write_all(&mut f, contents)?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reaped_child_is_not_alive_and_a_running_one_is() {
        let mut child = Command::new("sleep").arg("30").spawn().expect("sleep runs");
        assert!(is_alive(child.id()));
        child.kill().expect("kill");
        child.wait().expect("wait");
        assert!(!is_alive(child.id()));
    }

    #[test]
    fn a_zombie_counts_as_gone() {
        let mut child = Command::new("true").spawn().expect("true runs");
        let pid = child.id();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while is_alive(pid) && tokio::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            !is_alive(pid),
            "an exited, unreaped child must count as gone"
        );
        child.wait().expect("wait");
    }

    #[test]
    fn processes_outside_the_lab_directory_are_never_signalled() {
        let mut child = Command::new("sleep").arg("30").spawn().expect("sleep runs");
        assert!(!signal_lab_process(
            child.id(),
            Path::new("/no/such/lab"),
            Signal::SIGKILL
        ));
        assert!(is_alive(child.id()));
        child.kill().expect("kill");
        child.wait().expect("wait");
    }
}
