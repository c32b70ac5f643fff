//! Replay: a failover interrupted after every step converges after a restart, with one epoch bump.
mod core_sim;

use core_sim::{Sim, eu};
use natsdr::core::Phase;
use natsdr::model::Epoch;

/// Runs a region loss in which the EU watchdog crashes right after its `cut`-th action took
/// effect (its outcome lost), then restarts from nothing with the world as it was left.
fn interrupted_failover(cut: usize) -> Sim {
    let mut sim = Sim::steady();
    sim.world.us_up = 0;
    sim.crash_eu_after = Some(cut);
    sim.rounds(60);
    assert_eq!(
        sim.crash_eu_after, None,
        "the crash after action {cut} happened"
    );
    sim
}

#[test]
fn a_failover_interrupted_after_any_step_converges_with_exactly_one_epoch_bump() {
    // Claim, promote, swap DNS: a crash after each of them. (US is down in EU's latest round
    // and its lease has surely expired when the claim lands, so no fence is attempted.)
    for cut in 1..=3 {
        let sim = interrupted_failover(cut);
        let w = &sim.world;
        assert_eq!(w.arbiter.region, eu(), "cut after {cut}: arbiter");
        assert_eq!(
            w.arbiter.epoch,
            Epoch(2),
            "cut after {cut}: exactly one epoch bump"
        );
        assert_eq!(w.claims_won, 1, "cut after {cut}: exactly one claim");
        assert!(w.eu_writable(), "cut after {cut}: EU promoted");
        assert_eq!(w.dns, eu(), "cut after {cut}: DNS swapped");
        assert!(!w.gdpr_touched);
        assert!(
            matches!(sim.eu.state.phase, Phase::FailedOver { epoch: Epoch(2) }),
            "cut after {cut}: {:?}",
            sim.eu.state.phase
        );
    }
}

#[test]
fn an_old_primary_that_returns_unfenced_after_a_replayed_failover_is_fenced_in_the_same_round() {
    let mut sim = interrupted_failover(2);
    sim.world.us_up = 3;
    sim.world.mirror_contact = None;
    sim.round();
    assert!(!sim.world.us_writable());
    assert_eq!(sim.world.dual_writes, 0);
    assert_eq!(sim.world.arbiter.region, eu());
}
