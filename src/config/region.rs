//! A region as configured: where its servers are, how natsdr authenticates, where clients enter.
use std::net::IpAddr;
use std::path::PathBuf;

use serde::Serialize;

use super::secret::SecretRef;
use crate::model::Region;

/// The role a region has when nothing has failed over: who is active now is the arbiter's
/// ownership record, not config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Home {
    /// Takes writes in normal operation.
    Primary,
    /// Mirrors the primary; promoted on failover.
    Standby,
}

impl Home {
    /// Its spelling in the config and the status API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Primary => "primary",
            Self::Standby => "standby",
        }
    }
}

/// How natsdr authenticates to one account of a region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Auth {
    /// No credentials.
    None,
    /// User and password.
    UserPassword {
        /// The user.
        user: String,
        /// The password.
        password: SecretRef,
    },
    /// A token.
    Token(SecretRef),
    /// A `.creds` file (JWT + nkey seed).
    CredsFile(PathBuf),
    /// A file holding an nkey seed.
    NkeySeedFile(PathBuf),
}

/// TLS to a region's servers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tls {
    /// CA bundle to verify the servers with (system roots when absent).
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key, for mutual TLS.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// What the client-facing DNS record holds while this region is active.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryPoint {
    /// An A or AAAA record's address.
    Address(IpAddr),
    /// A CNAME target (a load balancer's name).
    Name(String),
}

impl std::fmt::Display for EntryPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Address(a) => write!(f, "{a}"),
            Self::Name(n) => f.write_str(n),
        }
    }
}

/// One of the two regions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegionConfig {
    /// The region's id.
    pub name: Region,
    /// Its role when nothing has failed over.
    pub home: Home,
    /// Its JetStream domain (mirrors reach it through `$JS.<domain>.API`).
    pub domain: String,
    /// Servers in its cluster: quorum is a majority of this.
    pub cluster_size: u8,
    /// URLs natsdr connects to (each server, or a load balancer).
    pub client_urls: Vec<String>,
    /// What the client-facing record holds while this region is active.
    pub entry_point: EntryPoint,
    /// System-account credentials, for `$SYS` probes.
    pub system: Auth,
    /// Application-account credentials, for the JetStream API.
    pub app: Auth,
    /// TLS settings, if the servers require TLS.
    pub tls: Option<Tls>,
}

impl RegionConfig {
    /// The JetStream API prefix other domains use to reach this region (`$JS.<domain>.API`).
    pub fn js_api_prefix(&self) -> String {
        format!("$JS.{}.API", self.domain)
    }

    /// Servers that must answer for the cluster to have a quorum: a majority.
    pub fn quorum(&self) -> u8 {
        self.cluster_size / 2 + 1
    }
}
