//! Failback: the exact actions of every step, the typed refusals, and resuming from the world
//! after an interruption.
use std::time::Duration;

use super::fixture::*;
use crate::model::Epoch;
use crate::*;

fn failback() -> Event {
    command_because(CommandKind::Failback, "US is back")
}

/// US's watchdog after a failover to EU, its failback command just taken (at 1.2 s).
fn failing_back(p: &Policy) -> State {
    let s = settled(&FailbackWorld::failed_over(), 1000, p);
    step(&s, &failback(), 1200, p).next
}

fn step_of(s: &State) -> Option<Step> {
    match &s.phase {
        Phase::FailingBack(m) => Some(m.step),
        _ => None,
    }
}

fn tail() -> Vec<TailCount> {
    vec![TailCount {
        stream: name("ORDERS"),
        common_seq: 90,
        captured: 10,
        recovered: 7,
        duplicates: 3,
        kept: 0,
    }]
}

#[test]
fn a_failback_captures_reseeds_switches_back_and_restores_the_home_mirrors_in_order() {
    let p = policy(us());
    let mut w = FailbackWorld::failed_over();
    let s = settled(&w, 1000, &p);
    assert_eq!(s.phase, Phase::Healthy, "US watches EU as a standby");

    let d = step(&s, &failback(), 1200, &p);
    assert_eq!(
        acts(&d),
        vec![Action::CaptureTail {
            region: us(),
            into: eu(),
            epoch: Epoch(2),
            streams: vec![name("ORDERS")],
        }]
    );
    assert!(matches!(
        d.reason,
        Reason::OperatorFailback {
            from_step: Step::CaptureTail,
            ..
        }
    ));
    assert_eq!(d.next.phase.name(), PhaseName::FailingBack);

    let captured = tail_captured(us(), 2, CaptureResult::Done { tail: tail() });
    let d = step(&d.next, &captured, 1300, &p);
    assert_eq!(d.next.tail, tail());
    assert_eq!(acts(&d), vec![reseed(us(), eu(), 2, &["ORDERS"])]);

    let rebuilt = reseeded(us(), 2, StepResult::Done);
    let d = step(&d.next, &rebuilt, 1400, &p);
    assert_eq!(step_of(&d.next), Some(Step::WaitReseeded));
    assert!(acts(&d).is_empty());

    // The reseeded mirror catches up: progress first, then the claim.
    w.us_role = StreamRole::Mirror;
    w.lag = 40;
    let d = observe(&d.next, &w, 1500, &p);
    assert_eq!(
        d.reason,
        Reason::Reseeding {
            region: us(),
            behind: Some(40)
        }
    );
    w.lag = 0;
    let d = observe(&d.next, &w, 2000, &p);
    assert_eq!(
        acts(&d),
        vec![Action::ClaimEpoch {
            expect: own(eu(), 2),
            claim: own(us(), 3),
        }]
    );

    let won = claimed(own(us(), 3), ClaimResult::Won);
    let d = step(&d.next, &won, 2100, &p);
    assert_eq!(acts(&d), vec![fence(eu(), 3, &["ORDERS_M"])]);

    let fenced = fenced(eu(), 3, FenceResult::Fenced);
    let d = step(&d.next, &fenced, 2200, &p);
    assert_eq!(step_of(&d.next), Some(Step::WaitLagZero));
    w.owner = own(us(), 3);
    w.eu_role = StreamRole::Fenced;
    let d = observe(&d.next, &w, 2500, &p);
    assert_eq!(acts(&d), vec![promote(us(), 3, &["ORDERS"])]);

    let promoted = promoted(us(), 3, StepResult::Done);
    let d = step(&d.next, &promoted, 2600, &p);
    assert_eq!(acts(&d), vec![swap_dns(eu(), us(), 3)]);
    let swapped = Event::DnsSwapped {
        epoch: Epoch(3),
        result: StepResult::Done,
    };
    let d = step(&d.next, &swapped, 2700, &p);
    assert_eq!(step_of(&d.next), Some(Step::Verify));

    w.us_role = StreamRole::Writable;
    w.dns = us();
    let d = observe(&d.next, &w, 3000, &p);
    assert_eq!(acts(&d), vec![reseed(eu(), us(), 3, &["ORDERS_M"])]);

    let restored = reseeded(eu(), 3, StepResult::Done);
    let d = step(&d.next, &restored, 3100, &p);
    assert_eq!(d.next.phase, Phase::Healthy);
    assert_eq!(
        d.reason,
        Reason::FailbackComplete {
            ownership: own(us(), 3),
            tail: tail(),
        }
    );
    assert!(d.reason.to_string().contains("7 recovered, 3 duplicates"));
}

#[test]
fn failback_is_refused_with_a_typed_reason_when_a_precondition_fails() {
    let refusal = |d: &Decision| match &d.reason {
        Reason::Refused { why, .. } => Some(*why),
        _ => None,
    };
    let p = policy(us());

    let mut down = FailbackWorld::failed_over();
    down.us_up = 1;
    let s = settled(&down, 1000, &p);
    let d = step(&s, &failback(), 1200, &p);
    assert_eq!(refusal(&d), Some(Refusal::OwnRegionNotServing));
    assert!(d.actions.is_empty());

    // An old primary still taking writes must be fenced first: the watchdog fences it itself
    // as a stale twin, so the refusal is seen when the command beats the fence.
    let mut unfenced = FailbackWorld::failed_over();
    let mut s = settled(&unfenced, 1000, &p);
    unfenced.us_role = StreamRole::Writable;
    s.catalog.insert(us(), vec![unfenced.stream(&us())]);
    let d = step(&s, &failback(), 1200, &p);
    assert_eq!(refusal(&d), Some(Refusal::StillWritable));

    let eu_p = policy(eu());
    let s = settled(&FailbackWorld::failed_over(), 1000, &eu_p);
    let d = step(&s, &failback(), 1200, &eu_p);
    assert_eq!(refusal(&d), Some(Refusal::NotHomePrimary));

    let home = FailbackWorld {
        owner: own(us(), 1),
        eu_role: StreamRole::Mirror,
        ..FailbackWorld::switched_back()
    };
    let s = settled(&home, 1000, &p);
    let d = step(&s, &failback(), 1200, &p);
    assert_eq!(refusal(&d), Some(Refusal::AlreadyActive));
}

#[test]
fn a_repeated_failback_resumes_from_the_world_without_capturing_or_claiming_twice() {
    let p = policy(us());
    // Interrupted after the reseed: US already mirrors EU, so its tail was captured before.
    let rebuilt = FailbackWorld {
        us_role: StreamRole::Mirror,
        lag: 3,
        ..FailbackWorld::failed_over()
    };
    let s = settled(&rebuilt, 1000, &p);
    let d = step(&s, &failback(), 1200, &p);
    assert_eq!(step_of(&d.next), Some(Step::WaitReseeded));
    assert!(acts(&d).is_empty());

    // Interrupted after the switch back: only the home mirrors are left to restore.
    let switched = FailbackWorld::switched_back();
    let s = settled(&switched, 1000, &p);
    let d = step(&s, &failback(), 1200, &p);
    assert_eq!(acts(&d), vec![reseed(eu(), us(), 3, &["ORDERS_M"])]);
}

#[test]
fn an_outcome_for_another_epoch_or_region_changes_nothing() {
    let p = policy(us());
    let s = failing_back(&p);
    let late = tail_captured(us(), 1, CaptureResult::Done { tail: tail() });
    let d = step(&s, &late, 1300, &p);
    assert_eq!(d.reason, Reason::StaleOutcome);
    assert_eq!(d.next, s);
    let wrong_region = reseeded(eu(), 2, StepResult::Done);
    assert_eq!(
        step(&s, &wrong_region, 1300, &p).reason,
        Reason::StaleOutcome
    );
}

#[test]
fn a_capture_that_fails_for_good_blocks_for_an_operator_before_anything_is_rebuilt() {
    let p = policy(us());
    let s = failing_back(&p);
    let failed = tail_captured(
        us(),
        2,
        CaptureResult::Failed {
            retryable: false,
            error: "no configured twin".into(),
        },
    );
    let d = step(&s, &failed, 1300, &p);
    assert!(matches!(d.next.phase, Phase::Blocked { .. }));
    assert!(!d.actions.iter().any(|a| matches!(a, Action::Reseed { .. })));
}

#[test]
fn a_self_fenced_standby_whose_streams_mirror_again_rejoins_and_may_fail_over_later() {
    let p = policy(eu());
    // EU lost the epoch to the switch back and fenced itself.
    let before = FailbackWorld::switched_back();
    let s = settled(&before, 1000, &p);
    let s = State {
        phase: Phase::SelfFenced {
            epoch: Epoch(3),
            streams: vec![name("ORDERS_M")],
        },
        ..s
    };
    let d = observe(&s, &before, 1500, &p);
    assert!(matches!(d.next.phase, Phase::SelfFenced { .. }));
    let restored = FailbackWorld {
        eu_role: StreamRole::Mirror,
        ..before
    };
    let d = observe(&d.next, &restored, 2000, &p);
    assert_eq!(d.next.phase, Phase::Healthy);
    assert_eq!(d.reason, Reason::RejoinedAsStandby { region: eu() });
}

#[test]
fn reseeded_mirrors_that_do_not_catch_up_in_time_stop_the_failback_for_an_operator() {
    let mut params = PolicyParams::new(us(), Role::Watchdog, us(), eu());
    params.reseed_timeout = Duration::from_secs(3);
    let p = Policy::try_new(params).unwrap();
    // After the reseed: US mirrors EU and stays 40 behind.
    let w = FailbackWorld {
        us_role: StreamRole::Mirror,
        lag: 40,
        ..FailbackWorld::failed_over()
    };
    let s = settled(&w, 1000, &p);
    let mut s = step(&s, &failback(), 1200, &p).next;
    assert_eq!(step_of(&s), Some(Step::WaitReseeded));

    // Within the timeout it reports progress and waits.
    let mut t = 1500;
    while t <= 1200 + 3000 {
        let d = observe(&s, &w, t, &p);
        assert_eq!(
            d.reason,
            Reason::Reseeding {
                region: us(),
                behind: Some(40)
            },
            "at {t} ms"
        );
        s = d.next;
        t += 500;
    }

    // Past it: blocked on that step, naming how far behind; nothing to undo, no action.
    let d = observe(&s, &w, t, &p);
    let Phase::Blocked {
        cause:
            BlockCause::NeedsOperator {
                need:
                    Need::StepFailed {
                        step: failed,
                        error,
                    },
            },
        ..
    } = &d.next.phase
    else {
        panic!("expected blocked, got {:?}", d.next.phase);
    };
    assert_eq!(*failed, Step::WaitReseeded);
    assert!(
        error.contains("us-east-1") && error.contains("40 messages behind"),
        "{error}"
    );
    assert!(acts(&d).is_empty());

    // A repeated failback resumes the wait: the mirrors are in place, nothing is redone.
    let d = step(&d.next, &failback(), t + 100, &p);
    assert_eq!(step_of(&d.next), Some(Step::WaitReseeded));
    assert!(acts(&d).is_empty());
}

#[test]
fn a_long_capture_whose_executor_shows_signs_of_life_is_never_resent_nor_given_up() {
    let p = policy(us());
    let w = FailbackWorld::failed_over();
    let s = settled(&w, 1000, &p);
    let d = step(&s, &failback(), 1200, &p);
    let sent = acts(&d);
    assert_eq!(sent.len(), 1);
    let working = Event::Working {
        action: sent[0].clone(),
    };
    let timeout = p.params().step_timeout.as_millis() as u64;
    let attempts = u64::from(p.params().max_attempts);
    // Far longer than every attempt's timeout together, with a sign of life every third of one.
    let until = 1200 + 4 * attempts * timeout;
    let mut s = d.next;
    let mut t = 1200;
    let mut next_beat = 1200 + timeout / 3;
    while t < until {
        t += 500;
        if t >= next_beat {
            let d = step(&s, &working, t, &p);
            assert!(
                matches!(
                    d.reason,
                    Reason::StepWorking {
                        step: Step::CaptureTail,
                        attempt: 1
                    }
                ),
                "{:?}",
                d.reason
            );
            s = d.next;
            next_beat += timeout / 3;
        }
        let d = observe(&s, &w, t, &p);
        assert!(acts(&d).is_empty(), "resent at {t} ms: {:?}", d.actions);
        s = d.next;
        assert_eq!(
            step_of(&s),
            Some(Step::CaptureTail),
            "at {t} ms: {:?}",
            s.phase
        );
    }

    // Heartbeats for other work do not keep this step alive: once the step timeout passes
    // without one of its own, the capture is sent again.
    let other_epoch = Event::Working {
        action: Action::CaptureTail {
            region: us(),
            into: eu(),
            epoch: Epoch(1),
            streams: vec![name("ORDERS")],
        },
    };
    let reseed = Event::Working {
        action: reseed(us(), eu(), 2, &["ORDERS"]),
    };
    let last_beat = next_beat - timeout / 3;
    let mut resent_at = None;
    while resent_at.is_none() && t < last_beat + 2 * timeout {
        t += 500;
        for e in [&other_epoch, &reseed] {
            let d = step(&s, e, t, &p);
            assert_eq!(d.reason, Reason::StaleOutcome);
            assert_eq!(d.next, s);
        }
        let d = observe(&s, &w, t, &p);
        if !acts(&d).is_empty() {
            assert!(matches!(acts(&d)[..], [Action::CaptureTail { .. }]));
            resent_at = Some(t);
        }
        s = d.next;
    }
    let resent_at = resent_at.expect("the capture is resent once its heartbeats stop");
    assert!(
        resent_at >= last_beat + timeout,
        "resent {resent_at} ms, last sign of life {last_beat} ms"
    );
    // A different stream list (the catalog moved) is still the same work.
    let d = step(
        &s,
        &Event::Working {
            action: Action::CaptureTail {
                region: us(),
                into: eu(),
                epoch: Epoch(2),
                streams: vec![],
            },
        },
        t + 100,
        &p,
    );
    assert!(
        matches!(d.reason, Reason::StepWorking { attempt: 2, .. }),
        "{:?}",
        d.reason
    );
}
