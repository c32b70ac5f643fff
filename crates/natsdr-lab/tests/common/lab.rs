//! Test fixture for the real lab: the two regions' names, a lab builder, the topology applied,
//! the three watchdogs started, and a status told for failure messages. Every lab test starts
//! its lab here, so a change to how a lab starts is made once.
//!
//! NB: `env!("CARGO_BIN_EXE_natsdr-lab")` only exists in integration tests, which is why this
//! lives in `tests/common` and not in the lab library.
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use natsdr::api::model::Status;
use natsdr::config::Config;
use natsdr::dns::{Arbiter, Rfc2136, rfc2136_config};
use natsdr::model::{Epoch, Region, StreamName};
use natsdr::nats::{JsApi, RegionClients, Regions};
use natsdr::topology::{Desired, Drift, apply, expected, observe, plan};
use natsdr_lab::demo::caught_up;
use natsdr_lab::lab::watchdogs::{Dog, Watchdogs};
use natsdr_lab::lab::{
    Lab, LabOptions, LabRegion, LabSource, Site, WanProfile, find_compat_nats_server,
    find_nats_server, find_natsdr,
};

/// The home primary region.
pub fn us() -> Region {
    Region::new("us-east-1").unwrap()
}

/// The standby region.
pub fn eu() -> Region {
    Region::new("eu-central-1").unwrap()
}

/// The natsdr binary built beside this test (`cargo build --workspace --bins`).
pub fn natsdr_exe() -> PathBuf {
    find_natsdr().expect("the natsdr binary")
}

/// How to start a lab: the default nats-server on a LAN, owned by this test process (so a
/// killed test takes its lab with it), 60 s to get ready.
pub struct LabBuilder {
    /// `None`: the default one, looked up when the lab starts.
    nats_server: Option<PathBuf>,
    owner_pid: Option<u32>,
    wan: WanProfile,
    ready_timeout: Duration,
    tls: bool,
    source: Option<LabSource>,
}

/// A lab on a LAN.
pub fn lab() -> LabBuilder {
    lab_with(WanProfile::Lan)
}

/// A lab whose places are `wan` apart.
pub fn lab_with(wan: WanProfile) -> LabBuilder {
    LabBuilder {
        nats_server: None,
        owner_pid: Some(std::process::id()),
        wan,
        ready_timeout: Duration::from_secs(60),
        tls: false,
        source: None,
    }
}

impl LabBuilder {
    /// Runs the older pinned nats-server (2.10) instead of the default one. Its meta groups have
    /// taken over 60 s to call every replica current on a loaded 2-core machine (a readiness
    /// wait, not a speed check): it gets 150 s.
    pub fn compat(self) -> Self {
        self.nats_server(
            find_compat_nats_server().expect("compat nats-server is installed (make deps)"),
        )
        .ready_timeout(Duration::from_secs(150))
    }

    /// Runs this nats-server binary.
    pub fn nats_server(mut self, path: PathBuf) -> Self {
        self.nats_server = Some(path);
        self
    }

    /// Ties the lab's life to `pid` (`None`: the lab lives until it is shut down or dropped).
    pub fn owner(mut self, pid: Option<u32>) -> Self {
        self.owner_pid = pid;
        self
    }

    /// Watchdogs on HTTPS with mutual TLS, on certificates the lab makes.
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Runs the regions, policy and topology of the natsdr config at `path` (a file of this
    /// repository, e.g. `config/blue-green.example.toml`).
    pub fn config(mut self, path: &str) -> Self {
        let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(path);
        self.source = Some(LabSource::load(&file).expect("the config is a lab source"));
        self
    }

    /// Gives up on readiness after `timeout`.
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// The options for a lab in `dir`.
    pub fn options(&self, dir: PathBuf) -> LabOptions {
        LabOptions {
            dir,
            nats_server: self.nats_server.clone().unwrap_or_else(|| {
                find_nats_server().expect("nats-server is installed (make deps)")
            }),
            natsdr_exe: natsdr_exe(),
            lab_exe: env!("CARGO_BIN_EXE_natsdr-lab").into(),
            owner_pid: self.owner_pid,
            ready_timeout: self.ready_timeout,
            wan: self.wan,
            tls: self.tls,
            source: self.source.clone(),
        }
    }

    /// Starts the lab in a fresh temporary directory (removed when the returned guard drops).
    pub async fn start(self) -> (tempfile::TempDir, Lab) {
        let tmp = tempfile::tempdir().expect("temp dir");
        let lab = Lab::up(self.options(tmp.path().join("lab")))
            .await
            .expect("lab starts");
        (tmp, lab)
    }

    /// Starts the lab and applies the topology of its `natsdr.toml` in both regions.
    pub async fn up(self) -> Fixture {
        let (tmp, lab) = self.start().await;
        let cfg = Config::load(&lab.manifest().natsdr_config).expect("the lab's config is valid");
        let clients = apply_topology(&cfg).await;
        Fixture {
            lab,
            cfg,
            clients,
            tmp,
        }
    }
}

/// A running lab with its topology applied.
pub struct Fixture {
    /// The lab (dropped first: its processes die before their directory goes).
    pub lab: Lab,
    /// The lab's `natsdr.toml`.
    pub cfg: Config,
    /// The operator's connections to each region, as used to apply the topology.
    pub clients: BTreeMap<Region, RegionClients>,
    /// The lab's temporary directory, removed last.
    pub tmp: tempfile::TempDir,
}

impl Fixture {
    /// The JetStream API of `region` on the operator's connection.
    pub fn js(&self, region: &Region) -> &JsApi {
        &self.clients[region].js
    }

    /// Every region's JetStream API.
    pub fn apis(&self) -> BTreeMap<Region, JsApi> {
        self.clients
            .iter()
            .map(|(r, c)| (r.clone(), c.js.clone()))
            .collect()
    }

    /// Some history in every mirrored US stream, so that a promotion has something to keep.
    pub async fn with_history(self) -> Self {
        publish_history(
            self.js(&us()),
            &["events.created", "audit.login", "metrics.cpu"],
            5,
        )
        .await;
        self
    }

    /// Starts the three watchdogs with `env` added to theirs, and waits until US and EU are
    /// healthy at epoch 1, EU's mirrors caught up.
    pub async fn watchdogs(self, env: &[(&str, &str)]) -> Running {
        let dogs = Watchdogs::start(
            self.lab.manifest(),
            &natsdr_exe(),
            env,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
        for site in [Site::Us, Site::Eu] {
            wait_healthy(&dogs, site).await;
        }
        Running {
            lab: self.lab,
            dogs,
            cfg: self.cfg,
            tmp: self.tmp,
        }
    }
}

/// A lab with its topology applied and the three watchdogs running.
pub struct Running {
    /// The lab.
    pub lab: Lab,
    /// The watchdogs (US, EU, the witness).
    pub dogs: Watchdogs,
    /// The lab's `natsdr.toml`.
    pub cfg: Config,
    /// The lab's temporary directory, removed last.
    pub tmp: tempfile::TempDir,
}

impl Running {
    /// Kills the whole US region and waits for EU to fail over; checks the arbiter names EU at
    /// epoch 2. Returns how long the failover took and EU's status then.
    pub async fn lose_us(&mut self) -> (Duration, Status) {
        let killed = tokio::time::Instant::now();
        self.lab.kill_region(LabRegion::Us).await.unwrap();
        let st = in_state(&self.dogs, Site::Eu, "failed_over", 40).await;
        let took = killed.elapsed();
        let owner = Arbiter::read(&dns(&self.cfg)).await.unwrap().unwrap();
        assert_eq!((owner.region, owner.epoch), (eu(), Epoch(2)));
        (took, st)
    }
}

/// Sends `verb` with `reason` to `dog`'s API and checks it was accepted (202).
pub async fn accepted(dogs: &Watchdogs, dog: impl Into<Dog>, verb: &str, reason: &str) {
    let (code, body) = command(dogs, dog, verb, serde_json::json!({ "reason": reason })).await;
    assert_eq!(code, 202, "{verb}: {body}");
}

/// Restarts the US region, waits until the US watchdog sees it back and fenced, has an operator
/// fail back (asking again for up to `retry` while a refusal's body passes `retryable`), and
/// waits until the failback completed. Returns the US watchdog's status then and how long the
/// failback took from the first request.
pub async fn fail_back(
    lab: &mut Lab,
    dogs: &Watchdogs,
    retry: Duration,
    retryable: impl Fn(&serde_json::Value) -> bool,
) -> (Status, Duration) {
    lab.restart_region(LabRegion::Us).await.unwrap();
    status_until(
        dogs,
        Site::Us,
        Duration::from_secs(60),
        "US never came back fenced",
        |s| {
            s.regions
                .iter()
                .any(|r| r.region == us() && r.up && r.fenced)
        },
    )
    .await;
    let t0 = tokio::time::Instant::now();
    let (code, body) = loop {
        let reason = serde_json::json!({"reason": "US is back"});
        let (code, body) = command(dogs, Site::Us, "failback", reason).await;
        if code < 300 || !retryable(&body) || t0.elapsed() > retry {
            break (code, body);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(code < 300, "failback refused: {code} {body}");
    let done = status_until(
        dogs,
        Site::Us,
        Duration::from_secs(120),
        "the failback never completed",
        |s| {
            s.transitions
                .iter()
                .any(|t| t.from == "failing_back" && t.to == "healthy")
        },
    )
    .await;
    (done, t0.elapsed())
}

/// The arbiter and client record the config's `[dns]` section describes (the lab's BIND).
pub fn dns(cfg: &Config) -> Rfc2136 {
    Rfc2136::new(&rfc2136_config(cfg).unwrap()).unwrap()
}

/// Fresh operator connections to `region` of `cfg`.
pub async fn connect(cfg: &Config, region: &Region) -> RegionClients {
    RegionClients::for_region(cfg.region(region).unwrap(), "test", Duration::from_secs(5))
        .await
        .unwrap()
}

/// A fresh JetStream API connection to `region` of `cfg`.
pub async fn js(cfg: &Config, region: &Region) -> JsApi {
    connect(cfg, region).await.js
}

/// Applies the topology `cfg` describes in every region (every step must be a change);
/// returns the connections it used.
pub async fn apply_topology(cfg: &Config) -> BTreeMap<Region, RegionClients> {
    let mut clients = BTreeMap::new();
    for r in &cfg.regions {
        clients.insert(r.name.clone(), connect(cfg, &r.name).await);
    }
    let apis = clients
        .iter()
        .map(|(r, c)| (r.clone(), c.js.clone()))
        .collect();
    let changes = apply(&expected(&Desired::from(cfg)).unwrap(), &apis).await;
    let failed: Vec<String> = changes
        .iter()
        .filter(|c| !c.is_change())
        .map(ToString::to_string)
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    clients
}

/// Publishes `n` messages to each of `subjects` on `js`'s connection, then flushes.
pub async fn publish_history(js: &JsApi, subjects: &[&str], n: usize) {
    for subj in subjects {
        for i in 0..n {
            js.client()
                .publish((*subj).to_owned(), format!("{i}").into())
                .await
                .unwrap();
        }
    }
    js.client().flush().await.unwrap();
}

/// Waits until `dog`'s status passes `check`; after `within`, panics with `what` (saying what
/// never happened) and the last status's story.
pub async fn status_until(
    dogs: &Watchdogs,
    dog: impl Into<Dog>,
    within: Duration,
    what: &str,
    check: impl Fn(&Status) -> bool,
) -> Status {
    dogs.wait_for(dog, within, check)
        .await
        .unwrap_or_else(|s| panic!("{what} (waited {within:?})\n{}", story(&s)))
}

/// Waits up to `secs` seconds until `dog` is in `state`.
pub async fn in_state(dogs: &Watchdogs, dog: impl Into<Dog>, state: &str, secs: u64) -> Status {
    let dog = dog.into();
    let what = format!("{dog} never {state}");
    status_until(dogs, dog, Duration::from_secs(secs), &what, |s| {
        s.state == state
    })
    .await
}

/// Sends `verb` with `body` to `dog`'s API; returns the HTTP status and the JSON answer.
pub async fn command(
    dogs: &Watchdogs,
    dog: impl Into<Dog>,
    verb: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    dogs.command(dog, verb, body).await.unwrap()
}

/// Waits until `dog` is healthy and, for EU, its mirrors are caught up; checks epoch 1.
pub async fn wait_healthy(dogs: &Watchdogs, dog: impl Into<Dog>) {
    let dog = dog.into();
    let s = status_until(
        dogs,
        dog,
        Duration::from_secs(30),
        &format!("{dog} never healthy and caught up"),
        |s| s.state == "healthy" && caught_up(s),
    )
    .await;
    assert_eq!(s.epoch, Some(Epoch(1)), "{}", story(&s));
}

/// Whether the watchdog ever entered `state`.
pub fn went_through(s: &Status, state: &str) -> bool {
    s.transitions.iter().any(|t| t.to == state)
}

/// Checks that the watchdog never entered any of `states`.
pub fn never_went_through(s: &Status, states: &[&str]) {
    for state in states {
        assert!(
            !went_through(s, state),
            "went through {state}: {}",
            story(s)
        );
    }
}

/// Publishes `x` on `subject` through `js`'s connection and returns JetStream's ack (stream,
/// seq), which must come.
pub async fn js_ack(js: &JsApi, subject: &str) -> serde_json::Value {
    let ack = js
        .client()
        .request(subject.to_owned(), "x".into())
        .await
        .unwrap();
    serde_json::from_slice(&ack.payload).unwrap()
}

/// A status told for a failure message: the transitions with their reasons and the regions
/// come first (a pretty-printed `Status` is cut off in CI before them), then everything.
pub fn story(s: &Status) -> String {
    let mut out = format!(
        "{} is {} ({}), epoch {:?}, next: {}\n",
        s.watchdog, s.state, s.mode, s.epoch, s.next
    );
    for t in &s.transitions {
        out += &format!("  {} {} -> {}: {}\n", t.at, t.from, t.to, t.reason);
    }
    for r in &s.regions {
        out += &format!(
            "  region {} up={} servers={}/{} fenced={} error={:?}\n",
            r.region, r.up, r.servers, r.cluster_size, r.fenced, r.error
        );
    }
    out + &format!("{s:#?}")
}

/// Stream names from strings (every one valid).
pub fn names(streams: &[&str]) -> Vec<StreamName> {
    streams
        .iter()
        .map(|s| StreamName::new(*s).unwrap())
        .collect()
}

/// What `plan` shows between `desired` and what the regions hold (observing must not fail).
pub async fn drift(regions: &Regions, desired: &Desired) -> Vec<Drift> {
    let apis: BTreeMap<Region, JsApi> = regions
        .iter()
        .map(|(r, c)| (r.clone(), c.js.clone()))
        .collect();
    let (actual, errors) = observe(&apis).await;
    assert!(errors.is_empty(), "{errors:?}");
    plan(&expected(desired).unwrap(), &actual)
}

/// What `plan` shows for `region` alone.
pub async fn drift_in(regions: &Regions, desired: &Desired, region: &Region) -> Vec<Drift> {
    let all = drift(regions, desired).await;
    all.into_iter().filter(|d| d.region() == region).collect()
}
