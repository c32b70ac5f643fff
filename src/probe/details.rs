//! What a probe round learned beyond the core's `Observation`: timings, errors, meta leaders and
//! lag per mirror, for the API's status and the metrics.
use std::collections::BTreeMap;
use std::time::Duration;

use super::depth::{HealthDepth, LeafDepth, MetaDepth};
use super::{PeerError, ProbeError};
use crate::core::{Report, Vantage};
use crate::dns::ClientTarget;
use crate::model::{Region, StreamName};

/// The side results of one round.
#[derive(Debug, Default)]
pub struct RoundDetails {
    /// The whole round, from start to the last answer (or timeout).
    pub duration: Duration,
    /// Each configured region's probes.
    pub regions: BTreeMap<Region, RegionDetails>,
    /// The arbiter and client-record reads.
    pub dns: DnsDetails,
    /// Each peer's fetch, in config order (watchdogs, then the witness).
    pub peers: Vec<PeerDetails>,
    /// Every mirror seen this round, with its lag.
    pub mirrors: Vec<MirrorLag>,
}

/// One region's probes.
#[derive(Debug, Default)]
pub struct RegionDetails {
    /// Ping and listing together.
    pub duration: Duration,
    /// Whether some server named a JetStream meta leader.
    pub meta_leader: bool,
    /// The meta leader's view of its group (JSZ); `None` when no leader answered.
    pub meta: Option<MetaDepth>,
    /// Servers' JetStream meta health (HEALTHZ); `None` when the request failed.
    pub health: Option<HealthDepth>,
    /// Leafnode links (LEAFZ); `None` when the request failed.
    pub leafs: Option<LeafDepth>,
    /// Probes that failed (ping, streams, lag reads against this region).
    pub errors: Vec<ProbeError>,
}

/// The DNS reads.
#[derive(Debug, Default)]
pub struct DnsDetails {
    /// Both reads together.
    pub duration: Duration,
    /// What the client-facing record held, even when it matches no region's entry point.
    pub client_target: Option<ClientTarget>,
    /// Reads that failed.
    pub errors: Vec<ProbeError>,
}

/// One peer's fetch.
#[derive(Debug)]
pub struct PeerDetails {
    /// Its base URL.
    pub url: String,
    /// What kind of vantage point it is.
    pub vantage: Vantage,
    /// Its watchdog id, from its last good report.
    pub id: Option<String>,
    /// The fetch.
    pub duration: Duration,
    /// Why the fetch failed this round (the last good report, aged, is still in the observation).
    pub error: Option<PeerError>,
    /// Its last good report as this round counts it (aged to this round); `None`: never heard.
    pub report: Option<Report>,
}

/// A mirror's lag, as the metrics show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorLag {
    /// The mirror's region.
    pub region: Region,
    /// The mirror.
    pub stream: StreamName,
    /// Its source.
    pub source: Option<StreamName>,
    /// Last known lag in messages.
    pub lag_msgs: Option<u64>,
    /// Last known lag in time.
    pub lag_age: Option<Duration>,
    /// Time since it last heard from its source.
    pub active_age: Option<Duration>,
}
