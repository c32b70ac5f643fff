//! Test fixture for notification delivery: a notifier over given sinks with a fast retry
//! policy, and a wait for its delivery counts.
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use natsdr::notify::{
    Backoff, DeliveryCounts, DeliveryPolicy, DeliveryResult, Notifier, NotifierHandle, Sink,
    SinkKind,
};

/// How long a delivery may take to be counted.
pub const WITHIN: Duration = Duration::from_secs(10);

/// A delivery policy retrying after 20 ms, backing off to `max_backoff`, each attempt up to
/// `attempt`, giving up after `deadline`: fast enough for a test to see every outcome.
pub fn policy(max_backoff: Duration, attempt: Duration, deadline: Duration) -> DeliveryPolicy {
    let backoff = Backoff::try_new(Duration::from_millis(20), max_backoff).unwrap();
    DeliveryPolicy::try_new(backoff, attempt, deadline).unwrap()
}

/// Starts a notifier over `sinks` with a queue of `capacity`; returns it and the counts of its
/// deliveries.
pub fn spawn(
    sinks: Vec<Sink>,
    capacity: usize,
    policy: DeliveryPolicy,
) -> (NotifierHandle, Arc<DeliveryCounts>) {
    let counts = Arc::new(DeliveryCounts::default());
    let notifier = Notifier {
        sinks,
        capacity: NonZeroUsize::new(capacity).unwrap(),
        policy,
    }
    .spawn(counts.clone())
    .unwrap();
    (notifier, counts)
}

/// [`spawn`] with the policy the single-sink tests share: backing off to 200 ms, 2 s per
/// attempt, giving up after 5 s.
pub fn spawn_quick(sinks: Vec<Sink>, capacity: usize) -> (NotifierHandle, Arc<DeliveryCounts>) {
    let policy = policy(
        Duration::from_millis(200),
        Duration::from_secs(2),
        Duration::from_secs(5),
    );
    spawn(sinks, capacity, policy)
}

/// Waits until `counts` holds at least `want` deliveries to `sink` that ended as `result`.
pub async fn delivered(counts: &DeliveryCounts, sink: SinkKind, result: DeliveryResult, want: u64) {
    super::wait_until(
        WITHIN,
        format!("{want} {result:?} deliveries to {sink:?}"),
        || std::future::ready(counts.get(sink, result) >= want),
    )
    .await;
}
