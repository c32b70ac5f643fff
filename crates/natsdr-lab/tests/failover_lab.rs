//! The core failover outcomes (region loss, node loss, cut link, pause, quorum loss, RPO
//! budget), each on the real lab: three real natsdr processes (us and eu watchdogs, the
//! witness), two real 3-node NATS regions, a real BIND holding the arbiter and the client
//! record. Needs nats-server and BIND (make deps):
//! without them these fail, never skip.
mod common;

use std::time::Duration;

use common::lab::{
    Running, accepted, command, dns, eu, in_state, js, js_ack, lab, never_went_through,
    status_until, story, us, went_through,
};
use common::wait_until;
use natsdr::dns::{Arbiter, ClientRecord, ClientTarget};
use natsdr::model::Epoch;
use natsdr_lab::lab::{LabRegion, NetPath, Site};
use serde_json::json;

/// A healthy lab with the topology applied, some history in every mirrored stream, and the
/// three watchdogs running (with `env` added to theirs), healthy and caught up.
async fn setup_with(env: &[(&str, &str)]) -> Running {
    lab().up().await.with_history().await.watchdogs(env).await
}

async fn setup() -> Running {
    setup_with(&[]).await
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

    let (took, st) = s.lose_us().await;
    println!("region loss -> failed_over in {took:?}");
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
    let ack = js_ack(&eu_js, "events.after-failover").await;
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
    wait_until(
        Duration::from_secs(40),
        "the returning US is fenced",
        || async {
            us_js
                .stream_info("events-us")
                .await
                .is_ok_and(|i| i.config.subjects().iter().all(|x| x.starts_with("fenced.")))
        },
    )
    .await;
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
    let us_status = status_until(
        &s.dogs,
        Site::Us,
        Duration::from_secs(15),
        "US watchdog never saw the lost node",
        |s| s.regions.iter().any(|r| r.region == us() && r.servers == 2),
    )
    .await;
    assert!(us_status.regions.iter().any(|r| r.region == us() && r.up));
    tokio::time::sleep(Duration::from_secs(10)).await;
    let eu_status = s.dogs.status(Site::Eu).await.unwrap();
    never_went_through(&eu_status, &["failing_over"]);
    assert_eq!(eu_status.epoch, Some(Epoch(1)));

    s.lab.restart_node(LabRegion::Us, 2).await.unwrap();
    for p in ["leaf", "wd:eu->us-east-1", "peer:eu->us", "peer:us->eu"] {
        s.lab.cut(p.parse::<NetPath>().unwrap()).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(14)).await;
    let eu_status = s.dogs.status(Site::Eu).await.unwrap();
    never_went_through(&eu_status, &["failing_over"]);
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
        accepted(&s.dogs, site, "pause", "maintenance").await;
    }
    s.lab.kill_region(LabRegion::Us).await.unwrap();
    tokio::time::sleep(Duration::from_secs(12)).await;
    let st = s.dogs.status(Site::Eu).await.unwrap();
    assert_eq!(st.mode, "paused");
    never_went_through(&st, &["failing_over"]);
    let owner = Arbiter::read(&dns(&s.cfg)).await.unwrap().unwrap();
    assert_eq!(owner.epoch, Epoch(1), "a paused watchdog claimed an epoch");

    accepted(&s.dogs, Site::Eu, "resume", "done").await;
    in_state(&s.dogs, Site::Eu, "failed_over", 40).await;
    s.dogs.kill(Site::Us);
}

/// Two of three US nodes die; the survivor cannot acknowledge writes (no quorum), which
/// counts as fenced: EU fails over.
#[tokio::test]
async fn losing_two_of_three_primary_nodes_fails_over() {
    let mut s = setup().await;
    s.lab.kill_node(LabRegion::Us, 1).await.unwrap();
    s.lab.kill_node(LabRegion::Us, 2).await.unwrap();
    let st = in_state(&s.dogs, Site::Eu, "failed_over", 40).await;
    assert_eq!(st.epoch, Some(Epoch(2)));
    let owner = Arbiter::read(&dns(&s.cfg)).await.unwrap().unwrap();
    assert_eq!((owner.region, owner.epoch), (eu(), Epoch(2)));
}

/// The mirror lags beyond the RPO budget when US dies: no automatic failover, Blocked
/// with the reason; an explicit, audited break-glass proceeds.
#[tokio::test]
async fn over_the_rpo_budget_only_an_explicit_break_glass_fails_over() {
    let Running {
        mut lab,
        dogs,
        cfg,
        tmp: _tmp,
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
    status_until(
        &dogs,
        Site::Eu,
        Duration::from_secs(15),
        "EU never measured the lag",
        |s| {
            s.mirrors
                .iter()
                .any(|m| m.stream == "events-eu-mirror" && m.lag_messages == Some(20))
        },
    )
    .await;
    lab.kill_region(LabRegion::Us).await.unwrap();
    let st = in_state(&dogs, Site::Eu, "blocked", 40).await;
    assert!(
        st.transitions[0].reason.contains("events-eu-mirror"),
        "{:#?}",
        st.transitions[0]
    );
    assert_eq!(
        Arbiter::read(&dns(&cfg)).await.unwrap().unwrap().epoch,
        Epoch(1)
    );

    let (code, body) = command(&dogs, Site::Eu, "failover", json!({"reason": "us lost"})).await;
    assert_eq!(
        code, 409,
        "without break-glass the failover is refused: {body}"
    );
    let (code, body) = command(
        &dogs,
        Site::Eu,
        "failover",
        json!({"reason": "us lost; 20 msgs accepted", "allow_data_loss": true}),
    )
    .await;
    assert_eq!(code, 202, "{body}");
    let st = in_state(&dogs, Site::Eu, "failed_over", 40).await;
    assert_eq!(st.epoch, Some(Epoch(2)));
}
