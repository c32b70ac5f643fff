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

/// The outcome of a compare-and-swap that replaced nothing, from what the record holds now:
/// `already` when it holds `wanted` (an earlier attempt landed, or someone made the same
/// change), else `lost` with what it holds.
fn settled<T: PartialEq, R>(
    current: Option<T>,
    wanted: &T,
    already: R,
    lost: impl FnOnce(Option<T>) -> R,
) -> R {
    if current.as_ref() == Some(wanted) {
        already
    } else {
        lost(current)
    }
}
