//! PagerDuty Events API v2 delivery against a real local receiver that checks the schema.
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::notify::{WITHIN, delivered, spawn_quick};
use natsdr::config::SecretRef;
use natsdr::notify::{
    DeliveryCounts, DeliveryResult, IncidentId, Notification, NotificationKind, NotifierHandle,
    PagerDuty, Severity, Sink, SinkKind,
};
use natsdr_lab::testkit::receiver::{Receiver, ReceiverOptions};
use serde_json::json;

fn notification(incident: &str, kind: NotificationKind) -> Notification {
    let mut details = serde_json::Map::new();
    details.insert("epoch".into(), json!(8));
    details.insert("from".into(), json!("suspect"));
    details.insert("to".into(), json!("failing_over"));
    details.insert(
        "reason".into(),
        json!("primary down, confirmed by 2 for 6s"),
    );
    Notification {
        incident: IncidentId::new(incident).unwrap(),
        kind,
        severity: Severity::Critical,
        summary: "us-east-1 lost: failing over to eu-central-1".into(),
        source: "natsdr-eu-central-1".into(),
        component: Some("us-east-1".into()),
        group: Some("natsdr".into()),
        class: Some("failover".into()),
        timestamp: time::OffsetDateTime::now_utc(),
        details,
    }
}

fn pagerduty(rx: &Receiver, key: &str) -> Sink {
    Sink::PagerDuty(PagerDuty {
        events_url: rx.pagerduty_url(),
        routing_key: SecretRef::Inline(key.into()),
        client: "natsdr eu-central-1".into(),
        client_url: Some("http://127.0.0.1:9/v1/status".parse().unwrap()),
    })
}

/// A notifier paging `rx` with routing key `key`, and its delivery counts.
fn page(rx: &Receiver, key: &str) -> (NotifierHandle, Arc<DeliveryCounts>) {
    start(pagerduty(rx, key))
}

fn start(sink: Sink) -> (NotifierHandle, Arc<DeliveryCounts>) {
    spawn_quick(vec![sink], 16)
}

/// A receiver answering valid events with `replies` in order (202 once they run out).
async fn replying(replies: &[u16]) -> Receiver {
    Receiver::start(ReceiverOptions {
        replies: replies.to_vec(),
        ..ReceiverOptions::default()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_trigger_then_a_resolve_reach_pagerduty_with_the_same_dedup_key() {
    let rx = replying(&[]).await;
    let (notifier, counts) = page(&rx, "R0UT1NGKEY");

    notifier.send(notification("natsdr-epoch-8", NotificationKind::Trigger));
    notifier.send(notification("natsdr-epoch-8", NotificationKind::Resolve));

    let got = rx.wait_for(2, WITHIN).await.unwrap();
    assert_eq!(got.len(), 2);
    for r in &got {
        assert_eq!(r.problems, Vec::<String>::new(), "{:?}", r.json());
        assert_eq!(r.status, Some(202));
        assert_eq!(r.headers["content-type"], "application/json");
    }
    let (trigger, resolve) = (got[0].json(), got[1].json());
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["routing_key"], "R0UT1NGKEY");
    assert_eq!(trigger["payload"]["severity"], "critical");
    assert_eq!(trigger["payload"]["custom_details"]["epoch"], 8);
    assert_eq!(trigger["client"], "natsdr eu-central-1");
    assert_eq!(
        resolve,
        json!({"routing_key": "R0UT1NGKEY", "event_action": "resolve", "dedup_key": "natsdr-epoch-8"})
    );
    assert_eq!(trigger["dedup_key"], resolve["dedup_key"]);
    delivered(&counts, SinkKind::PagerDuty, DeliveryResult::Sent, 2).await;
}

#[tokio::test]
async fn an_event_pagerduty_refuses_as_invalid_is_not_retried() {
    let rx = replying(&[]).await;
    // An empty routing key is an invalid event: the receiver answers 400, as PagerDuty does.
    let (notifier, counts) = page(&rx, "");

    notifier.send(notification("inc-invalid", NotificationKind::Trigger));

    delivered(&counts, SinkKind::PagerDuty, DeliveryResult::Failed, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = rx.requests();
    assert_eq!(got.len(), 1, "a 400 must not be retried");
    assert_eq!(got[0].status, Some(400));
    assert_eq!(got[0].problems, ["routing_key must be a non-empty string"]);
    assert_eq!(counts.get(SinkKind::PagerDuty, DeliveryResult::Sent), 0);
}

#[tokio::test]
async fn a_server_error_is_retried_until_pagerduty_accepts() {
    let rx = replying(&[500, 503, 202]).await;
    let (notifier, counts) = page(&rx, "R0UT1NGKEY");

    notifier.send(notification("inc-retry", NotificationKind::Trigger));

    delivered(&counts, SinkKind::PagerDuty, DeliveryResult::Sent, 1).await;
    let statuses: Vec<_> = rx.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [Some(500), Some(503), Some(202)]);
    assert_eq!(counts.get(SinkKind::PagerDuty, DeliveryResult::Failed), 0);
}

#[tokio::test]
async fn a_rate_limited_event_is_retried() {
    let rx = replying(&[429]).await;
    let (notifier, counts) = page(&rx, "R0UT1NGKEY");

    notifier.send(notification("inc-429", NotificationKind::Trigger));

    delivered(&counts, SinkKind::PagerDuty, DeliveryResult::Sent, 1).await;
    assert_eq!(rx.requests().len(), 2);
}

#[tokio::test]
async fn info_notifications_never_page() {
    let rx = replying(&[]).await;
    let (notifier, _counts) = page(&rx, "R0UT1NGKEY");

    notifier.send(notification("inc-info", NotificationKind::Info));
    notifier.send(notification("inc-info", NotificationKind::Acknowledge));

    let got = rx.wait_for(1, WITHIN).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rx.requests().len(), 1);
    assert_eq!(got[0].json()["event_action"], "acknowledge");
}

#[tokio::test]
async fn the_routing_key_is_read_from_its_secret_file_at_delivery_time() {
    let rx = replying(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("routing-key");
    std::fs::write(&key_file, "K3Y-FROM-FILE\n").unwrap();
    let mut sink = pagerduty(&rx, "unused");
    if let Sink::PagerDuty(pd) = &mut sink {
        pd.routing_key = SecretRef::File(key_file.clone());
    }
    let (notifier, _counts) = start(sink);

    notifier.send(notification("inc-file", NotificationKind::Trigger));
    rx.wait_for(1, WITHIN).await.unwrap();
    std::fs::write(&key_file, "R0TATED-K3Y\n").unwrap();
    notifier.send(notification("inc-file", NotificationKind::Resolve));

    let got = rx.wait_for(2, WITHIN).await.unwrap();
    assert_eq!(got[0].json()["routing_key"], "K3Y-FROM-FILE");
    assert_eq!(got[1].json()["routing_key"], "R0TATED-K3Y");
}

#[tokio::test]
async fn a_routing_key_that_cannot_be_read_fails_without_a_request() {
    let rx = replying(&[]).await;
    let mut sink = pagerduty(&rx, "unused");
    if let Sink::PagerDuty(pd) = &mut sink {
        pd.routing_key = SecretRef::File("/nonexistent/natsdr/routing-key".into());
    }
    let (notifier, counts) = start(sink);

    notifier.send(notification("inc-nokey", NotificationKind::Trigger));

    delivered(&counts, SinkKind::PagerDuty, DeliveryResult::Failed, 1).await;
    assert!(rx.requests().is_empty());
}

#[tokio::test]
async fn a_resolve_never_overtakes_its_retried_trigger() {
    let rx = replying(&[502, 502]).await;
    let (notifier, counts) = page(&rx, "R0UT1NGKEY");

    notifier.send(notification("inc-order", NotificationKind::Trigger));
    notifier.send(notification("inc-order", NotificationKind::Resolve));

    delivered(&counts, SinkKind::PagerDuty, DeliveryResult::Sent, 2).await;
    let actions: Vec<_> = rx
        .requests()
        .iter()
        .map(|r| (r.json()["event_action"].clone(), r.status))
        .collect();
    assert_eq!(
        actions,
        [
            (json!("trigger"), Some(502)),
            (json!("trigger"), Some(502)),
            (json!("trigger"), Some(202)),
            (json!("resolve"), Some(202)),
        ]
    );
}

#[tokio::test]
async fn a_rate_limit_s_retry_after_outweighs_a_shorter_backoff() {
    let rx = Receiver::start(ReceiverOptions {
        replies: vec![429],
        retry_after_secs: Some(1),
        ..ReceiverOptions::default()
    })
    .await
    .unwrap();
    let (notifier, counts) = page(&rx, "R0UT1NGKEY");

    notifier.send(notification("inc-retry-after", NotificationKind::Trigger));

    delivered(&counts, SinkKind::PagerDuty, DeliveryResult::Sent, 1).await;
    let got = rx.requests();
    let waited = got[1].at - got[0].at;
    assert!(waited >= Duration::from_secs(1), "retried after {waited:?}");
}
