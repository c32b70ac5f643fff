//! Moves under way: outcomes of claims and fences, resuming after a restart, claim races and
//! the repair of a stale twin.
use super::fixture::*;
use crate::model::Epoch;
use crate::*;

#[test]
fn two_lost_us_nodes_fail_over_accepting_no_quorum_as_fenced() {
    let p = policy(eu());
    let w = World {
        us_up: 1,
        us_reachable: true,
        ..World::us_lost()
    };
    let (state, _) = run(healthy_eu(), &w, 1500, 7500, &p);
    let won = claimed(own(eu(), 2), ClaimResult::Won);
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
    assert_eq!(acts(&d), vec![promote(eu(), 2, &["ORDERS_M"])]);
}

#[test]
fn a_watchdog_restarted_after_its_claim_resumes_at_the_fence_without_a_second_claim() {
    let p = policy(eu());
    let w = World::us_lost().claimed_by(own(eu(), 2));
    let d = step(&State::starting(), &Event::Observed(w.obs(0)), 0, &p);
    assert_eq!(
        d.reason,
        Reason::Resuming {
            ownership: own(eu(), 2),
            step: Step::Fence
        }
    );
    assert_eq!(acts(&d), vec![fence(us(), 2, &["ORDERS"])]);
}

#[test]
fn the_loser_of_a_claim_race_stands_down() {
    let p = policy(eu());
    let (state, _) = run(healthy_eu(), &World::us_lost(), 1500, 7500, &p);
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
fn a_stale_unfenced_old_primary_is_fenced_at_the_next_observation() {
    let p = policy(eu());
    let back = World {
        arbiter: Some(own(eu(), 2)),
        dns: eu(),
        eu_role: StreamRole::Writable,
        ..World::healthy()
    };
    let state = State {
        phase: Phase::FailedOver { epoch: Epoch(2) },
        known: Some(own(eu(), 2)),
        ..healthy_eu()
    };
    // The catalog must know the promoted twin's origin.
    let state = run(
        state,
        &World {
            us_reachable: false,
            ..back.clone()
        },
        1500,
        1500,
        &p,
    )
    .0;
    let d = observe(&state, &back, 2000, &p);
    assert_eq!(
        d.reason,
        Reason::StaleTwin {
            region: us(),
            epoch: Epoch(2)
        }
    );
    assert_eq!(d.actions, vec![fence(us(), 2, &["ORDERS"])]);
}

#[test]
fn a_failover_forced_while_the_old_primary_still_serves_fences_it_first() {
    let p = policy(eu());
    let d = step(&healthy_eu(), &failover(false), 1500, &p);
    assert!(
        matches!(acts(&d)[..], [Action::ClaimEpoch { .. }]),
        "{:?}",
        d.actions
    );
    let won = claimed(own(eu(), 2), ClaimResult::Won);
    let d = step(&d.next, &won, 1600, &p);
    // US served in the latest round: the fence is attempted, never skipped.
    assert_eq!(acts(&d), vec![fence(us(), 2, &["ORDERS"])]);
}

#[test]
fn a_twin_that_sees_its_region_claimed_stands_by_and_takes_over_a_move_left_unfinished() {
    let p = policy(eu());
    // A twin replica claimed EU@2; this watchdog reads the record before the mirrors are promoted.
    let claimed = World {
        arbiter: Some(own(eu(), 2)),
        owner_seen_by_peers: own(eu(), 2),
        ..World::us_lost()
    };
    let (state, d) = run(healthy_eu(), &claimed, 1500, 1500, &p);
    assert!(
        matches!(state.phase, Phase::StoodDown { ref winner, .. } if *winner == own(eu(), 2)),
        "{:?}: {:?}",
        state.phase,
        d.reason
    );
    assert!(acts(&d).is_empty());
    // The twin finishes within takeover_after: nothing to do but agree.
    let done = World {
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
