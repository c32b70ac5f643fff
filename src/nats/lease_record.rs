//! The primary-region watchdog's lease record, kept in its own region so that it outlives the
//! process: a KV-style stream `KV_natsdr_lease` (one message per region key) that never leaves
//! the region (`$KV.>` does not cross a leafnode between JetStream domains).
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::js_api::JsApi;
use super::js_error::JsError;
use crate::model::Region;

/// The stream holding lease records.
const STREAM: &str = "KV_natsdr_lease";
/// Its subjects' prefix (a KV bucket's, so `nats kv` tools read it too).
const PREFIX: &str = "$KV.natsdr_lease";

/// What a primary-region watchdog records after each vouch, and once more when it shuts down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecord {
    /// Unix time (ms) at which a majority last vouched for the region.
    pub vouched_unix_ms: i64,
    /// Its writer stopped guarding the region (graceful shutdown): the lease binds nobody.
    pub released: bool,
}

/// Why the lease record could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LeaseRecordError {
    /// The JetStream API refused or timed out.
    #[error("lease record: {0}")]
    Api(#[source] JsError),
    /// The publish was not acknowledged.
    #[error("lease record not stored: {0}")]
    Publish(String),
    /// The stored record is not one natsdr wrote.
    #[error("lease record unreadable: {0}")]
    Decode(#[source] serde_json::Error),
    /// The server's reply did not carry the record as base64.
    #[error("lease record not base64: {0}")]
    Corrupt(String),
}

/// The lease record of one region, through that region's JetStream API.
#[derive(Debug, Clone)]
pub struct LeaseRecords {
    js: JsApi,
    region: Region,
    replicas: u8,
}

impl LeaseRecords {
    /// The record of `region`, stored with `replicas` replicas (at most 3).
    pub fn new(js: JsApi, region: Region, replicas: u8) -> Self {
        Self {
            js,
            region,
            replicas: replicas.clamp(1, 3),
        }
    }

    fn subject(&self) -> String {
        format!("{PREFIX}.{}", self.region)
    }

    /// Creates the stream if it does not exist yet (idempotent).
    pub async fn ensure(&self) -> Result<(), LeaseRecordError> {
        if self
            .js
            .find_stream(STREAM)
            .await
            .map_err(LeaseRecordError::Api)?
            .is_some()
        {
            return Ok(());
        }
        let config = json!({
            "name": STREAM,
            "subjects": [format!("{PREFIX}.>")],
            "max_msgs_per_subject": 1,
            "storage": "file",
            "num_replicas": self.replicas,
            "allow_direct": true,
            "discard": "new",
        });
        let created: Result<serde_json::Value, JsError> = self
            .js
            .call(&format!("STREAM.CREATE.{STREAM}"), config)
            .await;
        match created {
            Ok(_) => Ok(()),
            // Another replica created it meanwhile.
            Err(e) if e.err_code() == Some(super::codes::STREAM_NAME_IN_USE) => Ok(()),
            Err(e) => Err(LeaseRecordError::Api(e)),
        }
    }

    /// The record, `None` if none was ever written.
    pub async fn read(&self) -> Result<Option<LeaseRecord>, LeaseRecordError> {
        #[derive(Deserialize)]
        struct Reply {
            message: super::StoredMessage,
        }
        let reply: Result<Reply, JsError> = self
            .js
            .call(
                &format!("STREAM.MSG.GET.{STREAM}"),
                json!({ "last_by_subj": self.subject() }),
            )
            .await;
        let stored = match reply {
            Ok(r) => r.message,
            Err(e) if e.err_code() == Some(super::codes::NO_MESSAGE_FOUND) => return Ok(None),
            Err(e) => return Err(LeaseRecordError::Api(e)),
        };
        use base64::Engine as _;
        let data = base64::engine::general_purpose::STANDARD
            .decode(stored.data.unwrap_or_default())
            .map_err(|e| LeaseRecordError::Corrupt(e.to_string()))?;
        serde_json::from_slice(&data)
            .map(Some)
            .map_err(LeaseRecordError::Decode)
    }

    /// Stores `record`, waiting up to `within` for the stream's acknowledgement.
    pub async fn write(
        &self,
        record: LeaseRecord,
        within: Duration,
    ) -> Result<(), LeaseRecordError> {
        let payload =
            serde_json::to_vec(&record).map_err(|e| LeaseRecordError::Publish(e.to_string()))?;
        let reply = tokio::time::timeout(
            within,
            self.js.client().request(self.subject(), payload.into()),
        )
        .await
        .map_err(|_| LeaseRecordError::Publish(format!("no acknowledgement within {within:?}")))?
        .map_err(|e| LeaseRecordError::Publish(e.to_string()))?;
        let ack: serde_json::Value = serde_json::from_slice(&reply.payload)
            .map_err(|e| LeaseRecordError::Publish(e.to_string()))?;
        match ack.get("error") {
            Some(e) => Err(LeaseRecordError::Publish(e.to_string())),
            None => Ok(()),
        }
    }
}
