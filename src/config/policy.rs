//! The core's `Policy` from a config: the one place config values become decision parameters.
use std::time::Duration;

use crate::core::{PolicyParams, Role as CoreRole, TwoSite as CoreTwoSite};

use super::{Config, Role, TwoSite};

/// How many attempts the core makes at a step before it hands it to an operator. NB: config
/// validation checks that this many `step_timeout`s cover Route 53's INSYNC bound (60 s).
pub(crate) const STEP_ATTEMPTS: u32 = 5;

/// The parameters `decide` runs with under `cfg`. `Policy::try_new` on them is part of config
/// validation, so a config that loads always yields a valid policy.
pub fn policy_params(cfg: &Config) -> PolicyParams {
    let t = &cfg.timing;
    let role = match cfg.watchdog.role {
        Role::Watchdog => CoreRole::Watchdog,
        Role::Witness => CoreRole::Witness,
    };
    let mut p = PolicyParams::new(
        cfg.watchdog.site.clone(),
        role,
        cfg.primary().name.clone(),
        cfg.standby().name.clone(),
    );
    p.witness = cfg.peers.witness.is_some();
    p.two_site = match cfg.watchdog.two_site {
        TwoSite::Manual => CoreTwoSite::Manual,
        TwoSite::Lease => CoreTwoSite::Lease,
    };
    p.protected = cfg
        .streams
        .iter()
        .filter(|s| s.gdpr)
        .map(|s| s.name.clone())
        .collect();
    p.probe_interval = t.probe_interval;
    p.failover_delay = t.failover_delay;
    p.self_fence_lease = t.self_fence_lease;
    p.self_unfence_after = cfg.watchdog.auto_unfence.then_some(t.self_unfence_after);
    p.auto_failover = cfg.watchdog.auto_failover;
    // NB: half a probe interval covers executor latency and clock-rate drift between the two
    // watchdogs: with the defaults, 2.5s lease + 2 x 500ms + 250ms < 4s failover delay.
    p.margin = t.probe_interval / 2;
    p.mirror_silence = t.mirror_silence;
    p.report_max_age = t.peer_stale_after;
    p.rpo_max_msgs = cfg.rpo.max_lag_messages;
    p.rpo_max_lag = cfg.rpo.max_lag_seconds;
    p.reseed_timeout = cfg.failback.reseed_timeout;
    p.step_timeout = t.step_timeout;
    p.max_attempts = STEP_ATTEMPTS;
    p.flap_max = t.flap_max;
    p.flap_window = t.flap_window;
    p.tilt_hold = t.tilt_duration;
    // A round may take probe_timeout; only a gap well past a round is a stall of this process.
    p.tilt_stall = (3 * t.probe_interval).max(Duration::from_secs(2));
    p
}
