//! Snapshots for people and peers: `/v1/status`, `/v1/observations` and the metrics.
use std::collections::{BTreeMap, HashMap, HashSet};

use crate::api::model::{
    MirrorStatus, PeerStatus, RegionDepth, RegionStatus, Status, TransitionRecord,
};
use crate::config::Config;
use crate::core::{Mode, Observation, Phase, PhaseName, State, StreamRole, StreamView, Vantage};
use crate::model::{Region, StreamName};
use crate::probe::{PeerDetails, RegionDetails};
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

/// A peer as `/v1/status` shows it, from one round's fetch of it.
pub fn peer_status(d: &PeerDetails) -> PeerStatus {
    PeerStatus {
        url: d.url.clone(),
        vantage: match d.vantage {
            Vantage::Peer => "peer".into(),
            Vantage::Witness => "witness".into(),
        },
        id: d.id.clone(),
        age_seconds: d.report.as_ref().map(|r| r.age.as_secs_f64()),
        regions: d
            .report
            .iter()
            .flat_map(|r| {
                r.health
                    .iter()
                    .map(|(region, h)| (region.clone(), h.serves()))
            })
            .collect(),
        error: d.error.as_ref().map(|e| crate::error_chain(e)),
    }
}

/// A region's deeper probes as `/v1/status` shows them, from one round's details.
pub fn region_depth(d: &RegionDetails) -> RegionDepth {
    RegionDepth {
        meta_leader_name: d.meta.as_ref().and_then(|m| m.leader.clone()),
        meta_peers_current: d.meta.as_ref().map(|m| m.peers_current),
        meta_peers_offline: d.meta.as_ref().map(|m| m.peers_offline),
        meta_peer_active_max_seconds: d.meta.as_ref().map(|m| m.max_active_age.as_secs_f64()),
        healthz_answered: d.health.map(|h| h.answered),
        healthz_ok: d.health.map(|h| h.ok),
        leafnodes: d.leafs.map(|l| l.connections),
    }
}

/// The status snapshot; `peers` are the vantage points and `depth` each region's deeper probes
/// as of the last probe round.
pub fn build_status(
    cfg: &Config,
    state: &State,
    obs: Option<&Observation>,
    peers: Vec<PeerStatus>,
    depth: &BTreeMap<Region, RegionDepth>,
    transitions: Vec<TransitionRecord>,
    last_reason: &str,
) -> Status {
    // NB: sets and maps built once per snapshot: a lookup per stream into the config or the
    // listing made every snapshot O(N²) in the number of streams.
    let gdpr: HashSet<&StreamName> = cfg
        .streams
        .iter()
        .filter(|g| g.gdpr)
        .map(|g| &g.name)
        .collect();
    let regions = cfg
        .regions
        .iter()
        .map(|rc| {
            let view = obs.and_then(|o| o.regions.get(&rc.name));
            let streams = view.map(|v| v.streams.as_slice()).unwrap_or_default();
            let managed: Vec<_> = streams.iter().filter(|s| !gdpr.contains(&s.name)).collect();
            RegionStatus {
                region: rc.name.clone(),
                home: rc.home.as_str().into(),
                up: view.is_some_and(|v| v.health().serves()),
                servers: view.map_or(0, |v| v.servers_up),
                cluster_size: u32::from(rc.cluster_size),
                meta_leader: view.is_some_and(|v| v.health().serves()),
                fenced: managed.iter().any(|s| s.role == StreamRole::Fenced),
                epoch_stamp: streams.iter().filter_map(|s| s.epoch).max(),
                error: view.filter(|v| !v.reachable).map(|_| "unreachable".into()),
                depth: depth.get(&rc.name).cloned().unwrap_or_default(),
            }
        })
        .collect();
    let listed: HashMap<(&Region, &StreamName), &StreamView> = obs
        .iter()
        .flat_map(|o| o.regions.iter())
        .flat_map(|(r, v)| v.streams.iter().map(move |s| ((r, &s.name), s)))
        .collect();
    // KV buckets' mirrors too: a KV application's RPO is theirs (`KV_<bucket>` on both sides).
    let kv_mirrors = cfg.kv.iter().filter_map(|k| {
        let name = k.stream_name();
        Some((k.mirror_region.as_ref()?, name.clone(), name))
    });
    let mirrors = cfg
        .mirrors
        .iter()
        .map(|m| (&m.region, m.name.clone(), m.source.clone()))
        .chain(kv_mirrors)
        .map(|(region, name, source)| {
            let view = listed.get(&(region, &name)).copied();
            let mv = view.and_then(|v| v.mirror.as_ref());
            MirrorStatus {
                stream: name.to_string(),
                source: source.to_string(),
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
        role: cfg.watchdog.role.as_str().into(),
        state: phase_label(state.phase.name()).into(),
        state_detail: serde_json::to_value(&state.phase).unwrap_or_default(),
        mode: mode_label(&state.mode).into(),
        epoch: state.epoch(),
        active_region: state.known.as_ref().map(|o| o.region.clone()),
        dns_points_at: obs.and_then(|o| o.dns.clone()),
        regions,
        mirrors,
        peers,
        transitions,
        next: next_step(state, last_reason),
        // Filled by the consumer tracker's own task (cli/run.rs), not by the driver.
        consumers: Vec::new(),
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;
    use crate::core::{Health, Report};
    use crate::model::Region;
    use crate::probe::PeerError;

    fn details(report: Option<Report>, error: Option<PeerError>) -> PeerDetails {
        PeerDetails {
            url: "http://witness:8080".into(),
            vantage: Vantage::Witness,
            id: report.as_ref().map(|_| "natsdr-witness".into()),
            duration: Duration::from_millis(3),
            error,
            report,
        }
    }

    #[test]
    fn a_peer_shows_its_last_report_s_age_and_verdicts_and_why_this_round_failed() {
        let us = Region::new("us-east-1").unwrap();
        let eu = Region::new("eu-central-1").unwrap();
        let report = Report {
            vantage: Vantage::Witness,
            age: Duration::from_millis(1500),
            health: BTreeMap::from([(us.clone(), Health::Down), (eu.clone(), Health::Degraded)]),
            owner: None,
            seen_serving: BTreeMap::new(),
            guards: BTreeMap::new(),
        };
        let timeout = PeerError::Timeout {
            url: "http://witness:8080".into(),
            after: Duration::from_millis(400),
        };
        let p = peer_status(&details(Some(report), Some(timeout)));
        assert_eq!(p.url, "http://witness:8080");
        assert_eq!(p.vantage, "witness");
        assert_eq!(p.id.as_deref(), Some("natsdr-witness"));
        assert_eq!(p.age_seconds, Some(1.5));
        assert_eq!(p.regions, vec![(eu, true), (us, false)]);
        assert_eq!(
            p.error.as_deref(),
            Some("peer http://witness:8080 did not answer within 400ms")
        );
    }

    #[test]
    fn a_region_s_depth_carries_the_leader_s_peer_counts_healthz_and_leafnodes() {
        let d = RegionDetails {
            meta: Some(crate::probe::MetaDepth {
                leader: Some("us-1".into()),
                cluster_size: 3,
                peers_current: 1,
                peers_offline: 1,
                max_active_age: Duration::from_millis(3500),
            }),
            health: Some(crate::probe::HealthDepth { answered: 2, ok: 1 }),
            leafs: None,
            ..RegionDetails::default()
        };
        let depth = region_depth(&d);
        assert_eq!(
            depth,
            RegionDepth {
                meta_leader_name: Some("us-1".into()),
                meta_peers_current: Some(1),
                meta_peers_offline: Some(1),
                meta_peer_active_max_seconds: Some(3.5),
                healthz_answered: Some(2),
                healthz_ok: Some(1),
                leafnodes: None,
            }
        );
        assert_eq!(
            region_depth(&RegionDetails::default()),
            RegionDepth::default()
        );
    }

    #[test]
    fn a_peer_never_heard_from_has_no_id_age_or_verdicts() {
        let p = peer_status(&details(None, None));
        assert_eq!((p.id, p.age_seconds, p.error), (None, None, None));
        assert!(p.regions.is_empty());
    }
}
