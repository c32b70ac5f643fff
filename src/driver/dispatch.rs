//! Performing actions: each becomes a spawned executor call whose outcome returns as an event.
//! Nothing here waits: a slow DNS server or PagerDuty never holds the state-owning task.
use crate::core::{
    Action, CaptureResult, ClaimResult, Event, FenceResult, Instant, Ownership, PhaseName,
    Severity, StepResult,
};
use crate::dns::{self, Arbiter, ClientRecord, ClientTarget};
use crate::exec::{Fencer, Promoter, Reseeder};
use crate::model::{Epoch, Region};
use crate::notify::{IncidentId, Notification, Severity as NSeverity};
use crate::telemetry::Metrics;

use super::{Driver, status};

/// A short description of actions, for dry runs.
pub fn describe(actions: &[Action]) -> String {
    actions
        .iter()
        .map(|a| match a {
            Action::ClaimEpoch { claim, .. } => {
                format!("claim epoch {} for {}", claim.epoch, claim.region)
            }
            Action::Fence {
                region, streams, ..
            } => format!("fence {} streams in {region}", streams.len()),
            Action::Unfence {
                region, streams, ..
            } => format!("unfence {} streams in {region}", streams.len()),
            Action::Promote {
                region, streams, ..
            } => format!("promote {} mirrors in {region}", streams.len()),
            Action::SwapDns { from, to, .. } => format!("swap DNS from {from} to {to}"),
            Action::CaptureTail {
                region,
                into,
                streams,
                ..
            } => format!(
                "capture the divergent tail of {} streams in {region} into {into}",
                streams.len()
            ),
            Action::Reseed {
                region,
                source,
                streams,
                ..
            } => format!(
                "rebuild {} streams in {region} as mirrors of {source}",
                streams.len()
            ),
            Action::Notify { to, .. } => format!("notify ({})", status::phase_label(*to)),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn to_dns(o: &Ownership) -> dns::Ownership {
    dns::Ownership::new(o.region.clone(), o.epoch)
}

fn from_dns(o: &dns::Ownership) -> Ownership {
    Ownership {
        region: o.region.clone(),
        epoch: o.epoch,
    }
}

/// Runs an executor's work for one action, telling the core it is still at work every `every`
/// (`Event::Working`) until the work ends (the work itself sends the outcome).
struct Heartbeat {
    tx: tokio::sync::mpsc::Sender<Event>,
    action: Action,
    every: std::time::Duration,
}

impl Heartbeat {
    fn spawn(self, work: impl std::future::Future<Output = ()> + Send + 'static) {
        tokio::spawn(async move {
            let mut work = std::pin::pin!(work);
            let every = self.every.max(std::time::Duration::from_millis(10));
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = &mut work => return,
                    _ = tick.tick() => {
                        let working = Event::Working { action: self.action.clone() };
                        if self.tx.send(working).await.is_err() {
                            // The driver is gone; finish the work quietly.
                            work.await;
                            return;
                        }
                    }
                }
            }
        });
    }
}

fn step_failed(e: &dns::DnsError) -> StepResult {
    StepResult::Failed {
        retryable: e.is_retryable(),
        error: crate::error_chain(e),
    }
}

/// What a claim's outcome tells the core. A missing record is not retryable: the arbiter was
/// never seeded, and only a person can do that.
fn claim_result(outcome: Result<dns::ClaimResult, dns::DnsError>) -> ClaimResult {
    match outcome {
        Ok(dns::ClaimResult::Won | dns::ClaimResult::AlreadyOurs) => ClaimResult::Won,
        Ok(dns::ClaimResult::Lost {
            current: Some(seen),
        }) => ClaimResult::Lost {
            seen: from_dns(&seen),
        },
        Ok(dns::ClaimResult::Lost { current: None }) => ClaimResult::Failed {
            retryable: false,
            error: "the ownership record is missing: seed it (see the runbook)".into(),
        },
        Err(e) => ClaimResult::Failed {
            retryable: e.is_retryable(),
            error: crate::error_chain(&e),
        },
    }
}

/// What a finished executor call leaves in the metrics and the log, read from the event it
/// returned and how long it took (seconds).
type Record = fn(&Metrics, &Event, f64);

/// Claims: the DNS operation's result and the claim phase's duration.
fn record_claim(metrics: &Metrics, event: &Event, took: f64) {
    if let Event::Claimed { result, .. } = event {
        let result = match result {
            ClaimResult::Won => "ok",
            ClaimResult::Lost { .. } => "lost",
            ClaimResult::Failed { .. } => "error",
        };
        metrics.dns_op("claim", result);
    }
    metrics.phase("claim", took);
}

/// Fences: the phase's duration, and a warning when it failed.
fn record_fence(metrics: &Metrics, event: &Event, took: f64) {
    metrics.phase("fence", took);
    if let Event::Fenced {
        region,
        epoch,
        result: FenceResult::Failed { error, .. },
    } = event
    {
        tracing::warn!(%region, %epoch, %error, "fence failed");
    }
}

/// Unfencing is not a failover phase: nothing to record.
fn record_nothing(_: &Metrics, _: &Event, _: f64) {}

/// Promotions: the phase's duration.
fn record_promote(metrics: &Metrics, _: &Event, took: f64) {
    metrics.phase("promote", took);
}

/// DNS swaps: the phase's duration (the swap and verify operations count themselves).
fn record_dns(metrics: &Metrics, _: &Event, took: f64) {
    metrics.phase("dns", took);
}

/// Tail captures: the failback step, what became of the tail's messages, or a warning.
fn record_capture(metrics: &Metrics, event: &Event, took: f64) {
    let Event::TailCaptured {
        region,
        epoch,
        result,
    } = event
    else {
        return;
    };
    match result {
        CaptureResult::Done { tail } => {
            metrics.failback_step("capture_tail", true, took);
            for t in tail {
                metrics.failback_tail(t.captured, t.recovered, t.duplicates, t.kept);
            }
        }
        CaptureResult::Failed { error, .. } => {
            metrics.failback_step("capture_tail", false, took);
            tracing::warn!(%region, %epoch, %error, "tail capture failed");
        }
    }
}

/// Reseeds: the failback step, and a warning when it failed.
fn record_reseed(metrics: &Metrics, event: &Event, took: f64) {
    let Event::Reseeded {
        region,
        epoch,
        result,
    } = event
    else {
        return;
    };
    metrics.failback_step("reseed", *result == StepResult::Done, took);
    if let StepResult::Failed { error, .. } = result {
        tracing::warn!(%region, %epoch, %error, "reseed failed");
    }
}

impl<Pr, A, C, F, P> Driver<Pr, A, C, F, P>
where
    A: Arbiter + Send + Sync + 'static,
    C: ClientRecord + Send + Sync + 'static,
    F: Fencer,
    P: Promoter + Reseeder,
{
    /// Starts performing `action`; its outcome comes back later as an event. Only a
    /// notification is done at once (it is queued, never awaited).
    pub(super) fn dispatch(&mut self, action: Action, now: Instant) {
        let exec = self.exec.clone();
        match action.clone() {
            Action::ClaimEpoch { expect, claim } => {
                self.perform(action, record_claim, async move {
                    let outcome = exec.arbiter.claim(&to_dns(&expect), &to_dns(&claim)).await;
                    let result = claim_result(outcome);
                    Event::Claimed { claim, result }
                });
            }
            Action::Fence {
                region,
                epoch,
                streams,
            } => self.perform(action, record_fence, async move {
                let result = exec.fencer.fence(&region, epoch, &streams).await;
                Event::Fenced {
                    region,
                    epoch,
                    result,
                }
            }),
            Action::Unfence {
                region,
                epoch,
                streams,
            } => self.perform(action, record_nothing, async move {
                let result = exec.fencer.unfence(&region, epoch, &streams).await;
                Event::Unfenced {
                    region,
                    epoch,
                    result,
                }
            }),
            Action::Promote {
                region,
                epoch,
                streams,
            } => self.perform(action, record_promote, async move {
                let result = exec.promoter.promote(&region, epoch, &streams).await;
                Event::Promoted {
                    region,
                    epoch,
                    result,
                }
            }),
            Action::SwapDns { from, to, epoch } => self.swap_dns(action, &from, &to, epoch),
            Action::CaptureTail {
                region,
                into,
                epoch,
                streams,
            } => self.perform(action, record_capture, async move {
                let promoter = &exec.promoter;
                let result = promoter.capture_tail(&region, &into, epoch, &streams).await;
                Event::TailCaptured {
                    region,
                    epoch,
                    result,
                }
            }),
            Action::Reseed {
                region,
                source,
                epoch,
                streams,
            } => self.perform(action, record_reseed, async move {
                let promoter = &exec.promoter;
                let result = promoter.reseed(&region, &source, epoch, &streams).await;
                Event::Reseeded {
                    region,
                    epoch,
                    result,
                }
            }),
            Action::Notify {
                from,
                to,
                severity,
                summary,
            } => self.notify(from, to, severity, summary, now),
        }
    }

    /// Runs one executor call (`work`, which makes the outcome event) on its own task with
    /// heartbeats for `action`, times it, lets `record` write the metrics and logs, and sends
    /// the event to the driver.
    fn perform(
        &self,
        action: Action,
        record: Record,
        work: impl std::future::Future<Output = Event> + Send + 'static,
    ) {
        let tx = self.events_tx.clone();
        let metrics = self.metrics.clone();
        let beat = Heartbeat {
            tx: self.events_tx.clone(),
            action,
            every: self.cfg.timing.step_timeout / 3,
        };
        beat.spawn(async move {
            let t0 = tokio::time::Instant::now();
            let event = work.await;
            record(&metrics, &event, t0.elapsed().as_secs_f64());
            let _ = tx.send(event).await;
        });
    }

    /// Swaps the client record from `from`'s entry point to `to`'s, then waits until the
    /// authoritative servers answer the new value; a region that is not configured is a bug
    /// in the core, logged and not performed.
    fn swap_dns(&mut self, action: Action, from: &Region, to: &Region, epoch: Epoch) {
        let target = |r| {
            self.cfg
                .region(r)
                .map(|rc| ClientTarget::from(&rc.entry_point))
        };
        let (Some(from_t), Some(to_t)) = (target(from), target(to)) else {
            tracing::error!(%from, %to, "SwapDns names a region that is not configured");
            return;
        };
        let within = self.cfg.timing.step_timeout;
        let (client, metrics, from) =
            (self.exec.client.clone(), self.metrics.clone(), from.clone());
        self.metrics.set_dns_pending(true);
        self.perform(action, record_dns, async move {
            let result = match client.swap(Some(&from_t), &to_t).await {
                Ok(dns::SwapResult::Swapped | dns::SwapResult::AlreadyThere) => {
                    metrics.dns_op("swap", "ok");
                    match client.verify(&to_t, within).await {
                        Ok(_) => {
                            metrics.dns_op("verify", "ok");
                            metrics.set_dns_pending(false);
                            StepResult::Done
                        }
                        Err(e) => {
                            metrics.dns_op("verify", "error");
                            step_failed(&e)
                        }
                    }
                }
                Ok(dns::SwapResult::Lost { current }) => {
                    metrics.dns_op("swap", "lost");
                    StepResult::Failed {
                        retryable: false,
                        error: format!(
                            "the client record holds {current:?}, not {from}'s entry point"
                        ),
                    }
                }
                Err(e) => {
                    metrics.dns_op("swap", "error");
                    step_failed(&e)
                }
            };
            Event::DnsSwapped { epoch, result }
        });
    }

    fn notify(
        &mut self,
        from: PhaseName,
        to: PhaseName,
        severity: Severity,
        summary: String,
        now: Instant,
    ) {
        if let Some(total) = self.incident.last_total.take() {
            self.metrics.phase("total", total.as_secs_f64());
        }
        let Some(notifier) = &self.notifier else {
            return;
        };
        let site = self.cfg.watchdog.site.to_string();
        let Some((kind, incident)) = self.incident.page(to, &site, now) else {
            return;
        };
        let Ok(incident) = IncidentId::new(incident) else {
            return;
        };
        let mut details = serde_json::Map::new();
        details.insert("from".into(), status::phase_label(from).into());
        details.insert("to".into(), status::phase_label(to).into());
        details.insert("reason".into(), summary.clone().into());
        details.insert("epoch".into(), serde_json::json!(self.state.epoch()));
        details.insert(
            "active_region".into(),
            serde_json::json!(self.state.known.as_ref().map(|o| o.region.to_string())),
        );
        notifier.send(Notification {
            incident,
            kind,
            severity: match severity {
                Severity::Critical => NSeverity::Critical,
                Severity::Warning => NSeverity::Warning,
                Severity::Info => NSeverity::Info,
            },
            summary: format!("natsdr {}: {summary}", self.cfg.watchdog.id),
            source: self.cfg.watchdog.id.clone(),
            component: Some("nats-jetstream".into()),
            group: Some(site),
            class: Some(status::phase_label(to).into()),
            timestamp: time::OffsetDateTime::now_utc(),
            details,
        });
    }
}
