//! Verified backups: sets of JetStream snapshots streamed to S3 (or a directory) with a manifest
//! of counts, consumers and digests; verification of every object, restores that refuse to
//! overwrite or to stop silently half-way, and drills that restore into a scratch server and
//! compare. The recovery when both regions are gone.
pub mod catalog;
pub mod drill;
pub mod error;
pub mod manifest;
pub mod restore;
pub mod schedule;
pub mod take;
pub mod target;
pub mod verify;

pub use catalog::{Catalog, Listed};
pub use drill::{Drill, DrillCheck};
pub use error::BackupError;
pub use manifest::{FORMAT, Manifest, ManifestError, StreamEntry};
pub use restore::{Restorer, restore_config};
pub use schedule::{BackupMetrics, Scheduler};
pub use take::{Taker, set_id};
pub use target::{Target, TargetError, Written};
pub use verify::{ObjectCheck, Verifier};
