//! natsdr causes no outage by itself: the three watchdogs started together, a short isolation
//! of the primary region, and a primary whose watchdog is dead, each on a fresh lab at
//! transatlantic latency with a client writing (acked) through the DNS name.
use std::path::PathBuf;
use std::time::Duration;

use natsdr_lab::bench::{Fault, run_case};
use natsdr_lab::lab::WanProfile;

fn exe() -> PathBuf {
    natsdr_lab::lab::find_natsdr().expect("the natsdr binary")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_watchdogs_started_together_never_fence_a_healthy_primary() {
    let c = run_case(&exe(), WanProfile::Transatlantic, Fault::StartTogether, 0).await;
    assert_eq!(c.error, None, "{c:?}");
    assert!(!c.failed_over, "{c:?}");
    assert_eq!(
        c.self_fenced, 0,
        "a watchdog fenced its healthy region: {c:?}"
    );
    assert_eq!(c.fences, 0, "{c:?}");
    let gap = c.write_outage_ms.expect("the client wrote");
    assert!(
        gap <= 1_000,
        "the client went {gap} ms without an ack: {c:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_isolation_of_the_primary_costs_little_more_than_the_isolation() {
    let hold = Duration::from_millis(3_500);
    let c = run_case(&exe(), WanProfile::Transatlantic, Fault::IsolateUs(hold), 1).await;
    assert_eq!(c.error, None, "{c:?}");
    assert!(!c.failed_over, "a 3.5 s isolation failed over: {c:?}");
    // The isolation was real: the standby suspected US and counted most of it.
    let counted = c.closest_ms.expect("the standby never suspected US");
    assert!(
        counted >= 3_000,
        "the standby counted only {counted} ms: {c:?}"
    );
    let gap = c.write_outage_ms.expect("the client wrote");
    assert!(
        gap <= 4_500,
        "the client went {gap} ms without an ack: {c:?}"
    );
    assert_eq!(c.dual_writes, 0, "{c:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_whose_watchdog_is_dead_is_never_counted_fenced() {
    let hold = Duration::from_secs(12);
    let c = run_case(
        &exe(),
        WanProfile::Transatlantic,
        Fault::DeadWatchdog(hold),
        2,
    )
    .await;
    assert_eq!(c.error, None, "{c:?}");
    assert_eq!(c.dual_writes, 0, "{c:?}");
    assert!(
        !c.failed_over,
        "EU failed over while US, unfenced, still took writes: {c:?}"
    );
    assert_eq!(c.standby_state.as_deref(), Some("blocked"), "{c:?}");
    let reason = c.standby_reason.clone().unwrap_or_default();
    assert!(reason.contains("watchdog"), "{reason}");
}
