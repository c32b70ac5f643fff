//! The chaos suite's short subset for `make test`: two fixed seeds with a short fault phase on
//! the real lab (two 3-node NATS regions, BIND, the three natsdr processes, a PagerDuty
//! receiver, load through the DNS name). Every invariant must hold and faults must really have
//! been injected. Needs nats-server and BIND (make deps): without them this fails, never skips.
use std::time::Duration;

use natsdr_lab::chaos::{INVARIANTS, run_seed};

/// Short enough for `make test`, long enough for a few faults.
const DURATION: Duration = Duration::from_secs(12);

async fn seed_holds(seed: u64) {
    let exe: &std::path::Path = &natsdr_lab::lab::find_natsdr().expect("the natsdr binary");
    let report = run_seed(seed, DURATION, exe)
        .await
        .unwrap_or_else(|e| panic!("seed {seed} could not run: {}", natsdr::error_chain(&e)));
    println!("{}", report.render());
    assert!(
        !report.schedule.episodes.is_empty()
            && report.injected == report.schedule.episodes.len() as u64,
        "seed {seed} injected {} of {} faults",
        report.injected,
        report.schedule.episodes.len()
    );
    let names: Vec<&str> = report.verdicts.iter().map(|v| v.invariant).collect();
    assert_eq!(names, INVARIANTS, "every invariant is checked");
    assert!(report.acked > 0, "the load got acks");
    assert!(report.held(), "failing seed: {seed}\n{}", report.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_seed_3_keeps_every_invariant() {
    seed_holds(3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_seed_7_keeps_every_invariant() {
    seed_holds(7).await;
}
