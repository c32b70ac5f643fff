//! Snapshots for people and peers: `/v1/status`, `/v1/observations` and the metrics.
use crate::api::model::{MirrorStatus, RegionStatus, Status, TransitionRecord};
use crate::config::{Config, Home, Role};
use crate::core::{Mode, Observation, Phase, PhaseName, State, StreamRole};
use crate::telemetry::Metrics;

/// The metric / API label of a phase (see `telemetry::metrics::STATES`).
pub fn phase_label(p: PhaseName) -> &'static str {
    match p {
        PhaseName::Starting => "starting",
        PhaseName::Healthy => "healthy",
        PhaseName::Degraded => "degraded",
        PhaseName::Suspect => "suspect",
        PhaseName::Isolated => "isolated",
        PhaseName::FailingOver => "failing_over",
        PhaseName::SwitchingOver => "switching_over",
        PhaseName::FailingBack => "failing_back",
        PhaseName::FailedOver => "failed_over",
        PhaseName::StoodDown => "stood_down",
        PhaseName::Blocked => "blocked",
        PhaseName::SelfFenced => "self_fenced",
    }
}

fn mode_label(m: &Mode) -> &'static str {
    match m {
        Mode::Active => "active",
        Mode::Paused { .. } => "paused",
        Mode::Tilt { .. } => "tilt",
    }
}

/// The status snapshot.
pub fn build_status(
    cfg: &Config,
    state: &State,
    obs: Option<&Observation>,
    transitions: Vec<TransitionRecord>,
    last_reason: &str,
) -> Status {
    let regions = cfg
        .regions
        .iter()
        .map(|rc| {
            let view = obs.and_then(|o| o.regions.get(&rc.name));
            let streams = view.map(|v| v.streams.as_slice()).unwrap_or_default();
            let managed: Vec<_> = streams
                .iter()
                .filter(|s| !cfg.streams.iter().any(|g| g.gdpr && g.name == s.name))
                .collect();
            RegionStatus {
                region: rc.name.clone(),
                home: match rc.home {
                    Home::Primary => "primary".into(),
                    Home::Standby => "standby".into(),
                },
                up: view.is_some_and(|v| v.health().serves()),
                servers: view.map_or(0, |v| v.servers_up),
                cluster_size: u32::from(rc.cluster_size),
                meta_leader: view.is_some_and(|v| v.health().serves()),
                fenced: managed.iter().any(|s| s.role == StreamRole::Fenced),
                epoch_stamp: streams.iter().filter_map(|s| s.epoch).max(),
                error: view.filter(|v| !v.reachable).map(|_| "unreachable".into()),
            }
        })
        .collect();
    let mirrors = cfg
        .mirrors
        .iter()
        .map(|m| {
            let view = obs
                .and_then(|o| o.regions.get(&m.region))
                .and_then(|v| v.streams.iter().find(|s| s.name == m.name));
            let mv = view.and_then(|v| v.mirror.as_ref());
            MirrorStatus {
                stream: m.name.to_string(),
                source: m.source.to_string(),
                promoted: view.is_some_and(|v| v.role == StreamRole::Writable),
                lag_messages: mv.and_then(|m| m.lag_msgs),
                lag_seconds: mv.and_then(|m| m.lag_age).map(|d| d.as_secs_f64()),
                active_age_seconds: mv.and_then(|m| m.active_age).map(|d| d.as_secs_f64()),
                error: mv.and_then(|m| m.error.clone()),
            }
        })
        .collect();
    Status {
        watchdog: cfg.watchdog.id.clone(),
        site: cfg.watchdog.site.to_string(),
        role: match cfg.watchdog.role {
            Role::Watchdog => "watchdog".into(),
            Role::Witness => "witness".into(),
        },
        state: phase_label(state.phase.name()).into(),
        state_detail: serde_json::to_value(&state.phase).unwrap_or_default(),
        mode: mode_label(&state.mode).into(),
        epoch: state.epoch(),
        active_region: state.known.as_ref().map(|o| o.region.clone()),
        dns_points_at: obs.and_then(|o| o.dns.clone()),
        regions,
        mirrors,
        peers: Vec::new(),
        transitions,
        next: next_step(state, last_reason),
    }
}

/// What natsdr would do next, and why not yet.
fn next_step(state: &State, last_reason: &str) -> String {
    let why = match (&state.mode, &state.phase) {
        (Mode::Paused { .. }, _) => "paused: observing only until `natsdr resume`".to_owned(),
        (Mode::Tilt { .. }, _) => "TILT: observing only after a clock jump or a stall".to_owned(),
        (_, Phase::Blocked { .. }) => {
            "blocked: waiting for an operator (`natsdr ack`, or a break-glass failover)".to_owned()
        }
        (_, Phase::FailedOver { .. }) => {
            "failed over: holding; failback is never automatic (`natsdr failback`)".to_owned()
        }
        _ => String::new(),
    };
    if why.is_empty() {
        last_reason.to_owned()
    } else {
        format!("{why}; last decision: {last_reason}")
    }
}

/// Mirrors the snapshot into the metrics.
pub fn export_metrics(m: &Metrics, state: &State, obs: Option<&Observation>, s: &Status) {
    m.set_state(&s.state);
    m.set_mode(&s.mode);
    m.set_blocked(match &state.phase {
        Phase::Blocked { cause, .. } => Some(match cause {
            crate::core::BlockCause::RpoExceeded { .. } => "rpo_exceeded",
            crate::core::BlockCause::Flapping { .. } => "flapping",
            crate::core::BlockCause::NeedsOperator { .. } => "needs_operator",
        }),
        _ => None,
    });
    m.set_epoch(
        state.epoch().map_or(0, |e| e.0),
        s.active_region.as_ref().map(|r| r.as_str()),
    );
    for r in &s.regions {
        m.set_region(
            r.region.as_str(),
            r.up,
            r.servers,
            r.cluster_size,
            r.meta_leader,
            r.fenced,
        );
    }
    if obs.is_some() {
        for mi in &s.mirrors {
            m.set_mirror(
                &mi.stream,
                mi.lag_messages.unwrap_or(0),
                mi.lag_seconds.unwrap_or(f64::NAN),
                mi.active_age_seconds.unwrap_or(f64::NAN),
            );
        }
    }
}
