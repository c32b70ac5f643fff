//! The NATS executor against the real lab: two 3-node regions joined by leafnodes, topology
//! applied from the lab's `natsdr.toml`. One lab, one test walking a failover step by step (the
//! faults come last: they break the lab). Needs nats-server: without it this fails, never skips.
mod common;

use std::{sync::Arc, time::Duration};

use common::lab::{drift, drift_in, eu, lab, names, us};
use common::{assert_same_messages, wait_for_last_seq};

use natsdr::{
    config::Config,
    core::{FenceResult, StepResult},
    exec::{Fencer, META_ORIGIN, META_SUBJECTS, NatsExecutor, Promoter},
    model::Epoch,
    nats::{JsApi, StreamConfig, connect_regions},
    topology::{Desired, Drift, META_EPOCH, META_ROLE, apply, expected},
};
use natsdr_lab::lab::LabRegion;
use tokio::time::{Instant, sleep};

const API_TIMEOUT: Duration = Duration::from_secs(3);

async fn config_of(js: &JsApi, stream: &str) -> StreamConfig {
    js.stream_info(stream).await.unwrap().config
}

/// Whether a publish on `subject` is stored: `Err` carries why not.
async fn acked_publish(js: &JsApi, subject: &str) -> Result<u64, String> {
    let ctx = async_nats::jetstream::new(js.client().clone());
    let ack = ctx
        .publish(subject.to_owned(), "x".into())
        .await
        .map_err(|e| e.to_string())?;
    ack.await.map(|a| a.sequence).map_err(|e| e.to_string())
}

#[tokio::test]
async fn the_executor_fences_promotes_and_unfences_on_the_real_lab_and_classifies_lost_regions() {
    let (_tmp, mut lab) = lab().start().await;

    let config = Arc::new(Config::load(&lab.manifest().natsdr_config).expect("valid lab config"));
    let desired = Desired::from(&*config);
    let regions = connect_regions(&config, "natsdr-exec-test", API_TIMEOUT)
        .await
        .unwrap();
    let (us, eu) = (us(), eu());
    let (us_js, eu_js) = (regions[&us].js.clone(), regions[&eu].js.clone());
    let failed: Vec<String> = apply(&expected(&desired).unwrap(), &{
        regions
            .iter()
            .map(|(r, c)| (r.clone(), c.js.clone()))
            .collect()
    })
    .await
    .iter()
    .filter(|c| !c.is_change())
    .map(ToString::to_string)
    .collect();
    assert!(failed.is_empty(), "{failed:?}");
    let exec = NatsExecutor::new(config.clone(), regions.clone());

    for i in 0..5 {
        acked_publish(&us_js, &format!("events.e{i}"))
            .await
            .unwrap();
    }
    wait_for_last_seq(&eu_js, "events-eu-mirror", 5).await;
    let original_audit = config_of(&us_js, "audit-us").await.subjects();

    // 1. Fence: subjects parked and stamped; publishers get no responders, nothing is stored.
    let fence = names(&["events-us", "audit-us"]);
    assert_eq!(exec.fence(&us, Epoch(2), &fence).await, FenceResult::Fenced);
    let fenced = config_of(&us_js, "events-us").await;
    assert!(fenced.subjects().iter().all(|s| s.starts_with("fenced.")));
    assert_eq!(fenced.metadata(META_ROLE), Some("fenced"));
    assert_eq!(fenced.metadata(META_EPOCH), Some("2"));
    assert!(fenced.metadata(META_SUBJECTS).is_some());
    let err = us_js
        .client()
        .request("events.after-fence", "x".into())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), async_nats::RequestErrorKind::NoResponders);
    assert!(acked_publish(&us_js, "events.after-fence").await.is_err());
    assert_eq!(
        us_js.stream_info("events-us").await.unwrap().state.last_seq,
        5
    );
    let states = drift(&regions, &desired).await;
    assert!(
        states.iter().all(Drift::is_state),
        "fences are state, not drift: {states:?}"
    );

    // 2. Fencing again changes nothing; an older epoch than the stamp is refused.
    assert_eq!(exec.fence(&us, Epoch(2), &fence).await, FenceResult::Fenced);
    assert_eq!(config_of(&us_js, "events-us").await, fenced);
    match exec.fence(&us, Epoch(1), &fence).await {
        FenceResult::Failed { retryable, error } => {
            assert!(!retryable);
            assert!(error.contains("newer than 1"), "{error}");
        }
        other => panic!("a stale fence must be refused, got {other:?}"),
    }

    // 3. Promote: same messages and sequences, writable on the source's subjects, stamped.
    let promote = names(&["events-eu-mirror"]);
    assert_eq!(
        exec.promote(&eu, Epoch(2), &promote).await,
        StepResult::Done
    );
    let promoted = eu_js.stream_info("events-eu-mirror").await.unwrap();
    assert_eq!(promoted.state.last_seq, 5);
    assert_eq!(promoted.state.messages, 5);
    assert_same_messages((&us_js, "events-us"), (&eu_js, "events-eu-mirror"), 1..=5).await;
    assert!(promoted.config.mirror().is_none());
    assert_eq!(
        promoted.config.subjects(),
        config_of(&us_js, "events-us")
            .await
            .subjects()
            .iter()
            .map(|s| s.trim_start_matches("fenced.").to_owned())
            .collect::<Vec<_>>()
    );
    assert_eq!(promoted.config.metadata(META_ROLE), Some("promoted"));
    assert_eq!(promoted.config.metadata(META_EPOCH), Some("2"));
    assert_eq!(promoted.config.metadata(META_ORIGIN), Some("events-us"));
    assert_eq!(acked_publish(&eu_js, "events.in-eu").await, Ok(6));
    let shown = drift_in(&regions, &desired, &eu).await;
    assert!(
        shown.iter().all(Drift::is_state)
            && shown
                .iter()
                .any(|d| matches!(d, Drift::Promoted { stream, epoch, .. }
                    if stream.as_str() == "events-eu-mirror" && epoch.as_deref() == Some("2"))),
        "{shown:?}"
    );

    // 4. Promoting again is Done and changes nothing.
    let before = config_of(&eu_js, "events-eu-mirror").await;
    assert_eq!(
        exec.promote(&eu, Epoch(2), &promote).await,
        StepResult::Done
    );
    assert_eq!(config_of(&eu_js, "events-eu-mirror").await, before);

    // 5. A GDPR-only stream is refused, even if the core ever listed it, and left untouched.
    let gdpr = names(&["events-eu-gdpr"]);
    let gdpr_before = config_of(&eu_js, "events-eu-gdpr").await;
    assert!(matches!(
        exec.fence(&eu, Epoch(2), &gdpr).await,
        FenceResult::Failed {
            retryable: false,
            ..
        }
    ));
    assert!(matches!(
        exec.promote(&eu, Epoch(2), &gdpr).await,
        StepResult::Failed {
            retryable: false,
            ..
        }
    ));
    assert!(matches!(
        exec.unfence(&eu, Epoch(2), &gdpr).await,
        StepResult::Failed {
            retryable: false,
            ..
        }
    ));
    assert_eq!(config_of(&eu_js, "events-eu-gdpr").await, gdpr_before);

    // 6. Unfence restores exactly the saved subjects, and publishes are stored again.
    let audit = names(&["audit-us"]);
    assert_eq!(exec.unfence(&us, Epoch(2), &audit).await, StepResult::Done);
    let back = config_of(&us_js, "audit-us").await;
    assert_eq!(back.subjects(), original_audit);
    assert_eq!(back.metadata(META_ROLE), Some("source"));
    assert_eq!(back.metadata(META_SUBJECTS), None);
    assert_eq!(acked_publish(&us_js, "audit.back").await, Ok(1));
    assert_eq!(exec.unfence(&us, Epoch(2), &audit).await, StepResult::Done);

    // 7. With 2 of 3 US nodes gone: NoQuorum, without waiting for API timeouts.
    lab.kill_node(LabRegion::Us, 1).await.unwrap();
    lab.kill_node(LabRegion::Us, 2).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while regions[&us]
        .sys
        .ping(Duration::from_millis(500), Some(3))
        .await
        .map_or(true, |p| p.len() != 1)
    {
        assert!(
            Instant::now() < deadline,
            "the survivor never answered alone"
        );
        sleep(Duration::from_millis(200)).await;
    }
    let metrics = names(&["metrics-us"]);
    assert_eq!(
        exec.fence(&us, Epoch(3), &metrics).await,
        FenceResult::NoQuorum
    );

    // 8. A dead region is Unreachable, within the API timeout.
    lab.kill_region(LabRegion::Us).await.unwrap();
    let started = Instant::now();
    assert_eq!(
        exec.fence(&us, Epoch(3), &metrics).await,
        FenceResult::Unreachable
    );
    assert!(started.elapsed() < API_TIMEOUT, "{:?}", started.elapsed());

    lab.shutdown().await.unwrap();
}
