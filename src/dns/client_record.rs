//! The client-facing DNS record that points NATS clients at the active region.
use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use super::DnsError;
use crate::config::{Config, EntryPoint};
use crate::model::Region;

/// What the client-facing name points at: a set of addresses (A and/or AAAA records) or an
/// alias (one CNAME). Two targets are equal when they hold the same addresses in any order,
/// or the same alias ignoring case and a trailing dot.
#[derive(Debug, Clone)]
pub enum ClientTarget {
    /// A and AAAA records; never empty when written.
    Addresses(BTreeSet<IpAddr>),
    /// A CNAME to this fully qualified name.
    Alias(String),
}

impl ClientTarget {
    /// Targets these addresses (IPv4 become A records, IPv6 AAAA records).
    pub fn addresses(addrs: impl IntoIterator<Item = IpAddr>) -> Self {
        Self::Addresses(addrs.into_iter().collect())
    }

    /// The configured region whose entry point this is exactly; `None` for anything else
    /// (both regions' addresses, a hand-made value).
    pub fn region_in(&self, cfg: &Config) -> Option<Region> {
        cfg.regions
            .iter()
            .find(|rc| ClientTarget::from(&rc.entry_point) == *self)
            .map(|rc| rc.name.clone())
    }
}

/// `name` in canonical form (lower case, with the trailing dot), for comparisons: DNS names
/// are case-insensitive and the dot is implied.
pub(super) fn canonical(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with('.') {
        lower
    } else {
        lower + "."
    }
}

impl From<&EntryPoint> for ClientTarget {
    /// What the client record holds while the region with this entry point is active.
    fn from(entry: &EntryPoint) -> Self {
        match entry {
            EntryPoint::Address(a) => Self::addresses([*a]),
            EntryPoint::Name(n) => Self::Alias(n.clone()),
        }
    }
}

impl PartialEq for ClientTarget {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Addresses(a), Self::Addresses(b)) => a == b,
            (Self::Alias(a), Self::Alias(b)) => canonical(a) == canonical(b),
            (Self::Addresses(_), Self::Alias(_)) | (Self::Alias(_), Self::Addresses(_)) => false,
        }
    }
}

impl Eq for ClientTarget {}

impl fmt::Display for ClientTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Addresses(addrs) => {
                let list: Vec<String> = addrs.iter().map(IpAddr::to_string).collect();
                write!(f, "[{}]", list.join(", "))
            }
            Self::Alias(alias) => write!(f, "CNAME {alias}"),
        }
    }
}

/// The outcome of a swap that reached the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwapResult {
    /// Our update replaced `from` with `to`.
    Swapped,
    /// `to` was already there (an earlier attempt landed, or someone did the same swap).
    AlreadyThere,
    /// The record held something other than `from`: someone else changed it. Stand down.
    Lost {
        /// What the record holds now (`None` if the name has no address or alias records).
        current: Option<ClientTarget>,
    },
}

/// The DNS record NATS clients resolve to find the active region. Changed only by
/// compare-and-swap, after the arbiter has been claimed and the old primary fenced.
///
/// NB: `impl Future + Send` instead of `async fn` for the same reason as [`super::Arbiter`].
pub trait ClientRecord {
    /// Reads the record straight from the authority (no cache). `None` when the name has no
    /// A, AAAA or CNAME records.
    fn read(&self) -> impl Future<Output = Result<Option<ClientTarget>, DnsError>> + Send;

    /// Replaces `from` (`None`: the name holds no address or alias yet) by `to`, if and only if
    /// the record holds exactly `from`. Reads back after any failure, like
    /// [`super::Arbiter::claim`].
    fn swap(
        &self,
        from: Option<&ClientTarget>,
        to: &ClientTarget,
    ) -> impl Future<Output = Result<SwapResult, DnsError>> + Send;

    /// Polls the authoritative server, bypassing every cache, until it answers `expected`;
    /// returns how long that took, or [`DnsError::NotVisible`] after `within`. Says nothing
    /// about resolvers that still cache the old value for up to its TTL. May overrun `within`
    /// by one lookup's timeout.
    fn verify(
        &self,
        expected: &ClientTarget,
        within: Duration,
    ) -> impl Future<Output = Result<Duration, DnsError>> + Send;
}
