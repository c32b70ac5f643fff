//! Executors: the imperative edge that performs the core's actions on real systems. Each is
//! idempotent and epoch-guarded, so a retry or a resume after a crash is safe; each reports its
//! outcome as the core's result type, which the driver feeds back as an event.
use std::future::Future;

mod carry;
pub mod edit;
pub mod error;
pub mod failback;
pub mod nats_executor;
pub mod restore;
pub mod snapshot_store;
pub mod tail;
mod takeover;

pub use edit::{Edit, META_ORIGIN, META_SUBJECTS, ROLE_SOURCE, Refusal, Takeover};
pub use error::ExecError;
pub use failback::Reseeder;
pub use nats_executor::NatsExecutor;
pub use restore::{PromotionPath, Restore};
pub use snapshot_store::{SnapshotMeta, SnapshotStore, StoreError, Stored};

use crate::core::{FenceResult, StepResult};
use crate::model::{Epoch, Region, StreamName};

/// Makes a region's streams refuse or accept publishes again.
pub trait Fencer: Send + Sync + 'static {
    /// Fences `streams` in `region` at `epoch`: subjects move to `fenced.<subject>` (publishers get
    /// no responders) and metadata records `natsdr.epoch` / `natsdr.role = fenced` and the original
    /// subjects. Refuses (Failed, not retryable) a stream stamped with a newer epoch.
    fn fence(
        &self,
        region: &Region,
        epoch: Epoch,
        streams: &[StreamName],
    ) -> impl Future<Output = FenceResult> + Send;

    /// Restores the subjects a fence saved, stamping `epoch`.
    fn unfence(
        &self,
        region: &Region,
        epoch: Epoch,
        streams: &[StreamName],
    ) -> impl Future<Output = StepResult> + Send;
}

/// Turns a region's mirrors into writable streams.
pub trait Promoter: Send + Sync + 'static {
    /// Promotes `streams` (mirrors in `region`) at `epoch`: the mirror is removed and the
    /// source's subjects added (in place on 2.12+, by snapshot, delete and restore before),
    /// sequences, history and consumers kept; metadata records `natsdr.epoch`,
    /// `natsdr.role = promoted` and `natsdr.origin = <source>`. Already promoted at this epoch
    /// or newer: Done.
    fn promote(
        &self,
        region: &Region,
        epoch: Epoch,
        streams: &[StreamName],
    ) -> impl Future<Output = StepResult> + Send;
}
