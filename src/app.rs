//! The watchdog (or witness) as one value: [`App::build`] makes every part from the config
//! (metrics, tokens, audit log, NATS connections, DNS, the lease, backups, the prober, the
//! executors, the notifier, TLS and the API's listener), and [`App::run`] serves the API, tracks
//! consumers and drives the state machine until shutdown, then drains within a grace period.
//! `natsdr run` is config, logging, runtime, `App::build(cfg).await?.run(signal)`.
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::api::audit::AuditLog;
use crate::api::audit_publish::AuditPublisher;
use crate::api::auth::Tokens;
use crate::api::model::{Observations, PeerStatus, RegionDepth, Status};
use crate::api::{ApiContext, CommandRequest};
use crate::config::Config;
use crate::core::{Instant, Observation, WallTime};
use crate::dns::{AnyArbiter, AnyClientRecord, MemoryDns};
use crate::driver::{Driver, Executors, Outputs, Probe, peer_status, region_depth};
use crate::exec::NatsExecutor;
use crate::model::Region;
use crate::notify::{DeliveryPolicy, DeliveryResult, Notifier, PagerDuty, Sink, SinkKind, Webhook};
use crate::probe::Prober;
use crate::telemetry::Metrics;

/// How long in-flight work (notifications, audit records) may take after shutdown begins.
const GRACE: Duration = Duration::from_secs(5);
/// Audit records waiting to be published to NATS; more are dropped (counted), never waited for.
const AUDIT_QUEUE: usize = 64;

/// Why the watchdog could not start.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A part could not be made from the config (tokens, audit log, NATS connections, DNS,
    /// notifier, TLS, snapshot directory); the text names it.
    #[error("{0}")]
    Build(String),
    /// The API's address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// `api.listen`.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A watchdog or witness, built and ready to run.
pub struct App {
    parts: Parts,
    /// The arbiter and client record; `None` for a witness without a `[dns]` section.
    dns: Option<(AnyArbiter, AnyClientRecord)>,
    nats: Arc<NatsExecutor>,
}

impl App {
    /// Makes every part from the config. Nothing acts yet: no probe, no API request served.
    pub async fn build(cfg: Arc<Config>) -> Result<Self, AppError> {
        let regions: Vec<String> = cfg.regions.iter().map(|r| r.name.to_string()).collect();
        let mirrors: Vec<String> = cfg.mirrors.iter().map(|m| m.name.to_string()).collect();
        let peers: Vec<String> = cfg
            .peers
            .watchdogs
            .iter()
            .chain(cfg.peers.witness.iter())
            .cloned()
            .collect();
        let (mut registry, metrics) = Metrics::new(&regions, &mirrors, &peers);
        let consumer_streams: std::collections::BTreeSet<String> = crate::consumers::twins(&cfg)
            .into_iter()
            .flat_map(|t| [t.home.stream, t.away.stream])
            .collect();
        let metrics =
            metrics.with_consumer_streams(&consumer_streams.into_iter().collect::<Vec<_>>());
        let tokens =
            Tokens::load(cfg.api.token.as_ref()).map_err(|e| AppError::Build(e.to_string()))?;
        let audit = AuditLog::open(cfg.api.audit_log.as_ref())
            .map_err(|e| AppError::Build(format!("audit log: {e}")))?;
        let audit = audit.with_rotation(cfg.api.audit_rotation);

        let conns = crate::nats::connect_regions(&cfg, &cfg.watchdog.id, cfg.timing.probe_timeout)
            .await
            .map_err(|e| AppError::Build(crate::error_chain(&e)))?;
        // The first probe round must find the connections up, or it sees every region unreachable
        // (a primary-region watchdog would fence its healthy region at start). A region that is
        // really down is simply still down after this bounded wait.
        let pending = crate::nats::wait_connected(&conns, STARTUP_CONNECT_WAIT).await;
        if !pending.is_empty() {
            tracing::warn!(regions = ?pending, waited = ?STARTUP_CONNECT_WAIT, "regions not connected at start; probing anyway");
        }
        // A witness probes DNS only when it has a [dns] section; a watchdog always needs one.
        let dns = match (cfg.watchdog.role, cfg.dns.is_some()) {
            (crate::config::Role::Witness, false) => None,
            (crate::config::Role::Watchdog | crate::config::Role::Witness, _) => Some(
                crate::dns::from_config(&cfg)
                    .await
                    .map_err(AppError::Build)?,
            ),
        };
        // The home primary's watchdog keeps its lease in its region, so a restart keeps it too.
        let lease = match cfg.watchdog.role {
            crate::config::Role::Watchdog if cfg.watchdog.site == cfg.primary().name => {
                match conns.get(&cfg.watchdog.site) {
                    Some(c) => {
                        let records = crate::nats::LeaseRecords::new(
                            c.js.clone(),
                            cfg.watchdog.site.clone(),
                            cfg.primary().cluster_size,
                        );
                        Some(
                            crate::driver::LeaseKeeper::open(records, 4 * cfg.timing.probe_timeout)
                                .await,
                        )
                    }
                    None => None,
                }
            }
            crate::config::Role::Watchdog | crate::config::Role::Witness => None,
        };
        if let (Some(b), crate::config::Role::Watchdog) = (&cfg.backup, cfg.watchdog.role) {
            // Snapshot calls need longer than a probe's timeout.
            let js = conns
                .iter()
                .map(|(r, c)| (r.clone(), c.js.with_timeout(Duration::from_secs(5))))
                .collect();
            crate::backup::Scheduler::spawn(b.clone(), js, cfg.watchdog.id.clone(), &mut registry)
                .await;
        }
        let probe_dns = dns.clone();
        let prober = Prober::new(cfg.clone(), conns.clone(), probe_dns)
            .map_err(|e| AppError::Build(crate::error_chain(&e)))?;
        let audit_clients = conns
            .iter()
            .map(|(r, c)| (r.clone(), c.js.client().clone()))
            .collect();
        let tracker_clients = conns.clone();
        let mut nats = NatsExecutor::new(cfg.clone(), conns).with_metrics(metrics.clone());
        if let Some(dir) = &cfg.watchdog.snapshot_dir {
            // Checked now, not at the first 2.10 promotion in an incident.
            let probe = dir.join(format!(".natsdr-write-check-{}", std::process::id()));
            std::fs::create_dir_all(dir)
                .and_then(|()| std::fs::write(&probe, b""))
                .and_then(|()| std::fs::remove_file(&probe))
                .map_err(|e| {
                    AppError::Build(format!("watchdog.snapshot_dir {}: {e}", dir.display()))
                })?;
            nats = nats.with_snapshot_store(crate::exec::SnapshotStore::new(dir.clone()));
        }
        let nats = Arc::new(nats);
        let notifier = notifier(&cfg, &metrics).map_err(AppError::Build)?;

        let tls = match &cfg.api.tls {
            None => None,
            Some(t) => Some(Arc::new(
                crate::api::tls::TlsSource::load(t)
                    .map_err(|e| AppError::Build(crate::error_chain(&e)))?,
            )),
        };
        let listener = tokio::net::TcpListener::bind(cfg.api.listen)
            .await
            .map_err(|source| AppError::Listen {
                addr: cfg.api.listen,
                source,
            })?;
        Ok(App {
            parts: Parts {
                lease,
                cfg,
                prober,
                notifier,
                metrics,
                registry,
                tokens,
                audit,
                audit_clients,
                tracker_clients,
                tls,
                listener,
            },
            dns,
            nats,
        })
    }

    /// Serves the API and drives the state machine until `shutdown` resolves, then stops the API
    /// and the consumer tracker and drains audit records, each within a grace period.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let App { parts, dns, nats } = self;
        match dns {
            Some((arbiter, client)) => {
                drive(
                    parts,
                    Executors {
                        arbiter: Arc::new(arbiter),
                        client: Arc::new(client),
                        fencer: nats.clone(),
                        promoter: nats,
                    },
                    shutdown,
                )
                .await;
            }
            // NB: a witness without DNS never acts (the core emits no action for a witness); its
            // executors exist only because the driver is generic over them.
            None => {
                let d = Arc::new(MemoryDns::new(None, None));
                drive(
                    parts,
                    Executors {
                        arbiter: d.clone(),
                        client: d,
                        fencer: nats.clone(),
                        promoter: nats,
                    },
                    shutdown,
                )
                .await;
            }
        }
    }
}

/// The prober, as the driver sees it: the round's details feed the probe metrics here.
struct MeteredProber {
    inner: Prober<AnyArbiter, AnyClientRecord>,
    metrics: Metrics,
    peers: Vec<PeerStatus>,
    depth: BTreeMap<Region, RegionDepth>,
}

impl Probe for MeteredProber {
    async fn round(&mut self, at: Instant, wall: WallTime) -> Observation {
        let (obs, details) = self.inner.round(at, wall).await;
        for (region, d) in &details.regions {
            self.metrics
                .probe(region.as_str(), d.duration.as_secs_f64());
            for e in &d.errors {
                self.metrics.probe_error(region.as_str(), e.probe());
            }
            self.metrics.set_region_depth(
                region.as_str(),
                d.meta.as_ref(),
                d.health.map(|h| h.ok),
                d.leafs.map(|l| l.connections),
            );
        }
        for p in &details.peers {
            self.metrics.set_peer_up(&p.url, p.error.is_none());
        }
        self.peers = details.peers.iter().map(peer_status).collect();
        self.depth = details
            .regions
            .iter()
            .map(|(region, d)| (region.clone(), region_depth(d)))
            .collect();
        obs
    }

    fn peers(&self) -> Vec<PeerStatus> {
        self.peers.clone()
    }

    fn depth(&self) -> BTreeMap<Region, RegionDepth> {
        self.depth.clone()
    }
}

/// How long the watchdog waits for its NATS connections before the first probe round.
const STARTUP_CONNECT_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

fn notifier(
    cfg: &Config,
    metrics: &Metrics,
) -> Result<Option<crate::notify::NotifierHandle>, String> {
    let mut sinks = Vec::new();
    if let Some(p) = &cfg.notify.pagerduty {
        sinks.push(Sink::PagerDuty(PagerDuty {
            events_url: p
                .events_url
                .parse()
                .map_err(|e| format!("notify.pagerduty.events_url: {e}"))?,
            routing_key: p.routing_key.clone(),
            client: format!("natsdr {}", cfg.watchdog.id),
            client_url: p.client_url.as_deref().and_then(|u| u.parse().ok()),
        }));
    }
    for w in &cfg.notify.webhooks {
        sinks.push(Sink::Webhook(Webhook {
            name: w.name.clone(),
            url: w
                .url
                .parse()
                .map_err(|_| format!("notify webhook {}: bad URL", w.name))?,
            secret: w.secret.clone(),
        }));
    }
    if sinks.is_empty() {
        return Ok(None);
    }
    let m = metrics.clone();
    let observer = Arc::new(move |sink: SinkKind, result: DeliveryResult| {
        m.notification(sink.as_str(), result.as_str())
    });
    Notifier {
        sinks,
        capacity: cfg.notify.queue_capacity,
        policy: DeliveryPolicy::default(),
    }
    .spawn(observer)
    .map(Some)
    .map_err(|e| crate::error_chain(&e))
}

/// What `drive` needs besides the executors.
struct Parts {
    /// The region's lease record (the home primary's watchdog only).
    lease: Option<crate::driver::LeaseKeeper>,
    cfg: Arc<Config>,
    prober: Prober<AnyArbiter, AnyClientRecord>,
    notifier: Option<crate::notify::NotifierHandle>,
    metrics: Metrics,
    registry: prometheus_client::registry::Registry,
    tokens: Tokens,
    audit: AuditLog,
    /// The application account's connection to each region, for publishing audit records.
    audit_clients: BTreeMap<Region, async_nats::Client>,
    /// Both regions' clients, for the consumer tracker.
    tracker_clients: crate::nats::Regions,
    /// The API's certificates, when it serves TLS.
    tls: Option<Arc<crate::api::tls::TlsSource>>,
    /// The API's bound address.
    listener: tokio::net::TcpListener,
}

async fn drive<A, C>(
    p: Parts,
    exec: Executors<A, C, NatsExecutor, NatsExecutor>,
    shutdown: impl Future<Output = ()>,
) where
    A: crate::dns::Arbiter + Send + Sync + 'static,
    C: crate::dns::ClientRecord + Send + Sync + 'static,
{
    // The driver's status and the consumer tracker's figures, merged into what the API shows.
    let (driver_status_tx, driver_status) = watch::channel(Arc::new(Status::default()));
    let (status_tx, status) = watch::channel(Arc::new(Status::default()));
    let (summary_tx, summary) = watch::channel(Arc::new(crate::consumers::Summary::new()));
    let merger = tokio::spawn(merge_status(driver_status.clone(), summary, status_tx));
    let (obs_tx, observations) = watch::channel(Arc::new(Observations::default()));
    let (ready_tx, ready) = watch::channel(false);
    let (cmd_tx, cmd_rx) = mpsc::channel::<CommandRequest>(16);
    let (audit_tx, audit_rx) = mpsc::channel(AUDIT_QUEUE);
    let audit = p.audit.with_publisher(audit_tx, p.metrics.clone());
    let audit_publisher = tokio::spawn(
        AuditPublisher {
            clients: p.audit_clients,
            local: p.cfg.watchdog.site.clone(),
            status: status.clone(),
            timeout: p.cfg.timing.step_timeout,
            metrics: p.metrics.clone(),
        }
        .run(audit_rx),
    );
    let ctx = ApiContext {
        status,
        observations,
        ready,
        commands: cmd_tx,
        registry: Arc::new(p.registry),
        metrics: p.metrics.clone(),
        tokens: Arc::new(p.tokens),
        read_requires_token: p.cfg.api.read_requires_token,
        audit,
        regions: p.cfg.regions.iter().map(|r| r.name.clone()).collect(),
        limits: p.cfg.api.limits,
        tls: p.tls,
    };
    tracing::info!(listen = %p.cfg.api.listen, watchdog = %p.cfg.watchdog.id, site = %p.cfg.watchdog.site, "natsdr running");

    let (stop_tx, stop_rx) = watch::channel(false);
    let api_stop = {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let api = tokio::spawn(crate::api::serve_on(p.listener, ctx, api_stop));
    // Only a watchdog tracks consumers: a witness never promotes anything.
    let tracker = match p.cfg.watchdog.role {
        crate::config::Role::Watchdog => {
            let mut rx = stop_rx.clone();
            let stop = async move {
                let _ = rx.wait_for(|s| *s).await;
            };
            Some(tokio::spawn(
                crate::consumers::Tracker::new(
                    p.cfg.clone(),
                    p.tracker_clients,
                    driver_status,
                    summary_tx,
                    p.metrics.clone(),
                )
                .run(stop),
            ))
        }
        crate::config::Role::Witness => {
            drop((driver_status, summary_tx));
            None
        }
    };
    let driver = Driver::new(
        p.cfg.clone(),
        MeteredProber {
            inner: p.prober,
            metrics: p.metrics.clone(),
            peers: Vec::new(),
            depth: BTreeMap::new(),
        },
        exec,
        p.notifier,
        p.metrics,
        Outputs {
            status: driver_status_tx,
            observations: obs_tx,
            ready: ready_tx,
        },
    );
    let driver = match p.lease {
        Some(l) => driver.with_lease(l),
        None => driver,
    };
    driver.run(cmd_rx, shutdown).await;
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(GRACE, api).await;
    if let Some(t) = tracker {
        let _ = tokio::time::timeout(GRACE, t).await;
    }
    merger.abort();
    // NB: the API's audit log was the last sender: the publisher drains what is queued and ends.
    let _ = tokio::time::timeout(GRACE, audit_publisher).await;
    tracing::info!("natsdr stopped");
}

/// Publishes the driver's status with the consumer tracker's figures added, whenever either
/// changes. Ends when the driver's status channel closes.
async fn merge_status(
    mut driver: watch::Receiver<Arc<Status>>,
    mut consumers: watch::Receiver<Arc<crate::consumers::Summary>>,
    out: watch::Sender<Arc<Status>>,
) {
    loop {
        let mut s = driver.borrow_and_update().as_ref().clone();
        s.consumers = consumers.borrow_and_update().as_ref().clone();
        let _ = out.send(Arc::new(s));
        tokio::select! {
            r = driver.changed() => if r.is_err() { return },
            r = consumers.changed() => if r.is_err() {
                // No tracker: the driver's status alone from now on.
                while driver.changed().await.is_ok() {
                    let _ = out.send(driver.borrow_and_update().clone());
                }
                return;
            },
        }
    }
}
