//! Recreating tracked consumers and keeping their positions, against a real nats-server: the
//! positioning rule, refusals named with the server's error, fields a strict server does not
//! know, and the position store's round trip.
mod common;

use std::time::Duration;

use common::{Opts, Server};
use natsdr::consumers::{ConsumerInfo, ConsumersError, Position, PositionStore, Recreator};
use natsdr::model::Region;
use natsdr::nats::{JsApi, StreamConfig};
use serde_json::{Value, json};

fn single() -> Server {
    Server::start(Opts {
        domain: "eu",
        leaf_listen: false,
        leaf_remote: None,
    })
}

fn region() -> Region {
    Region::new("eu-central-1").unwrap()
}

/// Stream `S` on `s.*` holding `n` messages on `s.a`.
async fn stream_with(js: &JsApi, n: usize) {
    let cfg = json!({"name": "S", "subjects": ["s.*"], "storage": "file", "num_replicas": 1});
    js.stream_create(&StreamConfig::from_map(cfg.as_object().unwrap().clone()))
        .await
        .unwrap();
    for i in 0..n {
        js.client()
            .request("s.a", format!("{i}").into())
            .await
            .unwrap();
    }
}

fn position(consumer: &str, floor: u64, config: Value) -> Position {
    Position {
        stream: "S".into(),
        consumer: consumer.into(),
        config: config.as_object().unwrap().clone(),
        ack_floor: floor,
        delivered: floor,
        ack_pending: 0,
        redelivered: 0,
        pending: 0,
        read_at_ms: 1,
    }
}

async fn info(js: &JsApi, consumer: &str) -> ConsumerInfo {
    js.call(&format!("CONSUMER.INFO.S.{consumer}"), Value::Null)
        .await
        .unwrap()
}

fn recreator<'a>(region: &'a Region, js: &'a JsApi) -> Recreator<'a> {
    Recreator {
        region,
        js,
        concurrency: 4,
        budget: Duration::from_secs(10),
    }
}

#[tokio::test]
async fn a_refused_consumer_is_named_with_the_servers_error_and_the_others_are_still_recreated() {
    let server = single();
    let js = server.js().await;
    let eu = region();
    stream_with(&js, 10).await;
    let good = position(
        "billing",
        4,
        json!({"durable_name": "billing", "ack_policy": "explicit", "filter_subject": "s.a",
               "max_ack_pending": 7, "a_field_from_a_newer_server": true}),
    );
    let bad = position(
        "broken",
        4,
        // A push consumer with a pull consumer's setting: every server version refuses it.
        json!({"durable_name": "broken", "ack_policy": "explicit", "deliver_subject": "push.broken",
               "max_waiting": 5}),
    );
    let done = recreator(&eu, &js).recreate("S", vec![good, bad]).await;
    assert_eq!(done.created, vec!["billing".to_owned()]);
    assert_eq!(done.failed.len(), 1, "{:?}", done.failed);
    let refusal = natsdr::error_chain(&done.failed[0]);
    assert!(
        matches!(&done.failed[0], ConsumersError::Refused { consumer, .. } if consumer == "broken"),
        "{refusal}"
    );
    assert!(
        refusal.contains("10080") && refusal.contains("max waiting"),
        "the server's own error: {refusal}"
    );
    let billing = info(&js, "billing").await;
    assert_eq!(billing.config["opt_start_seq"], json!(5));
    assert_eq!(billing.config["max_ack_pending"], json!(7));
    assert_eq!(billing.floor(), 4);
    assert!(!billing.config.contains_key("a_field_from_a_newer_server"));
}

#[tokio::test]
async fn a_consumer_past_its_floor_is_left_alone_and_one_behind_it_is_moved_forward() {
    let server = single();
    let js = server.js().await;
    let eu = region();
    stream_with(&js, 10).await;
    for (name, start) in [("ahead", 9), ("behind", 2)] {
        let body = json!({"stream_name": "S", "config": {
            "durable_name": name, "ack_policy": "explicit",
            "deliver_policy": "by_start_sequence", "opt_start_seq": start}});
        let _: Value = js
            .call(&format!("CONSUMER.CREATE.S.{name}"), body)
            .await
            .unwrap();
    }
    let cfg = |name: &str| json!({"durable_name": name, "ack_policy": "explicit"});
    let both = || {
        vec![
            position("ahead", 5, cfg("ahead")),
            position("behind", 5, cfg("behind")),
        ]
    };
    let done = recreator(&eu, &js).recreate("S", both()).await;
    assert_eq!(done.left, vec!["ahead".to_owned()]);
    assert_eq!(done.replaced, vec!["behind".to_owned()]);
    assert!(done.failed.is_empty(), "{:?}", done.failed);
    assert_eq!(info(&js, "ahead").await.floor(), 8);
    assert_eq!(info(&js, "behind").await.floor(), 5);
    // Done again (a retried promotion step): nothing moves.
    let again = recreator(&eu, &js).recreate("S", both()).await;
    assert_eq!(again.left.len(), 2, "{again:?}");
}

#[tokio::test]
async fn positions_stored_in_a_region_load_back_and_a_forgotten_one_is_gone() {
    let server = single();
    let js = server.js().await;
    let store = PositionStore::new(js.clone(), region(), 1);
    assert!(
        store.load(None).await.unwrap().is_empty(),
        "no store yet: nothing"
    );
    assert!(store.ensure().await.unwrap(), "created");
    assert!(!store.ensure().await.unwrap(), "already there");
    let a = position("billing", 40, json!({"durable_name": "billing"}));
    let mut b = position("ledger", 7, json!({"durable_name": "ledger"}));
    store.put(&a).await.unwrap();
    store.put(&b).await.unwrap();
    b.ack_floor = 9;
    store.put(&b).await.unwrap();
    let mut other = a.clone();
    other.stream = "T".into();
    store.put(&other).await.unwrap();
    let mut got = store.load(Some("S")).await.unwrap();
    got.sort_by(|x, y| x.consumer.cmp(&y.consumer));
    assert_eq!(got, vec![a.clone(), b.clone()]);
    assert_eq!(store.load(None).await.unwrap().len(), 3);
    store.remove("S", "billing").await.unwrap();
    assert_eq!(store.load(Some("S")).await.unwrap(), vec![b]);
}
