//! Asynchronous delivery: a bounded queue and a task per sink, retries with backoff until a
//! per-event deadline. Sending never waits for the network, so it never delays a failover.
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use reqwest::Client;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::queue::{Pushed, Queue};
use super::{
    Backoff, DeliveryError, DeliveryObserver, DeliveryResult, Notification, NotifyError, Sink,
    SinkKind,
};

/// How hard to try each notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryPolicy {
    backoff: Backoff,
    attempt_timeout: Duration,
    deadline: Duration,
}

impl DeliveryPolicy {
    /// `attempt_timeout` bounds one HTTP request; `deadline`, counted from `send`, bounds all
    /// retries of one notification. Refuses a zero timeout and a deadline shorter than one attempt.
    pub fn try_new(
        backoff: Backoff,
        attempt_timeout: Duration,
        deadline: Duration,
    ) -> Result<Self, NotifyError> {
        if attempt_timeout.is_zero() {
            return Err(NotifyError::BadPolicy("attempt timeout must be above zero"));
        }
        if deadline < attempt_timeout {
            return Err(NotifyError::BadPolicy(
                "deadline must be at least one attempt timeout",
            ));
        }
        Ok(Self {
            backoff,
            attempt_timeout,
            deadline,
        })
    }
}

impl Default for DeliveryPolicy {
    /// 1 s doubling to 60 s, 10 s per attempt, 5 min per notification: outlasts a PagerDuty
    /// rate-limit window without holding a stale page for long.
    fn default() -> Self {
        Self {
            backoff: Backoff::try_new(Duration::from_secs(1), Duration::from_secs(60))
                .expect("constant bounds are ordered"),
            attempt_timeout: Duration::from_secs(10),
            deadline: Duration::from_secs(300),
        }
    }
}

/// What to start: the sinks, each one's queue capacity, and the retry policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notifier {
    /// Where notifications go; each gets its own queue and task.
    pub sinks: Vec<Sink>,
    /// Notifications waiting per sink (the one being delivered not included). When a queue is
    /// full, the **oldest** waiting notification is dropped: the newest says most about the
    /// present (a resolve must not be lost behind stale triggers).
    pub capacity: NonZeroUsize,
    /// Retries and deadlines.
    pub policy: DeliveryPolicy,
}

impl Notifier {
    /// Starts one delivery task per sink on the current tokio runtime (like `tokio::spawn`, it
    /// panics outside one). Every outcome (sent, failed, dropped) is reported to `observer`
    /// exactly once per notification and sink.
    pub fn spawn(self, observer: Arc<dyn DeliveryObserver>) -> Result<NotifierHandle, NotifyError> {
        let client = Client::builder()
            .user_agent(concat!("natsdr/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(NotifyError::HttpClient)?;
        let mut lanes = Vec::with_capacity(self.sinks.len());
        let mut workers = Vec::with_capacity(self.sinks.len());
        for sink in self.sinks {
            let queue = Arc::new(Queue::new(self.capacity.get()));
            workers.push(tokio::spawn(run(
                sink.clone(),
                queue.clone(),
                client.clone(),
                self.policy,
                observer.clone(),
            )));
            lanes.push(Lane { sink, queue });
        }
        Ok(NotifierHandle {
            inner: Arc::new(Inner {
                lanes,
                observer,
                workers: Mutex::new(workers),
            }),
        })
    }
}

/// The sending side, cheap to clone. When the last clone is dropped the queues close and the
/// tasks finish what is queued; [`NotifierHandle::shutdown`] does the same within a grace period.
#[derive(Clone)]
pub struct NotifierHandle {
    inner: Arc<Inner>,
}

struct Inner {
    lanes: Vec<Lane>,
    observer: Arc<dyn DeliveryObserver>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

struct Lane {
    sink: Sink,
    queue: Arc<Queue<Envelope>>,
}

/// A notification on its way, shared by every sink's queue.
#[derive(Clone)]
struct Envelope {
    notification: Arc<Notification>,
    queued_at: Instant,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for lane in &self.lanes {
            lane.queue.close();
        }
    }
}

impl std::fmt::Debug for NotifierHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sinks: Vec<&str> = self.inner.lanes.iter().map(|l| l.sink.name()).collect();
        f.debug_struct("NotifierHandle")
            .field("sinks", &sinks)
            .finish()
    }
}

impl NotifierHandle {
    /// Queues `n` for every sink that accepts it. Never blocks and never awaits: a full queue
    /// drops its oldest notification, counted as `dropped` and logged.
    pub fn send(&self, n: Notification) {
        let envelope = Envelope {
            notification: Arc::new(n),
            queued_at: Instant::now(),
        };
        for lane in &self.inner.lanes {
            if !lane.sink.accepts(&envelope.notification) {
                continue;
            }
            let (lost, why) = match lane.queue.push(envelope.clone()) {
                Pushed::Queued => continue,
                Pushed::Evicted(old) => (old, "queue full: dropped the oldest notification"),
                Pushed::Closed(new) => (new, "notifier shut down: dropped the notification"),
            };
            tracing::warn!(
                sink = lane.sink.name(),
                incident = %lost.notification.incident,
                kind = ?lost.notification.kind,
                "{why}"
            );
            self.inner
                .observer
                .observe(lane.sink.kind(), DeliveryResult::Dropped);
        }
    }

    /// Closes every queue (for all clones), lets the tasks deliver what is queued for up to
    /// `grace`, then stops them; whatever was still queued or in flight is counted as dropped.
    pub async fn shutdown(self, grace: Duration) {
        for lane in &self.inner.lanes {
            lane.queue.close();
        }
        let mut workers = std::mem::take(
            &mut *self
                .inner
                .workers
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let drained = tokio::time::timeout(grace, futures::future::join_all(workers.iter_mut()));
        if drained.await.is_ok() {
            return;
        }
        for w in &workers {
            w.abort();
        }
        // NB: awaiting the aborted tasks drops their in-flight guards, which count the drop.
        futures::future::join_all(workers).await;
        for lane in &self.inner.lanes {
            for lost in lane.queue.take_all() {
                tracing::warn!(
                    sink = lane.sink.name(),
                    incident = %lost.notification.incident,
                    "shutdown grace period over: dropped a queued notification"
                );
                self.inner
                    .observer
                    .observe(lane.sink.kind(), DeliveryResult::Dropped);
            }
        }
    }
}

/// One sink's delivery loop: strictly in order, one notification at a time, so a trigger is
/// never overtaken by its resolve.
async fn run(
    sink: Sink,
    queue: Arc<Queue<Envelope>>,
    client: Client,
    policy: DeliveryPolicy,
    observer: Arc<dyn DeliveryObserver>,
) {
    while let Some(envelope) = queue.pop().await {
        let guard = InFlight {
            observer: &*observer,
            sink: sink.kind(),
            done: false,
        };
        let result = deliver(&sink, &client, &envelope, &policy).await;
        guard.finish(result);
    }
}

/// Reports `Dropped` if the task is aborted mid-delivery, so no notification vanishes uncounted.
struct InFlight<'a> {
    observer: &'a dyn DeliveryObserver,
    sink: SinkKind,
    done: bool,
}

impl InFlight<'_> {
    fn finish(mut self, result: DeliveryResult) {
        self.done = true;
        self.observer.observe(self.sink, result);
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.observer.observe(self.sink, DeliveryResult::Dropped);
        }
    }
}

/// Attempts until accepted, refused for good, or out of time. The first attempt always happens,
/// however long the notification waited in the queue; retries only until the deadline.
async fn deliver(
    sink: &Sink,
    client: &Client,
    envelope: &Envelope,
    policy: &DeliveryPolicy,
) -> DeliveryResult {
    let n = &envelope.notification;
    let deadline = envelope.queued_at + policy.deadline;
    let mut timeout = policy.attempt_timeout;
    let mut retry: u32 = 0;
    loop {
        let err = match sink.attempt(client, n, timeout).await {
            Ok(()) => {
                tracing::debug!(
                    sink = sink.name(),
                    incident = %n.incident,
                    retries = retry,
                    "notification sent"
                );
                return DeliveryResult::Sent;
            }
            Err(err) => err,
        };
        if !err.is_retryable() {
            tracing::error!(
                sink = sink.name(),
                incident = %n.incident,
                error = %chain(&err),
                "notification refused; not retrying"
            );
            return DeliveryResult::Failed;
        }
        let wait = match &err {
            DeliveryError::Unavailable {
                retry_after: Some(asked),
                ..
            } => policy.backoff.delay(retry).max(*asked),
            _ => policy.backoff.delay(retry),
        };
        let resume = Instant::now() + wait;
        if resume >= deadline {
            tracing::error!(
                sink = sink.name(),
                incident = %n.incident,
                error = %chain(&err),
                retries = retry,
                "notification failed; deadline reached"
            );
            return DeliveryResult::Failed;
        }
        tracing::warn!(
            sink = sink.name(),
            incident = %n.incident,
            error = %chain(&err),
            retry_in = ?wait,
            "notification not delivered; will retry"
        );
        tokio::time::sleep_until(resume).await;
        timeout = policy.attempt_timeout.min(deadline - resume);
        retry = retry.saturating_add(1);
    }
}

/// The error and its causes on one line ("transport error: ...: connection refused"): the cause
/// is what tells an operator whether the receiver is down, slow or misconfigured.
fn chain(err: &DeliveryError) -> String {
    let mut out = err.to_string();
    let mut cause = std::error::Error::source(err);
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}
