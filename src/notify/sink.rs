//! A destination for notifications and how one delivery attempt to it goes.
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use reqwest::{Client, StatusCode};

use super::pagerduty::{self, PagerDuty};
use super::webhook::{self, SIGNATURE_HEADER, Webhook};
use super::{DeliveryError, Notification, SinkKind};

/// Longest piece of a refusal body kept for the log.
const MAX_LOGGED_BODY: usize = 512;

/// Where notifications go. Each sink gets its own queue and delivery task, so a slow one never
/// holds up another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// PagerDuty Events API v2.
    PagerDuty(PagerDuty),
    /// A generic JSON webhook.
    Webhook(Webhook),
}

impl Sink {
    /// The metric label.
    pub fn kind(&self) -> SinkKind {
        match self {
            Self::PagerDuty(_) => SinkKind::PagerDuty,
            Self::Webhook(_) => SinkKind::Webhook,
        }
    }

    /// A name for logs.
    pub fn name(&self) -> &str {
        match self {
            Self::PagerDuty(_) => "pagerduty",
            Self::Webhook(w) => &w.name,
        }
    }

    /// Whether this sink wants `n` at all (PagerDuty skips `Info`).
    pub fn accepts(&self, n: &Notification) -> bool {
        match self {
            Self::PagerDuty(pd) => pd.accepts(n),
            Self::Webhook(_) => true,
        }
    }

    /// One delivery attempt, bounded by `timeout`. Secrets are read here, at use time.
    pub(crate) async fn attempt(
        &self,
        client: &Client,
        n: &Notification,
        timeout: Duration,
    ) -> Result<(), DeliveryError> {
        let request = match self {
            Self::PagerDuty(pd) => {
                let key = pd.routing_key.resolve().map_err(DeliveryError::Secret)?;
                let body = pagerduty::event_body(pd, &key, n).map_err(DeliveryError::Encode)?;
                client.post(pd.events_url.clone()).body(body)
            }
            Self::Webhook(w) => {
                let body = serde_json::to_vec(n).map_err(DeliveryError::Encode)?;
                let mut req = client.post(w.url.clone());
                if let Some(secret) = &w.secret {
                    let secret = secret.resolve().map_err(DeliveryError::Secret)?;
                    let key = webhook::signing_key(secret.expose());
                    let id = webhook::message_id(&body);
                    let now = time::OffsetDateTime::now_utc().unix_timestamp();
                    req = req
                        .header(
                            SIGNATURE_HEADER,
                            webhook::signature(secret.expose().as_bytes(), &body),
                        )
                        .header(
                            webhook::STANDARD_SIGNATURE_HEADER,
                            webhook::standard_signature(&key, &id, now, &body),
                        )
                        .header(webhook::TIMESTAMP_HEADER, now.to_string())
                        .header(webhook::ID_HEADER, id);
                }
                req.body(body)
            }
        };
        let response = request
            .header(CONTENT_TYPE, "application/json")
            .timeout(timeout)
            .send()
            .await
            // NB: a webhook URL is often a credential itself (chat tools put the token in the
            // path), so it is kept out of the error and thus out of the logs.
            .map_err(|e| DeliveryError::Transport(e.without_url()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        if is_transient(status) {
            return Err(DeliveryError::Unavailable {
                status: status.as_u16(),
                retry_after: retry_after(response.headers()),
            });
        }
        // NB: the body is read only to be logged; a receiver that never finishes it must not
        // hold the attempt past its timeout, which the request timeout above also covers.
        let body = response.text().await.unwrap_or_default();
        Err(DeliveryError::Rejected {
            status: status.as_u16(),
            body: body.chars().take(MAX_LOGGED_BODY).collect(),
        })
    }
}

/// 408, 429 and 5xx may pass on retry; any other refusal (PagerDuty's 400 "invalid event", a
/// 401/403/404 from a misconfigured webhook) will not.
fn is_transient(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
}

/// `Retry-After` in seconds; the HTTP-date form is rare for APIs and ignored (plain backoff).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::NotificationKind;

    #[test]
    fn only_timeouts_rate_limits_and_server_errors_are_retried() {
        for code in [408, 429, 500, 502, 503, 504] {
            assert!(is_transient(StatusCode::from_u16(code).unwrap()), "{code}");
        }
        for code in [400, 401, 403, 404, 413, 422] {
            assert!(!is_transient(StatusCode::from_u16(code).unwrap()), "{code}");
        }
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None);
    }

    #[tokio::test]
    async fn a_transport_error_never_shows_the_webhook_url() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let sink = Sink::Webhook(Webhook {
            name: "chat".into(),
            url: format!("http://127.0.0.1:{port}/services/T0K3N")
                .parse()
                .unwrap(),
            secret: None,
        });
        let n = Notification::example(NotificationKind::Info, "s");
        let err = sink
            .attempt(&Client::new(), &n, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(err.is_retryable());
        let mut cause: Option<&dyn std::error::Error> = Some(&err);
        while let Some(c) = cause {
            assert!(!format!("{c} {c:?}").contains("T0K3N"), "{c:?}");
            cause = c.source();
        }
    }
}
