//! What the driver feeds `decide`: probe rounds, outcomes of earlier actions, operator commands.
use serde::{Deserialize, Serialize};

use super::observation::Observation;
use super::ownership::Ownership;
use super::tail::TailCount;
use crate::model::{Epoch, Region};

/// One input to the state machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// A probe round finished (once per `probe_interval`).
    Observed(Observation),
    /// The arbiter answered an `Action::ClaimEpoch`.
    Claimed {
        /// The record the claim tried to write.
        claim: Ownership,
        /// What happened.
        result: ClaimResult,
    },
    /// An executor finished an `Action::Fence`.
    Fenced {
        /// The region it fenced.
        region: Region,
        /// The epoch the action carried.
        epoch: Epoch,
        /// What happened.
        result: FenceResult,
    },
    /// An executor finished an `Action::Unfence`.
    Unfenced {
        /// The region it unfenced.
        region: Region,
        /// The epoch the action carried.
        epoch: Epoch,
        /// What happened.
        result: StepResult,
    },
    /// An executor finished an `Action::Promote`.
    Promoted {
        /// The region whose mirrors it promoted.
        region: Region,
        /// The epoch the action carried.
        epoch: Epoch,
        /// What happened.
        result: StepResult,
    },
    /// An executor finished an `Action::SwapDns`.
    DnsSwapped {
        /// The epoch the action carried.
        epoch: Epoch,
        /// What happened.
        result: StepResult,
    },
    /// An executor finished an `Action::CaptureTail`.
    TailCaptured {
        /// The region whose tail it captured (the old primary).
        region: Region,
        /// The epoch the action carried.
        epoch: Epoch,
        /// What happened.
        result: CaptureResult,
    },
    /// An executor finished an `Action::Reseed`.
    Reseeded {
        /// The region whose streams it rebuilt as mirrors.
        region: Region,
        /// The epoch the action carried.
        epoch: Epoch,
        /// What happened.
        result: StepResult,
    },
    /// An executor is still working on `action` (sent every third of the step timeout while it
    /// runs): a step that moves data in proportion to its size (a long divergent tail, a
    /// thousand mirrors) is not overdue while its executor is alive; it is resent only after a
    /// step timeout without an outcome or a sign of life.
    Working {
        /// The action being carried out, as it was dispatched.
        action: super::action::Action,
    },
    /// An operator asked for something (via the HTTP API).
    Command(Command),
}

/// How capturing a divergent tail ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CaptureResult {
    /// Every listed stream's tail is exported and handled (or there was none).
    Done {
        /// One count per listed stream.
        tail: Vec<TailCount>,
    },
    /// Capturing failed; nothing of the old primary was changed.
    Failed {
        /// Whether sending it again is sensible.
        retryable: bool,
        /// What went wrong.
        error: String,
    },
}

/// The arbiter's answer to a compare-and-swap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClaimResult {
    /// Our swap was applied: we own the new epoch.
    Won,
    /// The record was not what we expected: someone else moved first. `seen` is the record now.
    Lost {
        /// The record as read back after the failed swap.
        seen: Ownership,
    },
    /// The arbiter did not answer properly.
    Failed {
        /// Whether sending the same claim again is sensible (timeouts, throttling).
        retryable: bool,
        /// What went wrong, for the reason and the logs.
        error: String,
    },
}

/// How fencing a region ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FenceResult {
    /// Every listed stream now has `fenced.<subject>` subjects and the epoch stamp.
    Fenced,
    /// Servers answered but have no quorum: they cannot acknowledge writes now, but may regain
    /// quorum unfenced; as good as fenced only once the region's self-fence lease has surely expired.
    NoQuorum,
    /// Nothing answered: acceptable only once the region's self-fence lease has surely expired.
    Unreachable,
    /// Fencing failed for another reason.
    Failed {
        /// Whether sending it again is sensible.
        retryable: bool,
        /// What went wrong.
        error: String,
    },
}

/// How a promote, unfence or DNS swap ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepResult {
    /// Done (or already done: every executor is idempotent).
    Done,
    /// Failed.
    Failed {
        /// Whether sending it again is sensible.
        retryable: bool,
        /// What went wrong.
        error: String,
    },
}

/// An operator's command. Every command is logged with who gave it and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// What is asked.
    pub kind: CommandKind,
    /// Why, in the operator's words.
    pub reason: String,
    /// Who.
    pub by: String,
}

/// The commands an operator can give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandKind {
    /// Stop acting (probing and reporting go on).
    Pause,
    /// Act again, after re-checking the world.
    Resume,
    /// Planned, zero-loss move to this watchdog's region (both regions must be healthy).
    Switchover,
    /// Forced move to this watchdog's region, skipping confirmation. `allow_data_loss` is the
    /// break-glass for the RPO guard.
    Failover {
        /// Proceed even if mirrors lag beyond the RPO budget.
        allow_data_loss: bool,
    },
    /// Acknowledge a hold: leave `Blocked`, `FailedOver` or `SelfFenced`.
    Ack,
    /// Move back to the home primary after a failover, without losing an acknowledged message:
    /// capture the old primary's divergent tail, reseed it, switch over back, restore the
    /// home topology. Sent to the home primary's watchdog; never automatic.
    Failback,
}

impl CommandKind {
    /// The command's name, as an operator types it.
    pub fn verb(&self) -> &'static str {
        match self {
            CommandKind::Pause => "pause",
            CommandKind::Resume => "resume",
            CommandKind::Switchover => "switchover",
            CommandKind::Failover { .. } => "failover",
            CommandKind::Ack => "ack",
            CommandKind::Failback => "failback",
        }
    }
}
