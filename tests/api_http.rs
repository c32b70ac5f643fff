//! The HTTP API with a real HTTP client: auth, malformed input, dry runs, health and metrics.
//! The driver side is a recording stand-in: these tests pin the API's contract (what reaches
//! the driver, and what never does), not the state machine's decisions.
use std::sync::{Arc, Mutex};

use natsdr::api::audit::AuditLog;
use natsdr::api::auth::Tokens;
use natsdr::api::model::{
    Command, CommandKind, CommandOutcome, Observations, RegionDepth, RegionStatus, Status,
};
use natsdr::api::{ApiContext, CommandRequest};
use natsdr::model::{Epoch, Region};
use natsdr::telemetry::Metrics;
use tokio::sync::{mpsc, watch};

const ADMIN: &str = "admin-token-0123456789";
const READER: &str = "reader-token-0123456789";

struct Api {
    base: String,
    received: Arc<Mutex<Vec<Command>>>,
    status_tx: watch::Sender<Arc<Status>>,
    ready_tx: watch::Sender<bool>,
    audit_path: std::path::PathBuf,
    _dir: tempfile::TempDir,
    http: reqwest::Client,
}

fn region(s: &str) -> Region {
    Region::new(s).unwrap()
}

async fn start(read_requires_token: bool, tokens: &str) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let audit_path = dir.path().join("audit.jsonl");
    let regions = vec![region("us-east-1"), region("eu-central-1")];
    let (registry, metrics) = Metrics::new(&["us-east-1".into(), "eu-central-1".into()], &[], &[]);
    let (status_tx, status) = watch::channel(Arc::new(Status {
        state: "healthy".into(),
        ..Status::default()
    }));
    let (_obs_tx, observations) = watch::channel(Arc::new(Observations {
        from: "wd-eu".into(),
        ..Observations::default()
    }));
    let (ready_tx, ready) = watch::channel(false);
    let (tx, mut rx) = mpsc::channel::<CommandRequest>(8);
    let received = Arc::new(Mutex::new(Vec::new()));
    let rec = received.clone();
    // The stand-in driver refuses failovers without break-glass, accepts everything else.
    tokio::spawn(async move {
        while let Some(req) = rx.recv().await {
            let c = req.command.clone();
            rec.lock().unwrap().push(c.clone());
            let accepted = c.kind != CommandKind::Failover || c.allow_data_loss;
            let _ = req.reply.send(CommandOutcome {
                accepted,
                dry_run: c.dry_run,
                message: if accepted {
                    "ok".into()
                } else {
                    "lag over the RPO budget".into()
                },
                state: "healthy".into(),
            });
        }
    });
    let _ = ready_tx.send(false);
    let ctx = ApiContext {
        status,
        observations,
        ready,
        commands: tx,
        registry: Arc::new(registry),
        metrics,
        tokens: Arc::new(Tokens::parse(tokens).unwrap()),
        read_requires_token,
        audit: AuditLog::open(Some(&audit_path)).unwrap(),
        regions,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(natsdr::api::serve_on(listener, ctx, std::future::pending()));
    Api {
        base,
        received,
        status_tx,
        ready_tx,
        audit_path,
        _dir: dir,
        http: reqwest::Client::new(),
    }
}

fn tokens() -> String {
    format!("ops:admin:{ADMIN}\ngrafana:read:{READER}\n")
}

impl Api {
    async fn post(&self, cmd: &str, token: Option<&str>, body: &str) -> (u16, serde_json::Value) {
        let mut r = self
            .http
            .post(format!("{}/v1/{cmd}", self.base))
            .body(body.to_owned());
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let resp = r.send().await.unwrap();
        let code = resp.status().as_u16();
        (code, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    fn received(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

#[tokio::test]
async fn liveness_is_always_ok_and_readiness_waits_for_the_first_probe_round() {
    let api = start(false, &tokens()).await;
    let live = api
        .http
        .get(format!("{}/livez", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    let ready = api
        .http
        .get(format!("{}/readyz", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    api.ready_tx.send(true).unwrap();
    let ready = api
        .http
        .get(format!("{}/readyz", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}

#[tokio::test]
async fn metrics_are_openmetrics_text() {
    let api = start(false, &tokens()).await;
    let r = api
        .http
        .get(format!("{}/metrics", api.base))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = r.text().await.unwrap();
    assert!(
        text.contains("natsdr_state{state=\"starting\"} 1"),
        "{text}"
    );
    assert!(text.trim_end().ends_with("# EOF"));
}

#[tokio::test]
async fn commands_need_an_admin_token() {
    let api = start(false, &tokens()).await;
    let body = r#"{"reason":"maintenance"}"#;
    assert_eq!(api.post("pause", None, body).await.0, 401);
    assert_eq!(
        api.post("pause", Some("wrong-token-0123456789"), body)
            .await
            .0,
        401
    );
    let (code, err) = api.post("pause", Some(READER), body).await;
    assert_eq!(code, 403, "{err}");
    assert_eq!(
        api.received(),
        0,
        "an unauthorized command must never reach the driver"
    );
    let (code, out) = api.post("pause", Some(ADMIN), body).await;
    assert_eq!(code, 202, "{out}");
    assert_eq!(api.received(), 1);
    assert_eq!(api.received.lock().unwrap()[0].by, "ops");
}

#[tokio::test]
async fn without_configured_tokens_commands_are_disabled() {
    let api = start(false, "").await;
    let (code, err) = api.post("pause", Some(ADMIN), r#"{"reason":"x"}"#).await;
    assert_eq!(code, 403);
    assert!(err["error"].as_str().unwrap().contains("no API token"));
}

#[tokio::test]
async fn bad_input_is_a_4xx_naming_the_problem_and_never_reaches_the_driver() {
    let api = start(false, &tokens()).await;
    let cases = [
        ("pause", "{not json", "malformed body"),
        (
            "failover",
            r#"{"reason":"x","allow_dataloss":true}"#,
            "unknown field `allow_dataloss`",
        ),
        ("pause", r#"{"dry_run":true}"#, "reason is required"),
        ("pause", r#"{"reason":"   "}"#, "reason is required"),
        (
            "switchover",
            r#"{"reason":"x","to":"ap-south-1"}"#,
            "not a configured region",
        ),
        (
            "pause",
            r#"{"reason":"x","to":"eu-central-1"}"#,
            "`to` applies to switchover and failover only",
        ),
        (
            "ack",
            r#"{"reason":"x","allow_data_loss":true}"#,
            "allow_data_loss applies to failover only",
        ),
        (
            "pause",
            r#"{"reason":"x","dry_run":"yes"}"#,
            "malformed body",
        ),
    ];
    for (cmd, body, expected) in cases {
        let (code, err) = api.post(cmd, Some(ADMIN), body).await;
        assert_eq!(code, 400, "{cmd} {body}: {err}");
        let msg = err["error"].as_str().unwrap();
        assert!(msg.contains(expected), "{cmd} {body}: {msg}");
    }
    let (code, _) = api.post("explode", Some(ADMIN), r#"{"reason":"x"}"#).await;
    assert_eq!(code, 404);
    assert_eq!(api.received(), 0);
}

#[tokio::test]
async fn dry_runs_and_refusals_are_distinguished_and_audited() {
    let api = start(false, &tokens()).await;
    let (code, out) = api
        .post(
            "switchover",
            Some(ADMIN),
            r#"{"reason":"drill","dry_run":true,"to":"eu-central-1"}"#,
        )
        .await;
    assert_eq!(code, 200, "{out}");
    assert_eq!(out["dry_run"], true);
    let (code, out) = api
        .post("failover", Some(ADMIN), r#"{"reason":"us is gone"}"#)
        .await;
    assert_eq!(code, 409, "{out}");
    assert_eq!(out["accepted"], false);
    let (code, _) = api
        .post(
            "failover",
            Some(ADMIN),
            r#"{"reason":"us is gone","allow_data_loss":true}"#,
        )
        .await;
    assert_eq!(code, 202);
    let received = api.received.lock().unwrap().clone();
    assert_eq!(received[0].to, Some(region("eu-central-1")));
    assert!(received[0].dry_run);
    let audit = std::fs::read_to_string(&api.audit_path).unwrap();
    let lines: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1]["outcome"], "refused");
    assert_eq!(lines[2]["allow_data_loss"], true);
    assert_eq!(lines[2]["who"], "ops");
    assert_eq!(lines[2]["reason"], "us is gone");
}

#[tokio::test]
async fn reads_can_require_a_token() {
    let api = start(true, &tokens()).await;
    let r = api
        .http
        .get(format!("{}/v1/status", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = api
        .http
        .get(format!("{}/v1/status", api.base))
        .bearer_auth(READER)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let s: Status = r.json().await.unwrap();
    assert_eq!(s.state, "healthy");
    let r = api
        .http
        .get(format!("{}/v1/observations", api.base))
        .bearer_auth(READER)
        .send()
        .await
        .unwrap();
    let o: Observations = r.json().await.unwrap();
    assert_eq!(o.from, "wd-eu");
}

#[tokio::test]
async fn dns_health_is_200_only_for_the_active_unfenced_region() {
    let api = start(false, &tokens()).await;
    let health = |r: &'static str| {
        let url = format!("{}/v1/dns-health/{r}", api.base);
        let http = api.http.clone();
        async move { http.get(url).send().await.unwrap().status().as_u16() }
    };
    let rs = |r: &str, fenced: bool| RegionStatus {
        region: region(r),
        home: String::new(),
        up: true,
        servers: 3,
        cluster_size: 3,
        meta_leader: true,
        fenced,
        epoch_stamp: None,
        error: None,
        depth: RegionDepth::default(),
    };
    let set = |active: &str, us_fenced: bool| {
        api.status_tx
            .send(Arc::new(Status {
                active_region: Some(region(active)),
                epoch: Some(Epoch(2)),
                regions: vec![rs("us-east-1", us_fenced), rs("eu-central-1", false)],
                ..Status::default()
            }))
            .unwrap();
    };
    set("us-east-1", false);
    assert_eq!(
        (health("us-east-1").await, health("eu-central-1").await),
        (200, 503)
    );
    set("us-east-1", true);
    assert_eq!(
        (health("us-east-1").await, health("eu-central-1").await),
        (503, 503)
    );
    set("eu-central-1", true);
    assert_eq!(
        (health("us-east-1").await, health("eu-central-1").await),
        (503, 200)
    );
    assert_eq!(health("mars-1").await, 404);
}
