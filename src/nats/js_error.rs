//! Errors of JetStream API calls, keeping the server's `err_code` so callers can react to it.
use std::time::Duration;

use super::codes;

/// A failed JetStream API call.
#[derive(Debug, thiserror::Error)]
pub enum JsError {
    /// The server answered with a JetStream API error (`{"error":{code, err_code, description}}`).
    #[error("{subject}: JetStream error {err_code} (status {code}): {description}")]
    Api {
        /// The API subject called.
        subject: String,
        /// HTTP-like status (400, 404, 500, 503).
        code: u16,
        /// JetStream's own error code, see [`codes`].
        err_code: u32,
        /// The server's description.
        description: String,
    },
    /// No reply within the call's timeout (server down, blackholed, or no meta quorum).
    #[error("{subject}: no reply within {after:?}")]
    Timeout {
        /// The API subject called.
        subject: String,
        /// The timeout that expired.
        after: Duration,
    },
    /// Nobody listens on the subject: JetStream is off for this account or domain, or the
    /// connection is to the wrong account.
    #[error("{subject}: no responders (is JetStream enabled for this account and domain?)")]
    NoResponders {
        /// The API subject called.
        subject: String,
    },
    /// The request could not be sent or the connection failed meanwhile.
    #[error("{subject}: request failed")]
    Transport {
        /// The API subject called.
        subject: String,
        /// The client library's error.
        #[source]
        source: async_nats::RequestError,
    },
    /// The reply was not the JSON natsdr expects.
    #[error("{subject}: cannot decode the reply")]
    Decode {
        /// The API subject called.
        subject: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}

impl JsError {
    /// The JetStream `err_code`, when the server answered with an API error.
    pub fn err_code(&self) -> Option<u32> {
        match self {
            Self::Api { err_code, .. } => Some(*err_code),
            _ => None,
        }
    }

    /// Whether the server said the stream does not exist (10059).
    pub fn is_stream_not_found(&self) -> bool {
        self.err_code() == Some(codes::STREAM_NOT_FOUND)
    }

    /// Whether the same call may succeed later: timeouts, transport failures, no responders
    /// (a reconnecting client sees those) and the server's own transient codes (no quorum,
    /// stream offline, no peers). Config errors (10025, 10052, 10055, 10058, 10065) are final.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Timeout { .. } | Self::NoResponders { .. } | Self::Transport { .. } => true,
            Self::Api { err_code, code, .. } => codes::is_transient(*err_code) || *code == 503,
            Self::Decode { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(err_code: u32, code: u16) -> JsError {
        JsError::Api {
            subject: "s".into(),
            code,
            err_code,
            description: "d".into(),
        }
    }

    #[test]
    fn config_errors_are_final_and_quorum_errors_are_retryable() {
        assert!(!api(codes::MIRROR_NOT_UPDATABLE, 500).is_retryable());
        assert!(!api(codes::INVALID_JSON, 400).is_retryable());
        assert!(!api(codes::STREAM_NOT_FOUND, 404).is_retryable());
        assert!(api(codes::CLUSTER_NOT_AVAILABLE, 503).is_retryable());
        assert!(
            JsError::Timeout {
                subject: "s".into(),
                after: Duration::from_secs(1)
            }
            .is_retryable()
        );
    }

    #[test]
    fn not_found_is_recognised_by_its_code() {
        assert!(api(codes::STREAM_NOT_FOUND, 404).is_stream_not_found());
        assert!(!api(codes::STREAM_NAME_IN_USE, 400).is_stream_not_found());
    }
}
