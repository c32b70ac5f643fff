//! The fault schedule of one chaos run: a pure function of (seed, duration), so a seed replays.
use std::fmt;
use std::time::Duration;

pub use crate::lab::SplitMix64;
use crate::lab::{LabRegion, NetPath, Site};

/// One fault the scheduler can inject; each is undone at the end of its episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL one NATS node; restarted at the end.
    KillNode(LabRegion, usize),
    /// SIGKILL every node of a region; restarted at the end.
    KillRegion(LabRegion),
    /// Blackhole one network path (leaf, peer, watchdog -> region); healed at the end.
    Cut(NetPath),
    /// Add one-way latency (ms) to a path; removed at the end.
    Slow(NetPath, u64),
    /// SIGKILL a watchdog (a crash); started again at the end.
    KillWatchdog(Site),
    /// SIGSTOP a watchdog, SIGCONT at the end: its clock stalls, as after a VM pause.
    StallWatchdog(Site),
    /// SIGSTOP the DNS server (arbiter and client record), SIGCONT at the end.
    StallDns,
    /// The PagerDuty receiver stops answering (hangs, a blackhole); answers again at the end.
    PagerDutyDown,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::KillNode(r, i) => write!(f, "kill-node {}-{i}", r.short()),
            Self::KillRegion(r) => write!(f, "kill-region {}", r.short()),
            Self::Cut(p) => write!(f, "cut {p}"),
            Self::Slow(p, ms) => write!(f, "slow {p} +{ms}ms"),
            Self::KillWatchdog(s) => write!(f, "kill-watchdog {}", s.short()),
            Self::StallWatchdog(s) => write!(f, "stall-watchdog {}", s.short()),
            Self::StallDns => f.write_str("stall-dns"),
            Self::PagerDutyDown => f.write_str("pagerduty-down"),
        }
    }
}

/// A fault held for a while: injected `at` after the run's start, undone `hold` later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Episode {
    /// When it is injected, from the start of the fault phase.
    pub at: Duration,
    /// How long it is held.
    pub hold: Duration,
    /// What.
    pub fault: Fault,
}

impl Episode {
    /// When it is undone.
    pub fn end(&self) -> Duration {
        self.at + self.hold
    }
}

/// A run's faults, in injection order. Episodes never overlap: each fault is undone before the
/// next is injected, so the warranted-failover rule can be read off one episode at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// The seed it was drawn from.
    pub seed: u64,
    /// The episodes, sorted by `at`.
    pub episodes: Vec<Episode>,
}

/// The paths a cut or a slow link may hit: the leafnode, watchdogs' views of each region and
/// watchdog-to-watchdog links (not the client entry points: the load must be able to reach the
/// primary for the checks to mean something).
fn link_paths() -> Vec<NetPath> {
    NetPath::all()
        .into_iter()
        .filter(|p| !matches!(p, NetPath::Client(_)))
        .collect()
}

impl Schedule {
    /// Draws the faults of a run of `duration` from `seed` alone (faults start within
    /// `duration`; the last may be held past it). A region kill of the primary
    /// is drawn at most once and held long enough to warrant a failover in half of the cases,
    /// so runs exercise both "must not fail over" and "fail over, then fail back".
    pub fn generate(seed: u64, duration: Duration) -> Self {
        let mut rng = SplitMix64::new(seed);
        let links = link_paths();
        let total = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        let mut t = rng.between(1_000, 3_000);
        let mut episodes = Vec::new();
        let mut region_killed = false;
        while t + 2_000 < total {
            let hold = rng.between(1_000, 4_000);
            let fault = match rng.between(0, 9) {
                0 => Fault::KillNode(rng.pick(&LabRegion::ALL), rng.pick(&[0, 1, 2])),
                1 if !region_killed => {
                    region_killed = true;
                    Fault::KillRegion(LabRegion::Us)
                }
                1 => Fault::KillRegion(LabRegion::Eu),
                2 | 3 => Fault::Cut(rng.pick(&links)),
                4 => Fault::Slow(rng.pick(&links), rng.between(50, 400)),
                5 => Fault::KillWatchdog(rng.pick(&Site::ALL)),
                6 => Fault::StallWatchdog(rng.pick(&Site::ALL)),
                7 => Fault::StallDns,
                _ => Fault::PagerDutyDown,
            };
            // A primary region loss is held either well past the failover delay (a real loss)
            // or well under it (a crash-restart), never in the ambiguous middle.
            let hold = match fault {
                Fault::KillRegion(LabRegion::Us) if rng.between(0, 1) == 0 => {
                    rng.between(15_000, 18_000)
                }
                Fault::KillRegion(LabRegion::Us) => rng.between(1_000, 2_500),
                _ => hold,
            };
            episodes.push(Episode {
                at: Duration::from_millis(t),
                hold: Duration::from_millis(hold),
                fault,
            });
            t += hold + rng.between(1_000, 3_000);
        }
        Self { seed, episodes }
    }

    /// When the last fault is undone (zero for an empty schedule).
    pub fn end(&self) -> Duration {
        self.episodes
            .iter()
            .map(Episode::end)
            .max()
            .unwrap_or_default()
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.episodes {
            writeln!(
                f,
                "  +{:>6.1}s  {:<36} for {:.1}s",
                e.at.as_secs_f64(),
                e.fault.to_string(),
                e.hold.as_secs_f64()
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Duration = Duration::from_secs(60);

    #[test]
    fn the_same_seed_and_duration_give_the_same_schedule() {
        for seed in 0..50 {
            assert_eq!(Schedule::generate(seed, D), Schedule::generate(seed, D));
        }
    }

    #[test]
    fn different_seeds_give_different_schedules() {
        let a = Schedule::generate(1, D);
        let b = Schedule::generate(2, D);
        assert_ne!(a.episodes, b.episodes);
    }

    #[test]
    fn episodes_never_overlap_and_start_inside_the_duration() {
        for seed in 0..200 {
            let s = Schedule::generate(seed, D);
            assert!(!s.episodes.is_empty(), "seed {seed} has no faults");
            for w in s.episodes.windows(2) {
                assert!(
                    w[0].end() < w[1].at,
                    "seed {seed}: {:?} overlaps {:?}",
                    w[0],
                    w[1]
                );
            }
            assert!(s.episodes.iter().all(|e| e.at < D));
        }
    }

    #[test]
    fn the_primary_region_is_killed_at_most_once_and_never_for_an_ambiguous_time() {
        for seed in 0..500 {
            let kills: Vec<_> = Schedule::generate(seed, D)
                .episodes
                .into_iter()
                .filter(|e| e.fault == Fault::KillRegion(LabRegion::Us))
                .collect();
            assert!(kills.len() <= 1, "seed {seed}");
            for k in kills {
                let ms = k.hold.as_millis();
                assert!(ms <= 2_500 || ms >= 15_000, "seed {seed}: {ms}");
            }
        }
    }

    #[test]
    fn twenty_seeds_draw_every_kind_of_fault() {
        let faults: Vec<Fault> = (0..20)
            .flat_map(|seed| Schedule::generate(seed, D).episodes)
            .map(|e| e.fault)
            .collect();
        let has = |p: fn(&Fault) -> bool| faults.iter().any(p);
        assert!(has(|f| matches!(f, Fault::KillNode(..))));
        assert!(has(|f| matches!(f, Fault::KillRegion(LabRegion::Us))));
        assert!(has(|f| matches!(f, Fault::Cut(_))));
        assert!(has(|f| matches!(f, Fault::Slow(..))));
        assert!(has(|f| matches!(f, Fault::KillWatchdog(_))));
        assert!(has(|f| matches!(f, Fault::StallWatchdog(_))));
        assert!(has(|f| matches!(f, Fault::StallDns)));
        assert!(has(|f| matches!(f, Fault::PagerDutyDown)));
    }
}
