//! `natsdr check-config` against the shipped examples and broken variants of them: every refusal
//! exits 64 with one line naming the key.
use std::path::PathBuf;
use std::process::{Command, Output};

fn example(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("config")
        .join(name);
    std::fs::read_to_string(p).unwrap()
}

fn check(toml: &str, env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("natsdr.toml");
    std::fs::write(&path, toml).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_natsdr"));
    cmd.arg("check-config").arg(&path);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Runs a broken config and returns its single stderr line, after checking the exit code.
fn refused(toml: &str, env: &[(&str, &str)]) -> String {
    let out = check(toml, env);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(64), "stderr: {stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "one clear line expected, got: {stderr}"
    );
    stderr
}

/// Runs a config that must be accepted.
fn check_ok(toml: &str, env: &[(&str, &str)]) {
    let out = check(toml, env);
    assert_eq!(
        out.status.code(),
        Some(0),
        "refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn replace(toml: &str, from: &str, to: &str) -> String {
    assert!(toml.contains(from), "test bug: {from:?} not in the example");
    toml.replacen(from, to, 1)
}

#[test]
fn both_shipped_examples_are_valid() {
    for name in ["natsdr.example.toml", "blue-green.example.toml"] {
        let out = check(&example(name), &[]);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(stdout.starts_with("# config ok"), "{stdout}");
    }
}

#[test]
fn a_bad_duration_exits_64_naming_the_key() {
    let toml = replace(
        &example("natsdr.example.toml"),
        "probe_interval = \"500ms\"",
        "probe_interval = \"1 fortnight-ish\"",
    );
    let line = refused(&toml, &[]);
    assert!(line.contains("timing.probe_interval"), "{line}");
    assert!(line.contains("invalid duration"), "{line}");
}

#[test]
fn a_bad_duration_from_the_environment_is_refused_too() {
    let line = refused(
        &example("natsdr.example.toml"),
        &[("NATSDR_RPO__MAX_LAG_SECONDS", "soon")],
    );
    assert!(line.contains("rpo.max_lag_seconds"), "{line}");
}

#[test]
fn environment_overrides_apply_and_single_underscore_variables_are_not_config() {
    let out = check(
        &example("natsdr.example.toml"),
        &[
            ("NATSDR_TIMING__PROBE_INTERVAL", "2s"),
            ("NATSDR_TIMING__FAILOVER_DELAY", "12s"),
            ("NATSDR_TIMING__PEER_STALE_AFTER", "5s"),
            ("NATSDR_TIMING__SELF_FENCE_LEASE", "5s"),
            ("NATSDR_API_URL", "x"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("probe_interval = \"2s\"")
    );
}

#[test]
fn an_unknown_key_is_named() {
    let toml = replace(
        &example("natsdr.example.toml"),
        "[rpo]\n",
        "[rpo]\nmax_lag_bananas = 3\n",
    );
    let line = refused(&toml, &[]);
    assert!(
        line.contains("rpo.max_lag_bananas") && line.contains("unknown field"),
        "{line}"
    );
}

#[test]
fn a_missing_region_is_refused() {
    let toml = replace(
        &example("natsdr.example.toml"),
        "region = \"eu-central-1\"\nsource = \"audit-us\"",
        "region = \"ap-south-1\"\nsource = \"audit-us\"",
    );
    let line = refused(&toml, &[]);
    assert!(
        line.contains("mirrors[1].region")
            && line.contains("ap-south-1 is not a configured region"),
        "{line}"
    );
}

#[test]
fn a_single_region_is_refused() {
    let toml = example("natsdr.example.toml");
    let cut = toml.find("[[regions]]\nname = \"eu-central-1\"").unwrap();
    let end = toml.find("# --- US primary streams").unwrap();
    let toml = format!("{}{}", &toml[..cut], &toml[end..]);
    let line = refused(&toml, &[]);
    assert!(
        line.contains("regions:") && line.contains("exactly two regions"),
        "{line}"
    );
}

#[test]
fn a_duplicate_stream_is_refused() {
    let toml = replace(
        &example("natsdr.example.toml"),
        "name = \"audit-us\"",
        "name = \"events-us\"",
    );
    let line = refused(&toml, &[]);
    assert!(
        line.contains("streams[1].name") && line.contains("duplicate stream events-us"),
        "{line}"
    );
}

#[test]
fn a_mirror_that_points_at_itself_is_refused() {
    let toml = replace(
        &example("natsdr.example.toml"),
        "source = \"events-us\"",
        "source = \"events-eu-mirror\"",
    );
    let line = refused(&toml, &[]);
    assert!(
        line.contains("mirrors[0].source") && line.contains("points at itself"),
        "{line}"
    );
}

#[test]
fn mirroring_a_gdpr_only_stream_out_of_its_region_is_refused() {
    let toml = format!(
        "{}\n[[mirrors]]\nname = \"gdpr-copy\"\nregion = \"us-east-1\"\nsource = \"events-eu-gdpr\"\n",
        example("natsdr.example.toml")
    );
    let line = refused(&toml, &[]);
    assert!(
        line.contains("mirrors[3].source") && line.contains("GDPR-only"),
        "{line}"
    );
}

#[test]
fn a_promotion_that_would_overlap_a_gdpr_stream_is_refused() {
    let toml = replace(
        &example("natsdr.example.toml"),
        "\"eu.events.*\"",
        "\"events.eu\"",
    );
    let line = refused(&toml, &[]);
    assert!(
        line.contains("after promotion") && line.contains("10065"),
        "{line}"
    );
}

#[test]
fn broken_timing_rules_are_refused_with_the_reason() {
    let toml = replace(
        &example("natsdr.example.toml"),
        "self_fence_lease = \"2500ms\"",
        "self_fence_lease = \"4s\"",
    );
    let line = refused(&toml, &[]);
    assert!(
        line.contains("timing.failover_delay") && line.contains("self_fence_lease"),
        "{line}"
    );
    let toml = replace(
        &example("natsdr.example.toml"),
        "probe_timeout = \"400ms\"",
        "probe_timeout = \"2s\"",
    );
    assert!(refused(&toml, &[]).contains("timing.probe_timeout"));
    // A lease a healthy primary could lose when its vouchers' reports come a round late:
    // 2 x 1s + 2 x 800ms = 3.6s > 3s.
    let toml = replace(
        &replace(
            &example("natsdr.example.toml"),
            "probe_interval = \"500ms\"",
            "probe_interval = \"1s\"",
        ),
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
    let line = refused(&toml, &[]);
    assert!(
        line.contains("timing.self_fence_lease") && line.contains("3s 600ms"),
        "{line}"
    );
}

#[test]
fn stream_names_the_server_would_refuse_are_refused_here() {
    let toml = replace(
        &example("blue-green.example.toml"),
        "name = \"alerts_v1\"",
        "name = \"alerts.v1\"",
    );
    let line = refused(&toml, &[]);
    assert!(
        line.contains("streams[1].name") && line.contains("'.'"),
        "{line}"
    );
}

#[test]
fn inline_secrets_are_redacted_in_the_printed_config() {
    let toml = replace(
        &example("natsdr.example.toml"),
        "user = \"natsdr-sys\"\npassword_file = \"/var/run/secrets/natsdr/us-sys-password\"",
        "user = \"natsdr-sys\"\npassword = \"correct-horse-battery\"",
    );
    let out = check(&toml, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(!stdout.contains("correct-horse-battery"));
    assert!(stdout.contains("password = \"<redacted>\""));
}

#[test]
fn two_ways_to_authenticate_at_once_are_refused() {
    let toml = replace(
        &example("natsdr.example.toml"),
        "creds_file = \"/var/run/secrets/natsdr/us-app.creds\"",
        "creds_file = \"/var/run/secrets/natsdr/us-app.creds\"\ntoken_env = \"X\"",
    );
    assert!(refused(&toml, &[]).contains("regions[0].app"));
}

#[test]
fn a_failback_tail_policy_other_than_republish_or_keep_is_refused() {
    let toml = example("natsdr.example.toml");
    let line = refused(&toml, &[("NATSDR_FAILBACK__TAIL", "drop")]);
    assert!(
        line.contains("failback.tail") && line.contains("\"keep\""),
        "{line}"
    );
    let line = refused(&toml, &[("NATSDR_FAILBACK__RESEED_TIMEOUT", "0s")]);
    assert!(line.contains("failback.reseed_timeout"), "{line}");
    let keep = check(&toml, &[("NATSDR_FAILBACK__TAIL", "keep")]);
    let stdout = String::from_utf8(keep.stdout).unwrap();
    assert!(
        keep.status.success() && stdout.contains("tail = \"keep\""),
        "{stdout}"
    );
}

#[test]
fn a_relative_snapshot_dir_is_refused() {
    let toml = example("natsdr.example.toml");
    let line = refused(&toml, &[("NATSDR_WATCHDOG__SNAPSHOT_DIR", "snapshots")]);
    assert!(
        line.contains("watchdog.snapshot_dir") && line.contains("absolute"),
        "{line}"
    );
    let ok = check(
        &toml,
        &[("NATSDR_WATCHDOG__SNAPSHOT_DIR", "/var/lib/natsdr/snapshots")],
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

#[test]
fn depth_probes_every_zero_rounds_is_refused() {
    let toml = example("natsdr.example.toml");
    let line = refused(&toml, &[("NATSDR_TIMING__DEPTH_EVERY", "0")]);
    assert!(line.contains("timing.depth_every"), "{line}");
}

#[test]
fn a_self_unfence_hold_shorter_than_a_round_is_refused() {
    let toml = example("natsdr.example.toml");
    let line = refused(&toml, &[("NATSDR_TIMING__SELF_UNFENCE_AFTER", "400ms")]);
    assert!(line.contains("timing.self_unfence_after"), "{line}");
}

#[test]
fn timings_that_cannot_work_across_the_declared_round_trip_are_refused() {
    let toml = example("natsdr.example.toml");
    // The defaults hold across 200 ms (the far profile); 250 ms needs a longer probe timeout.
    check_ok(&toml, &[("NATSDR_TIMING__CROSS_REGION_RTT", "200ms")]);
    let line = refused(&toml, &[("NATSDR_TIMING__CROSS_REGION_RTT", "250ms")]);
    assert!(
        line.contains("timing.probe_timeout") && line.contains("cross_region_rtt"),
        "{line}"
    );
    let line = refused(
        &toml,
        &[
            ("NATSDR_TIMING__CROSS_REGION_RTT", "250ms"),
            ("NATSDR_TIMING__PROBE_TIMEOUT", "500ms"),
            ("NATSDR_TIMING__PROBE_INTERVAL", "600ms"),
            ("NATSDR_TIMING__SELF_FENCE_LEASE", "2300ms"),
            ("NATSDR_TIMING__PEER_STALE_AFTER", "1400ms"),
        ],
    );
    assert!(line.contains("timing.peer_stale_after"), "{line}");
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
        &replace(
            &example("natsdr.example.toml"),
            "auto_failover = true",
            "auto_failover = false",
        ),
        "auto_unfence = true",
        "auto_unfence = false",
    ));
    assert!(!manual.auto_failover);
    assert_eq!(manual.self_unfence_after, None);
}

#[test]
fn a_mirror_may_carry_its_sources_name_in_the_other_region() {
    let toml = replace(
        &example("natsdr.example.toml"),
        "name = \"events-eu-mirror\"",
        "name = \"events-us\"",
    );
    let out = check(&toml, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_consumer_sync_interval_out_of_bounds_exits_64_naming_the_key() {
    for bad in ["0s", "10m"] {
        let toml = format!(
            "{}\n[consumers]\nsync_interval = \"{bad}\"\n",
            example("natsdr.example.toml")
        );
        let line = refused(&toml, &[]);
        assert!(line.contains("consumers.sync_interval"), "{bad}: {line}");
    }
}

#[test]
fn a_consumer_name_pattern_no_consumer_could_match_exits_64_naming_the_key() {
    let toml = format!(
        "{}\n[consumers]\ninclude = [\"billing\", \"events.billing\"]\n",
        example("natsdr.example.toml")
    );
    let line = refused(&toml, &[]);
    assert!(line.contains("consumers.include[1]"), "{line}");
}

#[test]
fn a_consumers_section_with_patterns_is_accepted() {
    let toml = format!(
        "{}\n[consumers]\nsync_interval = \"2s\"\ninclude = [\"billing-*\", \"audit\"]\nexclude = [\"*-tmp\"]\n",
        example("natsdr.example.toml")
    );
    let out = check(&toml, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
        let line = refused(&replace(&example("natsdr.example.toml"), from, to), &[]);
        assert!(line.contains(key), "{to}: {line}");
    }
}

#[test]
fn a_kv_buckets_mirror_under_another_name_is_refused_naming_the_bucket() {
    let bucket = "\n[[streams]]\nname = \"KV_assignments\"\nregion = \"us-east-1\"\nsubjects = [\"$KV.assignments.>\"]\nretention = \"limits\"\nmax_bytes = \"1GiB\"\nreplicas = 3\n";
    let mirror = |name: &str| {
        format!(
            "{}{bucket}\n[[mirrors]]\nname = \"{name}\"\nregion = \"eu-central-1\"\nsource = \"KV_assignments\"\n",
            example("natsdr.example.toml")
        )
    };
    let line = refused(&mirror("KV_assignments_dr"), &[]);
    assert!(
        line.contains("mirrors[3].name") && line.contains("\"assignments\""),
        "{line}"
    );
    check_ok(&mirror("KV_assignments"), &[]);
}
