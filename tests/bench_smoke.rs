//! `natsdr bench` end to end at the smallest size, so CI proves `make bench` works: one
//! region-loss run on the aggressive profile and one watchdog's footprint at 5 mirrored streams,
//! on the real lab (nats-server, BIND, three natsdr watchdogs). Needs nats-server and BIND
//! (make deps): without them this fails, never skips. Timings are printed, never asserted.
use std::process::Command;

#[test]
fn a_tiny_bench_writes_the_json_and_the_markdown_with_every_figure_measured() {
    let tmp = tempfile::tempdir().unwrap();
    let (json, md) = (
        tmp.path().join("out/results.json"),
        tmp.path().join("BENCH.md"),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_natsdr"))
        .args([
            "bench",
            "--runs",
            "1",
            "--profiles",
            "aggressive",
            "--switchovers",
            "0",
            "--sizes",
            "5",
            "--window-secs",
            "2",
        ])
        .arg("--json")
        .arg(&json)
        .arg("--markdown")
        .arg(&md)
        .output()
        .expect("natsdr runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    println!("{stdout}");

    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap())
        .unwrap_or_else(|e| panic!("not JSON ({e})"));
    assert!(
        r["nats_version"].as_str().is_some_and(|v| !v.is_empty()),
        "{r:#}"
    );
    let rto = &r["rto"][0];
    assert_eq!(rto["profile"], "aggressive");
    assert_eq!(rto["failures"], serde_json::json!([]), "{rto:#}");
    assert_eq!(rto["total"]["n"], 1, "{rto:#}");
    for step in ["fence", "promote", "dns"] {
        assert!(
            rto["steps"][step]["median"].is_u64(),
            "step {step}: {rto:#}"
        );
    }
    let f = &r["footprint"][0];
    assert_eq!(f["streams"], 5);
    assert!(f["error"].is_null(), "{f:#}");
    assert!(f["rss_kib"].as_u64().is_some_and(|k| k > 0), "{f:#}");
    assert!(f["cpu_percent"].is_f64(), "{f:#}");
    assert!(f["probe_round_ms"]["eu-central-1"].is_f64(), "{f:#}");
    assert!(f["promote_ms"].is_u64(), "{f:#}");
    assert_eq!(r["targets"].as_array().map(Vec::len), Some(6), "{r:#}");

    let text = std::fs::read_to_string(&md).unwrap();
    assert!(text.contains(&format!(
        "nats-server {}",
        r["nats_version"].as_str().unwrap()
    )));
    assert!(text.contains("### Profile `aggressive`"), "{text}");
}
