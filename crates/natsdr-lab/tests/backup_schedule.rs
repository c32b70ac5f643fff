//! The watchdog's backup schedule against a real nats-server and S3 stores: two watchdogs racing
//! for the same slot take one set between them (the slot's lease is an exclusive write on the
//! target), and either one alone takes the next slot; a watchdog whose target refuses its
//! credentials counts the failure and leaves nothing on the target; a failed run that cannot
//! remove what it saved says the set is left behind. The race runs on ministack's
//! S3, whose `If-None-Match` is atomic as S3's is (s3s-fs's is not: docs/backup-store.md); the
//! rest on s3s-fs, which checks signatures. Needs nats-server, ministack and s3s-fs (make deps):
//! fails without them.
mod common;

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::time::Duration;

use natsdr::backup::{BackupMetrics, Scheduler, Target};
use natsdr::config::{Backup, BackupFrom, BackupItem, BackupTarget};
use natsdr::model::{Region, StreamName};
use natsdr::nats::{JsApi, StreamConfig};
use natsdr_lab::testkit::ministack::{Ministack, sdk_config};
use natsdr_lab::testkit::s3_server::{ACCESS_KEY, S3Server};

const BUCKET: &str = "natsdr-backups";

fn s3(client: &aws_sdk_s3::Client) -> Target {
    Target::S3 {
        client: client.clone(),
        bucket: BUCKET.into(),
        prefix: "wd".into(),
    }
}

fn scheduler(target: Target, js: JsApi, who: &str) -> Scheduler {
    let eu = Region::new("eu-central-1").unwrap();
    let orders = StreamName::new("orders").unwrap();
    let backup = Backup {
        // What the config said; the scheduler uses `target` below, opened by the test.
        target: BackupTarget::S3 {
            bucket: BUCKET.into(),
            prefix: "wd".into(),
            endpoint_url: None,
            path_style: true,
            aws_region: "us-east-1".into(),
        },
        target_region: eu.clone(),
        schedule: Duration::from_secs(3600),
        keep: NonZeroU32::new(5).unwrap(),
        from: BackupFrom::Own,
        items: vec![BackupItem {
            stream: orders.clone(),
            region: eu.clone(),
            snapshot_stream: orders,
            snapshot_region: eu.clone(),
            subjects: vec!["orders.>".into()],
            gdpr: false,
        }],
    };
    Scheduler {
        backup,
        target,
        regions: BTreeMap::from([(eu, js)]),
        taken_by: who.to_owned(),
        metrics: BackupMetrics::default(),
    }
}

/// A one-node server with stream `orders` holding 20 messages.
async fn orders() -> (common::Server, JsApi) {
    let server = common::Server::start(common::Opts {
        domain: "EU",
        leaf_listen: false,
        leaf_remote: None,
    });
    let js = server.js().await;
    let cfg: StreamConfig = serde_json::from_value(serde_json::json!({
        "name": "orders", "subjects": ["orders.>"], "storage": "file", "num_replicas": 1
    }))
    .unwrap();
    js.stream_create(&cfg).await.unwrap();
    for i in 0..20 {
        js.client()
            .request("orders.new", format!("{i}").into())
            .await
            .unwrap();
    }
    (server, js)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_watchdogs_racing_for_a_slot_take_one_set_and_either_alone_takes_the_next() {
    let (_server, js) = orders().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Ministack::start_services(dir.path(), "s3").expect("ministack is installed");
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk_config(&store.url()))
            .force_path_style(true)
            .build(),
    );
    client.create_bucket().bucket(BUCKET).send().await.unwrap();
    let us = scheduler(s3(&client), js.clone(), "natsdr-us");
    let eu = scheduler(s3(&client), js.clone(), "natsdr-eu");

    let (a, b) = tokio::join!(us.run_slot(7), eu.run_slot(7));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(
        a.is_some() != b.is_some(),
        "exactly one takes the slot: {a:?} {b:?}"
    );
    let winner = a.or(b).unwrap();
    assert_eq!(winner.streams[0].messages, 20);
    let sets = s3(&client).list_dirs("sets").await.unwrap();
    assert_eq!(sets, vec![winner.set.clone()]);
    let (won, lost) = if winner.taken_by == "natsdr-us" {
        (&us, &eu)
    } else {
        (&eu, &us)
    };
    assert!(won.metrics.last_success.get() > 0);
    assert_eq!(lost.metrics.last_success.get(), 0);
    // The loser reads the winner's set from the target, so both report it.
    lost.refresh().await;
    let finished = time::OffsetDateTime::parse(
        &winner.finished_at,
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
    .unix_timestamp();
    assert_eq!(lost.metrics.last_success.get(), finished);

    // The loser alone takes the next slot (set ids are per second).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let next = lost.run_slot(8).await.unwrap().expect("slot 8 is free");
    assert_ne!(next.taken_by, winner.taken_by);
    assert_eq!(
        lost.metrics.last_bytes.get(),
        i64::try_from(next.streams[0].bytes).unwrap()
    );
}

/// Every key in the bucket, sorted.
async fn keys(client: &aws_sdk_s3::Client) -> Vec<String> {
    common::s3::keys(client, BUCKET).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watchdog_whose_target_refuses_its_secret_counts_the_failure_and_writes_nothing() {
    let (_server, js) = orders().await;
    let dir = tempfile::tempdir().unwrap();
    let store = S3Server::start(dir.path()).expect("s3s-fs is installed (make deps)");
    let good = store.client();
    good.create_bucket().bucket(BUCKET).send().await.unwrap();

    let mut registry = prometheus_client::registry::Registry::default();
    let mut wrong = scheduler(
        s3(&store.client_as(ACCESS_KEY, "not-the-secret")),
        js.clone(),
        "natsdr-eu",
    );
    wrong.metrics = BackupMetrics::register(&mut registry);
    assert!(wrong.attempt(9).await, "the attempt fails");
    assert!(wrong.attempt(9).await, "and again on retry");
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(
        text.lines().any(|l| l == "natsdr_backup_failures_total 2"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l == "natsdr_backup_last_success_timestamp_seconds 0"),
        "{text}"
    );
    // Refused at the first request (the slot's lease): no lease, no partial set.
    assert_eq!(keys(&good).await, Vec::<String>::new());

    // The same watchdog with the right secret takes the slot: the lease, the snapshot, the
    // manifest; the failures stay counted.
    let right = Scheduler {
        target: s3(&good),
        ..wrong
    };
    assert!(!right.attempt(9).await, "the attempt succeeds");
    let set = right.target.list_dirs("sets").await.unwrap();
    assert_eq!(set.len(), 1, "{set:?}");
    assert_eq!(
        keys(&good).await,
        vec![
            "wd/leases/000000000009".to_owned(),
            format!("wd/sets/{}/manifest.json", set[0]),
            format!("wd/sets/{}/orders.tar.s2", set[0]),
        ]
    );
    assert_eq!(right.metrics.failures.get(), 2);
    assert!(right.metrics.last_success.get() > 0);
}

/// Fails every DeleteObject before it is sent: a store that takes writes but not deletes.
#[derive(Debug)]
struct NoDeletes;

impl aws_sdk_s3::config::Intercept for NoDeletes {
    fn name(&self) -> &'static str {
        "NoDeletes"
    }

    fn read_before_execution(
        &self,
        ctx: &aws_sdk_s3::config::interceptors::BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut aws_sdk_s3::config::ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        match ctx
            .input()
            .downcast_ref::<aws_sdk_s3::operation::delete_object::DeleteObjectInput>()
        {
            Some(_) => Err("deletes refused by the test".into()),
            None => Ok(()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_failing_after_a_saved_stream_whose_objects_cannot_be_removed_says_the_set_is_left() {
    let (_server, js) = orders().await;
    let dir = tempfile::tempdir().unwrap();
    let store = S3Server::start(dir.path()).expect("s3s-fs is installed (make deps)");
    let good = store.client();
    good.create_bucket().bucket(BUCKET).send().await.unwrap();
    let no_deletes =
        aws_sdk_s3::Client::from_conf(good.config().to_builder().interceptor(NoDeletes).build());
    let mut s = scheduler(s3(&no_deletes), js.clone(), "natsdr-eu");
    // `orders` is saved, then `ghost` does not exist on the server.
    let mut ghost = s.backup.items[0].clone();
    ghost.stream = StreamName::new("ghost").unwrap();
    ghost.snapshot_stream = ghost.stream.clone();
    s.backup.items.push(ghost);
    let regions = BTreeMap::from([(Region::new("eu-central-1").unwrap(), js)]);
    let err = natsdr::backup::Taker {
        backup: &s.backup,
        regions: &regions,
        target: &s.target,
        taken_by: "natsdr-eu",
    }
    .take(time::OffsetDateTime::now_utc())
    .await
    .unwrap_err();
    let text = natsdr::error_chain(&err);
    assert!(
        matches!(
            err,
            natsdr::backup::BackupError::LeftIncomplete { saved: 1, .. }
        ),
        "{text}"
    );
    assert!(
        text.contains("1 saved object(s) could not be removed")
            && text.contains("left on the target, listed as incomplete")
            && text.contains("ghost"),
        "{text}"
    );
    // What it says is so: the object is there, without a manifest.
    let set = s.target.list_dirs("sets").await.unwrap();
    assert_eq!(
        keys(&good).await,
        vec![format!("wd/sets/{}/orders.tar.s2", set[0])]
    );
}
