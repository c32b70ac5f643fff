//! Tables of `decide`: exact decisions for the key rows, as pure event sequences.
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::rpo::LagEvidence;
use super::*;
use crate::model::{Epoch, Region, StreamName};

fn us() -> Region {
    Region::new("us-east-1").unwrap()
}
fn eu() -> Region {
    Region::new("eu-central-1").unwrap()
}
fn name(s: &str) -> StreamName {
    StreamName::new(s).unwrap()
}
fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}
fn own(region: Region, epoch: u64) -> Ownership {
    Ownership {
        region,
        epoch: Epoch(epoch),
    }
}

fn policy(me: Region) -> Policy {
    let mut p = PolicyParams::new(me, Role::Watchdog, us(), eu());
    p.protected = BTreeSet::from([name("GDPR")]);
    Policy::try_new(p).unwrap()
}

/// A world as one watchdog sees it, with sensible defaults (everything healthy, US@1).
#[derive(Clone)]
struct W {
    us_up: u32,
    us_reachable: bool,
    us_role: StreamRole,
    /// The epoch stamped on US's stream.
    us_stamp: Option<Epoch>,
    eu_role: StreamRole,
    silent_for: Duration,
    lag: u64,
    arbiter: Option<Ownership>,
    dns: Region,
    peer_sees_us: Health,
    witness_sees_us: Health,
    owner_seen_by_peers: Ownership,
    /// The US watchdog's word on guarding US, as the reports relay it: given at that time (ms),
    /// or afresh every round when the time is `None`; `None`: never heard.
    us_guard: Option<(Option<u64>, bool)>,
    /// The lease record the US watchdog reads in its region: vouched this long (ms) before
    /// time zero, released.
    recorded: Option<(u64, bool)>,
}

impl W {
    fn healthy() -> Self {
        W {
            us_up: 3,
            us_reachable: true,
            us_role: StreamRole::Writable,
            us_stamp: None,
            eu_role: StreamRole::Mirror,
            silent_for: Duration::ZERO,
            lag: 0,
            arbiter: Some(own(us(), 1)),
            dns: us(),
            peer_sees_us: Health::Healthy,
            witness_sees_us: Health::Healthy,
            owner_seen_by_peers: own(us(), 1),
            us_guard: Some((None, true)),
            recorded: None,
        }
    }

    /// The whole US region gone, as everyone sees it.
    fn us_lost() -> Self {
        W {
            us_up: 0,
            us_reachable: false,
            silent_for: secs(10),
            peer_sees_us: Health::Down,
            witness_sees_us: Health::Down,
            ..W::healthy()
        }
    }

    fn obs(&self, t_ms: u64) -> Observation {
        let us_streams = vec![StreamView {
            name: name("ORDERS"),
            role: self.us_role,
            epoch: self.us_stamp,
            origin: None,
            last_seq: 100,
            mirror: None,
        }];
        let mirror = (self.eu_role == StreamRole::Mirror).then(|| MirrorView {
            active_age: Some(self.silent_for),
            lag_msgs: Some(self.lag),
            lag_age: Some(if self.lag > 0 {
                secs(60)
            } else {
                Duration::ZERO
            }),
            lag_age_estimated: false,
            lag_read_ago: Some(Duration::ZERO),
            source_last_seq: None,
            error: None,
        });
        let eu_streams = vec![
            StreamView {
                name: name("ORDERS_M"),
                role: self.eu_role,
                epoch: None,
                origin: Some(name("ORDERS")),
                last_seq: 100,
                mirror,
            },
            StreamView {
                name: name("GDPR"),
                role: StreamRole::Writable,
                epoch: None,
                origin: None,
                last_seq: 7,
                mirror: None,
            },
        ];
        let view = |reachable, up, streams| RegionView {
            reachable,
            servers_up: up,
            cluster_size: 3,
            streams,
        };
        let report = |vantage, h| Report {
            vantage,
            age: Duration::ZERO,
            health: BTreeMap::from([(us(), h), (eu(), Health::Healthy)]),
            owner: Some(self.owner_seen_by_peers.clone()),
            seen_serving: BTreeMap::new(),
            guards: self
                .us_guard
                .map(|(at, guarding)| {
                    let before = Duration::from_millis(at.map_or(0, |at| t_ms.saturating_sub(at)));
                    (us(), GuardWord { before, guarding })
                })
                .into_iter()
                .collect(),
        };
        Observation {
            at: Instant(t_ms),
            wall: WallTime(1_800_000_000_000 + i64::try_from(t_ms).unwrap()),
            arbiter: self.arbiter.clone(),
            dns: Some(self.dns.clone()),
            regions: BTreeMap::from([
                (
                    us(),
                    view(
                        self.us_reachable,
                        self.us_up,
                        if self.us_reachable {
                            us_streams
                        } else {
                            Vec::new()
                        },
                    ),
                ),
                (eu(), view(true, 3, eu_streams)),
            ]),
            reports: vec![
                report(Vantage::Peer, self.peer_sees_us),
                report(Vantage::Witness, self.witness_sees_us),
            ],
            last_serving: BTreeMap::new(),
            recorded_vouch: self.recorded.map(|(before, released)| RecordedVouch {
                ago: Duration::from_millis(t_ms + before),
                released,
            }),
        }
    }
}

/// Feeds `w` every 500 ms from `from_ms` to `to_ms` (inclusive), checking the invariants.
fn run(state: State, w: &W, from_ms: u64, to_ms: u64, p: &Policy) -> (State, Decision) {
    let mut state = state;
    let mut last = None;
    let mut t = from_ms;
    while t <= to_ms {
        let d = step(&state, &Event::Observed(w.obs(t)), t, p);
        state = d.next.clone();
        last = Some(d);
        t += 500;
    }
    (state, last.expect("at least one round"))
}

fn step(state: &State, e: &Event, t_ms: u64, p: &Policy) -> Decision {
    let d = decide(state, e, Instant(t_ms), p);
    invariants::check(state, &d.next, &d.actions, p).unwrap();
    d
}

fn no_notify(actions: &[Action]) -> Vec<Action> {
    actions
        .iter()
        .filter(|a| !matches!(a, Action::Notify { .. }))
        .cloned()
        .collect()
}

fn healthy_eu() -> State {
    run(State::starting(), &W::healthy(), 0, 1000, &policy(eu())).0
}

fn command(kind: CommandKind) -> Event {
    Event::Command(Command {
        kind,
        reason: "drill".into(),
        by: "alice".into(),
    })
}

#[test]
fn one_lost_us_node_makes_the_standby_degraded_and_nothing_else() {
    let p = policy(eu());
    let before = healthy_eu();
    let w = W {
        us_up: 2,
        ..W::healthy()
    };
    let d = step(&before, &Event::Observed(w.obs(1500)), 1500, &p);
    let reason = Reason::RegionDegraded {
        region: us(),
        servers_up: 2,
        cluster_size: 3,
    };
    let expected = Decision {
        next: State {
            phase: Phase::Degraded,
            last_round: Some((Instant(1500), WallTime(1_800_000_001_500))),
            // Both regions serve (a degraded one still does): the sightings move on.
            seen_serving: BTreeMap::from([(us(), Instant(1500)), (eu(), Instant(1500))]),
            guard: BTreeMap::from([(us(), (Instant(1500), true))]),
            health: BTreeMap::from([(us(), Health::Degraded), (eu(), Health::Healthy)]),
            ..before.clone()
        },
        actions: vec![Action::Notify {
            from: PhaseName::Healthy,
            to: PhaseName::Degraded,
            severity: Severity::Warning,
            summary: "us-east-1 degraded: 2 of 3 servers answer, quorum kept".into(),
        }],
        reason,
    };
    assert_eq!(d, expected);
}

#[test]
fn a_meta_leader_re_election_changes_nothing() {
    let p = policy(eu());
    let before = healthy_eu();
    // All servers answer throughout a re-election: the round looks like any healthy one.
    let d = step(&before, &Event::Observed(W::healthy().obs(1500)), 1500, &p);
    let expected = Decision {
        next: State {
            last_round: Some((Instant(1500), WallTime(1_800_000_001_500))),
            // Both regions serve (a degraded one still does): the sightings move on.
            seen_serving: BTreeMap::from([(us(), Instant(1500)), (eu(), Instant(1500))]),
            guard: BTreeMap::from([(us(), (Instant(1500), true))]),
            ..before.clone()
        },
        actions: vec![],
        reason: Reason::RegionHealthy { region: us() },
    };
    assert_eq!(d, expected);
}

#[test]
fn a_region_loss_confirmed_for_the_failover_delay_claims_the_next_epoch() {
    let p = policy(eu());
    // US was last seen serving at 1 s; the outage is dated from then, not from the round that
    // confirmed it (the votes' latency must not add to the RTO).
    let (suspect, d) = run(healthy_eu(), &W::us_lost(), 1500, 6500, &p);
    assert!(
        d.actions.is_empty(),
        "still waiting 5.5 s after the last sighting: {:?}",
        d.reason
    );
    let d = step(&suspect, &Event::Observed(W::us_lost().obs(7000)), 7000, &p);
    assert_eq!(
        d.reason,
        Reason::PrimaryDown {
            region: us(),
            confirmed_by: 3,
            of: 3,
            for_: secs(6),
            lag: Some(LagEvidence {
                stream: name("ORDERS_M"),
                msgs: Some(0),
                age: Some(Duration::ZERO),
                estimated: false,
                read_ago: Some(Duration::ZERO),
            }),
        }
    );
    assert_eq!(
        d.reason.to_string(),
        "primary us-east-1 confirmed down by 3 of 3 vantage points for 6.0s; \
         within the RPO budget: mirror ORDERS_M lags 0 messages / 0.0s"
    );
    assert_eq!(
        no_notify(&d.actions),
        vec![Action::ClaimEpoch {
            expect: own(us(), 1),
            claim: own(eu(), 2)
        }]
    );
    let Phase::FailingOver(m) = &d.next.phase else {
        panic!("{:?}", d.next.phase)
    };
    assert_eq!(
        (m.step, m.epoch, m.down_since),
        (Step::ClaimEpoch, Epoch(2), Some(Instant(1000)))
    );

    // Won: the old primary was down in the latest round and its lease has long expired, so a
    // fence attempt could only time out into "counts as fenced": none is made, promote at once.
    let won = Event::Claimed {
        claim: own(eu(), 2),
        result: ClaimResult::Won,
    };
    let d = step(&d.next, &won, 7600, &p);
    assert_eq!(
        d.reason,
        Reason::FenceDone {
            region: us(),
            how: FenceHow::SeenDown
        }
    );
    // GDPR-only streams are never promoted.
    assert_eq!(
        d.actions,
        vec![Action::Promote {
            region: eu(),
            epoch: Epoch(2),
            streams: vec![name("ORDERS_M")]
        }]
    );
    let promoted = Event::Promoted {
        region: eu(),
        epoch: Epoch(2),
        result: StepResult::Done,
    };
    let d = step(&d.next, &promoted, 7800, &p);
    assert_eq!(
        d.actions,
        vec![Action::SwapDns {
            from: us(),
            to: eu(),
            epoch: Epoch(2)
        }]
    );
    let swapped = Event::DnsSwapped {
        epoch: Epoch(2),
        result: StepResult::Done,
    };
    let d = step(&d.next, &swapped, 7900, &p);
    // A round that began before the swap landed still shows the mirrors and the old record:
    // verification waits for a round begun after it instead of redoing fence, promote and swap.
    let stale = step(&d.next, &Event::Observed(W::us_lost().obs(7700)), 7950, &p);
    assert_eq!(stale.reason, Reason::VerifyAwaitsRound);
    assert!(stale.actions.is_empty(), "{:?}", stale.actions);
    let after = W {
        arbiter: Some(own(eu(), 2)),
        dns: eu(),
        eu_role: StreamRole::Writable,
        ..W::us_lost()
    };
    let d = step(&stale.next, &Event::Observed(after.obs(8000)), 8000, &p);
    assert_eq!(
        d.reason,
        Reason::FailoverComplete {
            ownership: own(eu(), 2)
        }
    );
    assert_eq!(d.next.phase, Phase::FailedOver { epoch: Epoch(2) });
}

#[test]
fn an_outage_is_dated_back_from_its_confirmation_by_at_most_the_detection_latency() {
    let p = policy(eu());
    // The last sighting this watchdog knows of is 1 s in, but the votes only confirm at 20 s
    // (until then the peer and the witness vouch for US, with reports that carry no sighting
    // time): the standby still needs failover_delay minus the detection latency of confirmed
    // outage, not an instant failover on an old sighting.
    let vouched = W {
        peer_sees_us: Health::Healthy,
        witness_sees_us: Health::Healthy,
        ..W::us_lost()
    };
    let (waiting, _) = run(healthy_eu(), &vouched, 1500, 19_500, &p);
    assert!(
        !matches!(waiting.phase, Phase::Suspect { .. } | Phase::FailingOver(_)),
        "{:?}",
        waiting.phase
    );
    let (suspect, d) = run(waiting, &W::us_lost(), 20_000, 24_500, &p);
    assert!(d.actions.is_empty(), "{:?}", d.reason);
    let Phase::Suspect { since, .. } = suspect.phase else {
        panic!("{:?}", suspect.phase)
    };
    assert_eq!(
        since,
        Instant(20_000 - 1_000),
        "20 s minus two probe intervals"
    );
    let d = step(
        &suspect,
        &Event::Observed(W::us_lost().obs(25_000)),
        25_000,
        &p,
    );
    assert!(
        matches!(d.next.phase, Phase::FailingOver(_)),
        "{:?}",
        d.reason
    );
}

#[test]
fn two_lost_us_nodes_fail_over_accepting_no_quorum_as_fenced() {
    let p = policy(eu());
    let w = W {
        us_up: 1,
        ..W::us_lost()
    };
    let w = W {
        us_reachable: true,
        ..w
    };
    let (state, _) = run(healthy_eu(), &w, 1500, 7500, &p);
    let won = Event::Claimed {
        claim: own(eu(), 2),
        result: ClaimResult::Won,
    };
    // US answers with one server of three: down (no quorum) in the latest round, and its
    // lease has surely expired when the claim lands, so no fence is attempted.
    let d = step(&state, &won, 7600, &p);
    assert_eq!(
        d.reason,
        Reason::FenceDone {
            region: us(),
            how: FenceHow::SeenDown
        }
    );
    assert_eq!(
        no_notify(&d.actions),
        vec![Action::Promote {
            region: eu(),
            epoch: Epoch(2),
            streams: vec![name("ORDERS_M")]
        }]
    );
}

#[test]
fn a_cut_link_with_the_witness_still_seeing_us_never_fails_over() {
    let p = policy(eu());
    let cut = W {
        peer_sees_us: Health::Healthy,
        witness_sees_us: Health::Healthy,
        ..W::us_lost()
    };
    let (state, d) = run(healthy_eu(), &cut, 1500, 60_000, &p);
    assert!(d.actions.is_empty());
    assert_eq!(state.phase, Phase::Degraded);
    assert!(matches!(
        d.reason,
        Reason::DownNotConfirmed {
            evidence: Evidence { down_votes: 1, .. },
            ..
        }
    ));
}

#[test]
fn a_primary_cut_off_from_the_majority_fences_itself_when_its_lease_runs_out() {
    let p = policy(us());
    let (state, _) = run(State::starting(), &W::healthy(), 0, 1000, &p);
    assert_eq!(state.phase, Phase::Healthy);
    // US still serves, but neither the peer nor the witness can see it any more.
    let cut = W {
        peer_sees_us: Health::Down,
        witness_sees_us: Health::Down,
        ..W::healthy()
    };
    let (state, d) = run(state, &cut, 1500, 3500, &p);
    assert_eq!(
        state.phase,
        Phase::Isolated {
            since: Instant(1000)
        }
    );
    assert!(no_notify(&d.actions).is_empty());
    let (state, d) = run(state, &cut, 4000, 4500, &p);
    assert_eq!(
        d.reason,
        Reason::SelfFencedIsolated {
            region: us(),
            for_: Duration::from_millis(3500),
            lease: secs(3)
        }
    );
    assert_eq!(
        no_notify(&d.actions),
        vec![Action::Fence {
            region: us(),
            epoch: Epoch(1),
            streams: vec![name("ORDERS")]
        }]
    );
    assert!(matches!(state.phase, Phase::SelfFenced { .. }));
    // The timing rule: the standby may only promote after failover_delay > lease + 2 probes + margin.
    assert!(p.params().failover_delay > p.lease_expiry());
}

#[test]
fn a_primary_watchdog_started_without_a_lease_waits_for_its_peers_instead_of_fencing() {
    let p = policy(us());
    // Everything started at once: the peers have no report yet.
    let unheard = W {
        peer_sees_us: Health::Down,
        witness_sees_us: Health::Down,
        ..W::healthy()
    };
    let (state, d) = run(State::starting(), &unheard, 0, 2000, &p);
    assert_eq!(
        d.reason,
        Reason::AwaitingVouches {
            region: us(),
            remaining: secs(4)
        }
    );
    assert!(no_notify(&d.actions).is_empty());
    assert_eq!(state.phase, Phase::Starting);
    assert!(
        !state.guarding(&p),
        "its word must say it guards nothing yet"
    );
    // They answer: a lease, no fence, and now it guards its region.
    let (state, d) = run(state, &W::healthy(), 2500, 3000, &p);
    assert_eq!(d.reason, Reason::RegionHealthy { region: us() });
    assert!(state.guarding(&p));
    assert!(state.self_fences.is_empty());
}

#[test]
fn a_primary_watchdog_never_vouched_for_fences_once_the_start_grace_is_over() {
    let p = policy(us());
    let cut = W {
        peer_sees_us: Health::Down,
        witness_sees_us: Health::Down,
        ..W::healthy()
    };
    // The test policy's failover_delay is 6 s.
    let (state, d) = run(State::starting(), &cut, 0, 6000, &p);
    assert_eq!(d.reason, Reason::SelfFencedUnvouched { region: us() });
    assert!(matches!(state.phase, Phase::SelfFenced { .. }));
}

#[test]
fn a_restarted_primary_watchdog_is_bound_by_the_lease_its_predecessor_recorded() {
    let p = policy(us());
    // Its predecessor was last vouched for 2 s before this process's first round, then died
    // (no release): the standby may count on that lease, so this process keeps it.
    let cut = W {
        peer_sees_us: Health::Down,
        witness_sees_us: Health::Down,
        recorded: Some((2000, false)),
        ..W::healthy()
    };
    let (state, d) = run(State::starting(), &cut, 0, 0, &p);
    assert!(no_notify(&d.actions).is_empty(), "{:?}", d.reason);
    assert!(state.guarding(&p));
    // Its lease (3 s in the test policy) runs out 1 s into this process's life.
    let (state, d) = run(state, &cut, 500, 1500, &p);
    assert!(
        matches!(d.reason, Reason::SelfFencedIsolated { .. }),
        "{:?}",
        d.reason
    );
    assert!(matches!(state.phase, Phase::SelfFenced { .. }));
    // A released record (a graceful shutdown told the peers) binds nobody: the start grace.
    let released = W {
        recorded: Some((2000, true)),
        ..cut
    };
    let (state, d) = run(State::starting(), &released, 0, 1000, &p);
    assert!(
        matches!(d.reason, Reason::AwaitingVouches { .. }),
        "{:?}",
        d.reason
    );
    assert!(!state.guarding(&p));
}

#[test]
fn a_standby_never_counts_a_primary_nobody_guards_as_fenced() {
    let p = policy(eu());
    // US's watchdog said it guards nothing (it had just started, or shut down), then US was lost.
    let unguarded = W {
        us_guard: Some((None, false)),
        ..W::us_lost()
    };
    let (state, d) = run(healthy_eu(), &unguarded, 1500, 9000, &p);
    let cause = BlockCause::NeedsOperator {
        need: Need::PrimaryUnguarded {
            region: us(),
            said_unguarded: Some(true),
        },
    };
    assert_eq!(d.reason, Reason::Blocked { cause });
    assert!(no_notify(&d.actions).is_empty());
    assert!(matches!(state.phase, Phase::Blocked { .. }));
    assert!(
        d.reason.to_string().contains("does not count as fenced"),
        "{}",
        d.reason
    );
    // Its watchdog fell silent while the region kept serving for 10 s more: the same.
    let silent = |w: W| W {
        us_guard: Some((Some(5_000), true)),
        ..w
    };
    let fresh = State {
        guard: BTreeMap::new(),
        ..healthy_eu()
    };
    let (state, _) = run(fresh, &silent(W::healthy()), 1500, 15_000, &p);
    let (_, d) = run(state, &silent(W::us_lost()), 15_500, 23_000, &p);
    assert!(
        matches!(
            d.reason,
            Reason::Blocked {
                cause: BlockCause::NeedsOperator {
                    need: Need::PrimaryUnguarded {
                        said_unguarded: Some(false),
                        ..
                    }
                }
            }
        ),
        "{:?}",
        d.reason
    );
}

#[test]
fn a_flapping_primary_blocks_until_acknowledged() {
    let p = policy(eu());
    let mut state = healthy_eu();
    let mut t = 1500;
    for _ in 0..4 {
        state = run(state, &W::us_lost(), t, t + 1000, &p).0;
        state = run(state, &W::healthy(), t + 1500, t + 2500, &p).0;
        t += 3000;
    }
    assert!(matches!(
        state.phase,
        Phase::Blocked {
            cause: BlockCause::Flapping { downs: 4, .. },
            ..
        }
    ));
    let (state, d) = run(state, &W::us_lost(), t, t + 20_000, &p);
    assert!(d.actions.is_empty());
    assert!(matches!(
        state.phase,
        Phase::Blocked {
            cause: BlockCause::Flapping { .. },
            ..
        }
    ));
    let d = step(&state, &command(CommandKind::Ack), t + 20_100, &p);
    assert_eq!(d.next.phase, Phase::Starting);
    assert!(d.next.down_edges.is_empty());
}

#[test]
fn a_watchdog_restarted_after_its_claim_resumes_at_the_fence_without_a_second_claim() {
    let p = policy(eu());
    let w = W {
        arbiter: Some(own(eu(), 2)),
        ..W::us_lost()
    };
    let d = step(&State::starting(), &Event::Observed(w.obs(0)), 0, &p);
    assert_eq!(
        d.reason,
        Reason::Resuming {
            ownership: own(eu(), 2),
            step: Step::Fence
        }
    );
    assert_eq!(
        no_notify(&d.actions),
        vec![Action::Fence {
            region: us(),
            epoch: Epoch(2),
            streams: vec![name("ORDERS")]
        }]
    );
}

#[test]
fn the_loser_of_a_claim_race_stands_down() {
    let p = policy(eu());
    let (state, _) = run(healthy_eu(), &W::us_lost(), 1500, 7500, &p);
    let lost = Event::Claimed {
        claim: own(eu(), 2),
        result: ClaimResult::Lost { seen: own(eu(), 2) },
    };
    let d = step(&state, &lost, 7600, &p);
    let expected = Decision {
        next: State {
            phase: Phase::StoodDown {
                winner: own(eu(), 2),
                since: Instant(7600),
            },
            known: Some(own(eu(), 2)),
            ..state.clone()
        },
        actions: vec![Action::Notify {
            from: PhaseName::FailingOver,
            to: PhaseName::StoodDown,
            severity: Severity::Warning,
            summary: "lost the claim: the arbiter holds eu-central-1@2; standing down".into(),
        }],
        reason: Reason::ClaimLost { seen: own(eu(), 2) },
    };
    assert_eq!(d, expected);
}

#[test]
fn lag_over_the_rpo_budget_blocks_and_only_break_glass_proceeds() {
    let p = policy(eu());
    let w = W {
        lag: 50_000,
        ..W::us_lost()
    };
    let (state, d) = run(healthy_eu(), &w, 1500, 7500, &p);
    let cause = BlockCause::RpoExceeded {
        lag: LagEvidence {
            stream: name("ORDERS_M"),
            msgs: Some(50_000),
            age: Some(secs(60)),
            estimated: false,
            read_ago: Some(Duration::ZERO),
        },
    };
    assert_eq!(
        d.reason,
        Reason::Blocked {
            cause: cause.clone()
        }
    );
    assert!(no_notify(&d.actions).is_empty());
    let d = step(
        &state,
        &command(CommandKind::Failover {
            allow_data_loss: false,
        }),
        7600,
        &p,
    );
    assert_eq!(no_notify(&d.actions), vec![]);
    let d = step(
        &state,
        &command(CommandKind::Failover {
            allow_data_loss: true,
        }),
        7600,
        &p,
    );
    assert_eq!(
        d.reason,
        Reason::OperatorFailover {
            by: "alice".into(),
            why: "drill".into(),
            break_glass: true
        }
    );
    assert!(d.reason.to_string().starts_with("BREAK-GLASS"));
    assert_eq!(
        no_notify(&d.actions),
        vec![Action::ClaimEpoch {
            expect: own(us(), 1),
            claim: own(eu(), 2)
        }]
    );
}

#[test]
fn a_paused_watchdog_emits_nothing_and_resumes_only_after_a_fresh_look() {
    let p = policy(eu());
    let paused = step(&healthy_eu(), &command(CommandKind::Pause), 1200, &p).next;
    let (state, d) = run(paused, &W::us_lost(), 1500, 30_000, &p);
    assert_eq!(
        d,
        Decision {
            next: state.clone(),
            actions: vec![],
            reason: Reason::Paused {
                by: "alice".into(),
                why: "drill".into()
            }
        }
    );
    let d = step(
        &state,
        &Event::Claimed {
            claim: own(eu(), 2),
            result: ClaimResult::Won,
        },
        30_100,
        &p,
    );
    assert!(d.actions.is_empty());
    let d = step(&state, &command(CommandKind::Resume), 30_200, &p);
    assert_eq!(
        (d.next.phase.clone(), d.actions.len()),
        (Phase::Starting, 0)
    );
    let d = step(
        &d.next,
        &Event::Observed(W::us_lost().obs(30_500)),
        30_500,
        &p,
    );
    assert!(
        no_notify(&d.actions).is_empty(),
        "the first round after resuming only looks"
    );
}

#[test]
fn a_stale_unfenced_old_primary_is_fenced_at_the_next_observation() {
    let p = policy(eu());
    let back = W {
        arbiter: Some(own(eu(), 2)),
        dns: eu(),
        eu_role: StreamRole::Writable,
        ..W::healthy()
    };
    let state = State {
        phase: Phase::FailedOver { epoch: Epoch(2) },
        known: Some(own(eu(), 2)),
        ..healthy_eu()
    };
    // The catalog must know the promoted twin's origin.
    let state = run(
        state,
        &W {
            us_reachable: false,
            ..back.clone()
        },
        1500,
        1500,
        &p,
    )
    .0;
    let d = step(&state, &Event::Observed(back.obs(2000)), 2000, &p);
    assert_eq!(
        d.reason,
        Reason::StaleTwin {
            region: us(),
            epoch: Epoch(2)
        }
    );
    assert_eq!(
        d.actions,
        vec![Action::Fence {
            region: us(),
            epoch: Epoch(2),
            streams: vec![name("ORDERS")]
        }]
    );
}

#[test]
fn a_clock_jump_enters_tilt_and_discards_the_evidence() {
    let p = policy(eu());
    let (state, _) = run(healthy_eu(), &W::us_lost(), 1500, 5000, &p);
    assert!(matches!(state.phase, Phase::Suspect { .. }));
    let mut obs = W::us_lost().obs(5500);
    obs.wall = WallTime(obs.wall.0 + 60_000);
    let d = step(&state, &Event::Observed(obs), 5500, &p);
    assert_eq!(
        d.next.mode,
        Mode::Tilt {
            until: Instant(15_500)
        }
    );
    assert_eq!(d.next.phase, Phase::Starting);
    assert!(d.actions.is_empty());
}

/// A primary watchdog that fenced itself by its lease at `t_ms`: (state, the time after).
fn self_fenced_us(p: &Policy) -> (State, u64) {
    let (state, _) = run(State::starting(), &W::healthy(), 0, 1000, p);
    let cut = W {
        peer_sees_us: Health::Down,
        witness_sees_us: Health::Down,
        ..W::healthy()
    };
    let (state, d) = run(state, &cut, 1500, 4500, p);
    assert!(
        matches!(d.reason, Reason::SelfFencedIsolated { .. }),
        "{:?}",
        d.reason
    );
    assert!(matches!(state.phase, Phase::SelfFenced { .. }));
    (state, 5000)
}

/// US as it looks once its own fence landed: serving, its stream fenced at epoch `e`.
fn fenced_at(e: u64) -> W {
    W {
        us_role: StreamRole::Fenced,
        us_stamp: Some(Epoch(e)),
        ..W::healthy()
    }
}

/// Every decision from `from_ms` to `to_ms` (every 500 ms).
fn each(
    state: State,
    w: &W,
    from_ms: u64,
    to_ms: u64,
    p: &Policy,
) -> (State, Vec<(u64, Decision)>) {
    let mut state = state;
    let mut out = Vec::new();
    let mut t = from_ms;
    while t <= to_ms {
        let d = step(&state, &Event::Observed(w.obs(t)), t, p);
        state = d.next.clone();
        out.push((t, d));
        t += 500;
    }
    (state, out)
}

fn unfences(ds: &[(u64, Decision)]) -> Vec<(u64, Action)> {
    ds.iter()
        .flat_map(|(t, d)| {
            d.actions
                .iter()
                .filter(|a| matches!(a, Action::Unfence { .. }))
                .map(|a| (*t, a.clone()))
        })
        .collect()
}

#[test]
fn a_self_fenced_primary_unfences_itself_once_a_majority_has_vouched_for_it_long_enough() {
    let p = policy(us());
    let after = p.params().self_unfence_after.unwrap();
    let (state, t) = self_fenced_us(&p);
    // The cut heals: both peers see US serving again, its streams carry the fence.
    let (state, ds) = each(state, &fenced_at(1), t, t + 14_000, &p);
    let unfenced = unfences(&ds);
    assert_eq!(
        unfenced,
        vec![(
            t + u64::try_from(after.as_millis()).unwrap(),
            Action::Unfence {
                region: us(),
                epoch: Epoch(1),
                streams: vec![name("ORDERS")]
            }
        )],
        "exactly one unfence, once a majority has vouched for {after:?}"
    );
    let (at, d) = ds
        .iter()
        .find(|(_, d)| !unfences(&[(0, d.clone())]).is_empty())
        .unwrap();
    assert_eq!(
        d.reason,
        Reason::SelfUnfenced {
            region: us(),
            epoch: Epoch(1),
            vouched_for: after
        }
    );
    assert_eq!(d.next.phase, Phase::Healthy, "at {at}");
    // Before it: fenced, and saying when it will unfence.
    let before = &ds.iter().find(|(t2, _)| *t2 == t + 5000).unwrap().1;
    assert!(matches!(before.next.phase, Phase::SelfFenced { .. }));
    assert_eq!(
        before.reason,
        Reason::UnfencePending {
            region: us(),
            remaining: after - secs(5)
        }
    );
    // The fence still shows while the unfence lands (up to a step timeout): not a new self-fence.
    assert_eq!(
        state.phase,
        Phase::Healthy,
        "{:?}",
        ds.last().unwrap().1.reason
    );
    // An unfence that never landed is found a step timeout later, and tried again after a hold.
    let (state, d) = run(state, &fenced_at(1), t + 14_500, t + 15_000, &p);
    assert!(
        matches!(d.reason, Reason::FoundSelfFenced { .. }),
        "{:?}",
        d.reason
    );
    let (_, ds) = each(state, &fenced_at(1), t + 15_500, t + 26_000, &p);
    assert_eq!(unfences(&ds).len(), 1);
}

#[test]
fn a_break_in_the_vouching_restarts_the_self_unfence_hold() {
    let p = policy(us());
    let (state, t) = self_fenced_us(&p);
    let (state, ds) = each(state, &fenced_at(1), t, t + 6000, &p);
    assert!(unfences(&ds).is_empty());
    // One round in which no majority vouches (both peers see US down again).
    let lost = W {
        peer_sees_us: Health::Down,
        witness_sees_us: Health::Down,
        ..fenced_at(1)
    };
    let (state, ds) = each(state, &lost, t + 6500, t + 9000, &p);
    assert!(unfences(&ds).is_empty());
    let (_, ds) = each(state, &fenced_at(1), t + 9500, t + 25_000, &p);
    let unfenced = unfences(&ds);
    assert_eq!(unfenced.len(), 1, "{unfenced:?}");
    assert_eq!(
        unfenced[0].0,
        t + 9500 + 10_000,
        "the hold counts from the vouching's return"
    );
}

#[test]
fn with_auto_unfence_off_a_self_fenced_primary_waits_for_an_operator() {
    let mut params = PolicyParams::new(us(), Role::Watchdog, us(), eu());
    params.self_unfence_after = None;
    let p = Policy::try_new(params).unwrap();
    let (state, t) = self_fenced_us(&p);
    let (state, ds) = each(state, &fenced_at(1), t, t + 60_000, &p);
    assert!(unfences(&ds).is_empty());
    assert!(matches!(state.phase, Phase::SelfFenced { .. }));
    let d = step(&state, &command(CommandKind::Ack), t + 60_100, &p);
    assert_eq!(
        no_notify(&d.actions),
        vec![Action::Unfence {
            region: us(),
            epoch: Epoch(1),
            streams: vec![name("ORDERS")]
        }]
    );
    // While the acknowledged unfence lands, the fence it lifts is not taken for a new one.
    let (state, _) = run(d.next, &fenced_at(1), t + 60_500, t + 61_500, &p);
    assert_eq!(state.phase, Phase::Healthy);
}

#[test]
fn a_primary_that_keeps_fencing_itself_stays_fenced_until_acknowledged() {
    let p = policy(us());
    let cut = W {
        peer_sees_us: Health::Down,
        witness_sees_us: Health::Down,
        ..W::healthy()
    };
    let (mut state, mut t) = self_fenced_us(&p);
    let mut all = Vec::new();
    // Three more cuts, each healed long enough to unfence, then one more.
    for _ in 0..3 {
        let (s, ds) = each(state, &fenced_at(1), t, t + 12_000, &p);
        all.extend(ds);
        let (s, _) = run(s, &W::healthy(), t + 12_500, t + 13_000, &p);
        let (s, ds) = each(s, &cut, t + 13_500, t + 17_500, &p);
        assert!(
            matches!(s.phase, Phase::SelfFenced { .. }),
            "{:?}",
            ds.last().unwrap().1.reason
        );
        state = s;
        t += 18_000;
    }
    assert_eq!(unfences(&all).len(), 3, "the first three self-fences lift");
    let (state, ds) = each(state, &fenced_at(1), t, t + 30_000, &p);
    assert!(
        unfences(&ds).is_empty(),
        "the fourth within the window stays"
    );
    assert_eq!(
        ds.last().unwrap().1.reason,
        Reason::UnfenceHeld {
            region: us(),
            fences: 4,
            window: p.params().flap_window
        }
    );
    let d = step(&state, &command(CommandKind::Ack), t + 30_100, &p);
    assert_eq!(no_notify(&d.actions).len(), 1);
    assert!(d.next.self_fences.is_empty());
}

#[test]
fn a_restarted_primary_watchdog_finds_its_region_self_fenced_and_does_not_call_it_healthy() {
    let p = policy(us());
    let d = step(
        &State::starting(),
        &Event::Observed(fenced_at(1).obs(0)),
        0,
        &p,
    );
    assert_eq!(
        d.reason,
        Reason::FoundSelfFenced {
            region: us(),
            epoch: Epoch(1)
        }
    );
    assert!(matches!(d.next.phase, Phase::SelfFenced { .. }));
    assert!(no_notify(&d.actions).is_empty(), "{:?}", d.actions);
    // A fence stamped with an older epoch is not its own (a rolled-back move's, lifted by
    // whoever rolled it back), nor is one stamped with a newer epoch; the epoch-less stamp of a
    // self-fence made before the arbiter was read is.
    for (arbiter, stamp, own_fence) in [(1, 1, true), (1, 0, true), (3, 2, false), (1, 2, false)] {
        let w = W {
            arbiter: Some(own(us(), arbiter)),
            owner_seen_by_peers: own(us(), arbiter),
            ..fenced_at(stamp)
        };
        let d = step(&State::starting(), &Event::Observed(w.obs(0)), 0, &p);
        let found = matches!(d.reason, Reason::FoundSelfFenced { .. });
        assert_eq!(
            found, own_fence,
            "US@{arbiter}, stamp {stamp}: {:?}",
            d.reason
        );
    }
}

#[test]
fn a_self_fenced_old_primary_never_unfences_itself_once_the_arbiter_names_another_region() {
    let p = policy(us());
    let (state, t) = self_fenced_us(&p);
    let moved = W {
        arbiter: Some(own(eu(), 2)),
        owner_seen_by_peers: own(eu(), 2),
        eu_role: StreamRole::Writable,
        ..fenced_at(1)
    };
    let (state, ds) = each(state, &moved, t, t + 60_000, &p);
    assert!(unfences(&ds).is_empty());
    assert!(matches!(state.phase, Phase::SelfFenced { .. }));
}

#[test]
fn with_auto_failover_off_a_confirmed_loss_is_held_for_an_operator() {
    let mut params = PolicyParams::new(eu(), Role::Watchdog, us(), eu());
    params.auto_failover = false;
    let p = Policy::try_new(params).unwrap();
    let state = run(State::starting(), &W::healthy(), 0, 1000, &p).0;
    let (state, ds) = each(state, &W::us_lost(), 1500, 30_000, &p);
    assert!(
        ds.iter().all(|(_, d)| no_notify(&d.actions).is_empty()),
        "no claim, no action"
    );
    assert!(matches!(
        state.phase,
        Phase::Blocked {
            cause: BlockCause::NeedsOperator {
                need: Need::AutoFailoverOff
            },
            ..
        }
    ));
    let d = step(
        &state,
        &command(CommandKind::Failover {
            allow_data_loss: false,
        }),
        30_100,
        &p,
    );
    assert!(
        d.actions
            .iter()
            .any(|a| matches!(a, Action::ClaimEpoch { .. })),
        "an operator's failover proceeds: {:?}",
        d.reason
    );
}

#[test]
fn a_failover_forced_while_the_old_primary_still_serves_fences_it_first() {
    let p = policy(eu());
    let d = step(
        &healthy_eu(),
        &command(CommandKind::Failover {
            allow_data_loss: false,
        }),
        1500,
        &p,
    );
    assert!(
        matches!(no_notify(&d.actions)[..], [Action::ClaimEpoch { .. }]),
        "{:?}",
        d.actions
    );
    let won = Event::Claimed {
        claim: own(eu(), 2),
        result: ClaimResult::Won,
    };
    let d = step(&d.next, &won, 1600, &p);
    // US served in the latest round: the fence is attempted, never skipped.
    assert_eq!(
        no_notify(&d.actions),
        vec![Action::Fence {
            region: us(),
            epoch: Epoch(2),
            streams: vec![name("ORDERS")]
        }]
    );
}

#[test]
fn a_twin_that_sees_its_region_claimed_stands_by_and_takes_over_a_move_left_unfinished() {
    let p = policy(eu());
    // A twin replica claimed EU@2; this watchdog reads the record before the mirrors are promoted.
    let claimed = W {
        arbiter: Some(own(eu(), 2)),
        owner_seen_by_peers: own(eu(), 2),
        ..W::us_lost()
    };
    let (state, d) = run(healthy_eu(), &claimed, 1500, 1500, &p);
    assert!(
        matches!(state.phase, Phase::StoodDown { ref winner, .. } if *winner == own(eu(), 2)),
        "{:?}: {:?}",
        state.phase,
        d.reason
    );
    assert!(no_notify(&d.actions).is_empty());
    // The twin finishes within takeover_after: nothing to do but agree.
    let done = W {
        dns: eu(),
        eu_role: StreamRole::Writable,
        ..claimed.clone()
    };
    let (finished, d) = run(state.clone(), &done, 2000, 2000, &p);
    assert_eq!(
        d.reason,
        Reason::WinnerFinished {
            winner: own(eu(), 2)
        }
    );
    assert_eq!(finished.phase, Phase::FailedOver { epoch: Epoch(2) });
    // The twin died mid-move: after takeover_after this one finishes the steps, same epoch.
    let (_, ds) = each(state, &claimed, 2000, 17_000, &p);
    let took_over: Vec<_> = ds
        .iter()
        .filter(|(_, d)| matches!(d.reason, Reason::TakingOver { .. }))
        .collect();
    assert_eq!(took_over.len(), 1, "{:?}", ds.last().unwrap().1.reason);
    assert!(took_over[0].0 >= 1500 + 15_000, "{}", took_over[0].0);
    assert!(
        ds.iter()
            .flat_map(|(_, d)| d.actions.iter())
            .all(|a| !matches!(a, Action::ClaimEpoch { .. })),
        "never a second claim"
    );
}
