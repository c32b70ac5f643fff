//! TLS for the API (rustls): the server's certificate and key, and the CA client certificates
//! must chain to (mTLS). The files are re-read when they change, checked at most once per
//! [`RELOAD_CHECK`] on accepting a connection, so a rotated certificate (cert-manager renewing
//! the Secret) is served without a restart; a change that does not load keeps the previous
//! certificate and says why in the log.
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::crypto::{CryptoProvider, aws_lc_rs};
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig};

use crate::config::ApiTls;

/// How often, at most, the certificate files are checked for a change.
pub const RELOAD_CHECK: Duration = Duration::from_secs(1);

/// Why the API's TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("api.tls: cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file holds no usable PEM item of the kind needed.
    #[error("api.tls: {path} holds no {what} in PEM")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What was looked for.
        what: &'static str,
    },
    /// rustls refused the certificate, key or CA.
    #[error("api.tls: {what}")]
    Rustls {
        /// What was being set up.
        what: &'static str,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The API's TLS acceptor, kept current with its files.
pub struct TlsSource {
    cfg: ApiTls,
    state: Mutex<Loaded>,
}

impl std::fmt::Debug for TlsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSource").field("cfg", &self.cfg).finish()
    }
}

struct Loaded {
    acceptor: TlsAcceptor,
    stamp: Vec<Option<SystemTime>>,
    checked: Instant,
}

impl TlsSource {
    /// Loads the certificate, key and client CA; fails naming the file that is wrong.
    pub fn load(cfg: &ApiTls) -> Result<Self, TlsError> {
        let acceptor = TlsAcceptor::from(Arc::new(server_config(cfg)?));
        Ok(Self {
            state: Mutex::new(Loaded {
                acceptor,
                stamp: stamp(cfg),
                checked: Instant::now(),
            }),
            cfg: cfg.clone(),
        })
    }

    /// The acceptor for a new connection: re-read first if the files changed since.
    pub fn acceptor(&self) -> TlsAcceptor {
        let mut s = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if s.checked.elapsed() >= RELOAD_CHECK {
            s.checked = Instant::now();
            let now = stamp(&self.cfg);
            if now != s.stamp {
                s.stamp = now;
                match server_config(&self.cfg) {
                    Ok(c) => {
                        s.acceptor = TlsAcceptor::from(Arc::new(c));
                        tracing::info!(cert = %self.cfg.cert_file.display(), "api: TLS certificate reloaded");
                    }
                    Err(e) => tracing::warn!(
                        error = %crate::error_chain(&e),
                        "api: the changed TLS files do not load; serving the previous certificate"
                    ),
                }
            }
        }
        s.acceptor.clone()
    }
}

fn stamp(cfg: &ApiTls) -> Vec<Option<SystemTime>> {
    [
        Some(&cfg.cert_file),
        Some(&cfg.key_file),
        cfg.client_ca_file.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
    .collect()
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: path.to_owned(),
            what: "certificate",
        });
    }
    Ok(certs)
}

fn rustls_err(
    what: &'static str,
) -> impl FnOnce(Box<dyn std::error::Error + Send + Sync>) -> TlsError {
    move |source| TlsError::Rustls { what, source }
}

/// The process's TLS provider: aws-lc-rs, named explicitly (two providers are linked).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(aws_lc_rs::default_provider())
}

fn server_config(cfg: &ApiTls) -> Result<ServerConfig, TlsError> {
    let chain = certs(&cfg.cert_file)?;
    let key = PrivateKeyDer::from_pem_slice(&read(&cfg.key_file)?).map_err(|_| TlsError::Pem {
        path: cfg.key_file.clone(),
        what: "private key",
    })?;
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| rustls_err("protocol versions")(Box::new(e)))?;
    let builder = match &cfg.client_ca_file {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in certs(ca)? {
                roots
                    .add(c)
                    .map_err(|e| rustls_err("client CA certificate")(Box::new(e)))?;
            }
            let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let v = if cfg.client_cert_required {
                v
            } else {
                v.allow_unauthenticated()
            };
            builder.with_client_cert_verifier(
                v.build()
                    .map_err(|e| rustls_err("client CA")(Box::new(e)))?,
            )
        }
    };
    let mut sc = builder
        .with_single_cert(chain, key)
        .map_err(|e| rustls_err("certificate and key")(Box::new(e)))?;
    sc.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(sc)
}
