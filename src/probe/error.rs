//! Why one probe of a round failed. A failed probe is part of the observation, never a crash.
use std::time::Duration;

use crate::dns::DnsError;
use crate::nats::{JsError, SysError};

/// One probe that did not give an answer this round.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The probe did not finish within `timing.probe_timeout`.
    #[error("{what} did not answer within {after:?}")]
    Timeout {
        /// Which probe (`ping`, `streams`, `arbiter`, ...).
        what: &'static str,
        /// The bound it ran into.
        after: Duration,
    },
    /// A system-account request (ping, jsz, healthz, leafz) could not be sent (the connection
    /// is closed).
    #[error("cannot send the {what} request to the servers")]
    System {
        /// Which probe.
        what: &'static str,
        /// The system API's error.
        #[source]
        source: SysError,
    },
    /// The JetStream stream listing failed (no responders, no meta quorum, ...).
    #[error("cannot list the streams")]
    Streams(#[source] JsError),
    /// The message that dates a mirror's lag could not be read from the source.
    #[error("cannot read {stream} seq {seq} to date the lag of its mirror")]
    LagMessage {
        /// The source stream.
        stream: String,
        /// The sequence asked for.
        seq: u64,
        /// The JetStream error.
        #[source]
        source: JsError,
    },
    /// The arbiter's ownership record could not be read.
    #[error("cannot read the arbiter")]
    Arbiter(#[source] DnsError),
    /// The client-facing record could not be read.
    #[error("cannot read the client-facing record")]
    ClientRecord(#[source] DnsError),
}

impl ProbeError {
    /// The probe's label: `ping`, `jsz`, `healthz`, `leafz` and `streams` are the region probes of
    /// `telemetry::metrics::PROBES`; `lag`, `arbiter` and `client_record` are the others.
    pub fn probe(&self) -> &'static str {
        match self {
            Self::Timeout { what, .. } => what,
            Self::System { what, .. } => what,
            Self::Streams(_) => "streams",
            Self::LagMessage { .. } => "lag",
            Self::Arbiter(_) => "arbiter",
            Self::ClientRecord(_) => "client_record",
        }
    }
}
