//! Failback with zero acknowledged-message loss, on the real lab: two real 3-node NATS regions,
//! real BIND, the three real natsdr processes, publishers with acks and message ids (one through
//! the client DNS name, one bursting straight into US). US dies mid-burst with its mirror behind
//! (the leafnode cut for the burst), EU fails over, US returns fenced with a divergent tail, an operator fails
//! back. Needs nats-server and BIND (make deps): without them this fails, never skips.
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::lab::{
    LabBuilder, Running, command, connect, eu, fail_back, in_state, lab, status_until, story, us,
};
use futures::StreamExt;
use natsdr::model::Epoch;
use natsdr::nats::JsApi;
use natsdr_lab::demo::{Ledger, LoadGen, LoadTarget};
use natsdr_lab::lab::{LabRegion, NetPath, Site};
use serde_json::json;

/// Every `Nats-Msg-Id` in `stream`, with how often it is stored.
async fn id_counts(js: &JsApi, stream: &str) -> BTreeMap<String, u32> {
    let info = js.stream_info(stream).await.unwrap();
    let ctx = async_nats::jetstream::new(js.client().clone());
    let handle = ctx.get_stream(stream).await.unwrap();
    let mut out = BTreeMap::new();
    for seq in info.state.first_seq.max(1)..=info.state.last_seq {
        if let Ok(msg) = handle.get_raw_message(seq).await
            && let Some(id) = msg.headers.get("Nats-Msg-Id")
        {
            *out.entry(id.as_str().to_owned()).or_default() += 1;
        }
    }
    out
}

/// Publishes `burst-<n>` ids to `events.burst` in US with up to 64 acks in flight, until stopped;
/// returns the acked ids. Its client is US's own, so it stops being acked when US dies.
fn burst(
    client: async_nats::Client,
    stop: Arc<Mutex<bool>>,
) -> tokio::task::JoinHandle<Vec<String>> {
    tokio::spawn(async move {
        let js = async_nats::jetstream::new(client);
        let acked = Arc::new(Mutex::new(Vec::new()));
        futures::stream::iter(0u64..)
            .take_while(|_| {
                let go = !*stop.lock().unwrap();
                async move { go }
            })
            .for_each_concurrent(64, |n| {
                let (js, acked) = (js.clone(), acked.clone());
                async move {
                    let id = format!("burst-{n}");
                    let mut h = async_nats::HeaderMap::new();
                    h.insert("Nats-Msg-Id", id.as_str());
                    let Ok(ack) = js.publish_with_headers("events.burst", h, "b".into()).await
                    else {
                        return;
                    };
                    if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(2), ack).await {
                        acked.lock().unwrap().push(id);
                    }
                }
            })
            .await;
        acked.lock().unwrap().clone()
    })
}

/// The numbers in "… divergent tail: A captured, B recovered, C duplicates, D kept".
fn tail_counts(reason: &str) -> Option<[u64; 4]> {
    let tail = reason.split("divergent tail: ").nth(1)?;
    let nums: Vec<u64> = tail
        .split(", ")
        .filter_map(|part| part.split(' ').next()?.parse().ok())
        .collect();
    nums.try_into().ok()
}

/// What a failback is configured to do with the divergent tail (`[failback] tail`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tail {
    Republish,
    Keep,
}

async fn failback_under_load_loses_no_acked_message(builder: LabBuilder, tail: Tail) {
    let env: &[(&str, &str)] = match tail {
        Tail::Republish => &[],
        Tail::Keep => &[("NATSDR_FAILBACK__TAIL", "keep")],
    };
    let Running {
        mut lab,
        dogs,
        cfg,
        tmp: _tmp,
    } = builder.up().await.watchdogs(env).await;

    let m = lab.manifest();
    let dns = m.dns.as_ref().expect("the lab runs BIND");
    let load = LoadGen::start(LoadTarget {
        dns_server: dns.server,
        name: dns.client_record.clone(),
        port: m.client_port,
        user: m.app.user.clone(),
        password: m.app.password.clone(),
        subject: "events.demo".into(),
        interval: Duration::from_millis(10),
        ack_timeout: Duration::from_millis(500),
    })
    .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The mirror falls behind, US dies in the middle of a burst. The leafnode is cut, not slowed:
    // netd delivers a slowed path's queued chunks even after US dies, so a slow leaf left a tail
    // only when the mirror's flow control happened to throttle it (no tail in 3 of 9 runs). A cut
    // path holds what US sent until the heal, which comes only after EU has promoted its mirrors,
    // so whatever US acked during the cut is a divergent tail by construction.
    lab.cut(NetPath::Leaf).await.unwrap();
    let stop = Arc::new(Mutex::new(false));
    let us_app = connect(&cfg, &us()).await;
    let bursting = burst(us_app.js.client().clone(), stop.clone());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    lab.kill_region(LabRegion::Us).await.unwrap();
    *stop.lock().unwrap() = true;
    let burst_acked = bursting.await.unwrap();
    assert!(
        !burst_acked.is_empty(),
        "the burst got acks before the kill"
    );

    // On a fast machine the burst during the cut exceeds the lab's RPO budget (10,000 messages): then
    // EU holds in Blocked and an operator breaks glass, which is what failback exists to repair.
    let st = status_until(
        &dogs,
        Site::Eu,
        Duration::from_secs(60),
        "EU never failed over",
        |s| s.state == "failed_over" || s.state == "blocked",
    )
    .await;
    let st = if st.state == "blocked" {
        let (code, body) = command(
            &dogs,
            Site::Eu,
            "failover",
            json!({"reason": "mirror behind the RPO budget; failback recovers the tail", "allow_data_loss": true}),
        ).await;
        assert!(code < 300, "break-glass refused: {code} {body}");
        in_state(&dogs, Site::Eu, "failed_over", 60).await
    } else {
        st
    };
    assert_eq!(st.epoch, Some(Epoch(2)));
    // The mirrors are promoted: what netd still holds from US can no longer reach them.
    lab.heal(NetPath::Leaf).await.unwrap();

    // US returns and is fenced; then an operator fails back. A stream the returning US still
    // serves is re-fenced within a round or two; until then the failback is refused ("still
    // takes writes"), as an operator would see it.
    let still_writable = |body: &serde_json::Value| body.to_string().contains("still takes writes");
    let (done, took) = fail_back(&mut lab, &dogs, Duration::from_secs(20), still_writable).await;
    println!("failback completed in {took:?}\n{}", story(&done));
    if let Ok(m) = dogs.metrics(Site::Us).await {
        for line in m.lines().filter(|l| {
            l.starts_with("natsdr_failback_step_duration_seconds_sum")
                || l.starts_with("natsdr_phase_duration_seconds_sum")
        }) {
            println!("  {line}");
        }
    }
    assert_eq!(done.epoch, Some(Epoch(3)));
    assert_eq!(done.active_region, Some(us()));
    let eu_st = status_until(
        &dogs,
        Site::Eu,
        Duration::from_secs(30),
        "EU never stood by again",
        |s| s.state == "healthy" && s.mirrors.iter().all(|m| !m.promoted),
    )
    .await;
    assert_eq!(eu_st.active_region, Some(us()));

    // Let the publisher find US through DNS again, then settle the books.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !load
        .snapshot()
        .acks
        .iter()
        .rev()
        .take(1)
        .any(|a| a.stream == "events-us")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no ack from US after failback"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ledger: Ledger = load.stop().await;

    let us_js = connect(&cfg, &us()).await.js;
    let eu_js = connect(&cfg, &eu()).await.js;
    let stored = id_counts(&us_js, "events-us").await;
    // No record when US held no divergent tail: the tail-count assertions below say so.
    let record_ids: BTreeSet<String> = match eu_js.stream_info("natsdr-divergent-events-us-2").await
    {
        Ok(_) => id_counts(&eu_js, "natsdr-divergent-events-us-2")
            .await
            .into_keys()
            .collect(),
        Err(_) => BTreeSet::new(),
    };
    let mut acked: BTreeSet<String> = ledger.acked_ids().into_iter().map(str::to_owned).collect();
    acked.extend(burst_acked.iter().cloned());
    // Kept for an operator means in the record, not in the stream (nothing lost quietly).
    let kept_for_operator = |id: &String| tail == Tail::Keep && record_ids.contains(id);
    let lost: Vec<&String> = acked
        .iter()
        .filter(|id| !(stored.contains_key(*id) || kept_for_operator(id)))
        .collect();
    let twice: Vec<(&String, &u32)> = stored.iter().filter(|(_, n)| **n > 1).collect();
    println!(
        "acked {} (burst {}), stored {}, lost {}, stored twice {}",
        acked.len(),
        burst_acked.len(),
        stored.len(),
        lost.len(),
        twice.len()
    );
    assert!(lost.is_empty(), "acked but missing: {lost:?}");
    assert!(twice.is_empty(), "stored more than once: {twice:?}");

    // The report's counts match the record kept in EU and the publishers' own books.
    let reason = &done
        .transitions
        .iter()
        .find(|t| t.from == "failing_back" && t.to == "healthy")
        .unwrap()
        .reason;
    let [captured, recovered, duplicates, kept] =
        tail_counts(reason).unwrap_or_else(|| panic!("no tail counts in {reason:?}"));
    println!(
        "tail: {captured} captured, {recovered} recovered, {duplicates} duplicates, {kept} kept"
    );
    assert!(captured > 0, "US held a divergent tail: {reason}");
    let record = eu_js
        .stream_info("natsdr-divergent-events-us-2")
        .await
        .unwrap();
    assert_eq!(record.state.messages, captured);
    // A publisher's retry stored in EU after the failover is what makes a tail message a duplicate.
    let acked_by_eu: BTreeSet<&str> = ledger
        .acks
        .iter()
        .filter(|a| a.stream == "events-eu-mirror")
        .map(|a| a.id.as_str())
        .collect();
    let expected_dups = record_ids
        .iter()
        .filter(|id| acked_by_eu.contains(id.as_str()))
        .count() as u64;
    if tail == Tail::Keep {
        // Nothing re-published: the whole tail waits in the record for an operator, and what
        // the final primary holds of it came only from the publishers' own retries.
        assert_eq!((kept, recovered, duplicates), (captured, 0, 0), "{reason}");
        let from_tail: Vec<&String> = record_ids
            .iter()
            .filter(|id| stored.contains_key(*id) && !acked_by_eu.contains(id.as_str()))
            .collect();
        assert!(
            from_tail.is_empty(),
            "re-published despite tail = keep: {from_tail:?}"
        );
        return;
    }
    assert_eq!(kept, 0, "every publisher set a message id");
    assert_eq!(duplicates, expected_dups);
    assert_eq!(recovered, captured - expected_dups);
    // Every tail message (acked or not) ends up in the final primary exactly once.
    let missing: Vec<&String> = record_ids
        .iter()
        .filter(|id| stored.get(*id) != Some(&1))
        .collect();
    assert!(
        missing.is_empty(),
        "tail messages not stored once: {missing:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failback_after_a_region_loss_under_load_keeps_every_acked_message_exactly_once() {
    failback_under_load_loses_no_acked_message(lab(), Tail::Republish).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failback_that_keeps_the_tail_republishes_nothing_and_leaves_it_whole_in_the_record() {
    failback_under_load_loses_no_acked_message(lab(), Tail::Keep).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failback_on_2_10_keeps_every_acked_message_exactly_once() {
    // 2.10 cannot promote a mirror in place: the failover and the switchover back both go by
    // snapshot -> delete -> restore.
    failback_under_load_loses_no_acked_message(lab().compat(), Tail::Republish).await;
}
