//! plan/apply against the real lab: two 3-node regions (domains us-east-1 and eu-central-1)
//! joined by leafnodes, configured by the lab's generated `natsdr.toml`. Needs nats-server:
//! without it this fails, never skips.
mod common;

use std::{collections::BTreeMap, time::Duration};

use common::lab::{eu, lab, us};
use common::{mirror_info, request_each, wait_for_last_seq};

use natsdr::{
    config::Config,
    model::Region,
    nats::{JsApi, RegionClients},
    topology::{Change, Desired, Drift, apply, expected, observe, plan},
};
use serde_json::json;

fn shown<T: ToString>(items: &[T]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

async fn current_plan(apis: &BTreeMap<Region, JsApi>, desired: &Desired) -> Vec<Drift> {
    let (actual, errors) = observe(apis).await;
    assert!(errors.is_empty(), "{errors:?}");
    plan(&expected(desired).unwrap(), &actual)
}

#[tokio::test]
async fn apply_builds_the_example_topology_on_the_lab_and_plan_then_tracks_it() {
    let (_tmp, lab) = lab().start().await;

    let config = Config::load(&lab.manifest().natsdr_config).expect("the lab's config is valid");
    let desired = Desired::from(&config);
    let exp = expected(&desired).unwrap();
    let mut apis = BTreeMap::new();
    for region in &config.regions {
        let clients = RegionClients::for_region(region, "natsdr-test", Duration::from_secs(5))
            .await
            .unwrap();
        let pongs = clients
            .sys
            .ping(Duration::from_secs(1), Some(3))
            .await
            .unwrap();
        assert_eq!(
            pongs.len(),
            3,
            "{}: every node answers the system ping",
            region.name
        );
        apis.insert(region.name.clone(), clients.js);
    }

    // 1. Everything starts missing; apply creates all of it; plan then shows no drift.
    assert_eq!(current_plan(&apis, &desired).await.len(), exp.len());
    let first = apply(&exp, &apis).await;
    let failed: Vec<&Change> = first.iter().filter(|c| !c.is_change()).collect();
    assert!(failed.is_empty(), "{:?}", shown(&failed));
    let drift = current_plan(&apis, &desired).await;
    assert!(drift.is_empty(), "{:?}", shown(&drift));

    // 2. Applying again changes nothing.
    let second = apply(&exp, &apis).await;
    assert!(second.is_empty(), "{:?}", shown(&second));

    // 3. A change by hand shows up as drift, apply puts it back, and the next apply is a no-op.
    let us_js = &apis[&us()];
    let mut cfg = us_js.stream_info("events-us").await.unwrap().config;
    cfg.set("max_age", json!(3_600_000_000_000u64));
    us_js.stream_update(&cfg).await.unwrap();
    let drift = current_plan(&apis, &desired).await;
    assert_eq!(
        shown(&drift),
        vec!["us-east-1/events-us: max_age is 1h, want 7days"]
    );
    let fixed = apply(&exp, &apis).await;
    assert_eq!(shown(&fixed), vec!["us-east-1/events-us: updated max_age"]);
    assert!(apply(&exp, &apis).await.is_empty());

    // 4. The cross-domain R3 mirror really mirrors over the leafnodes.
    request_each(us_js, "events.lab", 10).await;
    let eu_js = &apis[&eu()];
    wait_for_last_seq(eu_js, "events-eu-mirror", 10).await;
    let mirror = mirror_info(eu_js, "events-eu-mirror").await;
    assert_eq!(mirror.external_api.as_deref(), Some("$JS.us-east-1.API"));
    assert!(mirror.active.is_some(), "{mirror:?}");

    lab.shutdown().await.unwrap();
}
