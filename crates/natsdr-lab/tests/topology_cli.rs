//! `natsdr-lab lab up`, `plan` and `apply` as an operator runs them, against the real lab.
//! Needs nats-server and BIND (make deps): without them this fails, never skips.
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use natsdr::config::Config;
use natsdr::nats::RegionClients;
use serde_json::json;

fn natsdr(args: &[&str]) -> Output {
    Command::new(natsdr_lab::lab::find_natsdr().expect("the natsdr binary"))
        .args(args)
        .output()
        .unwrap()
}

fn lab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_natsdr-lab"))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Stops the lab even when an assertion fails.
struct Down<'a>(&'a Path);
impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = lab(&["lab", "down", "--dir", self.0.to_str().unwrap()]);
    }
}

#[tokio::test]
async fn plan_reports_drift_with_exit_2_and_apply_fixes_it_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("lab");
    let d = dir.to_str().unwrap();
    let _down = Down(&dir);
    let up = lab(&["lab", "up", "--dir", d]);
    assert!(up.status.success(), "{}", text(&up));
    let config = dir.join("natsdr.toml");
    let c = config.to_str().unwrap();

    let plan = natsdr(&["plan", "--config", c]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    assert!(text(&plan).contains("no drift"));

    // A manual change, as an operator with the nats CLI would make it.
    let cfg = Config::load(&config).unwrap();
    let us = RegionClients::for_region(cfg.primary(), "test", Duration::from_secs(5))
        .await
        .unwrap();
    let mut info = us.js.stream_info("audit-us").await.unwrap().config;
    info.set("max_age", json!(3_600_000_000_000_u64));
    us.js.stream_update(&info).await.unwrap();

    let plan = natsdr(&["plan", "--config", c]);
    assert_eq!(plan.status.code(), Some(2), "{}", text(&plan));
    assert!(
        text(&plan).contains("audit-us") && text(&plan).contains("max_age"),
        "{}",
        text(&plan)
    );

    let apply = natsdr(&["apply", "--config", c]);
    assert!(apply.status.success(), "{}", text(&apply));
    assert!(text(&apply).contains("audit-us"), "{}", text(&apply));
    let again = natsdr(&["apply", "--config", c]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(text(&again).contains("no change"), "{}", text(&again));
    assert_eq!(natsdr(&["plan", "--config", c]).status.code(), Some(0));

    let status = lab(&["lab", "status", "--dir", d]);
    assert!(status.status.success(), "{}", text(&status));
    assert!(
        text(&status).contains("us-east-1-0") && text(&status).contains("running"),
        "{}",
        text(&status)
    );
    let down = lab(&["lab", "down", "--dir", d]);
    assert!(down.status.success(), "{}", text(&down));
    let status = text(&lab(&["lab", "status", "--dir", d]));
    assert!(!status.contains("running"), "{status}");
}
