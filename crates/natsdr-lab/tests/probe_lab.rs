//! Probe rounds against the real lab: two 3-node regions joined by leafnodes, BIND as the
//! arbiter and client record, and a peer served by the real API router. The prober sees the lab
//! as the EU watchdog does (through its `wd:eu->*` and `peer:eu->*` paths). Needs nats-server
//! and BIND: without them this fails, never skips.
mod common;

use std::sync::Arc;
use std::time::Duration;

use natsdr::{
    api::{
        self, ApiContext, CommandRequest,
        audit::AuditLog,
        auth::Tokens,
        model::{Observations, RegionVerdict, ReportAge, Status},
    },
    config::Config,
    core::{self, Health, Observation, Ownership, StreamRole, Vantage, WallTime},
    dns::Rfc2136,
    model::{Epoch, Region},
    nats::connect_regions,
    probe::{Prober, RoundDetails},
    telemetry::Metrics,
};
use natsdr_lab::lab::{LabRegion, NetPath, Site};
use tokio::sync::{mpsc, watch};

use common::lab::{dns, eu, lab, us};
use common::request_each;

type LabProber = Prober<Rfc2136, Rfc2136>;

/// Serves the real API router on `addr` with `observations` as its latest report.
async fn serve_peer(addr: std::net::SocketAddr, observations: Observations) {
    let (status_tx, status) = watch::channel(Arc::new(Status::default()));
    let (obs_tx, observations) = watch::channel(Arc::new(observations));
    let (ready_tx, ready) = watch::channel(true);
    let (commands, commands_rx) = mpsc::channel::<CommandRequest>(1);
    let (registry, metrics) = Metrics::new(&[], &[], &[]);
    let ctx = ApiContext {
        status,
        observations,
        ready,
        commands,
        registry: Arc::new(registry),
        metrics,
        tokens: Arc::new(Tokens::parse("").unwrap()),
        read_requires_token: false,
        audit: AuditLog::open(None).unwrap(),
        regions: vec![us(), eu()],
        limits: natsdr::config::ApiLimits::default(),
        tls: None,
    };
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    tokio::spawn(async move {
        // Keeps the senders alive as long as the server runs.
        let _keep = (obs_tx, status_tx, ready_tx, commands_rx);
        api::serve_on(listener, ctx, std::future::pending()).await
    });
}

/// A clock for the rounds: the driver's monotonic axis starts with the test.
struct Clock(tokio::time::Instant);

impl Clock {
    fn now(&self) -> (core::Instant, WallTime) {
        let at = core::Instant(u64::try_from(self.0.elapsed().as_millis()).unwrap());
        let wall = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        (at, WallTime(i64::try_from(wall).unwrap()))
    }
}

async fn round(p: &mut LabProber, clock: &Clock) -> (Observation, RoundDetails) {
    let (at, wall) = clock.now();
    p.round(at, wall).await
}

/// Rounds until `check` holds (one per 300 ms); panics with the last observation after `limit`.
async fn until(
    p: &mut LabProber,
    clock: &Clock,
    what: &str,
    limit: Duration,
    check: impl Fn(&Observation) -> bool,
) -> (Observation, RoundDetails) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let (obs, details) = round(p, clock).await;
        if check(&obs) {
            return (obs, details);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {limit:?}: {what}\n{obs:#?}\n{details:#?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Rounds until `check` holds on the round's details (one per 300 ms); panics with the last
/// details after `limit`.
async fn until_details(
    p: &mut LabProber,
    clock: &Clock,
    what: &str,
    limit: Duration,
    check: impl Fn(&RoundDetails) -> bool,
) -> RoundDetails {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let (_, details) = round(p, clock).await;
        if check(&details) {
            return details;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {limit:?}: {what}\n{details:#?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The meta leader's count of (current, offline) peers, if a leader answered JSZ.
fn meta_peers(d: &RoundDetails, r: &Region) -> Option<(u32, u32)> {
    let m = d.regions.get(r)?.meta.as_ref()?;
    Some((m.peers_current, m.peers_offline))
}

/// HEALTHZ (answered, ok), if the request went out.
fn healthz(d: &RoundDetails, r: &Region) -> Option<(u32, u32)> {
    let h = d.regions.get(r)?.health?;
    Some((h.answered, h.ok))
}

/// Leafnode connections the region's servers reported in LEAFZ.
fn leafnodes(d: &RoundDetails, r: &Region) -> Option<u32> {
    Some(d.regions.get(r)?.leafs?.connections)
}

/// A whole region as the deeper probes see it: a leader hearing both peers, three healthy
/// servers, and three leafnode links (one per EU server, each landing on some US server).
fn deep_whole(d: &RoundDetails, r: &Region) -> bool {
    meta_peers(d, r) == Some((2, 0)) && healthz(d, r) == Some((3, 3)) && leafnodes(d, r) == Some(3)
}

fn mirror<'a>(obs: &'a Observation, name: &str) -> &'a core::StreamView {
    obs.regions[&eu()]
        .streams
        .iter()
        .find(|s| s.name.as_str() == name)
        .unwrap_or_else(|| panic!("{name} is reported"))
}

fn mirrors(obs: &Observation) -> Vec<&core::StreamView> {
    obs.regions
        .get(&eu())
        .map(|v| {
            v.streams
                .iter()
                .filter(|s| s.role == StreamRole::Mirror)
                .collect()
        })
        .unwrap_or_default()
}

/// Every server of the region answered this round's ping. One round on a loaded machine can
/// miss the ping window while the stream listing still answers (that is a reachable region with
/// unknown membership, not a whole one), so the test waits for a round that saw all of them.
fn whole(obs: &Observation, r: &Region) -> bool {
    obs.regions
        .get(r)
        .is_some_and(|v| v.reachable && v.servers_up == v.cluster_size)
}

fn caught_up(obs: &Observation) -> bool {
    let ms = mirrors(obs);
    ms.len() == 3
        && ms.iter().all(|s| {
            s.mirror.as_ref().is_some_and(|m| {
                m.lag_msgs == Some(0)
                    && m.lag_age == Some(Duration::ZERO)
                    && m.active_age.is_some_and(|a| a < Duration::from_secs(2))
            })
        })
}

#[tokio::test]
async fn probe_rounds_follow_the_lab_through_lag_node_loss_and_region_loss() {
    let fx = lab().up().await;
    let (mut lab, operator) = (fx.lab, fx.clients);
    let (us, eu) = (us(), eu());

    // The US watchdog's API answers through the EU watchdog's peer path, with a report made
    // two seconds ago; the witness runs nothing at all.
    let us_wd = lab.manifest().watchdog(Site::Us).clone();
    let made = tokio::time::Instant::now() - Duration::from_secs(2);
    serve_peer(
        us_wd.api_listen,
        Observations {
            from: us_wd.id.clone(),
            age: ReportAge::Since(made),
            owner: Some(Ownership {
                region: us.clone(),
                epoch: Epoch(1),
            }),
            regions: vec![RegionVerdict {
                region: us.clone(),
                up: true,
                servers: 3,
                fenced: false,
                health: Health::Healthy,
                serving_before_ms: Some(0),
                guard_before_ms: Some(0),
                guarding: true,
            }],
            ..Observations::default()
        },
    )
    .await;

    let config = Arc::new(Config::load(&lab.manifest().watchdog(Site::Eu).config).unwrap());
    let bound = config.timing.probe_timeout;
    let regions = connect_regions(&config, "probe-test-eu", bound)
        .await
        .unwrap();
    let mut prober =
        Prober::new(config.clone(), regions, Some((dns(&config), dns(&config)))).unwrap();
    let clock = Clock(tokio::time::Instant::now());

    // 1. Healthy: both regions whole, mirrors caught up and hearing their sources, the arbiter
    //    and DNS on us-east-1, the peer's report aged by its own clock, no witness report.
    let (obs, details) = until(
        &mut prober,
        &clock,
        "mirrors caught up and both regions whole",
        Duration::from_secs(30),
        |o| caught_up(o) && whole(o, &us) && whole(o, &eu),
    )
    .await;
    for r in [&us, &eu] {
        let v = &obs.regions[r];
        assert!(
            v.reachable && v.servers_up == 3 && v.cluster_size == 3,
            "{r}: {v:?}"
        );
        assert!(details.regions[r].meta_leader, "{r}");
    }
    for m in mirrors(&obs) {
        let mv = m.mirror.as_ref().unwrap();
        assert_eq!(mv.source_last_seq, Some(m.last_seq), "{}", m.name);
        assert!(m.origin.is_some());
    }
    let streams: usize = obs.regions.values().map(|v| v.streams.len()).sum();
    assert_eq!(streams, 9, "4 US streams, 3 mirrors, 2 GDPR streams");
    assert_eq!(
        obs.arbiter,
        Some(Ownership {
            region: us.clone(),
            epoch: Epoch(1)
        })
    );
    assert_eq!(obs.dns, Some(us.clone()));
    assert_eq!(obs.reports.len(), 1, "{:?}", obs.reports);
    let peer = &obs.reports[0];
    assert_eq!(peer.vantage, Vantage::Peer);
    // Served as old as it was then, plus the whole fetch (conservative): never younger than it
    // is, and older by at most one fetch (bounded by the probe timeout).
    assert!(
        peer.age >= Duration::from_secs(2) && peer.age <= made.elapsed() + bound,
        "{:?} (made {:?} ago)",
        peer.age,
        made.elapsed()
    );
    assert_eq!(peer.health[&us], Health::Healthy);
    let witness = details
        .peers
        .iter()
        .find(|p| p.vantage == Vantage::Witness)
        .unwrap();
    assert!(witness.error.is_some(), "nothing serves the witness");
    // The deeper probes agree: each region's meta leader hears both peers, every server is
    // healthy, and the three leafnode links show on both sides.
    until_details(
        &mut prober,
        &clock,
        "JSZ, HEALTHZ and LEAFZ see both regions whole",
        Duration::from_secs(30),
        |d| deep_whole(d, &us) && deep_whole(d, &eu),
    )
    .await;
    let mut durations = Vec::new();
    for _ in 0..5 {
        durations.push(round(&mut prober, &clock).await.1.duration);
    }
    println!("healthy round with {streams} streams, 1 live and 1 dead peer: {durations:?}");

    // 2. The leaf path is cut and US takes 5 messages: the mirror is 5 behind, dated by the
    //    first message it lacks, and stops hearing from its source.
    lab.cut(NetPath::Leaf).await.unwrap();
    let us_js = &operator[&us].js;
    request_each(us_js, "events.probe", 5).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (obs, _) = round(&mut prober, &clock).await;
    let m = mirror(&obs, "events-eu-mirror").mirror.clone().unwrap();
    assert_eq!(m.lag_msgs, Some(5), "{m:?}");
    assert!(m.lag_age.is_some_and(|a| a > Duration::ZERO), "{m:?}");
    let (obs, _) = until(
        &mut prober,
        &clock,
        "the mirror goes quiet",
        Duration::from_secs(15),
        |o| {
            mirror(o, "events-eu-mirror")
                .mirror
                .as_ref()
                .and_then(|m| m.active_age)
                .is_some_and(|a| a > Duration::from_secs(3))
        },
    )
    .await;
    let later = mirror(&obs, "events-eu-mirror").mirror.clone().unwrap();
    assert_eq!(later.lag_msgs, Some(5));
    assert!(later.lag_age > m.lag_age, "{later:?} vs {m:?}");
    // The servers drop the blackholed links after their pings go unanswered (1 s x 3 in the
    // lab): LEAFZ shows no link on either side while both clusters stay whole.
    let d = until_details(
        &mut prober,
        &clock,
        "LEAFZ shows the leafnode links down",
        Duration::from_secs(30),
        |d| leafnodes(d, &eu) == Some(0) && leafnodes(d, &us) == Some(0),
    )
    .await;
    assert_eq!(d.regions[&eu].leafs.unwrap().answered, 3, "{d:#?}");
    lab.heal(NetPath::Leaf).await.unwrap();
    until(
        &mut prober,
        &clock,
        "mirrors catch up after the heal",
        Duration::from_secs(30),
        caught_up,
    )
    .await;
    until_details(
        &mut prober,
        &clock,
        "LEAFZ shows the links back",
        Duration::from_secs(30),
        |d| leafnodes(d, &eu) == Some(3),
    )
    .await;

    // 3. One US node dies: two servers answer, the region is degraded, not down.
    lab.kill_node(LabRegion::Us, 2).await.unwrap();
    let (obs, _) = until(
        &mut prober,
        &clock,
        "US has 2 servers",
        Duration::from_secs(15),
        |o| o.regions[&us].servers_up == 2,
    )
    .await;
    assert_eq!(obs.regions[&us].health(), Health::Degraded);
    // Its HEALTHZ reply is simply missing, and the two survivors keep a meta leader. NB: the
    // meta leader's JSZ is not asserted here: on nats-server 2.15.1 it kept listing the killed
    // peer as current with an `active` age under 1 s for 30 s in 4 of 5 runs on this machine
    // (in others the age grew past 3 s), so a single lost node is read from PING and HEALTHZ.
    let d = until_details(
        &mut prober,
        &clock,
        "HEALTHZ shows two healthy servers and JSZ a leader",
        Duration::from_secs(30),
        |d| {
            healthz(d, &us) == Some((2, 2))
                && d.regions[&us]
                    .meta
                    .as_ref()
                    .is_some_and(|m| m.leader.is_some())
        },
    )
    .await;
    let meta = d.regions[&us].meta.clone().unwrap();
    let killed = lab.manifest().node(LabRegion::Us, 2).unwrap().name.clone();
    assert_ne!(meta.leader.as_ref(), Some(&killed), "{meta:?}");
    println!("JSZ after one node's loss: {meta:?}");
    lab.restart_node(LabRegion::Us, 2).await.unwrap();
    until(
        &mut prober,
        &clock,
        "US whole again",
        Duration::from_secs(30),
        |o| o.regions[&us].servers_up == 3,
    )
    .await;
    until_details(
        &mut prober,
        &clock,
        "JSZ and HEALTHZ see the restarted node",
        Duration::from_secs(60),
        |d| meta_peers(d, &us) == Some((2, 0)) && healthz(d, &us) == Some((3, 3)),
    )
    .await;

    // 4. US and its watchdog silently blackholed from this one: the very next round says US is
    //    unreachable and holds the peer's last report, aged; it returns within the probe
    //    timeout (plus scheduling slack), with EU still seen.
    let peer_path = NetPath::Peer {
        from: Site::Eu,
        to: Site::Us,
    };
    let (before, _) = round(&mut prober, &clock).await;
    lab.cut(NetPath::Watchdog {
        from: Site::Eu,
        to: LabRegion::Us,
    })
    .await
    .unwrap();
    lab.cut(peer_path).await.unwrap();
    let (obs, details) = round(&mut prober, &clock).await;
    assert_eq!(obs.reports.len(), 1, "the last good report is held");
    assert!(obs.reports[0].age > before.reports[0].age);
    let us_peer = details
        .peers
        .iter()
        .find(|p| p.vantage == Vantage::Peer)
        .unwrap();
    assert!(us_peer.error.is_some(), "{us_peer:?}");
    println!("round with US blackholed: {:?}", details.duration);
    let v = &obs.regions[&us];
    assert!(
        !v.reachable && v.servers_up == 0 && v.streams.is_empty(),
        "{v:?}"
    );
    assert!(obs.regions[&eu].reachable);
    assert!(
        details.duration < bound + Duration::from_millis(700),
        "{details:?}"
    );
    let m = mirror(&obs, "events-eu-mirror").mirror.clone().unwrap();
    assert_eq!(m.lag_msgs, Some(0), "the last known lag stands");
    assert_eq!(m.source_last_seq, None);
    lab.heal(NetPath::Watchdog {
        from: Site::Eu,
        to: LabRegion::Us,
    })
    .await
    .unwrap();
    lab.heal(peer_path).await.unwrap();
    until(
        &mut prober,
        &clock,
        "US seen again",
        Duration::from_secs(30),
        |o| o.regions[&us].reachable && o.regions[&us].servers_up == 3,
    )
    .await;

    // 5. The whole US region dies: unreachable within one round, bounded the same way.
    lab.kill_region(LabRegion::Us).await.unwrap();
    let (obs, details) = round(&mut prober, &clock).await;
    println!("round with US dead: {:?}", details.duration);
    assert!(!obs.regions[&us].reachable, "{:?}", obs.regions[&us]);
    assert_eq!(obs.regions[&us].health(), Health::Down);
    let dead = &details.regions[&us];
    assert!(dead.meta.is_none(), "{dead:?}");
    assert_eq!(dead.health.map(|h| h.answered), Some(0), "{dead:?}");
    assert!(
        details.duration < bound + Duration::from_millis(700),
        "{details:?}"
    );

    lab.shutdown().await.unwrap();
}
