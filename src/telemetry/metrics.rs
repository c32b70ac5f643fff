//! The metric catalog of docs/metrics.md. Label values come from the config (regions, streams,
//! peers) or from fixed lists below, never from the wire, so cardinality is bounded.
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::probe::MetaDepth;

/// Every state name `natsdr_state` reports (one series each).
pub const STATES: [&str; 12] = [
    "starting",
    "healthy",
    "degraded",
    "suspect",
    "isolated",
    "failing_over",
    "failed_over",
    "switching_over",
    "failing_back",
    "stood_down",
    "blocked",
    "self_fenced",
];
/// Every mode name `natsdr_mode` reports.
pub const MODES: [&str; 3] = ["active", "paused", "tilt"];
/// Every cause `natsdr_blocked` reports.
pub const BLOCK_CAUSES: [&str; 4] = [
    "rpo_exceeded",
    "flapping",
    "anti_flap_hold",
    "needs_operator",
];
/// Failover phases timed by `natsdr_failover_phase_duration_seconds`.
pub const PHASES: [&str; 8] = [
    "detect", "confirm", "claim", "fence", "promote", "dns", "verify", "total",
];
/// Probes counted by `natsdr_probe_errors_total` (the last is the catch-all).
pub const PROBES: [&str; 5] = ["ping", "jsz", "healthz", "leafz", "streams"];
const DNS_OPS: [&str; 4] = ["read", "claim", "swap", "verify"];
const DNS_RESULTS: [&str; 3] = ["ok", "lost", "error"];
const SINKS: [&str; 2] = ["pagerduty", "webhook"];
const SINK_RESULTS: [&str; 3] = ["sent", "failed", "dropped"];
const COMMANDS: [&str; 6] = [
    "pause",
    "resume",
    "switchover",
    "failover",
    "failback",
    "ack",
];
const COMMAND_RESULTS: [&str; 3] = ["accepted", "refused", "unauthorized"];
/// How publishing an audit record to NATS ended (`natsdr_audit_records_total`).
const AUDIT_RESULTS: [&str; 4] = ["stored", "published", "failed", "dropped"];
/// The failback steps that run executors of their own (`natsdr_failback_steps_total`); the
/// rest of a failback is a switchover's steps, counted with the failover phases.
pub const FAILBACK_STEPS: [&str; 2] = ["capture_tail", "reseed"];
const STEP_RESULTS: [&str; 2] = ["ok", "error"];
/// What became of the old primary's divergent messages (`natsdr_failback_tail_messages_total`).
const TAIL_OUTCOMES: [&str; 4] = ["captured", "recovered", "duplicate", "kept"];
/// What a promotion did with each tracked consumer (`natsdr_consumers_recreated_total`).
pub const RECREATE_OUTCOMES: [&str; 4] = ["created", "left", "replaced", "failed"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Version {
    version: &'static str,
}
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateL {
    state: &'static str,
}
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModeL {
    mode: &'static str,
}
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CauseL {
    cause: &'static str,
}
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RegionL {
    region: String,
}
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StreamL {
    stream: String,
}
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerL {
    peer: String,
}
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransitionL {
    from: &'static str,
    to: &'static str,
}
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseL {
    phase: &'static str,
}
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProbeErrL {
    region: String,
    probe: &'static str,
}
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpResultL {
    op: &'static str,
    result: &'static str,
}
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkResultL {
    sink: &'static str,
    result: &'static str,
}
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultL {
    result: &'static str,
}
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepL {
    step: &'static str,
}
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepResultL {
    step: &'static str,
    result: &'static str,
}
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeL {
    outcome: &'static str,
}
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommandL {
    command: &'static str,
    result: &'static str,
}

type FGauge = Gauge<f64, AtomicU64>;

fn seconds_histogram() -> Histogram {
    // 10 ms .. ~80 s: probe rounds at the low end, whole failovers at the high end.
    Histogram::new(exponential_buckets(0.01, 2.0, 14))
}

/// All of natsdr's metrics. Cheap to clone (handles share the same series).
#[derive(Clone)]
pub struct Metrics {
    state: Family<StateL, Gauge>,
    mode: Family<ModeL, Gauge>,
    blocked: Family<CauseL, Gauge>,
    epoch: Gauge,
    active_region: Family<RegionL, Gauge>,
    region_up: Family<RegionL, Gauge>,
    region_servers: Family<RegionL, Gauge>,
    region_cluster_size: Family<RegionL, Gauge>,
    region_meta_leader: Family<RegionL, Gauge>,
    region_fenced: Family<RegionL, Gauge>,
    region_meta_peers_current: Family<RegionL, Gauge>,
    region_meta_peers_offline: Family<RegionL, Gauge>,
    region_meta_peer_active_max: Family<RegionL, FGauge>,
    region_healthz_ok: Family<RegionL, Gauge>,
    region_leafnodes: Family<RegionL, Gauge>,
    mirror_lag_messages: Family<StreamL, Gauge>,
    mirror_lag_seconds: Family<StreamL, FGauge>,
    mirror_active_age_seconds: Family<StreamL, FGauge>,
    peer_up: Family<PeerL, Gauge>,
    dns_pending: Gauge,
    transitions: Family<TransitionL, Counter>,
    phase_duration: Family<PhaseL, Histogram, fn() -> Histogram>,
    probe_duration: Family<RegionL, Histogram, fn() -> Histogram>,
    probe_errors: Family<ProbeErrL, Counter>,
    dns_ops: Family<OpResultL, Counter>,
    notifications: Family<SinkResultL, Counter>,
    commands: Family<CommandL, Counter>,
    api_connections_refused: Counter,
    audit_records: Family<ResultL, Counter>,
    failback_steps: Family<StepResultL, Counter>,
    failback_step_duration: Family<StepL, Histogram, fn() -> Histogram>,
    failback_tail: Family<OutcomeL, Counter>,
    consumers_tracked: Family<StreamL, Gauge>,
    consumers_position_age: Family<StreamL, FGauge>,
    consumers_at_risk: Family<StreamL, Gauge>,
    consumers_recreated: Family<OutcomeL, Counter>,
    /// The config's names: the only values the region, stream and peer labels may take.
    known: Arc<Known>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

struct Known {
    regions: HashSet<String>,
    mirrors: HashSet<String>,
    /// Streams whose consumers may be tracked (both sides of every mirrored stream and bucket).
    consumer_streams: HashSet<String>,
    peers: HashSet<String>,
}

/// Maps a label value given at run time onto the fixed list, so a caller's typo cannot create
/// a new series. Unknown values fall back to the last entry of the list.
fn bounded(list: &'static [&'static str], value: &str) -> &'static str {
    list.iter()
        .find(|v| **v == value)
        .copied()
        .unwrap_or(list[list.len() - 1])
}

impl Metrics {
    /// Builds the registry with every series of the catalog. `regions`, `mirrors` and `peers`
    /// are the config's names: the only label values those families will ever hold.
    pub fn new(regions: &[String], mirrors: &[String], peers: &[String]) -> (Registry, Self) {
        let mut reg = Registry::default();
        let m = Self {
            state: Family::default(),
            mode: Family::default(),
            blocked: Family::default(),
            epoch: Gauge::default(),
            active_region: Family::default(),
            region_up: Family::default(),
            region_servers: Family::default(),
            region_cluster_size: Family::default(),
            region_meta_leader: Family::default(),
            region_fenced: Family::default(),
            region_meta_peers_current: Family::default(),
            region_meta_peers_offline: Family::default(),
            region_meta_peer_active_max: Family::default(),
            region_healthz_ok: Family::default(),
            region_leafnodes: Family::default(),
            mirror_lag_messages: Family::default(),
            mirror_lag_seconds: Family::default(),
            mirror_active_age_seconds: Family::default(),
            peer_up: Family::default(),
            dns_pending: Gauge::default(),
            transitions: Family::default(),
            phase_duration: Family::new_with_constructor(seconds_histogram),
            probe_duration: Family::new_with_constructor(seconds_histogram),
            probe_errors: Family::default(),
            dns_ops: Family::default(),
            notifications: Family::default(),
            commands: Family::default(),
            api_connections_refused: Counter::default(),
            audit_records: Family::default(),
            failback_steps: Family::default(),
            failback_step_duration: Family::new_with_constructor(seconds_histogram),
            failback_tail: Family::default(),
            consumers_tracked: Family::default(),
            consumers_position_age: Family::default(),
            consumers_at_risk: Family::default(),
            consumers_recreated: Family::default(),
            known: Arc::new(Known {
                regions: regions.iter().cloned().collect(),
                mirrors: mirrors.iter().cloned().collect(),
                // Mirrors are where a failover recreates consumers; `with_consumer_streams`
                // adds their sources, where a failback does.
                consumer_streams: mirrors.iter().cloned().collect(),
                peers: peers.iter().cloned().collect(),
            }),
        };
        let info = Family::<Version, Gauge>::default();
        info.get_or_create(&Version {
            version: env!("CARGO_PKG_VERSION"),
        })
        .set(1);
        reg.register("natsdr_build_info", "natsdr build", info);
        reg.register(
            "natsdr_state",
            "Phase of the state machine (1 = current)",
            m.state.clone(),
        );
        reg.register(
            "natsdr_mode",
            "Whether natsdr may act (1 = current)",
            m.mode.clone(),
        );
        reg.register(
            "natsdr_blocked",
            "Waiting for an operator, by cause",
            m.blocked.clone(),
        );
        reg.register(
            "natsdr_epoch",
            "Current epoch (fencing token)",
            m.epoch.clone(),
        );
        reg.register(
            "natsdr_active_region",
            "1 for the region that owns writes",
            m.active_region.clone(),
        );
        reg.register(
            "natsdr_region_up",
            "Region reachable with a quorum",
            m.region_up.clone(),
        );
        reg.register(
            "natsdr_region_servers",
            "Servers answering the last ping",
            m.region_servers.clone(),
        );
        reg.register(
            "natsdr_region_cluster_size",
            "Configured cluster size",
            m.region_cluster_size.clone(),
        );
        reg.register(
            "natsdr_region_meta_leader",
            "A JetStream meta leader is present",
            m.region_meta_leader.clone(),
        );
        reg.register(
            "natsdr_region_fenced",
            "The region's managed streams are fenced",
            m.region_fenced.clone(),
        );
        reg.register(
            "natsdr_region_meta_peers_current",
            "Meta-group peers the meta leader heard from lately (leader excluded; JSZ)",
            m.region_meta_peers_current.clone(),
        );
        reg.register(
            "natsdr_region_meta_peers_offline",
            "Meta-group peers the meta leader marks offline or has not heard from for 3 s (JSZ)",
            m.region_meta_peers_offline.clone(),
        );
        reg.register(
            "natsdr_region_meta_peer_active_max_seconds",
            "Longest time since the meta leader heard from a peer (NaN: no leader answered)",
            m.region_meta_peer_active_max.clone(),
        );
        reg.register(
            "natsdr_region_healthz_ok",
            "Servers whose HEALTHZ js-meta-only answered 200",
            m.region_healthz_ok.clone(),
        );
        reg.register(
            "natsdr_region_leafnodes",
            "Leafnode connections up, summed over the region's servers (LEAFZ)",
            m.region_leafnodes.clone(),
        );
        reg.register(
            "natsdr_mirror_lag_messages",
            "Source last_seq minus mirror last_seq",
            m.mirror_lag_messages.clone(),
        );
        reg.register(
            "natsdr_mirror_lag_seconds",
            "Age of the oldest message the mirror lacks",
            m.mirror_lag_seconds.clone(),
        );
        reg.register(
            "natsdr_mirror_active_age_seconds",
            "Time since the mirror last heard from its source",
            m.mirror_active_age_seconds.clone(),
        );
        reg.register(
            "natsdr_peer_up",
            "The peer's observations are fresh",
            m.peer_up.clone(),
        );
        reg.register(
            "natsdr_dns_pending",
            "A DNS change is wanted but not yet confirmed",
            m.dns_pending.clone(),
        );
        reg.register(
            "natsdr_transitions",
            "State transitions",
            m.transitions.clone(),
        );
        reg.register(
            "natsdr_failover_phase_duration_seconds",
            "Duration of each failover phase",
            m.phase_duration.clone(),
        );
        reg.register(
            "natsdr_probe_duration_seconds",
            "Duration of one probe round of a region",
            m.probe_duration.clone(),
        );
        reg.register(
            "natsdr_probe_errors",
            "Failed probes",
            m.probe_errors.clone(),
        );
        reg.register("natsdr_dns_operations", "DNS operations", m.dns_ops.clone());
        reg.register(
            "natsdr_notifications",
            "Notification deliveries",
            m.notifications.clone(),
        );
        reg.register("natsdr_commands", "Operator commands", m.commands.clone());
        reg.register(
            "natsdr_api_connections_refused",
            "API connections closed on accept because api.max_connections were open",
            m.api_connections_refused.clone(),
        );
        reg.register(
            "natsdr_audit_records",
            "Audit records published to NATS",
            m.audit_records.clone(),
        );
        reg.register(
            "natsdr_failback_steps",
            "Failback steps of their own (capturing the divergent tail, reseeding mirrors)",
            m.failback_steps.clone(),
        );
        reg.register(
            "natsdr_failback_step_duration_seconds",
            "Duration of each failback step of its own",
            m.failback_step_duration.clone(),
        );
        reg.register(
            "natsdr_failback_tail_messages",
            "The old primary's divergent messages, by what became of them",
            m.failback_tail.clone(),
        );
        reg.register(
            "natsdr_consumers_tracked",
            "Durable consumers whose positions this watchdog keeps, per stream they would be recreated on",
            m.consumers_tracked.clone(),
        );
        reg.register(
            "natsdr_consumers_oldest_position_age_seconds",
            "Age of the oldest tracked consumer position, per stream",
            m.consumers_position_age.clone(),
        );
        reg.register(
            "natsdr_consumers_redelivery_at_risk",
            "Messages a failover now would deliver again (acknowledged since the last stored position), per stream",
            m.consumers_at_risk.clone(),
        );
        reg.register(
            "natsdr_consumers_recreated",
            "Tracked consumers put on promoted streams, by outcome",
            m.consumers_recreated.clone(),
        );

        // Create every bounded series up front, so dashboards and alerts see zeros, not gaps.
        m.set_state("starting");
        m.set_mode("active");
        for c in BLOCK_CAUSES {
            m.blocked.get_or_create(&CauseL { cause: c }).set(0);
        }
        for r in regions {
            let l = RegionL { region: r.clone() };
            for f in [
                &m.active_region,
                &m.region_up,
                &m.region_servers,
                &m.region_cluster_size,
                &m.region_meta_leader,
                &m.region_fenced,
                &m.region_meta_peers_current,
                &m.region_meta_peers_offline,
                &m.region_healthz_ok,
                &m.region_leafnodes,
            ] {
                f.get_or_create(&l).set(0);
            }
            m.region_meta_peer_active_max
                .get_or_create(&l)
                .set(f64::NAN);
        }
        for s in mirrors {
            let l = StreamL { stream: s.clone() };
            m.mirror_lag_messages.get_or_create(&l).set(0);
            m.mirror_lag_seconds.get_or_create(&l).set(0.0);
            m.mirror_active_age_seconds.get_or_create(&l).set(0.0);
            m.set_consumers(s, 0, 0.0, 0);
        }
        for p in peers {
            m.peer_up.get_or_create(&PeerL { peer: p.clone() }).set(0);
        }
        // Counters and histograms too: `rate()` and `increase()` need a series before the
        // first event, and `absent()` alerts must not fire on a watchdog that is merely quiet.
        for from in STATES {
            for to in STATES {
                m.transitions
                    .get_or_create(&TransitionL { from, to })
                    .inc_by(0);
            }
        }
        for phase in PHASES {
            drop(m.phase_duration.get_or_create(&PhaseL { phase }));
        }
        for r in regions {
            drop(
                m.probe_duration
                    .get_or_create(&RegionL { region: r.clone() }),
            );
            for probe in PROBES {
                m.probe_errors
                    .get_or_create(&ProbeErrL {
                        region: r.clone(),
                        probe,
                    })
                    .inc_by(0);
            }
        }
        for op in DNS_OPS {
            for result in DNS_RESULTS {
                m.dns_ops.get_or_create(&OpResultL { op, result }).inc_by(0);
            }
        }
        for sink in SINKS {
            for result in SINK_RESULTS {
                m.notifications
                    .get_or_create(&SinkResultL { sink, result })
                    .inc_by(0);
            }
        }
        for command in COMMANDS {
            for result in COMMAND_RESULTS {
                m.commands
                    .get_or_create(&CommandL { command, result })
                    .inc_by(0);
            }
        }
        for result in AUDIT_RESULTS {
            m.audit_records.get_or_create(&ResultL { result }).inc_by(0);
        }
        for step in FAILBACK_STEPS {
            drop(m.failback_step_duration.get_or_create(&StepL { step }));
            for result in STEP_RESULTS {
                m.failback_steps
                    .get_or_create(&StepResultL { step, result })
                    .inc_by(0);
            }
        }
        for outcome in TAIL_OUTCOMES {
            m.failback_tail
                .get_or_create(&OutcomeL { outcome })
                .inc_by(0);
        }
        for outcome in RECREATE_OUTCOMES {
            m.consumers_recreated
                .get_or_create(&OutcomeL { outcome })
                .inc_by(0);
        }
        (reg, m)
    }

    /// Sets the current phase (`natsdr_state`): 1 for it, 0 for every other state.
    pub fn set_state(&self, state: &str) {
        let state = bounded(&STATES, state);
        for s in STATES {
            self.state
                .get_or_create(&StateL { state: s })
                .set(i64::from(s == state));
        }
    }

    /// Sets the current mode (`natsdr_mode`).
    pub fn set_mode(&self, mode: &str) {
        let mode = bounded(&MODES, mode);
        for s in MODES {
            self.mode
                .get_or_create(&ModeL { mode: s })
                .set(i64::from(s == mode));
        }
    }

    /// Sets the blocked cause, or none.
    pub fn set_blocked(&self, cause: Option<&str>) {
        let cause = cause.map(|c| bounded(&BLOCK_CAUSES, c));
        for c in BLOCK_CAUSES {
            self.blocked
                .get_or_create(&CauseL { cause: c })
                .set(i64::from(Some(c) == cause));
        }
    }

    /// Sets the epoch and which region is active.
    pub fn set_epoch(&self, epoch: u64, active: Option<&str>) {
        self.epoch.set(i64::try_from(epoch).unwrap_or(i64::MAX));
        for r in &self.known.regions {
            self.active_region
                .get_or_create(&RegionL { region: r.clone() })
                .set(i64::from(Some(r.as_str()) == active));
        }
    }

    /// Records one region's health as this watchdog sees it. Unknown regions are ignored.
    pub fn set_region(
        &self,
        region: &str,
        up: bool,
        servers: u32,
        cluster_size: u32,
        meta_leader: bool,
        fenced: bool,
    ) {
        let l = RegionL {
            region: region.to_owned(),
        };
        if !self.known.regions.contains(region) {
            return;
        }
        self.region_up.get_or_create(&l).set(i64::from(up));
        self.region_servers
            .get_or_create(&l)
            .set(i64::from(servers));
        self.region_cluster_size
            .get_or_create(&l)
            .set(i64::from(cluster_size));
        self.region_meta_leader
            .get_or_create(&l)
            .set(i64::from(meta_leader));
        self.region_fenced.get_or_create(&l).set(i64::from(fenced));
    }

    /// Records one region's deeper probes: the meta leader's view of its peers (`None`: no
    /// leader answered), HEALTHZ 200s and leafnode connections (`None`: not answered, shown as
    /// 0). Unknown regions are ignored.
    pub fn set_region_depth(
        &self,
        region: &str,
        meta: Option<&MetaDepth>,
        healthz_ok: Option<u32>,
        leafnodes: Option<u32>,
    ) {
        if !self.known.regions.contains(region) {
            return;
        }
        let l = RegionL {
            region: region.to_owned(),
        };
        self.region_meta_peers_current
            .get_or_create(&l)
            .set(meta.map_or(0, |m| i64::from(m.peers_current)));
        self.region_meta_peers_offline
            .get_or_create(&l)
            .set(meta.map_or(0, |m| i64::from(m.peers_offline)));
        self.region_meta_peer_active_max
            .get_or_create(&l)
            .set(meta.map_or(f64::NAN, |m| m.max_active_age.as_secs_f64()));
        self.region_healthz_ok
            .get_or_create(&l)
            .set(i64::from(healthz_ok.unwrap_or(0)));
        self.region_leafnodes
            .get_or_create(&l)
            .set(i64::from(leafnodes.unwrap_or(0)));
    }

    /// The same handles, also accepting `streams` as consumer-tracking labels (both sides of
    /// every mirrored stream and bucket; the config's names, so bounded). Call it before
    /// cloning the handles: clones made earlier keep the narrower set.
    #[must_use]
    pub fn with_consumer_streams(mut self, streams: &[String]) -> Self {
        let k = &self.known;
        self.known = Arc::new(Known {
            regions: k.regions.clone(),
            mirrors: k.mirrors.clone(),
            consumer_streams: k.consumer_streams.iter().chain(streams).cloned().collect(),
            peers: k.peers.clone(),
        });
        for s in streams {
            self.set_consumers(s, 0, 0.0, 0);
        }
        self
    }

    /// Records one stream's tracked consumers. Streams not named by the config are ignored.
    pub fn set_consumers(&self, stream: &str, tracked: u64, oldest_age_seconds: f64, at_risk: u64) {
        if !self.known.consumer_streams.contains(stream) {
            return;
        }
        let l = StreamL {
            stream: stream.to_owned(),
        };
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.consumers_tracked.get_or_create(&l).set(n(tracked));
        self.consumers_position_age
            .get_or_create(&l)
            .set(oldest_age_seconds);
        self.consumers_at_risk.get_or_create(&l).set(n(at_risk));
    }

    /// Counts what a promotion did with tracked consumers.
    pub fn consumers_recreated(&self, outcome: &str, n: u64) {
        self.consumers_recreated
            .get_or_create(&OutcomeL {
                outcome: bounded(&RECREATE_OUTCOMES, outcome),
            })
            .inc_by(n);
    }

    /// Records a mirror's lag. Unknown mirrors are ignored.
    pub fn set_mirror(
        &self,
        mirror: &str,
        lag_messages: u64,
        lag_seconds: f64,
        active_age_seconds: f64,
    ) {
        let l = StreamL {
            stream: mirror.to_owned(),
        };
        if !self.known.mirrors.contains(mirror) {
            return;
        }
        self.mirror_lag_messages
            .get_or_create(&l)
            .set(i64::try_from(lag_messages).unwrap_or(i64::MAX));
        self.mirror_lag_seconds.get_or_create(&l).set(lag_seconds);
        self.mirror_active_age_seconds
            .get_or_create(&l)
            .set(active_age_seconds);
    }

    /// Records whether a peer's observations are fresh. Unknown peers are ignored.
    pub fn set_peer_up(&self, peer: &str, up: bool) {
        let l = PeerL {
            peer: peer.to_owned(),
        };
        if self.known.peers.contains(peer) {
            self.peer_up.get_or_create(&l).set(i64::from(up));
        }
    }

    /// Sets whether a DNS change is pending.
    pub fn set_dns_pending(&self, pending: bool) {
        self.dns_pending.set(i64::from(pending));
    }

    /// Counts a transition.
    pub fn transition(&self, from: &str, to: &str) {
        self.transitions
            .get_or_create(&TransitionL {
                from: bounded(&STATES, from),
                to: bounded(&STATES, to),
            })
            .inc();
    }

    /// Records one run of a failback step of its own: how it ended and how long it took.
    pub fn failback_step(&self, step: &str, ok: bool, seconds: f64) {
        let step = bounded(&FAILBACK_STEPS, step);
        let result = if ok { "ok" } else { "error" };
        self.failback_steps
            .get_or_create(&StepResultL { step, result })
            .inc();
        self.failback_step_duration
            .get_or_create(&StepL { step })
            .observe(seconds);
    }

    /// Counts one captured divergent tail: every message exported, and of those how many were
    /// re-published, already present, or only kept for an operator.
    pub fn failback_tail(&self, captured: u64, recovered: u64, duplicates: u64, kept: u64) {
        for (outcome, n) in [
            ("captured", captured),
            ("recovered", recovered),
            ("duplicate", duplicates),
            ("kept", kept),
        ] {
            self.failback_tail
                .get_or_create(&OutcomeL {
                    outcome: bounded(&TAIL_OUTCOMES, outcome),
                })
                .inc_by(n);
        }
    }

    /// Records how long a failover phase took.
    pub fn phase(&self, phase: &str, seconds: f64) {
        self.phase_duration
            .get_or_create(&PhaseL {
                phase: bounded(&PHASES, phase),
            })
            .observe(seconds);
    }

    /// Records one probe round of a region. Unknown regions are ignored.
    pub fn probe(&self, region: &str, seconds: f64) {
        let l = RegionL {
            region: region.to_owned(),
        };
        if self.known.regions.contains(region) {
            self.probe_duration.get_or_create(&l).observe(seconds);
        }
    }

    /// Counts a failed probe.
    pub fn probe_error(&self, region: &str, probe: &str) {
        if self.known.regions.contains(region) {
            self.probe_errors
                .get_or_create(&ProbeErrL {
                    region: region.to_owned(),
                    probe: bounded(&PROBES, probe),
                })
                .inc();
        }
    }

    /// Counts a DNS operation.
    pub fn dns_op(&self, op: &str, result: &str) {
        self.dns_ops
            .get_or_create(&OpResultL {
                op: bounded(&DNS_OPS, op),
                result: bounded(&DNS_RESULTS, result),
            })
            .inc();
    }

    /// Counts a notification delivery.
    pub fn notification(&self, sink: &str, result: &str) {
        self.notifications
            .get_or_create(&SinkResultL {
                sink: bounded(&SINKS, sink),
                result: bounded(&SINK_RESULTS, result),
            })
            .inc();
    }

    /// Counts an operator command.
    pub fn command(&self, command: &str, result: &str) {
        self.commands
            .get_or_create(&CommandL {
                command: bounded(&COMMANDS, command),
                result: bounded(&COMMAND_RESULTS, result),
            })
            .inc();
    }

    /// Counts a connection the API closed on accept (at `api.max_connections`).
    pub fn api_connection_refused(&self) {
        self.api_connections_refused.inc();
    }

    /// Counts how publishing one audit record to NATS ended.
    pub fn audit_record(&self, result: &str) {
        self.audit_records
            .get_or_create(&ResultL {
                result: bounded(&AUDIT_RESULTS, result),
            })
            .inc();
    }
}

/// Renders the registry as OpenMetrics text.
pub fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry)
        .expect("writing to a String cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|l| l.split_whitespace().next().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn every_metric_of_the_catalog_is_exported() {
        let (mut reg, _) = Metrics::new(
            &["us-east-1".into(), "eu-central-1".into()],
            &["events-eu-mirror".into()],
            &["witness".into()],
        );
        // A watchdog with a [backup] section also registers the backup schedule's metrics.
        crate::backup::BackupMetrics::register(&mut reg);
        let text = encode(&reg);
        let catalog = include_str!("../../docs/metrics.md");
        let exported = names(&text);
        for line in catalog.lines().filter(|l| l.starts_with("| `natsdr_")) {
            let name = line.split('`').nth(1).unwrap();
            // Counters are declared without `_total` in the TYPE line.
            let base = name.strip_suffix("_total").unwrap_or(name);
            assert!(
                exported.iter().any(|e| e == base),
                "{name} is in docs/metrics.md but not exported:\n{text}"
            );
        }
    }

    #[test]
    fn a_failback_counts_its_steps_and_what_became_of_the_tail() {
        let (reg, m) = Metrics::new(&[], &[], &[]);
        m.failback_step("capture_tail", true, 0.2);
        m.failback_step("reseed", false, 1.5);
        m.failback_tail(7, 4, 2, 1);
        m.failback_tail(3, 3, 0, 0);
        let text = encode(&reg);
        for line in [
            "natsdr_failback_steps_total{step=\"capture_tail\",result=\"ok\"} 1",
            "natsdr_failback_steps_total{step=\"reseed\",result=\"error\"} 1",
            "natsdr_failback_steps_total{step=\"reseed\",result=\"ok\"} 0",
            "natsdr_failback_step_duration_seconds_count{step=\"reseed\"} 1",
            "natsdr_failback_tail_messages_total{outcome=\"captured\"} 10",
            "natsdr_failback_tail_messages_total{outcome=\"recovered\"} 7",
            "natsdr_failback_tail_messages_total{outcome=\"duplicate\"} 2",
            "natsdr_failback_tail_messages_total{outcome=\"kept\"} 1",
        ] {
            assert!(text.contains(line), "{line} missing:\n{text}");
        }
    }

    #[test]
    fn labels_stay_bounded_whatever_callers_pass() {
        let (reg, m) = Metrics::new(&["us-east-1".into()], &[], &[]);
        m.set_region("mars-north-1", true, 3, 3, true, false);
        m.set_mirror("not-configured", 5, 1.0, 1.0);
        m.transition("healthy", "made-up-state");
        let text = encode(&reg);
        assert!(
            !text.contains("mars-north-1")
                && !text.contains("not-configured")
                && !text.contains("made-up-state")
        );
    }

    #[test]
    fn a_region_s_depth_shows_offline_peers_healthz_and_leafnodes() {
        let (reg, m) = Metrics::new(&["us-east-1".into()], &[], &[]);
        let meta = MetaDepth {
            leader: Some("us-1".into()),
            cluster_size: 3,
            peers_current: 1,
            peers_offline: 1,
            max_active_age: std::time::Duration::from_millis(4500),
        };
        m.set_region_depth("us-east-1", Some(&meta), Some(2), Some(3));
        m.set_region_depth("mars-north-1", Some(&meta), Some(9), Some(9));
        let text = encode(&reg);
        for line in [
            "natsdr_region_meta_peers_current{region=\"us-east-1\"} 1",
            "natsdr_region_meta_peers_offline{region=\"us-east-1\"} 1",
            "natsdr_region_meta_peer_active_max_seconds{region=\"us-east-1\"} 4.5",
            "natsdr_region_healthz_ok{region=\"us-east-1\"} 2",
            "natsdr_region_leafnodes{region=\"us-east-1\"} 3",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
        }
        assert!(!text.contains("mars-north-1"));
    }

    #[test]
    fn state_is_a_state_set_with_exactly_one_current_value() {
        let (reg, m) = Metrics::new(&[], &[], &[]);
        m.set_state("failing_over");
        let text = encode(&reg);
        let ones: Vec<_> = text
            .lines()
            .filter(|l| l.starts_with("natsdr_state{") && l.ends_with(" 1"))
            .collect();
        assert_eq!(ones, vec!["natsdr_state{state=\"failing_over\"} 1"]);
    }
}
