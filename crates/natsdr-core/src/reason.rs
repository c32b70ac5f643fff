//! Why a decision was taken: typed for tests, readable for people ("primary us-east-1 confirmed
//! down by 2 of 3 vantage points for 6.0s").
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::event::CommandKind;
use super::instant::Instant;
use super::instant::secs;
use super::lag::LagEvidence;
use super::ownership::Ownership;
use super::state::{BlockCause, Evidence, Step};
use super::tail::TailCount;
use crate::model::{Epoch, Region};

/// The reason attached to every decision. NB: `thiserror` derives only its `Display` here (each
/// message stands on its variant); a reason is not an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Reason {
    /// No ownership record has been read yet: nothing can be decided.
    #[error("arbiter not read yet; observing")]
    ArbiterUnknown,
    /// The region serves with every server.
    #[error("{region} healthy")]
    RegionHealthy {
        /// The region.
        region: Region,
    },
    /// The region lost servers but keeps its quorum.
    #[error("{region} degraded: {servers_up} of {cluster_size} servers answer, quorum kept")]
    RegionDegraded {
        /// The region.
        region: Region,
        /// Servers answering.
        servers_up: u32,
        /// Servers configured.
        cluster_size: u32,
    },
    /// This watchdog cannot see its own region.
    #[error("own region {region} unreachable from here")]
    RegionUnreachable {
        /// The region.
        region: Region,
    },
    /// Some vantage points see the region down, or its mirrors still hear from it.
    #[error("{region} seen down by {} of {} vantage points, {} of {} mirrors silent: not confirmed", .evidence.down_votes, .evidence.vantage_points, .evidence.silent_mirrors, .evidence.mirrors)]
    DownNotConfirmed {
        /// The region.
        region: Region,
        /// The evidence so far.
        evidence: Evidence,
    },
    /// Confirmed down; waiting out the failover delay.
    #[error("primary {region} down by {down_votes} of {of} vantage points for {}; failing over at {}", secs(.for_), secs(.delay))]
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
    #[error("{region} seen down by {} of {} vantage points, but {} of {} mirrors still hear from it: waiting", .evidence.down_votes, .evidence.vantage_points, .evidence.mirrors - .evidence.silent_mirrors, .evidence.mirrors)]
    MirrorsInContact {
        /// The region.
        region: Region,
        /// The evidence.
        evidence: Evidence,
    },
    /// Confirmed down for the whole delay: failing over.
    #[error("primary {region} confirmed down by {confirmed_by} of {of} vantage points for {}{}", secs(.for_), match .lag { Some(lag) => format!("; within the RPO budget: {lag}"), None => String::new() })]
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
    #[error("no lease on {region} yet: waiting up to {} for a majority to vouch before fencing it", secs(.remaining))]
    AwaitingVouches {
        /// Its region.
        region: Region,
        /// How long it still waits.
        remaining: Duration,
    },
    /// Waiting for an operator.
    #[error("blocked: {cause}")]
    Blocked {
        /// Why.
        cause: BlockCause,
    },
    /// No majority vouches for this (active) region; it fences itself when the lease runs out.
    #[error("no majority vouches for {region}; self-fencing in {}", secs(.remaining))]
    Isolated {
        /// The region.
        region: Region,
        /// Time left on the lease.
        remaining: Duration,
    },
    /// The lease ran out: this region fenced itself.
    #[error("fenced own region {region}: no majority vouched for {} (lease {})", secs(.for_), secs(.lease))]
    SelfFencedIsolated {
        /// The region.
        region: Region,
        /// How long no majority vouched.
        for_: Duration,
        /// The lease.
        lease: Duration,
    },
    /// This (active) region's watchdog started without a majority vouching: it fenced its region.
    #[error("fenced own region {region}: started without a majority vouching for it")]
    SelfFencedUnvouched {
        /// The region.
        region: Region,
    },
    /// This (active) region's streams carry this watchdog's own fence at the arbiter's epoch,
    /// though it was not self-fenced (it restarted, or came out of TILT): it is again.
    #[error("{region} is fenced by its own lease at epoch {epoch}: self-fenced")]
    FoundSelfFenced {
        /// The region.
        region: Region,
        /// The epoch on the fence.
        epoch: Epoch,
    },
    /// A majority vouched for this self-fenced region long enough: it unfenced itself.
    #[error("unfenced own region {region} at epoch {epoch}: a majority has vouched for it for {}", secs(.vouched_for))]
    SelfUnfenced {
        /// The region.
        region: Region,
        /// The epoch stamped.
        epoch: Epoch,
        /// How long a majority has vouched without a break.
        vouched_for: Duration,
    },
    /// Self-fenced; a majority vouches again and the unfence waits out the rest of its hold.
    #[error("{region} self-fenced; a majority vouches again: unfencing in {}", secs(.remaining))]
    UnfencePending {
        /// The region.
        region: Region,
        /// Left to wait.
        remaining: Duration,
    },
    /// Self-fenced too often within the flap window: it stays fenced until an operator's `Ack`.
    #[error("{region} stays fenced until acknowledged: it fenced itself {fences} times within {}", secs(.window))]
    UnfenceHeld {
        /// The region.
        region: Region,
        /// Self-fences counted.
        fences: u32,
        /// The window they were counted in.
        window: Duration,
    },
    /// Another region owns a newer epoch: this region fenced itself.
    #[error("fenced own region: the arbiter names {seen}")]
    SelfFencedNewerEpoch {
        /// The record seen.
        seen: Ownership,
    },
    /// A fenced region still takes writes: fence sent again.
    #[error("{region} still takes writes: fencing again")]
    StillWritable {
        /// The region.
        region: Region,
    },
    /// This region is fenced and stays so.
    #[error("{region} fenced at epoch {epoch}")]
    StaysFenced {
        /// The region.
        region: Region,
        /// The epoch stamped.
        epoch: Epoch,
    },
    /// The old primary is writable with a stale epoch: fenced at once.
    #[error("old primary {region} writable with an epoch older than {epoch}: fencing it")]
    StaleTwin {
        /// The old primary.
        region: Region,
        /// The current epoch.
        epoch: Epoch,
    },
    /// A repair fence is out; waiting for it to land.
    #[error("fence of {region} in flight")]
    FencePending {
        /// The region being fenced.
        region: Region,
    },
    /// The arbiter names this region but the world lags behind: finishing the move, no new claim.
    #[error(
        "arbiter names {ownership} but the move is unfinished: resuming at '{step}', no new claim"
    )]
    Resuming {
        /// The record.
        ownership: Ownership,
        /// The first unfinished step.
        step: Step,
    },
    /// Another watchdog claimed first and is finishing the move.
    #[error("{winner} won the claim; taking over in {} if it stalls", secs(.remaining))]
    WaitingForWinner {
        /// Its record.
        winner: Ownership,
        /// Time left before taking over.
        remaining: Duration,
    },
    /// The winner finished the move.
    #[error("{winner} finished the move")]
    WinnerFinished {
        /// Its record.
        winner: Ownership,
    },
    /// The winner went quiet: finishing its steps (same epoch, idempotent).
    #[error("the move to {winner} stalled: finishing it at '{step}'")]
    TakingOver {
        /// Its record.
        winner: Ownership,
        /// The first unfinished step.
        step: Step,
    },
    /// The claim was applied.
    #[error("claimed {ownership}")]
    ClaimWon {
        /// The record now held.
        ownership: Ownership,
    },
    /// Someone else claimed first: standing down.
    #[error("lost the claim: the arbiter holds {seen}; standing down")]
    ClaimLost {
        /// The record seen.
        seen: Ownership,
    },
    /// The arbiter moved past this move's epoch: standing down.
    #[error("the arbiter moved on to {seen}; standing down")]
    Superseded {
        /// The record seen.
        seen: Ownership,
    },
    /// A step's action was sent.
    #[error("'{step}' sent (attempt {attempt})")]
    StepSent {
        /// The step.
        step: Step,
        /// Its attempt number.
        attempt: u32,
    },
    /// A step's outcome is awaited.
    #[error("waiting for '{step}' (attempt {attempt})")]
    StepPending {
        /// The step.
        step: Step,
        /// Its attempt number.
        attempt: u32,
    },
    /// A step's executor is still at work (a sign of life, not an outcome).
    #[error("'{step}' still running (attempt {attempt})")]
    StepWorking {
        /// The step.
        step: Step,
        /// Its attempt number.
        attempt: u32,
    },
    /// A step failed and will be sent again by the next round.
    #[error("'{step}' failed (attempt {attempt}): {error}; retrying")]
    StepRetry {
        /// The step.
        step: Step,
        /// Attempts so far.
        attempt: u32,
        /// The error.
        error: String,
    },
    /// The old primary can no longer accept writes.
    #[error("old primary {region} {how}")]
    FenceDone {
        /// The old primary.
        region: Region,
        /// How we know.
        how: FenceHow,
    },
    /// The old primary is unreachable and its lease may still be running.
    #[error("old primary {region} unreachable; promoting only once its lease has surely expired, in {}", secs(.remaining))]
    FenceWaitingForLease {
        /// The old primary.
        region: Region,
        /// Time until its lease has surely expired.
        remaining: Duration,
    },
    /// Switchover: waiting for every mirror to hold every message.
    #[error("waiting for {region}'s mirrors to catch up ({} so far)", secs(.waited))]
    WaitingForLag {
        /// The new primary.
        region: Region,
        /// Waited so far.
        waited: Duration,
    },
    /// Switchover: every mirror caught up.
    #[error("{region}'s mirrors hold every message")]
    CaughtUp {
        /// The new primary.
        region: Region,
    },
    /// Switchover: the mirrors did not catch up in time: rolling back.
    #[error("mirrors did not catch up within {}: rolling the switchover back", secs(.waited))]
    LagTimeout {
        /// Waited.
        waited: Duration,
    },
    /// The mirrors were promoted.
    #[error("promoted {region}'s mirrors at epoch {epoch}")]
    PromotedMirrors {
        /// The new primary.
        region: Region,
        /// The epoch stamped.
        epoch: Epoch,
    },
    /// The client record was swapped.
    #[error("client DNS now points at {to}")]
    DnsSwapped {
        /// The new primary.
        to: Region,
    },
    /// Verification waits for a probe round that began after the last step landed.
    #[error("verifying with the next probe round (this one began before the last step landed)")]
    VerifyAwaitsRound,
    /// Verification found a step undone: doing it again.
    #[error("verification found '{step}' undone")]
    VerifyFoundGap {
        /// The step.
        step: Step,
    },
    /// The failover completed; holding until acknowledged.
    #[error("failed over to {ownership}; no further automatic move until acknowledged")]
    FailoverComplete {
        /// The new record.
        ownership: Ownership,
    },
    /// Failed over earlier; no automatic move until acknowledged.
    #[error("failed over at epoch {epoch}; holding until acknowledged")]
    HoldingAfterFailover {
        /// The epoch.
        epoch: Epoch,
    },
    /// The switchover completed.
    #[error("switched over to {ownership}")]
    SwitchoverComplete {
        /// The new record.
        ownership: Ownership,
    },
    /// The switchover was rolled back; the old primary serves again.
    #[error("switchover rolled back to {ownership}")]
    SwitchoverRolledBack {
        /// The record after the rollback.
        ownership: Ownership,
    },
    /// An outcome that matches no step in flight (late or duplicate): ignored.
    #[error("outcome matches no step in flight; ignored")]
    StaleOutcome,
    /// Paused by an operator: observing only.
    #[error("paused by {by} ({why}): observing only")]
    Paused {
        /// Who.
        by: String,
        /// Why.
        why: String,
    },
    /// Resumed: the next round re-derives everything before acting.
    #[error("resumed by {by}: re-checking the world before acting")]
    Resumed {
        /// Who.
        by: String,
    },
    /// The clock jumped or this process stalled: observing only.
    #[error("TILT: {cause}; observing only")]
    Tilt {
        /// What happened.
        cause: TiltCause,
        /// Until when.
        until: Instant,
    },
    /// Still in TILT.
    #[error("TILT: observing only for {}", secs(.remaining))]
    TiltHold {
        /// Time left.
        remaining: Duration,
    },
    /// TILT is over: the next round re-derives everything.
    #[error("TILT over: re-checking the world before acting")]
    TiltOver,
    /// An operator acknowledged a hold.
    #[error("acknowledged by {by} ({why})")]
    Acked {
        /// Who.
        by: String,
        /// Why.
        why: String,
    },
    /// An operator forced a failover.
    #[error("{}", if *.break_glass { format!("BREAK-GLASS failover by {by} ({why}): data beyond the RPO budget may be lost") } else { format!("failover forced by {by} ({why})") })]
    OperatorFailover {
        /// Who.
        by: String,
        /// Why.
        why: String,
        /// Whether it proceeds despite lag beyond the RPO budget.
        break_glass: bool,
    },
    /// An operator asked for a planned switchover.
    #[error("switchover requested by {by} ({why})")]
    OperatorSwitchover {
        /// Who.
        by: String,
        /// Why.
        why: String,
    },
    /// An operator asked to fail back to this (the home primary's) region.
    #[error("failback requested by {by} ({why}): starting at '{from_step}'")]
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
    #[error("divergent tail of {region} captured: {}", Tails(.tail))]
    TailCaptured {
        /// The old primary.
        region: Region,
        /// Per stream.
        tail: Vec<TailCount>,
    },
    /// The region's streams were rebuilt as mirrors of the other region.
    #[error("{region}'s streams rebuilt as mirrors")]
    Reseeded {
        /// The region.
        region: Region,
    },
    /// Reseeded mirrors are still catching up.
    #[error("reseeding {region}: {}", match .behind { Some(n) => format!("mirrors {n} messages behind"), None => "mirrors' lag not measured yet".to_owned() })]
    Reseeding {
        /// The region being reseeded.
        region: Region,
        /// Messages its mirrors still lack in total, if known.
        behind: Option<u64>,
    },
    /// This self-fenced region mirrors the active one again (the failback rebuilt it): it is a
    /// standby now, and may fail over again.
    #[error("{region} mirrors the active region again: standing by")]
    RejoinedAsStandby {
        /// The region.
        region: Region,
    },
    /// Failback: the switch back is verified; the home mirrors come next.
    #[error("switched back to {ownership}: restoring the home mirrors")]
    SwitchedBack {
        /// The record established.
        ownership: Ownership,
    },
    /// The failback finished: the home primary is active again and the home topology restored.
    #[error("failed back to {ownership}; home mirrors restored; divergent tail: {}", Tails(.tail))]
    FailbackComplete {
        /// The record it established.
        ownership: Ownership,
        /// The divergent tail, as captured.
        tail: Vec<TailCount>,
    },
    /// A command was refused.
    #[error("refused {} from {by}: {why}", .command.verb())]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum TiltCause {
    /// Wall time moved differently from monotonic time between two rounds.
    #[error("wall clock jumped by {}", secs(.drift))]
    ClockJump {
        /// The difference.
        drift: Duration,
    },
    /// Two rounds were too far apart.
    #[error("{} between probe rounds", secs(.gap))]
    Stall {
        /// The gap.
        gap: Duration,
    },
}

/// How a fence step was satisfied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum FenceHow {
    /// The streams were fenced.
    #[error("fenced")]
    Fenced,
    /// The region has no quorum: it cannot acknowledge writes.
    #[error("has no quorum: it cannot acknowledge writes")]
    NoQuorum,
    /// Unreachable, and its self-fence lease has surely expired.
    #[error("unreachable and its self-fence lease has surely expired")]
    LeaseExpired,
    /// Down in this watchdog's latest round (unreachable, or a minority of its servers) when the
    /// step began, and its self-fence lease had surely expired: no fence was attempted (it could
    /// only have ended in `NoQuorum` or `LeaseExpired`, a probe timeout later).
    #[error(
        "down in the latest round and its self-fence lease has surely expired: counted fenced without an attempt"
    )]
    SeenDown,
}

/// Why a command was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Refusal {
    /// Resume while not paused.
    #[error("not paused: nothing to resume")]
    NotPaused,
    /// Paused: resume first.
    #[error("paused: resume first")]
    Paused,
    /// In TILT: wait for it to end.
    #[error("in TILT (the clock or the probes stalled): wait for it to end")]
    Tilt,
    /// A witness never acts.
    #[error("a witness never acts: send it to a region's watchdog")]
    Witness,
    /// Failback moves the active role to the home primary: only its watchdog can do that.
    #[error("failback moves the primary home: send it to the home primary's watchdog")]
    NotHomePrimary,
    /// Failback needs this region reachable with a quorum of its servers.
    #[error("this region has no quorum of serving servers: a failback needs it serving")]
    OwnRegionNotServing,
    /// Failback needs the active region reachable with a quorum (its writes must be mirrored
    /// back); while it is down, this is a failover.
    #[error(
        "the active region is not serving: its writes could not be mirrored back (this \
                 is a failover, not a failback)"
    )]
    ActiveRegionNotServing,
    /// A stream failback would rebuild still takes writes: it must be fenced first (by its
    /// watchdog, or by the active region's repair fence).
    #[error("a stream the failback would rebuild still takes writes: fence it first")]
    StillWritable,
    /// No stream of this region has a twin in the active region: nothing to fail back.
    #[error("no stream of this region has a twin in the active region: nothing to fail back")]
    NothingToFailBack,
    /// Unfencing a region that no longer owns the epoch would make two writable regions.
    #[error("this region no longer holds the epoch: unfencing it would make two writable regions")]
    NotOwner,
    /// There is no hold to acknowledge.
    #[error("there is no hold to acknowledge")]
    NothingToAck,
    /// No ownership record has been read yet.
    #[error("the ownership record has not been read yet: retry shortly")]
    OwnerUnknown,
    /// This region is already active.
    #[error("this region is already the active one")]
    AlreadyActive,
    /// A move is under way, or this region is fenced.
    #[error("a move is under way, or this region is fenced")]
    Busy,
    /// A switchover needs both regions healthy.
    #[error("a switchover needs both regions healthy")]
    NotHealthy,
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
