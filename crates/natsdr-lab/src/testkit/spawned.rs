//! What the testkit's local servers share: a free port, one log file for their stdout and
//! stderr, waiting until they listen, and killing them on drop.
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a local server may take to listen.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// Why a local server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The executable is missing: `make deps` installs it.
    #[error("{name} not found at {path} (run `make deps`, or set {env} to its path)")]
    Missing {
        /// The server's name.
        name: &'static str,
        /// Where it was looked for.
        path: PathBuf,
        /// The variable that names another path.
        env: &'static str,
    },
    /// It could not be spawned, its directory made, or no free port could be had.
    #[error("cannot start {0}")]
    Spawn(&'static str, #[source] std::io::Error),
    /// It did not accept connections in time.
    #[error("{name} did not listen on {addr} within {waited:?}; its log is {log}")]
    NotReady {
        /// The server's name.
        name: &'static str,
        /// Where it should listen.
        addr: SocketAddr,
        /// How long we waited.
        waited: Duration,
        /// Its log file.
        log: String,
    },
}

/// A local server process listening on 127.0.0.1; killed on drop.
#[derive(Debug)]
pub struct Listening {
    child: Child,
    addr: SocketAddr,
}

impl Listening {
    /// Checks that `exe` exists, picks a free port, lets `command` build the command line for
    /// it (given the port), runs it with its output in `dir/<name>-<port>.log`, and waits until
    /// it listens.
    pub fn start(
        name: &'static str,
        exe: &Path,
        env: &'static str,
        dir: &Path,
        command: impl FnOnce(&mut Command, u16) -> std::io::Result<()>,
    ) -> Result<Self, StartError> {
        if !exe.exists() {
            return Err(StartError::Missing {
                name,
                path: exe.to_owned(),
                env,
            });
        }
        let spawn = |e| StartError::Spawn(name, e);
        let addr = free_addr().map_err(spawn)?;
        let log_path = dir.join(format!("{name}-{}.log", addr.port()));
        let (log, err) = log_to(&log_path).map_err(spawn)?;
        let mut cmd = Command::new(exe);
        command(&mut cmd, addr.port()).map_err(spawn)?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(spawn)?;
        let mut me = Self { child, addr };
        wait_listening(&mut me.child, addr, READY_WITHIN).map_err(|waited| {
            StartError::NotReady {
                name,
                addr,
                waited,
                log: log_path.display().to_string(),
            }
        })?;
        Ok(me)
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its endpoint URL, for `endpoint_url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// A port of 127.0.0.1 free at the moment of asking.
fn free_addr() -> std::io::Result<SocketAddr> {
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port();
    Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
}

/// `path` created, as a child's stdout and stderr.
fn log_to(path: &Path) -> std::io::Result<(Stdio, Stdio)> {
    let log = std::fs::File::create(path)?;
    let err = log.try_clone()?;
    Ok((Stdio::from(log), Stdio::from(err)))
}

/// Waits until `addr` accepts connections. Gives up after `limit`, or as soon as `child` exits,
/// stopping it and returning how long it waited.
fn wait_listening(child: &mut Child, addr: SocketAddr, limit: Duration) -> Result<(), Duration> {
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
fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}
