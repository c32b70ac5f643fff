//! A real S3-compatible server (s3s-fs: objects in a directory, every request's SigV4 signature
//! checked against one access key, S3's multipart rules) on a free port, for the backup tests and
//! the backup bench. docs/backup-store.md says why this one and where it differs from S3.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::spawned;

/// The access key the server accepts (test-only: it never leaves this machine).
pub const ACCESS_KEY: &str = "natsdr-test";
/// The secret of [`ACCESS_KEY`].
pub const SECRET_KEY: &str = "natsdr-test-secret";

/// Why the server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum S3ServerError {
    /// The executable is missing: `make deps` installs it (crates.io `s3s-fs`).
    #[error("s3s-fs not found at {0} (run `make deps`, or set NATSDR_S3S_FS to its path)")]
    Missing(PathBuf),
    /// It could not be spawned, its directory made, or no free port could be had.
    #[error("cannot start s3s-fs")]
    Spawn(#[source] std::io::Error),
    /// It did not accept connections in time.
    #[error("s3s-fs did not listen on {addr} within {waited:?}; its log is {log}")]
    NotReady {
        /// Where it should listen.
        addr: SocketAddr,
        /// How long we waited.
        waited: Duration,
        /// Its log file.
        log: String,
    },
}

/// `$NATSDR_S3S_FS`, else `<repo>/.tools/s3s-fs/bin/s3s-fs` (where `make deps` puts it).
pub fn executable() -> PathBuf {
    std::env::var_os("NATSDR_S3S_FS").map_or_else(
        || crate::repo_root().join(".tools/s3s-fs/bin/s3s-fs"),
        PathBuf::from,
    )
}

/// A running s3s-fs; killed on drop (its objects stay in its directory until that is removed).
#[derive(Debug)]
pub struct S3Server {
    child: Child,
    addr: SocketAddr,
    root: PathBuf,
}

impl S3Server {
    /// Starts s3s-fs on a free port of 127.0.0.1, storing objects under `dir` (one folder per
    /// bucket) and logging next to them, and waits until it answers. Fails (never skips) when
    /// it is not installed.
    pub fn start(dir: &Path) -> Result<Self, S3ServerError> {
        let exe = executable();
        if !exe.exists() {
            return Err(S3ServerError::Missing(exe));
        }
        let addr = spawned::free_addr().map_err(S3ServerError::Spawn)?;
        let port = addr.port();
        let root = dir.join(format!("s3-{port}"));
        std::fs::create_dir_all(&root).map_err(S3ServerError::Spawn)?;
        let log_path = dir.join(format!("s3s-fs-{port}.log"));
        let (log, err) = spawned::log_to(&log_path).map_err(S3ServerError::Spawn)?;
        let child = Command::new(&exe)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(&root)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(S3ServerError::Spawn)?;
        let mut me = Self { child, addr, root };
        spawned::wait_listening(&mut me.child, addr, Duration::from_secs(30)).map_err(
            |waited| S3ServerError::NotReady {
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

    /// The directory holding its buckets (a bucket is a folder, an object a file).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A client signing with the server's key.
    pub fn client(&self) -> aws_sdk_s3::Client {
        self.client_as(ACCESS_KEY, SECRET_KEY)
    }

    /// A client signing with `access_key` and `secret`, path-style, in us-east-1, without the
    /// SDK's optional checksums (as natsdr's own target is configured).
    pub fn client_as(&self, access_key: &str, secret: &str) -> aws_sdk_s3::Client {
        use aws_sdk_s3::config::{
            Credentials, RequestChecksumCalculation, ResponseChecksumValidation,
        };
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(self.url())
            .force_path_style(true)
            .credentials_provider(Credentials::new(access_key, secret, None, None, "static"))
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        spawned::stop(&mut self.child);
    }
}
