//! Durable consumers carry on across a failover and a failback, on the real lab: two real 3-node
//! NATS regions, real BIND, the three real natsdr processes, and an application's own durable
//! pull and push consumers (async-nats), bound by subject, acking under load while US dies.
//! Needs nats-server (both pinned versions) and BIND (make deps): without them this fails,
//! never skips.
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer};
use common::lab::{LabBuilder, Running, eu, fail_back, in_state, js, lab, status_until, story, us};
use futures::StreamExt;
use natsdr::config::Config;
use natsdr::model::{Epoch, Region};
use natsdr_lab::lab::{LabRegion, Site};
use tokio::time::Instant;

/// The subject the application publishes and its consumers read.
const SUBJECT: &str = "events.c";
/// The pull consumer's `max_ack_pending`.
const PULL_MAX_ACK_PENDING: i64 = 100;
/// The push consumer's `max_ack_pending`.
const PUSH_MAX_ACK_PENDING: i64 = 64;
/// The tracker's `consumers.sync_interval` (the default).
const SYNC_INTERVAL: Duration = Duration::from_secs(1);

async fn connect(cfg: &Config, r: &Region) -> jetstream::Context {
    jetstream::new(js(cfg, r).await.client().clone())
}

/// What one consumer's client saw: each stream sequence it got the server to confirm an ack
/// for, with when.
type Acked = Arc<Mutex<BTreeMap<u64, Instant>>>;

/// The two durables, as the application creates them once in US (binding by subject).
async fn create_consumers(js: &jetstream::Context) {
    let stream = js.stream_by_subject(SUBJECT).await.unwrap();
    let mut s = js.get_stream(&stream).await.unwrap();
    s.create_consumer(consumer::pull::Config {
        durable_name: Some("billing".into()),
        filter_subject: SUBJECT.into(),
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: Duration::from_secs(5),
        max_deliver: 20,
        max_ack_pending: PULL_MAX_ACK_PENDING,
        ..Default::default()
    })
    .await
    .unwrap();
    s.create_consumer(consumer::push::Config {
        durable_name: Some("ledger".into()),
        deliver_subject: "deliver.ledger".into(),
        filter_subjects: vec![SUBJECT.into(), "events.d".into()],
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: Duration::from_secs(5),
        max_deliver: 20,
        max_ack_pending: PUSH_MAX_ACK_PENDING,
        backoff: vec![Duration::from_secs(5), Duration::from_secs(10)],
        ..Default::default()
    })
    .await
    .unwrap();
    // NB: a cached lookup of `s` must not hide the server's view of what it now holds.
    assert_eq!(s.info().await.unwrap().state.consumer_count, 2);
}

/// Binds `name` by subject in the region `js` is connected to and reads until nothing comes for
/// `idle` (or `stop` is set), acking every message at `pace` and recording the confirmed acks.
/// Returns every stream sequence delivered.
async fn consume(
    js: jetstream::Context,
    name: &'static str,
    pace: Duration,
    idle: Duration,
    acked: Acked,
    stop: Arc<AtomicBool>,
) -> Vec<u64> {
    let stream_name = js.stream_by_subject(SUBJECT).await.unwrap();
    let stream = js.get_stream(&stream_name).await.unwrap();
    let mut delivered = Vec::new();
    let mut handle = |m: jetstream::Message| {
        let seq = m.info().map(|i| i.stream_sequence).unwrap_or_default();
        delivered.push(seq);
        let acked = acked.clone();
        async move {
            if !pace.is_zero() {
                tokio::time::sleep(pace).await;
            }
            if m.double_ack_with(AckKind::Ack).await.is_ok() {
                acked.lock().unwrap().insert(seq, Instant::now());
            }
        }
    };
    if name == "billing" {
        let c: consumer::PullConsumer = stream.get_consumer(name).await.unwrap();
        let mut last = Instant::now();
        while !stop.load(Ordering::Relaxed) && last.elapsed() < idle {
            let Ok(mut batch) = c
                .fetch()
                .max_messages(50)
                .expires(Duration::from_millis(300))
                .messages()
                .await
            else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            while let Some(Ok(m)) = batch.next().await {
                last = Instant::now();
                handle(m).await;
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
        }
    } else {
        let c: consumer::PushConsumer = stream.get_consumer(name).await.unwrap();
        let mut msgs = c.messages().await.unwrap();
        while !stop.load(Ordering::Relaxed) {
            match tokio::time::timeout(idle, msgs.next()).await {
                Ok(Some(Ok(m))) => handle(m).await,
                Ok(Some(Err(_))) => continue,
                Ok(None) | Err(_) => break,
            }
        }
    }
    delivered
}

/// Every stream sequence of `SUBJECT` in the stream bound to it, read with an ephemeral
/// consumer that acknowledges nothing.
async fn stored(js: &jetstream::Context) -> BTreeSet<u64> {
    let name = js.stream_by_subject(SUBJECT).await.unwrap();
    let stream = js.get_stream(&name).await.unwrap();
    let c = stream
        .create_consumer(consumer::pull::Config {
            filter_subject: SUBJECT.into(),
            ack_policy: consumer::AckPolicy::None,
            inactive_threshold: Duration::from_secs(30),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut out = BTreeSet::new();
    loop {
        let mut batch = c
            .fetch()
            .max_messages(1000)
            .expires(Duration::from_millis(500))
            .messages()
            .await
            .unwrap();
        let before = out.len();
        while let Some(Ok(m)) = batch.next().await {
            out.insert(m.info().unwrap().stream_sequence);
        }
        if out.len() == before {
            return out;
        }
    }
}

/// Publishes `n` acked messages on `SUBJECT` through `js`.
async fn publish(js: &jetstream::Context, n: usize) {
    for i in 0..n {
        js.publish(SUBJECT, format!("after-{i}").into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
}

/// The books of one durable through one move.
struct Books {
    name: &'static str,
    /// Acked (server-confirmed) before the move.
    acked_before: BTreeMap<u64, Instant>,
    /// Delivered after the move, on the new region.
    delivered_after: Vec<u64>,
    /// Every sequence of the subject the new region's stream holds after the drain.
    stored: BTreeSet<u64>,
}

impl Books {
    fn redelivered(&self) -> usize {
        self.delivered_after
            .iter()
            .collect::<BTreeSet<_>>()
            .iter()
            .filter(|s| self.acked_before.contains_key(s))
            .count()
    }

    fn never_delivered(&self) -> Vec<u64> {
        let after: BTreeSet<u64> = self.delivered_after.iter().copied().collect();
        self.stored
            .iter()
            .filter(|s| !self.acked_before.contains_key(s) && !after.contains(s))
            .copied()
            .collect()
    }

    /// Acked in the `window` before `at`.
    fn acked_within(&self, at: Instant, window: Duration) -> usize {
        self.acked_before
            .values()
            .filter(|t| **t + window >= at)
            .count()
    }
}

/// Binds both durables by subject through `js` (the region now taking writes), publishes `more`
/// new messages there, and drains both, acking everything.
async fn rebind_and_drain(
    js: &jetstream::Context,
    more: usize,
    acked: &BTreeMap<&'static str, Acked>,
) -> BTreeMap<&'static str, (Vec<u64>, BTreeSet<u64>)> {
    publish(js, more).await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for name in ["billing", "ledger"] {
        tasks.push((
            name,
            tokio::spawn(consume(
                js.clone(),
                name,
                Duration::ZERO,
                Duration::from_secs(3),
                acked[name].clone(),
                stop.clone(),
            )),
        ));
    }
    let mut out = BTreeMap::new();
    let all = stored(js).await;
    for (name, t) in tasks {
        out.insert(name, (t.await.unwrap(), all.clone()));
    }
    out
}

async fn consumers_carry_on_through_a_failover_and_a_failback(builder: LabBuilder) {
    let Running {
        mut lab,
        mut dogs,
        cfg,
        tmp: _tmp,
    } = builder.up().await.watchdogs(&[]).await;

    // The application: a publisher and two durables in US, acking under load.
    let us_js = connect(&cfg, &us()).await;
    create_consumers(&us_js).await;
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = {
        let (js, stop) = (us_js.clone(), stop.clone());
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let sent = js.publish(SUBJECT, format!("m-{i}").into()).await;
                if let Ok(ack) = sent {
                    let _ = tokio::time::timeout(Duration::from_secs(1), ack).await;
                }
                i += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let acked: BTreeMap<&'static str, Acked> =
        [("billing", Acked::default()), ("ledger", Acked::default())]
            .into_iter()
            .collect();
    let mut readers = Vec::new();
    for name in ["billing", "ledger"] {
        readers.push(tokio::spawn(consume(
            us_js.clone(),
            name,
            Duration::from_millis(4),
            Duration::from_secs(3600),
            acked[name].clone(),
            stop.clone(),
        )));
    }

    // The standby's watchdog tracks both durables, and says so.
    let tracked = status_until(
        &dogs,
        Site::Eu,
        Duration::from_secs(20),
        "EU never tracked the consumers",
        |s| {
            s.consumers
                .iter()
                .any(|c| c.stream == "events-eu-mirror" && c.consumers == 2 && c.error.is_none())
        },
    )
    .await;
    println!("tracked: {:?}", tracked.consumers);
    let metrics = dogs.metrics(Site::Eu).await.unwrap();
    assert!(
        metrics.contains("natsdr_consumers_tracked{stream=\"events-eu-mirror\"} 2"),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("consumers"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The positions live in EU, one per consumer, and outlive the watchdog that wrote them:
    // a crashed EU watchdog comes back and carries on from what the store holds.
    let eu_app = js(&cfg, &eu()).await;
    let store = eu_app.stream_info("natsdr-consumers").await.unwrap();
    assert_eq!(store.state.messages, 2, "{:?}", store.state);
    dogs.restart(Site::Eu).unwrap();
    dogs.wait_for(Site::Eu, Duration::from_secs(30), |s| {
        s.state == "healthy"
            && s.consumers
                .iter()
                .any(|c| c.stream == "events-eu-mirror" && c.consumers == 2 && c.error.is_none())
    })
    .await
    .unwrap_or_else(|s| {
        panic!(
            "the restarted EU watchdog never tracked again: {}",
            story(&s)
        )
    });
    tokio::time::sleep(Duration::from_secs(3)).await;

    // US dies while they ack.
    lab.kill_region(LabRegion::Us).await.unwrap();
    let killed = Instant::now();
    stop.store(true, Ordering::Relaxed);
    publisher.abort();
    for r in readers {
        let _ = tokio::time::timeout(Duration::from_secs(10), r).await;
    }
    let acked_before: BTreeMap<&'static str, BTreeMap<u64, Instant>> = acked
        .iter()
        .map(|(n, a)| (*n, a.lock().unwrap().clone()))
        .collect();
    let st = in_state(&dogs, Site::Eu, "failed_over", 60).await;
    assert_eq!(st.epoch, Some(Epoch(2)));

    // The client re-binds through EU: same names, same config, just after the floor.
    let eu_js = connect(&cfg, &eu()).await;
    assert_eq!(
        eu_js.stream_by_subject(SUBJECT).await.unwrap(),
        "events-eu-mirror"
    );
    let mut eu_stream = eu_js.get_stream("events-eu-mirror").await.unwrap();
    let mut pull: consumer::PullConsumer = eu_stream.get_consumer("billing").await.unwrap();
    let pull_info = pull.info().await.unwrap().clone();
    assert_eq!(pull_info.config.max_ack_pending, PULL_MAX_ACK_PENDING);
    assert_eq!(pull_info.config.filter_subject, SUBJECT);
    assert_eq!(pull_info.config.max_deliver, 20);
    assert!(
        matches!(pull_info.config.deliver_policy, consumer::DeliverPolicy::ByStartSequence { start_sequence } if start_sequence > 1),
        "positioned after its floor: {pull_info:?}"
    );
    let mut push: consumer::PushConsumer = eu_stream.get_consumer("ledger").await.unwrap();
    let push_info = push.info().await.unwrap().clone();
    assert_eq!(
        push_info.config.filter_subjects,
        vec![SUBJECT.to_owned(), "events.d".to_owned()]
    );
    assert_eq!(
        push_info.config.deliver_subject.as_deref(),
        Some("deliver.ledger")
    );
    assert_eq!(push_info.config.max_ack_pending, PUSH_MAX_ACK_PENDING);
    assert_eq!(push_info.config.backoff.len(), 2);
    let promoted = eu_stream.info().await.unwrap().state.clone();
    assert_eq!(promoted.consumer_count, 2);
    // Sequences past what the mirror held when US died were lost with the region (the RPO
    // budget's business); on the promoted stream those numbers go to new messages.
    let held = promoted.last_sequence;

    let drained = rebind_and_drain(&eu_js, 200, &acked).await;
    for name in ["billing", "ledger"] {
        let (delivered_after, stored) = drained[name].clone();
        let lost_with_us = acked_before[name].range(held + 1..).count();
        let b = Books {
            name,
            acked_before: acked_before[name]
                .range(..=held)
                .map(|(s, t)| (*s, *t))
                .collect(),
            delivered_after,
            stored,
        };
        println!("failover {name}: {lost_with_us} acked on US past what EU held");
        let max_pending = if name == "billing" {
            PULL_MAX_ACK_PENDING
        } else {
            PUSH_MAX_ACK_PENDING
        };
        // The last sync may be up to one interval old, plus its own read and write.
        let bound = b.acked_within(killed, SYNC_INTERVAL * 2) + max_pending as usize;
        println!(
            "failover {}: acked before {}, redelivered {} (bound {bound}), never delivered {}",
            b.name,
            b.acked_before.len(),
            b.redelivered(),
            b.never_delivered().len()
        );
        assert!(b.acked_before.len() > 200, "{name} acked under load first");
        assert!(
            b.redelivered() <= bound,
            "{name}: {} > {bound}",
            b.redelivered()
        );
        assert_eq!(
            b.never_delivered(),
            Vec::<u64>::new(),
            "{name} never got these"
        );
    }

    // US comes back fenced; an operator fails back. Every ack so far was confirmed.
    let acked_before_failback: BTreeMap<&'static str, BTreeMap<u64, Instant>> = acked
        .iter()
        .map(|(n, a)| (*n, a.lock().unwrap().clone()))
        .collect();
    let (done, _) = fail_back(&mut lab, &dogs, Duration::from_secs(30), |_| true).await;
    assert_eq!(done.epoch, Some(Epoch(3)));

    // Back home: the same durables, carried back, nothing acknowledged delivered again.
    let us_js = connect(&cfg, &us()).await;
    assert_eq!(us_js.stream_by_subject(SUBJECT).await.unwrap(), "events-us");
    let drained = rebind_and_drain(&us_js, 100, &acked).await;
    for name in ["billing", "ledger"] {
        let (delivered_after, stored) = drained[name].clone();
        let b = Books {
            name,
            acked_before: acked_before_failback[name].clone(),
            delivered_after,
            stored,
        };
        println!(
            "failback {}: acked before {}, redelivered {}, never delivered {}, delivered after {}",
            b.name,
            b.acked_before.len(),
            b.redelivered(),
            b.never_delivered().len(),
            b.delivered_after.len()
        );
        assert!(!b.delivered_after.is_empty(), "{name} got the new messages");
        // A planned move reads the final floors after the fence: nothing was in flight.
        assert_eq!(b.redelivered(), 0, "{name}");
        assert_eq!(
            b.never_delivered(),
            Vec::<u64>::new(),
            "{name} never got these"
        );
    }
}

#[tokio::test]
async fn durable_pull_and_push_consumers_carry_on_through_a_failover_and_a_failback() {
    consumers_carry_on_through_a_failover_and_a_failback(lab()).await;
}

#[tokio::test]
async fn durable_consumers_carry_on_through_a_failover_and_a_failback_on_2_10() {
    // 2.10 promotes by snapshot, delete and restore: consumers are created on the restored stream.
    consumers_carry_on_through_a_failover_and_a_failback(lab().compat()).await;
}
