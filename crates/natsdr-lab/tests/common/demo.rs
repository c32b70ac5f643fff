//! `natsdr-lab demo` as a subprocess: its JSON report, and its exit code checked against it.
use std::process::Command;

/// Runs `natsdr-lab demo --scenario SCENARIO --json EXTRA...` and returns its report, after
/// checking that the exit code says what the report's `ok` says.
pub fn demo_with(scenario: &str, extra: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_natsdr-lab"))
        .args(["demo", "--scenario", scenario, "--json"])
        .args(extra)
        .output()
        .expect("natsdr-lab runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("not one JSON object ({e}): {stdout}\nstderr: {stderr}"));
    println!("{scenario}: {report:#}");
    assert_eq!(
        out.status.code(),
        Some(if report["ok"] == true { 0 } else { 1 }),
        "exit code disagrees with the report: {report:#}\nstderr: {stderr}"
    );
    report
}

/// A count in the report.
pub fn u(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}
