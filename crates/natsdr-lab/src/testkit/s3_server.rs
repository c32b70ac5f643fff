//! A real S3-compatible server (s3s-fs: objects in a directory, every request's SigV4 signature
//! checked against one access key, S3's multipart rules) on a free port, for the backup tests and
//! the backup bench. docs/backup-store.md says why this one and where it differs from S3.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::spawned;

/// The access key the server accepts (test-only: it never leaves this machine).
pub const ACCESS_KEY: &str = "natsdr-test";
/// The secret of [`ACCESS_KEY`].
pub const SECRET_KEY: &str = "natsdr-test-secret";

/// Why the server could not be started.
pub type S3ServerError = spawned::StartError;

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
    server: spawned::Listening,
    root: PathBuf,
}

impl S3Server {
    /// Starts s3s-fs on a free port of 127.0.0.1, storing objects under `dir` (one folder per
    /// bucket) and logging next to them, and waits until it answers. Fails (never skips) when
    /// it is not installed.
    pub fn start(dir: &Path) -> Result<Self, S3ServerError> {
        let mut root = PathBuf::new();
        let server = spawned::Listening::start(
            "s3s-fs",
            &executable(),
            "NATSDR_S3S_FS",
            dir,
            |cmd, port| {
                root = dir.join(format!("s3-{port}"));
                std::fs::create_dir_all(&root)?;
                cmd.args(["--host", "127.0.0.1", "--port", &port.to_string()])
                    .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
                    .arg(&root)
                    .env("RUST_LOG", "warn");
                Ok(())
            },
        )?;
        Ok(Self { server, root })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Its endpoint URL, for `endpoint_url`.
    pub fn url(&self) -> String {
        self.server.url()
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
