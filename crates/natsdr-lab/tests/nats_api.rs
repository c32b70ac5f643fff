//! The JetStream and system API clients against a real nats-server.
mod common;

use std::time::Duration;

use common::{Opts, Server, wait_for_last_seq};
use natsdr::nats::{JsApi, JsError, StreamConfig, codes};
use serde_json::json;

fn config(v: serde_json::Value) -> StreamConfig {
    StreamConfig::from_map(v.as_object().unwrap().clone())
}

fn single(domain: &str) -> Server {
    Server::start(Opts {
        domain,
        leaf_listen: false,
        leaf_remote: None,
    })
}

/// Creates the in-memory stream `name` on `subjects`; it must succeed.
async fn memory_stream(js: &JsApi, name: &str, subjects: &[&str]) {
    create(
        js,
        json!({"name": name, "subjects": subjects, "storage": "memory"}),
    )
    .await;
}

/// Creates the stream `cfg` describes; it must succeed.
async fn create(js: &JsApi, cfg: serde_json::Value) {
    js.stream_create(&config(cfg)).await.unwrap();
}

#[tokio::test]
async fn stream_info_returns_the_full_raw_config_and_typed_state() {
    let server = single("us");
    let js = server.js().await;
    memory_stream(&js, "S", &["s.>"]).await;
    js.client().publish("s.1", "a".into()).await.unwrap();
    js.client().flush().await.unwrap();

    wait_for_last_seq(&js, "S", 1).await;
    let info = js.stream_info("S").await.unwrap();
    assert_eq!(info.config.subjects(), vec!["s.>".to_owned()]);
    assert!(
        info.config.get("max_msgs_per_subject").is_some(),
        "server defaults are part of the raw config"
    );
    assert!(info.state.last_ts.is_some());
    assert!(info.mirror.is_none());
}

#[tokio::test]
async fn a_missing_stream_is_reported_with_its_api_code() {
    let server = single("us");
    let js = server.js().await;
    let err = js.stream_info("NOPE").await.unwrap_err();
    assert!(err.is_stream_not_found(), "{err}");
    assert!(!err.is_retryable());
    assert!(js.find_stream("NOPE").await.unwrap().is_none());
}

#[tokio::test]
async fn overlapping_subjects_are_refused_with_10065_until_the_other_stream_is_gone() {
    let server = single("us");
    let js = server.js().await;
    memory_stream(&js, "A", &["x.*"]).await;
    let b = json!({"name": "B", "subjects": ["x.1"], "storage": "memory"});
    let err = js.stream_create(&config(b.clone())).await.unwrap_err();
    assert_eq!(err.err_code(), Some(codes::SUBJECT_OVERLAP), "{err}");
    js.stream_delete("A").await.unwrap();
    create(&js, b).await;
}

#[tokio::test]
async fn updating_a_config_read_from_the_server_keeps_every_other_field() {
    let server = single("us");
    let js = server.js().await;
    create(&js, json!({
        "name": "S", "subjects": ["s.>"], "storage": "memory", "max_msgs": 77, "description": "kept"
    })).await;
    let mut cfg = js.stream_info("S").await.unwrap().config;
    cfg.set("max_age", json!(3_600_000_000_000u64));
    cfg.set_metadata("natsdr.epoch", "3");
    let after = js.stream_update(&cfg).await.unwrap().config;
    assert_eq!(after.get("max_msgs"), Some(&json!(77)));
    assert_eq!(after.get("description"), Some(&json!("kept")));
    assert_eq!(after.get("max_age"), Some(&json!(3_600_000_000_000u64)));
    assert_eq!(after.metadata("natsdr.epoch"), Some("3"));
}

#[tokio::test]
async fn stream_list_and_names_page_past_the_servers_page_size() {
    let server = single("us");
    let js = server.js().await;
    let n = 300; // more than one STREAM.LIST page (256)
    for i in 0..n {
        create(
            &js,
            json!({"name": format!("S{i}"), "subjects": [format!("s{i}")], "storage": "memory"}),
        )
        .await;
    }
    let list = js.stream_list().await.unwrap();
    assert_eq!(list.len(), n);
    let mut names = js.stream_names().await.unwrap();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), n);
}

#[tokio::test]
async fn msg_get_returns_the_stored_time_and_none_past_the_end() {
    let server = single("us");
    let js = server.js().await;
    memory_stream(&js, "S", &["s.>"]).await;
    let before = time::OffsetDateTime::now_utc();
    js.client().request("s.1", "x".into()).await.unwrap();
    let msg = js.stream_msg_get("S", 1).await.unwrap().unwrap();
    assert_eq!(msg.subject, "s.1");
    assert!(msg.time >= before - time::Duration::seconds(1));
    assert!(js.stream_msg_get("S", 2).await.unwrap().is_none());
}

#[tokio::test]
async fn account_info_names_the_domain() {
    let server = single("us-east-1");
    let info = server.js().await.account_info().await.unwrap();
    assert_eq!(info.domain.as_deref(), Some("us-east-1"));
}

#[tokio::test]
async fn calls_to_a_dead_server_end_within_their_timeout() {
    let mut server = single("us");
    let js = server.js().await.with_timeout(Duration::from_millis(500));
    let sys = server.sys().await;
    server.kill();
    let started = tokio::time::Instant::now();
    let err = js.stream_info("S").await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    let pongs = sys.ping(Duration::from_millis(300), None).await;
    assert!(pongs.map(|p| p.is_empty()).unwrap_or(true));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert!(matches!(
        err,
        JsError::Timeout { .. } | JsError::Transport { .. } | JsError::NoResponders { .. }
    ));
}

#[tokio::test]
async fn system_pings_count_servers_and_report_health() {
    let server = single("us");
    let _js = server.js().await;
    let sys = server.sys().await;
    let pongs = sys.ping(Duration::from_millis(500), None).await.unwrap();
    assert_eq!(pongs.len(), 1);
    assert_eq!(pongs[0].server.name, "us-0");
    assert!(pongs[0].server.jetstream);
    let health = sys
        .healthz(Duration::from_millis(500), Some(1))
        .await
        .unwrap();
    assert_eq!(health.len(), 1);
    assert_eq!(health[0].status_code, 200, "{:?}", health[0]);
}

#[tokio::test]
async fn the_application_account_gets_no_system_replies() {
    let server = single("us");
    let app = natsdr::nats::SysApi::new(natsdr::nats::connect(&server.app_spec()).await.unwrap());
    assert!(
        app.ping(Duration::from_millis(300), None)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_cross_domain_mirror_reports_its_source_and_contact_age() {
    let (us, eu) = Server::leafed_pair("us", "eu");
    let us_js = us.js().await;
    let eu_js = eu.js().await;
    memory_stream(&us_js, "S", &["s.>"]).await;
    create(&eu_js, json!({
            "name": "M", "storage": "memory", "mirror": {"name": "S", "external": {"api": "$JS.us.API"}}
        })).await;
    us_js.client().request("s.1", "x".into()).await.unwrap();

    wait_for_last_seq(&eu_js, "M", 1).await;
    let mirror = eu_js.stream_info("M").await.unwrap().mirror.unwrap();
    assert_eq!(mirror.name, "S");
    assert_eq!(mirror.external_api.as_deref(), Some("$JS.us.API"));
    assert!(
        mirror.active.is_some_and(|a| a < Duration::from_secs(5)),
        "{mirror:?}"
    );

    let us_via_eu =
        natsdr::nats::JsApi::for_domain(eu_js.client().clone(), "us", Duration::from_secs(2));
    assert_eq!(
        us_via_eu.stream_info("S").await.unwrap().state.last_seq,
        1,
        "the US domain's API across the leafnode"
    );

    let leafs = us
        .sys()
        .await
        .leafz(Duration::from_millis(500), Some(1))
        .await
        .unwrap();
    assert_eq!(leafs[0].leafs.len(), 1, "{leafs:?}");
    assert_eq!(leafs[0].leafs[0].account, "APP");
}

#[tokio::test]
async fn consumers_are_listed_and_can_be_paused_and_resumed() {
    let server = single("us");
    let js = server.js().await;
    memory_stream(&js, "S", &["s.>"]).await;
    let _: serde_json::Value = js
        .call("CONSUMER.CREATE.S.worker", json!({"stream_name": "S", "config": {"durable_name": "worker", "ack_policy": "explicit"}}))
        .await
        .unwrap();
    assert_eq!(
        js.consumer_names("S").await.unwrap(),
        vec!["worker".to_owned()]
    );

    let until = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    if js.account_info().await.unwrap().api_level.is_none() {
        // 2.10 (no API level) does not know PAUSE and never answers: callers must check the level.
        let err = js
            .with_timeout(Duration::from_millis(300))
            .consumer_pause("S", "worker", Some(until))
            .await;
        assert!(matches!(err, Err(JsError::Timeout { .. })), "{err:?}");
        return;
    }
    assert!(js.consumer_pause("S", "worker", Some(until)).await.unwrap());
    assert!(!js.consumer_pause("S", "worker", None).await.unwrap());
}

#[tokio::test]
async fn region_clients_use_the_system_account_for_probes_and_the_app_account_for_jetstream() {
    let server = single("us");
    let _ready = server.js().await;
    let region = natsdr::nats::RegionClients::connect(
        &server.sys_spec(),
        &server.app_spec(),
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    assert_eq!(
        region
            .sys
            .ping(Duration::from_millis(500), Some(1))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        region.js.account_info().await.unwrap().domain.as_deref(),
        Some("us")
    );
}

#[tokio::test]
async fn wrong_credentials_fail_the_connect_with_a_final_error_naming_the_connection() {
    let server = single("us");
    let mut spec = server.app_spec();
    spec.auth = natsdr::nats::Auth::UserPassword {
        user: "app".into(),
        password: natsdr::config::Secret::new("wrong"),
    };
    let err = natsdr::nats::connect(&spec).await.unwrap_err();
    assert!(err.to_string().contains("test/us/app"), "{err}");
    assert!(!err.is_retryable(), "{err:?}");
}

#[tokio::test]
async fn a_region_that_is_down_fails_the_connect_with_a_retryable_error() {
    let mut server = single("us");
    let mut spec = server.app_spec();
    server.kill();
    spec.connect_timeout = Duration::from_millis(500);
    let err = natsdr::nats::connect(&spec).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
}

/// Failback finds the last message a stream shares with its twin by comparing stored messages
/// (`exec::tail::same_message`): that needs a mirror to keep its source's sequence, subject,
/// time, headers and payload, also for a message published with natsdr's re-publish headers.
/// Server fact (2.15.1): the mirror drops `Nats-Expected-Stream` from the headers it stores and
/// keeps the rest; `same_message` leaves the preconditions out of the comparison. On 2.10.26 the
/// mirror instead stalls at that message (lag 0, no error, contact fresh), which is why natsdr's
/// re-publish sets no such header.
#[tokio::test]
async fn a_mirror_stores_each_message_exactly_as_its_source_did() {
    let (us, eu) = Server::leafed_pair("us", "eu");
    let (us_js, eu_js) = (us.js().await, eu.js().await);
    create(&us_js, json!({"name": "S", "subjects": ["s.>"], "storage": "file", "duplicate_window": 60_000_000_000u64})).await;
    let plain = us_js.client().request("s.1", "plain".into()).await.unwrap();
    assert!(!plain.payload.is_empty());
    let mut h = async_nats::HeaderMap::new();
    h.insert("Nats-Msg-Id", "id-1");
    h.insert("Nats-Expected-Stream", "S");
    h.insert("X-App", "v");
    us_js
        .client()
        .request_with_headers("s.2", h, "with headers".into())
        .await
        .unwrap();
    create(&eu_js, json!({
            "name": "M", "storage": "file", "mirror": {"name": "S", "external": {"api": "$JS.us.API"}}
        })).await;
    wait_for_last_seq(&eu_js, "M", 2).await;
    for seq in 1..=2 {
        let a = us_js.stream_msg_get("S", seq).await.unwrap().unwrap();
        let b = eu_js.stream_msg_get("M", seq).await.unwrap().unwrap();
        assert_eq!((a.seq, &a.subject, a.time), (b.seq, &b.subject, b.time));
        assert_eq!(a.data, b.data, "seq {seq}");
        assert!(
            natsdr::exec::tail::same_message(&a, &b),
            "seq {seq}: {a:?} vs {b:?}"
        );
        let kept = natsdr::exec::tail::headers(&b);
        assert!(
            kept.iter().all(|(k, _)| k != "Nats-Expected-Stream"),
            "the mirror kept {kept:?}"
        );
        if seq == 2 {
            let mut names: Vec<&str> = kept.iter().map(|(k, _)| k.as_str()).collect();
            names.sort_unstable();
            assert_eq!(names, ["Nats-Msg-Id", "X-App"]);
        }
    }
}
