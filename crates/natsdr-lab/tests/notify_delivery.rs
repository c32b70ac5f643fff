//! Delivery never holds up the caller: receivers that are down or hang cost `send` nothing, and
//! every notification ends counted exactly once as sent, failed or dropped.
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::notify::{WITHIN, policy, spawn};
use common::wait_until;
use natsdr::config::SecretRef;
use natsdr::notify::{
    DeliveryCounts, DeliveryPolicy, DeliveryResult, IncidentId, Notification, NotificationKind,
    NotifierHandle, PagerDuty, Severity, Sink, SinkKind, Webhook,
};
use natsdr_lab::testkit::receiver::{Receiver, ReceiverOptions};
use tokio::time::Instant;

/// What a `send` costs, even with a full queue in front of a dead receiver: measured at 5-90 µs
/// in a debug build on a loaded 2-core machine, against the seconds a network wait would take.
const SEND_BUDGET: Duration = Duration::from_millis(2);
/// The slowest of many sends may include the OS descheduling the test thread on a busy machine.
const SLOWEST_SEND_BUDGET: Duration = Duration::from_millis(25);

fn notification(i: usize) -> Notification {
    Notification {
        incident: IncidentId::new(format!("inc-{i}")).unwrap(),
        kind: NotificationKind::Trigger,
        severity: Severity::Warning,
        summary: format!("suspect #{i}"),
        source: "natsdr-eu-central-1".into(),
        component: Some("us-east-1".into()),
        group: None,
        class: Some("suspect".into()),
        timestamp: time::OffsetDateTime::now_utc(),
        details: serde_json::Map::new(),
    }
}

fn pagerduty_at(url: reqwest::Url) -> Sink {
    Sink::PagerDuty(PagerDuty {
        events_url: url,
        routing_key: SecretRef::Inline("R0UT1NGKEY".into()),
        client: "natsdr".into(),
        client_url: None,
    })
}

/// A delivery policy backing off up to 100 ms.
fn quick(attempt: Duration, deadline: Duration) -> DeliveryPolicy {
    policy(Duration::from_millis(100), attempt, deadline)
}

/// A PagerDuty receiver that hangs, and a notifier with a queue of `capacity` in front of it
/// whose first notification (#0) is now in flight and will never be answered.
async fn hanging(
    capacity: usize,
    policy: DeliveryPolicy,
) -> (Receiver, NotifierHandle, Arc<DeliveryCounts>) {
    let rx = Receiver::hanging().await.unwrap();
    let (notifier, counts) = spawn(vec![pagerduty_at(rx.pagerduty_url())], capacity, policy);
    notifier.send(notification(0));
    rx.wait_for(1, WITHIN).await.unwrap();
    (rx, notifier, counts)
}

/// Sends a notification per number in `range`, asserting each `send` returns at once.
fn send_all(notifier: &NotifierHandle, range: std::ops::Range<usize>) {
    let mut took: Vec<Duration> = range
        .map(|i| {
            let start = Instant::now();
            notifier.send(notification(i));
            start.elapsed()
        })
        .collect();
    took.sort();
    let (median, slowest) = (took[took.len() / 2], took[took.len() - 1]);
    assert!(median < SEND_BUDGET, "a typical send took {median:?}");
    assert!(
        slowest < SLOWEST_SEND_BUDGET,
        "the slowest send took {slowest:?}"
    );
}

fn total(counts: &DeliveryCounts, sink: SinkKind) -> u64 {
    [
        DeliveryResult::Sent,
        DeliveryResult::Failed,
        DeliveryResult::Dropped,
    ]
    .into_iter()
    .map(|r| counts.get(sink, r))
    .sum()
}

#[tokio::test]
async fn a_receiver_with_nothing_listening_costs_send_nothing_and_ends_as_failed() {
    let port = natsdr_lab::testkit::free_port();
    let url = format!("http://127.0.0.1:{port}/v2/enqueue")
        .parse()
        .unwrap();
    let (notifier, counts) = spawn(
        vec![pagerduty_at(url)],
        8,
        quick(Duration::from_millis(200), Duration::from_millis(400)),
    );

    send_all(&notifier, 0..3);

    wait_until(WITHIN, "all three failed", || {
        std::future::ready(counts.get(SinkKind::PagerDuty, DeliveryResult::Failed) == 3)
    })
    .await;
    assert_eq!(total(&counts, SinkKind::PagerDuty), 3);
}

#[tokio::test]
async fn a_hanging_receiver_with_a_full_queue_costs_send_nothing_and_drops_the_oldest() {
    let (rx, notifier, counts) =
        hanging(4, quick(Duration::from_secs(30), Duration::from_secs(60))).await;

    send_all(&notifier, 1..101);

    // Four wait in the queue; the other 96 pushed each other out.
    assert_eq!(counts.get(SinkKind::PagerDuty, DeliveryResult::Dropped), 96);
    notifier.shutdown(Duration::from_millis(50)).await;
    // Shutdown cut off the one in flight and the four queued: every notification is counted once.
    assert_eq!(
        counts.get(SinkKind::PagerDuty, DeliveryResult::Dropped),
        101
    );
    assert_eq!(total(&counts, SinkKind::PagerDuty), 101);
    assert_eq!(rx.requests().len(), 1);
}

#[tokio::test]
async fn the_queue_keeps_the_newest_notifications_when_it_overflows() {
    let (rx, notifier, counts) = hanging(
        2,
        quick(Duration::from_millis(300), Duration::from_secs(30)),
    )
    .await;
    send_all(&notifier, 1..6);
    rx.set_hang(false);

    wait_until(
        WITHIN,
        "the in-flight one and the two newest are sent",
        || std::future::ready(counts.get(SinkKind::PagerDuty, DeliveryResult::Sent) == 3),
    )
    .await;
    let keys: Vec<_> = rx
        .requests()
        .iter()
        .map(|r| r.json()["dedup_key"].clone())
        .collect();
    // #0 hung once and was retried; #1..#3 were pushed out by #4 and #5.
    assert_eq!(keys, ["inc-0", "inc-0", "inc-4", "inc-5"]);
    assert_eq!(counts.get(SinkKind::PagerDuty, DeliveryResult::Dropped), 3);
}

#[tokio::test]
async fn a_dead_sink_does_not_hold_up_a_healthy_one() {
    let dead = Receiver::hanging().await.unwrap();
    let alive = Receiver::start(ReceiverOptions::default()).await.unwrap();
    let (notifier, counts) = spawn(
        vec![
            pagerduty_at(dead.pagerduty_url()),
            Sink::Webhook(Webhook {
                name: "chat".into(),
                url: alive.webhook_url(),
                secret: None,
            }),
        ],
        4,
        quick(Duration::from_secs(30), Duration::from_secs(60)),
    );

    send_all(&notifier, 0..3);

    alive.wait_for(3, WITHIN).await.unwrap();
    wait_until(WITHIN, "the webhook counted three sent", || {
        std::future::ready(counts.get(SinkKind::Webhook, DeliveryResult::Sent) == 3)
    })
    .await;
    assert_eq!(counts.get(SinkKind::PagerDuty, DeliveryResult::Sent), 0);
}

#[tokio::test]
async fn a_notification_sent_after_shutdown_is_counted_as_dropped() {
    let rx = Receiver::start(ReceiverOptions::default()).await.unwrap();
    let (notifier, counts) = spawn(
        vec![pagerduty_at(rx.pagerduty_url())],
        4,
        quick(Duration::from_secs(1), Duration::from_secs(2)),
    );
    let late = notifier.clone();
    notifier.send(notification(0));
    notifier.shutdown(Duration::from_secs(5)).await;
    assert_eq!(
        counts.get(SinkKind::PagerDuty, DeliveryResult::Sent),
        1,
        "shutdown drains the queue"
    );

    late.send(notification(1));

    assert_eq!(counts.get(SinkKind::PagerDuty, DeliveryResult::Dropped), 1);
    assert_eq!(rx.requests().len(), 1);
}
