//! A real ministack (a local AWS emulator: Route 53 for DNS, S3 for backups) on a free port, for
//! tests and the demo.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

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
pub type MinistackError = spawned::StartError;

/// A running ministack; killed on drop.
#[derive(Debug)]
pub struct Ministack {
    server: spawned::Listening,
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
        let server = spawned::Listening::start(
            "ministack",
            &executable(),
            "NATSDR_MINISTACK",
            dir,
            |cmd, port| {
                cmd.current_dir(dir)
                    .env("BIND_HOST", "127.0.0.1")
                    .env("GATEWAY_PORT", port.to_string())
                    .env("SERVICES", services)
                    .env("LOG_LEVEL", "WARNING");
                Ok(())
            },
        )?;
        Ok(Self { server })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Its endpoint URL, for `endpoint_url`.
    pub fn url(&self) -> String {
        self.server.url()
    }
}
