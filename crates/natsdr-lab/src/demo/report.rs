//! What a demo run shows: the timeline of the failover as offsets from the fault, and the one
//! JSON object `--json` prints.
use std::fmt::Write as _;

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::kv::KvReport;
use super::scenario::Scenario;
use crate::lab::WanProfile;
use natsdr::api::model::TransitionRecord;

/// The outcome of one demo run. Field names are the JSON contract of `natsdr-lab demo --json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// Which fault was injected.
    pub scenario: Scenario,
    /// `nats-server --version` of the lab's servers.
    pub nats_version: String,
    /// The network profile between the lab's places (`lan`, `transatlantic`, `far`).
    pub wan: WanProfile,
    /// True when the primary moved (epoch claimed and a new region active).
    pub failover: bool,
    /// Fault to the first acked publish in the new primary; `None` without a failover.
    pub rto_ms: Option<u64>,
    /// When each step was first seen, as offsets from the fault.
    pub phases_ms: Phases,
    /// How long the new primary's watchdog spent in each step it performed, as it timed them.
    pub steps_ms: Steps,
    /// The longest stretch after the fault with no ack at all: the outage the client saw.
    pub max_ack_gap_ms: u64,
    /// Distinct message ids the load generator sent.
    pub published: u64,
    /// Distinct message ids acked by any stream.
    pub acked: u64,
    /// Acked ids the final primary's stream does not hold.
    pub acked_lost: u64,
    /// Ids acked by both regions for the same epoch (split brain).
    pub dual_writes: u64,
    /// Acked ids the final primary's stream holds more than once.
    pub duplicates: u64,
    /// Failback only: the divergent tail as the failback reported it (captured, recovered,
    /// duplicates, kept), from the US watchdog's transition.
    pub tail: Option<String>,
    /// The EU mirror's lag in messages as EU's watchdog saw it just before the fault: the most
    /// an unplanned failover may lose.
    pub lag_at_kill: Option<u64>,
    /// The arbiter's epoch before the fault.
    pub epoch_before: Option<u64>,
    /// The arbiter's epoch at the end.
    pub epoch_after: Option<u64>,
    /// Which DNS provider the watchdogs used: `rfc2136` (BIND) or `route53` (ministack's
    /// Route 53 API, published into BIND for the clients).
    pub dns_provider: String,
    /// The region the arbiter names at the end.
    pub owner_after: Option<String>,
    /// The region whose entry point the client record names at the end, read from the
    /// provider (BIND, or the Route 53 API).
    pub client_record: Option<String>,
    /// The application's durable consumer, read under the load and carried across the move.
    pub consumers: Consumers,
    /// The KV application (CAS updates, heartbeats, registrations, a watcher) across the
    /// move; `None` when the config mirrors no KV bucket of the primary.
    pub kv: Option<KvReport>,
    /// True when the scenario's expectation held (the exit code says the same).
    pub ok: bool,
    /// What did not hold, in words.
    pub unmet: Vec<String>,
    /// Remarks for the reader (e.g. why a zero is trivially zero).
    pub notes: Vec<String>,
}

/// Milliseconds from the fault to each step; `None`: not seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Phases {
    /// The standby's watchdog first turned `suspect`.
    pub detect: Option<u64>,
    /// It confirmed and started moving (`failing_over`, or `switching_over` for a switchover).
    pub confirm: Option<u64>,
    /// The new epoch was seen claimed in the arbiter (polled through its status).
    pub claim: Option<u64>,
    /// It reached `failed_over`: fenced, promoted, DNS swapped.
    pub failed_over: Option<u64>,
    /// The client record resolved to the new region.
    pub dns_swapped: Option<u64>,
    /// The load generator's first ack from the new primary's stream.
    pub first_ack: Option<u64>,
}

/// What the demo's durable pull consumer (bound by subject, acking everything, following the
/// DNS name) saw across the move, and the most it may be delivered again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Consumers {
    /// Durable consumers the standby's watchdog tracked before the fault.
    pub tracked: u64,
    /// Consumers on the final primary's stream after the move, read from the server (the
    /// reader never creates its durable there: it only binds what the move carried).
    pub recreated: u64,
    /// Messages the reader was delivered more than once (by the writer's message id).
    pub redelivered: u64,
    /// Messages the writer got acked and the final primary's stream holds that the reader was
    /// never delivered by the end of the run. 0 is the only correct answer.
    pub never_delivered: u64,
    /// The most `redelivered` may be. After a region loss: what the reader got acked from
    /// one `consumers.sync_interval` before the fault on, plus its `max_ack_pending`. After a
    /// planned move: what the old primary held that the reader had not acked when the move
    /// began. A failback adds both, and the divergent tail it re-published.
    pub bound: u64,
}

/// Milliseconds each step of the move took, as the acting watchdog timed it
/// (`natsdr_failover_phase_duration_seconds`); `None`: not performed (or not readable).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Steps {
    /// The compare-and-swap of the epoch in the arbiter.
    pub claim: Option<u64>,
    /// Fencing the old primary's streams (or finding them unreachable or fenced).
    pub fence: Option<u64>,
    /// Promoting the mirrors.
    pub promote: Option<u64>,
    /// Swapping the client record.
    pub dns: Option<u64>,
}

/// Milliseconds from `from` to `to`, clamped at 0 (a clock read just before the fault may
/// trail a transition stamped in the same millisecond).
pub fn offset_ms(from: OffsetDateTime, to: OffsetDateTime) -> u64 {
    u64::try_from((to - from).whole_milliseconds()).unwrap_or(0)
}

/// The time of the earliest transition into `state` at or after `since`, from a watchdog's
/// transition list (any order; unparsable times are skipped).
pub fn first_transition_to(
    transitions: &[TransitionRecord],
    state: &str,
    since: OffsetDateTime,
) -> Option<OffsetDateTime> {
    transitions
        .iter()
        .filter(|t| t.to == state)
        .filter_map(|t| OffsetDateTime::parse(&t.at, &Rfc3339).ok())
        .filter(|at| *at >= since)
        .min()
}

/// Whether the watchdog went into `state` at or after `since`.
pub fn went_through(transitions: &[TransitionRecord], state: &str, since: OffsetDateTime) -> bool {
    first_transition_to(transitions, state, since).is_some()
}

impl Report {
    /// The readable timeline and summary printed without `--json`.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "natsdr-lab demo: {} (nats-server {}, {} network)",
            self.scenario, self.nats_version, self.wan
        );
        let p = &self.phases_ms;
        let mut steps: Vec<(u64, &str)> = vec![(0, "fault injected")];
        let named = [
            (
                p.detect,
                "detect: the standby's watchdog suspects the primary",
            ),
            (p.confirm, "confirm: the standby's watchdog starts the move"),
            (p.claim, "claim: the new epoch is in the arbiter"),
            (
                p.failed_over,
                "failed over: old primary fenced, mirrors promoted, DNS swapped",
            ),
            (
                p.dns_swapped,
                "DNS swapped: the client record points at the new region",
            ),
            (p.first_ack, "first acked publish in the new primary"),
        ];
        steps.extend(named.into_iter().filter_map(|(t, what)| Some((t?, what))));
        steps.sort_by_key(|(t, _)| *t);
        for (t, what) in steps {
            let _ = writeln!(s, "  +{t:>6} ms  {what}");
        }
        if self.failover {
            if let Some(rto) = self.rto_ms {
                let _ = writeln!(
                    s,
                    "RTO (fault -> first acked publish in the new primary): {rto} ms"
                );
            }
        } else {
            let _ = writeln!(s, "no failover: the primary stayed where it was");
        }
        let _ = writeln!(
            s,
            "longest stretch without an ack after the fault: {} ms",
            self.max_ack_gap_ms
        );
        let _ = writeln!(
            s,
            "DNS ({}): the arbiter names {}, the client record {}",
            if self.dns_provider.is_empty() {
                "?"
            } else {
                &self.dns_provider
            },
            self.owner_after.as_deref().unwrap_or("?"),
            self.client_record.as_deref().unwrap_or("?"),
        );
        let _ = writeln!(
            s,
            "published {} / acked {} / acked but lost {} (mirror lag at the fault: {}) / dual writes {}",
            self.published,
            self.acked,
            self.acked_lost,
            self.lag_at_kill
                .map_or_else(|| "unknown".to_owned(), |l| l.to_string()),
            self.dual_writes
        );
        let _ = writeln!(s, "acked ids stored twice: {}", self.duplicates);
        let c = &self.consumers;
        let _ = writeln!(
            s,
            "durable consumer: tracked {} / recreated {} / redelivered {} (bound {}) / never delivered {}",
            c.tracked, c.recreated, c.redelivered, c.bound, c.never_delivered
        );
        if let Some(kv) = &self.kv {
            let _ = writeln!(
                s,
                "KV ({}): acked {} / lost {} (KV mirrors' lag at the fault {}) / revisions back {} / \
                 CAS conflicts {} / watch resumed {} / watch missed latest {}",
                kv.buckets.join(", "),
                kv.acked_updates,
                kv.lost_acked_updates,
                kv.lag_at_kill
                    .map_or_else(|| "unknown".to_owned(), |l| l.to_string()),
                kv.revision_regressions,
                kv.cas_conflicts,
                if kv.watch_resumed { "yes" } else { "no" },
                kv.watch_missed_latest
            );
        }
        if let Some(tail) = &self.tail {
            let _ = writeln!(s, "failback's divergent tail: {tail}");
        }
        let _ = writeln!(
            s,
            "epoch {} -> {}",
            self.epoch_before
                .map_or_else(|| "?".to_owned(), |e| e.to_string()),
            self.epoch_after
                .map_or_else(|| "?".to_owned(), |e| e.to_string())
        );
        for n in &self.notes {
            let _ = writeln!(s, "note: {n}");
        }
        if self.ok {
            let _ = writeln!(s, "OK: the {} expectation held", self.scenario);
        } else {
            for u in &self.unmet {
                let _ = writeln!(s, "FAILED: {u}");
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(at: &str, to: &str) -> TransitionRecord {
        TransitionRecord {
            at: at.into(),
            from: "x".into(),
            to: to.into(),
            reason: String::new(),
            epoch: None,
        }
    }

    fn ts(s: &str) -> OffsetDateTime {
        OffsetDateTime::parse(s, &Rfc3339).unwrap()
    }

    #[test]
    fn the_first_transition_after_the_fault_is_found_in_a_newest_first_list() {
        let list = [
            t("2026-01-01T00:00:09.500Z", "suspect"),
            t("2026-01-01T00:00:05.250Z", "suspect"),
            t("2026-01-01T00:00:01Z", "suspect"),
        ];
        let fault = ts("2026-01-01T00:00:05Z");
        let at = first_transition_to(&list, "suspect", fault).unwrap();
        assert_eq!(offset_ms(fault, at), 250);
        assert!(!went_through(&list, "failing_over", fault));
    }

    #[test]
    fn an_offset_before_the_fault_is_clamped_to_zero() {
        assert_eq!(
            offset_ms(ts("2026-01-01T00:00:05Z"), ts("2026-01-01T00:00:04Z")),
            0
        );
    }

    #[test]
    fn the_json_report_has_the_documented_fields() {
        let v = serde_json::to_value(Report::default()).unwrap();
        for k in [
            "scenario",
            "nats_version",
            "wan",
            "failover",
            "rto_ms",
            "phases_ms",
            "published",
            "acked",
            "acked_lost",
            "dual_writes",
            "duplicates",
            "lag_at_kill",
            "epoch_before",
            "epoch_after",
            "consumers",
        ] {
            assert!(v.get(k).is_some(), "missing {k}: {v}");
        }
        assert_eq!(v["scenario"], "region-loss");
        assert_eq!(v["wan"], "lan");
        for k in ["detect", "confirm", "failed_over", "first_ack"] {
            assert!(v["phases_ms"].get(k).is_some(), "missing phases_ms.{k}");
        }
        for k in [
            "tracked",
            "recreated",
            "redelivered",
            "never_delivered",
            "bound",
        ] {
            assert!(v["consumers"][k].is_u64(), "missing consumers.{k}: {v}");
        }
    }

    #[test]
    fn the_timeline_lists_the_steps_in_time_order() {
        let r = Report {
            failover: true,
            rto_ms: Some(7000),
            phases_ms: Phases {
                detect: Some(1200),
                confirm: Some(6100),
                claim: Some(6150),
                failed_over: Some(6900),
                dns_swapped: Some(6800),
                first_ack: Some(7000),
            },
            ok: true,
            ..Report::default()
        };
        let text = r.render();
        let dns = text.find("DNS swapped").unwrap();
        let failed = text.find("failed over:").unwrap();
        assert!(dns < failed, "{text}");
        assert!(text.contains("RTO (fault -> first acked publish in the new primary): 7000 ms"));
    }

    #[test]
    fn the_readable_report_shows_the_kv_application_when_there_is_one() {
        assert!(!Report::default().render().contains("KV ("));
        let r = Report {
            kv: Some(KvReport {
                buckets: vec!["assignments_v1".into(), "heartbeats".into()],
                acked_updates: 120,
                lost_acked_updates: 1,
                lag_at_kill: Some(2),
                watch_resumed: true,
                ..KvReport::default()
            }),
            ..Report::default()
        };
        let text = r.render();
        assert!(
            text.contains(
                "KV (assignments_v1, heartbeats): acked 120 / lost 1 (KV mirrors' lag at the fault 2) \
                 / revisions back 0 / CAS conflicts 0 / watch resumed yes / watch missed latest 0"
            ),
            "{text}"
        );
    }

    #[test]
    fn the_readable_report_shows_the_consumer_counts_against_their_bound() {
        let r = Report {
            consumers: Consumers {
                tracked: 1,
                recreated: 1,
                redelivered: 37,
                never_delivered: 0,
                bound: 150,
            },
            ..Report::default()
        };
        assert!(
            r.render().contains(
                "durable consumer: tracked 1 / recreated 1 / redelivered 37 (bound 150) / never delivered 0"
            ),
            "{}",
            r.render()
        );
    }
}
