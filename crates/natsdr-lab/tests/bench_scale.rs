//! `natsdr-lab bench --only scale` at a small size on the real lab (nats-server, BIND, three
//! natsdr watchdogs): natsdr's executor and the plain client's loops, sequential and concurrent,
//! each promote a fresh set of every generated mirror, and the server then holds every one of
//! them promoted. Needs nats-server and BIND (make deps): without them this fails, never skips.
//! Timings are printed, never asserted.
use std::process::Command;

const STREAMS: u64 = 20;

#[test]
fn natsdr_and_the_plain_client_loops_each_promote_every_generated_mirror() {
    let tmp = tempfile::tempdir().unwrap();
    let (json, md) = (tmp.path().join("results.json"), tmp.path().join("BENCH.md"));
    let out = Command::new(env!("CARGO_BIN_EXE_natsdr-lab"))
        .args([
            "bench",
            "--only",
            "scale",
            "--wan",
            "lan",
            "--window-secs",
            "2",
        ])
        .args(["--streams", &STREAMS.to_string()])
        .arg("--json")
        .arg(&json)
        .arg("--markdown")
        .arg(&md)
        .output()
        .expect("natsdr-lab runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    println!("{stderr}");

    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let f = &r["footprint"][0];
    assert_eq!(f["streams"], STREAMS, "{f:#}");
    assert!(f["error"].is_null(), "{f:#}");
    // Read back from the server after each promotion, not what the promoting client believed.
    for who in ["natsdr", "baseline_sequential", "baseline_concurrent"] {
        assert_eq!(f["promoted"][who], STREAMS, "{who}: {f:#}");
    }
    for figure in [
        "promote_ms",
        "baseline_promote_sequential_ms",
        "baseline_promote_concurrent_ms",
        "baseline_read_ms",
        "baseline_list_ms",
    ] {
        assert!(f[figure].is_u64(), "{figure}: {f:#}");
    }
    assert!(f["probe_round_ms"]["eu-central-1"].is_f64(), "{f:#}");

    let text = std::fs::read_to_string(&md).unwrap();
    assert!(
        text.contains("## Scale: one watchdog at N mirrored streams"),
        "{text}"
    );
    let row = format!("| {STREAMS} |");
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with(&row)).collect();
    assert_eq!(rows.len(), 2, "a footprint row and a floor row: {text}");
    assert!(
        rows[1].ends_with(&format!("| {STREAMS} / {STREAMS} / {STREAMS} |")),
        "{}",
        rows[1]
    );
}
