//! DNS as the arbiter of ownership (epochs by compare-and-swap) and as the client cutover.
mod arbiter;
mod authoritative;
mod client_record;
mod error;
mod memory;
mod ownership;
mod provider;
mod rfc2136;
mod route53;
mod route53_health;
mod wait;

pub use arbiter::{Arbiter, ClaimResult};
pub use authoritative::uncached_resolver;
pub use client_record::{ClientRecord, ClientTarget, SwapResult};
pub use error::DnsError;
pub use memory::{Fault, MemoryDns};
pub use ownership::{Ownership, OwnershipParseError};
pub use provider::{AnyArbiter, AnyClientRecord, from_config, rfc2136_config};
pub use rfc2136::{KeyAlgorithm, Rfc2136, Rfc2136Config};
pub use route53::{Route53, Route53Config};
pub use route53_health::Route53Health;

/// A compare-and-swap's outcome as a read of its record can settle it, so that claims and swaps
/// (and every provider) read back the same way.
trait Settled {
    /// What the record holds.
    type Value: PartialEq;
    /// The record already holds what was wanted.
    const ALREADY: Self;
    /// The record holds `current` instead: someone else changed it.
    fn lost(current: Option<Self::Value>) -> Self;
}

impl Settled for ClaimResult {
    type Value = Ownership;
    const ALREADY: Self = Self::AlreadyOurs;
    fn lost(current: Option<Ownership>) -> Self {
        Self::Lost { current }
    }
}

impl Settled for SwapResult {
    type Value = ClientTarget;
    const ALREADY: Self = Self::AlreadyThere;
    fn lost(current: Option<ClientTarget>) -> Self {
        Self::Lost { current }
    }
}

/// The outcome of a compare-and-swap that replaced nothing, from what the record holds now:
/// already there when it holds `wanted` (an earlier attempt landed, or someone made the same
/// change), else lost with what it holds.
fn settled<R: Settled>(current: Option<R::Value>, wanted: &R::Value) -> R {
    if current.as_ref() == Some(wanted) {
        R::ALREADY
    } else {
        R::lost(current)
    }
}

/// What a read after a write that may or may not have landed proves: `wanted` there, it (or an
/// identical write) landed; anything but `expected`, someone else changed the record; `None`
/// while the record still holds `expected`: nothing changed, for a reason the caller knows.
fn read_back<R: Settled>(
    current: Option<R::Value>,
    expected: Option<&R::Value>,
    wanted: &R::Value,
) -> Option<R> {
    (current.as_ref() == Some(wanted) || current.as_ref() != expected)
        .then(|| settled(current, wanted))
}
