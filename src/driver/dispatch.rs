//! Performing actions: each becomes a spawned executor call whose outcome returns as an event.
//! Nothing here waits: a slow DNS server or PagerDuty never holds the state-owning task.
use std::time::Duration;

use crate::core::{
    Action, CaptureResult, ClaimResult, Event, FenceResult, Instant, Ownership, PhaseName,
    Severity, StepResult,
};
use crate::dns::{self, Arbiter, ClientRecord, ClientTarget};
use crate::exec::{Fencer, Promoter, Reseeder};
use crate::notify::{IncidentId, Notification, NotificationKind, Severity as NSeverity};

use super::{Driver, Probe, status};

/// The incident a page belongs to: one PagerDuty dedup key from leaving Healthy until back.
#[derive(Debug, Default)]
pub struct Incident {
    id: Option<String>,
    /// Whether the open incident was triggered (paged), not only told as info (Degraded).
    triggered: bool,
    failover_started: Option<Instant>,
    /// The latest completed failover's total duration, for metrics.
    pub last_total: Option<Duration>,
}

impl Incident {
    pub fn phase_changed(&mut self, from: PhaseName, to: PhaseName, now: Instant) {
        if matches!(
            to,
            PhaseName::FailingOver | PhaseName::SwitchingOver | PhaseName::FailingBack
        ) {
            self.failover_started = Some(now);
        }
        if matches!(
            from,
            PhaseName::FailingOver | PhaseName::SwitchingOver | PhaseName::FailingBack
        ) && let Some(t0) = self.failover_started.take()
        {
            self.last_total = Some(now.since(t0));
        }
    }

    /// The current incident's id, opening one if none is open.
    fn open(&mut self, site: &str, now: Instant) -> String {
        self.id
            .get_or_insert_with(|| {
                let ts = time::OffsetDateTime::now_utc().unix_timestamp();
                format!("natsdr-{site}-{ts}-{}", now.0)
            })
            .clone()
    }

    /// Closes the open incident: its id, and whether it was ever triggered.
    fn close(&mut self) -> Option<(String, bool)> {
        let triggered = std::mem::take(&mut self.triggered);
        self.id.take().map(|id| (id, triggered))
    }

    /// What a move to `to` tells, under which incident id: a trigger for every phase that needs
    /// a person (opening the incident if none is open), info for Degraded, and back in Healthy
    /// a resolve of the open incident. `None`: nothing to tell (Healthy with no incident open).
    fn page(
        &mut self,
        to: PhaseName,
        site: &str,
        now: Instant,
    ) -> Option<(NotificationKind, String)> {
        Some(match to {
            // NB: an incident that never paged (Degraded and back) closes as info: a resolve
            // would reach PagerDuty for a key it never saw.
            PhaseName::Healthy => match self.close()? {
                (id, true) => (NotificationKind::Resolve, id),
                (id, false) => (NotificationKind::Info, id),
            },
            PhaseName::Degraded | PhaseName::Starting => {
                (NotificationKind::Info, self.open(site, now))
            }
            PhaseName::Suspect
            | PhaseName::Isolated
            | PhaseName::FailingOver
            | PhaseName::SwitchingOver
            | PhaseName::FailingBack
            | PhaseName::FailedOver
            | PhaseName::StoodDown
            | PhaseName::Blocked
            | PhaseName::SelfFenced => {
                self.triggered = true;
                (NotificationKind::Trigger, self.open(site, now))
            }
        })
    }
}

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

impl<Pr, A, C, F, P> Driver<Pr, A, C, F, P>
where
    Pr: Probe,
    A: Arbiter + Send + Sync + 'static,
    C: ClientRecord + Send + Sync + 'static,
    F: Fencer,
    P: Promoter + Reseeder,
{
    pub(super) fn dispatch(&mut self, action: Action, now: Instant) {
        let tx = self.events_tx.clone();
        let metrics = self.metrics.clone();
        let exec = self.exec.clone();
        let beat = Heartbeat {
            tx: self.events_tx.clone(),
            action: action.clone(),
            every: self.cfg.timing.step_timeout / 3,
        };
        match action {
            Action::ClaimEpoch { expect, claim } => {
                beat.spawn(async move {
                    let t0 = tokio::time::Instant::now();
                    let result = match exec.arbiter.claim(&to_dns(&expect), &to_dns(&claim)).await {
                        Ok(dns::ClaimResult::Won | dns::ClaimResult::AlreadyOurs) => {
                            metrics.dns_op("claim", "ok");
                            ClaimResult::Won
                        }
                        Ok(dns::ClaimResult::Lost {
                            current: Some(seen),
                        }) => {
                            metrics.dns_op("claim", "lost");
                            ClaimResult::Lost {
                                seen: from_dns(&seen),
                            }
                        }
                        Ok(dns::ClaimResult::Lost { current: None }) => {
                            metrics.dns_op("claim", "error");
                            ClaimResult::Failed {
                                retryable: false,
                                error: "the ownership record is missing: seed it (see the runbook)"
                                    .into(),
                            }
                        }
                        Err(e) => {
                            metrics.dns_op("claim", "error");
                            ClaimResult::Failed {
                                retryable: e.is_retryable(),
                                error: crate::error_chain(&e),
                            }
                        }
                    };
                    metrics.phase("claim", t0.elapsed().as_secs_f64());
                    let _ = tx.send(Event::Claimed { claim, result }).await;
                });
            }
            Action::Fence {
                region,
                epoch,
                streams,
            } => {
                beat.spawn(async move {
                    let t0 = tokio::time::Instant::now();
                    let result = exec.fencer.fence(&region, epoch, &streams).await;
                    metrics.phase("fence", t0.elapsed().as_secs_f64());
                    if let FenceResult::Failed { error, .. } = &result {
                        tracing::warn!(%region, %epoch, %error, "fence failed");
                    }
                    let _ = tx
                        .send(Event::Fenced {
                            region,
                            epoch,
                            result,
                        })
                        .await;
                });
            }
            Action::Unfence {
                region,
                epoch,
                streams,
            } => {
                beat.spawn(async move {
                    let result = exec.fencer.unfence(&region, epoch, &streams).await;
                    let _ = tx
                        .send(Event::Unfenced {
                            region,
                            epoch,
                            result,
                        })
                        .await;
                });
            }
            Action::Promote {
                region,
                epoch,
                streams,
            } => {
                beat.spawn(async move {
                    let t0 = tokio::time::Instant::now();
                    let result = exec.promoter.promote(&region, epoch, &streams).await;
                    metrics.phase("promote", t0.elapsed().as_secs_f64());
                    let _ = tx
                        .send(Event::Promoted {
                            region,
                            epoch,
                            result,
                        })
                        .await;
                });
            }
            Action::SwapDns { from, to, epoch } => {
                let target = |r| {
                    self.cfg
                        .region(r)
                        .map(|rc| ClientTarget::from(&rc.entry_point))
                };
                let (Some(from_t), Some(to_t)) = (target(&from), target(&to)) else {
                    tracing::error!(%from, %to, "SwapDns names a region that is not configured");
                    return;
                };
                let within = self.cfg.timing.step_timeout;
                self.metrics.set_dns_pending(true);
                beat.spawn(async move {
                    let t0 = tokio::time::Instant::now();
                    let result = match exec.client.swap(Some(&from_t), &to_t).await {
                        Ok(dns::SwapResult::Swapped | dns::SwapResult::AlreadyThere) => {
                            metrics.dns_op("swap", "ok");
                            match exec.client.verify(&to_t, within).await {
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
                    metrics.phase("dns", t0.elapsed().as_secs_f64());
                    let _ = tx.send(Event::DnsSwapped { epoch, result }).await;
                });
            }
            Action::CaptureTail {
                region,
                into,
                epoch,
                streams,
            } => {
                beat.spawn(async move {
                    let t0 = std::time::Instant::now();
                    let result = exec
                        .promoter
                        .capture_tail(&region, &into, epoch, &streams)
                        .await;
                    let took = t0.elapsed().as_secs_f64();
                    match &result {
                        CaptureResult::Done { tail } => {
                            metrics.failback_step("capture_tail", true, took);
                            for t in tail {
                                metrics.failback_tail(
                                    t.captured,
                                    t.recovered,
                                    t.duplicates,
                                    t.kept,
                                );
                            }
                        }
                        CaptureResult::Failed { error, .. } => {
                            metrics.failback_step("capture_tail", false, took);
                            tracing::warn!(%region, %epoch, %error, "tail capture failed");
                        }
                    }
                    let _ = tx
                        .send(Event::TailCaptured {
                            region,
                            epoch,
                            result,
                        })
                        .await;
                });
            }
            Action::Reseed {
                region,
                source,
                epoch,
                streams,
            } => {
                beat.spawn(async move {
                    let t0 = std::time::Instant::now();
                    let result = exec
                        .promoter
                        .reseed(&region, &source, epoch, &streams)
                        .await;
                    let took = t0.elapsed().as_secs_f64();
                    metrics.failback_step("reseed", result == StepResult::Done, took);
                    if let StepResult::Failed { error, .. } = &result {
                        tracing::warn!(%region, %epoch, %error, "reseed failed");
                    }
                    let _ = tx
                        .send(Event::Reseeded {
                            region,
                            epoch,
                            result,
                        })
                        .await;
                });
            }
            Action::Notify {
                from,
                to,
                severity,
                summary,
            } => self.notify(from, to, severity, summary, now),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_incident_keeps_one_key_from_the_first_trigger_to_the_resolve() {
        let mut inc = Incident::default();
        let steps = [
            PhaseName::Suspect,
            PhaseName::FailingOver,
            PhaseName::FailedOver,
            PhaseName::Healthy,
        ];
        let pages: Vec<_> = steps
            .iter()
            .enumerate()
            .map(|(i, to)| inc.page(*to, "eu-central-1", Instant(i as u64)).unwrap())
            .collect();
        let kinds: Vec<_> = pages.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            kinds,
            [
                NotificationKind::Trigger,
                NotificationKind::Trigger,
                NotificationKind::Trigger,
                NotificationKind::Resolve
            ]
        );
        assert!(pages.iter().all(|(_, id)| *id == pages[0].1), "{pages:?}");
        assert!(pages[0].1.starts_with("natsdr-eu-central-1-"));
        // The next incident gets a new key.
        let (_, next) = inc
            .page(PhaseName::Suspect, "eu-central-1", Instant(99))
            .unwrap();
        assert_ne!(next, pages[0].1);
    }

    #[test]
    fn an_incident_that_never_paged_closes_as_info_not_as_a_resolve() {
        let mut inc = Incident::default();
        assert_eq!(inc.page(PhaseName::Healthy, "eu", Instant(0)), None);
        let (kind, id) = inc.page(PhaseName::Degraded, "eu", Instant(1)).unwrap();
        assert_eq!(kind, NotificationKind::Info);
        assert_eq!(
            inc.page(PhaseName::Healthy, "eu", Instant(2)),
            Some((NotificationKind::Info, id))
        );
    }
}
