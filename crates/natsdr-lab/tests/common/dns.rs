//! What the arbiter tests of every DNS provider check the same way.
use natsdr::dns::{ClaimResult, Ownership};
use natsdr::model::{Epoch, Region};

/// The ownership value `region@epoch`.
pub fn own(region: &str, epoch: u64) -> Ownership {
    Ownership::new(Region::new(region).unwrap(), Epoch(epoch))
}

/// The one claimer that won a race of concurrent claims, after checking that every other one
/// lost to it (its answer names the winner's value as current).
pub fn sole_winner(results: &[(Ownership, ClaimResult)]) -> Ownership {
    let winners: Vec<&Ownership> = results
        .iter()
        .filter(|(_, r)| *r == ClaimResult::Won)
        .map(|(o, _)| o)
        .collect();
    assert_eq!(winners.len(), 1, "results: {results:?}");
    let winner = winners[0].clone();
    for (claimer, result) in results.iter().filter(|(o, _)| *o != winner) {
        let lost = ClaimResult::Lost {
            current: Some(winner.clone()),
        };
        assert_eq!(*result, lost, "{claimer}");
    }
    winner
}
