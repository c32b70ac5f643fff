//! `apply` and `plan` against two real nats-server "regions" joined by a leafnode.
mod common;

use std::{collections::BTreeMap, time::Duration};

use common::lab::{eu, us};
use common::{Server, mirror_info, request_each, wait_for_last_seq};
use natsdr::{
    config::{Discard, KvSpec, Limits, MirrorSpec, Retention, Storage, StreamSpec},
    model::{Region, StreamName},
    nats::{JsApi, StreamConfig},
    topology::{Change, Desired, Drift, RegionDomain, apply, expected, observe, plan},
};
use serde_json::json;

const DAY: Duration = Duration::from_secs(86_400);

fn name(s: &str) -> StreamName {
    StreamName::new(s).unwrap()
}

/// The example config's shape on single-node servers: replicas 1, and MiB where it has GiB
/// (the server reserves `max_bytes` up front and refuses streams beyond its disk: 10047).
fn desired() -> Desired {
    let limits = |age_days: u32, mib: u64| Limits {
        max_age: Some(DAY * age_days),
        max_bytes: Some(mib << 20),
        ..Limits::default()
    };
    let stream =
        |n: &str, region: Region, subjects: &[&str], gdpr: bool, limits: Limits| StreamSpec {
            name: name(n),
            region,
            gdpr,
            subjects: subjects.iter().map(|s| (*s).to_owned()).collect(),
            retention: Retention::Limits,
            storage: Storage::File,
            discard: Discard::Old,
            limits,
            replicas: 1,
            duplicate_window: Some(Duration::from_secs(120)),
        };
    let mirror = |n: &str, source: &str, limits: Limits| MirrorSpec {
        name: name(n),
        region: eu(),
        source: name(source),
        source_region: us(),
        replicas: 1,
        limits,
    };
    Desired {
        regions: vec![
            RegionDomain {
                region: us(),
                domain: "us-east-1".into(),
            },
            RegionDomain {
                region: eu(),
                domain: "eu-central-1".into(),
            },
        ],
        streams: vec![
            stream(
                "events-us",
                us(),
                &["events.*", "buddy.*"],
                false,
                limits(7, 10),
            ),
            stream(
                "audit-us",
                us(),
                &["audit.*", "compliance.*"],
                false,
                limits(90, 50),
            ),
            stream(
                "events-eu-gdpr",
                eu(),
                &["eu.events.*", "gdpr.*"],
                true,
                limits(7, 10),
            ),
        ],
        mirrors: vec![
            mirror("events-eu-mirror", "events-us", limits(7, 10)),
            mirror("audit-eu-mirror", "audit-us", limits(90, 50)),
        ],
        kv: vec![KvSpec {
            bucket: "assignments_v1".into(),
            region: us(),
            mirror_region: Some(eu()),
            history: 5,
            ttl: Some(DAY),
            replicas: 1,
            max_value_size: Some(4096),
            max_bytes: None,
            storage: Storage::File,
        }],
    }
}

struct Regions {
    _us: Server,
    _eu: Server,
    apis: BTreeMap<Region, JsApi>,
}

async fn regions() -> Regions {
    let (us_server, eu_server) = Server::leafed_pair("us-east-1", "eu-central-1");
    let mut apis = BTreeMap::new();
    apis.insert(us(), us_server.js().await);
    apis.insert(eu(), eu_server.js().await);
    Regions {
        _us: us_server,
        _eu: eu_server,
        apis,
    }
}

/// Both regions with the desired topology applied once, the topology and what it expects.
async fn applied() -> (Regions, Desired, Vec<natsdr::topology::ExpectedStream>) {
    let r = regions().await;
    let d = desired();
    let exp = expected(&d).unwrap();
    apply(&exp, &r.apis).await;
    (r, d, exp)
}

/// What plan reports for EU's events mirror once promoted at epoch 2.
fn promoted_at_epoch_2() -> Drift {
    Drift::Promoted {
        region: eu(),
        stream: name("events-eu-mirror"),
        epoch: Some("2".into()),
    }
}

async fn current_plan(r: &Regions, d: &Desired) -> Vec<Drift> {
    let (actual, errors) = observe(&r.apis).await;
    assert!(errors.is_empty(), "{errors:?}");
    plan(&expected(d).unwrap(), &actual)
}

fn changes(cs: &[Change]) -> Vec<String> {
    cs.iter()
        .filter(|c| c.is_change())
        .map(ToString::to_string)
        .collect()
}

fn failures(cs: &[Change]) -> Vec<String> {
    cs.iter()
        .filter(|c| !c.is_change())
        .map(ToString::to_string)
        .collect()
}

#[tokio::test]
async fn apply_creates_everything_and_then_plan_reports_no_drift() {
    let r = regions().await;
    let d = desired();
    let exp = expected(&d).unwrap();
    assert_eq!(
        current_plan(&r, &d).await.len(),
        exp.len(),
        "everything starts missing"
    );

    let first = apply(&exp, &r.apis).await;
    assert!(failures(&first).is_empty(), "{:?}", failures(&first));
    assert_eq!(changes(&first).len(), exp.len());

    let drift = current_plan(&r, &d).await;
    assert!(
        drift.is_empty(),
        "{}",
        drift
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[tokio::test]
async fn applying_twice_changes_nothing_the_second_time() {
    let r = regions().await;
    let exp = expected(&desired()).unwrap();
    apply(&exp, &r.apis).await;
    let second = apply(&exp, &r.apis).await;
    assert!(
        second.is_empty(),
        "{:?}",
        second.iter().map(ToString::to_string).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_manual_change_is_reported_and_apply_fixes_only_that_field() {
    let (r, d, exp) = applied().await;

    let us_js = &r.apis[&us()];
    let mut cfg = us_js.stream_info("events-us").await.unwrap().config;
    cfg.set("max_age", json!(30u64 * 86_400 * 1_000_000_000));
    cfg.set("description", json!("set by hand, not natsdr's"));
    us_js.stream_update(&cfg).await.unwrap();

    let drift = current_plan(&r, &d).await;
    assert_eq!(
        drift.iter().map(ToString::to_string).collect::<Vec<_>>(),
        vec!["us-east-1/events-us: max_age is 30days, want 7days"]
    );

    let fixed = apply(&exp, &r.apis).await;
    assert_eq!(
        changes(&fixed),
        vec!["us-east-1/events-us: updated max_age"]
    );
    let after = us_js.stream_info("events-us").await.unwrap().config;
    assert_eq!(
        after.get("description"),
        Some(&json!("set by hand, not natsdr's")),
        "unowned fields survive"
    );
    assert!(current_plan(&r, &d).await.is_empty());
}

#[tokio::test]
async fn a_cross_domain_mirror_created_by_apply_really_mirrors() {
    let r = regions().await;
    let exp = expected(&desired()).unwrap();
    apply(&exp, &r.apis).await;

    let us_js = &r.apis[&us()];
    request_each(us_js, "events.e", 5).await;
    us_js
        .client()
        .request("$KV.assignments_v1.worker-1", "busy".into())
        .await
        .unwrap();

    let eu_js = &r.apis[&eu()];
    wait_for_last_seq(eu_js, "events-eu-mirror", 5).await;
    wait_for_last_seq(eu_js, "KV_assignments_v1", 1).await;
    let m = mirror_info(eu_js, "events-eu-mirror").await;
    assert_eq!(m.external_api.as_deref(), Some("$JS.us-east-1.API"));
}

#[tokio::test]
async fn a_promoted_mirror_is_reported_as_state_and_left_alone_by_apply() {
    let r = regions().await;
    let d = desired();
    let exp: Vec<_> = expected(&d)
        .unwrap()
        .into_iter()
        .filter(|e| e.name.as_str() != "events-eu-mirror")
        .collect();
    apply(&exp, &r.apis).await;
    // What a failover leaves behind (on 2.10/2.11 via snapshot/restore): a plain stream under
    // the mirror's name, writable, stamped with natsdr's metadata.
    let eu_js = &r.apis[&eu()];
    let mut promoted = StreamConfig::from_map(
        json!({"name": "events-eu-mirror", "subjects": ["events.*", "buddy.*"], "max_age": 7u64 * 86_400 * 1_000_000_000,
               "max_bytes": 10u64 << 20, "duplicate_window": 120_000_000_000u64})
        .as_object()
        .unwrap()
        .clone(),
    );
    promoted.set_metadata("natsdr.role", "promoted");
    promoted.set_metadata("natsdr.epoch", "2");
    eu_js.stream_create(&promoted).await.unwrap();

    let drift = current_plan(&r, &d).await;
    assert_eq!(drift, vec![promoted_at_epoch_2()]);

    let again = apply(&expected(&d).unwrap(), &r.apis).await;
    assert!(
        again.is_empty(),
        "{:?}",
        again.iter().map(ToString::to_string).collect::<Vec<_>>()
    );
    let info = eu_js.stream_info("events-eu-mirror").await.unwrap();
    assert!(info.config.mirror().is_none());
    assert_eq!(info.config.subjects().len(), 2);
}

#[tokio::test]
async fn apply_never_unfences_a_fenced_stream() {
    let (r, d, exp) = applied().await;
    let us_js = &r.apis[&us()];
    let mut cfg = us_js.stream_info("events-us").await.unwrap().config;
    cfg.set("subjects", json!(["fenced.events.*", "fenced.buddy.*"]));
    cfg.set_metadata("natsdr.role", "fenced");
    cfg.set_metadata("natsdr.epoch", "2");
    us_js.stream_update(&cfg).await.unwrap();

    let drift = current_plan(&r, &d).await;
    assert!(matches!(&drift[..], [Drift::Fenced { .. }]), "{drift:?}");
    let again = apply(&exp, &r.apis).await;
    assert!(
        again.is_empty(),
        "{:?}",
        again.iter().map(ToString::to_string).collect::<Vec<_>>()
    );
    assert_eq!(
        us_js
            .stream_info("events-us")
            .await
            .unwrap()
            .config
            .subjects(),
        vec!["fenced.events.*".to_owned(), "fenced.buddy.*".to_owned()]
    );
}

#[tokio::test]
async fn an_unreachable_region_is_reported_and_the_other_is_still_applied() {
    let r = regions().await;
    let mut apis = r.apis.clone();
    apis.remove(&eu());
    let changes = apply(&expected(&desired()).unwrap(), &apis).await;
    assert!(changes.iter().any(
        |c| matches!(c, Change::NeedsOperator(Drift::Unobserved { region }) if *region == eu())
    ));
    assert!(
        r.apis[&us()]
            .find_stream("events-us")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_mirror_changed_by_hand_is_fixed_in_place_without_touching_its_mirror_block() {
    let (r, d, exp) = applied().await;
    let eu_js = &r.apis[&eu()];
    let mut cfg = eu_js.stream_info("events-eu-mirror").await.unwrap().config;
    let mirror_before = cfg.get("mirror").cloned();
    cfg.set("max_msgs", json!(1000));
    eu_js.stream_update(&cfg).await.unwrap();

    let fixed = apply(&exp, &r.apis).await;
    assert_eq!(
        changes(&fixed),
        vec!["eu-central-1/events-eu-mirror: updated max_msgs"]
    );
    assert!(failures(&fixed).is_empty(), "{:?}", failures(&fixed));
    let after = eu_js.stream_info("events-eu-mirror").await.unwrap().config;
    assert_eq!(after.get("mirror").cloned(), mirror_before);
    assert!(current_plan(&r, &d).await.is_empty());
}

#[tokio::test]
async fn a_mirror_promoted_in_place_by_the_server_is_reported_only_as_promoted() {
    let (r, d, exp) = applied().await;
    request_each(&r.apis[&us()], "events.", 1).await;
    let eu_js = &r.apis[&eu()];
    wait_for_last_seq(eu_js, "events-eu-mirror", 1).await;

    // What the promoter does: one full-config update removing `mirror`, adding the source's
    // subjects, stamping natsdr's metadata.
    let mut cfg = eu_js.stream_info("events-eu-mirror").await.unwrap().config;
    let mut map = cfg.clone().into_map();
    map.remove("mirror");
    cfg = StreamConfig::from_map(map);
    cfg.set("subjects", json!(["events.*", "buddy.*"]));
    cfg.set_metadata("natsdr.role", "promoted");
    cfg.set_metadata("natsdr.epoch", "2");
    let level = eu_js.account_info().await.unwrap().api_level.unwrap_or(0);
    let promoted = eu_js.stream_update(&cfg).await;
    if level < 3 {
        // Before 2.12 the server refuses in-place promotion (the promoter snapshots and restores).
        assert_eq!(
            promoted.unwrap_err().err_code(),
            Some(natsdr::nats::codes::MIRROR_NOT_UPDATABLE)
        );
        return;
    }
    assert_eq!(promoted.unwrap().state.last_seq, 1, "messages are kept");
    let drift = current_plan(&r, &d).await;
    assert_eq!(drift, vec![promoted_at_epoch_2()]);
    assert!(apply(&exp, &r.apis).await.is_empty());
}
