//! The probes: one round of both regions, DNS and peers, turned into the core's `Observation`.
mod depth;
mod details;
mod error;
mod lag;
mod peers;
mod prober;
mod publish;
mod region;
mod streams;

pub use depth::{HealthDepth, LeafDepth, META_PEER_SILENT, MetaDepth};
pub use details::{DnsDetails, MirrorLag, PeerDetails, RegionDetails, RoundDetails};
pub use error::ProbeError;
pub use peers::{PeerClient, PeerError};
pub use prober::Prober;
pub use publish::{observations_from, report_from};
pub use streams::META_ORIGIN;
