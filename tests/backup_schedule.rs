//! The watchdog's backup schedule against a real nats-server: two watchdogs racing for the same
//! slot take one set between them (the slot's lease is an exclusive write on the target), and
//! either one alone takes the next slot. Needs nats-server (make deps): fails without it.
mod common;

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::time::Duration;

use natsdr::backup::{BackupMetrics, Scheduler, Target};
use natsdr::config::{Backup, BackupFrom, BackupItem, BackupTarget};
use natsdr::model::{Region, StreamName};
use natsdr::nats::StreamConfig;

fn scheduler(dir: &std::path::Path, js: natsdr::nats::JsApi, who: &str) -> Scheduler {
    let eu = Region::new("eu-central-1").unwrap();
    let orders = StreamName::new("orders").unwrap();
    let backup = Backup {
        target: BackupTarget::Dir(dir.to_owned()),
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
        target: Target::Dir(dir.to_owned()),
        regions: BTreeMap::from([(eu, js)]),
        taken_by: who.to_owned(),
        metrics: BackupMetrics::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_watchdogs_racing_for_a_slot_take_one_set_and_either_alone_takes_the_next() {
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
    let dir = tempfile::tempdir().unwrap();
    let us = scheduler(dir.path(), js.clone(), "natsdr-us");
    let eu = scheduler(dir.path(), js.clone(), "natsdr-eu");

    let (a, b) = tokio::join!(us.run_slot(7), eu.run_slot(7));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(
        a.is_some() != b.is_some(),
        "exactly one takes the slot: {a:?} {b:?}"
    );
    let winner = a.or(b).unwrap();
    assert_eq!(winner.streams[0].messages, 20);
    let sets = Target::Dir(dir.path().to_owned())
        .list_dirs("sets")
        .await
        .unwrap();
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
