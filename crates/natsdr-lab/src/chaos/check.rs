//! The invariants a chaos run must keep, as pure functions over what the run recorded.
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use time::OffsetDateTime;

use super::schedule::{Fault, Schedule};
use crate::demo::Ack;
use crate::lab::LabRegion;

/// One reading of an epoch: a watchdog's status or the arbiter's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochSample {
    /// When it was read.
    pub at: OffsetDateTime,
    /// Whose reading (`us`, `eu`, `witness`, `arbiter`).
    pub source: String,
    /// The epoch it showed.
    pub epoch: u64,
}

/// One reading of the arbiter's record: who owns which epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerSample {
    /// When it was read.
    pub at: OffsetDateTime,
    /// The claimed epoch.
    pub epoch: u64,
    /// The region that claimed it.
    pub region: String,
}

/// How one watchdog ended the run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FinalStatus {
    /// `us`, `eu` or `witness`.
    pub site: String,
    /// Its state (`healthy`...); empty when it did not answer.
    pub state: String,
    /// The active region it believes in.
    pub active_region: Option<String>,
    /// Where it saw the client record point.
    pub dns_points_at: Option<String>,
}

/// The outcome of one invariant over one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The invariant's name, as printed.
    pub invariant: &'static str,
    /// How many things were checked.
    pub checked: u64,
    /// What those things are ("acks", "messages"...).
    pub unit: &'static str,
    /// Each violation, readable; empty when the invariant held.
    pub violations: Vec<String>,
    /// Remarks that are not violations (a warranted loss that did not fail over).
    pub notes: Vec<String>,
}

impl Verdict {
    fn new(invariant: &'static str, unit: &'static str) -> Self {
        Self {
            invariant,
            checked: 0,
            unit,
            violations: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// True when nothing violated it.
    pub fn held(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Names of the five invariants, in the order they are checked and printed.
pub const INVARIANTS: [&str; 5] = [
    "no dual writes",
    "epochs only grow",
    "acked exactly once",
    "no unwarranted failover",
    "converged",
];

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// (1) Never two regions acking writes in the same epoch. Acks are taken in time order; every
/// time the acking region changes, the arbiter must show a claim by the new region of an epoch
/// higher than the one the previous change used, read no later than `slack` after the new
/// region's first ack (the arbiter is sampled, so its reading can trail the claim). An id acked
/// by both regions is a dual write whatever the epochs say. `region_of` maps a stream to its
/// region.
pub fn no_dual_writes(
    acks: &[Ack],
    region_of: &BTreeMap<String, String>,
    owners: &[OwnerSample],
    slack: Duration,
) -> Verdict {
    let mut v = Verdict::new(INVARIANTS[0], "acks");
    v.checked = count(acks.len());
    let mut sorted: Vec<&Ack> = acks.iter().collect();
    sorted.sort_by_key(|a| a.at);
    let region = |a: &Ack| {
        region_of
            .get(&a.stream)
            .cloned()
            .unwrap_or_else(|| a.stream.clone())
    };
    let mut by_id: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for a in &sorted {
        by_id.entry(a.id.as_str()).or_default().insert(region(a));
    }
    for (id, regions) in &by_id {
        if regions.len() > 1 {
            v.violations.push(format!(
                "{id} acked by {}",
                Vec::from_iter(regions.iter().cloned()).join(" and ")
            ));
        }
    }
    let Some(first) = sorted.first() else {
        return v;
    };
    let slack = time::Duration::try_from(slack).unwrap_or(time::Duration::ZERO);
    let mut used = owners
        .iter()
        .filter(|o| o.at <= first.at)
        .map(|o| o.epoch)
        .max()
        .or_else(|| owners.iter().map(|o| o.epoch).min())
        .unwrap_or(0);
    for w in sorted.windows(2) {
        let (a, b) = (w[0], w[1]);
        let (from, to) = (region(a), region(b));
        if from == to {
            continue;
        }
        let claim = owners
            .iter()
            .filter(|o| o.epoch > used && o.region == to && o.at <= b.at + slack)
            .map(|o| o.epoch)
            .min();
        match claim {
            Some(e) => used = e,
            None => v.violations.push(format!(
                "{to} acked {} at {} after {from} acked {} with no new epoch claimed by {to} \
                 (last epoch used by a change: {used})",
                b.id, b.at, a.id
            )),
        }
    }
    v
}

/// (2) Every source's epoch never goes down over the run.
pub fn epochs_only_grow(samples: &[EpochSample]) -> Verdict {
    let mut v = Verdict::new(INVARIANTS[1], "epoch readings");
    v.checked = count(samples.len());
    let mut by_source: BTreeMap<&str, Vec<&EpochSample>> = BTreeMap::new();
    for s in samples {
        by_source.entry(s.source.as_str()).or_default().push(s);
    }
    for (source, mut list) in by_source {
        list.sort_by_key(|s| s.at);
        for w in list.windows(2) {
            if w[1].epoch < w[0].epoch {
                v.violations.push(format!(
                    "{source}: epoch {} at {} after {} at {}",
                    w[1].epoch, w[1].at, w[0].epoch, w[0].at
                ));
            }
        }
    }
    v
}

/// (3) Every acked id is stored exactly once in the final primary's stream (`stored`: id ->
/// copies).
pub fn acked_exactly_once(acks: &[Ack], stored: &BTreeMap<String, u64>) -> Verdict {
    let mut v = Verdict::new(INVARIANTS[2], "acked messages");
    let ids: BTreeSet<&str> = acks.iter().map(|a| a.id.as_str()).collect();
    v.checked = count(ids.len());
    let mut lost = Vec::new();
    let mut doubled = Vec::new();
    for id in ids {
        match stored.get(id).copied().unwrap_or(0) {
            0 => lost.push(id),
            1 => {}
            _ => doubled.push(id),
        }
    }
    let sample = |l: &[&str]| l.iter().take(5).copied().collect::<Vec<_>>().join(", ");
    if !lost.is_empty() {
        v.violations.push(format!(
            "{} acked ids missing, e.g. {}",
            lost.len(),
            sample(&lost)
        ));
    }
    if !doubled.is_empty() {
        v.violations.push(format!(
            "{} acked ids stored more than once, e.g. {}",
            doubled.len(),
            sample(&doubled)
        ));
    }
    v
}

/// A warranted failover: the primary region lost for longer than `failover_delay`. Every node
/// down at once is the only loss the schedule makes (episodes never overlap, and a single node
/// kill leaves a quorum), so this is the rule: a `kill-region us` held longer than
/// `failover_delay`.
pub fn warrants_failover(schedule: &Schedule, failover_delay: Duration) -> bool {
    schedule
        .episodes
        .iter()
        .any(|e| e.fault == Fault::KillRegion(LabRegion::Us) && e.hold > failover_delay)
}

/// How much longer than `failover_delay` a loss must last before a missing failover is noted:
/// detection, the majority vote and the lease take a few probe rounds on top of the delay.
pub const FAILOVER_GRACE: Duration = Duration::from_secs(8);

/// (4) No failover unless the schedule warranted one; a warranted one that did not happen is
/// noted (the RPO guard may rightly hold it). `failovers` counts the epochs EU claimed before
/// the operator's failback.
pub fn no_unwarranted_failover(
    schedule: &Schedule,
    failover_delay: Duration,
    failovers: u64,
) -> Verdict {
    let mut v = Verdict::new(INVARIANTS[3], "faults");
    v.checked = count(schedule.episodes.len());
    let warranted = warrants_failover(schedule, failover_delay);
    if failovers > 0 && !warranted {
        v.violations.push(format!(
            "{failovers} failover(s) although no fault warranted one (no primary region loss \
             longer than {failover_delay:?})"
        ));
    }
    if failovers > 1 {
        v.violations.push(format!(
            "{failovers} failovers for at most one primary region loss"
        ));
    }
    let must = schedule.episodes.iter().any(|e| {
        e.fault == Fault::KillRegion(LabRegion::Us) && e.hold > failover_delay + FAILOVER_GRACE
    });
    if must && failovers == 0 {
        v.notes
            .push("the primary region was lost long enough but no failover happened".into());
    }
    v
}

/// (5) After the faults stop and the operator failed back: every watchdog healthy (the witness
/// too), all agreeing that `home` is active and the client record points there, and the arbiter
/// owned by `home`.
pub fn converged(finals: &[FinalStatus], arbiter_region: Option<&str>, home: &str) -> Verdict {
    let mut v = Verdict::new(INVARIANTS[4], "facts");
    for f in finals {
        v.checked += 3;
        if f.state != "healthy" {
            v.violations
                .push(format!("{} is {:?}, not healthy", f.site, f.state));
        }
        if f.active_region.as_deref() != Some(home) {
            v.violations.push(format!(
                "{} sees active region {:?}, not {home}",
                f.site, f.active_region
            ));
        }
        if f.dns_points_at.as_deref() != Some(home) {
            v.violations.push(format!(
                "{} sees DNS on {:?}, not {home}",
                f.site, f.dns_points_at
            ));
        }
    }
    v.checked += 1;
    if arbiter_region != Some(home) {
        v.violations.push(format!(
            "the arbiter is owned by {arbiter_region:?}, not {home}"
        ));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::schedule::Episode;
    use crate::demo::fixtures::at;
    use crate::lab::NetPath;

    fn ack(id: &str, stream: &str, ms: i64) -> Ack {
        crate::demo::fixtures::ack(id, stream, 1, ms)
    }

    fn owner(ms: i64, epoch: u64, region: &str) -> OwnerSample {
        OwnerSample {
            at: at(ms),
            epoch,
            region: region.into(),
        }
    }

    fn regions() -> BTreeMap<String, String> {
        [("us-s", "us"), ("eu-s", "eu")]
            .into_iter()
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .collect()
    }

    const SLACK: Duration = Duration::from_secs(1);

    /// Judges acks `(id, stream, ms)` against arbiter samples `(ms, epoch, region)`, the
    /// streams `us-s` and `eu-s` belonging to `us` and `eu`.
    fn dual_writes(acks: &[(&str, &str, i64)], owners: &[(i64, u64, &str)]) -> Verdict {
        let acks: Vec<Ack> = acks.iter().map(|&(id, s, ms)| ack(id, s, ms)).collect();
        let owners: Vec<OwnerSample> = owners.iter().map(|&(ms, e, r)| owner(ms, e, r)).collect();
        no_dual_writes(&acks, &regions(), &owners, SLACK)
    }

    #[test]
    fn a_failover_and_a_failback_each_with_a_new_epoch_are_not_dual_writes() {
        let v = dual_writes(
            &[("1", "us-s", 0), ("2", "eu-s", 5_000), ("3", "us-s", 9_000)],
            &[(0, 1, "us"), (5_200, 2, "eu"), (8_900, 3, "us")],
        );
        assert!(v.held(), "{:?}", v.violations);
        assert_eq!(v.checked, 3);
    }

    #[test]
    fn the_old_primary_acking_again_without_a_new_epoch_is_a_dual_write() {
        let v = dual_writes(
            &[("1", "us-s", 0), ("2", "eu-s", 5_000), ("3", "us-s", 5_100)],
            &[(0, 1, "us"), (5_000, 2, "eu")],
        );
        assert_eq!(v.violations.len(), 1, "{:?}", v.violations);
    }

    #[test]
    fn a_region_change_with_no_claim_at_all_is_a_dual_write() {
        let v = dual_writes(&[("1", "us-s", 0), ("2", "eu-s", 100)], &[(0, 1, "us")]);
        assert!(!v.held());
    }

    #[test]
    fn one_id_acked_by_both_regions_is_a_dual_write() {
        let v = dual_writes(
            &[("1", "us-s", 0), ("1", "eu-s", 5_000)],
            &[(0, 1, "us"), (5_000, 2, "eu")],
        );
        assert_eq!(v.violations, vec!["1 acked by eu and us".to_owned()]);
    }

    #[test]
    fn an_epoch_that_goes_down_for_one_source_is_caught_and_others_are_not_blamed() {
        let s = |ms, source: &str, epoch| EpochSample {
            at: at(ms),
            source: source.into(),
            epoch,
        };
        let samples = [
            s(0, "us", 1),
            s(10, "eu", 2),
            s(20, "us", 2),
            s(30, "us", 1),
            s(40, "eu", 2),
        ];
        let v = epochs_only_grow(&samples);
        assert_eq!(v.checked, 5);
        assert_eq!(v.violations.len(), 1);
        assert!(v.violations[0].starts_with("us:"), "{:?}", v.violations);
    }

    #[test]
    fn lost_and_doubled_acked_ids_are_both_caught() {
        let acks = [ack("a", "s", 0), ack("b", "s", 1), ack("c", "s", 2)];
        let stored: BTreeMap<String, u64> = [
            ("a".to_owned(), 1),
            ("c".to_owned(), 2),
            ("x".to_owned(), 1),
        ]
        .into();
        let v = acked_exactly_once(&acks, &stored);
        assert_eq!(v.checked, 3);
        assert_eq!(v.violations.len(), 2, "{:?}", v.violations);
        let clean: BTreeMap<String, u64> = [
            ("a".to_owned(), 1),
            ("b".to_owned(), 1),
            ("c".to_owned(), 1),
        ]
        .into();
        assert!(acked_exactly_once(&acks, &clean).held());
    }

    fn schedule(faults: &[(Fault, u64)]) -> Schedule {
        Schedule {
            seed: 0,
            episodes: faults
                .iter()
                .enumerate()
                .map(|(i, (fault, hold))| Episode {
                    at: Duration::from_secs(u64::try_from(i).unwrap() * 30),
                    hold: Duration::from_millis(*hold),
                    fault: *fault,
                })
                .collect(),
        }
    }

    const DELAY: Duration = Duration::from_secs(5);

    #[test]
    fn a_failover_without_a_long_primary_region_loss_is_unwarranted() {
        let s = schedule(&[
            (Fault::KillNode(LabRegion::Us, 1), 4_000),
            (Fault::Cut(NetPath::Leaf), 4_000),
            (Fault::KillRegion(LabRegion::Us), 2_000),
            (Fault::KillRegion(LabRegion::Eu), 16_000),
        ]);
        assert!(!warrants_failover(&s, DELAY));
        let v = no_unwarranted_failover(&s, DELAY, 1);
        assert!(!v.held());
        assert!(no_unwarranted_failover(&s, DELAY, 0).held());
    }

    #[test]
    fn a_long_primary_region_loss_warrants_one_failover_and_its_absence_is_noted() {
        let s = schedule(&[(Fault::KillRegion(LabRegion::Us), 16_000)]);
        assert!(no_unwarranted_failover(&s, DELAY, 1).held());
        assert!(!no_unwarranted_failover(&s, DELAY, 2).held());
        let missed = no_unwarranted_failover(&s, DELAY, 0);
        assert!(missed.held());
        assert_eq!(missed.notes.len(), 1);
    }

    #[test]
    fn convergence_needs_every_watchdog_healthy_on_home_and_the_arbiter_home() {
        let ok = |site: &str| FinalStatus {
            site: site.into(),
            state: "healthy".into(),
            active_region: Some("us".into()),
            dns_points_at: Some("us".into()),
        };
        let good = [ok("us"), ok("eu"), ok("witness")];
        let v = converged(&good, Some("us"), "us");
        assert!(v.held(), "{:?}", v.violations);
        assert_eq!(v.checked, 10);
        let mut bad = good.clone();
        bad[1].state = "failed_over".into();
        bad[2].dns_points_at = Some("eu".into());
        assert_eq!(converged(&bad, Some("us"), "us").violations.len(), 2);
        assert_eq!(converged(&good, Some("eu"), "us").violations.len(), 1);
    }
}
