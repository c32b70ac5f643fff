//! Building an `async_nats::Client` for one region and one account (system or application).
use std::{fmt, path::PathBuf, time::Duration};

/// A secret value (password, token, nkey seed) that never shows up in logs or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps an already-resolved secret (read from its file or environment variable by the config layer).
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; only for handing it to the client library.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// How a connection authenticates. One account per connection: the system account for `$SYS`
/// probes, the application account for the JetStream API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// No credentials (a lab or a server without auth).
    None,
    /// User and password.
    UserPassword {
        /// The user name.
        user: String,
        /// The password.
        password: Secret,
    },
    /// A bearer token.
    Token(Secret),
    /// A decentralized-auth `.creds` file (JWT plus nkey seed).
    CredsFile(PathBuf),
    /// An nkey seed (`SU...`).
    NkeySeed(Secret),
}

/// TLS material. With a CA the connection requires TLS; a client certificate needs its key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM bundle of CAs that sign the servers' certificates.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate, for servers that verify clients.
    pub cert_file: Option<PathBuf>,
    /// PEM key of the client certificate.
    pub key_file: Option<PathBuf>,
}

/// Everything needed to connect to one region with one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectSpec {
    /// Connection name shown by the server (`connz`), e.g. `natsdr-eu-central-1/us-east-1/sys`.
    pub name: String,
    /// The region's client URLs; the client rotates through them on reconnect.
    pub urls: Vec<String>,
    /// Credentials of the account.
    pub auth: Auth,
    /// TLS material, if the region uses TLS.
    pub tls: Option<TlsFiles>,
    /// Longest wait for one TCP/TLS connect (and the initial handshake).
    pub connect_timeout: Duration,
    /// Default timeout of request/reply calls that do not pass their own.
    pub request_timeout: Duration,
    /// Client-to-server ping period. NB: a blackholed connection is only noticed after two
    /// unanswered pings, so a watchdog wants this short (a few seconds), not the library's 60 s.
    pub ping_interval: Duration,
    /// Longest pause between reconnect attempts.
    pub max_reconnect_delay: Duration,
    /// true: return at once and keep connecting in the background (a watchdog that must start
    /// while a region is down); false: fail if no server answers now (one-shot commands).
    pub retry_initial_connect: bool,
}

impl ConnectSpec {
    /// A spec with timeouts suited to probing: short pings, fast reconnects, no background retry
    /// of the first connect.
    pub fn new(name: impl Into<String>, urls: Vec<String>, auth: Auth) -> Self {
        Self {
            name: name.into(),
            urls,
            auth,
            tls: None,
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(2),
            ping_interval: Duration::from_secs(2),
            max_reconnect_delay: Duration::from_secs(1),
            retry_initial_connect: false,
        }
    }
}

/// Why a connection could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The spec names no URL.
    #[error("{name}: no server URL given")]
    NoUrls {
        /// The connection's name.
        name: String,
    },
    /// A URL could not be parsed.
    #[error("{name}: bad server URL {url:?}")]
    BadUrl {
        /// The connection's name.
        name: String,
        /// The refused URL.
        url: String,
        /// What the parser said.
        #[source]
        source: std::io::Error,
    },
    /// A client certificate was given without its key, or a key without its certificate.
    #[error("{name}: tls cert_file and key_file must be given together")]
    CertWithoutKey {
        /// The connection's name.
        name: String,
    },
    /// The creds file could not be read or parsed.
    #[error("{name}: cannot use creds file {path}")]
    Creds {
        /// The connection's name.
        name: String,
        /// The creds file.
        path: PathBuf,
        /// The I/O or parse error.
        #[source]
        source: std::io::Error,
    },
    /// No server accepted the connection (refused, timed out, authentication or TLS failed).
    #[error("{name}: cannot connect to {urls:?}")]
    Connect {
        /// The connection's name.
        name: String,
        /// The URLs tried.
        urls: Vec<String>,
        /// The client library's error.
        #[source]
        source: async_nats::ConnectError,
    },
}

impl ConnectError {
    /// Whether trying again later can succeed (the servers may come back). Configuration
    /// mistakes, refused credentials and TLS failures are not: they need a person.
    pub fn is_retryable(&self) -> bool {
        use async_nats::ConnectErrorKind as K;
        match self {
            Self::Connect { source, .. } => !matches!(
                source.kind(),
                K::Authentication | K::AuthorizationViolation | K::Tls | K::ServerParse
            ),
            Self::NoUrls { .. }
            | Self::BadUrl { .. }
            | Self::CertWithoutKey { .. }
            | Self::Creds { .. } => false,
        }
    }
}

/// Connects to a region as described by `spec`.
///
/// Reconnects forever in the background once connected (a watchdog must outlive outages), with
/// delays capped at `spec.max_reconnect_delay`; connection events are logged with the spec's name.
pub async fn connect(spec: &ConnectSpec) -> Result<async_nats::Client, ConnectError> {
    let name = spec.name.clone();
    if spec.urls.is_empty() {
        return Err(ConnectError::NoUrls { name });
    }
    let addrs = spec
        .urls
        .iter()
        .map(|url| {
            url.parse::<async_nats::ServerAddr>()
                .map_err(|source| ConnectError::BadUrl {
                    name: name.clone(),
                    url: url.clone(),
                    source,
                })
        })
        .collect::<Result<Vec<_>, _>>()?;

    let mut options = match &spec.auth {
        Auth::None => async_nats::ConnectOptions::new(),
        Auth::UserPassword { user, password } => {
            async_nats::ConnectOptions::with_user_and_password(
                user.clone(),
                password.expose().to_owned(),
            )
        }
        Auth::Token(token) => async_nats::ConnectOptions::with_token(token.expose().to_owned()),
        Auth::CredsFile(path) => async_nats::ConnectOptions::with_credentials_file(path)
            .await
            .map_err(|source| ConnectError::Creds {
                name: name.clone(),
                path: path.clone(),
                source,
            })?,
        Auth::NkeySeed(seed) => async_nats::ConnectOptions::with_nkey(seed.expose().to_owned()),
    };

    if let Some(tls) = &spec.tls {
        if let Some(ca) = &tls.ca_file {
            options = options.add_root_certificates(ca.clone()).require_tls(true);
        }
        match (&tls.cert_file, &tls.key_file) {
            (Some(cert), Some(key)) => {
                options = options
                    .add_client_certificate(cert.clone(), key.clone())
                    .require_tls(true);
            }
            (None, None) => {}
            _ => return Err(ConnectError::CertWithoutKey { name }),
        }
    }

    let max_delay = spec.max_reconnect_delay;
    let event_name = name.clone();
    options = options
        .name(&spec.name)
        .connection_timeout(spec.connect_timeout)
        .request_timeout(Some(spec.request_timeout))
        .ping_interval(spec.ping_interval)
        .max_reconnects(None)
        // Doubling from 50 ms, capped: a region that comes back is seen again within one probe round.
        .reconnect_delay_callback(move |attempts| {
            let exp = u32::try_from(attempts.min(16)).unwrap_or(16);
            Duration::from_millis(50)
                .saturating_mul(2u32.saturating_pow(exp))
                .min(max_delay)
        })
        .event_callback(move |event| {
            let name = event_name.clone();
            async move {
                match event {
                    async_nats::Event::Connected => {
                        tracing::info!(connection = %name, "nats connected")
                    }
                    other => {
                        tracing::warn!(connection = %name, event = %other, "nats connection event")
                    }
                }
            }
        });
    if spec.retry_initial_connect {
        options = options.retry_on_initial_connect();
    }

    options
        .connect(addrs)
        .await
        .map_err(|source| ConnectError::Connect {
            name,
            urls: spec.urls.clone(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug_output() {
        let auth = Auth::UserPassword {
            user: "sys".into(),
            password: Secret::new("hunter2"),
        };
        let shown = format!("{auth:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("sys"));
    }

    #[tokio::test]
    async fn a_spec_without_urls_is_refused_before_any_network_io() {
        let spec = ConnectSpec::new("t", vec![], Auth::None);
        let err = connect(&spec).await.unwrap_err();
        assert!(matches!(err, ConnectError::NoUrls { .. }));
        assert!(!err.is_retryable());
    }

    #[tokio::test]
    async fn a_client_certificate_without_its_key_is_refused() {
        let mut spec = ConnectSpec::new("t", vec!["nats://127.0.0.1:1".into()], Auth::None);
        spec.tls = Some(TlsFiles {
            cert_file: Some("c.pem".into()),
            ..TlsFiles::default()
        });
        assert!(matches!(
            connect(&spec).await.unwrap_err(),
            ConnectError::CertWithoutKey { .. }
        ));
    }
}
