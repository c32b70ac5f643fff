//! Why an executor could not perform an action on a stream, and whether sending it again helps.
use super::edit::Refusal;
use super::snapshot_store::StoreError;
use crate::model::{Region, StreamName};
use crate::nats::{JsError, TransferError, codes};
use crate::topology::TopologyError;

/// A failed fence, unfence, promotion or failback step (tail capture, reseed) of one stream, or
/// of a whole action before any stream was touched.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The action names a region natsdr holds no connections to.
    #[error("{region}: no connection to this region")]
    UnknownRegion {
        /// The region.
        region: Region,
    },
    /// The config marks the stream GDPR-only: no failover may touch it, whatever the core says.
    #[error("{region}/{stream}: GDPR-only stream, natsdr never touches it")]
    Gdpr {
        /// The region.
        region: Region,
        /// The stream.
        stream: StreamName,
    },
    /// Promotion asked for a stream the config does not list as a mirror in this region, so its
    /// source's subjects are unknown.
    #[error("{region}/{stream}: not a configured mirror in this region")]
    NotConfiguredMirror {
        /// The region.
        region: Region,
        /// The stream.
        stream: StreamName,
    },
    /// The desired topology could not be derived from the config.
    #[error("cannot derive the topology from the config")]
    Topology {
        /// Why.
        #[source]
        source: TopologyError,
    },
    /// The stream does not exist in the region.
    #[error("{region}/{stream}: no such stream")]
    Missing {
        /// The region.
        region: Region,
        /// The stream.
        stream: StreamName,
    },
    /// The stream's state forbids the edit (a newer epoch, or not a mirror).
    #[error("{region}/{stream}: refused")]
    Refused {
        /// The region.
        region: Region,
        /// The stream.
        stream: StreamName,
        /// Why.
        #[source]
        source: Refusal,
    },
    /// The server refused an in-place promotion (10055) although its API level says 2.12+
    /// (a cluster mid-upgrade, with an older stream leader): retrying cannot help.
    #[error(
        "{region}/{stream}: nats-server {version} refused to promote the mirror in place \
         (a cluster mid-upgrade?)"
    )]
    InPlacePromotion {
        /// The region.
        region: Region,
        /// The stream.
        stream: StreamName,
        /// The server version as the region reports it (`unknown` if no server said).
        version: String,
        /// The server's refusal (boxed: it is large, and errors travel in every `Result`).
        #[source]
        source: Box<JsError>,
    },
    /// A snapshot or restore transfer failed.
    #[error("{region}/{stream}: snapshot/restore transfer failed")]
    Transfer {
        /// The region.
        region: Region,
        /// The stream.
        stream: StreamName,
        /// Why (boxed, as above).
        #[source]
        source: Box<TransferError>,
    },
    /// The local snapshot store failed (disk full, permissions, a damaged snapshot).
    #[error("{region}/{stream}: local snapshot store failed")]
    Store {
        /// The region.
        region: Region,
        /// The stream.
        stream: StreamName,
        /// Why (boxed, as above).
        #[source]
        source: Box<StoreError>,
    },
    /// The mirror kept moving while it was snapshotted, so no snapshot holds all it has: it is
    /// not deleted. Its source is still feeding it; a later retry finds it settled.
    #[error("{region}/{stream}: the mirror moved during its snapshot (held {held}, now {now})")]
    SnapshotMoved {
        /// The mirror.
        region: Region,
        /// The stream.
        stream: StreamName,
        /// The snapshot's last sequence.
        held: u64,
        /// The mirror's last sequence after it.
        now: u64,
    },
    /// A restored stream differs from its snapshot: an operator must look (the snapshot stays
    /// on disk).
    #[error("{region}/{stream}: restore does not match the snapshot: {what}")]
    RestoreMismatch {
        /// The region.
        region: Region,
        /// The stream.
        stream: StreamName,
        /// What differs.
        what: String,
    },
    /// The region's API level (which decides how to promote) could not be read.
    #[error("{region}: cannot read the JetStream API level")]
    ApiLevel {
        /// The region.
        region: Region,
        /// The call's error (boxed, as below).
        #[source]
        source: Box<JsError>,
    },
    /// A JetStream API call failed.
    #[error("{region}/{stream}: JetStream API call failed")]
    Api {
        /// The region.
        region: Region,
        /// The stream (a configured one, or a failback's record stream).
        stream: String,
        /// The call's error (boxed, as above).
        #[source]
        source: Box<JsError>,
    },
    /// Failback: the config has no twin for the stream in the other region.
    #[error("{region}/{stream}: no configured twin in {other}")]
    NoTwin {
        /// The region.
        region: Region,
        /// The stream.
        stream: StreamName,
        /// The other region.
        other: Region,
    },
    /// Failback: re-publishing a tail message failed.
    #[error("{region}: publishing to {subject} failed: {error}")]
    Publish {
        /// The region.
        region: Region,
        /// The subject.
        subject: String,
        /// What the server or the client said.
        error: String,
    },
    /// Failback: the twin does not exist, so there is nowhere to put the tail, or nothing to
    /// mirror.
    #[error("{region}/{stream}: twin {twin} is missing")]
    MissingTwin {
        /// The region of the stream.
        region: Region,
        /// The stream.
        stream: StreamName,
        /// The twin's name.
        twin: String,
    },
    /// Failback: the stream still takes writes; it must be fenced before it is rebuilt.
    #[error("{region}/{stream}: still takes writes; fence it first")]
    StillWritable {
        /// The region.
        region: Region,
        /// The stream.
        stream: StreamName,
    },
    /// Failback: the stream holds messages its twin lacks and no complete record of them exists.
    #[error(
        "{region}/{stream}: {messages} messages after seq {common} are not captured; capture the tail first"
    )]
    Uncaptured {
        /// The region.
        region: Region,
        /// The stream.
        stream: StreamName,
        /// The last common sequence.
        common: u64,
        /// Messages after it.
        messages: u64,
    },
}

impl ExecError {
    /// Makes a failed JetStream call on `stream` in `region` an error.
    pub(super) fn api<'a>(
        region: &'a Region,
        stream: &'a str,
    ) -> impl Fn(JsError) -> Self + Copy + 'a {
        move |source| Self::Api {
            region: region.clone(),
            stream: stream.to_owned(),
            source: Box::new(source),
        }
    }

    /// Makes an edit that `stream`'s stamp refuses in `region` an error.
    pub(super) fn refused<'a>(
        region: &'a Region,
        stream: &'a StreamName,
    ) -> impl Fn(Refusal) -> Self + Copy + 'a {
        move |source| Self::Refused {
            region: region.clone(),
            stream: stream.clone(),
            source,
        }
    }

    /// Whether sending the same action again may succeed: only transient API failures.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Api { source, .. } | Self::ApiLevel { source, .. } => source.is_retryable(),
            Self::Transfer { source, .. } => source.is_retryable(),
            Self::SnapshotMoved { .. } | Self::Publish { .. } | Self::MissingTwin { .. } => true,
            Self::UnknownRegion { .. }
            | Self::Store { .. }
            | Self::RestoreMismatch { .. }
            | Self::Gdpr { .. }
            | Self::NotConfiguredMirror { .. }
            | Self::Topology { .. }
            | Self::Missing { .. }
            | Self::Refused { .. }
            | Self::InPlacePromotion { .. }
            | Self::NoTwin { .. }
            | Self::StillWritable { .. }
            | Self::Uncaptured { .. } => false,
        }
    }

    /// Whether the failure looks like a region without JetStream quorum (a timeout, or 10008
    /// "JetStream system temporarily unavailable"), worth checking before calling it a failure.
    pub fn looks_like_no_quorum(&self) -> bool {
        // Only a JetStream call's own failure says anything about the region's quorum.
        let Self::Api { source, .. } = self else {
            return false;
        };
        matches!(**source, JsError::Timeout { .. })
            || source.err_code() == Some(codes::CLUSTER_NOT_AVAILABLE)
    }
}
