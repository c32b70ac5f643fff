//! The data-loss guard: what promoting a region's mirrors would lose, judged on the last lag
//! readings rather than on whether this round's reading happened to succeed.
//!
//! A mirror's lag is read when both regions answer in the same round. On a WAN a reading can
//! fail (the source's answer arrives after the round's deadline) and a dead source cannot be read
//! at all, so the guard works from the last good reading of each mirror:
//! - its lag in messages, as read;
//! - its lag in time, as read (the age of the first message the mirror lacked then, or an upper
//!   bound of it when that message could not be read).
//!
//! "Unknown" blocks only a mirror whose lag was never read since this watchdog started. A
//! reading is refreshed from the mirror's side alone while its source's region answers but
//! cannot list its streams (the prober's job). NB: sightings of the source region serving after
//! the last reading are not added to the lag: a region answering pings after a restart lists a
//! stream only once its group has a leader, and counting those seconds as unmeasured writes
//! blocked every failover after a flap; what a source takes between two readings is a limit
//! (README).
pub use super::lag::LagEvidence;
use super::observation::{StreamRole, StreamView};
use super::policy::Policy;
use super::state::{BlockCause, State};
use super::world::Catalog;
use crate::model::Region;

/// The guard's verdict on a region's mirrors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every mirror is within both budgets; `worst` is the one closest to the time budget (for
    /// the reason of the move), `None` when the region has no mirror to promote.
    Within {
        /// The mirror with the largest lag in time.
        worst: Option<LagEvidence>,
    },
    /// The first mirror over a budget, or never read.
    Exceeded(LagEvidence),
}

/// Judges every unprotected mirror of `region` as last catalogued against the policy's budgets.
pub fn judge(catalog: &Catalog, region: &Region, policy: &Policy) -> Verdict {
    let p = policy.params();
    let mut worst: Option<LagEvidence> = None;
    let mirrors = catalog
        .get(region)
        .into_iter()
        .flatten()
        .filter(|s| s.role == StreamRole::Mirror && !p.protected.contains(&s.name));
    for s in mirrors {
        let e = evidence(s);
        let over = match (e.msgs, e.age) {
            (Some(msgs), Some(age)) => msgs > p.rpo_max_msgs || age > p.rpo_max_lag,
            (Some(_) | None, Some(_) | None) => true,
        };
        if over {
            return Verdict::Exceeded(e);
        }
        if worst.as_ref().is_none_or(|w| e.age > w.age) {
            worst = Some(e);
        }
    }
    Verdict::Within { worst }
}

/// The guard over `region`'s mirrors as `state` last catalogued them.
pub fn verdict(state: &State, region: &Region, policy: &Policy) -> Verdict {
    judge(&state.catalog, region, policy)
}

impl Verdict {
    /// The cause to block an automatic failover on, if any.
    pub fn breach(&self) -> Option<BlockCause> {
        match self {
            Verdict::Within { .. } => None,
            Verdict::Exceeded(lag) => Some(BlockCause::RpoExceeded { lag: lag.clone() }),
        }
    }
}

/// One mirror's evidence: its last reading, and how long ago it was made.
fn evidence(s: &StreamView) -> LagEvidence {
    let m = s.mirror.as_ref();
    LagEvidence {
        stream: s.name.clone(),
        msgs: m.and_then(|m| m.lag_msgs),
        age: m.and_then(|m| m.lag_age),
        estimated: m.is_some_and(|m| m.lag_age_estimated),
        read_ago: m.and_then(|m| m.lag_read_ago),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;
    use crate::model::StreamName;
    use crate::observation::MirrorView;
    use crate::policy::{PolicyParams, Role};

    fn region(s: &str) -> Region {
        Region::new(s).unwrap()
    }

    fn policy() -> Policy {
        let mut p = PolicyParams::new(
            region("eu-central-1"),
            Role::Watchdog,
            region("us-east-1"),
            region("eu-central-1"),
        );
        p.rpo_max_msgs = 100;
        p.rpo_max_lag = Duration::from_secs(10);
        Policy::try_new(p).unwrap()
    }

    /// A mirror's last reading: messages, age (ms), whether estimated, read this long ago (ms).
    type Reading = Option<(u64, u64, bool, u64)>;

    fn mirror(name: &str, reading: Reading) -> StreamView {
        StreamView {
            name: StreamName::new(name).unwrap(),
            role: StreamRole::Mirror,
            epoch: None,
            origin: None,
            last_seq: 0,
            mirror: Some(MirrorView {
                active_age: None,
                lag_msgs: reading.map(|r| r.0),
                lag_age: reading.map(|r| Duration::from_millis(r.1)),
                lag_age_estimated: reading.is_some_and(|r| r.2),
                lag_read_ago: reading.map(|r| Duration::from_millis(r.3)),
                source_last_seq: None,
                error: None,
            }),
        }
    }

    fn catalog(readings: &[Reading]) -> Catalog {
        let streams = readings
            .iter()
            .enumerate()
            .map(|(i, r)| mirror(&format!("M{i}"), *r))
            .collect();
        BTreeMap::from([(region("eu-central-1"), streams)])
    }

    fn judge_at(readings: &[Reading]) -> Verdict {
        judge(&catalog(readings), &region("eu-central-1"), &policy())
    }

    #[test]
    fn a_reading_that_failed_this_round_leaves_the_last_good_one_in_force() {
        // Read 4 s ago (the source died since): 20 messages, 0.3 s behind, within both budgets.
        let v = judge_at(&[Some((20, 300, false, 4_000))]);
        let Verdict::Within { worst: Some(lag) } = v else {
            panic!("blocked on a good reading: {v:?}");
        };
        assert_eq!(
            lag.to_string(),
            "mirror M0 lags 20 messages / 0.3s (last read 4.0s ago)"
        );
    }

    #[test]
    fn only_a_mirror_never_read_is_unknown() {
        let v = judge_at(&[Some((0, 0, false, 0)), None]);
        let Verdict::Exceeded(lag) = v else {
            panic!("a mirror never read passed: {v:?}");
        };
        assert_eq!(lag.to_string(), "mirror M1 has no lag reading yet");
    }

    #[test]
    fn an_estimated_age_says_so() {
        let v = judge_at(&[Some((5, 12_000, true, 0))]);
        let Verdict::Exceeded(lag) = v else {
            panic!("{v:?}");
        };
        assert_eq!(
            lag.to_string(),
            "mirror M0 lags 5 messages / 12.0s (age estimated)"
        );
    }

    fn reading() -> impl Strategy<Value = Reading> {
        proptest::option::weighted(0.9, (0u64..300, 0u64..20_000, any::<bool>(), 0u64..30_000))
    }

    proptest! {
        /// No failover is let through whose last known lag was over the budget, and none is
        /// blocked when every last reading was inside it, however old.
        #[test]
        fn the_guard_decides_on_the_last_known_lag(
            readings in prop::collection::vec(reading(), 1..5),
        ) {
            let p = policy();
            let verdict = judge_at(&readings);
            let within = |r: &Reading| match r {
                None => false,
                Some((msgs, age, _, _)) => {
                    *msgs <= p.params().rpo_max_msgs
                        && Duration::from_millis(*age) <= p.params().rpo_max_lag
                }
            };
            let all_within = readings.iter().all(within);
            prop_assert_eq!(matches!(verdict, Verdict::Within { .. }), all_within, "{:?}", verdict);
        }
    }
}
