//! What one watchdog believes: a phase, an orthogonal mode, and the few facts decisions need.
use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::instant::{Instant, WallTime, secs};
use super::lag::LagEvidence;
use super::observation::{Health, StreamView};
use super::ownership::Ownership;
use super::policy::{Policy, Role};
use super::tail::TailCount;
use crate::model::{Epoch, Region, StreamName};

/// The state `decide` folds events into. The driver owns the only copy; the API shows snapshots.
/// Transition history is not kept here (the driver logs decisions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Where this watchdog is in its life cycle.
    pub phase: Phase,
    /// Whether it may act at all.
    pub mode: Mode,
    /// The newest ownership record seen (arbiter reads and claim outcomes). Its epoch never decreases.
    pub known: Option<Ownership>,
    /// The previous round's times, to detect clock jumps and stalls.
    pub last_round: Option<(Instant, WallTime)>,
    /// Each region's streams as last seen while it was reachable, so outcomes and commands can
    /// name exact streams between rounds and an unreachable region can still be named.
    pub catalog: BTreeMap<Region, Vec<StreamView>>,
    /// When this watchdog saw the active region go down, within the flap window.
    pub down_edges: Vec<Instant>,
    /// Whether the active region looked down (to this watchdog) in the previous round.
    pub was_down: bool,
    /// Primary side: the last time a majority of vantage points vouched for this region.
    pub vouched_at: Option<Instant>,
    /// When a repair fence (of a stale twin) was last sent, to send it at most once per probe interval.
    pub repair_sent: Option<Instant>,
    /// The last time anyone was seen to see each region serving (see [`world::last_serving`]).
    /// An outage is counted from no earlier than this, for the lease rule: the old primary may
    /// have been vouched for then.
    ///
    /// [`world::last_serving`]: super::world::last_serving
    pub seen_serving: BTreeMap<Region, Instant>,
    /// Each region's health from this watchdog's own probes in the latest round (a region not
    /// probed is absent): failback's preconditions are checked against it.
    #[serde(default)]
    pub health: BTreeMap<Region, Health>,
    /// The divergent tail of the failback under way (or the last one), as its capture reported
    /// it: what was recovered, skipped as a duplicate, or kept.
    #[serde(default)]
    pub tail: Vec<TailCount>,
    /// Self-fenced primary: since when a majority has vouched for this region without a break.
    #[serde(default)]
    pub vouched_since: Option<Instant>,
    /// When this region fenced itself by its lease, within the flap window.
    #[serde(default)]
    pub self_fences: Vec<Instant>,
    /// When this watchdog last sent an unfence of its own region (an operator's `Ack` or a
    /// self-unfence): until it lands, the fence it lifts is not mistaken for a new one.
    #[serde(default)]
    pub unfence_sent: Option<Instant>,
    /// The newest word heard from each region's watchdog about guarding it: when it was given,
    /// and whether it guarded (see [`GuardWord`](super::observation::GuardWord)).
    #[serde(default)]
    pub guard: BTreeMap<Region, (Instant, bool)>,
    /// This watchdog's first probe round: a primary-region watchdog without a lease gives its
    /// peers a bounded time from here to vouch for it before it fences.
    #[serde(default)]
    pub started_at: Option<Instant>,
    /// Primary side: this watchdog holds a lease on its region (vouched for in this process, or
    /// bound by a predecessor's recorded one), so it will fence the region when the lease runs
    /// out. Until it does, its word to its peers says it does not guard the region.
    #[serde(default)]
    pub lease_held: bool,
}

impl State {
    /// The state of a process that just started (or restarted): it knows nothing and will derive
    /// everything from its first observation.
    pub fn starting() -> Self {
        Self {
            phase: Phase::Starting,
            mode: Mode::Active,
            known: None,
            last_round: None,
            catalog: BTreeMap::new(),
            guard: BTreeMap::new(),
            started_at: None,
            lease_held: false,
            down_edges: Vec::new(),
            was_down: false,
            vouched_at: None,
            repair_sent: None,
            seen_serving: BTreeMap::new(),
            health: BTreeMap::new(),
            tail: Vec::new(),
            vouched_since: None,
            self_fences: Vec::new(),
            unfence_sent: None,
        }
    }

    /// The epoch this watchdog knows, if any.
    pub fn epoch(&self) -> Option<Epoch> {
        self.known.as_ref().map(|o| o.epoch)
    }

    /// Whether `region`'s watchdog guarded it when it was last seen serving: its newest word says
    /// so, and no sighting of the region serving came more than `report_max_age` after that word
    /// (a watchdog stopped or dead while its region kept serving guards nothing). Only then may an
    /// unreachable old primary count as fenced by its lease.
    pub fn guarded(&self, region: &Region, policy: &Policy) -> bool {
        let max_age = policy.params().report_max_age;
        match self.guard.get(region) {
            Some((word, true)) => self
                .seen_serving
                .get(region)
                .is_none_or(|seen| *seen <= *word + max_age),
            Some((_, false)) | None => false,
        }
    }

    /// This watchdog's word on guarding its own region, for its peers: a primary-region
    /// watchdog guards it while it holds a lease it will fence the region by, or has fenced it.
    /// Any other watchdog (and a witness) guards nothing.
    pub fn guarding(&self, policy: &Policy) -> bool {
        let p = policy.params();
        p.role == Role::Watchdog
            && p.me == p.home_primary
            && (self.lease_held || matches!(self.phase, Phase::SelfFenced { .. }))
    }
}

/// Where a watchdog is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Just started, resumed or left TILT: the next observation decides everything afresh
    /// (level-triggered), including resuming an interrupted failover without a second claim.
    Starting,
    /// The active region serves with every server.
    Healthy,
    /// The active region is impaired but serving (a node lost, or a minority sees it down).
    Degraded,
    /// A majority sees the active region down and its mirrors have gone silent; waiting out
    /// `failover_delay` before claiming.
    Suspect {
        /// When the confirmation began.
        since: Instant,
        /// The latest evidence.
        evidence: Evidence,
    },
    /// Primary side: no majority vouches for this region; it fences itself once the lease runs out.
    Isolated {
        /// The last time a majority vouched.
        since: Instant,
    },
    /// An automatic or forced move to this watchdog's region.
    FailingOver(Move),
    /// A planned, zero-loss move to this watchdog's region.
    SwitchingOver(Move),
    /// An operator's move back to the home primary (this watchdog's region): capture the old
    /// primary's divergent tail, reseed it as mirrors, then a planned switchover back, then
    /// restore the home topology. Never automatic.
    FailingBack(Move),
    /// The move completed. No further automatic move until an operator acknowledges (anti-flap);
    /// stale twins are still fenced.
    FailedOver {
        /// The epoch the move established.
        epoch: Epoch,
    },
    /// Another watchdog won the claim; it is given `takeover_after` to finish before this one
    /// completes the remaining (idempotent, same-epoch) steps.
    StoodDown {
        /// The record the winner wrote.
        winner: Ownership,
        /// When this watchdog stood down.
        since: Instant,
    },
    /// Waiting for an operator. Way out: `Ack` (re-derive from the world), `Failover` (force), or
    /// for RPO and two-site holds, the primary recovering by itself.
    Blocked {
        /// Why.
        cause: BlockCause,
        /// Since when.
        since: Instant,
    },
    /// This region fenced itself (newer epoch seen, or lease expired). Way out, while the arbiter
    /// still names this region at the fence's epoch: it unfences itself once a majority has
    /// vouched for it for `self_unfence_after` (unless it flaps), or an operator's `Ack` does;
    /// otherwise failback (a reseed).
    SelfFenced {
        /// The epoch stamped on the fence.
        epoch: Epoch,
        /// The streams fenced.
        streams: Vec<StreamName>,
    },
}

/// Whether the watchdog acts. Orthogonal to the phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// Acts on its decisions.
    Active,
    /// An operator paused it: it observes and reports but emits no action at all.
    Paused {
        /// Who paused.
        by: String,
        /// Why.
        reason: String,
    },
    /// Its clock jumped or it stalled: observe only until `until`, then start afresh.
    Tilt {
        /// End of the hold on the monotonic axis.
        until: Instant,
    },
}

/// A move of the active role to `to`, step by step. Every step carries `epoch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    /// The region giving up the active role.
    pub from: Region,
    /// The region taking it (always this watchdog's).
    pub to: Region,
    /// The epoch claimed (or being claimed) for `to`.
    pub epoch: Epoch,
    /// The current step.
    pub step: Step,
    /// When the current step's action was last sent (or the step began).
    pub step_since: Instant,
    /// Attempts of the current step so far.
    pub attempts: u32,
    /// Whether the current step's action is out and its outcome awaited.
    pub inflight: bool,
    /// Since when enough vantage points have seen `from` down, as last observed; `None` while
    /// they do not (then an unreachable `from` may still be vouched for and serving). An
    /// unreachable `from` counts as fenced only once its lease has surely expired from here.
    pub down_since: Option<Instant>,
    /// Whether an operator allowed data loss beyond the RPO budget.
    pub break_glass: bool,
    /// Whether an operator's break-glass (`allow_data_loss`) also vouches that an unreachable
    /// `from` nobody guards is fenced (they stopped it by hand): natsdr cannot know it.
    #[serde(default)]
    pub waive_guard: bool,
    /// Whether an operator's command started this move (not this watchdog's own confirmation).
    #[serde(default)]
    pub forced: bool,
}

impl Move {
    /// A move from `from` to `to` at `epoch`, starting at `step` now: nothing sent yet, no
    /// outage dated, no operator's waiver. Callers set what their start knows more.
    pub(crate) fn start(from: Region, to: Region, epoch: Epoch, step: Step, now: Instant) -> Self {
        Move {
            from,
            to,
            epoch,
            step,
            step_since: now,
            attempts: 0,
            inflight: false,
            down_since: None,
            break_glass: false,
            waive_guard: false,
            forced: false,
        }
    }
}

/// The steps of a move, in order. A failover skips `WaitLagZero`; a rolled-back switchover ends
/// with the two `RollBack` steps. A failback starts with `CaptureTail`, `Reseed` and
/// `WaitReseeded`, then goes through a switchover's steps, and ends with `RestoreMirrors`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
pub enum Step {
    /// CAS the arbiter to `(to, epoch)`.
    #[error("claim epoch")]
    ClaimEpoch,
    /// Fence `from` (or accept that it cannot take writes).
    #[error("fence")]
    Fence,
    /// Switchover only: wait until every mirror has every message.
    #[error("wait for lag zero")]
    WaitLagZero,
    /// Promote `to`'s mirrors.
    #[error("promote")]
    Promote,
    /// CAS the client record to `to`.
    #[error("swap DNS")]
    SwapDns,
    /// Check the world matches, from the next observation.
    #[error("verify")]
    Verify,
    /// Switchover timed out: CAS the arbiter back to `(from, epoch + 1)`.
    #[error("roll back the claim")]
    RollBackClaim,
    /// Then unfence `from`.
    #[error("roll back the fence")]
    RollBackUnfence,
    /// Failback: export (and re-publish into `from`) what `to` accepted after the mirror's last
    /// sequence, before anything of `to` is rebuilt.
    #[error("capture the divergent tail")]
    CaptureTail,
    /// Failback: rebuild `to`'s streams as mirrors of their twins in `from`.
    #[error("reseed as mirrors")]
    Reseed,
    /// Failback: wait until the reseeded mirrors have caught up (progress shown every round).
    #[error("wait for the reseeded mirrors")]
    WaitReseeded,
    /// Failback, after the switch back: rebuild `from`'s streams as mirrors of `to` again (the
    /// home topology), so a second failover can happen.
    #[error("restore the home mirrors")]
    RestoreMirrors,
}

/// Why a watchdog waits for an operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum BlockCause {
    /// A mirror lags beyond the RPO budget (or its lag was never read).
    #[error("{lag}: beyond the RPO budget; failover needs allow_data_loss")]
    RpoExceeded {
        /// What the guard knew of the first offending mirror.
        lag: LagEvidence,
    },
    /// The active region went down too often in the flap window.
    #[error("primary went down {downs} times within {}: flapping; acknowledge to re-arm", secs(.window))]
    Flapping {
        /// Down-edges counted.
        downs: u32,
        /// The window.
        window: Duration,
    },
    /// natsdr will not decide this alone.
    #[error("{need}")]
    NeedsOperator {
        /// Why.
        need: Need,
    },
}

/// What an operator must decide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Need {
    /// Two sites without a witness cannot tell a dead primary from a cut link (`two_site = manual`).
    #[error("no witness and two_site = manual: an operator must decide the failover")]
    TwoSiteManual,
    /// `auto_failover = false`: natsdr detects and pages, an operator moves the primary.
    #[error("auto_failover = false: the primary looks down; an operator must decide the failover")]
    AutoFailoverOff,
    /// The move would go from the home standby back to the home primary: never automatic.
    #[error("moving back to the home primary is never automatic")]
    NoAutomaticFailback,
    /// The old primary's watchdog is not guarding it (stopped, or last heard from before the
    /// region was last seen serving): nobody fences it by its lease, so natsdr will not count it
    /// fenced. An operator fences it (or restores its watchdog) and fails over by hand.
    #[error(
        "{region} looks down but its watchdog {}: nobody fences it by its lease, so it \
         does not count as fenced; fence it by hand (or restore its watchdog), then fail over",
        match .said_unguarded {
            None => "was never heard from",
            Some(true) => "said it does not guard it (starting or shut down)",
            Some(false) => "fell silent while the region kept serving",
        }
    )]
    PrimaryUnguarded {
        /// The old primary.
        region: Region,
        /// What was last heard from its watchdog: `None` nothing ever, `Some(true)` it said it
        /// does not guard the region (starting, or shut down), `Some(false)` it fell silent
        /// while the region kept serving.
        said_unguarded: Option<bool>,
    },
    /// A step failed for good.
    #[error("step '{step}' failed for good: {error}")]
    StepFailed {
        /// The step.
        step: Step,
        /// The last error.
        error: String,
    },
}

/// The evidence that a region is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Vantage points (this one included) that see it down.
    pub down_votes: u32,
    /// Vantage points configured.
    pub vantage_points: u32,
    /// Mirrors that have not heard from their source for `mirror_silence`.
    pub silent_mirrors: u32,
    /// Mirrors that could testify (unprotected mirrors in the standby region).
    pub mirrors: u32,
    /// This watchdog sees the region answering with a minority of its servers: no quorum, so no
    /// acknowledged write, whatever its mirrors still hear.
    #[serde(default)]
    pub minority_answering: bool,
}

/// A phase without its data: a bounded label for notifications and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PhaseName {
    /// See [`Phase::Starting`].
    Starting,
    /// See [`Phase::Healthy`].
    Healthy,
    /// See [`Phase::Degraded`].
    Degraded,
    /// See [`Phase::Suspect`].
    Suspect,
    /// See [`Phase::Isolated`].
    Isolated,
    /// See [`Phase::FailingOver`].
    FailingOver,
    /// See [`Phase::SwitchingOver`].
    SwitchingOver,
    /// See [`Phase::FailingBack`].
    FailingBack,
    /// See [`Phase::FailedOver`].
    FailedOver,
    /// See [`Phase::StoodDown`].
    StoodDown,
    /// See [`Phase::Blocked`].
    Blocked,
    /// See [`Phase::SelfFenced`].
    SelfFenced,
}

impl Phase {
    /// The phase's label.
    pub fn name(&self) -> PhaseName {
        match self {
            Phase::Starting => PhaseName::Starting,
            Phase::Healthy => PhaseName::Healthy,
            Phase::Degraded => PhaseName::Degraded,
            Phase::Suspect { .. } => PhaseName::Suspect,
            Phase::Isolated { .. } => PhaseName::Isolated,
            Phase::FailingOver(_) => PhaseName::FailingOver,
            Phase::SwitchingOver(_) => PhaseName::SwitchingOver,
            Phase::FailingBack(_) => PhaseName::FailingBack,
            Phase::FailedOver { .. } => PhaseName::FailedOver,
            Phase::StoodDown { .. } => PhaseName::StoodDown,
            Phase::Blocked { .. } => PhaseName::Blocked,
            Phase::SelfFenced { .. } => PhaseName::SelfFenced,
        }
    }

    /// Since when this watchdog has held the active region down (`Suspect`, or `Blocked` after
    /// the confirmation); `None` in any other phase.
    pub(crate) fn held_down_since(&self) -> Option<Instant> {
        match self {
            Phase::Suspect { since, .. } | Phase::Blocked { since, .. } => Some(*since),
            _ => None,
        }
    }

    /// The move under way and its kind; `None` outside a move. The one place that says which
    /// phases are moves: everything else asks here rather than listing phases again.
    pub(crate) fn moving(&self) -> Option<(Kind, &Move)> {
        match self {
            Phase::FailingOver(m) => Some((Kind::Failover, m)),
            Phase::SwitchingOver(m) => Some((Kind::Switchover, m)),
            Phase::FailingBack(m) => Some((Kind::Failback, m)),
            Phase::Starting
            | Phase::Healthy
            | Phase::Degraded
            | Phase::Suspect { .. }
            | Phase::Isolated { .. }
            | Phase::FailedOver { .. }
            | Phase::StoodDown { .. }
            | Phase::Blocked { .. }
            | Phase::SelfFenced { .. } => None,
        }
    }
}

/// Which kind of move: they share steps but not every rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Forced by an outage (or an operator's `Failover`): bounded loss, fence may be "as good as".
    Failover,
    /// Planned by an operator: a true fence and lag zero before promoting, no loss.
    Switchover,
    /// An operator's move back to the home primary: a switchover between tail capture and
    /// reseed before, and restoring the home mirrors after.
    Failback,
}

impl Kind {
    /// The phase of a move of this kind.
    pub(crate) fn wrap(self, m: Move) -> Phase {
        match self {
            Kind::Failover => Phase::FailingOver(m),
            Kind::Switchover => Phase::SwitchingOver(m),
            Kind::Failback => Phase::FailingBack(m),
        }
    }
}
