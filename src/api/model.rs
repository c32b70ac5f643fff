//! What the API shows and accepts: plain serde types the driver fills and reads.
use serde::{Deserialize, Serialize};

use crate::core::{Health, Ownership};
use crate::model::{Epoch, Region};

/// `GET /v1/status`: everything an operator needs to know at a glance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// This watchdog's id.
    pub watchdog: String,
    /// Where it runs.
    pub site: String,
    /// watchdog or witness.
    pub role: String,
    /// Phase of the state machine (healthy, suspect, failing_over...).
    pub state: String,
    /// The phase in detail (step, since, cause...), as the state machine has it.
    pub state_detail: serde_json::Value,
    /// active, paused or tilt.
    pub mode: String,
    /// Current epoch per the arbiter.
    pub epoch: Option<Epoch>,
    /// Region that owns writes per the arbiter.
    pub active_region: Option<Region>,
    /// Where the client-facing record points.
    pub dns_points_at: Option<Region>,
    /// Each region as this watchdog sees it.
    pub regions: Vec<RegionStatus>,
    /// Each mirrored stream's lag.
    pub mirrors: Vec<MirrorStatus>,
    /// Other vantage points' latest reports.
    pub peers: Vec<PeerStatus>,
    /// The last transitions, newest first.
    pub transitions: Vec<TransitionRecord>,
    /// What natsdr would do next, and why not yet (Patroni's `failover_limitation`).
    pub next: String,
    /// Per stream, the durable consumers this watchdog tracks for a promotion of its region
    /// (empty on the watchdog of the region taking writes). Empty when read from a watchdog
    /// that predates consumer tracking.
    #[serde(default)]
    pub consumers: Vec<crate::consumers::StreamSummary>,
}

/// A region as this watchdog sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionStatus {
    /// Region id.
    pub region: Region,
    /// Its home role (primary / standby).
    pub home: String,
    /// Reachable with a quorum.
    pub up: bool,
    /// Servers answering the last ping.
    pub servers: u32,
    /// Configured cluster size.
    pub cluster_size: u32,
    /// A JetStream meta leader is present.
    pub meta_leader: bool,
    /// Its managed streams are fenced.
    pub fenced: bool,
    /// Highest epoch stamped in its streams' metadata.
    pub epoch_stamp: Option<Epoch>,
    /// Last probe error, if any.
    pub error: Option<String>,
    /// What the deeper probes (JSZ, HEALTHZ, LEAFZ) saw in the last round. Defaults when read
    /// from a watchdog that predates them.
    #[serde(default)]
    pub depth: RegionDepth,
}

/// A region's deeper probes: the meta group as its leader sees it, the servers' own JetStream
/// meta health and the leafnode links. Every field is `None` when its probe got no answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RegionDepth {
    /// The meta leader that answered JSZ `leader_only`.
    pub meta_leader_name: Option<String>,
    /// Meta-group peers (the leader excluded) it heard from lately.
    pub meta_peers_current: Option<u32>,
    /// Meta-group peers marked offline or silent too long (the leader keeps calling a dead peer
    /// `current` for ~10 s; natsdr judges by the `active` age).
    pub meta_peers_offline: Option<u32>,
    /// Longest time since the leader heard from a peer, in seconds.
    pub meta_peer_active_max_seconds: Option<f64>,
    /// Servers that answered HEALTHZ `js-meta-only`.
    pub healthz_answered: Option<u32>,
    /// Of those, the ones answering 200.
    pub healthz_ok: Option<u32>,
    /// Leafnode connections up, summed over the servers that answered LEAFZ.
    pub leafnodes: Option<u32>,
}

/// A mirror's lag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MirrorStatus {
    /// Mirror stream.
    pub stream: String,
    /// Its source stream.
    pub source: String,
    /// Whether the mirror has been promoted (it takes writes now).
    pub promoted: bool,
    /// Source last_seq minus mirror last_seq (None: unknown, e.g. source unreachable).
    pub lag_messages: Option<u64>,
    /// Age of the oldest message the mirror lacks, in seconds.
    pub lag_seconds: Option<f64>,
    /// Seconds since the mirror last heard from its source (None: never).
    pub active_age_seconds: Option<f64>,
    /// The mirror's own error, if the server reports one.
    pub error: Option<String>,
}

/// Another vantage point as the last probe round saw it: who it is, how old its testimony is,
/// and why it could not be reached, if it could not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerStatus {
    /// Its base URL.
    pub url: String,
    /// `peer` (the other region's watchdog) or `witness`.
    pub vantage: String,
    /// Its watchdog id, once heard from.
    pub id: Option<String>,
    /// Age of its last good report at the last round, in seconds (None: never heard from). A
    /// report older than `peer_stale_after` no longer counts in the majority vote.
    pub age_seconds: Option<f64>,
    /// Its view of each region in that report: up (can take writes) or not.
    pub regions: Vec<(Region, bool)>,
    /// Why the last round could not fetch its report (None: it answered).
    pub error: Option<String>,
}

/// One transition of the state machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransitionRecord {
    /// RFC 3339 time.
    pub at: String,
    /// State before.
    pub from: String,
    /// State after.
    pub to: String,
    /// Why, as the state machine says it.
    pub reason: String,
    /// Epoch after.
    pub epoch: Option<Epoch>,
}

/// `GET /v1/observations`: this vantage point's testimony for the others' majority vote.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Observations {
    /// The reporting watchdog's id.
    pub from: String,
    /// Its site.
    pub site: String,
    /// watchdog or witness.
    pub role: String,
    /// Unix time of the probe round this reports, in milliseconds.
    pub at_unix_ms: u64,
    /// How old the report is when served, on the serving side's own monotonic clock (so a
    /// reader's age estimate does not depend on the two machines' wall clocks agreeing).
    #[serde(
        rename = "age_ms",
        default,
        skip_serializing_if = "ReportAge::is_unknown"
    )]
    pub age: ReportAge,
    /// The arbiter's ownership record as read in that round (`None`: it could not be read).
    /// Lets a watchdog cut off from the arbiter learn newer epochs.
    #[serde(default)]
    pub owner: Option<Ownership>,
    /// Highest epoch it knows.
    pub epoch: Option<Epoch>,
    /// Region it believes active.
    pub active_region: Option<Region>,
    /// Its verdict on each region.
    pub regions: Vec<RegionVerdict>,
}

/// One vantage point's verdict on one region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionVerdict {
    /// Region id.
    pub region: Region,
    /// Reachable with a quorum.
    pub up: bool,
    /// Servers answering.
    pub servers: u32,
    /// Its streams are fenced.
    pub fenced: bool,
    /// The verdict the majority vote counts (`RegionView::health`).
    pub health: Health,
    /// How long before this report's round it last saw the region serving (0: serving then;
    /// absent: not in its memory, or an older natsdr).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving_before_ms: Option<u64>,
    /// The newest word its maker has from this region's watchdog about guarding the region (its
    /// own, for a watchdog in it): how long before this report's round it was given (absent:
    /// none, or an older natsdr).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard_before_ms: Option<u64>,
    /// Whether that word said the watchdog guards its region (holds a lease, or has fenced it).
    #[serde(default)]
    pub guarding: bool,
}

/// The age of an [`Observations`] report, computed when it is serialized.
///
/// On the serving side it holds the monotonic instant of the probe round, and serializes as the
/// milliseconds elapsed since then, at the moment the response is written: the API handler
/// serves a stored snapshot and needs no clock of its own. On the reading side it holds the
/// milliseconds received. NB: only differences of the same machine's monotonic clock are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReportAge {
    /// Not known (a report built without a round, or read without `age_ms`): not serialized,
    /// and a reader refuses such a report.
    #[default]
    Unknown,
    /// The round happened at this instant of the serving process's monotonic clock.
    Since(tokio::time::Instant),
    /// As received from the serving side, in milliseconds.
    Millis(u64),
}

impl ReportAge {
    fn is_unknown(&self) -> bool {
        *self == Self::Unknown
    }

    /// The age now: elapsed since the round on this machine, or as received.
    pub fn now(&self) -> std::time::Duration {
        match self {
            Self::Unknown => std::time::Duration::ZERO,
            Self::Since(t) => t.elapsed(),
            Self::Millis(ms) => std::time::Duration::from_millis(*ms),
        }
    }
}

impl Serialize for ReportAge {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(self.now().as_millis()).unwrap_or(u64::MAX))
    }
}

impl<'de> Deserialize<'de> for ReportAge {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        u64::deserialize(d).map(Self::Millis)
    }
}

/// The operator commands the API and CLI accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandKind {
    /// Stop acting (probing and reporting go on).
    Pause,
    /// Act again, after a fresh probe round.
    Resume,
    /// Planned move of the primary: fence, wait for lag 0, promote, DNS. Zero loss.
    Switchover,
    /// Forced move of the primary; over the RPO budget it needs `allow_data_loss`.
    Failover,
    /// Bring the old primary back as the primary (reseed, then a switchover).
    Failback,
    /// Release a Blocked hold.
    Ack,
}

impl CommandKind {
    /// Its name in paths, metrics and the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Switchover => "switchover",
            Self::Failover => "failover",
            Self::Failback => "failback",
            Self::Ack => "ack",
        }
    }
}

/// A command's body. Unknown fields are refused, so a typo (`allow_dataloss`) cannot silently
/// turn a break-glass into a plain request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandBody {
    /// Why (required; goes to the audit log and the pages).
    pub reason: Option<String>,
    /// Answer what would happen, change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Break-glass for a failover over the RPO budget (audited).
    #[serde(default)]
    pub allow_data_loss: bool,
    /// The region that should become active (switchover, failover); defaults to the other one.
    pub to: Option<String>,
}

/// A command as the driver receives it: checked and attributed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// Which.
    pub kind: CommandKind,
    /// Why.
    pub reason: String,
    /// Who (the token's name).
    pub by: String,
    /// Change nothing; answer what would happen.
    pub dry_run: bool,
    /// Break-glass.
    pub allow_data_loss: bool,
    /// Target region, checked against the config.
    pub to: Option<Region>,
}

/// The driver's answer to a command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandOutcome {
    /// Accepted (or, for a dry run, would be accepted).
    pub accepted: bool,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// What happens (or would), or why it is refused.
    pub message: String,
    /// State after (unchanged for a refusal or a dry run).
    pub state: String,
}
