//! `natsdr check-config` against the shipped examples and broken variants of them: every refusal
//! exits 64 with one line naming the key.
mod config_common;

use config_common::{check_ok, edited, example, example_with, refused_naming, replace};

/// Checks that the main example with the environment override `var=value` is refused with a
/// line naming each of `words`.
fn override_refused(var: &str, value: &str, words: &[&str]) {
    refused_naming(&example("natsdr.example.toml"), &[(var, value)], words);
}

#[test]
fn both_shipped_examples_are_valid() {
    for name in ["natsdr.example.toml", "blue-green.example.toml"] {
        let stdout = check_ok(&example(name), &[]);
        assert!(stdout.starts_with("# config ok"), "{name}: {stdout}");
    }
}

#[test]
fn a_bad_duration_exits_64_naming_the_key() {
    let toml = edited(
        "probe_interval = \"500ms\"",
        "probe_interval = \"1 fortnight-ish\"",
    );
    refused_naming(&toml, &[], &["timing.probe_interval", "invalid duration"]);
}

#[test]
fn a_bad_duration_from_the_environment_is_refused_too() {
    override_refused(
        "NATSDR_RPO__MAX_LAG_SECONDS",
        "soon",
        &["rpo.max_lag_seconds"],
    );
}

#[test]
fn environment_overrides_apply_and_single_underscore_variables_are_not_config() {
    let stdout = check_ok(
        &example("natsdr.example.toml"),
        &[
            ("NATSDR_TIMING__PROBE_INTERVAL", "2s"),
            ("NATSDR_TIMING__FAILOVER_DELAY", "12s"),
            ("NATSDR_TIMING__PEER_STALE_AFTER", "5s"),
            ("NATSDR_TIMING__SELF_FENCE_LEASE", "5s"),
            ("NATSDR_API_URL", "x"),
        ],
    );
    assert!(stdout.contains("probe_interval = \"2s\""));
}

#[test]
fn an_unknown_key_is_named() {
    let toml = edited("[rpo]\n", "[rpo]\nmax_lag_bananas = 3\n");
    refused_naming(&toml, &[], &["rpo.max_lag_bananas", "unknown field"]);
}

#[test]
fn a_missing_region_is_refused() {
    let toml = edited(
        "region = \"eu-central-1\"\nsource = \"audit-us\"",
        "region = \"ap-south-1\"\nsource = \"audit-us\"",
    );
    refused_naming(
        &toml,
        &[],
        &["mirrors[1].region", "ap-south-1 is not a configured region"],
    );
}

#[test]
fn a_single_region_is_refused() {
    let toml = example("natsdr.example.toml");
    let cut = toml.find("[[regions]]\nname = \"eu-central-1\"").unwrap();
    let end = toml.find("# --- US primary streams").unwrap();
    let toml = format!("{}{}", &toml[..cut], &toml[end..]);
    refused_naming(&toml, &[], &["regions:", "exactly two regions"]);
}

#[test]
fn a_duplicate_stream_is_refused() {
    let toml = edited("name = \"audit-us\"", "name = \"events-us\"");
    refused_naming(
        &toml,
        &[],
        &["streams[1].name", "duplicate stream events-us"],
    );
}

#[test]
fn a_mirror_that_points_at_itself_is_refused() {
    let toml = edited("source = \"events-us\"", "source = \"events-eu-mirror\"");
    refused_naming(&toml, &[], &["mirrors[0].source", "points at itself"]);
}

#[test]
fn mirroring_a_gdpr_only_stream_out_of_its_region_is_refused() {
    let toml = example_with(
        "[[mirrors]]\nname = \"gdpr-copy\"\nregion = \"us-east-1\"\nsource = \"events-eu-gdpr\"",
    );
    refused_naming(&toml, &[], &["mirrors[3].source", "GDPR-only"]);
}

#[test]
fn a_promotion_that_would_overlap_a_gdpr_stream_is_refused() {
    let toml = edited("\"eu.events.*\"", "\"events.eu\"");
    refused_naming(&toml, &[], &["after promotion", "10065"]);
}

#[test]
fn broken_timing_rules_are_refused_with_the_reason() {
    let toml = edited("self_fence_lease = \"2500ms\"", "self_fence_lease = \"4s\"");
    refused_naming(&toml, &[], &["timing.failover_delay", "self_fence_lease"]);
    let toml = edited("probe_timeout = \"400ms\"", "probe_timeout = \"2s\"");
    refused_naming(&toml, &[], &["timing.probe_timeout"]);
    // A lease a healthy primary could lose when its vouchers' reports come a round late:
    // 2 x 1s + 2 x 800ms = 3.6s > 3s.
    let toml = replace(
        &edited("probe_interval = \"500ms\"", "probe_interval = \"1s\""),
        "probe_timeout = \"400ms\"",
        "probe_timeout = \"800ms\"",
    );
    let toml = replace(
        &toml,
        "failover_delay = \"4500ms\"",
        "failover_delay = \"6s\"",
    );
    let toml = replace(
        &toml,
        "self_fence_lease = \"2500ms\"",
        "self_fence_lease = \"3s\"",
    );
    refused_naming(&toml, &[], &["timing.self_fence_lease", "3s 600ms"]);
}

#[test]
fn stream_names_the_server_would_refuse_are_refused_here() {
    let toml = replace(
        &example("blue-green.example.toml"),
        "name = \"alerts_v1\"",
        "name = \"alerts.v1\"",
    );
    refused_naming(&toml, &[], &["streams[1].name", "'.'"]);
}

#[test]
fn inline_secrets_are_redacted_in_the_printed_config() {
    let toml = edited(
        "user = \"natsdr-sys\"\npassword_file = \"/var/run/secrets/natsdr/us-sys-password\"",
        "user = \"natsdr-sys\"\npassword = \"correct-horse-battery\"",
    );
    let stdout = check_ok(&toml, &[]);
    assert!(!stdout.contains("correct-horse-battery"));
    assert!(stdout.contains("password = \"<redacted>\""));
}

#[test]
fn two_ways_to_authenticate_at_once_are_refused() {
    let toml = edited(
        "creds_file = \"/var/run/secrets/natsdr/us-app.creds\"",
        "creds_file = \"/var/run/secrets/natsdr/us-app.creds\"\ntoken_env = \"X\"",
    );
    refused_naming(&toml, &[], &["regions[0].app"]);
}

#[test]
fn a_failback_tail_policy_other_than_republish_or_keep_is_refused() {
    let toml = example("natsdr.example.toml");
    override_refused(
        "NATSDR_FAILBACK__TAIL",
        "drop",
        &["failback.tail", "\"keep\""],
    );
    override_refused(
        "NATSDR_FAILBACK__RESEED_TIMEOUT",
        "0s",
        &["failback.reseed_timeout"],
    );
    let stdout = check_ok(&toml, &[("NATSDR_FAILBACK__TAIL", "keep")]);
    assert!(stdout.contains("tail = \"keep\""), "{stdout}");
}

#[test]
fn a_relative_snapshot_dir_is_refused() {
    let toml = example("natsdr.example.toml");
    override_refused(
        "NATSDR_WATCHDOG__SNAPSHOT_DIR",
        "snapshots",
        &["watchdog.snapshot_dir", "absolute"],
    );
    check_ok(
        &toml,
        &[("NATSDR_WATCHDOG__SNAPSHOT_DIR", "/var/lib/natsdr/snapshots")],
    );
}

#[test]
fn depth_probes_every_zero_rounds_is_refused() {
    override_refused("NATSDR_TIMING__DEPTH_EVERY", "0", &["timing.depth_every"]);
}

#[test]
fn a_self_unfence_hold_shorter_than_a_round_is_refused() {
    override_refused(
        "NATSDR_TIMING__SELF_UNFENCE_AFTER",
        "400ms",
        &["timing.self_unfence_after"],
    );
}

#[test]
fn timings_that_cannot_work_across_the_declared_round_trip_are_refused() {
    let toml = example("natsdr.example.toml");
    // The defaults hold across 200 ms (the far profile); 250 ms needs a longer probe timeout.
    check_ok(&toml, &[("NATSDR_TIMING__CROSS_REGION_RTT", "200ms")]);
    override_refused(
        "NATSDR_TIMING__CROSS_REGION_RTT",
        "250ms",
        &["timing.probe_timeout", "cross_region_rtt"],
    );
    refused_naming(
        &toml,
        &[
            ("NATSDR_TIMING__CROSS_REGION_RTT", "250ms"),
            ("NATSDR_TIMING__PROBE_TIMEOUT", "500ms"),
            ("NATSDR_TIMING__PROBE_INTERVAL", "600ms"),
            ("NATSDR_TIMING__SELF_FENCE_LEASE", "2300ms"),
            ("NATSDR_TIMING__PEER_STALE_AFTER", "1400ms"),
        ],
        &["timing.peer_stale_after"],
    );
}

/// `auto_failover` and `auto_unfence` reach the decision core (a key that parses but changes
/// nothing would page an operator who believes natsdr waits for them).
#[test]
fn auto_failover_and_auto_unfence_reach_the_decision_policy() {
    let policy = |toml: &str| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("natsdr.toml");
        std::fs::write(&path, toml).unwrap();
        natsdr::config::policy_params(&natsdr::config::Config::load(&path).unwrap())
    };
    let defaults = policy(&example("natsdr.example.toml"));
    assert!(defaults.auto_failover);
    // One probe interval by default.
    assert_eq!(
        defaults.self_unfence_after,
        Some(std::time::Duration::from_millis(500))
    );
    let manual = policy(&replace(
        &edited("auto_failover = true", "auto_failover = false"),
        "auto_unfence = true",
        "auto_unfence = false",
    ));
    assert!(!manual.auto_failover);
    assert_eq!(manual.self_unfence_after, None);
}

#[test]
fn a_mirror_may_carry_its_sources_name_in_the_other_region() {
    let toml = edited("name = \"events-eu-mirror\"", "name = \"events-us\"");
    check_ok(&toml, &[]);
}

#[test]
fn a_consumer_sync_interval_out_of_bounds_exits_64_naming_the_key() {
    for bad in ["0s", "10m"] {
        let toml = example_with(&format!("[consumers]\nsync_interval = \"{bad}\""));
        refused_naming(&toml, &[], &["consumers.sync_interval"]);
    }
}

#[test]
fn a_consumer_name_pattern_no_consumer_could_match_exits_64_naming_the_key() {
    let toml = example_with("[consumers]\ninclude = [\"billing\", \"events.billing\"]");
    refused_naming(&toml, &[], &["consumers.include[1]"]);
}

#[test]
fn a_consumers_section_with_patterns_is_accepted() {
    let toml = example_with(
        "[consumers]\nsync_interval = \"2s\"\ninclude = [\"billing-*\", \"audit\"]\nexclude = [\"*-tmp\"]",
    );
    check_ok(&toml, &[]);
}

#[test]
fn api_limits_that_would_refuse_everyone_are_refused_with_their_key() {
    for (from, to, key) in [
        (
            "header_timeout = \"10s\"",
            "header_timeout = \"10ms\"",
            "api.header_timeout",
        ),
        (
            "request_timeout = \"30s\"",
            "request_timeout = \"0s\"",
            "api.request_timeout",
        ),
        (
            "max_connections = 1024",
            "max_connections = 0",
            "api.max_connections",
        ),
        ("max_body = \"64KiB\"", "max_body = \"0B\"", "api.max_body"),
        (
            "header_timeout = \"10s\"",
            "header_timeout = \"400d\"",
            "api.header_timeout",
        ),
    ] {
        refused_naming(&edited(from, to), &[], &[key]);
    }
}

#[test]
fn a_kv_buckets_mirror_under_another_name_is_refused_naming_the_bucket() {
    let bucket = "[[streams]]\nname = \"KV_assignments\"\nregion = \"us-east-1\"\nsubjects = [\"$KV.assignments.>\"]\nretention = \"limits\"\nmax_bytes = \"1GiB\"\nreplicas = 3\n";
    let mirror = |name: &str| {
        example_with(&format!(
            "{bucket}\n[[mirrors]]\nname = \"{name}\"\nregion = \"eu-central-1\"\nsource = \"KV_assignments\"\n"
        ))
    };
    refused_naming(
        &mirror("KV_assignments_dr"),
        &[],
        &["mirrors[3].name", "\"assignments\""],
    );
    check_ok(&mirror("KV_assignments"), &[]);
}

#[test]
fn an_audit_rotation_that_would_lose_records_is_refused() {
    override_refused(
        "NATSDR_API__AUDIT_LOG_KEEP",
        "0",
        &["api.audit_log_keep", "at least 1"],
    );
    override_refused(
        "NATSDR_API__AUDIT_LOG_MAX_SIZE",
        "1KiB",
        &["api.audit_log_max_size", "4KiB"],
    );
}
