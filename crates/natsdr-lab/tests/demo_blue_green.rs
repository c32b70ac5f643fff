//! `natsdr-lab demo --config config/blue-green.example.toml` end to end, as a subprocess on the
//! real lab built from the second seed's config (clusters blue and green, streams metrics_v1,
//! alerts_v1, events_v1, KV buckets assignments_v1, heartbeats, workers_v1), on the
//! transatlantic profile. Needs nats-server and BIND (make deps): without them these fail,
//! never skip.
mod common;

use common::demo::{demo_with, u};

fn demo(scenario: &str) -> serde_json::Value {
    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/blue-green.example.toml"
    );
    demo_with(scenario, &["--config", config, "--wan", "transatlantic"])
}

/// What both scenarios must show: blue to green by one claim, no dual write, the KV
/// application's writes acked in green too, none going back a revision, and the watch resumed
/// in green with every key's latest value.
fn moved_to_green_with_kv_intact(r: &serde_json::Value) {
    assert_eq!(r["failover"], true, "{r:#}");
    assert_eq!(r["owner_after"], "green", "{r:#}");
    assert_eq!(r["client_record"], "green", "{r:#}");
    assert_eq!(u(&r["epoch_after"]), u(&r["epoch_before"]) + 1, "{r:#}");
    assert_eq!(u(&r["dual_writes"]), 0, "{r:#}");
    assert!(u(&r["acked"]) > 0, "{r:#}");
    let kv = &r["kv"];
    assert_eq!(
        kv["buckets"],
        serde_json::json!(["assignments_v1", "heartbeats", "workers_v1"]),
        "{r:#}"
    );
    assert!(u(&kv["acked_updates"]) > 0, "{r:#}");
    assert_eq!(u(&kv["revision_regressions"]), 0, "{r:#}");
    assert_eq!(kv["watch_resumed"], true, "{r:#}");
    assert_eq!(u(&kv["watch_missed_latest"]), 0, "{r:#}");
    assert_eq!(r["ok"], true, "{r:#}");
}

#[test]
fn a_planned_switchover_from_blue_to_green_loses_no_acked_message_and_no_acked_kv_update() {
    let r = demo("switchover");
    moved_to_green_with_kv_intact(&r);
    assert_eq!(u(&r["acked_lost"]), 0, "{r:#}");
    assert_eq!(u(&r["kv"]["lost_acked_updates"]), 0, "{r:#}");
}

#[test]
fn losing_blue_fails_over_to_green_losing_no_more_than_the_mirrors_lag_in_streams_and_kv() {
    let r = demo("region-loss");
    moved_to_green_with_kv_intact(&r);
    assert!(u(&r["acked_lost"]) <= u(&r["lag_at_kill"]), "{r:#}");
    let kv = &r["kv"];
    assert!(
        u(&kv["lost_acked_updates"]) <= u(&kv["lag_at_kill"]),
        "{r:#}"
    );
}
