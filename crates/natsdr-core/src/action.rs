//! What `decide` asks the executors to do. Plain data; every action is idempotent and epoch-guarded.
use serde::{Deserialize, Serialize};

use super::ownership::Ownership;
use super::state::PhaseName;
use crate::model::{Epoch, Region, StreamName};

/// One effect for the driver to perform. Outcomes come back as `Event`s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Compare-and-swap the arbiter's record from `expect` to `claim`.
    ClaimEpoch {
        /// The record we believe is current.
        expect: Ownership,
        /// The record we want (`epoch` one higher).
        claim: Ownership,
    },
    /// Make `streams` in `region` refuse publishes and stamp them with `epoch`.
    Fence {
        /// The region to fence.
        region: Region,
        /// The epoch to stamp; an executor refuses to act for an epoch older than the stamp.
        epoch: Epoch,
        /// Exactly the streams to fence (never a protected one).
        streams: Vec<StreamName>,
    },
    /// Undo a fence (a rolled-back switchover, or an acknowledged self-fence).
    Unfence {
        /// The region to unfence.
        region: Region,
        /// The epoch to stamp.
        epoch: Epoch,
        /// Exactly the streams to unfence (never a protected one).
        streams: Vec<StreamName>,
    },
    /// Turn `streams` (mirrors in `region`) into writable streams stamped with `epoch` and with
    /// `natsdr.origin` naming their source.
    Promote {
        /// The region whose mirrors to promote.
        region: Region,
        /// The epoch to stamp.
        epoch: Epoch,
        /// Exactly the mirrors to promote (never a protected one).
        streams: Vec<StreamName>,
    },
    /// Compare-and-swap the client-facing record from `from`'s entry point to `to`'s.
    SwapDns {
        /// The region the record should point at now.
        from: Region,
        /// The region it should point at afterwards.
        to: Region,
        /// The epoch this swap belongs to.
        epoch: Epoch,
    },
    /// Failback: for each of `streams` (in `region`, the old primary), export the messages
    /// after the last sequence its twin in `into` shares to a durable record in `into`, and
    /// re-publish those with a message id into the twin unless already there. Changes nothing
    /// in `region`. Idempotent: a repeat finds the record and publishes nothing twice.
    CaptureTail {
        /// The old primary, holding the divergent tail.
        region: Region,
        /// The current primary, receiving the record and the re-published messages.
        into: Region,
        /// The current primary's epoch (names the record; refused on a newer stamp).
        epoch: Epoch,
        /// Exactly the streams whose tail to capture (never a protected one).
        streams: Vec<StreamName>,
    },
    /// Rebuild `streams` in `region` as mirrors of their configured twins in `source`. Refuses
    /// (not retryable) to drop a stream holding messages its twin lacks that no tail capture
    /// recorded: never lose data quietly.
    Reseed {
        /// The region whose streams become mirrors.
        region: Region,
        /// The region they mirror.
        source: Region,
        /// The epoch to stamp; refused on a newer stamp.
        epoch: Epoch,
        /// Exactly the streams to rebuild (never a protected one).
        streams: Vec<StreamName>,
    },
    /// Tell people (PagerDuty, logs). Sent asynchronously; never gates anything.
    Notify {
        /// The phase change.
        from: PhaseName,
        /// The phase it changed to.
        to: PhaseName,
        /// How loud.
        severity: Severity,
        /// The reason, as text.
        summary: String,
    },
}

/// How urgent a notification is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Someone should look.
    Warning,
    /// Someone must act, or natsdr is acting on production right now.
    Critical,
}

impl Action {
    /// Whether `self` and `other` do the same work: the same kind of action on the same regions
    /// for the same epoch. The stream lists may differ (the catalog a step's list is drawn from
    /// can change while the step runs).
    pub fn same_work(&self, other: &Action) -> bool {
        let strip = |a: &Action| {
            let mut a = a.clone();
            match &mut a {
                Action::Fence { streams, .. }
                | Action::Unfence { streams, .. }
                | Action::Promote { streams, .. }
                | Action::CaptureTail { streams, .. }
                | Action::Reseed { streams, .. } => streams.clear(),
                Action::ClaimEpoch { .. } | Action::SwapDns { .. } | Action::Notify { .. } => {}
            }
            a
        };
        strip(self) == strip(other)
    }

    /// The streams this action touches (empty for claims, DNS and notifications).
    pub fn streams(&self) -> &[StreamName] {
        match self {
            Action::Fence { streams, .. }
            | Action::Unfence { streams, .. }
            | Action::Promote { streams, .. }
            | Action::CaptureTail { streams, .. }
            | Action::Reseed { streams, .. } => streams,
            Action::ClaimEpoch { .. } | Action::SwapDns { .. } | Action::Notify { .. } => &[],
        }
    }
}
