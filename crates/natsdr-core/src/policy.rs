//! Who this watchdog is and the timing rules it acts by, validated once at start-up.
use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::{Region, StreamName};

/// What this process may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// Probes, votes and acts for its own region.
    Watchdog,
    /// Probes and votes only; never emits an action.
    Witness,
}

/// What a standby does when there is no witness and the primary looks gone (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TwoSite {
    /// Detect, page and wait in `Blocked { NeedsOperator }`. The safe default: two sites cannot tell
    /// a dead peer from a cut link.
    Manual,
    /// Fail over on this watchdog's own evidence plus the mirror's, trusting the primary to have
    /// fenced itself when its lease ran out.
    Lease,
}

/// The raw settings, before validation. Build with [`PolicyParams::new`] (sane defaults), adjust
/// fields, then [`Policy::try_new`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyParams {
    /// This process's region (for a witness: where it runs, which may be a third place).
    pub me: Region,
    /// Whether this process acts or only votes.
    pub role: Role,
    /// The region that is active in normal operation.
    pub home_primary: Region,
    /// The region that mirrors it and takes over.
    pub home_standby: Region,
    /// Whether a witness is deployed (three vantage points instead of two).
    pub witness: bool,
    /// Behaviour without a witness.
    pub two_site: TwoSite,
    /// When false, a confirmed outage of the primary is paged and held in `Blocked` for an
    /// operator: no automatic failover (fencing stale twins and the lease still apply).
    pub auto_failover: bool,
    /// Streams natsdr must never touch (GDPR-only, region-local). Filtered out of every action.
    pub protected: BTreeSet<StreamName>,
    /// How often the driver probes.
    pub probe_interval: Duration,
    /// How long a confirmed outage must hold before the standby claims.
    pub failover_delay: Duration,
    /// How long the primary's watchdog keeps serving without a majority vouching for it.
    pub self_fence_lease: Duration,
    /// A region that fenced itself by its lease (or found itself so fenced) unfences itself once
    /// a majority has vouched for it this long without a break, while the arbiter still names
    /// it at the fence's epoch and it has not fenced itself more than `flap_max` times within
    /// `flap_window`. `None`: only an operator's `Ack` unfences it.
    pub self_unfence_after: Option<Duration>,
    /// Safety margin for clock rates and executor latency in the timing rule.
    pub margin: Duration,
    /// A mirror whose source has been silent this long testifies that the source is gone.
    pub mirror_silence: Duration,
    /// A report older than this counts as no report.
    pub report_max_age: Duration,
    /// Most messages an automatic failover may lose (per stream).
    pub rpo_max_msgs: u64,
    /// Oldest unmirrored message an automatic failover may lose (per stream).
    pub rpo_max_lag: Duration,
    /// How long a step waits for its outcome before it is sent again.
    pub step_timeout: Duration,
    /// Attempts per step before natsdr gives up and asks an operator.
    pub max_attempts: u32,
    /// How long a watchdog that lost a claim lets the winner work before finishing its steps.
    pub takeover_after: Duration,
    /// How long a planned switchover waits for the mirrors to catch up before rolling back.
    pub switchover_lag_timeout: Duration,
    /// How long a failback waits for the reseeded mirrors before it asks an operator.
    pub reseed_timeout: Duration,
    /// More down-edges than this within `flap_window` is flapping.
    pub flap_max: u32,
    /// The window flaps are counted in.
    pub flap_window: Duration,
    /// Wall and monotonic time drifting apart by more than this between rounds is a clock jump.
    pub tilt_jump: Duration,
    /// A gap between rounds longer than this means this process stalled.
    pub tilt_stall: Duration,
    /// How long TILT observes without acting.
    pub tilt_hold: Duration,
}

impl PolicyParams {
    /// How long after a region stops serving the votes that confirm it can arrive: a round
    /// interval until the next probe and another for the reports (each round's probe timeout is
    /// shorter than its interval). The standby dates an outage back by at most this much.
    pub fn detection_latency(&self) -> Duration {
        2 * self.probe_interval
    }

    /// Defaults that satisfy the timing rule and aim at an RTO under 10 s: probe every 500 ms,
    /// lease 3 s, failover after 6 s of confirmed outage.
    pub fn new(me: Region, role: Role, home_primary: Region, home_standby: Region) -> Self {
        Self {
            me,
            role,
            home_primary,
            home_standby,
            witness: true,
            two_site: TwoSite::Manual,
            auto_failover: true,
            protected: BTreeSet::new(),
            probe_interval: Duration::from_millis(500),
            failover_delay: Duration::from_secs(6),
            self_fence_lease: Duration::from_secs(3),
            self_unfence_after: Some(Duration::from_secs(10)),
            margin: Duration::from_secs(1),
            mirror_silence: Duration::from_secs(3),
            report_max_age: Duration::from_secs(2),
            rpo_max_msgs: 10_000,
            rpo_max_lag: Duration::from_secs(5),
            step_timeout: Duration::from_secs(5),
            max_attempts: 5,
            takeover_after: Duration::from_secs(15),
            switchover_lag_timeout: Duration::from_secs(30),
            reseed_timeout: Duration::from_secs(30 * 60),
            flap_max: 3,
            flap_window: Duration::from_secs(600),
            tilt_jump: Duration::from_secs(2),
            tilt_stall: Duration::from_secs(2),
            tilt_hold: Duration::from_secs(10),
        }
    }
}

/// Why a policy was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The old primary could still be serving when the standby promotes.
    #[error(
        "self_fence_lease ({lease:?}) + 2 * probe_interval ({probe:?}) + margin ({margin:?}) must be \
         shorter than failover_delay ({delay:?}): otherwise the standby may promote before the old \
         primary has fenced itself"
    )]
    UnsafeTiming {
        /// The primary's lease.
        lease: Duration,
        /// The probe interval.
        probe: Duration,
        /// The margin.
        margin: Duration,
        /// The standby's delay.
        delay: Duration,
    },
    /// Primary and standby are the same region.
    #[error("home_primary and home_standby are both {0}")]
    SameRegion(Region),
    /// A watchdog must run in one of the two regions it guards.
    #[error("a watchdog in {me} guards neither {primary} nor {standby}")]
    Stranger {
        /// This watchdog's region.
        me: Region,
        /// The configured primary.
        primary: Region,
        /// The configured standby.
        standby: Region,
    },
    /// A duration that must be positive is zero.
    #[error("{0} must be longer than zero")]
    Zero(&'static str),
    /// A step could never be attempted.
    #[error("max_attempts must be at least 1")]
    NoAttempts,
}

/// A validated [`PolicyParams`]. Holding one proves the timing rule holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Policy(PolicyParams);

impl Policy {
    /// Validates the settings. The key rule: `self_fence_lease + 2 * probe_interval + margin <
    /// failover_delay`, so an isolated primary has always fenced itself before the standby may promote.
    pub fn try_new(p: PolicyParams) -> Result<Self, PolicyError> {
        for (name, d) in [
            ("probe_interval", p.probe_interval),
            ("failover_delay", p.failover_delay),
            ("self_fence_lease", p.self_fence_lease),
            ("report_max_age", p.report_max_age),
            ("step_timeout", p.step_timeout),
            ("tilt_stall", p.tilt_stall),
        ] {
            if d.is_zero() {
                return Err(PolicyError::Zero(name));
            }
        }
        if p.max_attempts == 0 {
            return Err(PolicyError::NoAttempts);
        }
        if p.home_primary == p.home_standby {
            return Err(PolicyError::SameRegion(p.home_primary));
        }
        if p.role == Role::Watchdog && p.me != p.home_primary && p.me != p.home_standby {
            return Err(PolicyError::Stranger {
                me: p.me,
                primary: p.home_primary,
                standby: p.home_standby,
            });
        }
        if p.self_fence_lease + 2 * p.probe_interval + p.margin >= p.failover_delay {
            return Err(PolicyError::UnsafeTiming {
                lease: p.self_fence_lease,
                probe: p.probe_interval,
                margin: p.margin,
                delay: p.failover_delay,
            });
        }
        Ok(Self(p))
    }

    /// The validated settings.
    pub fn params(&self) -> &PolicyParams {
        &self.0
    }

    /// The other of the two guarded regions.
    pub fn other(&self, region: &Region) -> &Region {
        if *region == self.0.home_primary {
            &self.0.home_standby
        } else {
            &self.0.home_primary
        }
    }

    /// How many vantage points vote: this watchdog, its peer, and the witness if there is one.
    pub fn vantage_points(&self) -> u32 {
        if self.0.witness { 3 } else { 2 }
    }

    /// Votes needed for a majority of the vantage points.
    pub fn majority(&self) -> u32 {
        self.vantage_points() / 2 + 1
    }

    /// Whether automatic moves may rely on the primary's self-fence lease: with a witness, or in
    /// two-site `lease` mode.
    pub fn lease_applies(&self) -> bool {
        self.0.witness || self.0.two_site == TwoSite::Lease
    }

    /// When an unreachable old primary has surely fenced itself, counted from when a majority
    /// stopped vouching for it.
    pub fn lease_expiry(&self) -> Duration {
        self.0.self_fence_lease + 2 * self.0.probe_interval + self.0.margin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Region {
        Region::new(s).unwrap()
    }

    fn params() -> PolicyParams {
        PolicyParams::new(
            r("eu-central-1"),
            Role::Watchdog,
            r("us-east-1"),
            r("eu-central-1"),
        )
    }

    #[test]
    fn the_defaults_satisfy_the_timing_rule() {
        assert!(Policy::try_new(params()).is_ok());
    }

    #[test]
    fn a_lease_that_outlives_the_failover_delay_is_refused() {
        let mut p = params();
        p.self_fence_lease = Duration::from_secs(4);
        assert!(matches!(
            Policy::try_new(p),
            Err(PolicyError::UnsafeTiming { .. })
        ));
    }

    #[test]
    fn a_watchdog_outside_both_regions_is_refused_but_a_witness_is_not() {
        let mut p = params();
        p.me = r("ap-south-1");
        assert!(matches!(
            Policy::try_new(p.clone()),
            Err(PolicyError::Stranger { .. })
        ));
        p.role = Role::Witness;
        assert!(Policy::try_new(p).is_ok());
    }

    #[test]
    fn two_vantage_points_need_both_and_three_need_two() {
        let mut p = params();
        assert_eq!(Policy::try_new(p.clone()).unwrap().majority(), 2);
        p.witness = false;
        let two = Policy::try_new(p).unwrap();
        assert_eq!((two.vantage_points(), two.majority()), (2, 2));
    }
}
