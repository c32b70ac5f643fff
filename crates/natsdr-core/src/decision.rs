//! What one step of the core yields: the next state, the effects to perform, and why. Its own
//! module so that `decide` and the modules it delegates to (`command`, `detect`, `moves`) all
//! depend on it without depending on each other backwards.
use serde::{Deserialize, Serialize};

use super::action::Action;
use super::reason::Reason;
use super::state::State;

/// What `decide` returns: the next state, the effects to perform, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The state after the event.
    pub next: State,
    /// Effects for the driver, in order.
    pub actions: Vec<Action>,
    /// Why, for logs, the API and notifications.
    pub reason: Reason,
}

impl Decision {
    pub(super) fn new(next: State, actions: Vec<Action>, reason: Reason) -> Self {
        Self {
            next,
            actions,
            reason,
        }
    }

    pub(super) fn quiet(next: State, reason: Reason) -> Self {
        Self::new(next, Vec::new(), reason)
    }
}
