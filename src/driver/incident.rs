//! The incident a page belongs to, from leaving Healthy until back: one PagerDuty dedup key.
use std::time::Duration;

use crate::core::{Instant, PhaseName};
use crate::notify::NotificationKind;

/// The incident a page belongs to: one PagerDuty dedup key from leaving Healthy until back.
#[derive(Debug, Default)]
pub(super) struct Incident {
    id: Option<String>,
    /// Whether the open incident was triggered (paged), not only told as info (Degraded).
    triggered: bool,
    failover_started: Option<Instant>,
    /// The latest completed failover's total duration, for metrics.
    pub(super) last_total: Option<Duration>,
}

impl Incident {
    /// Starts the failover clock on entering a failover, failback or switchover, and on
    /// leaving one records its total duration in `last_total`.
    pub(super) fn phase_changed(&mut self, from: PhaseName, to: PhaseName, now: Instant) {
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
    pub(super) fn page(
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
