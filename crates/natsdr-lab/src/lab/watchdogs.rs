//! The lab's three natsdr processes (us and eu watchdogs, the witness), started from the
//! configs the lab wrote, plus optional twins, with a small HTTP client for their APIs. Used by
//! the demo and tests.
use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::manifest::LabManifest;
use super::names::Site;
use natsdr::api::model::Status;

/// One watchdog process of the lab: a site's own, or a twin started next to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dog {
    /// The site's watchdog, as the lab configured it.
    Site(Site),
    /// A second watchdog in the same place as the site's (same config, its own id and API):
    /// two replicas of one Deployment, racing each other.
    Twin(Site),
}

impl From<Site> for Dog {
    fn from(site: Site) -> Self {
        Self::Site(site)
    }
}

impl Dog {
    /// The site whose config it runs.
    pub fn site(self) -> Site {
        match self {
            Self::Site(s) | Self::Twin(s) => s,
        }
    }
}

impl fmt::Display for Dog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Site(s) => write!(f, "{s}"),
            Self::Twin(s) => write!(f, "{s}-twin"),
        }
    }
}

/// Why a watchdog could not be started or asked.
#[derive(Debug, thiserror::Error)]
pub enum WatchdogError {
    /// The process could not be spawned.
    #[error("cannot start the {site} watchdog ({exe})")]
    Spawn {
        /// Which watchdog.
        site: Dog,
        /// The natsdr binary.
        exe: PathBuf,
        /// The underlying failure.
        #[source]
        source: std::io::Error,
    },
    /// A TLS lab's certificate could not be read or used by the harness's client.
    #[error("TLS lab certificate {file}: {why}")]
    Tls {
        /// The file.
        file: PathBuf,
        /// Why.
        why: String,
    },
    /// The lab has no watchdog for this site.
    #[error("the lab has no {0} watchdog")]
    NoSuchSite(Dog),
    /// No free port for a twin's API.
    #[error("no free port for the {0} watchdog's API")]
    Port(Dog, #[source] std::io::Error),
    /// The API did not answer.
    #[error("{site} watchdog API: {source}")]
    Http {
        /// Which watchdog.
        site: Dog,
        /// The HTTP error.
        #[source]
        source: reqwest::Error,
    },
    /// A watchdog did not become ready in time.
    #[error("{site} watchdog not ready within {timeout:?} (see {log})")]
    NotReady {
        /// Which watchdog.
        site: Dog,
        /// How long we waited.
        timeout: Duration,
        /// Its log.
        log: PathBuf,
    },
}

/// Running watchdogs. Dropping this kills them (a demo or test that panics leaves nothing).
pub struct Watchdogs {
    exe: PathBuf,
    dir: PathBuf,
    env: Vec<(String, String)>,
    procs: BTreeMap<Dog, Child>,
    apis: BTreeMap<Dog, String>,
    configs: BTreeMap<Site, PathBuf>,
    token: String,
    http: reqwest::Client,
}

/// The harness's HTTP client: in a TLS lab it trusts the lab's CA and presents the operator's
/// certificate, as an operator's `natsdr status` would.
fn operator_client(m: &LabManifest) -> Result<reqwest::Client, WatchdogError> {
    let mut b = reqwest::Client::builder().timeout(Duration::from_secs(5));
    if let Some(tls) = &m.tls {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|source| WatchdogError::Tls {
                file: p.to_owned(),
                why: source.to_string(),
            })
        };
        let bad = |p: &Path, e: reqwest::Error| WatchdogError::Tls {
            file: p.to_owned(),
            why: e.to_string(),
        };
        let ca = reqwest::Certificate::from_pem(&read(&tls.ca)?).map_err(|e| bad(&tls.ca, e))?;
        let mut pem = read(&tls.operator.cert)?;
        pem.extend(read(&tls.operator.key)?);
        let id = reqwest::Identity::from_pem(&pem).map_err(|e| bad(&tls.operator.cert, e))?;
        b = b.add_root_certificate(ca).identity(id);
    }
    b.build().map_err(|e| WatchdogError::Tls {
        file: m.dir.clone(),
        why: e.to_string(),
    })
}

impl Watchdogs {
    /// Starts every site's watchdog with `natsdr run` and waits until all are ready; `env` adds
    /// variables (e.g. faster `NATSDR_TIMING__*` settings for a demo).
    ///
    /// All three start in the same instant, as `kubectl apply` of every overlay (or a node pool
    /// restart) does: the primary's watchdog, without a lease yet, waits for its peers to vouch.
    pub async fn start(
        m: &LabManifest,
        exe: &Path,
        env: &[(&str, &str)],
        ready_within: Duration,
    ) -> Result<Self, WatchdogError> {
        let token = std::fs::read_to_string(m.dir.join("secrets").join("api-token"))
            .unwrap_or_default()
            .trim()
            .to_owned();
        let mut w = Self {
            exe: exe.to_owned(),
            dir: m.dir.clone(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            procs: BTreeMap::new(),
            apis: m
                .watchdogs
                .iter()
                .map(|w| {
                    (
                        Dog::Site(w.site),
                        format!("{}://{}", m.api_scheme(), w.api_listen),
                    )
                })
                .collect(),
            configs: m
                .watchdogs
                .iter()
                .map(|w| (w.site, w.config.clone()))
                .collect(),
            token,
            http: operator_client(m)?,
        };
        w.spawn(Site::Us.into(), &[])?;
        w.spawn(Site::Eu.into(), &[])?;
        w.spawn(Site::Witness.into(), &[])?;
        w.wait_ready(ready_within).await?;
        w.wait_peers_see_regions_up(ready_within).await;
        Ok(w)
    }

    /// Waits (at most `within`) until the witness and the standby's watchdog both see every
    /// region up, so that the primary's watchdog, started next, finds a majority vouching for
    /// its region in its first round. Ready is not enough: a peer's first rounds can still miss
    /// a cluster that has just formed. A lab in which a region is down stays so: the wait ends
    /// quietly at `within` and the primary's watchdog decides what it must.
    async fn wait_peers_see_regions_up(&self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        for dog in [Dog::Site(Site::Witness), Dog::Site(Site::Eu)] {
            loop {
                let up = self
                    .status(dog)
                    .await
                    .is_ok_and(|s| !s.regions.is_empty() && s.regions.iter().all(|r| r.up));
                if up || tokio::time::Instant::now() > deadline {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    /// Starts a twin of `site`'s watchdog: the same config, with its own id (`<id>-twin`) and
    /// API address, and waits until it is ready. The other sites neither know nor ask it.
    pub async fn start_twin(
        &mut self,
        site: Site,
        ready_within: Duration,
    ) -> Result<(), WatchdogError> {
        let dog = Dog::Twin(site);
        let port = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .and_then(|l| l.local_addr())
            .map_err(|e| WatchdogError::Port(dog, e))?
            .port();
        let listen = format!("127.0.0.1:{port}");
        let scheme = if self.apis.values().any(|u| u.starts_with("https://")) {
            "https"
        } else {
            "http"
        };
        self.apis.insert(dog, format!("{scheme}://{listen}"));
        let id = format!("natsdr-lab-{dog}");
        self.spawn(
            dog,
            &[
                ("NATSDR_WATCHDOG__ID", id.as_str()),
                ("NATSDR_API__LISTEN", listen.as_str()),
            ],
        )?;
        self.wait_ready(ready_within).await
    }

    fn log(&self, dog: Dog) -> PathBuf {
        self.dir.join("logs").join(format!("natsdr-{dog}.log"))
    }

    fn spawn(&mut self, site: Dog, extra_env: &[(&str, &str)]) -> Result<(), WatchdogError> {
        let config = self
            .configs
            .get(&site.site())
            .ok_or(WatchdogError::NoSuchSite(site))?
            .clone();
        let log = self.log(site);
        let err = |source| WatchdogError::Spawn {
            site,
            exe: self.exe.clone(),
            source,
        };
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(err)?;
        let out2 = out.try_clone().map_err(err)?;
        let mut cmd = Command::new(&self.exe);
        cmd.args(["run", "--config"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(out2);
        cmd.env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info,natsdr=debug".into()),
        );
        cmd.env("NATSDR_OWNER_PID", std::process::id().to_string());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().map_err(err)?;
        self.procs.insert(site, child);
        Ok(())
    }

    /// Kills one watchdog (SIGKILL: a crash, not a clean stop).
    pub fn kill(&mut self, site: impl Into<Dog>) {
        if let Some(mut c) = self.procs.remove(&site.into()) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops one watchdog cleanly (SIGTERM, as Kubernetes does before replacing a pod), waiting
    /// up to 15 s before killing it.
    pub async fn stop(&mut self, site: impl Into<Dog>) {
        let Some(mut c) = self.procs.remove(&site.into()) else {
            return;
        };
        if let Ok(pid) = i32::try_from(c.id()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while tokio::time::Instant::now() < deadline {
            if let Ok(Some(_)) = c.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = c.kill();
        let _ = c.wait();
    }

    /// Starts a stopped or killed site watchdog again (without stopping it first).
    pub fn start_again(&mut self, site: Site) -> Result<(), WatchdogError> {
        self.spawn(site.into(), &[])
    }

    /// Starts a killed site watchdog again (a twin is started with [`Watchdogs::start_twin`]).
    pub fn restart(&mut self, site: Site) -> Result<(), WatchdogError> {
        self.kill(site);
        self.spawn(site.into(), &[])
    }

    /// The process id of a watchdog, while it runs (for measuring its footprint).
    pub fn pid(&self, site: impl Into<Dog>) -> Option<u32> {
        self.procs.get(&site.into()).map(Child::id)
    }

    /// The API's base URL of a watchdog.
    pub fn api(&self, site: impl Into<Dog>) -> &str {
        &self.apis[&site.into()]
    }

    /// The operator token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Waits until every watchdog answers `/readyz` with 200.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), WatchdogError> {
        for site in self.procs.keys().copied() {
            let deadline = tokio::time::Instant::now() + timeout;
            loop {
                let ok = self
                    .http
                    .get(format!("{}/readyz", self.api(site)))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if ok {
                    break;
                }
                if tokio::time::Instant::now() > deadline {
                    return Err(WatchdogError::NotReady {
                        site,
                        timeout,
                        log: self.log(site),
                    });
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    /// A site's `/v1/status`.
    pub async fn status(&self, site: impl Into<Dog>) -> Result<Status, WatchdogError> {
        let site = site.into();
        let http = |source| WatchdogError::Http { site, source };
        self.get(site, "/v1/status")
            .await?
            .json()
            .await
            .map_err(http)
    }

    /// A site's `/metrics` text (OpenMetrics).
    pub async fn metrics(&self, site: impl Into<Dog>) -> Result<String, WatchdogError> {
        let site = site.into();
        let http = |source| WatchdogError::Http { site, source };
        self.get(site, "/metrics").await?.text().await.map_err(http)
    }

    /// A GET of `path` on a site's API.
    async fn get(&self, site: Dog, path: &str) -> Result<reqwest::Response, WatchdogError> {
        self.http
            .get(format!("{}{path}", self.api(site)))
            .send()
            .await
            .map_err(|source| WatchdogError::Http { site, source })
    }

    /// Sends a command (`pause`, `failover`...) with a JSON body; returns the HTTP status and body.
    pub async fn command(
        &self,
        site: impl Into<Dog>,
        command: &str,
        body: serde_json::Value,
    ) -> Result<(u16, serde_json::Value), WatchdogError> {
        let site = site.into();
        let http = |source| WatchdogError::Http { site, source };
        let r = self
            .http
            .post(format!("{}/v1/{command}", self.api(site)))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .map_err(http)?;
        let code = r.status().as_u16();
        Ok((code, r.json().await.unwrap_or(serde_json::Value::Null)))
    }

    /// Polls a site's status until `pred` holds; returns the matching status, or the last one
    /// seen when `timeout` passes.
    pub async fn wait_for(
        &self,
        site: impl Into<Dog>,
        timeout: Duration,
        pred: impl Fn(&Status) -> bool,
    ) -> Result<Status, Status> {
        let site = site.into();
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last = Status::default();
        loop {
            if let Ok(s) = self.status(site).await {
                if pred(&s) {
                    return Ok(s);
                }
                last = s;
            }
            if tokio::time::Instant::now() > deadline {
                return Err(last);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Lines of each watchdog's log printed when a test panics with the watchdogs running.
const LOG_TAIL_ON_PANIC: usize = 40;

impl Drop for Watchdogs {
    fn drop(&mut self) {
        let dogs: Vec<Dog> = self.procs.keys().copied().collect();
        for (_, mut c) in std::mem::take(&mut self.procs) {
            let _ = c.kill();
            let _ = c.wait();
        }
        // A failing lab test's directory is gone with its tempdir: leave the end of each
        // watchdog's log in the test's output, where CI keeps it.
        if std::thread::panicking() {
            for dog in dogs {
                let text = std::fs::read_to_string(self.log(dog)).unwrap_or_default();
                // Every round logs at debug; the decisions, actions and warnings are above it.
                let lines: Vec<&str> = text.lines().filter(|l| !l.contains("DEBUG")).collect();
                let tail = &lines[lines.len().saturating_sub(LOG_TAIL_ON_PANIC)..];
                eprintln!(
                    "--- last {} non-debug lines of natsdr-{dog}.log ---",
                    tail.len()
                );
                for line in tail {
                    eprintln!("{line}");
                }
            }
        }
    }
}
