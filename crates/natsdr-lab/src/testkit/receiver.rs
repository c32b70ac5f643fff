//! A real HTTP receiver for notifications: a strict PagerDuty Events API v2 endpoint and a
//! webhook endpoint that checks HMAC signatures, with scripted replies and a hang mode.
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use reqwest::Url;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use natsdr::notify::webhook::{self, SIGNATURE_HEADER, verify_signature};

/// Path of the PagerDuty-compatible endpoint (as on events.pagerduty.com).
pub const PAGERDUTY_PATH: &str = "/v2/enqueue";
/// Path of the webhook endpoint (any path other than [`PAGERDUTY_PATH`] behaves the same).
pub const WEBHOOK_PATH: &str = "/hook";

/// Why the receiver could not start or a wait ended empty-handed.
#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    /// The listening socket could not be bound.
    #[error("cannot bind the receiver: {0}")]
    Bind(#[source] std::io::Error),
    /// Fewer requests arrived than awaited.
    #[error("waited {within:?} for {wanted} requests, got {got}")]
    Timeout {
        /// Requests awaited.
        wanted: usize,
        /// Requests that did arrive.
        got: usize,
        /// How long we waited.
        within: Duration,
    },
}

/// How the receiver starts.
#[derive(Debug, Clone, Default)]
pub struct ReceiverOptions {
    /// When set, webhook requests must carry a valid `X-Natsdr-Signature` for this key, else 401.
    pub hmac_key: Option<String>,
    /// Statuses to answer valid requests with, in order; 202 once they run out.
    pub replies: Vec<u16>,
    /// Sent as `Retry-After` (seconds) with every scripted 429 and 503.
    pub retry_after_secs: Option<u64>,
    /// Accept requests and never answer them (a blackholed receiver).
    pub hang: bool,
}

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    /// When it arrived.
    pub at: tokio::time::Instant,
    /// Request method.
    pub method: Method,
    /// Request path.
    pub path: String,
    /// Request headers.
    pub headers: HeaderMap,
    /// Raw body.
    pub body: Bytes,
    /// What the receiver answered; `None` when it hung.
    pub status: Option<u16>,
    /// Why the request was refused (schema errors, a bad signature); empty when valid.
    pub problems: Vec<String>,
}

impl Received {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// A receiver on 127.0.0.1 with an ephemeral port; stops accepting when dropped.
#[derive(Debug)]
pub struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

#[derive(Debug)]
struct Shared {
    log: Mutex<Vec<Received>>,
    replies: Mutex<VecDeque<u16>>,
    hang: AtomicBool,
    hmac_key: Option<String>,
    retry_after_secs: Option<u64>,
    arrived: Notify,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // NB: a panicking test thread must not hide what the receiver saw from the others.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Receiver {
    /// Binds 127.0.0.1:0 and starts serving.
    pub async fn start(options: ReceiverOptions) -> Result<Self, ReceiverError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(ReceiverError::Bind)?;
        let addr = listener.local_addr().map_err(ReceiverError::Bind)?;
        let shared = Arc::new(Shared {
            log: Mutex::new(Vec::new()),
            replies: Mutex::new(options.replies.into()),
            hang: AtomicBool::new(options.hang),
            hmac_key: options.hmac_key,
            retry_after_secs: options.retry_after_secs,
            arrived: Notify::new(),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let server = tokio::spawn(async move {
            // NB: serve only ends on an accept error; the test then sees missing requests.
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            shared,
            server,
        })
    }

    /// A receiver that accepts requests and never answers them: a blackholed endpoint.
    pub async fn hanging() -> Result<Self, ReceiverError> {
        Self::start(ReceiverOptions {
            hang: true,
            ..ReceiverOptions::default()
        })
        .await
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// URL of the PagerDuty-compatible endpoint.
    pub fn pagerduty_url(&self) -> Url {
        self.url(PAGERDUTY_PATH)
    }

    /// URL of the webhook endpoint.
    pub fn webhook_url(&self) -> Url {
        self.url(WEBHOOK_PATH)
    }

    fn url(&self, path: &str) -> Url {
        Url::parse(&format!("http://{}{path}", self.addr))
            .expect("an address and a path form a URL")
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Received> {
        lock(&self.shared.log).clone()
    }

    /// Switches hang mode on or off for the next requests.
    pub fn set_hang(&self, hang: bool) {
        self.shared.hang.store(hang, Ordering::SeqCst);
    }

    /// Waits until at least `wanted` requests have arrived, for up to `within`.
    pub async fn wait_for(
        &self,
        wanted: usize,
        within: Duration,
    ) -> Result<Vec<Received>, ReceiverError> {
        let waiting = async {
            loop {
                let arrived = self.shared.arrived.notified();
                tokio::pin!(arrived);
                arrived.as_mut().enable();
                if lock(&self.shared.log).len() >= wanted {
                    return;
                }
                arrived.await;
            }
        };
        match tokio::time::timeout(within, waiting).await {
            Ok(()) => Ok(self.requests()),
            Err(_) => Err(ReceiverError::Timeout {
                wanted,
                got: lock(&self.shared.log).len(),
                within,
            }),
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let is_pagerduty = path == PAGERDUTY_PATH;
    let problems = if method != Method::POST {
        vec![format!("method must be POST, not {method}")]
    } else if is_pagerduty {
        serde_json::from_slice(&body).map_or_else(
            |e| vec![format!("body is not JSON: {e}")],
            |v| validate_pagerduty_event(&v),
        )
    } else {
        check_signature(shared.hmac_key.as_deref(), &headers, &body)
    };
    let hang = shared.hang.load(Ordering::SeqCst);
    let status = if hang {
        None
    } else if !problems.is_empty() {
        Some(if method != Method::POST {
            405
        } else if is_pagerduty {
            400
        } else {
            401
        })
    } else {
        Some(lock(&shared.replies).pop_front().unwrap_or(202))
    };
    let dedup_key = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("dedup_key").cloned());
    lock(&shared.log).push(Received {
        at: tokio::time::Instant::now(),
        method,
        path,
        headers,
        body,
        status,
        problems: problems.clone(),
    });
    shared.arrived.notify_waiters();
    let Some(status) = status else {
        return std::future::pending().await;
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // Bodies as the real Events API answers them.
    let body = if !problems.is_empty() {
        json!({"status": "invalid event", "message": "Event object is invalid", "errors": problems})
    } else if status.is_success() {
        json!({"status": "success", "message": "Event processed", "dedup_key": dedup_key})
    } else {
        json!({"status": "error", "message": status.canonical_reason()})
    };
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(secs) = shared.retry_after_secs
        && matches!(status.as_u16(), 429 | 503)
    {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

fn check_signature(key: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Vec<String> {
    let Some(key) = key else {
        return Vec::new();
    };
    let text = |name: &str| headers.get(name).and_then(|h| h.to_str().ok());
    let mut problems = match text(SIGNATURE_HEADER) {
        None => vec![format!("missing {SIGNATURE_HEADER}")],
        Some(sig) if verify_signature(key.as_bytes(), body, sig) => Vec::new(),
        Some(_) => vec![format!("{SIGNATURE_HEADER} does not match the body")],
    };
    // The Standard Webhooks signature, checked as a receiver would: fresh and matching.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if let Err(e) = webhook::verify_standard(
        &webhook::signing_key(key),
        text(webhook::ID_HEADER),
        text(webhook::TIMESTAMP_HEADER),
        text(webhook::STANDARD_SIGNATURE_HEADER),
        body,
        now,
    ) {
        problems.push(e.to_string());
    }
    problems
}

/// Checks an Events API v2 request body strictly: required fields, enums, lengths and, for
/// acknowledge and resolve, that nothing but the three identifying fields is sent. Returns the
/// problems found (empty when valid).
pub fn validate_pagerduty_event(v: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(event) = v.as_object() else {
        return vec!["event must be a JSON object".into()];
    };
    match event.get("routing_key").and_then(Value::as_str) {
        Some(k) if !k.is_empty() => {}
        _ => problems.push("routing_key must be a non-empty string".into()),
    }
    let action = event.get("event_action").and_then(Value::as_str);
    let dedup_key = event.get("dedup_key").and_then(Value::as_str);
    if let Some(k) = dedup_key
        && (k.is_empty() || k.chars().count() > 255)
    {
        problems.push("dedup_key must be 1 to 255 characters".into());
    }
    let allowed: &[&str] = match action {
        Some("trigger") => {
            check_payload(event.get("payload"), &mut problems);
            &[
                "routing_key",
                "event_action",
                "dedup_key",
                "payload",
                "client",
                "client_url",
                "images",
                "links",
            ]
        }
        Some("acknowledge" | "resolve") => {
            if dedup_key.is_none() {
                problems.push("dedup_key is required to acknowledge or resolve".into());
            }
            &["routing_key", "event_action", "dedup_key"]
        }
        _ => {
            problems.push("event_action must be trigger, acknowledge or resolve".into());
            return problems;
        }
    };
    for key in event.keys().filter(|k| !allowed.contains(&k.as_str())) {
        problems.push(format!("unexpected field {key:?} for this event_action"));
    }
    for key in ["client", "client_url"] {
        if event.get(key).is_some_and(|c| !c.is_string()) {
            problems.push(format!("{key} must be a string"));
        }
    }
    problems
}

fn check_payload(payload: Option<&Value>, problems: &mut Vec<String>) {
    let Some(payload) = payload.and_then(Value::as_object) else {
        problems.push("payload must be an object on trigger".into());
        return;
    };
    match payload.get("summary").and_then(Value::as_str) {
        Some(s) if !s.is_empty() && s.chars().count() <= 1024 => {}
        _ => problems.push("payload.summary must be 1 to 1024 characters".into()),
    }
    match payload.get("source").and_then(Value::as_str) {
        Some(s) if !s.is_empty() => {}
        _ => problems.push("payload.source must be a non-empty string".into()),
    }
    match payload.get("severity").and_then(Value::as_str) {
        Some("critical" | "error" | "warning" | "info") => {}
        _ => problems.push("payload.severity must be critical, error, warning or info".into()),
    }
    if let Some(ts) = payload.get("timestamp") {
        let parsed = ts.as_str().map(|s| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        });
        if !matches!(parsed, Some(Ok(_))) {
            problems.push("payload.timestamp must be an ISO 8601 (RFC 3339) time".into());
        }
    }
    for key in ["component", "group", "class"] {
        if payload.get(key).is_some_and(|c| !c.is_string()) {
            problems.push(format!("payload.{key} must be a string"));
        }
    }
    const PAYLOAD_FIELDS: [&str; 8] = [
        "summary",
        "source",
        "severity",
        "timestamp",
        "component",
        "group",
        "class",
        "custom_details",
    ];
    for key in payload
        .keys()
        .filter(|k| !PAYLOAD_FIELDS.contains(&k.as_str()))
    {
        problems.push(format!("unexpected field payload.{key:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_validator_accepts_a_well_formed_trigger_and_resolve() {
        let trigger = json!({
            "routing_key": "samplekeyhere", "event_action": "trigger", "dedup_key": "k",
            "payload": {"summary": "s", "source": "h", "severity": "critical",
                        "timestamp": "2015-07-17T08:42:58.315+00:00", "custom_details": {}},
            "client": "c", "client_url": "https://x"
        });
        assert!(validate_pagerduty_event(&trigger).is_empty());
        let resolve = json!({"routing_key": "r", "event_action": "resolve", "dedup_key": "k"});
        assert!(validate_pagerduty_event(&resolve).is_empty());
    }

    #[test]
    fn the_validator_names_every_broken_rule() {
        let bad = json!({
            "routing_key": "", "event_action": "trigger",
            "payload": {"summary": "x".repeat(1025), "source": "", "severity": "fatal"}
        });
        assert_eq!(validate_pagerduty_event(&bad).len(), 4);
        let resolve_with_payload = json!({"routing_key": "r", "event_action": "resolve",
            "dedup_key": "k", "payload": {}});
        assert_eq!(validate_pagerduty_event(&resolve_with_payload).len(), 1);
        assert_eq!(
            validate_pagerduty_event(&json!({"routing_key": "r", "event_action": "page"})).len(),
            1
        );
    }

    #[tokio::test]
    async fn the_receiver_answers_pagerduty_s_error_body_and_refuses_other_methods() {
        let rx = Receiver::start(ReceiverOptions::default()).await.unwrap();
        let client = reqwest::Client::new();
        let bad = client
            .post(rx.pagerduty_url())
            .body(r#"{"routing_key":"r","event_action":"page"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 400);
        let body: Value = bad.json().await.unwrap();
        assert_eq!(body["status"], "invalid event");
        let get = client.get(rx.webhook_url()).send().await.unwrap();
        assert_eq!(get.status(), 405);
        let seen = rx.wait_for(2, Duration::from_secs(5)).await.unwrap();
        assert_eq!(seen[1].method, Method::GET);
    }
}
