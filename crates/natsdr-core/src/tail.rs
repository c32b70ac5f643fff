//! A failback's divergent tail, per stream: reported by the capture's outcome and kept in the
//! state for the reason that ends the failback.
use serde::{Deserialize, Serialize};

use crate::model::StreamName;

/// One stream's divergent tail: the messages the old primary accepted after the last sequence
/// its twin's mirror had received when it was promoted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TailCount {
    /// The old primary's stream.
    pub stream: StreamName,
    /// The last sequence both regions share (the mirror's last sequence at promotion).
    pub common_seq: u64,
    /// Messages after `common_seq` exported to the divergent record.
    pub captured: u64,
    /// Of those, re-published into the current primary.
    pub recovered: u64,
    /// Of those, already in the current primary (same message id): not published again.
    pub duplicates: u64,
    /// Of those, only kept in the divergent record for an operator (no message id to
    /// deduplicate by, so re-publishing could store a message twice).
    pub kept: u64,
}
