//! `natsdr-lab chaos`: seeded, randomized fault runs on the real lab, checked against invariants.
//!
//! The schedule ([`Schedule::generate`]) and the checkers ([`check`]) are pure; [`run_seed`] is
//! the shell that starts a lab, injects a seed's faults and records the history they judge.
pub mod check;
mod run;
pub mod schedule;

use std::fmt::Write as _;
use std::path::PathBuf;

pub use check::{INVARIANTS, Verdict};
pub use run::{ChaosOptions, run_seed, run_seed_on};
pub use schedule::{Episode, Fault, Schedule, SplitMix64};

use crate::demo::DemoError;

/// Why a seed could not be run to its verdicts (a broken invariant is not an error: it is a
/// report whose verdicts say so).
#[derive(Debug, thiserror::Error)]
pub enum ChaosError {
    /// The lab did not start, or a fault could not be injected or undone.
    #[error("lab: {0}")]
    Lab(#[source] crate::lab::LabError),
    /// A piece shared with the demo failed (config, watchdogs, read-back).
    #[error("{0}")]
    Demo(#[from] DemoError),
    /// The harness itself failed (topology, receiver, a signal, a watchdog never healthy).
    #[error("harness: {0}")]
    Harness(String),
}

/// What one seed did and whether every invariant held.
#[derive(Debug, Clone)]
pub struct SeedReport {
    /// The seed.
    pub seed: u64,
    /// Its faults.
    pub schedule: Schedule,
    /// How many faults were injected (all of the schedule, unless the harness failed).
    pub injected: u64,
    /// Epochs EU claimed before the operator's failback.
    pub failovers: u64,
    /// Whether the operator failed back.
    pub failed_back: bool,
    /// The operator's commands and answers.
    pub operator: Vec<String>,
    /// Distinct message ids acked to the load generator.
    pub acked: u64,
    /// Requests the PagerDuty receiver got (answered or not).
    pub pages: u64,
    /// One verdict per invariant, in [`INVARIANTS`] order.
    pub verdicts: Vec<Verdict>,
    /// Wall time of the seed, lab start to stop.
    pub wall_secs: f64,
    /// The lab directory, kept (logs) when an invariant failed.
    pub kept_dir: Option<PathBuf>,
}

impl SeedReport {
    /// True when every invariant held.
    pub fn held(&self) -> bool {
        self.verdicts.iter().all(Verdict::held)
    }

    /// The per-seed text: schedule, outcome, each invariant with its count.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "seed {} schedule:", self.seed);
        out.push_str(&self.schedule.to_string());
        let _ = writeln!(
            out,
            "outcome: {} faults injected, {} failover(s), failback {}, {} acked, {} PagerDuty \
             requests, {:.0}s",
            self.injected,
            self.failovers,
            if self.failed_back {
                "done"
            } else {
                "not needed"
            },
            self.acked,
            self.pages,
            self.wall_secs
        );
        for o in &self.operator {
            let _ = writeln!(out, "  operator: {o}");
        }
        for v in &self.verdicts {
            let mark = if v.held() { "ok  " } else { "FAIL" };
            let _ = writeln!(out, "  {mark} {}: {} {}", v.invariant, v.checked, v.unit);
            for x in &v.violations {
                let _ = writeln!(out, "         violation: {x}");
            }
            for n in &v.notes {
                let _ = writeln!(out, "         note: {n}");
            }
        }
        if let Some(d) = &self.kept_dir {
            let _ = writeln!(out, "  evidence kept in {}", d.display());
        }
        out
    }
}

/// The summary over all seeds: per invariant, how many seeds held and how many things were
/// checked in total.
pub fn summary(reports: &[SeedReport]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<26} {:>7} {:>7} {:>10}",
        "invariant", "held", "failed", "checked"
    );
    for name in INVARIANTS {
        let vs: Vec<&Verdict> = reports
            .iter()
            .flat_map(|r| r.verdicts.iter())
            .filter(|v| v.invariant == name)
            .collect();
        let held = vs.iter().filter(|v| v.held()).count();
        let checked: u64 = vs.iter().map(|v| v.checked).sum();
        let unit = vs.first().map_or("", |v| v.unit);
        let _ = writeln!(
            out,
            "{name:<26} {held:>7} {:>7} {checked:>10} {unit}",
            vs.len() - held
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn report(held: bool) -> SeedReport {
        let mut v = check::epochs_only_grow(&[]);
        v.checked = 4;
        if !held {
            v.violations.push("us: epoch 1 after 2".into());
        }
        SeedReport {
            seed: 7,
            schedule: Schedule::generate(7, Duration::from_secs(20)),
            injected: 3,
            failovers: 0,
            failed_back: false,
            operator: Vec::new(),
            acked: 10,
            pages: 0,
            verdicts: vec![v],
            wall_secs: 1.0,
            kept_dir: None,
        }
    }

    #[test]
    fn the_summary_counts_held_and_failed_seeds_and_sums_what_was_checked() {
        let s = summary(&[report(true), report(false)]);
        let line = s
            .lines()
            .find(|l| l.starts_with("epochs only grow"))
            .expect("a line per invariant");
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols[3..6], ["1", "1", "8"], "{line}");
    }

    #[test]
    fn a_report_prints_its_violations() {
        let r = report(false);
        assert!(!r.held());
        assert!(
            r.render()
                .contains("FAIL epochs only grow: 4 epoch readings")
        );
        assert!(r.render().contains("violation: us: epoch 1 after 2"));
    }
}
