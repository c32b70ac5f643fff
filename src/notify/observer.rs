//! Where delivery outcomes go: a small trait the metrics layer implements.
use std::sync::atomic::{AtomicU64, Ordering};

/// Which kind of sink; the bounded `sink` label of `natsdr_notifications_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SinkKind {
    /// PagerDuty Events API v2.
    PagerDuty,
    /// A generic JSON webhook.
    Webhook,
}

impl SinkKind {
    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PagerDuty => "pagerduty",
            Self::Webhook => "webhook",
        }
    }
}

/// How one notification ended for one sink; the bounded `result` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryResult {
    /// The receiver accepted it.
    Sent,
    /// Given up: refused for good, or still failing at its deadline.
    Failed,
    /// Never attempted to the end: pushed out of a full queue, sent after shutdown, or cut off
    /// by the shutdown grace period.
    Dropped,
}

impl DeliveryResult {
    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Dropped => "dropped",
        }
    }
}

/// Told once per notification and sink how delivery ended. Called from `send` (drops) and from
/// the delivery tasks, so it must be cheap and must not block.
pub trait DeliveryObserver: Send + Sync + 'static {
    /// Records one outcome.
    fn observe(&self, sink: SinkKind, result: DeliveryResult);
}

impl<F: Fn(SinkKind, DeliveryResult) + Send + Sync + 'static> DeliveryObserver for F {
    fn observe(&self, sink: SinkKind, result: DeliveryResult) {
        self(sink, result)
    }
}

/// Plain counters per sink kind and result: for tests, and for anything that wants totals
/// without a metrics registry.
#[derive(Debug, Default)]
pub struct DeliveryCounts {
    counts: [[AtomicU64; 3]; 2],
}

impl DeliveryCounts {
    /// How many notifications to `sink` ended with `result`.
    pub fn get(&self, sink: SinkKind, result: DeliveryResult) -> u64 {
        self.cell(sink, result).load(Ordering::Relaxed)
    }

    fn cell(&self, sink: SinkKind, result: DeliveryResult) -> &AtomicU64 {
        &self.counts[sink as usize][result as usize]
    }
}

impl DeliveryObserver for DeliveryCounts {
    fn observe(&self, sink: SinkKind, result: DeliveryResult) {
        self.cell(sink, result).fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn counts_are_kept_per_sink_and_result_and_closures_observe_too() {
        let counts = DeliveryCounts::default();
        counts.observe(SinkKind::Webhook, DeliveryResult::Dropped);
        counts.observe(SinkKind::Webhook, DeliveryResult::Dropped);
        counts.observe(SinkKind::PagerDuty, DeliveryResult::Sent);
        assert_eq!(counts.get(SinkKind::Webhook, DeliveryResult::Dropped), 2);
        assert_eq!(counts.get(SinkKind::PagerDuty, DeliveryResult::Sent), 1);
        assert_eq!(counts.get(SinkKind::PagerDuty, DeliveryResult::Dropped), 0);

        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let observer: Arc<dyn DeliveryObserver> = Arc::new({
            let seen = seen.clone();
            move |sink: SinkKind, result: DeliveryResult| {
                seen.lock().unwrap().push((sink.as_str(), result.as_str()));
            }
        });
        observer.observe(SinkKind::PagerDuty, DeliveryResult::Failed);
        assert_eq!(*seen.lock().unwrap(), [("pagerduty", "failed")]);
    }
}
