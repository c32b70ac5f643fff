//! What can go wrong when setting up notifications or delivering one.
use crate::config::SecretError;

/// Errors from building the notifier or its inputs.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// An incident id that cannot be a PagerDuty `dedup_key`.
    #[error("incident id {id:?} must be 1 to 255 characters without control characters")]
    BadIncidentId {
        /// The refused id.
        id: String,
    },
    /// Delivery timings that contradict each other.
    #[error("invalid delivery policy: {0}")]
    BadPolicy(&'static str),
    /// The HTTP client could not be built (e.g. no TLS roots).
    #[error("cannot build the notification HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
}

/// Why one delivery attempt failed. [`DeliveryError::is_retryable`] says whether trying again
/// can help. Messages leave the cause to `source()`, so logs print the chain once.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The receiver refused the event for good (e.g. PagerDuty's 400 "invalid event").
    #[error("rejected with HTTP {status}: {body}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// Start of the response body, which usually says what was wrong.
        body: String,
    },
    /// The receiver is overloaded or failing (429, 5xx): retry later.
    #[error("receiver unavailable: HTTP {status}")]
    Unavailable {
        /// HTTP status.
        status: u16,
        /// How long the receiver asked us to wait (`Retry-After`), if it said.
        retry_after: Option<std::time::Duration>,
    },
    /// No answer: connection refused or reset, TLS failure, or the attempt timed out.
    #[error("transport error")]
    Transport(#[source] reqwest::Error),
    /// The sink's secret (routing key or signing key) could not be read.
    #[error("cannot read the sink's secret")]
    Secret(#[source] SecretError),
    /// The notification could not be encoded as JSON.
    #[error("cannot encode the notification")]
    Encode(#[source] serde_json::Error),
}

impl DeliveryError {
    /// True when the same request may succeed later.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Unavailable { .. } | Self::Transport(_) => true,
            Self::Rejected { .. } | Self::Secret(_) | Self::Encode(_) => false,
        }
    }
}
