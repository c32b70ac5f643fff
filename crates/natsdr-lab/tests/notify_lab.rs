//! Paging on the real lab: a region-loss failover pages PagerDuty (a local Events API v2
//! receiver that checks the schema) with one `dedup_key` from the first trigger to the resolve
//! an operator's `ack` brings, and a PagerDuty that is down (a closed port, or a blackhole that
//! accepts connections and never answers) does not slow the failover: the lost pages are
//! counted in `/metrics` instead. Needs nats-server and BIND (make deps): fails without them.
mod common;

use std::time::Duration;

use common::lab::{Running, accepted, command, js, lab, status_until, us};
use common::wait_until;
use natsdr_lab::lab::Site;
use natsdr_lab::testkit::receiver::{Receiver, ReceiverOptions};
use serde_json::Value;
use serde_json::json;

/// The routing key the watchdogs read from their environment (`routing_key_env`).
const ROUTING_KEY: &str = "R0UT1NG-KEY-FOR-THE-LAB";

/// Fault to `failed_over` must stay within this: `failover_delay` (4 s) plus detection (a
/// mirror silent for `mirror_silence`, counted inside the delay), the claim, fence, promote
/// and DNS steps and a few probe rounds. A notifier that held the driver for even one
/// delivery attempt (10 s) would blow it.
const FAILOVER_BOUND: Duration = Duration::from_secs(12);

/// The watchdogs' environment for PagerDuty at `events_url`, plus `extra`.
fn pagerduty_env(events_url: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = vec![
        (
            "NATSDR_NOTIFY__PAGERDUTY__EVENTS_URL".to_owned(),
            events_url.to_owned(),
        ),
        (
            "NATSDR_NOTIFY__PAGERDUTY__ROUTING_KEY_ENV".to_owned(),
            "PD_ROUTING_KEY".to_owned(),
        ),
        ("PD_ROUTING_KEY".to_owned(), ROUTING_KEY.to_owned()),
    ];
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    env
}

/// A healthy lab with the topology applied and the three watchdogs running with `env`,
/// healthy and caught up.
async fn setup(env: &[(String, String)]) -> Running {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    lab().up().await.watchdogs(&env).await
}

/// What an operator does after a failover: `natsdr ack`.
async fn ack(s: &Running) {
    accepted(&s.dogs, Site::Eu, "ack", "checked after the failover").await;
}

/// A counter of EU's `/metrics` (0 when the series is absent).
async fn counter(s: &Running, name: &str, labels: &[(&str, &str)]) -> f64 {
    let text = reqwest::get(format!("{}/metrics", s.dogs.api(Site::Eu)))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The events one watchdog sent, as the receiver got them.
fn events_from(rx: &Receiver, watchdog: &str, keys: &[String]) -> Vec<Value> {
    rx.requests()
        .iter()
        .map(|r| {
            assert!(r.problems.is_empty(), "invalid event: {:?}", r.problems);
            r.json()
        })
        .filter(|e| {
            e["payload"]["source"] == watchdog
                || e["dedup_key"]
                    .as_str()
                    .is_some_and(|k| keys.iter().any(|x| x == k))
        })
        .collect()
}

#[tokio::test]
async fn a_region_loss_pages_a_trigger_and_the_ack_resolves_it_with_the_same_dedup_key() {
    let rx = Receiver::start(ReceiverOptions::default()).await.unwrap();
    let mut s = setup(&pagerduty_env(rx.pagerduty_url().as_str(), &[])).await;
    let eu_id = s.dogs.status(Site::Eu).await.unwrap().watchdog;

    let (took, _) = s.lose_us().await;
    println!("healthy receiver: region loss -> failed_over in {took:?}");
    assert!(took < FAILOVER_BOUND, "{took:?}");

    // Triggers arrive while the failover runs, all under one key, with the key in the payload.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let triggers = loop {
        let t: Vec<Value> = events_from(&rx, &eu_id, &[])
            .into_iter()
            .filter(|e| e["event_action"] == "trigger")
            .collect();
        if t.iter().any(|e| e["payload"]["class"] == "failed_over") {
            break t;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failed_over trigger: {t:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let key = triggers[0]["dedup_key"].as_str().unwrap().to_owned();
    let classes: Vec<&str> = triggers
        .iter()
        .map(|e| e["payload"]["class"].as_str().unwrap())
        .collect();
    assert!(classes.contains(&"failing_over"), "{classes:?}");
    assert!(
        triggers.iter().all(|e| e["dedup_key"] == key.as_str()),
        "one incident, one key: {triggers:#?}"
    );
    assert_eq!(triggers[0]["routing_key"], ROUTING_KEY);
    assert!(
        !events_from(&rx, &eu_id, std::slice::from_ref(&key))
            .iter()
            .any(|e| e["event_action"] == "resolve" && e["dedup_key"] == key.as_str()),
        "resolved before anyone acknowledged the failover"
    );

    ack(&s).await;
    wait_until(
        Duration::from_secs(10),
        format!("a resolve for {key} after the ack"),
        || async {
            events_from(&rx, &eu_id, std::slice::from_ref(&key))
                .iter()
                .any(|e| e["event_action"] == "resolve" && e["dedup_key"] == key.as_str())
        },
    )
    .await;
    let sent = counter(
        &s,
        "natsdr_notifications_total",
        &[("sink", "pagerduty"), ("result", "sent")],
    )
    .await;
    assert!(sent >= (triggers.len() + 1) as f64, "sent {sent}");
}

/// A PagerDuty that is down, either way, loses pages (counted) but never time.
async fn a_down_pagerduty_neither_slows_the_failover_nor_goes_uncounted(
    events_url: &str,
    what: &str,
) -> Running {
    // NB: one page in flight and one waiting: the third (of suspect, failing over, failed
    // over, resolve) pushes one out, so the loss shows in the metrics within the test rather
    // than at the end of the 5-minute delivery deadline.
    let env = pagerduty_env(events_url, &[("NATSDR_NOTIFY__QUEUE_CAPACITY", "1")]);
    let mut s = setup(&env).await;
    let (took, _) = s.lose_us().await;
    println!("{what}: region loss -> failed_over in {took:?}");
    assert!(took < FAILOVER_BOUND, "{what}: {took:?}");
    ack(&s).await;
    status_until(
        &s.dogs,
        Site::Eu,
        Duration::from_secs(10),
        "the ack did not release the hold",
        |s| s.transitions.iter().any(|t| t.from == "failed_over"),
    )
    .await;
    let pd = |result| [("sink", "pagerduty"), ("result", result)];
    wait_until(
        Duration::from_secs(10),
        format!("{what}: a dropped page counted"),
        || async { counter(&s, "natsdr_notifications_total", &pd("dropped")).await >= 1.0 },
    )
    .await;
    assert_eq!(
        counter(&s, "natsdr_notifications_total", &pd("sent")).await,
        0.0,
        "{what}: nothing can have been delivered"
    );
    s
}

#[tokio::test]
async fn a_pagerduty_on_a_closed_port_does_not_slow_the_failover() {
    let port = natsdr_lab::testkit::free_port();
    let url = format!("http://127.0.0.1:{port}/v2/enqueue");
    a_down_pagerduty_neither_slows_the_failover_nor_goes_uncounted(&url, "closed port").await;
}

#[tokio::test]
async fn a_blackholed_pagerduty_that_never_answers_does_not_slow_the_failover() {
    let rx = Receiver::hanging().await.unwrap();
    let s = a_down_pagerduty_neither_slows_the_failover_nor_goes_uncounted(
        rx.pagerduty_url().as_str(),
        "blackhole",
    )
    .await;
    // The receiver did take the requests it never answered: the pages were really in flight.
    assert!(
        rx.requests().iter().any(|r| r.status.is_none()),
        "the blackhole never saw a request"
    );
    drop(s);
}

/// Waits until EU's `natsdr_audit_records_total{result}` reaches `at_least`.
async fn wait_audit(s: &Running, result: &str, at_least: f64) {
    wait_until(
        Duration::from_secs(10),
        format!("{at_least} audit records {result}"),
        || async {
            counter(s, "natsdr_audit_records_total", &[("result", result)]).await >= at_least
        },
    )
    .await;
}

/// Every command is published to `audit.natsdr.<command>` in the ACTIVE region (the
/// EU watchdog publishes to US while US owns the epoch), stored when a stream captures it. The
/// same lab shows the peers in `/v1/status`.
#[tokio::test]
async fn every_command_is_published_to_the_active_region_and_kept_by_an_audit_stream() {
    let s = setup(&[]).await;

    // Peers: EU hears from the US watchdog and the witness, fresh, without errors. NB: the US
    // watchdog starts last, so EU's first rounds may still show it unreachable.
    let st = s
        .dogs
        .wait_for(Site::Eu, Duration::from_secs(10), |s| {
            s.peers.len() == 2 && s.peers.iter().all(|p| p.error.is_none() && p.id.is_some())
        })
        .await
        .unwrap_or_else(|st| panic!("EU never heard from both peers: {:#?}", st.peers));
    let mut vantages: Vec<&str> = st.peers.iter().map(|p| p.vantage.as_str()).collect();
    vantages.sort_unstable();
    assert_eq!(vantages, ["peer", "witness"], "{:#?}", st.peers);
    let us_id = s.dogs.status(Site::Us).await.unwrap().watchdog;
    for p in &st.peers {
        assert_eq!(p.error, None, "{p:?}");
        assert!(p.age_seconds.is_some_and(|a| a < 3.0), "{p:?}");
        assert!(p.regions.contains(&(us(), true)), "{p:?}");
    }
    let peer = st.peers.iter().find(|p| p.vantage == "peer").unwrap();
    assert_eq!(peer.id.as_deref(), Some(us_id.as_str()));

    // No stream captures the subject yet: published, not stored.
    accepted(&s.dogs, Site::Eu, "pause", "before the stream").await;
    wait_audit(&s, "published", 1.0).await;

    let us_js = js(&s.cfg, &us()).await;
    let config = serde_json::json!({
        "name": "natsdr-audit", "subjects": ["audit.natsdr.>"], "num_replicas": 3,
        "storage": "file", "retention": "limits", "discard": "old"
    });
    us_js
        .stream_create(&natsdr::nats::StreamConfig::from_map(
            config.as_object().unwrap().clone(),
        ))
        .await
        .unwrap();

    accepted(&s.dogs, Site::Eu, "resume", "audit drill 42").await;
    let (code, body) = command(
        &s.dogs,
        Site::Eu,
        "ack",
        json!({"reason": "nothing to ack"}),
    )
    .await;
    assert_eq!(code, 409, "{body}");
    wait_audit(&s, "stored", 2.0).await;

    let stream = async_nats::jetstream::new(us_js.client().clone())
        .get_stream("natsdr-audit")
        .await
        .unwrap();
    let last = |subject: &'static str| {
        let stream = stream.clone();
        async move {
            let m = stream
                .get_last_raw_message_by_subject(subject)
                .await
                .unwrap_or_else(|e| panic!("no record on {subject}: {e}"));
            serde_json::from_slice::<Value>(&m.payload).unwrap()
        }
    };
    let resume = last("audit.natsdr.resume").await;
    assert_eq!(resume["command"], "resume", "{resume}");
    assert_eq!(resume["reason"], "audit drill 42", "{resume}");
    assert_eq!(resume["outcome"], "accepted", "{resume}");
    let who = resume["who"].as_str().unwrap();
    assert!(!who.is_empty() && who != "anonymous", "{resume}");
    assert!(
        resume["at"].as_str().is_some_and(|t| t.starts_with("20")),
        "{resume}"
    );
    let ack = last("audit.natsdr.ack").await;
    assert_eq!(ack["outcome"], "refused", "{ack}");
    assert_eq!(ack["reason"], "nothing to ack", "{ack}");
    // The record before the stream existed is not in it.
    let mut stream = stream.clone();
    let stored = stream.info().await.unwrap().state.messages;
    assert_eq!(
        stored, 2,
        "exactly the records sent after the stream was created"
    );
}
