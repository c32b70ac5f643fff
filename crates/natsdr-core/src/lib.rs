//! The pure decision core: `decide(state, event, now, policy) -> Decision`, with no I/O and no clock.
//!
//! The driver probes, turns each round into an [`Event::Observed`], calls [`decide`], performs the
//! returned [`Action`]s through its executors and feeds their outcomes back as events. Everything
//! here is level-triggered: a watchdog that restarts from [`State::starting`] derives where it is
//! from the arbiter's [`Ownership`] record and the observed world, and finishes an interrupted
//! move without a second claim.
//!
//! Confirmation: the active region is down only when enough vantage points agree (a majority of
//! this watchdog, its peer and the witness), every mirror in the standby has stopped hearing from
//! its source (`mirror_silence`), and this holds for `failover_delay`.
//!
//! Two sites (no witness): neither side can tell a dead peer from a cut link. The default,
//! [`TwoSite::Manual`], detects on this watchdog's own evidence plus the mirrors', pages, and waits
//! in `Blocked { NeedsOperator }`; the primary never self-fences. [`TwoSite::Lease`] fails over
//! automatically and relies on the primary fencing itself when its peer stops vouching for it for
//! `self_fence_lease`; the price is that losing the standby also fences the primary.
//!
//! Fencing: the standby fences the old primary before promoting; an unreachable one counts as
//! fenced only once its lease has surely expired (`Policy::lease_expiry`, enforced by the timing
//! rule in [`Policy::try_new`]). The primary's watchdog fences its own region when it sees a newer
//! epoch or when no majority vouches for it for `self_fence_lease`. Streams in
//! `PolicyParams::protected` (GDPR-only) never appear in an action.
//!
//! Vouching: the primary's lease runs while a majority vouches for it: its own probe, and each
//! fresh report that sees it serving *and* has not read a different owner from the arbiter.
//! Reports also carry the owner they read, so a watchdog cut off from the arbiter still learns
//! newer epochs. A primary watchdog that starts without a lease waits `failover_delay` for a
//! majority to vouch before it fences (see Guarding below).
//!
//! Known windows: a primary region that revives at the very moment it is cut off from everyone
//! is writable until its own watchdog's next round (at most one probe interval); the standby
//! cannot observe it. The property tests let the primary's watchdog observe first to exclude it.
//! Likewise an operator's failover acts on the latest round's view: an old primary that came back
//! since then may be counted fenced until the next round. And a primary's watchdog that dies in
//! the very round its region is cut off looks like a live one behind the cut: nobody fences that
//! region (a watchdog that dies while its region keeps serving is noticed, see below).
//!
//! Guarding: the primary's watchdog says in every report whether it guards its region (holds a
//! lease, or has fenced it); every vantage point relays the newest word it holds. An unreachable
//! old primary counts as fenced by its lease only if that word said so and no sighting of it
//! serving came later than `report_max_age` after it; otherwise an automatic failover is held
//! (`NeedsOperator { PrimaryUnguarded }`). A watchdog that starts without a lease (none recorded
//! in its region, or released by a graceful shutdown) says it guards nothing and gives its peers
//! `failover_delay` to vouch before it fences; one bound by a recorded lease keeps it.
//!
//! Anti-flap: at most one automatic failover, then `FailedOver` holds until `Ack`; too many
//! down-edges in `flap_window` block until `Ack`; moving back to the home primary is never
//! automatic. Paused and TILT modes emit no action at all.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod action;
mod command;
mod decide;
mod decision;
mod detect;
mod event;
mod instant;
pub mod invariants;
mod lag;
pub mod model;
mod moves;
mod observation;
mod ownership;
mod policy;
mod reason;
pub mod rpo;
mod state;
mod tail;
#[cfg(test)]
mod tests;
mod world;

pub use action::{Action, Severity};
pub use decide::decide;
pub use decision::Decision;
pub use event::{CaptureResult, ClaimResult, Command, CommandKind, Event, FenceResult, StepResult};
pub use instant::{Instant, WallTime};
pub use observation::{
    GuardWord, Health, MirrorView, Observation, RecordedVouch, RegionView, Report, StreamRole,
    StreamView, Vantage,
};
pub use ownership::Ownership;
pub use policy::{Policy, PolicyError, PolicyParams, Role, TwoSite};
pub use reason::{FenceHow, Reason, Refusal, TiltCause};
pub use state::{BlockCause, Evidence, Mode, Move, Need, Phase, PhaseName, State, Step};
pub use tail::TailCount;
