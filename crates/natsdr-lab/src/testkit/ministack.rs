//! A real ministack (a local AWS emulator: Route 53 for DNS, S3 for backups) on a free port, for
//! tests and the demo.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::spawned;

/// An AWS SDK config for a ministack (or a proxy in front of one) at `endpoint`: region
/// us-east-1 and static dummy credentials, which ministack accepts and which never leave this
/// machine.
pub fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    use aws_sdk_route53::config::{Credentials, SharedCredentialsProvider};
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test", "test", None, None, "static",
        )))
        .build()
}

/// Why ministack could not be started.
#[derive(Debug, thiserror::Error)]
pub enum MinistackError {
    /// The executable is missing: `make deps` installs it (PyPI `ministack`).
    #[error("ministack not found at {0} (run `make deps`, or set NATSDR_MINISTACK to its path)")]
    Missing(PathBuf),
    /// It could not be spawned, or no free port could be had.
    #[error("cannot start ministack")]
    Spawn(#[source] std::io::Error),
    /// It did not accept connections in time.
    #[error("ministack did not listen on {addr} within {waited:?}; its log is {log}")]
    NotReady {
        /// Where it should listen.
        addr: SocketAddr,
        /// How long we waited.
        waited: Duration,
        /// Its log file.
        log: String,
    },
}

/// A running ministack; killed on drop.
#[derive(Debug)]
pub struct Ministack {
    child: Child,
    addr: SocketAddr,
}

/// `$NATSDR_MINISTACK`, else `<repo>/.tools/venv/bin/ministack` (where `make deps` puts it).
pub fn executable() -> PathBuf {
    std::env::var_os("NATSDR_MINISTACK").map_or_else(
        || crate::repo_root().join(".tools/venv/bin/ministack"),
        PathBuf::from,
    )
}

impl Ministack {
    /// Starts ministack (Route 53 only) on a free port of 127.0.0.1, logging to `dir`, and
    /// waits until it answers. Fails (never skips) when it is not installed.
    pub fn start(dir: &Path) -> Result<Self, MinistackError> {
        Self::start_services(dir, "route53")
    }

    /// Starts ministack with `services` (its `SERVICES` list, e.g. "s3" for backups' target).
    pub fn start_services(dir: &Path, services: &str) -> Result<Self, MinistackError> {
        let exe = executable();
        if !exe.exists() {
            return Err(MinistackError::Missing(exe));
        }
        let addr = spawned::free_addr().map_err(MinistackError::Spawn)?;
        let port = addr.port();
        let log_path = dir.join(format!("ministack-{port}.log"));
        let (log, err) = spawned::log_to(&log_path).map_err(MinistackError::Spawn)?;
        let child = Command::new(&exe)
            .current_dir(dir)
            .env("BIND_HOST", "127.0.0.1")
            .env("GATEWAY_PORT", port.to_string())
            .env("SERVICES", services)
            .env("LOG_LEVEL", "WARNING")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(MinistackError::Spawn)?;
        let mut me = Self { child, addr };
        spawned::wait_listening(&mut me.child, addr, Duration::from_secs(30)).map_err(
            |waited| MinistackError::NotReady {
                addr,
                waited,
                log: log_path.display().to_string(),
            },
        )?;
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

impl Drop for Ministack {
    fn drop(&mut self) {
        spawned::stop(&mut self.child);
    }
}
