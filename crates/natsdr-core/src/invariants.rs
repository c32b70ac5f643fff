//! Safety rules every decision must keep, as code: the tests check them after every step.
use super::action::Action;
use super::policy::{Policy, Role};
use super::state::{Mode, State, Step};
use crate::model::{Epoch, StreamName};

/// A broken safety rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// A paused watchdog emitted an action.
    #[error("paused, yet emitted {0:?}")]
    ActedWhilePaused(Action),
    /// A watchdog in TILT emitted an action.
    #[error("in TILT, yet emitted {0:?}")]
    ActedInTilt(Action),
    /// A witness emitted an action.
    #[error("a witness emitted {0:?}")]
    WitnessActed(Action),
    /// The known epoch went backwards.
    #[error("known epoch went back from {before} to {after}")]
    EpochWentBack {
        /// Before the step.
        before: Epoch,
        /// After it.
        after: Epoch,
    },
    /// An action carried an epoch older than the one already known.
    #[error("{action:?} carries an epoch older than the known {known}")]
    StaleEpoch {
        /// The action.
        action: Action,
        /// The known epoch.
        known: Epoch,
    },
    /// An action named a protected (GDPR-only) stream.
    #[error("{action:?} touches protected stream {stream}")]
    ProtectedTouched {
        /// The action.
        action: Action,
        /// The stream.
        stream: StreamName,
    },
    /// A promotion was emitted outside the promote step of a move (so before its fence step).
    #[error("promotion emitted outside a move's promote step: {0:?}")]
    PromoteOutOfOrder(Action),
}

/// Checks one step `before -> after` that emitted `actions`.
pub fn check(
    before: &State,
    after: &State,
    actions: &[Action],
    policy: &Policy,
) -> Result<(), Violation> {
    if let Some(a) = actions.first() {
        match (&before.mode, policy.params().role) {
            (_, Role::Witness) => return Err(Violation::WitnessActed(a.clone())),
            (Mode::Paused { .. }, Role::Watchdog) => {
                return Err(Violation::ActedWhilePaused(a.clone()));
            }
            (Mode::Tilt { .. }, Role::Watchdog) => return Err(Violation::ActedInTilt(a.clone())),
            (Mode::Active, Role::Watchdog) => {}
        }
    }
    if let (Some(b), Some(a)) = (before.epoch(), after.epoch())
        && a < b
    {
        return Err(Violation::EpochWentBack {
            before: b,
            after: a,
        });
    }
    let known = before.epoch().unwrap_or_default();
    for action in actions {
        if let Some(stream) = action
            .streams()
            .iter()
            .find(|s| policy.params().protected.contains(*s))
        {
            return Err(Violation::ProtectedTouched {
                action: action.clone(),
                stream: stream.clone(),
            });
        }
        let epoch = match action {
            Action::ClaimEpoch { claim, .. } => Some(claim.epoch),
            Action::Fence { epoch, .. }
            | Action::Unfence { epoch, .. }
            | Action::Promote { epoch, .. }
            | Action::SwapDns { epoch, .. }
            | Action::CaptureTail { epoch, .. }
            | Action::Reseed { epoch, .. } => Some(*epoch),
            Action::Notify { .. } => None,
        };
        if epoch.is_some_and(|e| e < known) {
            return Err(Violation::StaleEpoch {
                action: action.clone(),
                known,
            });
        }
        if let Action::Promote { .. } = action {
            let in_promote = after
                .phase
                .moving()
                .is_some_and(|(_, m)| m.step == Step::Promote);
            if !in_promote {
                return Err(Violation::PromoteOutOfOrder(action.clone()));
            }
        }
    }
    Ok(())
}
