//! The NATS executor on the compatibility server (2.10.26), which refuses in-place mirror
//! promotion: fencing still works, promotion fails loudly and leaves the mirror intact. Needs the
//! compat nats-server (`make deps`): without it this fails, never skips.
use std::{path::PathBuf, sync::Arc, time::Duration};

use natsdr::{
    config::Config,
    core::{FenceResult, StepResult},
    exec::{Fencer, NatsExecutor, Promoter},
    lab::{Lab, LabOptions},
    model::{Epoch, Region, StreamName},
    nats::connect_regions,
    topology::{Desired, apply, expected},
};

/// `NATSDR_NATS_SERVER_COMPAT`, else the project's `.tools` 2.10.26 (as the Makefile sets it).
fn compat_server() -> PathBuf {
    let path = std::env::var_os("NATSDR_NATS_SERVER_COMPAT").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".tools/nats-server-2.10.26/nats-server"),
        PathBuf::from,
    );
    assert!(
        path.is_file(),
        "compat nats-server not found at {} (run `make deps`, or set NATSDR_NATS_SERVER_COMPAT)",
        path.display()
    );
    path
}

#[tokio::test]
async fn a_server_before_2_12_is_fenced_but_refuses_in_place_promotion_naming_its_version() {
    let tmp = tempfile::tempdir().unwrap();
    let lab = Lab::up(LabOptions {
        dir: tmp.path().join("lab"),
        nats_server: compat_server(),
        natsdr_exe: env!("CARGO_BIN_EXE_natsdr").into(),
        owner_pid: Some(std::process::id()),
        ready_timeout: Duration::from_secs(60),
    })
    .await
    .expect("lab starts");
    let config = Arc::new(Config::load(&lab.manifest().natsdr_config).expect("valid lab config"));
    let regions = connect_regions(&config, "natsdr-exec-compat", Duration::from_secs(3))
        .await
        .unwrap();
    let apis = regions
        .iter()
        .map(|(r, c)| (r.clone(), c.js.clone()))
        .collect();
    let applied = apply(&expected(&Desired::from(&*config)).unwrap(), &apis).await;
    assert!(applied.iter().all(|c| c.is_change()), "{applied:?}");
    let exec = NatsExecutor::new(config, regions.clone());
    let (us, eu) = (
        Region::new("us-east-1").unwrap(),
        Region::new("eu-central-1").unwrap(),
    );

    let events = [StreamName::new("events-us").unwrap()];
    assert_eq!(
        exec.fence(&us, Epoch(2), &events).await,
        FenceResult::Fenced
    );

    let mirror = [StreamName::new("events-eu-mirror").unwrap()];
    match exec.promote(&eu, Epoch(2), &mirror).await {
        StepResult::Failed { retryable, error } => {
            assert!(!retryable);
            assert!(
                error.contains("2.10.26") && error.contains("needs 2.12+"),
                "{error}"
            );
        }
        StepResult::Done => panic!("2.10 cannot promote in place"),
    }
    let info = regions[&eu]
        .js
        .stream_info("events-eu-mirror")
        .await
        .unwrap();
    assert!(
        info.config.mirror().is_some(),
        "the mirror is left as it was"
    );

    lab.shutdown().await.unwrap();
}
