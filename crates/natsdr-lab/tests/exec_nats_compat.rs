//! The NATS executor on the compatibility server (2.10.26), which cannot promote a mirror in
//! place: mirrors (and a KV bucket's mirror) are promoted by snapshot -> delete -> restore, with
//! history, sequences and consumers kept, idempotently, and a promotion interrupted after its
//! snapshot is finished by the next one. Needs the compat nats-server (`make deps`): without it
//! this fails, never skips.
mod common;

use std::{sync::Arc, time::Duration};

use common::lab::{drift_in, eu, lab, names, us};
use common::{assert_same_messages, wait_for_last_seq};

use async_nats::jetstream::{self, consumer::pull};
use futures::StreamExt;
use natsdr::{
    config::{Config, KvSpec, Storage},
    core::{FenceResult, StepResult},
    exec::{
        Fencer, META_ORIGIN, NatsExecutor, Promoter, PromotionPath, Restore, SnapshotStore,
        Takeover,
    },
    model::{Epoch, StreamName},
    nats::{JsApi, connect_regions},
    topology::{Desired, Drift, META_EPOCH, META_ROLE, apply, expected},
};
use tokio::time::{Instant, sleep};

const API_TIMEOUT: Duration = Duration::from_secs(5);
/// Messages in the promoted events stream (its promotion time is reported).
const EVENTS: u64 = 2_000;
/// Of those, how many the durable consumer acks before the promotion.
const ACKED: u64 = 25;

/// Publishes `n` messages on `subject.<i>` with JetStream acks, a window at a time.
async fn publish_many(js: &JsApi, subject: &str, n: u64) {
    let ctx = jetstream::new(js.client().clone());
    let mut sent = 0;
    while sent < n {
        let mut acks = Vec::new();
        for i in sent..(sent + 200).min(n) {
            acks.push(
                ctx.publish(format!("{subject}.m{i}"), format!("payload {i}").into())
                    .await
                    .unwrap(),
            );
        }
        sent += acks.len() as u64;
        for ack in acks {
            ack.await.unwrap();
        }
    }
}

/// A durable pull consumer on `stream` that has acked its first `acks` messages.
async fn consumer_with_acks(js: &JsApi, stream: &str, durable: &str, acks: u64) {
    let ctx = jetstream::new(js.client().clone());
    let consumer = ctx
        .get_stream(stream)
        .await
        .unwrap()
        .create_consumer(pull::Config {
            durable_name: Some(durable.into()),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ..Default::default()
        })
        .await
        .unwrap();
    // A consumer just created answers pulls only once its raft group has a leader (503 before).
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut got = 0;
    while got < acks {
        assert!(Instant::now() < deadline, "{durable} acked only {got}");
        let Ok(mut batch) = consumer
            .fetch()
            .max_messages(usize::try_from(acks - got).unwrap())
            .messages()
            .await
        else {
            sleep(Duration::from_millis(200)).await;
            continue;
        };
        while let Some(Ok(msg)) = batch.next().await {
            msg.double_ack().await.unwrap();
            got += 1;
        }
    }
    assert_eq!(got, acks);
}

/// (ack floor stream sequence, stream sequence of the next message it delivers) of a durable
/// consumer. NB: not `num_pending`: right after a restore 2.10 reports 0 until it recounts.
async fn consumer_state(js: &JsApi, stream: &str, durable: &str) -> (u64, u64) {
    let ctx = jetstream::new(js.client().clone());
    let mut consumer: jetstream::consumer::PullConsumer = ctx
        .get_stream(stream)
        .await
        .unwrap()
        .get_consumer(durable)
        .await
        .unwrap();
    let floor = consumer.info().await.unwrap().ack_floor.stream_sequence;
    // A consumer just restored answers pulls only once its raft group has a leader (503 before).
    let deadline = Instant::now() + Duration::from_secs(15);
    let next = loop {
        let got = match consumer.fetch().max_messages(1).messages().await {
            Ok(mut batch) => batch.next().await.and_then(Result::ok),
            Err(_) => None,
        };
        match got {
            Some(msg) => break msg,
            None => {
                assert!(Instant::now() < deadline, "{durable} never delivered");
                sleep(Duration::from_millis(200)).await;
            }
        }
    };
    let seq = next.info().unwrap().stream_sequence;
    // Handed back at once, so the next look sees the same message again.
    next.double_ack_with(jetstream::AckKind::Nak(None))
        .await
        .unwrap();
    (floor, seq)
}

/// Whether the snapshot store holds any file at all.
fn store_is_empty(store: &SnapshotStore) -> bool {
    fn files(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir).map_or(0, |entries| {
            entries
                .map(|e| {
                    let p = e.unwrap().path();
                    if p.is_dir() { files(&p) } else { 1 }
                })
                .sum()
        })
    }
    files(store.root()) == 0
}

#[tokio::test]
async fn mirrors_and_kv_buckets_on_2_10_are_promoted_by_snapshot_and_restore_keeping_history() {
    let (tmp, lab) = lab().compat().start().await;
    let (us, eu) = (us(), eu());
    let mut config = Config::load(&lab.manifest().natsdr_config).expect("valid lab config");
    config.kv.push(KvSpec {
        bucket: "assignments_v1".into(),
        region: us.clone(),
        mirror_region: Some(eu.clone()),
        history: 5,
        ttl: None,
        replicas: 3,
        max_value_size: Some(4096),
        max_bytes: None,
        storage: Storage::File,
    });
    let config = Arc::new(config);
    let desired = Desired::from(&*config);
    let regions = connect_regions(&config, "natsdr-exec-compat", API_TIMEOUT)
        .await
        .unwrap();
    let apis = regions
        .iter()
        .map(|(r, c)| (r.clone(), c.js.clone()))
        .collect();
    let applied = apply(&expected(&desired).unwrap(), &apis).await;
    assert!(applied.iter().all(|c| c.is_change()), "{applied:?}");
    let (us_js, eu_js) = (regions[&us].js.clone(), regions[&eu].js.clone());
    assert_eq!(
        PromotionPath::for_api_level(eu_js.account_info().await.unwrap().api_level),
        PromotionPath::SnapshotRestore,
        "2.10 reports no API level"
    );
    let store = SnapshotStore::new(tmp.path().join("snapshots"));
    let exec =
        NatsExecutor::new(config.clone(), regions.clone()).with_snapshot_store(store.clone());

    // History in US, mirrored to EU, with a durable consumer on the mirror that acked some.
    publish_many(&us_js, "events", EVENTS).await;
    publish_many(&us_js, "metrics", 300).await;
    let kv = jetstream::new(us_js.client().clone())
        .get_key_value("assignments_v1")
        .await
        .unwrap();
    for (key, value) in [
        ("worker-1", "idle"),
        ("worker-2", "idle"),
        ("worker-1", "busy"),
    ] {
        kv.put(key, value.into()).await.unwrap();
    }
    wait_for_last_seq(&eu_js, "events-eu-mirror", EVENTS).await;
    wait_for_last_seq(&eu_js, "metrics-eu-mirror", 300).await;
    wait_for_last_seq(&eu_js, "KV_assignments_v1", 3).await;
    consumer_with_acks(&eu_js, "events-eu-mirror", "worker", ACKED).await;
    assert_eq!(
        consumer_state(&eu_js, "events-eu-mirror", "worker").await,
        (ACKED, ACKED + 1)
    );

    // Fence before promote, as the core does.
    let sources = names(&["events-us", "metrics-us", "KV_assignments_v1"]);
    assert_eq!(
        exec.fence(&us, Epoch(2), &sources).await,
        FenceResult::Fenced
    );

    // 1. Promote: same sequences, timestamps and messages; consumer kept with its ack floor.
    let before = eu_js.stream_info("events-eu-mirror").await.unwrap();
    let events = names(&["events-eu-mirror"]);
    let started = Instant::now();
    assert_eq!(exec.promote(&eu, Epoch(2), &events).await, StepResult::Done);
    let took = started.elapsed();
    eprintln!("promote of events-eu-mirror ({EVENTS} messages) on 2.10.26 took {took:?}");
    let after = eu_js.stream_info("events-eu-mirror").await.unwrap();
    assert_eq!(after.state.first_seq, before.state.first_seq);
    assert_eq!(after.state.last_seq, EVENTS);
    assert_eq!(after.state.messages, before.state.messages);
    assert_eq!(after.state.first_ts, before.state.first_ts);
    assert_eq!(after.state.last_ts, before.state.last_ts);
    assert_same_messages(
        (&us_js, "events-us"),
        (&eu_js, "events-eu-mirror"),
        [1, EVENTS / 2, EVENTS],
    )
    .await;
    // NB: the message handed back before may come after the next one: either continues.
    let (floor, next) = consumer_state(&eu_js, "events-eu-mirror", "worker").await;
    assert_eq!(floor, ACKED, "the consumer keeps its ack floor");
    assert!(
        (ACKED + 1..=ACKED + 2).contains(&next),
        "it continues after its ack floor, not from the start: {next}"
    );
    assert!(after.config.mirror().is_none());
    let source_subjects = config
        .streams
        .iter()
        .find(|s| s.name.as_str() == "events-us")
        .unwrap()
        .subjects
        .clone();
    assert_eq!(after.config.subjects(), source_subjects);
    assert_eq!(after.config.metadata(META_ROLE), Some("promoted"));
    assert_eq!(after.config.metadata(META_EPOCH), Some("2"));
    assert_eq!(after.config.metadata(META_ORIGIN), Some("events-us"));
    let ack = jetstream::new(eu_js.client().clone())
        .publish("buddy.after-promotion", "x".into())
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(ack.sequence, EVENTS + 1, "the sequence continues");
    assert_eq!(ack.stream, "events-eu-mirror");
    let shown = drift_in(&regions, &desired, &eu).await;
    assert!(
        shown
            .iter()
            .any(|d| matches!(d, Drift::Promoted { stream, epoch, .. }
            if stream.as_str() == "events-eu-mirror" && epoch.as_deref() == Some("2"))),
        "plan reads it as promoted: {shown:?}"
    );
    assert!(
        store_is_empty(&store),
        "a finished promotion leaves no snapshot"
    );

    // 2. Promoting again is Done and changes nothing.
    let config_before = eu_js.stream_info("events-eu-mirror").await.unwrap().config;
    assert_eq!(exec.promote(&eu, Epoch(2), &events).await, StepResult::Done);
    let again = eu_js.stream_info("events-eu-mirror").await.unwrap();
    assert_eq!(again.config, config_before);
    assert_eq!(again.state.last_seq, EVENTS + 1);

    // 3. A promotion that died after its snapshot and the delete is finished from disk.
    let metrics = StreamName::new("metrics-eu-mirror").unwrap();
    let takeover = Takeover {
        origin: "metrics-us".into(),
        subjects: vec!["metrics.*".into()],
        duplicate_window: None,
    };
    let slow = eu_js.with_timeout(API_TIMEOUT);
    let info = eu_js.stream_info("metrics-eu-mirror").await.unwrap();
    let stored = Restore {
        region: &eu,
        stream: &metrics,
        epoch: Epoch(2),
        takeover: &takeover,
        js: &slow,
        store: &store,
    }
    .snapshot(&info)
    .await
    .unwrap();
    assert_eq!(stored.meta.last_seq, 300);
    eu_js.stream_delete("metrics-eu-mirror").await.unwrap();
    assert!(
        eu_js
            .find_stream("metrics-eu-mirror")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        exec.promote(&eu, Epoch(2), std::slice::from_ref(&metrics))
            .await,
        StepResult::Done
    );
    let resumed = eu_js.stream_info("metrics-eu-mirror").await.unwrap();
    assert_eq!((resumed.state.first_seq, resumed.state.last_seq), (1, 300));
    assert_eq!(resumed.state.messages, 300);
    assert_eq!(resumed.config.metadata(META_ROLE), Some("promoted"));
    assert_eq!(resumed.config.metadata(META_EPOCH), Some("2"));
    assert!(resumed.config.mirror().is_none());
    assert!(store_is_empty(&store));
    let ack = jetstream::new(eu_js.client().clone())
        .publish("telemetry.after", "x".into())
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(ack.sequence, 301);

    // 4. A mirror missing with no snapshot is not invented: Missing, not retryable.
    eu_js.stream_delete("audit-eu-mirror").await.unwrap();
    match exec
        .promote(&eu, Epoch(2), &names(&["audit-eu-mirror"]))
        .await
    {
        StepResult::Failed { retryable, error } => {
            assert!(!retryable);
            assert!(error.contains("no such stream"), "{error}");
        }
        StepResult::Done => panic!("nothing to restore from"),
    }

    // 5. A KV bucket's mirror: promoted with its history, and a CAS put works afterwards.
    let bucket = names(&["KV_assignments_v1"]);
    assert_eq!(exec.promote(&eu, Epoch(2), &bucket).await, StepResult::Done);
    let kv_info = eu_js.stream_info("KV_assignments_v1").await.unwrap();
    assert_eq!(kv_info.state.last_seq, 3);
    assert_eq!(kv_info.config.subjects(), vec!["$KV.assignments_v1.>"]);
    assert_eq!(kv_info.config.metadata(META_EPOCH), Some("2"));
    let eu_kv = jetstream::new(eu_js.client().clone())
        .get_key_value("assignments_v1")
        .await
        .unwrap();
    let entry = eu_kv.entry("worker-1").await.unwrap().unwrap();
    assert_eq!((&entry.value[..], entry.revision), (&b"busy"[..], 3));
    assert_eq!(
        eu_kv.update("worker-1", "done".into(), 3).await.unwrap(),
        4,
        "a CAS put on the promoted bucket"
    );
    assert!(
        eu_kv.update("worker-1", "stale".into(), 3).await.is_err(),
        "a stale CAS is refused"
    );

    lab.shutdown().await.unwrap();
}
