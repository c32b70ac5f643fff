//! `expected` and `plan` as pure functions: tables of desired and actual configs.
use std::time::Duration;

use natsdr::{
    config::{Discard, KvSpec, Limits, MirrorSpec, Retention, Storage, StreamSpec},
    model::{Region, StreamName},
    nats::StreamConfig,
    topology::{Actual, Desired, Drift, RegionDomain, StreamKind, TopologyError, expected, plan},
};
use serde_json::{Value, json};

fn us() -> Region {
    Region::new("us-east-1").unwrap()
}
fn eu() -> Region {
    Region::new("eu-central-1").unwrap()
}
fn name(s: &str) -> StreamName {
    StreamName::new(s).unwrap()
}
const DAY: Duration = Duration::from_secs(86_400);

fn stream(n: &str, region: Region, subjects: &[&str], limits: Limits, gdpr: bool) -> StreamSpec {
    StreamSpec {
        name: name(n),
        region,
        gdpr,
        subjects: subjects.iter().map(|s| (*s).to_owned()).collect(),
        retention: Retention::Limits,
        storage: Storage::File,
        discard: Discard::Old,
        limits,
        replicas: 3,
        duplicate_window: None,
    }
}

fn desired() -> Desired {
    let events_limits = Limits {
        max_age: Some(7 * DAY),
        max_bytes: Some(10 << 30),
        ..Limits::default()
    };
    let mut events = stream(
        "events-us",
        us(),
        &["events.*", "buddy.*"],
        events_limits.clone(),
        false,
    );
    events.duplicate_window = Some(Duration::from_secs(120));
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
            events,
            stream(
                "events-eu-gdpr",
                eu(),
                &["gdpr.*"],
                Limits {
                    max_age: Some(7 * DAY),
                    ..Limits::default()
                },
                true,
            ),
        ],
        mirrors: vec![MirrorSpec {
            name: name("events-eu-mirror"),
            region: eu(),
            source: name("events-us"),
            source_region: us(),
            replicas: 3,
            limits: events_limits,
        }],
        kv: vec![KvSpec {
            bucket: "assignments_v1".into(),
            region: us(),
            mirror_region: Some(eu()),
            history: 5,
            ttl: None,
            replicas: 3,
            max_value_size: Some(1024),
            max_bytes: None,
            storage: Storage::File,
        }],
    }
}

/// What a server would hold after creating exactly the expected configs, plus fields natsdr
/// does not own (which must never show up as drift).
fn actual_matching(exp: &[natsdr::topology::ExpectedStream]) -> Actual {
    let mut actual = Actual::new();
    for e in exp {
        let mut c = e.config.clone();
        c.set("max_consumers", json!(-1));
        c.set("sealed", json!(false));
        c.set("compression", json!("none"));
        c.set_metadata("_nats.req.level", "0");
        actual
            .entry(e.region.clone())
            .or_default()
            .insert(e.name.to_string(), c);
    }
    actual
}

fn stream_mut<'a>(actual: &'a mut Actual, region: &Region, stream: &str) -> &'a mut StreamConfig {
    actual.get_mut(region).unwrap().get_mut(stream).unwrap()
}

/// What `plan` reports once `edit` changed by hand a world that matched the desired topology.
fn drift_after(edit: impl FnOnce(&mut Actual)) -> Vec<Drift> {
    let exp = expected(&desired()).unwrap();
    let mut actual = actual_matching(&exp);
    edit(&mut actual);
    plan(&exp, &actual)
}

/// How each drift reads to an operator.
fn sentences(drift: &[Drift]) -> Vec<String> {
    drift.iter().map(ToString::to_string).collect()
}

/// Drops `field` from a config, as a server does with fields it omits.
fn remove_field(c: &mut StreamConfig, field: &str) {
    let mut map = c.as_map().clone();
    map.remove(field);
    *c = StreamConfig::from_map(map);
}

#[test]
fn a_mirror_copies_its_sources_limits_and_points_at_the_source_domain_api() {
    let exp = expected(&desired()).unwrap();
    let m = exp
        .iter()
        .find(|e| e.name.as_str() == "events-eu-mirror")
        .unwrap();
    assert_eq!(
        m.config.get("mirror"),
        Some(&json!({"name": "events-us", "external": {"api": "$JS.us-east-1.API"}}))
    );
    assert_eq!(
        m.config.get("max_age"),
        Some(&json!(7 * 86_400 * 1_000_000_000u64))
    );
    assert_eq!(m.config.get("max_bytes"), Some(&json!(10u64 << 30)));
    assert_eq!(m.config.get("num_replicas"), Some(&json!(3)));
    assert_eq!(m.config.get("subjects"), None, "mirrors take no subjects");
}

#[test]
fn a_mirror_takes_its_own_replicas_and_limits_but_the_sources_retention() {
    let mut d = desired();
    d.streams[0].retention = Retention::Interest;
    d.mirrors[0].replicas = 1;
    d.mirrors[0].limits.max_age = Some(DAY);
    let exp = expected(&d).unwrap();
    let m = exp
        .iter()
        .find(|e| e.name.as_str() == "events-eu-mirror")
        .unwrap();
    assert_eq!(m.config.get("num_replicas"), Some(&json!(1)));
    assert_eq!(
        m.config.get("max_age"),
        Some(&json!(86_400 * 1_000_000_000u64))
    );
    assert_eq!(m.config.get("retention"), Some(&json!("interest")));
    assert_eq!(
        m.config.get("duplicate_window"),
        None,
        "mirrors do not deduplicate"
    );
}

#[test]
fn kv_buckets_follow_the_kv_conventions() {
    let exp = expected(&desired()).unwrap();
    let kv = exp
        .iter()
        .find(|e| e.region == us() && e.name.as_str() == "KV_assignments_v1")
        .unwrap();
    let c = &kv.config;
    assert_eq!(c.get("subjects"), Some(&json!(["$KV.assignments_v1.>"])));
    assert_eq!(c.get("max_msgs_per_subject"), Some(&json!(5)));
    assert_eq!(c.get("max_msg_size"), Some(&json!(1024)));
    assert_eq!(c.get("discard"), Some(&json!("new")));
    for flag in ["allow_rollup_hdrs", "deny_delete", "allow_direct"] {
        assert_eq!(c.get(flag), Some(&json!(true)), "{flag}");
    }
    let mirror = exp
        .iter()
        .find(|e| e.region == eu() && e.name.as_str() == "KV_assignments_v1")
        .unwrap();
    assert_eq!(mirror.config.get("mirror_direct"), Some(&json!(true)));
    assert_eq!(
        mirror.config.get("mirror"),
        Some(&json!({"name": "KV_assignments_v1", "external": {"api": "$JS.us-east-1.API"}}))
    );
    assert!(matches!(mirror.kind, StreamKind::KvMirror { .. }));
}

#[test]
fn sources_come_before_their_mirrors_so_apply_can_create_in_order() {
    let exp = expected(&desired()).unwrap();
    let pos = |n: &str, r: &Region| {
        exp.iter()
            .position(|e| e.name.as_str() == n && &e.region == r)
            .unwrap()
    };
    assert!(pos("events-us", &us()) < pos("events-eu-mirror", &eu()));
    assert!(pos("KV_assignments_v1", &us()) < pos("KV_assignments_v1", &eu()));
}

#[test]
fn the_duplicate_window_defaults_to_max_age_when_that_is_shorter_than_two_minutes() {
    let mut d = desired();
    d.streams[0].duplicate_window = None;
    d.streams[0].limits.max_age = Some(Duration::from_secs(30));
    let exp = expected(&d).unwrap();
    assert_eq!(
        exp[0].config.get("duplicate_window"),
        Some(&json!(30_000_000_000u64))
    );
}

#[test]
fn mirroring_a_gdpr_stream_out_of_its_region_is_refused() {
    let mut d = desired();
    d.mirrors.push(MirrorSpec {
        name: name("gdpr-copy"),
        region: us(),
        source: name("events-eu-gdpr"),
        source_region: eu(),
        replicas: 3,
        limits: Limits::default(),
    });
    assert!(matches!(
        expected(&d),
        Err(TopologyError::GdprMirrored { .. })
    ));
}

#[test]
fn a_mirror_of_an_unknown_stream_is_refused() {
    let mut d = desired();
    d.mirrors[0].source = name("nope");
    assert!(matches!(
        expected(&d),
        Err(TopologyError::UnknownSource { .. })
    ));
}

#[test]
fn a_matching_world_has_no_drift_whatever_fields_natsdr_does_not_own_hold() {
    let exp = expected(&desired()).unwrap();
    assert_eq!(plan(&exp, &actual_matching(&exp)), vec![]);
}

#[test]
fn omitted_zero_fields_count_as_their_zero_value() {
    let mut d = desired();
    d.streams[0].limits.max_age = None;
    let exp = expected(&d).unwrap();
    let mut actual = actual_matching(&exp);
    // The server omits `max_age: 0`.
    remove_field(stream_mut(&mut actual, &us(), "events-us"), "max_age");
    assert_eq!(plan(&exp, &actual), vec![]);
}

#[test]
fn every_owned_field_changed_by_hand_is_reported_as_drift() {
    let cases: Vec<(&str, Value)> = vec![
        ("subjects", json!(["events.*"])),
        ("retention", json!("interest")),
        ("storage", json!("memory")),
        ("max_age", json!(1_000_000_000u64)),
        ("max_bytes", json!(1)),
        ("max_msgs", json!(5)),
        ("max_msgs_per_subject", json!(2)),
        ("max_msg_size", json!(10)),
        ("num_replicas", json!(1)),
        ("discard", json!("new")),
        ("duplicate_window", json!(1_000_000_000u64)),
    ];
    let exp = expected(&desired()).unwrap();
    for (field, value) in cases {
        let mut actual = actual_matching(&exp);
        stream_mut(&mut actual, &us(), "events-us").set(field, value.clone());
        let drift = plan(&exp, &actual);
        assert_eq!(drift.len(), 1, "{field}: {drift:?}");
        match &drift[0] {
            Drift::Field {
                field: f,
                have,
                stream,
                ..
            } => {
                assert_eq!(f, field);
                assert_eq!(have.as_ref(), Some(&value));
                assert_eq!(stream.as_str(), "events-us");
            }
            other => panic!("{field}: {other:?}"),
        }
        assert!(drift[0].is_fixable());
    }
}

#[test]
fn subject_order_is_not_drift() {
    let drift = drift_after(|actual| {
        stream_mut(actual, &us(), "events-us").set("subjects", json!(["buddy.*", "events.*"]));
    });
    assert_eq!(drift, vec![]);
}

#[test]
fn a_missing_stream_is_reported_with_what_it_should_be() {
    let drift = drift_after(|actual| {
        actual.get_mut(&eu()).unwrap().remove("events-eu-mirror");
    });
    assert_eq!(
        sentences(&drift),
        ["eu-central-1/events-eu-mirror: missing (mirror of us-east-1/events-us)"]
    );
}

#[test]
fn drift_reads_as_a_sentence_with_human_units() {
    let drift = drift_after(|actual| {
        stream_mut(actual, &us(), "events-us")
            .set("max_age", json!(30u64 * 86_400 * 1_000_000_000));
    });
    assert_eq!(
        sentences(&drift),
        ["us-east-1/events-us: max_age is 30days, want 7days"]
    );
}

#[test]
fn a_promoted_mirror_is_failover_state_not_a_mirror_to_recreate() {
    let drift = drift_after(|actual| {
        let c = stream_mut(actual, &eu(), "events-eu-mirror");
        remove_field(c, "mirror");
        c.set("subjects", json!(["events.*", "buddy.*"]));
        c.set_metadata("natsdr.role", "promoted");
        c.set_metadata("natsdr.epoch", "8");
    });
    assert_eq!(
        drift,
        vec![Drift::Promoted {
            region: eu(),
            stream: name("events-eu-mirror"),
            epoch: Some("8".into())
        }]
    );
    assert!(drift[0].is_state() && !drift[0].is_fixable());
}

#[test]
fn a_plain_stream_where_a_mirror_belongs_without_failover_metadata_needs_an_operator() {
    let drift =
        drift_after(|actual| remove_field(stream_mut(actual, &eu(), "events-eu-mirror"), "mirror"));
    assert_eq!(
        drift,
        vec![Drift::KindMismatch {
            region: eu(),
            stream: name("events-eu-mirror"),
            want_mirror: true
        }]
    );
    assert!(!drift[0].is_fixable());
}

#[test]
fn a_fenced_stream_keeps_its_parked_subjects_but_its_limits_are_still_compared() {
    let drift = drift_after(|actual| {
        let c = stream_mut(actual, &us(), "events-us");
        c.set("subjects", json!(["fenced.events.*", "fenced.buddy.*"]));
        c.set("num_replicas", json!(1));
    });
    assert_eq!(drift.len(), 2, "{drift:?}");
    assert_eq!(
        drift[0],
        Drift::Fenced {
            region: us(),
            stream: name("events-us"),
            epoch: None
        }
    );
    assert!(matches!(&drift[1], Drift::Field { field, .. } if field == "num_replicas"));
}

#[test]
fn a_mirror_of_another_source_cannot_be_fixed_in_place() {
    let drift = drift_after(|actual| {
        stream_mut(actual, &eu(), "events-eu-mirror").set(
            "mirror",
            json!({"name": "audit-us", "external": {"api": "$JS.us-east-1.API"}}),
        );
    });
    assert!(
        matches!(&drift[..], [Drift::MirrorSource { .. }]),
        "{drift:?}"
    );
    assert!(!drift[0].is_fixable());
}

#[test]
fn an_unreadable_region_is_reported_once_and_its_streams_are_not_called_missing() {
    let drift = drift_after(|actual| {
        actual.remove(&eu());
    });
    assert_eq!(drift, vec![Drift::Unobserved { region: eu() }]);
}

#[test]
fn streams_natsdr_does_not_manage_are_ignored() {
    let drift = drift_after(|actual| {
        actual.get_mut(&us()).unwrap().insert(
            "someone-elses".into(),
            StreamConfig::from_map(
                json!({"name": "someone-elses"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        );
    });
    assert_eq!(drift, vec![]);
}
