//! Detecting an outage of the active region from the standby: confirmation, the gates that
//! hold a confirmed loss for an operator, and what never counts as one.
use std::collections::BTreeMap;
use std::time::Duration;

use super::fixture::*;
use crate::model::Epoch;
use crate::rpo::LagEvidence;
use crate::*;

#[test]
fn one_lost_us_node_makes_the_standby_degraded_and_nothing_else() {
    let p = policy(eu());
    let before = healthy_eu();
    let w = World {
        us_up: 2,
        ..World::healthy()
    };
    let d = observe(&before, &w, 1500, &p);
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
    let d = observe(&before, &World::healthy(), 1500, &p);
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
    let (suspect, d) = run(healthy_eu(), &World::us_lost(), 1500, 6500, &p);
    assert!(
        d.actions.is_empty(),
        "still waiting 5.5 s after the last sighting: {:?}",
        d.reason
    );
    let d = observe(&suspect, &World::us_lost(), 7000, &p);
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
        acts(&d),
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
    let won = claimed(own(eu(), 2), ClaimResult::Won);
    let d = step(&d.next, &won, 7600, &p);
    assert_eq!(
        d.reason,
        Reason::FenceDone {
            region: us(),
            how: FenceHow::SeenDown
        }
    );
    // GDPR-only streams are never promoted.
    assert_eq!(d.actions, vec![promote(eu(), 2, &["ORDERS_M"])]);
    let promoted = promoted(eu(), 2, StepResult::Done);
    let d = step(&d.next, &promoted, 7800, &p);
    assert_eq!(d.actions, vec![swap_dns(us(), eu(), 2)]);
    let swapped = Event::DnsSwapped {
        epoch: Epoch(2),
        result: StepResult::Done,
    };
    let d = step(&d.next, &swapped, 7900, &p);
    // A round that began before the swap landed still shows the mirrors and the old record:
    // verification waits for a round begun after it instead of redoing fence, promote and swap.
    let stale = step(
        &d.next,
        &Event::Observed(World::us_lost().obs(7700)),
        7950,
        &p,
    );
    assert_eq!(stale.reason, Reason::VerifyAwaitsRound);
    assert!(stale.actions.is_empty(), "{:?}", stale.actions);
    let after = World {
        arbiter: Some(own(eu(), 2)),
        dns: eu(),
        eu_role: StreamRole::Writable,
        ..World::us_lost()
    };
    let d = observe(&stale.next, &after, 8000, &p);
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
    let vouched = World::us_lost().others_see_us(Health::Healthy);
    let (waiting, _) = run(healthy_eu(), &vouched, 1500, 19_500, &p);
    assert!(
        !matches!(waiting.phase, Phase::Suspect { .. } | Phase::FailingOver(_)),
        "{:?}",
        waiting.phase
    );
    let (suspect, d) = run(waiting, &World::us_lost(), 20_000, 24_500, &p);
    assert!(d.actions.is_empty(), "{:?}", d.reason);
    let Phase::Suspect { since, .. } = suspect.phase else {
        panic!("{:?}", suspect.phase)
    };
    assert_eq!(
        since,
        Instant(20_000 - 1_000),
        "20 s minus two probe intervals"
    );
    let d = observe(&suspect, &World::us_lost(), 25_000, &p);
    assert!(
        matches!(d.next.phase, Phase::FailingOver(_)),
        "{:?}",
        d.reason
    );
}

#[test]
fn a_cut_link_with_the_witness_still_seeing_us_never_fails_over() {
    let p = policy(eu());
    let cut = World::us_lost().others_see_us(Health::Healthy);
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
fn a_standby_never_counts_a_primary_nobody_guards_as_fenced() {
    let p = policy(eu());
    // US's watchdog said it guards nothing (it had just started, or shut down), then US was lost.
    let unguarded = World {
        us_guard: Some((None, false)),
        ..World::us_lost()
    };
    let (state, d) = run(healthy_eu(), &unguarded, 1500, 9000, &p);
    let cause = BlockCause::NeedsOperator {
        need: Need::PrimaryUnguarded {
            region: us(),
            said_unguarded: Some(true),
        },
    };
    assert_eq!(d.reason, Reason::Blocked { cause });
    assert!(acts(&d).is_empty());
    assert!(matches!(state.phase, Phase::Blocked { .. }));
    assert!(
        d.reason.to_string().contains("does not count as fenced"),
        "{}",
        d.reason
    );
    // Its watchdog fell silent while the region kept serving for 10 s more: the same.
    let silent = |w: World| World {
        us_guard: Some((Some(5_000), true)),
        ..w
    };
    let fresh = State {
        guard: BTreeMap::new(),
        ..healthy_eu()
    };
    let (state, _) = run(fresh, &silent(World::healthy()), 1500, 15_000, &p);
    let (_, d) = run(state, &silent(World::us_lost()), 15_500, 23_000, &p);
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
        state = run(state, &World::us_lost(), t, t + 1000, &p).0;
        state = run(state, &World::healthy(), t + 1500, t + 2500, &p).0;
        t += 3000;
    }
    assert!(matches!(
        state.phase,
        Phase::Blocked {
            cause: BlockCause::Flapping { downs: 4, .. },
            ..
        }
    ));
    let (state, d) = run(state, &World::us_lost(), t, t + 20_000, &p);
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
fn lag_over_the_rpo_budget_blocks_and_only_break_glass_proceeds() {
    let p = policy(eu());
    let w = World {
        lag: 50_000,
        ..World::us_lost()
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
    assert!(acts(&d).is_empty());
    let d = step(&state, &failover(false), 7600, &p);
    assert_eq!(acts(&d), vec![]);
    let d = step(&state, &failover(true), 7600, &p);
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
        acts(&d),
        vec![Action::ClaimEpoch {
            expect: own(us(), 1),
            claim: own(eu(), 2)
        }]
    );
}

#[test]
fn with_auto_failover_off_a_confirmed_loss_is_held_for_an_operator() {
    let mut params = PolicyParams::new(eu(), Role::Watchdog, us(), eu());
    params.auto_failover = false;
    let p = Policy::try_new(params).unwrap();
    let state = run(State::starting(), &World::healthy(), 0, 1000, &p).0;
    let (state, ds) = each(state, &World::us_lost(), 1500, 30_000, &p);
    assert!(
        ds.iter().all(|(_, d)| acts(d).is_empty()),
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
    let d = step(&state, &failover(false), 30_100, &p);
    assert!(
        d.actions
            .iter()
            .any(|a| matches!(a, Action::ClaimEpoch { .. })),
        "an operator's failover proceeds: {:?}",
        d.reason
    );
}
