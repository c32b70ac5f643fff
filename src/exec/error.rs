//! Why an executor could not perform an action on a stream, and whether sending it again helps.
use super::edit::Refusal;
use crate::model::{Region, StreamName};
use crate::nats::{JsError, codes};
use crate::topology::TopologyError;

/// A failed fence, unfence or promotion of one stream (or of a whole action, before any stream
/// was touched).
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
    /// The server cannot promote a mirror in place (nats-server before 2.12 answers 10055), and
    /// natsdr does not implement the snapshot/restore path: an operator must promote by hand.
    #[error(
        "{region}/{stream}: nats-server {version} cannot promote a mirror in place (needs 2.12+); \
         promote by hand (snapshot, delete, restore without the mirror block)"
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
    /// A JetStream API call failed.
    #[error("{region}/{stream}: JetStream API call failed")]
    Api {
        /// The region.
        region: Region,
        /// The stream.
        stream: StreamName,
        /// The call's error (boxed, as above).
        #[source]
        source: Box<JsError>,
    },
}

impl ExecError {
    /// Whether sending the same action again may succeed: only transient API failures.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Api { source, .. } => source.is_retryable(),
            Self::UnknownRegion { .. }
            | Self::Gdpr { .. }
            | Self::NotConfiguredMirror { .. }
            | Self::Topology { .. }
            | Self::Missing { .. }
            | Self::Refused { .. }
            | Self::InPlacePromotion { .. } => false,
        }
    }

    /// Whether the failure looks like a region without JetStream quorum (a timeout, or 10008
    /// "JetStream system temporarily unavailable"), worth checking before calling it a failure.
    pub fn looks_like_no_quorum(&self) -> bool {
        match self {
            Self::Api { source, .. } => {
                matches!(**source, JsError::Timeout { .. })
                    || source.err_code() == Some(codes::CLUSTER_NOT_AVAILABLE)
            }
            Self::UnknownRegion { .. }
            | Self::Gdpr { .. }
            | Self::NotConfiguredMirror { .. }
            | Self::Topology { .. }
            | Self::Missing { .. }
            | Self::Refused { .. }
            | Self::InPlacePromotion { .. } => false,
        }
    }
}
