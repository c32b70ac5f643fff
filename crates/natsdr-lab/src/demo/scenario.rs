//! The demo's scenarios: which fault each injects and what must hold afterwards.
use std::fmt;

use serde::Serialize;

use super::kv::KvReport;
use super::report::Report;

/// One fault to demonstrate, with its expected outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Every US node dies: EU must fail over, with no dual write and no more loss than the
    /// mirror lag at the kill.
    #[default]
    RegionLoss,
    /// One US node dies: the region keeps its quorum, nothing moves.
    NodeLoss,
    /// EU loses US (leafnode, EU watchdog's view, both peer links) while the witness still
    /// sees US: nothing moves.
    Partition,
    /// A planned move (POST /v1/switchover to EU): epoch + 1, no acked message lost.
    Switchover,
    /// Every US node dies with the mirror behind (a slowed leafnode), EU fails over, US comes
    /// back, and an operator fails back (POST /v1/failback to US): epoch + 2, back in US, no
    /// acked message lost and none stored twice.
    Failback,
    /// The blue/green flip of the second seed's maintenance procedure: a planned switchover
    /// to the standby, the watchdogs paused around a rolling restart of the home primary's
    /// nodes (one at a time), resumed, and a failback home: epoch + 2, back home, no acked
    /// message or KV write lost.
    Flip,
}

impl Scenario {
    /// Its name on the command line and in the JSON report.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RegionLoss => "region-loss",
            Self::NodeLoss => "node-loss",
            Self::Partition => "partition",
            Self::Switchover => "switchover",
            Self::Failback => "failback",
            Self::Flip => "flip",
        }
    }

    /// True when the scenario must move the primary.
    pub fn moves_primary(self) -> bool {
        match self {
            Self::RegionLoss | Self::Switchover | Self::Failback | Self::Flip => true,
            Self::NodeLoss | Self::Partition => false,
        }
    }

    /// What did not hold in `r`; empty when the scenario's expectation held.
    pub fn unmet(self, r: &Report) -> Vec<String> {
        let mut bad = Vec::new();
        if r.failover != self.moves_primary() {
            bad.push(format!(
                "failover was {}, expected {}",
                r.failover,
                self.moves_primary()
            ));
        }
        if r.dual_writes != 0 {
            bad.push(format!("{} dual writes", r.dual_writes));
        }
        if r.client_record != r.owner_after {
            bad.push(format!(
                "the client record names {}, the arbiter {}",
                r.client_record.as_deref().unwrap_or("nothing readable"),
                r.owner_after.as_deref().unwrap_or("nothing readable"),
            ));
        }
        let c = &r.consumers;
        if c.never_delivered != 0 {
            bad.push(format!(
                "{} acked messages were never delivered to the durable consumer",
                c.never_delivered
            ));
        }
        if c.redelivered > c.bound {
            bad.push(format!(
                "the durable consumer was delivered {} messages again, more than its bound ({})",
                c.redelivered, c.bound
            ));
        }
        let during = match self {
            Self::Switchover => " in a planned switchover",
            Self::Failback => " across failback",
            Self::Flip => " across the flip",
            Self::RegionLoss | Self::NodeLoss | Self::Partition => "",
        };
        let allowed = if self == Self::RegionLoss {
            Allowed::UpTo(r.lag_at_kill, "the mirror lag at the kill")
        } else {
            Allowed::Nothing(during)
        };
        bad.extend(allowed.unmet(r.acked_lost, "acked messages"));
        if let Some(kv) = &r.kv {
            bad.extend(self.kv_unmet(kv, r.tail.as_deref()));
        }
        if matches!(self, Self::Failback | Self::Flip) && r.duplicates != 0 {
            bad.push(format!("{} acked messages stored twice", r.duplicates));
        }
        let (claims, wanted) = match self {
            Self::RegionLoss | Self::Switchover => (1, "one claim"),
            Self::Failback | Self::Flip => (2, "two claims (away and back)"),
            Self::NodeLoss | Self::Partition => (0, "no claim"),
        };
        if r.epoch_before.map(|e| e + claims) != r.epoch_after {
            bad.push(epochs(r, wanted));
        }
        bad
    }
}

impl Scenario {
    /// What did not hold for the KV application: no acked write lost (within the KV mirrors'
    /// lag after a region loss; after a failback, only writes the divergent tail's record
    /// keeps: a KV write has no message id to re-publish it by, and replaying a
    /// compare-and-set blindly would be wrong), no revision going backwards, and a watch that
    /// resumed in the new primary with every key's latest value.
    fn kv_unmet(self, kv: &KvReport, tail: Option<&str>) -> Vec<String> {
        let mut bad = Vec::new();
        let allowed = match self {
            Self::Failback => Allowed::UpTo(
                tail.and_then(|t| {
                    t.split(", ")
                        .find_map(|part| part.strip_suffix(" kept")?.parse::<u64>().ok())
                }),
                "the count the divergent tail kept",
            ),
            Self::RegionLoss => Allowed::UpTo(kv.lag_at_kill, "the KV mirrors' lag at the kill"),
            Self::Switchover | Self::Flip | Self::NodeLoss | Self::Partition => {
                Allowed::Nothing("")
            }
        };
        bad.extend(allowed.unmet(kv.lost_acked_updates, "acked KV writes"));
        if kv.revision_regressions != 0 {
            bad.push(format!(
                "{} KV revisions went backwards",
                kv.revision_regressions
            ));
        }
        if self.moves_primary() && !kv.watch_resumed {
            bad.push("the KV watch did not resume in the new primary".into());
        }
        if kv.watch_missed_latest != 0 {
            bad.push(format!(
                "the KV watcher missed the latest value of {} keys",
                kv.watch_missed_latest
            ));
        }
        bad
    }
}

/// How many acked writes a scenario may lose.
#[derive(Debug, Clone, Copy)]
enum Allowed {
    /// None; the words say when (" in a planned switchover").
    Nothing(&'static str),
    /// At most this many (what the words name), when it could be read at all.
    UpTo(Option<u64>, &'static str),
}

impl Allowed {
    /// What is wrong when `lost` acked writes (of `what`) are gone.
    fn unmet(self, lost: u64, what: &str) -> Option<String> {
        match self {
            Self::Nothing(_) if lost == 0 => None,
            Self::Nothing(during) => Some(format!("{lost} {what} lost{during}")),
            Self::UpTo(Some(bound), _) if lost <= bound => None,
            Self::UpTo(Some(bound), name) => {
                Some(format!("{lost} {what} lost, more than {name} ({bound})"))
            }
            Self::UpTo(None, name) => Some(format!("{name} is unknown")),
        }
    }
}

fn epochs(r: &Report, wanted: &str) -> String {
    format!(
        "epoch went from {:?} to {:?}, expected {wanted}",
        r.epoch_before, r.epoch_after
    )
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed_over() -> Report {
        Report {
            scenario: Scenario::RegionLoss,
            failover: true,
            epoch_before: Some(1),
            epoch_after: Some(2),
            lag_at_kill: Some(3),
            acked_lost: 2,
            owner_after: Some("eu-central-1".into()),
            client_record: Some("eu-central-1".into()),
            ..Report::default()
        }
    }

    #[test]
    fn a_client_record_that_does_not_name_the_owner_fails_every_scenario() {
        for client_record in [Some("us-east-1".to_owned()), None] {
            let r = Report {
                client_record,
                ..failed_over()
            };
            let bad = Scenario::RegionLoss.unmet(&r);
            assert!(bad.iter().any(|b| b.contains("client record")), "{bad:?}");
        }
    }

    #[test]
    fn a_region_loss_that_failed_over_within_the_lag_meets_its_expectation() {
        assert_eq!(
            Scenario::RegionLoss.unmet(&failed_over()),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_region_loss_that_lost_more_than_the_lag_does_not() {
        let r = Report {
            acked_lost: 4,
            ..failed_over()
        };
        assert_eq!(Scenario::RegionLoss.unmet(&r).len(), 1);
    }

    #[test]
    fn an_unknown_lag_at_the_kill_cannot_prove_the_loss_bound() {
        let r = Report {
            lag_at_kill: None,
            ..failed_over()
        };
        assert_eq!(Scenario::RegionLoss.unmet(&r).len(), 1);
    }

    #[test]
    fn a_partition_that_moved_the_primary_fails() {
        let bad = Scenario::Partition.unmet(&failed_over());
        assert!(bad.iter().any(|b| b.contains("failover")), "{bad:?}");
        assert!(bad.iter().any(|b| b.contains("epoch")), "{bad:?}");
    }

    #[test]
    fn a_switchover_must_lose_nothing() {
        let r = Report {
            scenario: Scenario::Switchover,
            ..failed_over()
        };
        assert_eq!(Scenario::Switchover.unmet(&r).len(), 1);
    }

    #[test]
    fn a_consumer_that_missed_a_message_or_got_more_than_its_bound_again_fails() {
        use crate::demo::report::Consumers;
        let within = Consumers {
            tracked: 1,
            recreated: 1,
            redelivered: 10,
            never_delivered: 0,
            bound: 10,
        };
        let r = |consumers| Report {
            consumers,
            ..failed_over()
        };
        assert_eq!(Scenario::RegionLoss.unmet(&r(within)), Vec::<String>::new());
        let missed = Scenario::RegionLoss.unmet(&r(Consumers {
            never_delivered: 1,
            ..within
        }));
        assert!(
            missed.iter().any(|b| b.contains("never delivered")),
            "{missed:?}"
        );
        let again = Scenario::RegionLoss.unmet(&r(Consumers {
            redelivered: 11,
            ..within
        }));
        assert!(again.iter().any(|b| b.contains("bound (10)")), "{again:?}");
    }

    fn kv(lost: u64, regressions: u64) -> KvReport {
        KvReport {
            acked_updates: 100,
            lost_acked_updates: lost,
            revision_regressions: regressions,
            lag_at_kill: Some(2),
            watch_resumed: true,
            ..KvReport::default()
        }
    }

    #[test]
    fn a_switchover_that_lost_an_acked_kv_write_or_went_back_a_revision_fails() {
        let r = |kv| Report {
            scenario: Scenario::Switchover,
            acked_lost: 0,
            kv: Some(kv),
            ..failed_over()
        };
        assert_eq!(
            Scenario::Switchover.unmet(&r(kv(0, 0))),
            Vec::<String>::new()
        );
        let lost = Scenario::Switchover.unmet(&r(kv(1, 0)));
        assert!(
            lost.iter().any(|b| b.contains("KV writes lost")),
            "{lost:?}"
        );
        let back = Scenario::Switchover.unmet(&r(kv(0, 1)));
        assert!(
            back.iter().any(|b| b.contains("went backwards")),
            "{back:?}"
        );
    }

    #[test]
    fn a_failback_may_lose_only_the_kv_writes_its_divergent_tail_record_keeps() {
        let r = |lost, tail: &str| Report {
            scenario: Scenario::Failback,
            acked_lost: 0,
            epoch_after: Some(3),
            tail: Some(tail.into()),
            kv: Some(kv(lost, 0)),
            ..failed_over()
        };
        let kept3 = "112 captured, 109 recovered, 0 duplicates, 3 kept";
        assert_eq!(Scenario::Failback.unmet(&r(3, kept3)), Vec::<String>::new());
        assert_eq!(Scenario::Failback.unmet(&r(4, kept3)).len(), 1);
        assert_eq!(
            Scenario::Failback
                .unmet(&r(0, "the failback did not complete"))
                .len(),
            1
        );
    }

    #[test]
    fn a_region_loss_may_lose_kv_writes_up_to_the_kv_mirrors_lag_and_no_more() {
        let r = |kv| Report {
            kv: Some(kv),
            ..failed_over()
        };
        assert_eq!(
            Scenario::RegionLoss.unmet(&r(kv(2, 0))),
            Vec::<String>::new()
        );
        assert_eq!(Scenario::RegionLoss.unmet(&r(kv(3, 0))).len(), 1);
    }

    #[test]
    fn a_kv_watch_that_did_not_resume_or_missed_a_latest_value_fails_a_move() {
        let r = |kv| Report {
            kv: Some(kv),
            ..failed_over()
        };
        let stuck = Scenario::RegionLoss.unmet(&r(KvReport {
            watch_resumed: false,
            ..kv(0, 0)
        }));
        assert!(
            stuck.iter().any(|b| b.contains("did not resume")),
            "{stuck:?}"
        );
        let missed = Scenario::RegionLoss.unmet(&r(KvReport {
            watch_missed_latest: 1,
            ..kv(0, 0)
        }));
        assert!(
            missed.iter().any(|b| b.contains("latest value")),
            "{missed:?}"
        );
    }

    #[test]
    fn any_dual_write_fails_every_scenario() {
        let r = Report {
            dual_writes: 1,
            ..failed_over()
        };
        assert!(!Scenario::RegionLoss.unmet(&r).is_empty());
    }
}
