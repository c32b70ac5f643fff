//! The core failover outcomes (region loss, node loss, cut link, pause, quorum loss, RPO
//! budget), each on the real lab: three real natsdr processes (us and eu watchdogs, the
//! witness), two real 3-node NATS regions, a real BIND holding the arbiter and the client
//! record. Needs nats-server and BIND (make deps):
//! without them these fail, never skip.
use std::time::Duration;

use natsdr::api::model::Status;
use natsdr::config::Config;
use natsdr::dns::{Arbiter, ClientRecord, ClientTarget, Rfc2136, rfc2136_config};
use natsdr::model::{Epoch, Region};
use natsdr::nats::{JsApi, RegionClients};
use natsdr::topology::{Desired, apply, expected};
use natsdr_lab::lab::watchdogs::Watchdogs;
use natsdr_lab::lab::{Lab, LabOptions, LabRegion, NetPath, Site, find_nats_server};

struct Setup {
    lab: Lab,
    dogs: Watchdogs,
    cfg: Config,
    _tmp: tempfile::TempDir,
}

fn us() -> Region {
    Region::new("us-east-1").unwrap()
}
fn eu() -> Region {
    Region::new("eu-central-1").unwrap()
}

async fn js(cfg: &Config, r: &Region) -> JsApi {
    RegionClients::for_region(cfg.region(r).unwrap(), "test", Duration::from_secs(3))
        .await
        .unwrap()
        .js
}

async fn setup() -> Setup {
    setup_with(&[]).await
}

/// A healthy lab with the topology applied, some history in every mirrored stream, and the
/// three watchdogs running (with `env` added to theirs), healthy and caught up.
async fn setup_with(env: &[(&str, &str)]) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let lab = Lab::up(LabOptions {
        dir: tmp.path().join("lab"),
        nats_server: find_nats_server().expect("nats-server is installed (make deps)"),
        natsdr_exe: natsdr_lab::lab::find_natsdr().expect("the natsdr binary"),
        lab_exe: env!("CARGO_BIN_EXE_natsdr-lab").into(),
        owner_pid: Some(std::process::id()),
        ready_timeout: Duration::from_secs(60),
        wan: natsdr_lab::lab::WanProfile::Lan,
    })
    .await
    .expect("lab starts");
    let cfg = Config::load(&lab.manifest().natsdr_config).unwrap();
    let exp = expected(&Desired::from(&cfg)).unwrap();
    let mut apis = std::collections::BTreeMap::new();
    for r in &cfg.regions {
        apis.insert(r.name.clone(), js(&cfg, &r.name).await);
    }
    let changes = apply(&exp, &apis).await;
    assert!(changes.iter().all(|c| c.is_change()), "{changes:?}");
    // Some history in every mirrored stream, so a promotion has something to keep.
    let us_js = &apis[&us()];
    for subj in ["events.created", "audit.login", "metrics.cpu"] {
        for i in 0..5 {
            us_js
                .client()
                .publish(subj.to_owned(), format!("{i}").into())
                .await
                .unwrap();
        }
    }
    us_js.client().flush().await.unwrap();
    let exe: &std::path::Path = &natsdr_lab::lab::find_natsdr().expect("the natsdr binary");
    let dogs = Watchdogs::start(lab.manifest(), exe, env, Duration::from_secs(30))
        .await
        .unwrap();
    for site in [Site::Us, Site::Eu] {
        let s = dogs
            .wait_for(site, Duration::from_secs(30), |s| {
                s.state == "healthy" && caught_up(s)
            })
            .await
            .unwrap_or_else(|s| panic!("{site:?} never healthy and caught up: {}", story(&s)));
        assert_eq!(s.epoch, Some(Epoch(1)));
    }
    Setup {
        lab,
        dogs,
        cfg,
        _tmp: tmp,
    }
}

fn caught_up(s: &Status) -> bool {
    s.site != "eu-central-1"
        || (!s.mirrors.is_empty() && s.mirrors.iter().all(|m| m.lag_messages == Some(0)))
}

/// A status told for a failure message: the transitions with their reasons come first (a
/// pretty-printed `Status` is cut off in CI before them).
fn story(s: &Status) -> String {
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

fn went_through(s: &Status, state: &str) -> bool {
    s.transitions.iter().any(|t| t.to == state)
}

fn dns(cfg: &Config) -> Rfc2136 {
    Rfc2136::new(&rfc2136_config(cfg).unwrap()).unwrap()
}

/// The whole US region dies; EU fails over (epoch +1, DNS swapped, mirrors
/// promoted with their history, GDPR streams untouched); the old US comes back unfenced and is
/// fenced at once.
#[tokio::test]
async fn a_lost_primary_region_fails_over_and_a_returning_one_is_fenced() {
    let mut s = setup().await;
    let eu_js = js(&s.cfg, &eu()).await;
    let gdpr_before = eu_js.stream_info("events-eu-gdpr").await.unwrap().config;
    let events_before = eu_js
        .stream_info("events-eu-mirror")
        .await
        .unwrap()
        .state
        .last_seq;

    let killed = tokio::time::Instant::now();
    s.lab.kill_region(LabRegion::Us).await.unwrap();
    let st = s
        .dogs
        .wait_for(Site::Eu, Duration::from_secs(40), |s| {
            s.state == "failed_over"
        })
        .await
        .unwrap_or_else(|st| panic!("EU never failed over: {}", story(&st)));
    println!("region loss -> failed_over in {:?}", killed.elapsed());
    assert_eq!(st.epoch, Some(Epoch(2)));
    assert_eq!(st.active_region, Some(eu()));

    let dns = dns(&s.cfg);
    let owner = Arbiter::read(&dns).await.unwrap().unwrap();
    assert_eq!((owner.region.clone(), owner.epoch), (eu(), Epoch(2)));
    let eu_entry = s
        .lab
        .manifest()
        .regions
        .iter()
        .find(|r| r.region == LabRegion::Eu)
        .unwrap()
        .entry_ip;
    assert_eq!(
        ClientRecord::read(&dns).await.unwrap(),
        Some(ClientTarget::addresses([std::net::IpAddr::V4(eu_entry)]))
    );

    // The promoted mirror kept its history and takes writes on the source's subjects.
    let info = eu_js.stream_info("events-eu-mirror").await.unwrap();
    assert!(info.mirror.is_none());
    assert_eq!(info.state.last_seq, events_before);
    let ack = eu_js
        .client()
        .request("events.after-failover".to_owned(), "x".into())
        .await
        .unwrap();
    let ack: serde_json::Value = serde_json::from_slice(&ack.payload).unwrap();
    assert_eq!(ack["stream"], "events-eu-mirror", "{ack}");
    assert_eq!(ack["seq"], events_before + 1, "{ack}");

    // GDPR-only streams: not one byte of their config changed.
    assert_eq!(
        eu_js.stream_info("events-eu-gdpr").await.unwrap().config,
        gdpr_before
    );

    // The old primary returns with its streams unfenced: it is fenced within a few rounds.
    s.lab.restart_region(LabRegion::Us).await.unwrap();
    let us_js = js(&s.cfg, &us()).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        let fenced = match us_js.stream_info("events-us").await {
            Ok(i) => i.config.subjects().iter().all(|x| x.starts_with("fenced.")),
            Err(_) => false,
        };
        if fenced {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the returning US was never fenced"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A publish in US is no longer stored anywhere: the fenced US stream does not listen, and
    // managed subjects do not cross the leafnode (clients reach EU through the DNS name).
    let before = us_js.stream_info("events-us").await.unwrap().state.last_seq;
    let answer = us_js
        .client()
        .request("events.after-return".to_owned(), "x".into())
        .await;
    assert!(
        matches!(&answer, Err(e) if e.kind() == async_nats::RequestErrorKind::NoResponders),
        "a publish in the fenced US was answered: {:?}",
        answer.map(|m| m.payload)
    );
    assert_eq!(
        us_js.stream_info("events-us").await.unwrap().state.last_seq,
        before
    );
}

/// One lost US node, then a cut EU<->US link while the witness still sees US:
/// neither moves the primary.
#[tokio::test]
async fn a_lost_node_or_a_cut_link_never_moves_the_primary() {
    let mut s = setup().await;
    s.lab.kill_node(LabRegion::Us, 2).await.unwrap();
    let us_status = s
        .dogs
        .wait_for(Site::Us, Duration::from_secs(15), |s| {
            s.regions.iter().any(|r| r.region == us() && r.servers == 2)
        })
        .await
        .unwrap_or_else(|st| panic!("US watchdog never saw the lost node: {}", story(&st)));
    assert!(us_status.regions.iter().any(|r| r.region == us() && r.up));
    tokio::time::sleep(Duration::from_secs(10)).await;
    let eu_status = s.dogs.status(Site::Eu).await.unwrap();
    assert!(
        !went_through(&eu_status, "failing_over"),
        "{}",
        story(&eu_status)
    );
    assert_eq!(eu_status.epoch, Some(Epoch(1)));

    s.lab.restart_node(LabRegion::Us, 2).await.unwrap();
    for p in ["leaf", "wd:eu->us-east-1", "peer:eu->us", "peer:us->eu"] {
        s.lab.cut(p.parse::<NetPath>().unwrap()).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(14)).await;
    let eu_status = s.dogs.status(Site::Eu).await.unwrap();
    assert!(
        !went_through(&eu_status, "failing_over"),
        "{}",
        story(&eu_status)
    );
    let owner = Arbiter::read(&dns(&s.cfg)).await.unwrap().unwrap();
    assert_eq!((owner.region, owner.epoch), (us(), Epoch(1)));
    let us_status = s.dogs.status(Site::Us).await.unwrap();
    assert!(
        !went_through(&us_status, "self_fenced"),
        "the witness still vouches for US: {}",
        story(&us_status)
    );
}

/// A paused watchdog takes no action whatever happens, and resumes safely.
#[tokio::test]
async fn a_paused_watchdog_does_nothing_until_resumed() {
    let mut s = setup().await;
    for site in [Site::Us, Site::Eu] {
        let (code, body) = s
            .dogs
            .command(site, "pause", serde_json::json!({"reason": "maintenance"}))
            .await
            .unwrap();
        assert_eq!(code, 202, "{body}");
    }
    s.lab.kill_region(LabRegion::Us).await.unwrap();
    tokio::time::sleep(Duration::from_secs(12)).await;
    let st = s.dogs.status(Site::Eu).await.unwrap();
    assert_eq!(st.mode, "paused");
    assert!(!went_through(&st, "failing_over"), "{}", story(&st));
    let owner = Arbiter::read(&dns(&s.cfg)).await.unwrap().unwrap();
    assert_eq!(owner.epoch, Epoch(1), "a paused watchdog claimed an epoch");

    let (code, body) = s
        .dogs
        .command(Site::Eu, "resume", serde_json::json!({"reason": "done"}))
        .await
        .unwrap();
    assert_eq!(code, 202, "{body}");
    s.dogs
        .wait_for(Site::Eu, Duration::from_secs(40), |s| {
            s.state == "failed_over"
        })
        .await
        .unwrap_or_else(|st| panic!("EU never failed over after resume: {}", story(&st)));
    s.dogs.kill(Site::Us);
}

/// Two of three US nodes die; the survivor cannot acknowledge writes (no quorum), which
/// counts as fenced: EU fails over.
#[tokio::test]
async fn losing_two_of_three_primary_nodes_fails_over() {
    let mut s = setup().await;
    s.lab.kill_node(LabRegion::Us, 1).await.unwrap();
    s.lab.kill_node(LabRegion::Us, 2).await.unwrap();
    let st = s
        .dogs
        .wait_for(Site::Eu, Duration::from_secs(40), |s| {
            s.state == "failed_over"
        })
        .await
        .unwrap_or_else(|st| panic!("EU never failed over: {}", story(&st)));
    assert_eq!(st.epoch, Some(Epoch(2)));
    let owner = Arbiter::read(&dns(&s.cfg)).await.unwrap().unwrap();
    assert_eq!((owner.region, owner.epoch), (eu(), Epoch(2)));
}

/// The mirror lags beyond the RPO budget when US dies: no automatic failover, Blocked
/// with the reason; an explicit, audited break-glass proceeds.
#[tokio::test]
async fn over_the_rpo_budget_only_an_explicit_break_glass_fails_over() {
    let Setup {
        mut lab,
        dogs,
        cfg,
        _tmp,
    } = setup_with(&[("NATSDR_RPO__MAX_LAG_MESSAGES", "5")]).await;
    let us_js = js(&cfg, &us()).await;

    // The link to EU is cut while US keeps taking writes: the mirror falls 20 messages behind.
    lab.cut("leaf".parse::<NetPath>().unwrap()).await.unwrap();
    for i in 0..20 {
        let ack = us_js
            .client()
            .request("events.lagging".to_owned(), format!("{i}").into())
            .await;
        assert!(ack.is_ok(), "US still takes writes: {ack:?}");
    }
    dogs.wait_for(Site::Eu, Duration::from_secs(15), |s| {
        s.mirrors
            .iter()
            .any(|m| m.stream == "events-eu-mirror" && m.lag_messages == Some(20))
    })
    .await
    .unwrap_or_else(|st| panic!("EU never measured the lag: {}", story(&st)));
    lab.kill_region(LabRegion::Us).await.unwrap();
    let st = dogs
        .wait_for(Site::Eu, Duration::from_secs(40), |s| s.state == "blocked")
        .await
        .unwrap_or_else(|st| panic!("EU was not blocked by the RPO guard: {}", story(&st)));
    assert!(
        st.transitions[0].reason.contains("events-eu-mirror"),
        "{:#?}",
        st.transitions[0]
    );
    assert_eq!(
        Arbiter::read(&dns(&cfg)).await.unwrap().unwrap().epoch,
        Epoch(1)
    );

    let (code, body) = dogs
        .command(
            Site::Eu,
            "failover",
            serde_json::json!({"reason": "us lost"}),
        )
        .await
        .unwrap();
    assert_eq!(
        code, 409,
        "without break-glass the failover is refused: {body}"
    );
    let (code, body) = dogs
        .command(
            Site::Eu,
            "failover",
            serde_json::json!({"reason": "us lost; 20 msgs accepted", "allow_data_loss": true}),
        )
        .await
        .unwrap();
    assert_eq!(code, 202, "{body}");
    let st = dogs
        .wait_for(Site::Eu, Duration::from_secs(40), |s| {
            s.state == "failed_over"
        })
        .await
        .unwrap_or_else(|st| panic!("break-glass did not fail over: {}", story(&st)));
    assert_eq!(st.epoch, Some(Epoch(2)));
}
