//! Building an `async_nats::Client` for one region and one account (system or application).
use std::{path::PathBuf, time::Duration};

use crate::config::{self, RegionConfig, Secret, SecretError, SecretRef, Tls};

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
    pub tls: Option<Tls>,
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

/// Which of a region's accounts a connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Account {
    /// The system account: `$SYS` probes.
    System,
    /// The application account: the JetStream API.
    App,
}

impl Account {
    /// Short label for connection names.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "sys",
            Self::App => "app",
        }
    }
}

impl ConnectSpec {
    /// The spec for one account of a configured region, secrets read now (so a rotated file is
    /// picked up on the next connection). Named `<client>/<region>/<account>` on the server.
    pub fn for_region(
        region: &RegionConfig,
        account: Account,
        client: &str,
    ) -> Result<Self, ConnectError> {
        let name = format!("{client}/{}/{}", region.name, account.as_str());
        let resolve = |r: &SecretRef| {
            r.resolve().map_err(|source| ConnectError::Secret {
                name: name.clone(),
                source,
            })
        };
        let configured = match account {
            Account::System => &region.system,
            Account::App => &region.app,
        };
        let auth = match configured {
            config::Auth::None => Auth::None,
            config::Auth::UserPassword { user, password } => Auth::UserPassword {
                user: user.clone(),
                password: resolve(password)?,
            },
            config::Auth::Token(token) => Auth::Token(resolve(token)?),
            config::Auth::CredsFile(path) => Auth::CredsFile(path.clone()),
            config::Auth::NkeySeedFile(path) => {
                Auth::NkeySeed(resolve(&SecretRef::File(path.clone()))?)
            }
        };
        let mut spec = Self::new(name, region.client_urls.clone(), auth);
        spec.tls = region.tls.clone();
        Ok(spec)
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
    /// A secret (password, token, nkey seed file) could not be read.
    #[error("{name}: cannot read a credential")]
    Secret {
        /// The connection's name.
        name: String,
        /// Which secret, and why.
        #[source]
        source: SecretError,
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
            | Self::Secret { .. }
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
            options = options.add_root_certificates(ca.clone());
        }
        if let Some((cert, key)) = &tls.client_cert {
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
        options = options.require_tls(true);
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

    #[test]
    fn a_region_spec_reads_the_accounts_secrets_and_names_the_connection() {
        let dir = tempfile::tempdir().unwrap();
        let seed = dir.path().join("sys.nk");
        std::fs::write(&seed, "SUAEXAMPLE\n").unwrap();
        let region = RegionConfig {
            name: crate::model::Region::new("eu-central-1").unwrap(),
            home: config::Home::Standby,
            domain: "eu-central-1".into(),
            cluster_size: 3,
            client_urls: vec!["nats://127.0.0.1:4222".into()],
            entry_point: config::EntryPoint::Name("eu.example".into()),
            system: config::Auth::NkeySeedFile(seed),
            app: config::Auth::UserPassword {
                user: "app".into(),
                password: SecretRef::Inline("pw".into()),
            },
            tls: None,
        };
        let sys = ConnectSpec::for_region(&region, Account::System, "natsdr-eu").unwrap();
        assert_eq!(sys.name, "natsdr-eu/eu-central-1/sys");
        assert_eq!(sys.auth, Auth::NkeySeed(Secret::new("SUAEXAMPLE")));
        let app = ConnectSpec::for_region(&region, Account::App, "natsdr-eu").unwrap();
        assert_eq!(
            app.auth,
            Auth::UserPassword {
                user: "app".into(),
                password: Secret::new("pw")
            }
        );

        let mut broken = region;
        broken.app = config::Auth::Token(SecretRef::Env("NATSDR_TEST_SURELY_UNSET_VAR".into()));
        let err = ConnectSpec::for_region(&broken, Account::App, "natsdr-eu").unwrap_err();
        assert!(matches!(err, ConnectError::Secret { .. }) && !err.is_retryable());
    }
}
