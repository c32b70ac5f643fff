//! `natsdr-lab demo`: a live two-region failover on this machine, with a load generator and a report.
//!
//! The pieces that decide what a run proves are pure ([`Ledger`], [`Report`], [`Scenario`]);
//! [`run`] is the shell that starts the lab and the watchdogs, drives the load and the fault,
//! and fills the report.
mod background;
mod deliveries;
#[cfg(test)]
pub(crate) mod fixtures;
mod kv;
mod ledger;
mod load;
mod reader;
mod report;
mod route53;
pub(crate) mod run;
mod scenario;
mod streams;

pub use background::Background;
pub use deliveries::{Deliveries, Seen};
pub use kv::{KvAck, KvBuckets, KvLedger, KvReport, KvWatch, Rollback};
pub use ledger::{Ack, Ledger};
pub use load::{LoadGen, LoadTarget, resolve, uncached_resolver};
pub use reader::Reader;
pub use report::{Consumers, Phases, Report, Steps, first_transition_to, offset_ms, went_through};
pub use run::{DemoDns, DemoOptions, caught_up, nats_version, run};
pub use scenario::Scenario;
pub use streams::DemoStreams;

use std::path::PathBuf;

use crate::lab::Site;
use crate::lab::watchdogs::WatchdogError;

/// Why a demo could not be run to its report (a scenario whose expectation fails is not an
/// error: it is a report with `ok: false`).
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The lab did not start or a fault could not be injected.
    #[error("lab: {0}")]
    Lab(#[source] crate::lab::LabError),
    /// The lab's operator config does not load.
    #[error("lab config: {0}")]
    Config(#[source] natsdr::config::ConfigError),
    /// The example topology could not be applied.
    #[error("topology: {0}")]
    Topology(String),
    /// A watchdog did not start or answer.
    #[error("watchdog: {0}")]
    Watchdog(#[source] WatchdogError),
    /// A watchdog never reached its starting point (healthy, mirrors caught up).
    #[error("{site:?} watchdog never became healthy with caught-up mirrors (state {state})")]
    NotHealthy {
        /// Which watchdog.
        site: Site,
        /// Its last state.
        state: String,
    },
    /// The lab runs no DNS server, so there is no client record to follow.
    #[error("the lab has no DNS server (is BIND installed? make deps)")]
    NoDns,
    /// The arbiter could not be read.
    #[error("arbiter: {0}")]
    Arbiter(String),
    /// The DNS resolver could not be built.
    #[error("resolver for {server}: {source}")]
    Resolver {
        /// The lab's DNS server.
        server: std::net::SocketAddr,
        /// What hickory refused.
        #[source]
        source: hickory_net::NetError,
    },
    /// The final primary's stream could not be read back.
    #[error("reading {stream}: {source}")]
    ReadBack {
        /// The stream.
        stream: String,
        /// The NATS error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// `nats-server --version` or the demo directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or program.
        path: PathBuf,
        /// The underlying failure.
        #[source]
        source: std::io::Error,
    },
}
