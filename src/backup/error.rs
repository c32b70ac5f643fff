//! Why a backup, a verification, a restore or a drill failed; each names what it was about.
use super::manifest::ManifestError;
use super::target::TargetError;
use crate::nats::{ConnectError, JsError, TransferError};

/// A failed backup operation.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The target refused or could not be reached.
    #[error("backup target")]
    Target(#[source] TargetError),
    /// A set's manifest cannot be used.
    #[error("set {set}: manifest")]
    Manifest {
        /// The set.
        set: String,
        /// Why.
        #[source]
        source: ManifestError,
    },
    /// The target holds no complete set (none with a manifest).
    #[error("{target}: no complete backup set")]
    NoSet {
        /// The target.
        target: String,
    },
    /// The set asked for is not on the target.
    #[error("{target}: no set {set}")]
    SetNotFound {
        /// The target.
        target: String,
        /// The set asked for.
        set: String,
    },
    /// The stream asked for is not in the set.
    #[error("set {set} has no stream {stream}")]
    StreamNotInSet {
        /// The set.
        set: String,
        /// The stream asked for.
        stream: String,
    },
    /// A region (or the scratch server) could not be reached.
    #[error("cannot connect to {what}")]
    Connect {
        /// The region or URL.
        what: String,
        /// Why.
        #[source]
        source: ConnectError,
    },
    /// A JetStream call about `stream` failed.
    #[error("{stream}: JetStream call failed")]
    Api {
        /// The stream.
        stream: String,
        /// Why.
        #[source]
        source: JsError,
    },
    /// A snapshot or restore transfer of `stream` failed.
    #[error("{stream}: transfer failed")]
    Transfer {
        /// The stream.
        stream: String,
        /// Why.
        #[source]
        source: TransferError,
    },
    /// What the server sent and what reached the target differ (bytes or digest).
    #[error(
        "{object}: the target holds {written} bytes (sha256 {written_sha}) but the server sent {sent} (sha256 {sent_sha})"
    )]
    Torn {
        /// The object.
        object: String,
        /// Bytes sent by the server.
        sent: u64,
        /// Their digest.
        sent_sha: String,
        /// Bytes the target took.
        written: u64,
        /// Their digest.
        written_sha: String,
    },
    /// An object does not match its manifest: corrupted or replaced.
    #[error(
        "{object}: corrupted: manifest says {expected_bytes} bytes sha256 {expected}, the target holds {found_bytes} bytes sha256 {found}"
    )]
    Corrupt {
        /// The object's key.
        object: String,
        /// The manifest's digest.
        expected: String,
        /// The manifest's size.
        expected_bytes: u64,
        /// The object's digest.
        found: String,
        /// The object's size.
        found_bytes: u64,
    },
    /// A run failed after saving some streams, and removing their objects failed too: the set
    /// stays on the target without a manifest (listed as incomplete) until a later run's
    /// retention removes it.
    #[error(
        "set {set} failed and its {saved} saved object(s) could not be removed ({cleanup}): it is left on the target, listed as incomplete, until the next successful run removes it"
    )]
    LeftIncomplete {
        /// The set.
        set: String,
        /// Streams saved before the failure.
        saved: usize,
        /// Why the removal failed.
        cleanup: String,
        /// Why the run failed.
        #[source]
        source: Box<BackupError>,
    },
    /// A restore would overwrite streams that exist; nothing was restored.
    #[error("refusing to overwrite existing stream(s) {}: nothing was restored (give --replace to delete and restore them)", .streams.join(", "))]
    Exists {
        /// The streams that exist.
        streams: Vec<String>,
    },
    /// A restore stopped part-way: some streams are restored, one failed, the rest were not tried.
    #[error("restore stopped at {failed}: restored [{}], not restored [{}]", .restored.join(", "), .not_restored.join(", "))]
    Partial {
        /// Streams restored before the failure.
        restored: Vec<String>,
        /// The stream that failed.
        failed: String,
        /// Streams not tried (the failed one included).
        not_restored: Vec<String>,
        /// Why it failed.
        #[source]
        source: Box<BackupError>,
    },
}

impl From<TargetError> for BackupError {
    fn from(e: TargetError) -> Self {
        Self::Target(e)
    }
}
