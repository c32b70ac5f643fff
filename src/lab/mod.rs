//! The lab: a real two-region NATS deployment on one machine, with fault injection.
pub mod faults;
pub mod manifest;
pub mod names;
pub mod netd;
pub mod process;

pub use manifest::LabManifest;
pub use names::{LabRegion, NetPath, Site};
