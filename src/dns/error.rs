//! Errors at the DNS boundary, classified as retryable or not.
use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::ResponseCode;

/// Why a DNS read, claim, swap or verification failed.
///
/// Whatever the variant, a failed write may still have landed: callers (and [`Rfc2136`]
/// itself) read the record back before drawing conclusions.
///
/// [`Rfc2136`]: crate::dns::Rfc2136
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// The configuration cannot work (bad name, key, TTL); fixing it needs a human.
    #[error("invalid DNS configuration: {field}: {reason}")]
    Config {
        /// Which setting is wrong.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The server could not be reached or the connection broke (refused, reset, unreachable).
    #[error("cannot talk to DNS server {server}")]
    Transport {
        /// The server we tried.
        server: SocketAddr,
        /// The underlying network error.
        #[source]
        source: hickory_net::NetError,
    },
    /// No answer within the configured timeout.
    #[error("DNS server {server} did not answer within {after:?}")]
    Timeout {
        /// The server we tried.
        server: SocketAddr,
        /// How long we waited.
        after: Duration,
    },
    /// The server refused to authenticate or authorise us (NOTAUTH, REFUSED, BADSIG, BADKEY,
    /// BADTIME): wrong key, wrong key name, an ACL or clock skew. Retrying will not help.
    #[error("DNS server {server} refused our update: {rcode}")]
    NotAuthorized {
        /// The server that refused.
        server: SocketAddr,
        /// The response code it sent.
        rcode: ResponseCode,
    },
    /// The answer could not be decoded or its TSIG could not be verified: the key is wrong,
    /// the server is not a DNS server, or someone tampers with the answer. Not retryable.
    #[error("cannot decode or verify the answer from {server}")]
    BadResponse {
        /// The server that answered.
        server: SocketAddr,
        /// The verification error.
        #[source]
        source: hickory_net::NetError,
    },
    /// The server answered with an error code we do not expect in normal operation
    /// (SERVFAIL is retryable; FORMERR, NOTZONE, NOTIMP and the like are not).
    #[error("DNS server {server} answered {rcode}")]
    Rcode {
        /// The server that answered.
        server: SocketAddr,
        /// The response code it sent.
        rcode: ResponseCode,
    },
    /// The ownership TXT record does not hold `region=<id> epoch=<n>`: a human or another tool
    /// wrote it. We do not overwrite what we cannot read.
    #[error("ownership record {name} holds {text:?}, which is not `region=<id> epoch=<n>`")]
    MalformedOwnership {
        /// The record's name.
        name: String,
        /// The text found there (all TXT records, joined by ` | `).
        text: String,
    },
    /// The client record holds something we cannot represent (e.g. a CNAME next to addresses).
    #[error("client record {name} holds an unexpected mix: {found}")]
    MalformedClientRecord {
        /// The record's name.
        name: String,
        /// What was found there.
        found: String,
    },
    /// A claim must move to a strictly higher epoch: epochs are fencing tokens and only grow.
    #[error("refusing to claim epoch {new} over epoch {expected}: epochs only grow")]
    EpochNotIncreasing {
        /// The epoch we expected to replace.
        expected: u64,
        /// The epoch we were asked to write.
        new: u64,
    },
    /// A swap target that cannot be written (an empty address set, a bad alias name).
    #[error("invalid client record target: {0}")]
    InvalidTarget(String),
    /// A Route 53 API call failed: `Throttling` and `PriorRequestNotComplete` (retried within
    /// the deadline first), a transport failure, or a refusal such as `AccessDenied`.
    #[error("Route 53 {operation} failed: {code}: {message}")]
    Route53 {
        /// The API operation.
        operation: &'static str,
        /// The service's error code (`transport` when there was no answer).
        code: String,
        /// The service's message.
        message: String,
        /// Whether trying again later may succeed.
        retryable: bool,
        /// The SDK's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The authoritative server did not show the expected client record in time.
    #[error("{name} did not show {expected} within {waited:?}; last seen: {last_seen}")]
    NotVisible {
        /// The record's name.
        name: String,
        /// What we waited for.
        expected: String,
        /// What the server last answered.
        last_seen: String,
        /// How long we waited.
        waited: Duration,
    },
}

impl DnsError {
    /// True when trying again later may succeed (network trouble, timeouts, SERVFAIL, a record
    /// not yet visible); false when a human has to fix something first.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport { .. } | Self::Timeout { .. } | Self::NotVisible { .. } => true,
            Self::Rcode { rcode, .. } => *rcode == ResponseCode::ServFail,
            Self::Route53 { retryable, .. } => *retryable,
            Self::Config { .. }
            | Self::NotAuthorized { .. }
            | Self::BadResponse { .. }
            | Self::MalformedOwnership { .. }
            | Self::MalformedClientRecord { .. }
            | Self::EpochNotIncreasing { .. }
            | Self::InvalidTarget(_) => false,
        }
    }
}
