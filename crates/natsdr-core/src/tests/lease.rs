//! The primary side: the lease a majority's vouching keeps, the self-fence when it runs out, and
//! the way back out of a self-fence.
use std::time::Duration;

use super::fixture::*;
use crate::model::Epoch;
use crate::*;

#[test]
fn a_primary_cut_off_from_the_majority_fences_itself_when_its_lease_runs_out() {
    let p = policy(us());
    let (state, _) = run(State::starting(), &World::healthy(), 0, 1000, &p);
    assert_eq!(state.phase, Phase::Healthy);
    // US still serves, but neither the peer nor the witness can see it any more.
    let cut = World::healthy().others_see_us(Health::Down);
    let (state, d) = run(state, &cut, 1500, 3500, &p);
    assert_eq!(
        state.phase,
        Phase::Isolated {
            since: Instant(1000)
        }
    );
    assert!(acts(&d).is_empty());
    let (state, d) = run(state, &cut, 4000, 4500, &p);
    assert_eq!(
        d.reason,
        Reason::SelfFencedIsolated {
            region: us(),
            for_: Duration::from_millis(3500),
            lease: secs(3)
        }
    );
    assert_eq!(acts(&d), vec![fence(us(), 1, &["ORDERS"])]);
    assert!(matches!(state.phase, Phase::SelfFenced { .. }));
    // The timing rule: the standby may only promote after failover_delay > lease + 2 probes + margin.
    assert!(p.params().failover_delay > p.lease_expiry());
}

#[test]
fn a_primary_watchdog_started_without_a_lease_waits_for_its_peers_instead_of_fencing() {
    let p = policy(us());
    // Everything started at once: the peers have no report yet.
    let unheard = World::healthy().others_see_us(Health::Down);
    let (state, d) = run(State::starting(), &unheard, 0, 2000, &p);
    assert_eq!(
        d.reason,
        Reason::AwaitingVouches {
            region: us(),
            remaining: secs(4)
        }
    );
    assert!(acts(&d).is_empty());
    assert_eq!(state.phase, Phase::Starting);
    assert!(
        !state.guarding(&p),
        "its word must say it guards nothing yet"
    );
    // They answer: a lease, no fence, and now it guards its region.
    let (state, d) = run(state, &World::healthy(), 2500, 3000, &p);
    assert_eq!(d.reason, Reason::RegionHealthy { region: us() });
    assert!(state.guarding(&p));
    assert!(state.self_fences.is_empty());
}

#[test]
fn a_primary_watchdog_never_vouched_for_fences_once_the_start_grace_is_over() {
    let p = policy(us());
    let cut = World::healthy().others_see_us(Health::Down);
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
    let cut = World {
        recorded: Some((2000, false)),
        ..World::healthy().others_see_us(Health::Down)
    };
    let (state, d) = run(State::starting(), &cut, 0, 0, &p);
    assert!(acts(&d).is_empty(), "{:?}", d.reason);
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
    let released = World {
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

/// A primary watchdog that fenced itself by its lease at `t_ms`: (state, the time after).
fn self_fenced_us(p: &Policy) -> (State, u64) {
    let (state, _) = run(State::starting(), &World::healthy(), 0, 1000, p);
    let cut = World::healthy().others_see_us(Health::Down);
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
fn fenced_at(e: u64) -> World {
    World {
        us_role: StreamRole::Fenced,
        us_stamp: Some(Epoch(e)),
        ..World::healthy()
    }
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
            unfence(us(), 1, &["ORDERS"])
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
    let lost = fenced_at(1).others_see_us(Health::Down);
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
    assert_eq!(acts(&d), vec![unfence(us(), 1, &["ORDERS"])]);
    // While the acknowledged unfence lands, the fence it lifts is not taken for a new one.
    let (state, _) = run(d.next, &fenced_at(1), t + 60_500, t + 61_500, &p);
    assert_eq!(state.phase, Phase::Healthy);
}

#[test]
fn a_primary_that_keeps_fencing_itself_stays_fenced_until_acknowledged() {
    let p = policy(us());
    let cut = World::healthy().others_see_us(Health::Down);
    let (mut state, mut t) = self_fenced_us(&p);
    let mut all = Vec::new();
    // Three more cuts, each healed long enough to unfence, then one more.
    for _ in 0..3 {
        let (s, ds) = each(state, &fenced_at(1), t, t + 12_000, &p);
        all.extend(ds);
        let (s, _) = run(s, &World::healthy(), t + 12_500, t + 13_000, &p);
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
    assert_eq!(acts(&d).len(), 1);
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
    assert!(acts(&d).is_empty(), "{:?}", d.actions);
    // A fence stamped with an older epoch is not its own (a rolled-back move's, lifted by
    // whoever rolled it back), nor is one stamped with a newer epoch; the epoch-less stamp of a
    // self-fence made before the arbiter was read is.
    for (arbiter, stamp, own_fence) in [(1, 1, true), (1, 0, true), (3, 2, false), (1, 2, false)] {
        let w = World {
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
    let moved = World {
        arbiter: Some(own(eu(), 2)),
        owner_seen_by_peers: own(eu(), 2),
        eu_role: StreamRole::Writable,
        ..fenced_at(1)
    };
    let (state, ds) = each(state, &moved, t, t + 60_000, &p);
    assert!(unfences(&ds).is_empty());
    assert!(matches!(state.phase, Phase::SelfFenced { .. }));
}
