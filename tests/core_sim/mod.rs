//! A small model of the two regions, the arbiter, DNS, the witness and both watchdogs, driving the
//! real `decide`: observations are built from the model, actions are applied to it, and their
//! outcomes are fed back, as the driver does.
// Each test crate that includes this module uses a different subset of it.
#![allow(dead_code)]
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use natsdr::core::{
    Action, CaptureResult, ClaimResult, Decision, Event, FenceResult, GuardWord, Health, Instant,
    MirrorView, Observation, Ownership, Policy, PolicyParams, RecordedVouch, RegionView, Report,
    Role, State, StepResult, StreamRole, StreamView, TailCount, Vantage, WallTime, decide,
    invariants,
};
use natsdr::model::{Epoch, Region, StreamName};

pub const ROUND_MS: u64 = 500;

pub fn us() -> Region {
    Region::new("us-east-1").unwrap()
}
pub fn eu() -> Region {
    Region::new("eu-central-1").unwrap()
}
pub fn name(s: &str) -> StreamName {
    StreamName::new(s).unwrap()
}

pub fn policy(me: Region) -> Policy {
    let mut p = PolicyParams::new(me, Role::Watchdog, us(), eu());
    p.protected = BTreeSet::from([name("GDPR")]);
    Policy::try_new(p).unwrap()
}

/// One stream in the model.
#[derive(Debug, Clone)]
pub struct Stream {
    pub name: StreamName,
    pub role: StreamRole,
    pub epoch: Option<Epoch>,
    pub origin: Option<StreamName>,
    pub last_seq: u64,
}

impl Stream {
    fn view(&self, mirror: Option<MirrorView>) -> StreamView {
        StreamView {
            name: self.name.clone(),
            role: self.role,
            epoch: self.epoch,
            origin: self.origin.clone(),
            last_seq: self.last_seq,
            mirror: if self.role == StreamRole::Mirror {
                mirror
            } else {
                None
            },
        }
    }
}

/// The world natsdr acts on.
#[derive(Debug, Clone)]
pub struct World {
    pub t: u64,
    /// US servers answering (of 3).
    pub us_up: u32,
    pub us_orders: Stream,
    pub eu_orders: Stream,
    pub eu_gdpr: Stream,
    pub arbiter: Ownership,
    pub dns: Region,
    /// EU <-> US: leafnode, probes and reports.
    pub link: bool,
    /// Witness <-> US.
    pub witness_link: bool,
    /// US watchdog <-> arbiter.
    pub us_arbiter_link: bool,
    /// The mirror's lag while in contact (messages).
    pub lag: u64,
    /// Whether the EU watchdog's lag readings succeed (both regions listed in one round).
    pub lag_reads: bool,
    /// The EU watchdog's last lag reading: messages, and when (ms).
    pub lag_read: Option<(u64, u64)>,
    pub mirror_contact: Option<u64>,
    /// When the witness last saw US serving (its memory, published with its reports).
    pub witness_saw_us: Option<u64>,
    /// The newest word the witness heard from the US watchdog about guarding US (it fetches
    /// the watchdogs' reports whenever it can reach US).
    pub witness_guard: Option<(u64, bool)>,
    /// US's lease record, kept in the region by its watchdog: last vouch (ms), released.
    pub lease_record: Option<(u64, bool)>,
    pub claims_won: u32,
    pub gdpr_touched: bool,
    pub dual_writes: u32,
    /// A promotion while the other region still took writes.
    pub promoted_while_us_writable: bool,
    /// A failover claimed by the EU watchdog although its last lag reading was over the budget
    /// (only an operator's break-glass may do that).
    pub promoted_over_known_lag: bool,
    /// An operator's break-glass failover away from a US nobody guarded: they vouched that it
    /// was fenced, which the model does not do for them.
    pub forced_over_unguarded: bool,
    /// Messages the mirror lacked when it was promoted.
    pub loss_at_promote: Option<u64>,
    /// Tail captures performed.
    pub tails_captured: u32,
    /// US was rebuilt as a mirror before any tail capture.
    pub rebuilt_uncaptured: bool,
}

impl World {
    pub fn new() -> Self {
        let stream = |n: &str, role, origin: Option<&str>| Stream {
            name: name(n),
            role,
            epoch: None,
            origin: origin.map(name),
            last_seq: 0,
        };
        World {
            t: 0,
            us_up: 3,
            us_orders: stream("ORDERS", StreamRole::Writable, None),
            eu_orders: stream("ORDERS_M", StreamRole::Mirror, Some("ORDERS")),
            eu_gdpr: stream("GDPR", StreamRole::Writable, None),
            arbiter: Ownership {
                region: us(),
                epoch: Epoch(1),
            },
            dns: us(),
            link: true,
            witness_link: true,
            us_arbiter_link: true,
            lag: 0,
            lag_reads: true,
            lag_read: None,
            mirror_contact: Some(0),
            witness_saw_us: None,
            witness_guard: None,
            lease_record: None,
            claims_won: 0,
            gdpr_touched: false,
            dual_writes: 0,
            promoted_while_us_writable: false,
            promoted_over_known_lag: false,
            forced_over_unguarded: false,
            loss_at_promote: None,
            tails_captured: 0,
            rebuilt_uncaptured: false,
        }
    }

    pub fn us_quorum(&self) -> bool {
        self.us_up >= 2
    }
    pub fn us_writable(&self) -> bool {
        self.us_quorum() && self.us_orders.role == StreamRole::Writable
    }
    pub fn eu_writable(&self) -> bool {
        self.eu_orders.role == StreamRole::Writable
    }

    fn us_view(&self) -> RegionView {
        // US mirrors EU only after a failback reseeded it.
        let behind = self
            .eu_orders
            .last_seq
            .saturating_sub(self.us_orders.last_seq);
        let mirror = MirrorView {
            active_age: Some(Duration::from_millis(if self.link { 0 } else { 60_000 })),
            lag_msgs: Some(behind),
            lag_age: Some(Duration::from_secs(if behind > 0 { 60 } else { 0 })),
            lag_age_estimated: false,
            lag_read_ago: Some(Duration::ZERO),
            source_last_seq: self.link.then_some(self.eu_orders.last_seq),
            error: None,
        };
        RegionView {
            reachable: self.us_up > 0,
            servers_up: self.us_up,
            cluster_size: 3,
            streams: if self.us_up > 0 {
                vec![self.us_orders.view(Some(mirror))]
            } else {
                Vec::new()
            },
        }
    }

    fn eu_view(&self) -> RegionView {
        let mirror = MirrorView {
            active_age: self
                .mirror_contact
                .map(|c| Duration::from_millis(self.t - c)),
            lag_msgs: self.lag_read.map(|(msgs, _)| msgs),
            lag_age: self
                .lag_read
                .map(|(msgs, _)| Duration::from_secs(if msgs > 0 { 60 } else { 0 })),
            lag_age_estimated: false,
            lag_read_ago: self
                .lag_read
                .map(|(_, at)| Duration::from_millis(self.t - at)),
            source_last_seq: (self.link && self.us_up > 0).then_some(self.us_orders.last_seq),
            error: None,
        };
        RegionView {
            reachable: true,
            servers_up: 3,
            cluster_size: 3,
            streams: vec![self.eu_orders.view(Some(mirror)), self.eu_gdpr.view(None)],
        }
    }

    fn unreachable() -> RegionView {
        RegionView {
            reachable: false,
            servers_up: 0,
            cluster_size: 3,
            streams: Vec::new(),
        }
    }
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

/// One watchdog process.
#[derive(Debug, Clone)]
pub struct Watchdog {
    pub policy: Policy,
    pub state: State,
    /// Its last verdict: when made, and what.
    pub report: Option<(u64, BTreeMap<Region, Health>)>,
    /// With that verdict: how long before it each region was last seen serving (ms).
    pub report_seen: BTreeMap<Region, u64>,
    /// Its prober's memory: when its own probes last saw each region serving.
    pub serving: BTreeMap<Region, u64>,
    /// Its own word on guarding its region, given with its last report.
    pub word: Option<(u64, bool)>,
}

impl Watchdog {
    fn new(me: Region) -> Self {
        Watchdog {
            policy: policy(me),
            state: State::starting(),
            report: None,
            report_seen: BTreeMap::new(),
            serving: BTreeMap::new(),
            word: None,
        }
    }

    /// The guard words it publishes with a report made at `made`: its own, and the newest it
    /// holds from the other region's watchdog.
    fn guards(&self, made: u64) -> BTreeMap<Region, GuardWord> {
        let word = |at: u64, guarding| GuardWord {
            before: Duration::from_millis(made.saturating_sub(at)),
            guarding,
        };
        let mut guards: BTreeMap<Region, GuardWord> = self
            .state
            .guard
            .iter()
            .map(|(r, (at, g))| (r.clone(), word(at.0, *g)))
            .collect();
        if let Some((at, g)) = self.word {
            guards.insert(self.policy.params().me.clone(), word(at, g));
        }
        guards
    }
}

/// The whole simulation: the world plus the EU and US watchdogs.
#[derive(Debug, Clone)]
pub struct Sim {
    pub world: World,
    pub eu: Watchdog,
    pub us: Watchdog,
    /// Every decision, tagged with the watchdog that took it.
    pub log: Vec<(Region, Event, Decision)>,
    /// Crash the EU watchdog right after its executors performed this many more actions
    /// (notifications aside): the effect lands, the outcome is lost, the state is gone.
    pub crash_eu_after: Option<usize>,
    /// Let the US watchdog observe before the EU one within a round.
    pub us_first: bool,
    /// The US watchdog process is gone (until restarted): it observes and reports nothing, and
    /// nobody fences US by its lease.
    pub us_dead: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    Eu,
    Us,
}

impl Sim {
    pub fn new() -> Self {
        Sim {
            world: World::new(),
            eu: Watchdog::new(eu()),
            us: Watchdog::new(us()),
            log: Vec::new(),
            crash_eu_after: None,
            us_first: false,
            us_dead: false,
        }
    }

    /// A new world after four rounds, the settled start most scenarios begin from.
    pub fn steady() -> Self {
        let mut sim = Self::new();
        sim.rounds(4);
        sim
    }

    pub fn dog(&mut self, who: Who) -> &mut Watchdog {
        match who {
            Who::Eu => &mut self.eu,
            Who::Us => &mut self.us,
        }
    }

    fn witness_verdict(&self) -> BTreeMap<Region, Health> {
        let w = &self.world;
        let us_health = if w.witness_link {
            w.us_view().health()
        } else {
            Health::Down
        };
        BTreeMap::from([(us(), us_health), (eu(), Health::Healthy)])
    }

    /// What `who` observes now. The witness looks at US whenever anyone observes (and
    /// remembers when it last saw US serving).
    pub fn observation(&mut self, who: Who) -> Observation {
        if self.world.witness_link && self.world.us_view().health().serves() {
            self.world.witness_saw_us = Some(self.world.t);
        }
        if self.world.witness_link
            && !self.us_dead
            && let Some(word) = self.us.word
        {
            self.world.witness_guard = Some(word);
        }
        let w = &self.world;
        let at = Instant(w.t);
        let mut reports = Vec::new();
        let (regions, peer, arbiter_ok, witness_ok) = match who {
            Who::Eu => {
                let us_view = if w.link {
                    w.us_view()
                } else {
                    World::unreachable()
                };
                (
                    BTreeMap::from([(eu(), w.eu_view()), (us(), us_view)]),
                    &self.us,
                    true,
                    true,
                )
            }
            Who::Us => {
                let eu_view = if w.link {
                    w.eu_view()
                } else {
                    World::unreachable()
                };
                let regions = BTreeMap::from([(us(), w.us_view()), (eu(), eu_view)]);
                (regions, &self.eu, w.us_arbiter_link, w.witness_link)
            }
        };
        if w.link
            && let Some((made, health)) = &peer.report
        {
            reports.push(Report {
                vantage: Vantage::Peer,
                age: Duration::from_millis(w.t - made),
                health: health.clone(),
                owner: peer.state.known.clone(),
                seen_serving: peer
                    .report_seen
                    .iter()
                    .map(|(r, ms)| (r.clone(), Duration::from_millis(*ms)))
                    .collect(),
                guards: peer.guards(*made),
            });
        }
        if witness_ok {
            reports.push(Report {
                vantage: Vantage::Witness,
                age: Duration::ZERO,
                health: self.witness_verdict(),
                owner: Some(w.arbiter.clone()),
                seen_serving: w
                    .witness_saw_us
                    .map(|t| (us(), Duration::from_millis(w.t - t)))
                    .into_iter()
                    .chain([(eu(), Duration::ZERO)])
                    .collect(),
                guards: w
                    .witness_guard
                    .map(|(at, guarding)| {
                        let before = Duration::from_millis(w.t - at);
                        (us(), GuardWord { before, guarding })
                    })
                    .into_iter()
                    .collect(),
            });
        }
        let me = match who {
            Who::Eu => &self.eu,
            Who::Us => &self.us,
        };
        let mut last_serving: BTreeMap<Region, Instant> = me
            .serving
            .iter()
            .map(|(r, t)| (r.clone(), Instant(*t)))
            .collect();
        for (r, v) in &regions {
            if v.health().serves() {
                last_serving.insert(r.clone(), at);
            }
        }
        Observation {
            at,
            wall: WallTime(1_800_000_000_000 + i64::try_from(w.t).unwrap()),
            arbiter: arbiter_ok.then(|| w.arbiter.clone()),
            dns: Some(w.dns.clone()),
            regions,
            reports,
            last_serving,
            recorded_vouch: match who {
                Who::Us => w.lease_record.map(|(at, released)| RecordedVouch {
                    ago: Duration::from_millis(w.t - at),
                    released,
                }),
                Who::Eu => None,
            },
        }
    }

    /// Feeds one event to a watchdog, applies its actions to the world and feeds the outcomes
    /// back until nothing is left. Panics on a broken invariant (with the log for context).
    pub fn feed(&mut self, who: Who, event: Event) {
        let mut queue = VecDeque::from([event]);
        while let Some(event) = queue.pop_front() {
            let t = self.world.t;
            let now = Instant(t);
            let dog = self.dog(who);
            let d = decide(&dog.state, &event, now, &dog.policy);
            if let Err(v) = invariants::check(&dog.state, &d.next, &d.actions, &dog.policy) {
                panic!("{v} after {event:?}");
            }
            dog.state = d.next.clone();
            if let Event::Observed(obs) = &event {
                let verdict = obs
                    .regions
                    .iter()
                    .map(|(r, v)| (r.clone(), v.health()))
                    .collect();
                dog.report = Some((t, verdict));
                dog.serving = obs
                    .last_serving
                    .iter()
                    .map(|(r, at)| (r.clone(), at.0))
                    .collect();
                dog.report_seen = dog
                    .serving
                    .iter()
                    .map(|(r, s)| (r.clone(), t - s))
                    .collect();
                dog.word = Some((t, dog.state.guarding(&dog.policy)));
                // The US watchdog records each vouch in its region (a crash leaves it there).
                if who == Who::Us
                    && let Some(v) = dog.state.vouched_at
                    && self.world.lease_record.is_none_or(|(at, _)| v.0 > at)
                {
                    self.world.lease_record = Some((v.0, false));
                }
            }
            let me = match who {
                Who::Eu => eu(),
                Who::Us => us(),
            };
            self.log.push((me, event, d.clone()));
            for a in &d.actions {
                if let Some(outcome) = self.apply(who, a) {
                    queue.push_back(outcome);
                    if who == Who::Eu && self.crash_eu_after.take_if(|n| *n <= 1).is_some() {
                        self.restart(Who::Eu);
                        return;
                    }
                    if who == Who::Eu
                        && let Some(n) = self.crash_eu_after.as_mut()
                    {
                        *n -= 1;
                    }
                }
            }
        }
    }

    /// Whether `who` can reach `region`'s servers.
    fn reaches(&self, who: Who, region: &Region) -> bool {
        let w = &self.world;
        match (who, *region == us()) {
            (Who::Eu, true) => w.link && w.us_up > 0,
            (Who::Us, true) => w.us_up > 0,
            (Who::Eu, false) => true,
            (Who::Us, false) => w.link,
        }
    }

    /// The executors: perform an action on the model and return its outcome event.
    fn apply(&mut self, who: Who, action: &Action) -> Option<Event> {
        if action.streams().iter().any(|s| *s == name("GDPR")) {
            self.world.gdpr_touched = true;
        }
        match action {
            Action::ClaimEpoch { expect, claim } => {
                if who == Who::Eu
                    && let natsdr::core::Phase::FailingOver(m) = &self.eu.state.phase
                    && m.waive_guard
                    && !self.eu.state.guarded(&us(), &self.eu.policy)
                {
                    self.world.forced_over_unguarded = true;
                }
                if who == Who::Eu
                    && let natsdr::core::Phase::FailingOver(m) = &self.eu.state.phase
                    && !m.break_glass
                    && self.world.eu_orders.role == StreamRole::Mirror
                    && self
                        .world
                        .lag_read
                        .is_none_or(|(msgs, _)| msgs > self.eu.policy.params().rpo_max_msgs)
                {
                    self.world.promoted_over_known_lag = true;
                }
                let reach = who == Who::Eu || self.world.us_arbiter_link;
                let result = if !reach {
                    ClaimResult::Failed {
                        retryable: true,
                        error: "arbiter unreachable".into(),
                    }
                } else if self.world.arbiter == *expect {
                    self.world.arbiter = claim.clone();
                    self.world.claims_won += 1;
                    ClaimResult::Won
                } else {
                    ClaimResult::Lost {
                        seen: self.world.arbiter.clone(),
                    }
                };
                Some(Event::Claimed {
                    claim: claim.clone(),
                    result,
                })
            }
            Action::Fence {
                region,
                epoch,
                streams,
            } => {
                let result = if !self.reaches(who, region) {
                    FenceResult::Unreachable
                } else if *region == us() && !self.world.us_quorum() {
                    FenceResult::NoQuorum
                } else {
                    for s in self.streams_mut(region) {
                        if streams.contains(&s.name) && s.role == StreamRole::Writable {
                            s.role = StreamRole::Fenced;
                            s.epoch = Some(*epoch);
                        }
                    }
                    FenceResult::Fenced
                };
                Some(Event::Fenced {
                    region: region.clone(),
                    epoch: *epoch,
                    result,
                })
            }
            Action::Unfence {
                region,
                epoch,
                streams,
            } => {
                let result = if self.reaches(who, region) {
                    for s in self.streams_mut(region) {
                        if streams.contains(&s.name) && s.role == StreamRole::Fenced {
                            s.role = StreamRole::Writable;
                            s.epoch = Some(*epoch);
                        }
                    }
                    StepResult::Done
                } else {
                    StepResult::Failed {
                        retryable: true,
                        error: "unreachable".into(),
                    }
                };
                Some(Event::Unfenced {
                    region: region.clone(),
                    epoch: *epoch,
                    result,
                })
            }
            Action::Promote {
                region,
                epoch,
                streams,
            } => {
                let other_writable = if *region == us() {
                    self.world.eu_writable()
                } else {
                    self.world.us_writable()
                };
                if other_writable {
                    self.world.promoted_while_us_writable = true;
                }
                let w = &mut self.world;
                w.loss_at_promote = Some(if *region == us() {
                    w.eu_orders.last_seq.saturating_sub(w.us_orders.last_seq)
                } else {
                    w.us_orders.last_seq.saturating_sub(w.eu_orders.last_seq)
                });
                for s in self.streams_mut(region) {
                    if streams.contains(&s.name) && s.role == StreamRole::Mirror {
                        s.role = StreamRole::Writable;
                        s.epoch = Some(*epoch);
                    }
                }
                Some(Event::Promoted {
                    region: region.clone(),
                    epoch: *epoch,
                    result: StepResult::Done,
                })
            }
            Action::SwapDns { from, to, epoch } => {
                let result = if self.world.dns == *from || self.world.dns == *to {
                    self.world.dns = to.clone();
                    StepResult::Done
                } else {
                    StepResult::Failed {
                        retryable: false,
                        error: "record holds a third value".into(),
                    }
                };
                Some(Event::DnsSwapped {
                    epoch: *epoch,
                    result,
                })
            }
            Action::CaptureTail {
                region,
                into,
                epoch,
                streams,
            } => {
                let result = if self.reaches(who, region) && self.reaches(who, into) {
                    self.world.tails_captured += 1;
                    CaptureResult::Done {
                        tail: streams
                            .iter()
                            .map(|s| TailCount {
                                stream: s.clone(),
                                common_seq: self.world.eu_orders.last_seq,
                                captured: 0,
                                recovered: 0,
                                duplicates: 0,
                                kept: 0,
                            })
                            .collect(),
                    }
                } else {
                    CaptureResult::Failed {
                        retryable: true,
                        error: "unreachable".into(),
                    }
                };
                Some(Event::TailCaptured {
                    region: region.clone(),
                    epoch: *epoch,
                    result,
                })
            }
            Action::Reseed {
                region,
                source,
                epoch,
                streams,
            } => {
                let twin = |n: &StreamName| {
                    if *n == name("ORDERS") {
                        name("ORDERS_M")
                    } else {
                        name("ORDERS")
                    }
                };
                let result = if !(self.reaches(who, region) && self.reaches(who, source)) {
                    StepResult::Failed {
                        retryable: true,
                        error: "unreachable".into(),
                    }
                } else if self
                    .streams_mut(region)
                    .iter()
                    .any(|s| streams.contains(&s.name) && s.role == StreamRole::Writable)
                {
                    StepResult::Failed {
                        retryable: false,
                        error: "still takes writes".into(),
                    }
                } else {
                    if *region == us() && self.world.tails_captured == 0 {
                        self.world.rebuilt_uncaptured = true;
                    }
                    for s in self.streams_mut(region) {
                        if streams.contains(&s.name) && s.role != StreamRole::Mirror {
                            s.role = StreamRole::Mirror;
                            s.epoch = Some(*epoch);
                            s.origin = Some(twin(&s.name));
                            s.last_seq = 0;
                        }
                    }
                    StepResult::Done
                };
                Some(Event::Reseeded {
                    region: region.clone(),
                    epoch: *epoch,
                    result,
                })
            }
            Action::Notify { .. } => None,
        }
    }

    fn streams_mut(&mut self, region: &Region) -> Vec<&mut Stream> {
        if *region == us() {
            vec![&mut self.world.us_orders]
        } else {
            vec![&mut self.world.eu_orders, &mut self.world.eu_gdpr]
        }
    }

    /// One probe round: the mirror copies, both watchdogs observe and act, then clients publish
    /// to whichever region accepts writes.
    pub fn round(&mut self) {
        self.world.t += ROUND_MS;
        let w = &mut self.world;
        if w.link && w.us_quorum() && w.eu_orders.role == StreamRole::Mirror {
            w.mirror_contact = Some(w.t);
            w.eu_orders.last_seq = w.us_orders.last_seq.saturating_sub(w.lag);
        }
        if w.link && w.us_quorum() && w.lag_reads {
            w.lag_read = Some((w.lag, w.t));
        }
        if w.link && w.us_quorum() && w.us_orders.role == StreamRole::Mirror {
            w.us_orders.last_seq = w.eu_orders.last_seq;
        }
        let order = if self.us_first {
            [Who::Us, Who::Eu]
        } else {
            [Who::Eu, Who::Us]
        };
        for who in order {
            if who == Who::Us && self.us_dead {
                continue;
            }
            let obs = self.observation(who);
            self.feed(who, Event::Observed(obs));
        }
        let w = &mut self.world;
        let (us_w, eu_w) = (w.us_writable(), w.eu_writable());
        w.us_orders.last_seq += u64::from(us_w);
        w.eu_orders.last_seq += u64::from(eu_w);
        w.dual_writes += u32::from(us_w && eu_w);
    }

    pub fn rounds(&mut self, n: usize) {
        for _ in 0..n {
            self.round();
        }
    }

    /// A watchdog process restarts: its state is lost.
    pub fn restart(&mut self, who: Who) {
        if who == Who::Us {
            self.us_dead = false;
        }
        if who == Who::Eu {
            // The prober's lag book lives in the process.
            self.world.lag_read = None;
        }
        let dog = self.dog(who);
        dog.state = State::starting();
        dog.report = None;
        dog.report_seen.clear();
        dog.serving.clear();
        dog.word = None;
    }
}

impl Default for Sim {
    fn default() -> Self {
        Self::new()
    }
}
