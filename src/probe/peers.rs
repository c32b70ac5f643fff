//! Fetches the other vantage points' observations (`GET /v1/observations`) for the majority vote.
use std::time::Duration;

use crate::api::model::{Observations, ReportAge};
use crate::config::{PeerTls, Secret, SecretError};

/// Why a peer's report could not be had.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The HTTP client could not be built (no TLS backend).
    #[error("cannot build an HTTP client")]
    Build(#[source] reqwest::Error),
    /// The token sent to peers could not be read.
    #[error("cannot read the peer token")]
    Token(#[source] SecretError),
    /// A TLS file for the peers could not be read or is not PEM of the right kind.
    #[error("peers TLS: {path}: {problem}")]
    Tls {
        /// The file (`peers.ca_file`, `peers.cert_file`, `peers.key_file`).
        path: std::path::PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// No answer within the probe timeout.
    #[error("peer {url} did not answer within {after:?}")]
    Timeout {
        /// The peer's base URL.
        url: String,
        /// The bound it ran into.
        after: Duration,
    },
    /// The connection failed or the request timed out inside the HTTP client.
    #[error("peer {url} unreachable")]
    Unreachable {
        /// The peer's base URL.
        url: String,
        /// The HTTP client's error.
        #[source]
        source: reqwest::Error,
    },
    /// The peer answered with an error status.
    #[error("peer {url} answered {status}")]
    Status {
        /// The peer's base URL.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The peer's report does not say how old it is (an older natsdr): it cannot vote, since
    /// a stale verdict would pass for a fresh one.
    #[error("peer {url} sent a report without its age (age_ms)")]
    Ageless {
        /// The peer's base URL.
        url: String,
    },
    /// The peer's answer is not an observations report.
    #[error("peer {url} sent a malformed report")]
    Malformed {
        /// The peer's base URL.
        url: String,
        /// The decoding error.
        #[source]
        source: reqwest::Error,
    },
}

/// A client for one peer's API.
#[derive(Debug, Clone)]
pub struct PeerClient {
    url: String,
    http: reqwest::Client,
    token: Option<Secret>,
}

impl PeerClient {
    /// A client for the peer at `base_url`, bounded by `timeout` per request (connect included).
    /// Over HTTPS, the peer's certificate may also chain to `tls.ca_file`, and this watchdog
    /// presents `tls.identity` (mTLS).
    pub fn new(
        base_url: &str,
        token: Option<Secret>,
        timeout: Duration,
        tls: &PeerTls,
    ) -> Result<Self, PeerError> {
        let mut b = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout);
        let read = |p: &std::path::Path| {
            std::fs::read(p).map_err(|e| PeerError::Tls {
                path: p.to_owned(),
                problem: e.to_string(),
            })
        };
        let bad = |p: &std::path::Path, e: reqwest::Error| PeerError::Tls {
            path: p.to_owned(),
            problem: crate::error_chain(&e),
        };
        if let Some(ca) = &tls.ca_file {
            for c in reqwest::Certificate::from_pem_bundle(&read(ca)?).map_err(|e| bad(ca, e))? {
                b = b.add_root_certificate(c);
            }
        }
        if let Some((cert, key)) = &tls.identity {
            let mut pem = read(cert)?;
            pem.push(b'\n');
            pem.extend(read(key)?);
            b = b.identity(reqwest::Identity::from_pem(&pem).map_err(|e| bad(cert, e))?);
        }
        let http = b.build().map_err(PeerError::Build)?;
        Ok(Self {
            url: base_url.trim_end_matches('/').to_owned(),
            http,
            token,
        })
    }

    /// The peer's base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Fetches the peer's latest observations; a report that does not carry its age is refused.
    pub async fn fetch(&self) -> Result<Observations, PeerError> {
        let mut req = self.http.get(format!("{}/v1/observations", self.url));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t.expose());
        }
        let resp = req.send().await.map_err(|source| PeerError::Unreachable {
            url: self.url.clone(),
            source,
        })?;
        if !resp.status().is_success() {
            return Err(PeerError::Status {
                url: self.url.clone(),
                status: resp.status().as_u16(),
            });
        }
        let obs: Observations = resp.json().await.map_err(|source| PeerError::Malformed {
            url: self.url.clone(),
            source,
        })?;
        if obs.age == ReportAge::Unknown {
            return Err(PeerError::Ageless {
                url: self.url.clone(),
            });
        }
        Ok(obs)
    }
}
