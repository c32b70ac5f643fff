//! DNS as the arbiter of ownership (epochs by compare-and-swap) and as the client cutover.
mod arbiter;
mod client_record;
mod error;
mod memory;
mod ownership;
mod rfc2136;

pub use arbiter::{Arbiter, ClaimResult};
pub use client_record::{ClientRecord, ClientTarget, SwapResult};
pub use error::DnsError;
pub use memory::{Fault, MemoryDns};
pub use ownership::{Ownership, OwnershipParseError};
pub use rfc2136::{KeyAlgorithm, Rfc2136, Rfc2136Config};
