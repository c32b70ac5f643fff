//! What the testkit's local servers share: a free port, one log file for their stdout and
//! stderr, and waiting until they listen.
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A port of 127.0.0.1 free at the moment of asking.
pub fn free_addr() -> std::io::Result<SocketAddr> {
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port();
    Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
}

/// `path` created, as a child's stdout and stderr.
pub fn log_to(path: &Path) -> std::io::Result<(Stdio, Stdio)> {
    let log = std::fs::File::create(path)?;
    let err = log.try_clone()?;
    Ok((Stdio::from(log), Stdio::from(err)))
}

/// Waits until `addr` accepts connections. Gives up after `limit`, or as soon as `child` exits,
/// stopping it and returning how long it waited.
pub fn wait_listening(
    child: &mut Child,
    addr: SocketAddr,
    limit: Duration,
) -> Result<(), Duration> {
    let started = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if started.elapsed() > limit || matches!(child.try_wait(), Ok(Some(_))) {
            stop(child);
            return Err(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Kills `child` and reaps it.
pub fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}
