//! The lab: a real two-region NATS deployment on one machine, with fault injection.
//!
//! `Lab::up` starts a 3-node us-east-1 cluster and a 3-node eu-central-1 cluster of the real
//! nats-server on 127.0.0.1, joined by EU->US leafnodes that carry only the application account,
//! plus netd, a fault-injecting TCP proxy in front of every path that a fault must be able to
//! cut: the leafnodes, each region's client entry point, each watchdog's view of each region and
//! each watchdog-to-watchdog link. Everything lives in one directory described by `lab.json`.
//! With a source config ([`LabSource`]) the two regions take that file's names, domains and
//! cluster sizes, and the watchdogs its policy and topology.
pub mod bind;
mod deploy;
pub mod faults;
pub mod json_file;
pub mod manifest;
pub mod names;
mod nats_conf;
mod natsdr_conf;
pub mod netd;
pub mod pacing;
pub mod process;
mod rng;
pub mod source;
pub mod wan;
pub mod watchdogs;

pub use deploy::{
    Lab, LabError, LabOptions, LabStatus, NODES_PER_REGION, PathStatus, ProcessStatus,
    find_compat_nats_server, find_lab_exe, find_nats_server, find_natsdr, update_fault,
};
pub use manifest::{CertFiles, LabManifest, LabTls};
pub use names::{LabRegion, LabTarget, NetPath, Site};
pub use natsdr_conf::GENERATED_PREFIX;
pub use rng::SplitMix64;
pub use source::{LabSource, SourceError, SourceRegion};
pub use wan::WanProfile;
