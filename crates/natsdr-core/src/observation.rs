//! One probe round as the core sees it: the arbiter, DNS, both regions and the other vantage points.
use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::instant::{Instant, WallTime};
use super::ownership::Ownership;
use crate::model::{Epoch, Region, StreamName};

/// Everything one probe round learned. Built by the driver, never by the core.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    /// Monotonic time of the round; also the `now` passed to `decide`.
    pub at: Instant,
    /// Wall-clock time of the round (only used to detect clock jumps).
    pub wall: WallTime,
    /// The arbiter's ownership record as read this round; `None` if it could not be read.
    pub arbiter: Option<Ownership>,
    /// The region the client-facing DNS record points at; `None` if unknown.
    pub dns: Option<Region>,
    /// This watchdog's own probes, per region. A region missing here was not probed this round.
    pub regions: BTreeMap<Region, RegionView>,
    /// The latest reports of the other vantage points (peer watchdog, witness), with their age.
    pub reports: Vec<Report>,
    /// This vantage point's memory across rounds: when its own probes last saw each region
    /// serving (this round included). Published to peers as [`Report::seen_serving`].
    pub last_serving: BTreeMap<Region, Instant>,
    /// The last vouch the primary region's watchdogs recorded in their region (primary side
    /// only; `None`: no record was read, or there is none). It outlives a watchdog process, so a
    /// restarted one keeps the lease its predecessor held instead of starting a new one.
    #[serde(default)]
    pub recorded_vouch: Option<RecordedVouch>,
}

/// The lease record a primary-region watchdog keeps in its own region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedVouch {
    /// How long before this round a majority last vouched for the region, as recorded.
    pub ago: Duration,
    /// The watchdog that recorded it stopped guarding the region (a graceful shutdown said so to
    /// its peers): its lease binds nobody.
    pub released: bool,
}

/// One region as this watchdog's own probes saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionView {
    /// Whether any server of the region answered at all.
    pub reachable: bool,
    /// Servers that answered the PING round.
    pub servers_up: u32,
    /// Servers the region is configured to have.
    pub cluster_size: u32,
    /// The region's streams natsdr knows about (mirrors, their sources, promoted and fenced ones).
    pub streams: Vec<StreamView>,
}

/// A stream as the region serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamView {
    /// The stream's name in this region.
    pub name: StreamName,
    /// What the stream does now.
    pub role: StreamRole,
    /// The `natsdr.epoch` metadata stamp, if any.
    pub epoch: Option<Epoch>,
    /// The twin in the other region this stream copies or was promoted from: a mirror's source,
    /// or the `natsdr.origin` stamp a promotion leaves. `None` for a plain source stream.
    pub origin: Option<StreamName>,
    /// The stream's last sequence number.
    pub last_seq: u64,
    /// A mirror's own testimony about its source; `None` unless `role` is `Mirror`.
    pub mirror: Option<MirrorView>,
}

/// What a stream does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StreamRole {
    /// Accepts publishes on its subjects (a source stream, or a promoted mirror).
    Writable,
    /// A mirror of a stream in the other region.
    Mirror,
    /// Its subjects were moved to `fenced.<original>`: publishers get no responders.
    Fenced,
}

/// A mirror's view of its source, from STREAM.INFO read as raw JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MirrorView {
    /// Time since the mirror last heard from its source; `None` if it never has (`active: -1`).
    pub active_age: Option<Duration>,
    /// Last known lag in messages (`source.last_seq - mirror.last_seq`); `None` if never measured.
    pub lag_msgs: Option<u64>,
    /// Last known lag in time: how old the first unmirrored message was when the lag was read
    /// (zero when caught up); `None` if never measured. NB: it does not grow while the source is
    /// gone: a dead source takes no writes, so what the mirror lacked then is what a failover
    /// loses (see [`rpo`](super::rpo)).
    pub lag_age: Option<Duration>,
    /// Whether `lag_age` is an upper bound (the first unmirrored message could not be read: it
    /// was stored no earlier than the mirror's last message) rather than that message's age.
    pub lag_age_estimated: bool,
    /// How long before this round the lag was read (both regions listed in the same round):
    /// zero when read this round; `None` if never.
    pub lag_read_ago: Option<Duration>,
    /// The source's last sequence, when the source answered this round.
    pub source_last_seq: Option<u64>,
    /// The mirror's `error` field, if the server reports one.
    pub error: Option<String>,
}

/// The latest verdict of another vantage point, as fetched over `GET /v1/observations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Who made it.
    pub vantage: Vantage,
    /// How old the verdict is at the time of this round. A report older than the policy's
    /// `report_max_age` counts as no report.
    pub age: Duration,
    /// Its verdict on each region it probes.
    pub health: BTreeMap<Region, Health>,
    /// The ownership record it last read from the arbiter, if any. A vantage point that sees
    /// another region owning the epoch does not vouch for this one, and a watchdog cut off from
    /// the arbiter learns newer epochs this way.
    pub owner: Option<Ownership>,
    /// How long before the report's round its maker last saw each region serving (zero: serving
    /// then). A vantage point may have vouched for a region in a round this watchdog never
    /// fetched: a standby counts an outage from no earlier than the last time anyone saw the
    /// region serve, since that is when the old primary's lease may have been renewed.
    pub seen_serving: BTreeMap<Region, Duration>,
    /// The latest word its maker has from each region's watchdog about guarding that region (see
    /// [`GuardWord`]): a watchdog gives its own, every vantage point relays the newest it holds.
    #[serde(default)]
    pub guards: BTreeMap<Region, GuardWord>,
}

/// A primary-side watchdog's word on its region: whether it guards it (holds a lease it will
/// fence the region by when the majority stops vouching, or has fenced it). A watchdog that
/// starts without a lease, or shuts down, says it does not; one that died says nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardWord {
    /// How long before the report's round the watchdog gave this word.
    pub before: Duration,
    /// Whether it guarded its region then.
    pub guarding: bool,
}

/// The kinds of vantage point that vote on a region's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Vantage {
    /// The watchdog in the other region.
    Peer,
    /// The optional witness in a third place.
    Witness,
}

/// A vantage point's verdict on a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Health {
    /// Every server answers.
    Healthy,
    /// Some servers are missing but a majority answers: it still serves, with less margin.
    Degraded,
    /// Unreachable, or fewer than a majority of servers answer: it cannot accept writes.
    Down,
}

impl RegionView {
    /// This region's health from the server count alone. NB: a meta-leader re-election does not
    /// show here on purpose: all servers still answer, and a leader comes back within seconds.
    pub fn health(&self) -> Health {
        if !self.reachable || self.servers_up * 2 <= self.cluster_size {
            Health::Down
        } else if self.servers_up < self.cluster_size {
            Health::Degraded
        } else {
            Health::Healthy
        }
    }
}

impl Health {
    /// Whether a region in this state can accept writes.
    pub fn serves(self) -> bool {
        match self {
            Health::Healthy | Health::Degraded => true,
            Health::Down => false,
        }
    }
}
