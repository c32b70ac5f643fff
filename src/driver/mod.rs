//! The driver: the imperative shell around `core::decide`. One task owns the state; probe rounds,
//! executor outcomes and operator commands arrive as events; actions leave as spawned executor
//! calls whose outcomes come back as events. Snapshots for the API leave on `watch` channels.
mod clock;
mod dispatch;
mod incident;
mod lease;
mod status;

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use clock::Clock;
pub use lease::LeaseKeeper;
pub use status::{build_status, peer_status, region_depth};

use crate::api::CommandRequest;
use crate::api::model::{self as api, CommandOutcome, Observations, Status, TransitionRecord};
use crate::config::Config;
use crate::core::{self, Decision, Event, Instant, Observation, Policy, State, WallTime, decide};
use crate::dns::{Arbiter, ClientRecord};
use crate::exec::{Fencer, Promoter, Reseeder};
use crate::model::Region;
use crate::notify::NotifierHandle;
use crate::telemetry::Metrics;

/// One probe round of both regions, DNS and the peers.
pub trait Probe: Send + 'static {
    /// Probes everything once; never takes much longer than the configured probe timeout.
    fn round(&mut self, at: Instant, wall: WallTime) -> impl Future<Output = Observation> + Send;

    /// The other vantage points as the last round saw them, for `/v1/status`.
    fn peers(&self) -> Vec<api::PeerStatus>;

    /// Each region's deeper probes (JSZ, HEALTHZ, LEAFZ) as the last round saw them, for
    /// `/v1/status`. They are shown, not decided on.
    fn depth(&self) -> BTreeMap<Region, api::RegionDepth>;
}

/// The executors the driver performs actions with.
pub struct Executors<A, C, F, P> {
    /// The ownership record.
    pub arbiter: Arc<A>,
    /// The client-facing record.
    pub client: Arc<C>,
    /// Fences and unfences regions.
    pub fencer: Arc<F>,
    /// Promotes mirrors.
    pub promoter: Arc<P>,
}

impl<A, C, F, P> Clone for Executors<A, C, F, P> {
    fn clone(&self) -> Self {
        Self {
            arbiter: self.arbiter.clone(),
            client: self.client.clone(),
            fencer: self.fencer.clone(),
            promoter: self.promoter.clone(),
        }
    }
}

/// What the driver publishes for the API.
pub struct Outputs {
    /// Status snapshots.
    pub status: watch::Sender<Arc<Status>>,
    /// What this watchdog tells its peers.
    pub observations: watch::Sender<Arc<Observations>>,
    /// Becomes true after the first probe round.
    pub ready: watch::Sender<bool>,
}

/// How many transitions `/v1/status` shows.
const HISTORY: usize = 20;

/// The state-owning task.
pub struct Driver<Pr, A, C, F, P> {
    cfg: Arc<Config>,
    policy: Policy,
    state: State,
    clock: Clock,
    probe: Option<Pr>,
    exec: Executors<A, C, F, P>,
    notifier: Option<NotifierHandle>,
    metrics: Metrics,
    out: Outputs,
    transitions: VecDeque<TransitionRecord>,
    last_obs: Option<Observation>,
    peers: Vec<api::PeerStatus>,
    depth: BTreeMap<Region, api::RegionDepth>,
    last_reason: String,
    incident: incident::Incident,
    events_tx: mpsc::Sender<Event>,
    events_rx: mpsc::Receiver<Event>,
    /// The region's lease record (the home primary's watchdog only).
    lease: Option<LeaseKeeper>,
}

impl<Pr, A, C, F, P> Driver<Pr, A, C, F, P>
where
    Pr: Probe,
    A: Arbiter + Send + Sync + 'static,
    C: ClientRecord + Send + Sync + 'static,
    F: Fencer,
    P: Promoter + Reseeder,
{
    /// A driver starting from `State::starting()`: it derives everything from its first rounds.
    pub fn new(
        cfg: Arc<Config>,
        probe: Pr,
        exec: Executors<A, C, F, P>,
        notifier: Option<NotifierHandle>,
        metrics: Metrics,
        out: Outputs,
    ) -> Self {
        let policy = Policy::try_new(crate::config::policy_params(&cfg))
            .expect("a loaded config always yields a valid policy");
        let (events_tx, events_rx) = mpsc::channel(64);
        Self {
            cfg,
            policy,
            state: State::starting(),
            clock: Clock::start(),
            probe: Some(probe),
            exec,
            notifier,
            metrics,
            out,
            transitions: VecDeque::new(),
            last_obs: None,
            peers: Vec::new(),
            depth: BTreeMap::new(),
            last_reason: "starting: no probe round yet".into(),
            incident: incident::Incident::default(),
            events_tx,
            events_rx,
            lease: None,
        }
    }

    /// Keeps this region's lease record (for the home primary's watchdog): its lease then
    /// outlives the process, and a graceful shutdown releases it.
    #[must_use]
    pub fn with_lease(mut self, lease: LeaseKeeper) -> Self {
        self.lease = Some(lease);
        self
    }

    /// Runs until `shutdown` resolves. Probe rounds start every `probe_interval` and never
    /// overlap; a slow round delays the next one instead of piling up.
    pub async fn run(
        mut self,
        mut commands: mpsc::Receiver<CommandRequest>,
        shutdown: impl Future<Output = ()>,
    ) {
        let mut tick = tokio::time::interval(self.cfg.timing.probe_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut round: Option<JoinHandle<(Pr, Observation)>> = None;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                Some(req) = commands.recv() => self.command(req),
                Some(ev) = self.events_rx.recv() => self.handle(ev),
                done = async { round.as_mut().expect("guarded").await }, if round.is_some() => {
                    round = None;
                    match done {
                        Ok((probe, obs)) => {
                            self.peers = probe.peers();
                            self.depth = probe.depth();
                            self.probe = Some(probe);
                            self.observed(obs);
                        }
                        Err(e) => {
                            // NB: a panicking probe is a bug; stop rather than run blind.
                            tracing::error!(error = %e, "probe round panicked; the watchdog stops");
                            break;
                        }
                    }
                }
                _ = tick.tick(), if round.is_none() => {
                    let mut probe = self.probe.take().expect("no round in flight");
                    let (at, wall) = (self.clock.now(), self.clock.wall());
                    round = Some(tokio::spawn(async move {
                        let obs = probe.round(at, wall).await;
                        (probe, obs)
                    }));
                }
            }
        }
        self.release().await;
        if let Some(n) = self.notifier.take() {
            n.shutdown(std::time::Duration::from_secs(5)).await;
        }
    }

    /// Graceful shutdown of a primary-region watchdog that holds a fresh lease: tell the peers
    /// it no longer guards the region (so they stop counting on its lease) and release the
    /// record (so a successor is not bound by it), then give the peers time to fetch that word.
    /// NB: only with a fresh vouch, when the peers are surely fetching: a watchdog cut off from
    /// them keeps its lease recorded, and its successor keeps it too.
    async fn release(&mut self) {
        let Some(mut lease) = self.lease.take() else {
            return;
        };
        let now = self.clock.now();
        let fresh = self
            .state
            .vouched_at
            .is_some_and(|v| now.since(v) <= self.cfg.timing.peer_stale_after);
        if !(fresh && self.state.guarding(&self.policy)) {
            return;
        }
        self.state.lease_held = false;
        if let Some(obs) = self.last_obs.clone() {
            self.publish_observations(&obs);
        }
        lease.release(&self.state, self.last_obs.as_ref()).await;
        tokio::time::sleep(2 * self.cfg.timing.probe_interval + self.cfg.timing.probe_timeout)
            .await;
    }

    /// What this watchdog tells its peers after a round: its verdicts, and the newest word it
    /// holds from each region's watchdog, its own included.
    fn publish_observations(&self, obs: &Observation) {
        let mut guards = self.state.guard.clone();
        if self.cfg.watchdog.role == crate::config::Role::Watchdog {
            guards.insert(
                self.cfg.watchdog.site.clone(),
                (obs.at, self.state.guarding(&self.policy)),
            );
        }
        self.out
            .observations
            .send_replace(Arc::new(crate::probe::observations_from(
                obs,
                &self.cfg,
                self.clock.now().since(obs.at),
                &guards,
            )));
    }

    fn observed(&mut self, mut obs: Observation) {
        obs.recorded_vouch = self.lease.as_ref().and_then(|l| l.recorded(obs.wall));
        self.last_obs = Some(obs.clone());
        self.handle(Event::Observed(obs.clone()));
        self.publish_observations(&obs);
        if let Some(lease) = self.lease.as_mut() {
            lease.vouched(&self.state, &obs);
        }
        self.out.ready.send_replace(true);
    }

    /// Folds one event into the state and performs the decision.
    fn handle(&mut self, ev: Event) {
        let now = match &ev {
            Event::Observed(o) => o.at,
            _ => self.clock.now(),
        };
        let d = decide(&self.state, &ev, now, &self.policy);
        self.apply(d, now);
    }

    fn apply(&mut self, d: Decision, now: Instant) {
        let before = self.state.phase.name();
        let after = d.next.phase.name();
        if before != after || self.state.mode != d.next.mode {
            tracing::info!(
                from = ?before, to = ?after, mode = ?d.next.mode, epoch = ?d.next.epoch(),
                reason = %d.reason, "transition"
            );
        }
        if before != after {
            self.metrics
                .transition(status::phase_label(before), status::phase_label(after));
            self.transitions.push_front(TransitionRecord {
                at: crate::api::now_rfc3339(),
                from: status::phase_label(before).into(),
                to: status::phase_label(after).into(),
                reason: d.reason.to_string(),
                epoch: d.next.epoch(),
            });
            self.transitions.truncate(HISTORY);
            self.incident.phase_changed(before, after, now);
        }
        for a in &d.actions {
            tracing::info!(action = ?a, "action");
            self.dispatch(a.clone(), now);
        }
        self.last_reason = d.reason.to_string();
        self.state = d.next;
        self.publish();
    }

    fn publish(&self) {
        let s = build_status(
            &self.cfg,
            &self.state,
            self.last_obs.as_ref(),
            self.peers.clone(),
            &self.depth,
            self.transitions.iter().cloned().collect(),
            &self.last_reason,
        );
        status::export_metrics(&self.metrics, &self.state, self.last_obs.as_ref(), &s);
        self.out.status.send_replace(Arc::new(s));
    }

    /// An operator command: decided like any event, answered with the decision's reason. A dry
    /// run decides on a copy and changes nothing.
    fn command(&mut self, req: CommandRequest) {
        let c = req.command;
        let me = &self.cfg.watchdog.site;
        if let Some(to) = c.to.as_ref().filter(|to| *to != me) {
            let _ = req.reply.send(CommandOutcome {
                accepted: false,
                dry_run: c.dry_run,
                message: format!(
                    "this watchdog moves the primary to its own region ({me}); send the command to the watchdog in {to}"
                ),
                state: status::phase_label(self.state.phase.name()).into(),
            });
            return;
        }
        let kind = match c.kind {
            api::CommandKind::Pause => core::CommandKind::Pause,
            api::CommandKind::Resume => core::CommandKind::Resume,
            api::CommandKind::Switchover => core::CommandKind::Switchover,
            api::CommandKind::Failover => core::CommandKind::Failover {
                allow_data_loss: c.allow_data_loss,
            },
            api::CommandKind::Failback => core::CommandKind::Failback,
            api::CommandKind::Ack => core::CommandKind::Ack,
        };
        let ev = Event::Command(core::Command {
            kind,
            reason: c.reason.clone(),
            by: c.by.clone(),
        });
        let now = self.clock.now();
        let d = decide(&self.state, &ev, now, &self.policy);
        // NB: refused = the core said so, or the command changed nothing at all (a failover
        // held by the RPO guard answers with the Blocked reason and leaves the state as it was).
        let refused = matches!(d.reason, core::Reason::Refused { .. })
            || (d.actions.is_empty()
                && d.next.phase.name() == self.state.phase.name()
                && d.next.mode == self.state.mode);
        let outcome = CommandOutcome {
            accepted: !refused,
            dry_run: c.dry_run,
            message: if c.dry_run && !d.actions.is_empty() {
                format!(
                    "{} (would do: {})",
                    d.reason,
                    dispatch::describe(&d.actions)
                )
            } else {
                d.reason.to_string()
            },
            state: status::phase_label(if c.dry_run || refused {
                self.state.phase.name()
            } else {
                d.next.phase.name()
            })
            .into(),
        };
        if !c.dry_run && !refused {
            self.apply(d, now);
        }
        let _ = req.reply.send(outcome);
    }
}
