//! `natsdr backup` on the real lab (two 3-node NATS regions): a run whose S3 secret is wrong
//! exits 1 naming the target and the refusal, and writes nothing; a run failing at its last
//! stream names it and leaves no partial set; a set taken to a real
//! S3-compatible server (s3s-fs, which checks signatures) verifies and drills into a scratch
//! server; a flipped byte fails verification naming the object; a closed port is "unreachable";
//! after losing both regions, the last set restored into a fresh server holds every message
//! acked before the backup. Needs nats-server and s3s-fs (make deps): without them these fail,
//! never skip.
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::lab::{Fixture, eu, lab, us};
use common::s3::{keys, object};
use natsdr_lab::lab::LabRegion;
use natsdr_lab::testkit::s3_server::{ACCESS_KEY, S3Server, SECRET_KEY};

/// The lab's streams and where each is read from by default (`from = "standby"`): the mirror
/// for mirrored streams, the stream itself otherwise. A restore recreates the snapshotted name.
const RESTORED_AS: [(&str, &str); 6] = [
    ("events-us", "events-eu-mirror"),
    ("audit-us", "audit-eu-mirror"),
    ("metrics-us", "metrics-eu-mirror"),
    ("notifications-us", "notifications-us"),
    ("events-eu-gdpr", "events-eu-gdpr"),
    ("audit-eu-gdpr", "audit-eu-gdpr"),
];

/// One acked publish: the stream, its sequence, its payload.
struct Acked {
    stream: String,
    seq: u64,
    payload: String,
}

struct Setup {
    fx: Fixture,
    acked: Vec<Acked>,
}

/// A lab with the topology applied, acked messages in every stream (US sources and EU GDPR
/// streams), a durable consumer on a GDPR stream, and every mirror caught up.
async fn setup() -> Setup {
    let fx = lab().up().await;
    let apis = fx.apis();
    let mut acked = Vec::new();
    for (region, subjects) in [
        (
            us(),
            &[
                "events.created",
                "audit.login",
                "metrics.cpu",
                "notifications.email",
            ][..],
        ),
        (eu(), &["gdpr.erasure", "eu.audit.read"][..]),
    ] {
        let ctx = async_nats::jetstream::new(apis[&region].client().clone());
        for i in 0..40 {
            for subj in subjects {
                let payload = format!("{subj} #{i}");
                let ack = ctx
                    .publish(subj.to_string(), payload.clone().into())
                    .await
                    .unwrap()
                    .await
                    .unwrap();
                acked.push(Acked {
                    stream: ack.stream,
                    seq: ack.sequence,
                    payload,
                });
            }
        }
    }
    let eu_js = &apis[&eu()];
    let _: serde_json::Value = eu_js
        .call(
            "CONSUMER.CREATE.events-eu-gdpr.reader",
            serde_json::json!({
                "stream_name": "events-eu-gdpr",
                "config": {"durable_name": "reader", "ack_policy": "explicit"}
            }),
        )
        .await
        .unwrap();
    // Every mirror caught up with its source, so a backup from the standby holds every ack.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    for (source, mirror) in &RESTORED_AS[..3] {
        let want = apis[&us()]
            .stream_info(source)
            .await
            .unwrap()
            .state
            .last_seq;
        loop {
            let got = eu_js.stream_info(mirror).await.unwrap().state.last_seq;
            if got >= want {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{mirror} stuck at {got} of {want}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Setup { fx, acked }
}

/// The lab's operator config with `section` appended, written next to the lab.
fn config_with(s: &Setup, name: &str, section: &str) -> PathBuf {
    let base = std::fs::read_to_string(&s.fx.lab.manifest().natsdr_config).unwrap();
    let path = s.fx.tmp.path().join(name);
    std::fs::write(&path, format!("{base}\n{section}\n")).unwrap();
    path
}

/// Runs `natsdr backup <args>` with the test server's S3 key (nothing leaves this machine) and
/// no instance-metadata lookups.
fn natsdr(args: &[&str]) -> Output {
    natsdr_with_secret(args, SECRET_KEY)
}

/// Runs `natsdr backup <args>` signing with `secret` for the test server's access key.
fn natsdr_with_secret(args: &[&str], secret: &str) -> Output {
    Command::new(natsdr_lab::lab::find_natsdr().expect("the natsdr binary"))
        .arg("backup")
        .args(args)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(args: &[&str]) -> String {
    let out = natsdr(args);
    assert!(
        out.status.success(),
        "natsdr backup {args:?}: {}",
        text(&out)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_run_verify_and_drill_pass_against_real_s3_and_a_wrong_secret_or_a_flipped_byte_fail_naming_what()
 {
    let s = setup().await;
    let store = S3Server::start(s.fx.tmp.path()).expect("s3s-fs is installed (make deps)");
    let s3 = store.client();
    s3.create_bucket()
        .bucket("natsdr-backups")
        .send()
        .await
        .unwrap();
    let section = format!(
        "[backup]\ntarget = \"s3://natsdr-backups/lab\"\nregion = \"eu-central-1\"\n\
         endpoint_url = \"{}\"\npath_style = true\naws_region = \"us-east-1\"\nschedule = \"1h\"\nkeep = 2",
        store.url()
    );
    let cfg = config_with(&s, "backup-s3.toml", &section);
    let c = arg(&cfg);

    // A wrong secret: refused at the first write, named, and nothing is left on the target.
    let out = natsdr_with_secret(&["run", "--config", c], "not-the-secret");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("s3://natsdr-backups/lab: access denied (SignatureDoesNotMatch)"),
        "{all}"
    );
    let left = keys(&s3, "natsdr-backups").await;
    assert!(left.is_empty(), "{left:?}");
    let out = natsdr_with_secret(&["list", "--config", c], "not-the-secret");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("access denied"), "{}", text(&out));

    // A stream that fails after others were uploaded: the run names it, and the partial set
    // is removed (no object under sets/), so nothing half-written is left behind.
    let ghost = config_with(
        &s,
        "backup-ghost.toml",
        &format!(
            "{section}\n[[streams]]\nname = \"ghost-us\"\nregion = \"us-east-1\"\nsubjects = [\"ghost.>\"]"
        ),
    );
    let out = natsdr(&["run", "--config", arg(&ghost)]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("ghost-us"), "{all}");
    let left = keys(&s3, "natsdr-backups").await;
    assert!(left.is_empty(), "{left:?}");

    let run = ok(&["run", "--config", c]);
    assert!(run.contains("complete: 6 streams"), "{run}");
    let list = ok(&["list", "--config", c]);
    assert!(list.contains("6 streams, 240 messages"), "{list}");
    let verify = ok(&["verify", "--config", c]);
    assert!(verify.contains("6 objects intact"), "{verify}");

    let scratch = common::Server::start(common::Opts {
        domain: "SCRATCH",
        leaf_listen: false,
        leaf_remote: None,
    });
    scratch.js().await;
    let url = format!("nats://app:app@127.0.0.1:{}", scratch.port);
    let drill = ok(&["drill", "--config", c, "--url", &url]);
    assert!(drill.contains("drill passed"), "{drill}");
    assert_eq!(drill.matches("pass  ").count(), 6, "{drill}");

    // One flipped byte in one object: verify names exactly that object.
    let set = list.split_whitespace().next().unwrap().to_owned();
    let key = format!("lab/sets/{set}/events-eu-mirror.tar.s2");
    let body = object(&s3, "natsdr-backups", &key).await;
    let mut flipped = body.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x01;
    s3.put_object()
        .bucket("natsdr-backups")
        .key(&key)
        .body(flipped.into())
        .send()
        .await
        .unwrap();
    let out = natsdr(&["verify", "--config", c]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains(&format!("FAILED  sets/{set}/events-eu-mirror.tar.s2"))
            && all.contains("corrupted"),
        "{all}"
    );
    assert_eq!(all.matches("FAILED").count(), 1, "{all}");
    // A restore from the corrupted set refuses before touching the server.
    let out = natsdr(&["drill", "--config", c, "--url", &url, "--replace"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("events-eu-mirror.tar.s2: corrupted"), "{all}");

    // Retention: two more sets with keep = 2 leave the two newest (set ids are per second).
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        ok(&["run", "--config", c]);
    }
    let list = ok(&["list", "--config", c]);
    assert_eq!(list.lines().count(), 2, "{list}");
    assert!(!list.contains(&set), "{list}");

    // An unreachable store (a closed port) is an error that says so, naming the target.
    drop(store);
    for cmd in ["verify", "run"] {
        let out = natsdr(&[cmd, "--config", c]);
        let all = text(&out);
        assert_eq!(out.status.code(), Some(1), "{all}");
        assert!(
            all.contains("s3://natsdr-backups/lab: unreachable"),
            "{all}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_losing_both_regions_the_last_set_restored_into_a_fresh_server_holds_every_acked_message()
 {
    let mut s = setup().await;
    let dir = s.fx.tmp.path().join("backups");
    let cfg = config_with(
        &s,
        "backup-dir.toml",
        &format!(
            "[backup]\ntarget = \"dir://{}\"\nregion = \"eu-central-1\"",
            dir.display()
        ),
    );
    let run = ok(&["run", "--config", arg(&cfg)]);
    assert!(run.contains("complete: 6 streams"), "{run}");

    s.fx.lab.kill_region(LabRegion::Us).await.unwrap();
    s.fx.lab.kill_region(LabRegion::Eu).await.unwrap();

    // A fresh one-node server stands in for the rebuilt EU region.
    let fresh = common::Server::start(common::Opts {
        domain: "EU2",
        leaf_listen: false,
        leaf_remote: None,
    });
    let fresh_js = fresh.js().await;
    let mut doc: toml::Table = std::fs::read_to_string(&cfg).unwrap().parse().unwrap();
    for r in doc["regions"].as_array_mut().unwrap() {
        let r = r.as_table_mut().unwrap();
        if r["name"].as_str() == Some("eu-central-1") {
            r.insert(
                "client_urls".into(),
                toml::Value::Array(vec![fresh.url().into()]),
            );
            for (account, user) in [("app", "app"), ("system", "sys")] {
                let mut t = toml::Table::new();
                t.insert("user".into(), user.into());
                t.insert("password".into(), user.into());
                r.insert(account.into(), t.into());
            }
        }
    }
    let rebuilt = s.fx.tmp.path().join("rebuilt.toml");
    std::fs::write(&rebuilt, toml::to_string(&doc).unwrap()).unwrap();
    let r = arg(&rebuilt);

    let out = ok(&[
        "restore",
        "--config",
        r,
        "--region",
        "eu-central-1",
        "--replicas",
        "1",
    ]);
    assert!(
        out.contains("restored into eu-central-1: 6 streams"),
        "{out}"
    );

    let restored_as: BTreeMap<&str, &str> = RESTORED_AS.into_iter().collect();
    for a in &s.acked {
        let name = restored_as[a.stream.as_str()];
        let m = fresh_js
            .stream_msg_get(name, a.seq)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{} seq {} (acked) missing from {name}", a.stream, a.seq));
        use base64::Engine as _;
        let data = base64::engine::general_purpose::STANDARD
            .decode(m.data.unwrap_or_default())
            .unwrap();
        assert_eq!(String::from_utf8(data).unwrap(), a.payload);
    }
    assert_eq!(s.acked.len(), 240);
    // The consumer came back with its stream, and the restored mirror takes writes.
    assert_eq!(
        fresh_js.consumer_names("events-eu-gdpr").await.unwrap(),
        vec!["reader".to_owned()]
    );
    let ack = async_nats::jetstream::new(fresh_js.client().clone())
        .publish("events.created", "after".into())
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(ack.stream, "events-eu-mirror");

    // A set written by a newer natsdr is refused by name, not guessed at.
    let newer = dir.join("sets/29991231T000000Z");
    std::fs::create_dir_all(&newer).unwrap();
    std::fs::write(newer.join("manifest.json"), r#"{"format": 2}"#).unwrap();
    let out = natsdr(&["verify", "--config", r]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("29991231T000000Z") && all.contains("newer than this natsdr"),
        "{all}"
    );
    std::fs::remove_dir_all(&newer).unwrap();

    // A second restore refuses to overwrite, and says nothing was restored.
    let again = natsdr(&["restore", "--config", r, "--region", "eu-central-1"]);
    let all = text(&again);
    assert_eq!(again.status.code(), Some(1), "{all}");
    assert!(
        all.contains("refusing to overwrite") && all.contains("nothing was restored"),
        "{all}"
    );
}
