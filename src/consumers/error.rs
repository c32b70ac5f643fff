//! Why reading, storing or recreating consumers failed.
use crate::model::Region;
use crate::nats::JsError;

/// A failed consumer operation, naming where.
#[derive(Debug, thiserror::Error)]
pub enum ConsumersError {
    /// No connection is held to the region.
    #[error("{region}: no connection to this region")]
    UnknownRegion {
        /// The region.
        region: Region,
    },
    /// A JetStream API call failed.
    #[error("{region}/{what}")]
    Api {
        /// The region.
        region: Region,
        /// The stream, consumer or store involved.
        what: String,
        /// The server's or the client's error.
        #[source]
        source: Box<JsError>,
    },
    /// A stored position does not decode (written by an incompatible build, or damaged).
    #[error("{region}/{subject}: stored position does not decode")]
    Decode {
        /// The region holding the store.
        region: Region,
        /// Its subject in the store.
        subject: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The promoted stream refused the consumer's config (the server's error is the source).
    #[error("{region}/{stream}: consumer {consumer} refused")]
    Refused {
        /// The region.
        region: Region,
        /// The promoted stream.
        stream: String,
        /// The consumer.
        consumer: String,
        /// The server's error.
        #[source]
        source: Box<JsError>,
    },
    /// A bounded step ran out of time.
    #[error("{region}/{what}: gave up after {after:?}")]
    TimedOut {
        /// The region.
        region: Region,
        /// What was being done.
        what: String,
        /// The bound.
        after: std::time::Duration,
    },
}
