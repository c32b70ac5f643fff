//! `PositionStore`: the tracked positions, kept in the region they would be recreated in, so
//! they survive the loss of the other region and a restart of any watchdog.
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::{Map, Value, json};

use super::error::ConsumersError;
use super::position::Position;
use crate::model::Region;
use crate::nats::{JsApi, JsError, StoredMessage, StreamConfig, codes};

/// The natsdr-owned stream holding the positions, one per region (JetStream domains keep the
/// two apart).
pub const STORE_STREAM: &str = "natsdr-consumers";

/// Stored positions read at once when loading.
const LOAD_CONCURRENCY: usize = 16;

/// One message per consumer on `natsdr.consumers.<region>.<stream>.<consumer>`, the stream
/// keeping only the last per subject. The region is in the subject because ordinary subjects
/// cross the leafnode: the other region's store must never take these writes too.
#[derive(Debug, Clone)]
pub struct PositionStore {
    js: JsApi,
    region: Region,
    replicas: u8,
}

#[derive(Deserialize)]
struct PubAck {
    #[serde(default)]
    seq: u64,
}

#[derive(Deserialize)]
struct SubjectsInfo {
    #[serde(default)]
    state: SubjectsState,
}

#[derive(Default, Deserialize)]
struct SubjectsState {
    #[serde(default)]
    subjects: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
struct MsgGetReply {
    message: StoredMessage,
}

impl PositionStore {
    /// The store in `region`, reached over `js` (that region's application account), created
    /// with `replicas` replicas when missing.
    pub fn new(js: JsApi, region: Region, replicas: u8) -> Self {
        Self {
            js,
            region,
            replicas,
        }
    }

    fn prefix(&self) -> String {
        format!("natsdr.consumers.{}", self.region)
    }

    fn subject(&self, stream: &str, consumer: &str) -> String {
        format!("{}.{stream}.{consumer}", self.prefix())
    }

    /// Calls the JetStream API's `op` (`STREAM.INFO`...) on the store's stream.
    async fn on_store<T: DeserializeOwned>(&self, op: &str, body: Value) -> Result<T, JsError> {
        self.js.call(&format!("{op}.{STORE_STREAM}"), body).await
    }

    fn api(&self, what: impl Into<String>) -> impl FnOnce(JsError) -> ConsumersError {
        let (region, what) = (self.region.clone(), what.into());
        move |source| ConsumersError::Api {
            region,
            what,
            source: Box::new(source),
        }
    }

    /// The store's stream config.
    fn config(&self) -> StreamConfig {
        let cfg = json!({
            "name": STORE_STREAM,
            "subjects": [format!("{}.>", self.prefix())],
            "storage": "file",
            "retention": "limits",
            "discard": "old",
            "max_msgs_per_subject": 1,
            "num_replicas": self.replicas,
        });
        StreamConfig::from_map(cfg.as_object().cloned().unwrap_or_default())
    }

    /// Creates the store's stream if it is missing (two watchdogs racing both succeed).
    /// Returns whether it was missing, i.e. holds nothing.
    pub async fn ensure(&self) -> Result<bool, ConsumersError> {
        if self
            .js
            .find_stream(STORE_STREAM)
            .await
            .map_err(self.api(STORE_STREAM))?
            .is_some()
        {
            return Ok(false);
        }
        match self.js.stream_create(&self.config()).await {
            Ok(_) => {
                tracing::info!(region = %self.region, stream = STORE_STREAM, "consumer position store created");
                Ok(true)
            }
            Err(e) if e.err_code() == Some(codes::STREAM_NAME_IN_USE) => Ok(false),
            Err(e) => Err(self.api(STORE_STREAM)(e)),
        }
    }

    /// Stores `p`, replacing the consumer's previous position.
    pub async fn put(&self, p: &Position) -> Result<(), ConsumersError> {
        let subject = self.subject(&p.stream, &p.consumer);
        let body = serde_json::to_vec(p).unwrap_or_default();
        let reply = self
            .js
            .request(subject.clone(), body.into(), self.js.timeout())
            .await
            .map_err(self.api(subject.clone()))?;
        let ack: PubAck = crate::nats::js_api::decode_reply(subject.clone(), &reply.payload)
            .map_err(self.api(subject))?;
        tracing::trace!(seq = ack.seq, "position stored");
        Ok(())
    }

    /// Forgets a consumer (deleted on the writable side: a promotion must not bring it back).
    pub async fn remove(&self, stream: &str, consumer: &str) -> Result<(), ConsumersError> {
        let subject = self.subject(stream, consumer);
        let _: Value = self
            .on_store("STREAM.PURGE", json!({ "filter": subject }))
            .await
            .map_err(self.api(subject))?;
        Ok(())
    }

    /// The stored positions of `stream`'s consumers, or of every stream's when None. An absent
    /// store holds none.
    pub async fn load(&self, stream: Option<&str>) -> Result<Vec<Position>, ConsumersError> {
        let filter = match stream {
            Some(s) => format!("{}.{s}.*", self.prefix()),
            None => format!("{}.>", self.prefix()),
        };
        let info: Result<SubjectsInfo, JsError> = self
            .on_store("STREAM.INFO", json!({ "subjects_filter": filter }))
            .await;
        let subjects: Vec<String> = match info {
            Ok(i) => i
                .state
                .subjects
                .unwrap_or_default()
                .into_iter()
                .map(|(k, _)| k)
                .collect(),
            Err(e) if e.is_stream_not_found() => return Ok(Vec::new()),
            Err(e) => return Err(self.api(STORE_STREAM)(e)),
        };
        futures::stream::iter(subjects)
            .map(|subject| self.get(subject))
            .buffer_unordered(LOAD_CONCURRENCY)
            .try_filter_map(|p| async move { Ok(p) })
            .try_collect()
            .await
    }

    async fn get(&self, subject: String) -> Result<Option<Position>, ConsumersError> {
        let reply: Result<MsgGetReply, JsError> = self
            .on_store("STREAM.MSG.GET", json!({ "last_by_subj": subject }))
            .await;
        let msg = match reply {
            Ok(r) => r.message,
            // Purged between the listing and this read.
            Err(e) if e.err_code() == Some(codes::NO_MESSAGE_FOUND) => return Ok(None),
            Err(e) => return Err(self.api(subject)(e)),
        };
        let data = msg
            .data
            .as_deref()
            .and_then(|d| STANDARD.decode(d).ok())
            .unwrap_or_default();
        serde_json::from_slice(&data)
            .map(Some)
            .map_err(|source| ConsumersError::Decode {
                region: self.region.clone(),
                subject,
                source,
            })
    }
}
