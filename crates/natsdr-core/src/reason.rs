//! Why a decision was taken: typed for tests, readable for people ("primary us-east-1 confirmed
//! down by 2 of 3 vantage points for 6.0s").
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::event::CommandKind;
use super::instant::Instant;
use super::lag::LagEvidence;
use super::ownership::Ownership;
use super::state::{BlockCause, Evidence, Need, Step};
use super::tail::TailCount;
use crate::model::{Epoch, Region};

/// The reason attached to every decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reason {
    /// No ownership record has been read yet: nothing can be decided.
    ArbiterUnknown,
    /// The region serves with every server.
    RegionHealthy {
        /// The region.
        region: Region,
    },
    /// The region lost servers but keeps its quorum.
    RegionDegraded {
        /// The region.
        region: Region,
        /// Servers answering.
        servers_up: u32,
        /// Servers configured.
        cluster_size: u32,
    },
    /// This watchdog cannot see its own region.
    RegionUnreachable {
        /// The region.
        region: Region,
    },
    /// Some vantage points see the region down, or its mirrors still hear from it.
    DownNotConfirmed {
        /// The region.
        region: Region,
        /// The evidence so far.
        evidence: Evidence,
    },
    /// Confirmed down; waiting out the failover delay.
    Suspect {
        /// The region.
        region: Region,
        /// Votes for down.
        down_votes: u32,
        /// Vantage points configured.
        of: u32,
        /// How long it has been confirmed.
        for_: Duration,
        /// The failover delay.
        delay: Duration,
    },
    /// Confirmed down by the votes for the whole delay, but a mirror still hears from it.
    MirrorsInContact {
        /// The region.
        region: Region,
        /// The evidence.
        evidence: Evidence,
    },
    /// Confirmed down for the whole delay: failing over.
    PrimaryDown {
        /// The region.
        region: Region,
        /// Votes for down.
        confirmed_by: u32,
        /// Vantage points configured.
        of: u32,
        /// How long it was confirmed.
        for_: Duration,
        /// The data-loss guard's worst mirror, within budget (`None`: nothing to promote).
        lag: Option<LagEvidence>,
    },
    /// A primary-region watchdog without a lease yet (just started) waits for a majority to
    /// vouch for its region before it would fence it.
    AwaitingVouches {
        /// Its region.
        region: Region,
        /// How long it still waits.
        remaining: Duration,
    },
    /// Waiting for an operator.
    Blocked {
        /// Why.
        cause: BlockCause,
    },
    /// No majority vouches for this (active) region; it fences itself when the lease runs out.
    Isolated {
        /// The region.
        region: Region,
        /// Time left on the lease.
        remaining: Duration,
    },
    /// The lease ran out: this region fenced itself.
    SelfFencedIsolated {
        /// The region.
        region: Region,
        /// How long no majority vouched.
        for_: Duration,
        /// The lease.
        lease: Duration,
    },
    /// This (active) region's watchdog started without a majority vouching: it fenced its region.
    SelfFencedUnvouched {
        /// The region.
        region: Region,
    },
    /// This (active) region's streams carry this watchdog's own fence at the arbiter's epoch,
    /// though it was not self-fenced (it restarted, or came out of TILT): it is again.
    FoundSelfFenced {
        /// The region.
        region: Region,
        /// The epoch on the fence.
        epoch: Epoch,
    },
    /// A majority vouched for this self-fenced region long enough: it unfenced itself.
    SelfUnfenced {
        /// The region.
        region: Region,
        /// The epoch stamped.
        epoch: Epoch,
        /// How long a majority has vouched without a break.
        vouched_for: Duration,
    },
    /// Self-fenced; a majority vouches again and the unfence waits out the rest of its hold.
    UnfencePending {
        /// The region.
        region: Region,
        /// Left to wait.
        remaining: Duration,
    },
    /// Self-fenced too often within the flap window: it stays fenced until an operator's `Ack`.
    UnfenceHeld {
        /// The region.
        region: Region,
        /// Self-fences counted.
        fences: u32,
        /// The window they were counted in.
        window: Duration,
    },
    /// Another region owns a newer epoch: this region fenced itself.
    SelfFencedNewerEpoch {
        /// The record seen.
        seen: Ownership,
    },
    /// A fenced region still takes writes: fence sent again.
    StillWritable {
        /// The region.
        region: Region,
    },
    /// This region is fenced and stays so.
    StaysFenced {
        /// The region.
        region: Region,
        /// The epoch stamped.
        epoch: Epoch,
    },
    /// The old primary is writable with a stale epoch: fenced at once.
    StaleTwin {
        /// The old primary.
        region: Region,
        /// The current epoch.
        epoch: Epoch,
    },
    /// A repair fence is out; waiting for it to land.
    FencePending {
        /// The region being fenced.
        region: Region,
    },
    /// The arbiter names this region but the world lags behind: finishing the move, no new claim.
    Resuming {
        /// The record.
        ownership: Ownership,
        /// The first unfinished step.
        step: Step,
    },
    /// Another watchdog claimed first and is finishing the move.
    WaitingForWinner {
        /// Its record.
        winner: Ownership,
        /// Time left before taking over.
        remaining: Duration,
    },
    /// The winner finished the move.
    WinnerFinished {
        /// Its record.
        winner: Ownership,
    },
    /// The winner went quiet: finishing its steps (same epoch, idempotent).
    TakingOver {
        /// Its record.
        winner: Ownership,
        /// The first unfinished step.
        step: Step,
    },
    /// The claim was applied.
    ClaimWon {
        /// The record now held.
        ownership: Ownership,
    },
    /// Someone else claimed first: standing down.
    ClaimLost {
        /// The record seen.
        seen: Ownership,
    },
    /// The arbiter moved past this move's epoch: standing down.
    Superseded {
        /// The record seen.
        seen: Ownership,
    },
    /// A step's action was sent.
    StepSent {
        /// The step.
        step: Step,
        /// Its attempt number.
        attempt: u32,
    },
    /// A step's outcome is awaited.
    StepPending {
        /// The step.
        step: Step,
        /// Its attempt number.
        attempt: u32,
    },
    /// A step's executor is still at work (a sign of life, not an outcome).
    StepWorking {
        /// The step.
        step: Step,
        /// Its attempt number.
        attempt: u32,
    },
    /// A step failed and will be sent again by the next round.
    StepRetry {
        /// The step.
        step: Step,
        /// Attempts so far.
        attempt: u32,
        /// The error.
        error: String,
    },
    /// The old primary can no longer accept writes.
    FenceDone {
        /// The old primary.
        region: Region,
        /// How we know.
        how: FenceHow,
    },
    /// The old primary is unreachable and its lease may still be running.
    FenceWaitingForLease {
        /// The old primary.
        region: Region,
        /// Time until its lease has surely expired.
        remaining: Duration,
    },
    /// Switchover: waiting for every mirror to hold every message.
    WaitingForLag {
        /// The new primary.
        region: Region,
        /// Waited so far.
        waited: Duration,
    },
    /// Switchover: every mirror caught up.
    CaughtUp {
        /// The new primary.
        region: Region,
    },
    /// Switchover: the mirrors did not catch up in time: rolling back.
    LagTimeout {
        /// Waited.
        waited: Duration,
    },
    /// The mirrors were promoted.
    PromotedMirrors {
        /// The new primary.
        region: Region,
        /// The epoch stamped.
        epoch: Epoch,
    },
    /// The client record was swapped.
    DnsSwapped {
        /// The new primary.
        to: Region,
    },
    /// Verification waits for a probe round that began after the last step landed.
    VerifyAwaitsRound,
    /// Verification found a step undone: doing it again.
    VerifyFoundGap {
        /// The step.
        step: Step,
    },
    /// The failover completed; holding until acknowledged.
    FailoverComplete {
        /// The new record.
        ownership: Ownership,
    },
    /// Failed over earlier; no automatic move until acknowledged.
    HoldingAfterFailover {
        /// The epoch.
        epoch: Epoch,
    },
    /// The switchover completed.
    SwitchoverComplete {
        /// The new record.
        ownership: Ownership,
    },
    /// The switchover was rolled back; the old primary serves again.
    SwitchoverRolledBack {
        /// The record after the rollback.
        ownership: Ownership,
    },
    /// An outcome that matches no step in flight (late or duplicate): ignored.
    StaleOutcome,
    /// Paused by an operator: observing only.
    Paused {
        /// Who.
        by: String,
        /// Why.
        why: String,
    },
    /// Resumed: the next round re-derives everything before acting.
    Resumed {
        /// Who.
        by: String,
    },
    /// The clock jumped or this process stalled: observing only.
    Tilt {
        /// What happened.
        cause: TiltCause,
        /// Until when.
        until: Instant,
    },
    /// Still in TILT.
    TiltHold {
        /// Time left.
        remaining: Duration,
    },
    /// TILT is over: the next round re-derives everything.
    TiltOver,
    /// An operator acknowledged a hold.
    Acked {
        /// Who.
        by: String,
        /// Why.
        why: String,
    },
    /// An operator forced a failover.
    OperatorFailover {
        /// Who.
        by: String,
        /// Why.
        why: String,
        /// Whether it proceeds despite lag beyond the RPO budget.
        break_glass: bool,
    },
    /// An operator asked for a planned switchover.
    OperatorSwitchover {
        /// Who.
        by: String,
        /// Why.
        why: String,
    },
    /// An operator asked to fail back to this (the home primary's) region.
    OperatorFailback {
        /// Who.
        by: String,
        /// Why.
        why: String,
        /// The step the world says it starts at (a repeated command resumes where the last
        /// one stopped).
        from_step: Step,
    },
    /// The old primary's divergent tail is exported and handled.
    TailCaptured {
        /// The old primary.
        region: Region,
        /// Per stream.
        tail: Vec<TailCount>,
    },
    /// The region's streams were rebuilt as mirrors of the other region.
    Reseeded {
        /// The region.
        region: Region,
    },
    /// Reseeded mirrors are still catching up.
    Reseeding {
        /// The region being reseeded.
        region: Region,
        /// Messages its mirrors still lack in total, if known.
        behind: Option<u64>,
    },
    /// This self-fenced region mirrors the active one again (the failback rebuilt it): it is a
    /// standby now, and may fail over again.
    RejoinedAsStandby {
        /// The region.
        region: Region,
    },
    /// Failback: the switch back is verified; the home mirrors come next.
    SwitchedBack {
        /// The record established.
        ownership: Ownership,
    },
    /// The failback finished: the home primary is active again and the home topology restored.
    FailbackComplete {
        /// The record it established.
        ownership: Ownership,
        /// The divergent tail, as captured.
        tail: Vec<TailCount>,
    },
    /// A command was refused.
    Refused {
        /// The command.
        command: CommandKind,
        /// Who gave it.
        by: String,
        /// Why not.
        why: Refusal,
    },
}

/// Why this process left normal operation for TILT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TiltCause {
    /// Wall time moved differently from monotonic time between two rounds.
    ClockJump {
        /// The difference.
        drift: Duration,
    },
    /// Two rounds were too far apart.
    Stall {
        /// The gap.
        gap: Duration,
    },
}

/// How a fence step was satisfied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FenceHow {
    /// The streams were fenced.
    Fenced,
    /// The region has no quorum: it cannot acknowledge writes.
    NoQuorum,
    /// Unreachable, and its self-fence lease has surely expired.
    LeaseExpired,
    /// Down in this watchdog's latest round (unreachable, or a minority of its servers) when the
    /// step began, and its self-fence lease had surely expired: no fence was attempted (it could
    /// only have ended in `NoQuorum` or `LeaseExpired`, a probe timeout later).
    SeenDown,
}

/// Why a command was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// Resume while not paused.
    NotPaused,
    /// Paused: resume first.
    Paused,
    /// In TILT: wait for it to end.
    Tilt,
    /// A witness never acts.
    Witness,
    /// Failback moves the active role to the home primary: only its watchdog can do that.
    NotHomePrimary,
    /// Failback needs this region reachable with a quorum of its servers.
    OwnRegionNotServing,
    /// Failback needs the active region reachable with a quorum (its writes must be mirrored
    /// back); while it is down, this is a failover.
    ActiveRegionNotServing,
    /// A stream failback would rebuild still takes writes: it must be fenced first (by its
    /// watchdog, or by the active region's repair fence).
    StillWritable,
    /// No stream of this region has a twin in the active region: nothing to fail back.
    NothingToFailBack,
    /// Unfencing a region that no longer owns the epoch would make two writable regions.
    NotOwner,
    /// There is no hold to acknowledge.
    NothingToAck,
    /// No ownership record has been read yet.
    OwnerUnknown,
    /// This region is already active.
    AlreadyActive,
    /// A move is under way, or this region is fenced.
    Busy,
    /// A switchover needs both regions healthy.
    NotHealthy,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotPaused => "not paused: nothing to resume",
            Self::Paused => "paused: resume first",
            Self::Tilt => "in TILT (the clock or the probes stalled): wait for it to end",
            Self::Witness => "a witness never acts: send it to a region's watchdog",
            Self::NotHomePrimary => {
                "failback moves the primary home: send it to the home primary's watchdog"
            }
            Self::OwnRegionNotServing => {
                "this region has no quorum of serving servers: a failback needs it serving"
            }
            Self::ActiveRegionNotServing => {
                "the active region is not serving: its writes could not be mirrored back (this \
                 is a failover, not a failback)"
            }
            Self::StillWritable => {
                "a stream the failback would rebuild still takes writes: fence it first"
            }
            Self::NothingToFailBack => {
                "no stream of this region has a twin in the active region: nothing to fail back"
            }
            Self::NotOwner => {
                "this region no longer holds the epoch: unfencing it would make two writable regions"
            }
            Self::NothingToAck => "there is no hold to acknowledge",
            Self::OwnerUnknown => "the ownership record has not been read yet: retry shortly",
            Self::AlreadyActive => "this region is already the active one",
            Self::Busy => "a move is under way, or this region is fenced",
            Self::NotHealthy => "a switchover needs both regions healthy",
        })
    }
}

/// Tail counts summed over streams, for people.
struct Tails<'a>(&'a [TailCount]);

impl fmt::Display for Tails<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sum = |g: fn(&TailCount) -> u64| self.0.iter().map(g).sum::<u64>();
        write!(
            f,
            "{} captured, {} recovered, {} duplicates, {} kept",
            sum(|t| t.captured),
            sum(|t| t.recovered),
            sum(|t| t.duplicates),
            sum(|t| t.kept)
        )
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::ClaimEpoch => "claim epoch",
            Step::Fence => "fence",
            Step::WaitLagZero => "wait for lag zero",
            Step::Promote => "promote",
            Step::SwapDns => "swap DNS",
            Step::Verify => "verify",
            Step::RollBackClaim => "roll back the claim",
            Step::RollBackUnfence => "roll back the fence",
            Step::CaptureTail => "capture the divergent tail",
            Step::Reseed => "reseed as mirrors",
            Step::WaitReseeded => "wait for the reseeded mirrors",
            Step::RestoreMirrors => "restore the home mirrors",
        })
    }
}

impl fmt::Display for BlockCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockCause::RpoExceeded { lag } => write!(
                f,
                "{lag}: beyond the RPO budget; failover needs allow_data_loss"
            ),
            BlockCause::Flapping { downs, window } => {
                write!(
                    f,
                    "primary went down {downs} times within {}: flapping; acknowledge to re-arm",
                    secs(*window)
                )
            }
            BlockCause::NeedsOperator {
                need: Need::TwoSiteManual,
            } => f.write_str(
                "no witness and two_site = manual: an operator must decide the failover",
            ),
            BlockCause::NeedsOperator {
                need: Need::AutoFailoverOff,
            } => f.write_str(
                "auto_failover = false: the primary looks down; an operator must decide the failover",
            ),
            BlockCause::NeedsOperator {
                need: Need::NoAutomaticFailback,
            } => f.write_str("moving back to the home primary is never automatic"),
            BlockCause::NeedsOperator {
                need:
                    Need::PrimaryUnguarded {
                        region,
                        said_unguarded,
                    },
            } => {
                let heard = match said_unguarded {
                    None => "was never heard from",
                    Some(true) => "said it does not guard it (starting or shut down)",
                    Some(false) => "fell silent while the region kept serving",
                };
                write!(
                    f,
                    "{region} looks down but its watchdog {heard}: nobody fences it by its lease, so it \
                     does not count as fenced; fence it by hand (or restore its watchdog), then fail over"
                )
            }
            BlockCause::NeedsOperator {
                need: Need::StepFailed { step, error },
            } => {
                write!(f, "step '{step}' failed for good: {error}")
            }
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::ArbiterUnknown => f.write_str("arbiter not read yet; observing"),
            Reason::AwaitingVouches { region, remaining } => write!(
                f,
                "no lease on {region} yet: waiting up to {} for a majority to vouch before fencing it",
                secs(*remaining)
            ),
            Reason::RegionHealthy { region } => write!(f, "{region} healthy"),
            Reason::RegionDegraded {
                region,
                servers_up,
                cluster_size,
            } => {
                write!(
                    f,
                    "{region} degraded: {servers_up} of {cluster_size} servers answer, quorum kept"
                )
            }
            Reason::RegionUnreachable { region } => {
                write!(f, "own region {region} unreachable from here")
            }
            Reason::DownNotConfirmed {
                region,
                evidence: e,
            } => write!(
                f,
                "{region} seen down by {} of {} vantage points, {} of {} mirrors silent: not confirmed",
                e.down_votes, e.vantage_points, e.silent_mirrors, e.mirrors
            ),
            Reason::Suspect {
                region,
                down_votes,
                of,
                for_,
                delay,
            } => write!(
                f,
                "primary {region} down by {down_votes} of {of} vantage points for {}; failing over at {}",
                secs(*for_),
                secs(*delay)
            ),
            Reason::PrimaryDown {
                region,
                confirmed_by,
                of,
                for_,
                lag,
            } => {
                write!(
                    f,
                    "primary {region} confirmed down by {confirmed_by} of {of} vantage points for {}",
                    secs(*for_)
                )?;
                match lag {
                    Some(lag) => write!(f, "; within the RPO budget: {lag}"),
                    None => Ok(()),
                }
            }
            Reason::MirrorsInContact {
                region,
                evidence: e,
            } => write!(
                f,
                "{region} seen down by {} of {} vantage points, but {} of {} mirrors still hear from it: waiting",
                e.down_votes,
                e.vantage_points,
                e.mirrors - e.silent_mirrors,
                e.mirrors
            ),
            Reason::Blocked { cause } => write!(f, "blocked: {cause}"),
            Reason::Isolated { region, remaining } => {
                write!(
                    f,
                    "no majority vouches for {region}; self-fencing in {}",
                    secs(*remaining)
                )
            }
            Reason::SelfFencedIsolated {
                region,
                for_,
                lease,
            } => write!(
                f,
                "fenced own region {region}: no majority vouched for {} (lease {})",
                secs(*for_),
                secs(*lease)
            ),
            Reason::SelfFencedUnvouched { region } => {
                write!(
                    f,
                    "fenced own region {region}: started without a majority vouching for it"
                )
            }
            Reason::FoundSelfFenced { region, epoch } => write!(
                f,
                "{region} is fenced by its own lease at epoch {epoch}: self-fenced"
            ),
            Reason::SelfUnfenced {
                region,
                epoch,
                vouched_for,
            } => write!(
                f,
                "unfenced own region {region} at epoch {epoch}: a majority has vouched for it for {}",
                secs(*vouched_for)
            ),
            Reason::UnfencePending { region, remaining } => write!(
                f,
                "{region} self-fenced; a majority vouches again: unfencing in {}",
                secs(*remaining)
            ),
            Reason::UnfenceHeld {
                region,
                fences,
                window,
            } => write!(
                f,
                "{region} stays fenced until acknowledged: it fenced itself {fences} times within {}",
                secs(*window)
            ),
            Reason::SelfFencedNewerEpoch { seen } => {
                write!(f, "fenced own region: the arbiter names {seen}")
            }
            Reason::StillWritable { region } => {
                write!(f, "{region} still takes writes: fencing again")
            }
            Reason::StaysFenced { region, epoch } => write!(f, "{region} fenced at epoch {epoch}"),
            Reason::StaleTwin { region, epoch } => {
                write!(
                    f,
                    "old primary {region} writable with an epoch older than {epoch}: fencing it"
                )
            }
            Reason::FencePending { region } => write!(f, "fence of {region} in flight"),
            Reason::Resuming { ownership, step } => {
                write!(
                    f,
                    "arbiter names {ownership} but the move is unfinished: resuming at '{step}', no new claim"
                )
            }
            Reason::WaitingForWinner { winner, remaining } => {
                write!(
                    f,
                    "{winner} won the claim; taking over in {} if it stalls",
                    secs(*remaining)
                )
            }
            Reason::WinnerFinished { winner } => write!(f, "{winner} finished the move"),
            Reason::TakingOver { winner, step } => {
                write!(f, "the move to {winner} stalled: finishing it at '{step}'")
            }
            Reason::ClaimWon { ownership } => write!(f, "claimed {ownership}"),
            Reason::ClaimLost { seen } => {
                write!(f, "lost the claim: the arbiter holds {seen}; standing down")
            }
            Reason::Superseded { seen } => {
                write!(f, "the arbiter moved on to {seen}; standing down")
            }
            Reason::StepSent { step, attempt } => write!(f, "'{step}' sent (attempt {attempt})"),
            Reason::StepPending { step, attempt } => {
                write!(f, "waiting for '{step}' (attempt {attempt})")
            }
            Reason::StepWorking { step, attempt } => {
                write!(f, "'{step}' still running (attempt {attempt})")
            }
            Reason::StepRetry {
                step,
                attempt,
                error,
            } => {
                write!(f, "'{step}' failed (attempt {attempt}): {error}; retrying")
            }
            Reason::FenceDone { region, how } => match how {
                FenceHow::Fenced => write!(f, "old primary {region} fenced"),
                FenceHow::NoQuorum => write!(
                    f,
                    "old primary {region} has no quorum: it cannot acknowledge writes"
                ),
                FenceHow::LeaseExpired => {
                    write!(
                        f,
                        "old primary {region} unreachable and its self-fence lease has surely expired"
                    )
                }
                FenceHow::SeenDown => write!(
                    f,
                    "old primary {region} down in the latest round and its self-fence lease has \
                     surely expired: counted fenced without an attempt"
                ),
            },
            Reason::FenceWaitingForLease { region, remaining } => write!(
                f,
                "old primary {region} unreachable; promoting only once its lease has surely expired, in {}",
                secs(*remaining)
            ),
            Reason::WaitingForLag { region, waited } => {
                write!(
                    f,
                    "waiting for {region}'s mirrors to catch up ({} so far)",
                    secs(*waited)
                )
            }
            Reason::CaughtUp { region } => write!(f, "{region}'s mirrors hold every message"),
            Reason::LagTimeout { waited } => {
                write!(
                    f,
                    "mirrors did not catch up within {}: rolling the switchover back",
                    secs(*waited)
                )
            }
            Reason::PromotedMirrors { region, epoch } => {
                write!(f, "promoted {region}'s mirrors at epoch {epoch}")
            }
            Reason::DnsSwapped { to } => write!(f, "client DNS now points at {to}"),
            Reason::VerifyFoundGap { step } => write!(f, "verification found '{step}' undone"),
            Reason::VerifyAwaitsRound => f.write_str(
                "verifying with the next probe round (this one began before the last step landed)",
            ),
            Reason::FailoverComplete { ownership } => {
                write!(
                    f,
                    "failed over to {ownership}; no further automatic move until acknowledged"
                )
            }
            Reason::HoldingAfterFailover { epoch } => {
                write!(
                    f,
                    "failed over at epoch {epoch}; holding until acknowledged"
                )
            }
            Reason::SwitchoverComplete { ownership } => write!(f, "switched over to {ownership}"),
            Reason::SwitchoverRolledBack { ownership } => {
                write!(f, "switchover rolled back to {ownership}")
            }
            Reason::StaleOutcome => f.write_str("outcome matches no step in flight; ignored"),
            Reason::Paused { by, why } => write!(f, "paused by {by} ({why}): observing only"),
            Reason::Resumed { by } => {
                write!(f, "resumed by {by}: re-checking the world before acting")
            }
            Reason::Tilt {
                cause: TiltCause::ClockJump { drift },
                ..
            } => {
                write!(
                    f,
                    "TILT: wall clock jumped by {}; observing only",
                    secs(*drift)
                )
            }
            Reason::Tilt {
                cause: TiltCause::Stall { gap },
                ..
            } => {
                write!(
                    f,
                    "TILT: {} between probe rounds; observing only",
                    secs(*gap)
                )
            }
            Reason::TiltHold { remaining } => {
                write!(f, "TILT: observing only for {}", secs(*remaining))
            }
            Reason::TiltOver => f.write_str("TILT over: re-checking the world before acting"),
            Reason::Acked { by, why } => write!(f, "acknowledged by {by} ({why})"),
            Reason::OperatorFailover {
                by,
                why,
                break_glass: true,
            } => {
                write!(
                    f,
                    "BREAK-GLASS failover by {by} ({why}): data beyond the RPO budget may be lost"
                )
            }
            Reason::OperatorFailover {
                by,
                why,
                break_glass: false,
            } => write!(f, "failover forced by {by} ({why})"),
            Reason::OperatorSwitchover { by, why } => {
                write!(f, "switchover requested by {by} ({why})")
            }
            Reason::OperatorFailback { by, why, from_step } => write!(
                f,
                "failback requested by {by} ({why}): starting at '{from_step}'"
            ),
            Reason::TailCaptured { region, tail } => {
                write!(f, "divergent tail of {region} captured: {}", Tails(tail))
            }
            Reason::Reseeded { region } => {
                write!(f, "{region}'s streams rebuilt as mirrors")
            }
            Reason::Reseeding { region, behind } => match behind {
                Some(n) => write!(f, "reseeding {region}: mirrors {n} messages behind"),
                None => write!(f, "reseeding {region}: mirrors' lag not measured yet"),
            },
            Reason::RejoinedAsStandby { region } => {
                write!(f, "{region} mirrors the active region again: standing by")
            }
            Reason::SwitchedBack { ownership } => {
                write!(
                    f,
                    "switched back to {ownership}: restoring the home mirrors"
                )
            }
            Reason::FailbackComplete { ownership, tail } => write!(
                f,
                "failed back to {ownership}; home mirrors restored; divergent tail: {}",
                Tails(tail)
            ),
            Reason::Refused { command, by, why } => {
                let command = match command {
                    CommandKind::Pause => "pause",
                    CommandKind::Resume => "resume",
                    CommandKind::Switchover => "switchover",
                    CommandKind::Failover { .. } => "failover",
                    CommandKind::Ack => "ack",
                    CommandKind::Failback => "failback",
                };
                write!(f, "refused {command} from {by}: {why}")
            }
        }
    }
}
