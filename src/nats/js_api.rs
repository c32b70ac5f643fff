//! `JsApi`: the JetStream API over raw request/reply JSON, one timeout per call.
use std::time::Duration;

use serde::{Deserialize, de::DeserializeOwned};
use serde_json::{Value, json};

use super::{
    js_error::JsError,
    stream_info::{
        AccountInfo, ProbedStream, StoredMessage, StreamConfig, StreamInfo, null_as_empty,
    },
};

/// A JetStream API client for one account of one region.
///
/// Requests go to `$JS.API.…` (the domain of the server the client is connected to), or to
/// `$JS.<domain>.API.…` when built with [`JsApi::for_domain`]. Stream configs travel as raw JSON
/// ([`StreamConfig`]), so read-modify-write keeps every field.
#[derive(Debug, Clone)]
pub struct JsApi {
    client: async_nats::Client,
    prefix: String,
    timeout: Duration,
}

/// Page of STREAM.LIST / STREAM.NAMES.
#[derive(Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
struct Page<T> {
    #[serde(default)]
    total: usize,
    #[serde(
        default = "Vec::new",
        alias = "consumers",
        deserialize_with = "null_as_empty"
    )]
    streams: Vec<T>,
}

#[derive(Deserialize)]
struct MsgGetReply {
    message: StoredMessage,
}

impl JsApi {
    /// A client for the JetStream domain of the server `client` is connected to.
    pub fn new(client: async_nats::Client, timeout: Duration) -> Self {
        Self {
            client,
            prefix: "$JS.API".to_owned(),
            timeout,
        }
    }

    /// A client for the named JetStream domain, reached through whatever server `client` is
    /// connected to (e.g. across a leafnode).
    pub fn for_domain(client: async_nats::Client, domain: &str, timeout: Duration) -> Self {
        Self {
            client,
            prefix: format!("$JS.{domain}.API"),
            timeout,
        }
    }

    /// The same API with another per-call timeout.
    #[must_use]
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        Self {
            timeout,
            ..self.clone()
        }
    }

    /// The underlying connection (for callers that need plain publish/subscribe too).
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// `$JS.API.INFO`: account usage, domain and API level. Also the cheapest "is JetStream up here" probe.
    pub async fn account_info(&self) -> Result<AccountInfo, JsError> {
        self.call("INFO", Value::Null).await
    }

    /// STREAM.INFO of one stream.
    pub async fn stream_info(&self, stream: &str) -> Result<StreamInfo, JsError> {
        self.call(&format!("STREAM.INFO.{stream}"), Value::Null)
            .await
    }

    /// STREAM.INFO of one stream, or None if it does not exist (10059).
    pub async fn find_stream(&self, stream: &str) -> Result<Option<StreamInfo>, JsError> {
        match self.stream_info(stream).await {
            Ok(info) => Ok(Some(info)),
            Err(e) if e.is_stream_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every stream's info, paged by offset (the server sends up to 256 per page). Each page has
    /// its own timeout, so a large account takes longer but never blocks forever.
    pub async fn stream_list(&self) -> Result<Vec<StreamInfo>, JsError> {
        self.paged("STREAM.LIST").await
    }

    /// Every stream's info as a probe reads it ([`ProbedStream`]: configs with only `name`,
    /// `subjects`, `mirror` and `metadata`; never write one back), paged like
    /// [`Self::stream_list`].
    pub async fn stream_list_probed(&self) -> Result<Vec<StreamInfo>, JsError> {
        let list: Vec<ProbedStream> = self.paged("STREAM.LIST").await?;
        Ok(list.into_iter().map(|p| p.0).collect())
    }

    /// Every stream's name, paged by offset (up to 1024 per page).
    pub async fn stream_names(&self) -> Result<Vec<String>, JsError> {
        self.paged("STREAM.NAMES").await
    }

    /// STREAM.CREATE with this config (its `name` names the stream).
    pub async fn stream_create(&self, config: &StreamConfig) -> Result<StreamInfo, JsError> {
        let subject = format!("STREAM.CREATE.{}", config.name());
        self.call(&subject, Value::Object(config.as_map().clone()))
            .await
    }

    /// STREAM.UPDATE with this full config. NB: the server replaces the whole config: pass a
    /// config read from the server and modified, never a partial one.
    pub async fn stream_update(&self, config: &StreamConfig) -> Result<StreamInfo, JsError> {
        let subject = format!("STREAM.UPDATE.{}", config.name());
        self.call(&subject, Value::Object(config.as_map().clone()))
            .await
    }

    /// STREAM.DELETE. natsdr's topology code never calls this; failback and tests do.
    pub async fn stream_delete(&self, stream: &str) -> Result<(), JsError> {
        let _: Value = self
            .call(&format!("STREAM.DELETE.{stream}"), Value::Null)
            .await?;
        Ok(())
    }

    /// STREAM.MSG.GET of the message at `seq`; None if there is none there (10037: deleted,
    /// expired or not yet stored).
    pub async fn stream_msg_get(
        &self,
        stream: &str,
        seq: u64,
    ) -> Result<Option<StoredMessage>, JsError> {
        let reply: Result<MsgGetReply, JsError> = self
            .call(&format!("STREAM.MSG.GET.{stream}"), json!({ "seq": seq }))
            .await;
        match reply {
            Ok(r) => Ok(Some(r.message)),
            Err(e) if e.err_code() == Some(super::codes::NO_MESSAGE_FOUND) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The names of a stream's consumers, paged by offset.
    pub async fn consumer_names(&self, stream: &str) -> Result<Vec<String>, JsError> {
        self.paged(&format!("CONSUMER.NAMES.{stream}")).await
    }

    /// Every consumer's info on a stream, paged by offset (CONSUMER.LIST: up to 256 per page,
    /// one request per page, not one per consumer).
    pub async fn consumer_list<T: DeserializeOwned>(
        &self,
        stream: &str,
    ) -> Result<Vec<T>, JsError> {
        self.paged(&format!("CONSUMER.LIST.{stream}")).await
    }

    /// Pauses a consumer until `until` (None resumes it). Fences consumers, not publishers.
    /// 2.11+ only (API level 1+): NB 2.10 never answers, so this times out there; check
    /// [`AccountInfo::api_level`] first. Returns whether the consumer is now paused.
    pub async fn consumer_pause(
        &self,
        stream: &str,
        consumer: &str,
        until: Option<time::OffsetDateTime>,
    ) -> Result<bool, JsError> {
        #[derive(Deserialize)]
        struct PauseReply {
            #[serde(default)]
            paused: bool,
        }
        let body = match until {
            Some(t) => {
                json!({ "pause_until": t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default() })
            }
            None => Value::Null,
        };
        let reply: PauseReply = self
            .call(&format!("CONSUMER.PAUSE.{stream}.{consumer}"), body)
            .await?;
        Ok(reply.paused)
    }

    /// Any JetStream API call: `suffix` goes after the prefix (`STREAM.INFO.S`), `body` is sent as
    /// JSON (Null = empty payload). API errors in the reply become [`JsError::Api`].
    pub async fn call<T: DeserializeOwned>(&self, suffix: &str, body: Value) -> Result<T, JsError> {
        let subject = format!("{}.{suffix}", self.prefix);
        let payload = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        let reply = self
            .request(subject.clone(), payload.into(), self.timeout)
            .await?;
        decode_reply(subject, &reply.payload)
    }

    /// One request to any subject (not only the API's), waiting at most `timeout`, with the
    /// client's failures mapped to [`JsError`].
    pub(crate) async fn request(
        &self,
        subject: String,
        payload: bytes::Bytes,
        timeout: Duration,
    ) -> Result<async_nats::Message, JsError> {
        let request = async_nats::Request::new()
            .payload(payload)
            .timeout(Some(timeout));
        self.client
            .send_request(subject.clone(), request)
            .await
            .map_err(|source| match source.kind() {
                async_nats::RequestErrorKind::TimedOut => JsError::Timeout {
                    subject,
                    after: timeout,
                },
                async_nats::RequestErrorKind::NoResponders => JsError::NoResponders { subject },
                _ => JsError::Transport { subject, source },
            })
    }

    /// The API subject for `suffix` (`STREAM.RESTORE.S` -> `$JS.API.STREAM.RESTORE.S`).
    pub(crate) fn subject(&self, suffix: &str) -> String {
        format!("{}.{suffix}", self.prefix)
    }

    /// The per-call timeout.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Every item of a paged listing. The first page says how many there are and how many a
    /// page holds; the other pages are then asked for all at once, so a listing costs two round
    /// trips whatever its size (page after page, 1,000 streams took four round trips in series,
    /// 5,000 twenty: past a probe round on a WAN).
    async fn paged<T: DeserializeOwned>(&self, what: &str) -> Result<Vec<T>, JsError> {
        let first: Page<T> = self.call(what, json!({ "offset": 0 })).await?;
        let per_page = first.streams.len();
        let mut total = first.total;
        let mut all = first.streams;
        if per_page > 0 && all.len() < total {
            let rest = futures::future::try_join_all(
                rest_offsets(per_page, total)
                    .map(|offset| self.call::<Page<T>>(what, json!({ "offset": offset }))),
            )
            .await?;
            for page in rest {
                total = total.max(page.total);
                all.extend(page.streams);
            }
        }
        // NB: items created or deleted between pages shift offsets; an account that grew is
        // walked on page by page, and an empty page ends the walk even if `total` moved, so a
        // shrinking account cannot loop forever.
        while all.len() < total {
            let page: Page<T> = self.call(what, json!({ "offset": all.len() })).await?;
            let got = page.streams.len();
            all.extend(page.streams);
            total = page.total;
            if got == 0 {
                break;
            }
        }
        Ok(all)
    }
}

/// The offsets of every page after the first of a listing of `total` items, `per_page` a page.
fn rest_offsets(per_page: usize, total: usize) -> impl Iterator<Item = usize> {
    (per_page..total).step_by(per_page.max(1))
}

/// The error of a JetStream API reply, if it is one; every other field is skipped unread.
#[derive(Deserialize)]
struct ReplyError {
    #[serde(default)]
    error: Option<ApiErrorBody>,
}

/// `{"code": .., "err_code": .., "description": ..}`.
#[derive(Deserialize)]
struct ApiErrorBody {
    #[serde(default)]
    code: u64,
    #[serde(default)]
    err_code: u64,
    #[serde(default)]
    description: String,
}

/// A JetStream API reply as `T`; an `{"error": ..}` reply becomes [`JsError::Api`].
///
/// No intermediate tree: a first pass only looks for `error` (passing over everything else without
/// allocating), the second decodes `T` directly. Decoding every reply into a
/// `serde_json::Value` first and converting it cost a watchdog a measurable share of its CPU:
/// each probe round lists every stream of both regions. NB: the first pass runs only when the
/// bytes hold `"error"` at all (an error reply always does): the consumer tracker's listings
/// are large and never errors, and were scanned twice every round.
pub(crate) fn decode_reply<T: DeserializeOwned>(
    subject: String,
    payload: &[u8],
) -> Result<T, JsError> {
    if memchr::memmem::find(payload, b"\"error\"").is_none() {
        return serde_json::from_slice(payload)
            .map_err(|source| JsError::Decode { subject, source });
    }
    let head: ReplyError = serde_json::from_slice(payload).map_err(|source| JsError::Decode {
        subject: subject.clone(),
        source,
    })?;
    if let Some(err) = head.error {
        return Err(JsError::Api {
            subject,
            code: u16::try_from(err.code).unwrap_or(0),
            err_code: u32::try_from(err.err_code).unwrap_or(0),
            description: err.description,
        });
    }
    serde_json::from_slice(payload).map_err(|source| JsError::Decode { subject, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Reply {
        name: String,
    }

    #[test]
    fn the_pages_after_the_first_start_at_each_multiple_of_the_page_size_below_the_total() {
        assert_eq!(
            rest_offsets(256, 1_000).collect::<Vec<_>>(),
            [256, 512, 768]
        );
        assert_eq!(
            rest_offsets(256, 1_024).collect::<Vec<_>>(),
            [256, 512, 768]
        );
        assert_eq!(
            rest_offsets(256, 1_025).collect::<Vec<_>>(),
            [256, 512, 768, 1_024]
        );
        assert_eq!(rest_offsets(256, 256).count(), 0);
        assert_eq!(rest_offsets(1_024, 5_000).count(), 4);
    }

    #[test]
    fn an_error_reply_becomes_an_api_error_and_a_reply_merely_mentioning_errors_decodes() {
        let err = decode_reply::<Reply>(
            "s".into(),
            br#"{"type":"x","error":{"code":404,"err_code":10014,"description":"consumer not found"}}"#,
        )
        .unwrap_err();
        assert_eq!(err.err_code(), Some(10014));
        let ok: Reply = decode_reply(
            "s".into(),
            br#"{"name":"a","metadata":{"error":"a value, not the reply's error"}}"#,
        )
        .unwrap();
        assert_eq!(ok.name, "a");
        let plain: Reply = decode_reply("s".into(), br#"{"name":"b","total":1}"#).unwrap();
        assert_eq!(plain.name, "b");
        assert!(matches!(
            decode_reply::<Reply>("s".into(), br#"{"total":1}"#),
            Err(JsError::Decode { .. })
        ));
    }
}
