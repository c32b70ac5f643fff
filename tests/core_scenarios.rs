//! The situations, each as an event sequence through the world model and the real `decide`.
mod core_sim;

use core_sim::{ROUND_MS, Sim, Who, eu, us};
use natsdr::core::{
    Action, BlockCause, Command, CommandKind, Event, FenceHow, Ownership, Phase, Reason,
};
use natsdr::model::Epoch;

fn eu_steps(sim: &Sim) -> Vec<Action> {
    sim.log
        .iter()
        .filter(|(r, _, _)| *r == eu())
        .flat_map(|(_, _, d)| d.actions.clone())
        .filter(|a| !matches!(a, Action::Notify { .. }))
        .collect()
}

fn eu_reasons(sim: &Sim) -> Vec<Reason> {
    sim.log
        .iter()
        .filter(|(r, _, _)| *r == eu())
        .map(|(_, _, d)| d.reason.clone())
        .collect()
}

fn command(kind: CommandKind) -> Event {
    Event::Command(Command {
        kind,
        reason: "test".into(),
        by: "alice".into(),
    })
}

/// Rounds until DNS points at EU (or `max` rounds), returning the elapsed time in ms.
fn until_dns_swapped(sim: &mut Sim, max: usize) -> Option<u64> {
    let start = sim.world.t;
    for _ in 0..max {
        sim.round();
        if sim.world.dns == eu() {
            return Some(sim.world.t - start);
        }
    }
    None
}

fn assert_safe(sim: &Sim) {
    assert!(
        !sim.world.gdpr_touched,
        "a GDPR-only stream was named in an action"
    );
    assert_eq!(sim.world.dual_writes, 0, "both regions accepted writes");
    assert!(
        !sim.world.promoted_while_us_writable,
        "promoted while US still took writes"
    );
}

#[test]
fn losing_the_whole_us_region_fails_over_with_one_epoch_bump_and_steps_in_order_within_the_rto() {
    let mut sim = Sim::new();
    sim.rounds(4);
    sim.world.us_up = 0;
    let rto = until_dns_swapped(&mut sim, 40).expect("DNS swapped");
    assert!(rto <= 10_000, "RTO {rto} ms");
    sim.rounds(2);
    let kinds: Vec<&str> = eu_steps(&sim)
        .iter()
        .map(|a| match a {
            Action::ClaimEpoch { .. } => "claim",
            Action::Fence { .. } => "fence",
            Action::Promote { .. } => "promote",
            Action::SwapDns { .. } => "dns",
            Action::Unfence { .. } => "unfence",
            Action::Notify { .. } => "notify",
            Action::CaptureTail { .. } => "capture",
            Action::Reseed { .. } => "reseed",
        })
        .collect();
    // The fence step passes without an action: US was down in EU's latest round and its lease
    // had surely expired (an attempt could only time out into "counts as fenced").
    assert_eq!(kinds, ["claim", "promote", "dns"]);
    assert!(eu_reasons(&sim).contains(&Reason::FenceDone {
        region: us(),
        how: FenceHow::SeenDown
    }));
    assert_eq!(sim.world.arbiter.epoch, Epoch(2));
    assert_eq!(sim.eu.state.phase, Phase::FailedOver { epoch: Epoch(2) });
    assert_safe(&sim);
}

#[test]
fn losing_one_us_node_degrades_but_never_fails_over() {
    let mut sim = Sim::new();
    sim.rounds(4);
    sim.world.us_up = 2;
    sim.rounds(60);
    assert_eq!(sim.eu.state.phase, Phase::Degraded);
    assert_eq!(sim.us.state.phase, Phase::Degraded);
    assert!(eu_steps(&sim).is_empty());
    assert_eq!(sim.world.arbiter.epoch, Epoch(1));
}

#[test]
fn losing_two_of_three_us_nodes_fails_over_accepting_no_quorum_as_fenced() {
    let mut sim = Sim::new();
    sim.rounds(4);
    sim.world.us_up = 1;
    until_dns_swapped(&mut sim, 40).expect("DNS swapped");
    // One server answering is no quorum: down in EU's latest round, counted fenced once US's
    // lease has surely expired.
    assert!(eu_reasons(&sim).contains(&Reason::FenceDone {
        region: us(),
        how: FenceHow::SeenDown
    }));
    assert_eq!(sim.world.arbiter.region, eu());
    assert_safe(&sim);
}

/// An operator forces a failover the moment US loses quorum: "no quorum" takes no writes now,
/// but US may regain quorum unfenced while cut off from everyone, and its watchdog only fences it
/// when its lease runs out. So EU promotes only after that lease has surely expired.
#[test]
fn a_forced_failover_while_us_lacks_quorum_waits_out_its_lease_before_promoting() {
    let mut sim = Sim::new();
    sim.rounds(4);
    sim.world.us_up = 1;
    sim.feed(
        Who::Eu,
        command(CommandKind::Failover {
            allow_data_loss: false,
        }),
    );
    assert_eq!(sim.world.arbiter.region, eu(), "the claim comes first");
    assert!(!sim.world.eu_writable(), "no promotion on a mere NoQuorum");
    // US comes back with quorum, cut off from EU, the witness and the arbiter.
    sim.world.us_up = 2;
    sim.world.link = false;
    sim.world.witness_link = false;
    sim.world.us_arbiter_link = false;
    let cut = sim.world.t;
    let (mut fenced_at, mut promoted_at) = (None, None);
    for _ in 0..60 {
        sim.round();
        if fenced_at.is_none() && !sim.world.us_writable() {
            fenced_at = Some(sim.world.t - cut);
        }
        if promoted_at.is_none() && sim.world.eu_writable() {
            promoted_at = Some(sim.world.t - cut);
        }
    }
    let fenced = fenced_at.expect("US fenced itself");
    let promoted = promoted_at.expect("EU promoted in the end");
    assert!(
        fenced < promoted,
        "US fenced at {fenced} ms, EU promoted at {promoted} ms"
    );
    assert!(eu_reasons(&sim).iter().any(|r| matches!(
        r,
        Reason::FenceWaitingForLease { region, .. } if *region == us()
    )));
    assert_safe(&sim);
}

/// US is down long enough for EU to suspect it; US comes back, its (restarted) watchdog is vouched
/// for by the witness in a round EU never sees, then US is cut off from everyone. EU must count
/// the outage from that sighting (the witness remembers it), not from its first suspicion, so
/// US's renewed lease runs out before EU promotes.
#[test]
fn a_revival_only_the_witness_saw_restarts_the_standbys_outage_clock() {
    let mut sim = Sim::new();
    sim.rounds(4);
    sim.world.us_up = 0;
    sim.rounds(7);
    assert!(matches!(sim.eu.state.phase, Phase::Suspect { .. }));
    sim.restart(Who::Us);
    sim.world.us_up = 2;
    let obs = sim.observation(Who::Us);
    sim.feed(Who::Us, Event::Observed(obs));
    sim.world.link = false;
    sim.world.witness_link = false;
    sim.world.us_arbiter_link = false;
    let cut = sim.world.t;
    let (mut fenced_at, mut promoted_at) = (None, None);
    for _ in 0..60 {
        sim.round();
        if fenced_at.is_none() && !sim.world.us_writable() {
            fenced_at = Some(sim.world.t - cut);
        }
        if promoted_at.is_none() && sim.world.eu_writable() {
            promoted_at = Some(sim.world.t - cut);
        }
    }
    let fenced = fenced_at.expect("US fenced itself");
    let promoted = promoted_at.expect("EU promoted in the end");
    assert!(
        fenced < promoted,
        "US fenced at {fenced} ms, EU promoted at {promoted} ms"
    );
    assert_safe(&sim);
}

#[test]
fn a_cut_eu_us_link_with_the_witness_still_seeing_us_never_fails_over() {
    let mut sim = Sim::new();
    sim.rounds(4);
    sim.world.link = false;
    sim.rounds(80);
    assert!(eu_steps(&sim).is_empty(), "{:?}", eu_steps(&sim));
    assert!(
        !matches!(sim.us.state.phase, Phase::SelfFenced { .. }),
        "US keeps the witness's vote"
    );
    assert!(sim.world.us_writable());
    assert!(
        matches!(sim.eu.state.phase, Phase::Degraded),
        "{:?}",
        sim.eu.state.phase
    );
}

#[test]
fn us_cut_off_from_eu_and_witness_fences_itself_before_eu_promotes() {
    let mut sim = Sim::new();
    sim.rounds(4);
    sim.world.link = false;
    sim.world.witness_link = false;
    sim.world.us_arbiter_link = false;
    let cut = sim.world.t;
    let mut fenced_at = None;
    let mut promoted_at = None;
    for _ in 0..60 {
        sim.round();
        if fenced_at.is_none() && !sim.world.us_writable() {
            fenced_at = Some(sim.world.t - cut);
        }
        if promoted_at.is_none() && sim.world.eu_writable() {
            promoted_at = Some(sim.world.t - cut);
        }
    }
    let (fenced, promoted) = (
        fenced_at.expect("US fenced itself"),
        promoted_at.expect("EU promoted"),
    );
    assert!(
        fenced + ROUND_MS < promoted,
        "US fenced at {fenced} ms, EU promoted at {promoted} ms"
    );
    assert!(matches!(sim.us.state.phase, Phase::SelfFenced { .. }));
    assert_safe(&sim);
}

#[test]
fn a_flapping_us_gets_at_most_one_failover_and_eu_holds_until_acknowledged() {
    let mut sim = Sim::new();
    sim.rounds(4);
    for _ in 0..6 {
        sim.world.us_up = 0;
        sim.rounds(4);
        sim.world.us_up = 3;
        sim.rounds(4);
    }
    assert!(
        matches!(
            sim.eu.state.phase,
            Phase::Blocked {
                cause: BlockCause::Flapping { .. },
                ..
            }
        ),
        "{:?}",
        sim.eu.state.phase
    );
    sim.world.us_up = 0;
    sim.rounds(40);
    assert_eq!(
        sim.world.claims_won, 0,
        "flapping blocks automatic failover"
    );
    sim.feed(Who::Eu, command(CommandKind::Ack));
    sim.rounds(40);
    assert_eq!(sim.world.claims_won, 1);
    assert_eq!(sim.eu.state.phase, Phase::FailedOver { epoch: Epoch(2) });
    // The old primary comes back and dies again: no second move.
    for _ in 0..4 {
        sim.world.us_up = 3;
        sim.rounds(4);
        sim.world.us_up = 0;
        sim.rounds(20);
    }
    assert_eq!(sim.world.claims_won, 1);
    assert_eq!(sim.eu.state.phase, Phase::FailedOver { epoch: Epoch(2) });
    assert_safe(&sim);
}

#[test]
fn lag_over_the_rpo_budget_blocks_until_a_break_glass_failover() {
    let mut sim = Sim::new();
    sim.world.lag = 1_000_000;
    sim.rounds(4);
    sim.world.us_up = 0;
    sim.rounds(40);
    assert_eq!(sim.world.claims_won, 0);
    assert!(matches!(
        sim.eu.state.phase,
        Phase::Blocked {
            cause: BlockCause::RpoExceeded { .. },
            ..
        }
    ));
    sim.feed(
        Who::Eu,
        command(CommandKind::Failover {
            allow_data_loss: false,
        }),
    );
    assert_eq!(sim.world.claims_won, 0, "no break-glass, no failover");
    sim.feed(
        Who::Eu,
        command(CommandKind::Failover {
            allow_data_loss: true,
        }),
    );
    assert!(eu_reasons(&sim).iter().any(|r| matches!(
        r,
        Reason::OperatorFailover {
            break_glass: true,
            ..
        }
    )));
    until_dns_swapped(&mut sim, 40).expect("DNS swapped");
    assert_eq!(
        sim.world.arbiter,
        Ownership {
            region: eu(),
            epoch: Epoch(2)
        }
    );
    assert_safe(&sim);
}

#[test]
fn a_paused_watchdog_emits_nothing_whatever_happens_and_resumes_after_a_fresh_look() {
    let mut sim = Sim::new();
    sim.rounds(4);
    sim.feed(Who::Eu, command(CommandKind::Pause));
    let before = sim.log.len();
    sim.world.us_up = 0;
    sim.rounds(40);
    let eu_after_pause: Vec<_> = sim.log[before..]
        .iter()
        .filter(|(r, _, _)| *r == eu())
        .flat_map(|(_, _, d)| d.actions.clone())
        .collect();
    assert!(eu_after_pause.is_empty(), "{eu_after_pause:?}");
    assert_eq!(sim.world.claims_won, 0);
    sim.feed(Who::Eu, command(CommandKind::Resume));
    assert_eq!(sim.eu.state.phase, Phase::Starting);
    until_dns_swapped(&mut sim, 40).expect("fails over after resuming");
    assert_safe(&sim);
}

#[test]
fn an_old_primary_returning_unfenced_after_a_failover_is_fenced_at_the_next_observation() {
    let mut sim = Sim::new();
    sim.rounds(4);
    sim.world.us_up = 0;
    until_dns_swapped(&mut sim, 40).expect("DNS swapped");
    sim.rounds(2);
    // US returns with its stream writable, as it was when it died.
    sim.world.us_up = 3;
    sim.world.mirror_contact = None;
    sim.restart(Who::Us);
    sim.round();
    assert!(!sim.world.us_writable());
    assert!(eu_reasons(&sim).contains(&Reason::StaleTwin {
        region: us(),
        epoch: Epoch(2)
    }));
    assert_safe(&sim);
}

#[test]
fn a_switchover_moves_with_zero_loss_and_rolls_back_when_lag_never_reaches_zero() {
    let mut sim = Sim::new();
    sim.rounds(4);
    sim.feed(Who::Eu, command(CommandKind::Switchover));
    sim.rounds(10);
    assert_eq!(sim.world.dns, eu());
    assert_eq!(sim.world.claims_won, 1);
    assert_eq!(sim.world.loss_at_promote, Some(0), "zero loss");
    assert_eq!(sim.eu.state.phase, Phase::Healthy);
    assert_safe(&sim);

    let mut sim = Sim::new();
    sim.world.lag = 5;
    sim.rounds(4);
    sim.feed(Who::Eu, command(CommandKind::Switchover));
    sim.rounds(80);
    assert_eq!(
        sim.world.arbiter,
        Ownership {
            region: us(),
            epoch: Epoch(3)
        }
    );
    assert!(sim.world.us_writable(), "rolled back: US serves again");
    assert!(!sim.world.eu_writable());
    assert!(
        eu_reasons(&sim)
            .iter()
            .any(|r| matches!(r, Reason::SwitchoverRolledBack { .. }))
    );
}

/// Failback in the model: after a region loss and US's return (fenced), an operator's failback
/// to the US watchdog captures, reseeds, switches back and restores EU's mirror; both watchdogs
/// end healthy at epoch 3, and a second loss of US fails over again.
#[test]
fn a_failback_returns_to_the_home_topology_and_a_second_failover_can_happen() {
    let mut sim = Sim::new();
    sim.rounds(4);
    sim.world.us_up = 0;
    until_dns_swapped(&mut sim, 40).expect("failed over");
    sim.world.us_up = 3;
    sim.rounds(4);
    assert_eq!(
        sim.world.us_orders.role,
        natsdr::core::StreamRole::Fenced,
        "the returning US is fenced"
    );
    sim.feed(Who::Us, command(CommandKind::Failback));
    for _ in 0..40 {
        sim.round();
        if sim.us.state.phase == Phase::Healthy && sim.eu.state.phase == Phase::Healthy {
            break;
        }
    }
    assert_safe(&sim);
    assert_eq!(
        sim.world.arbiter,
        Ownership {
            region: us(),
            epoch: Epoch(3)
        }
    );
    assert_eq!(sim.world.dns, us());
    assert_eq!(sim.world.tails_captured, 1);
    assert_eq!(sim.world.us_orders.role, natsdr::core::StreamRole::Writable);
    assert_eq!(sim.world.eu_orders.role, natsdr::core::StreamRole::Mirror);
    assert_eq!(sim.us.state.phase, Phase::Healthy, "{:?}", sim.us.state);
    assert_eq!(sim.eu.state.phase, Phase::Healthy, "{:?}", sim.eu.state);
    let us_reasons: Vec<Reason> = sim
        .log
        .iter()
        .filter(|(r, _, _)| *r == us())
        .map(|(_, _, d)| d.reason.clone())
        .collect();
    assert!(
        us_reasons
            .iter()
            .any(|r| matches!(r, Reason::FailbackComplete { .. })),
        "{us_reasons:?}"
    );

    sim.rounds(4);
    sim.world.us_up = 0;
    until_dns_swapped(&mut sim, 40).expect("a second failover");
    assert_eq!(sim.world.arbiter.epoch, Epoch(4));
    assert_safe(&sim);
}

/// Chaos seed 15's story: US is cut off from everyone a little longer than its lease but shorter
/// than the standby's failover delay. It fences itself, nothing fails over, and once a majority
/// has vouched for it again long enough it unfences itself: writes resume with no operator, at
/// the same epoch, and never in two regions.
#[test]
fn a_primary_cut_off_past_its_lease_but_not_failed_over_unfences_itself_after_the_cut_heals() {
    let mut sim = Sim::new();
    sim.rounds(4);
    let w = &mut sim.world;
    w.link = false;
    w.witness_link = false;
    w.us_arbiter_link = false;
    sim.rounds(7);
    assert!(
        matches!(sim.us.state.phase, Phase::SelfFenced { .. }),
        "{:?}",
        sim.us.state.phase
    );
    assert!(!sim.world.us_writable());
    let w = &mut sim.world;
    w.link = true;
    w.witness_link = true;
    w.us_arbiter_link = true;
    let healed = sim.world.t;
    let mut writable_again = None;
    for _ in 0..40 {
        sim.round();
        if writable_again.is_none() && sim.world.us_writable() {
            writable_again = Some(sim.world.t - healed);
        }
    }
    let after = writable_again.expect("US unfenced itself");
    assert!(
        (10_000..=11_500).contains(&after),
        "unfenced {after} ms after the heal (hold 10 s)"
    );
    assert!(eu_steps(&sim).is_empty(), "{:?}", eu_steps(&sim));
    assert_eq!(sim.world.arbiter.epoch, Epoch(1));
    assert_eq!(sim.us.state.phase, Phase::Healthy);
    assert_safe(&sim);
}
