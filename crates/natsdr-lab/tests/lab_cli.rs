//! `natsdr-lab lab` driven by hand, as a person would from a shell: a lab up on the transatlantic
//! profile, paths cut, slowed and healed back to their baseline, a node killed and restarted,
//! all shown by `natsdr-lab lab status`. Runs the real binary on real nats-server and BIND
//! (`make deps`): without them this fails, never skips.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use natsdr_lab::lab::{LabManifest, LabRegion, Site};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

fn natsdr(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_natsdr-lab"))
        .args(args)
        .arg("--dir")
        .arg(dir)
        .output()
        .expect("natsdr runs")
}

fn ok(args: &[&str], dir: &Path) -> String {
    let out = natsdr(args, dir);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "natsdr {args:?} failed: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `natsdr-lab lab down` when the test ends, passed or not: the CLI's lab has no owner to reap it.
struct Down(PathBuf);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = natsdr(&["lab", "down"], &self.0);
    }
}

/// The status line of `path`: `<path> <baseline> <fault>`.
fn line<'a>(status: &'a str, path: &str) -> &'a str {
    status
        .lines()
        .find(|l| l.split_whitespace().next() == Some(path))
        .unwrap_or_else(|| panic!("no line for {path} in:\n{status}"))
}

/// How long the first byte (nats-server's INFO) takes to come back through a proxied URL.
async fn first_byte(url: &str) -> Duration {
    let addr = url.trim_start_matches("nats://");
    let t = Instant::now();
    let mut s = TcpStream::connect(addr).await.expect("the proxy accepts");
    let mut buf = [0u8; 1];
    timeout(Duration::from_secs(5), s.read_exact(&mut buf))
        .await
        .expect("INFO arrives")
        .expect("read");
    t.elapsed()
}

#[tokio::test]
async fn a_lab_driven_by_hand_shows_each_fault_and_heals_back_to_its_profile() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("lab");
    let _down = Down(dir.clone());
    let up = ok(&["lab", "up", "--wan", "transatlantic"], &dir);
    assert!(up.contains("transatlantic network"), "{up}");

    let status = ok(&["lab", "status"], &dir);
    assert!(
        status.contains("network profile: transatlantic (+45ms +-5ms between places)"),
        "{status}"
    );
    assert_eq!(
        line(&status, "leaf").split_whitespace().collect::<Vec<_>>(),
        ["leaf", "+45ms", "+-5ms", "none"]
    );
    // A region's own watchdog and the client entry points carry no baseline.
    assert_eq!(
        line(&status, "wd:us->us-east-1")
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["wd:us->us-east-1", "none", "none"]
    );
    assert_eq!(
        line(&status, "client-us")
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["client-us", "none", "none"]
    );

    // The baseline is really in force: the witness is far from US, its own watchdog is not.
    let m = LabManifest::load(&dir).expect("lab.json");
    let far = m.watchdog(Site::Witness).region_urls[&LabRegion::Us][0].clone();
    let near = m.watchdog(Site::Us).region_urls[&LabRegion::Us][0].clone();
    let baseline = first_byte(&far).await;
    assert!(baseline >= Duration::from_millis(40), "{baseline:?}");
    println!(
        "first byte: {baseline:?} across the WAN, {:?} in the region",
        first_byte(&near).await
    );

    ok(&["lab", "cut", "leaf"], &dir);
    let status = ok(&["lab", "status"], &dir);
    assert!(line(&status, "leaf").ends_with("cut"), "{status}");
    ok(&["lab", "heal", "leaf"], &dir);
    let status = ok(&["lab", "status"], &dir);
    assert!(line(&status, "leaf").ends_with("none"), "{status}");
    assert!(line(&status, "leaf").contains("+45ms"), "{status}");

    let slowed = ok(
        &[
            "lab",
            "slow",
            "wd:witness->us",
            "--ms",
            "300",
            "--jitter-ms",
            "20",
        ],
        &dir,
    );
    assert!(slowed.contains("fault +300ms +-20ms"), "{slowed}");
    let slow = first_byte(&far).await;
    assert!(slow >= Duration::from_millis(320), "{slow:?}");
    ok(&["lab", "heal", "wd:witness->us-east-1"], &dir);
    // Healed to the profile, not to zero.
    let healed = first_byte(&far).await;
    assert!(healed >= Duration::from_millis(40), "{healed:?}");

    ok(&["lab", "kill", "us:2"], &dir);
    let status = ok(&["lab", "status"], &dir);
    assert!(line(&status, "us-east-1-2").contains("stopped"), "{status}");
    ok(&["lab", "restart", "us-east-1-2"], &dir);
    let status = ok(&["lab", "status"], &dir);
    assert!(line(&status, "us-east-1-2").contains("running"), "{status}");

    for (args, names) in [
        (vec!["lab", "cut", "moon"], "leaf, client-us"),
        (vec!["lab", "kill", "us:7"], "us-east-1-0..2"),
        (vec!["lab", "slow", "leaf", "--ms", "x"], "invalid value"),
    ] {
        let out = natsdr(&args, &dir);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(names), "{args:?}: {stderr}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_natsdr-lab"))
        .args(["lab", "up", "--wan", "moon", "--dir"])
        .arg(tmp.path().join("other"))
        .output()
        .expect("natsdr runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("lan") && stderr.contains("transatlantic") && stderr.contains("far"),
        "{stderr}"
    );

    ok(&["lab", "down"], &dir);
    let status = ok(&["lab", "status"], &dir);
    assert!(!status.contains("running"), "{status}");
}

#[test]
fn a_lab_that_cannot_start_shows_how_the_node_ended_and_its_own_log() {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = tempfile::tempdir().expect("temp dir");
    let fake = tmp.path().join("nats-server");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'starting'\necho 'Error listening on port: 4222, \"address already in use\"'\nexit 1\n",
    )
    .expect("write");
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let dir = tmp.path().join("lab");
    let _down = Down(dir.clone());
    let out = Command::new(env!("CARGO_BIN_EXE_natsdr-lab"))
        .args(["lab", "up", "--dir"])
        .arg(&dir)
        .env("NATSDR_NATS_SERVER", &fake)
        .output()
        .expect("natsdr runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("exited with status 1"), "{stderr}");
    assert!(stderr.contains("address already in use"), "{stderr}");
}

#[test]
fn a_lab_from_a_config_natsdr_refuses_exits_64_naming_the_key_and_starts_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = tmp.path().join("bad.toml");
    std::fs::write(
        &config,
        "[watchdog]\nid = \"x\"\nregion = \"blue\"\n\n[[regions]]\nname = \"blue\"\nhome = \"primary\"\n",
    )
    .expect("write");
    let dir = tmp.path().join("lab");
    let out = Command::new(env!("CARGO_BIN_EXE_natsdr-lab"))
        .args(["lab", "up", "--config"])
        .arg(&config)
        .arg("--dir")
        .arg(&dir)
        .output()
        .expect("natsdr-lab runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(
        stderr.contains("regions") && stderr.contains("domain"),
        "{stderr}"
    );
    assert!(!dir.join("lab.json").exists(), "a lab was started");
}
