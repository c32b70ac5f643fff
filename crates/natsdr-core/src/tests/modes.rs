//! Modes beside the phase: an operator's pause and the TILT hold after a clock jump.
use super::fixture::*;
use crate::*;

#[test]
fn a_paused_watchdog_emits_nothing_and_resumes_only_after_a_fresh_look() {
    let p = policy(eu());
    let paused = step(&healthy_eu(), &command(CommandKind::Pause), 1200, &p).next;
    let (state, d) = run(paused, &World::us_lost(), 1500, 30_000, &p);
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
    let d = step(&state, &claimed(own(eu(), 2), ClaimResult::Won), 30_100, &p);
    assert!(d.actions.is_empty());
    let d = step(&state, &command(CommandKind::Resume), 30_200, &p);
    assert_eq!(
        (d.next.phase.clone(), d.actions.len()),
        (Phase::Starting, 0)
    );
    let d = observe(&d.next, &World::us_lost(), 30_500, &p);
    assert!(
        acts(&d).is_empty(),
        "the first round after resuming only looks"
    );
}

#[test]
fn a_clock_jump_enters_tilt_and_discards_the_evidence() {
    let p = policy(eu());
    let (state, _) = run(healthy_eu(), &World::us_lost(), 1500, 5000, &p);
    assert!(matches!(state.phase, Phase::Suspect { .. }));
    let mut obs = World::us_lost().obs(5500);
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
