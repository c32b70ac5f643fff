//! The HTTP API with a real HTTP client: auth, malformed input, dry runs, health and metrics,
//! and the server's limits (idle and slow clients, oversized bodies, too many connections).
//! The driver side is a recording stand-in: these tests pin the API's contract (what reaches
//! the driver, and what never does), not the state machine's decisions.
use std::sync::{Arc, Mutex};

use natsdr::api::audit::AuditLog;
use natsdr::api::auth::Tokens;
use natsdr::api::model::{
    Command, CommandKind, CommandOutcome, Observations, RegionDepth, RegionStatus, Status,
};
use natsdr::api::tls::TlsSource;
use natsdr::api::{ApiContext, CommandRequest};
use natsdr::config::ApiLimits;
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
    start_with(read_requires_token, tokens, ApiLimits::default()).await
}

async fn start_with(read_requires_token: bool, tokens: &str, limits: ApiLimits) -> Api {
    start_tls(read_requires_token, tokens, limits, None).await
}

async fn start_tls(
    read_requires_token: bool,
    tokens: &str,
    limits: ApiLimits,
    tls: Option<Arc<TlsSource>>,
) -> Api {
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
        age: natsdr::api::model::ReportAge::Since(tokio::time::Instant::now()),
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
        limits,
        tls: tls.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let base = format!("{scheme}://{}", listener.local_addr().unwrap());
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

    /// `GET path` (e.g. `/v1/status`), with `token` as the bearer if any.
    async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut r = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().await.unwrap()
    }

    fn received(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

#[tokio::test]
async fn liveness_is_always_ok_and_readiness_waits_for_the_first_probe_round() {
    let api = start(false, &tokens()).await;
    let live = api.get("/livez", None).await;
    assert_eq!(live.status(), 200);
    let ready = api.get("/readyz", None).await;
    assert_eq!(ready.status(), 503);
    api.ready_tx.send(true).unwrap();
    let ready = api.get("/readyz", None).await;
    assert_eq!(ready.status(), 200);
}

#[tokio::test]
async fn metrics_are_openmetrics_text() {
    let api = start(false, &tokens()).await;
    let r = api.get("/metrics", None).await;
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
    let r = api.get("/v1/status", None).await;
    assert_eq!(r.status(), 401);
    let r = api.get("/v1/status", Some(READER)).await;
    assert_eq!(r.status(), 200);
    let s: Status = r.json().await.unwrap();
    assert_eq!(s.state, "healthy");
    let r = api.get("/v1/observations", Some(READER)).await;
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

/// A raw client that writes `head` (and no more) and reports what came back before the server
/// closed the connection, or `None` if it was still open after `wait`.
async fn raw_exchange(addr: &str, head: &str, wait: std::time::Duration) -> Option<String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let read = tokio::time::timeout(wait, async {
        let mut buf = [0_u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&got).into_owned())
}

fn limits(header_timeout_ms: u64, max_connections: usize) -> ApiLimits {
    ApiLimits {
        header_timeout: std::time::Duration::from_millis(header_timeout_ms),
        request_timeout: std::time::Duration::from_secs(2),
        max_connections,
        max_in_flight: 64,
        max_body: 64 << 10,
    }
}

/// Raises this process's open-file limit to its hard limit: the idle-connection test holds
/// both ends of 500 connections.
fn enough_files(n: u64) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    assert!(
        hard >= n,
        "the open-file hard limit is {hard}, the test needs {n}"
    );
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_by_the_header_timeout_and_never_keep_status_out() {
    use tokio::io::AsyncReadExt as _;
    enough_files(1_200);
    let api = start_with(false, &tokens(), limits(1_500, 1_024)).await;
    let addr = api.base.trim_start_matches("http://").to_owned();
    let mut idle = Vec::new();
    for _ in 0..500 {
        idle.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    // Half of them start a request head and never finish it (a slowloris).
    for s in idle.iter_mut().step_by(2) {
        use tokio::io::AsyncWriteExt as _;
        s.write_all(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
    }
    // Status answers while all 500 are open (how fast is a benchmark figure; here only that it
    // answers, with room for a loaded test machine).
    // No pooled connection: the server closes an idle keep-alive one at the header timeout too,
    // and a request racing that close fails on the client's side without reaching the server.
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    for _ in 0..5 {
        let r = http.get(format!("{}/v1/status", api.base)).send().await;
        assert_eq!(r.map(|r| r.status().as_u16()).ok(), Some(200));
    }
    // Every one of them is closed by the server (EOF), none left open after a generous wait.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut closed = 0;
    for mut s in idle {
        let mut buf = [0_u8; 256];
        let eof = tokio::time::timeout_at(deadline, async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        if eof.is_ok() {
            closed += 1;
        }
    }
    assert_eq!(closed, 500, "connections the server never closed");
    let r = http.get(format!("{}/v1/status", api.base)).send().await;
    assert_eq!(r.map(|r| r.status().as_u16()).ok(), Some(200));
}

#[tokio::test]
async fn a_huge_body_is_refused_before_it_is_read_and_audited_with_its_source() {
    let api = start_with(false, &tokens(), limits(5_000, 1_024)).await;
    let addr = api.base.trim_start_matches("http://").to_owned();
    let wait = std::time::Duration::from_secs(5);
    // 10 MB declared, a few bytes sent: without a token the answer is 401, unread.
    let head = "POST /v1/failover HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                Content-Length: 10485760\r\n\r\n{\"reason\":";
    let got = raw_exchange(&addr, head, wait)
        .await
        .expect("the server never answered");
    assert!(got.starts_with("HTTP/1.1 401"), "{got}");
    // With the admin token: 413 before a byte of the body is read.
    let head = format!(
        "POST /v1/failover HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\n\
         Content-Length: 10485760\r\n\r\n{{\"reason\":"
    );
    let got = raw_exchange(&addr, &head, wait)
        .await
        .expect("the server never answered");
    assert!(got.starts_with("HTTP/1.1 413"), "{got}");
    assert!(got.contains("\"error\""), "not a JSON error: {got}");
    // A chunked body that does not say its length is cut off at the limit.
    let chunk = "x".repeat(70_000);
    let head = format!(
        "POST /v1/pause HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\n\
         Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n",
        chunk.len()
    );
    let got = raw_exchange(&addr, &head, wait)
        .await
        .expect("the server never answered");
    assert!(got.starts_with("HTTP/1.1 413"), "{got}");
    assert_eq!(api.received(), 0, "an oversized command reached the driver");
    let audit = std::fs::read_to_string(&api.audit_path).unwrap();
    let records: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let outcomes: Vec<&str> = records
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["unauthorized", "too_large", "too_large"],
        "{audit}"
    );
    for r in &records {
        let source = r["source"].as_str().expect("a record without its source");
        assert!(source.starts_with("127.0.0.1:"), "{source}");
    }
}

#[tokio::test]
async fn a_body_that_trickles_past_the_request_timeout_gets_a_json_408() {
    let api = start_with(false, &tokens(), limits(5_000, 1_024)).await;
    let addr = api.base.trim_start_matches("http://").to_owned();
    let head = format!(
        "POST /v1/pause HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\n\
         Content-Length: 100\r\n\r\n{{\"reason\":"
    );
    let got = raw_exchange(&addr, &head, std::time::Duration::from_secs(10))
        .await
        .expect("the server never answered");
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    assert!(got.contains("\"error\""), "not a JSON error: {got}");
    assert_eq!(api.received(), 0);
}

#[tokio::test]
async fn connections_beyond_the_cap_are_closed_on_accept_and_counted() {
    let api = start_with(false, &tokens(), limits(5_000, 3)).await;
    let addr = api.base.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    // Give the server a moment to accept the three.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let got = raw_exchange(
        &addr,
        "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n",
        std::time::Duration::from_secs(3),
    )
    .await
    .expect("a connection over the cap was kept open");
    assert_eq!(got, "", "a connection over the cap was served: {got}");
    drop(held);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let metrics = api.get("/metrics", None).await.text().await.unwrap();
    let refused = metrics
        .lines()
        .find(|l| l.starts_with("natsdr_api_connections_refused_total"))
        .expect("no refused-connections counter");
    assert!(refused.ends_with(" 1"), "{refused}");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json_errors() {
    let api = start(false, &tokens()).await;
    for (method, path, code) in [
        (reqwest::Method::GET, "/v2/nothing", 404),
        (reqwest::Method::DELETE, "/v1/status", 405),
    ] {
        let r = api
            .http
            .request(method, format!("{}{path}", api.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), code);
        let body: serde_json::Value = r.json().await.expect("not a JSON error body");
        assert!(body["error"].is_string(), "{body}");
    }
}

/// The lab's certificate authority, with the unwraps a test wants.
struct Ca(natsdr_lab::testkit::pki::Ca);

impl Ca {
    fn new(name: &str) -> Self {
        Self(natsdr_lab::testkit::pki::Ca::new(name).unwrap())
    }

    /// Writes `NAME.crt` and `NAME.key`, a leaf for 127.0.0.1 and localhost, signed by this CA.
    fn leaf(&self, dir: &std::path::Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        self.0.leaf(dir, name).unwrap()
    }

    fn write(&self, dir: &std::path::Path, name: &str) -> std::path::PathBuf {
        self.0.write(dir, name).unwrap()
    }
}

/// Checks that `peer`'s fetch fails in the TLS handshake (`why`: what would have gone wrong).
async fn refused_in_the_handshake(peer: natsdr::probe::PeerClient, why: &str) {
    let e = peer.fetch().await.expect_err(why);
    assert!(
        matches!(e, natsdr::probe::PeerError::Unreachable { .. }),
        "{e:?}"
    );
}

fn peer_client(
    base: &str,
    ca: Option<&std::path::Path>,
    identity: Option<(std::path::PathBuf, std::path::PathBuf)>,
) -> natsdr::probe::PeerClient {
    let tls = natsdr::config::PeerTls {
        ca_file: ca.map(std::path::Path::to_owned),
        identity,
    };
    natsdr::probe::PeerClient::new(base, None, std::time::Duration::from_secs(3), &tls).unwrap()
}

#[tokio::test]
async fn peers_fetch_votes_over_mtls_and_a_certificate_from_another_ca_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("natsdr test CA");
    let rogue = Ca::new("someone else");
    let ca_file = ca.write(dir.path(), "ca");
    let (cert_file, key_file) = ca.leaf(dir.path(), "server");
    let tls = natsdr::config::ApiTls {
        cert_file,
        key_file,
        client_ca_file: Some(ca_file.clone()),
        client_cert_required: true,
    };
    let source = Arc::new(TlsSource::load(&tls).unwrap());
    let api = start_tls(false, &tokens(), ApiLimits::default(), Some(source)).await;
    assert!(api.base.starts_with("https://"));

    // A peer with a certificate the CA signed reads the votes.
    let good = ca.leaf(dir.path(), "peer");
    let obs = peer_client(&api.base, Some(&ca_file), Some(good.clone()))
        .fetch()
        .await;
    let obs = obs.map_err(|e| natsdr::error_chain(&e));
    assert_eq!(obs.map(|o| o.from).as_deref(), Ok("wd-eu"));
    // One whose certificate another CA signed, or with none, is refused in the handshake.
    let forged = rogue.leaf(dir.path(), "forged");
    refused_in_the_handshake(
        peer_client(&api.base, Some(&ca_file), Some(forged)),
        "a certificate from another CA was accepted",
    )
    .await;
    refused_in_the_handshake(
        peer_client(&api.base, Some(&ca_file), None),
        "a peer without a certificate was accepted",
    )
    .await;
    // A peer that does not trust the server's CA refuses the server.
    refused_in_the_handshake(
        peer_client(&api.base, None, Some(good)),
        "a server certificate from an unknown CA was trusted",
    )
    .await;
    // Plain HTTP on the TLS port gets nothing.
    let plain = api.base.replace("https://", "http://");
    assert!(api.http.get(format!("{plain}/livez")).send().await.is_err());
}

#[tokio::test]
async fn a_rotated_server_certificate_is_served_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let old_ca = Ca::new("old CA");
    let new_ca = Ca::new("new CA");
    let (cert_file, key_file) = old_ca.leaf(dir.path(), "server");
    let tls = natsdr::config::ApiTls {
        cert_file: cert_file.clone(),
        key_file: key_file.clone(),
        client_ca_file: None,
        client_cert_required: false,
    };
    let source = Arc::new(TlsSource::load(&tls).unwrap());
    let api = start_tls(false, &tokens(), ApiLimits::default(), Some(source)).await;
    let new_ca_file = new_ca.write(dir.path(), "new-ca");
    let trusting_new = peer_client(&api.base, Some(&new_ca_file), None);
    assert!(
        trusting_new.fetch().await.is_err(),
        "trusted before the rotation"
    );
    // Rotate: the new CA's certificate replaces the files in place.
    let (c, k) = new_ca.leaf(dir.path(), "rotated");
    std::fs::rename(c, &cert_file).unwrap();
    std::fs::rename(k, &key_file).unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if trusting_new.fetch().await.is_ok() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the rotated certificate was never served"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Runs the `natsdr` binary with `args` (stdin empty, not a terminal); returns its exit code,
/// stdout and stderr.
async fn cli(args: Vec<String>) -> (i32, String, String) {
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_natsdr"))
            .args(&args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn the_cli_exit_codes_say_healthy_refused_unauthorized_unreachable_and_bad_usage_apart() {
    let api = start(false, &tokens()).await;
    let token_file = api.audit_path.with_file_name("token");
    std::fs::write(&token_file, format!("ops:admin:{ADMIN}\n")).unwrap();
    let tf = token_file.to_str().unwrap().to_owned();
    let base = api.base.clone();
    // A failover as an admin, with `extra` flags.
    let failover = |extra: &[&str]| {
        let mut args = vec![
            "failover",
            "--api",
            &base,
            "--token-file",
            &tf,
            "--reason",
            "x",
        ];
        args.extend_from_slice(extra);
        cli(strings(&args))
    };

    // status: 0 while healthy, 3 in any other state.
    let (code, out, _) = cli(strings(&["status", "--api", &base])).await;
    assert_eq!(code, 0, "{out}");
    api.status_tx.send_modify(|s| {
        let mut next = (**s).clone();
        next.state = "blocked".into();
        *s = Arc::new(next);
    });
    let (code, out, _) = cli(strings(&["status", "--api", &base])).await;
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("blocked"), "{out}");

    // Unreachable: 69, with the cause; an address without its scheme: 64, saying so.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let (code, _, err) = cli(strings(&["status", "--api", &gone])).await;
    assert_eq!(code, 69, "{err}");
    assert!(
        err.contains("cannot reach") && err.contains("onnect"),
        "{err}"
    );
    let bare = base.trim_start_matches("http://").to_owned();
    let (code, _, err) = cli(strings(&["status", "--api", &bare])).await;
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("needs its scheme"), "{err}");

    // No token: 77. A refusal: 3. Accepted: 0.
    let (code, _, err) = cli(strings(&["pause", "--api", &base, "--reason", "x"])).await;
    assert_eq!(code, 77, "{err}");
    let (code, out, _) = failover(&[]).await;
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("refused"), "{out}");

    // Break-glass without anyone to type the confirmation: refused before anything is sent.
    let before = api.received();
    let (code, _, err) = failover(&["--allow-data-loss"]).await;
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(api.received(), before, "sent without confirmation");
    let (code, out, err) = failover(&["--allow-data-loss", "--yes", "--to", "eu-central-1"]).await;
    assert_eq!(code, 0, "{out}{err}");
    let last = api.received.lock().unwrap().last().cloned().unwrap();
    assert!(last.allow_data_loss);
    assert_eq!(
        last.to.map(|r| r.to_string()).as_deref(),
        Some("eu-central-1")
    );

    // A bad command line is EX_USAGE (2 is drift and lint warnings).
    let (code, _, _) = cli(strings(&["frobnicate"])).await;
    assert_eq!(code, 64);
}

#[tokio::test]
async fn the_binary_says_its_commit_and_generates_completions_and_a_manual_page() {
    let (code, out, _) = cli(strings(&["--version"])).await;
    assert_eq!(code, 0);
    assert!(
        out.starts_with("natsdr ") && out.contains("(commit "),
        "{out}"
    );
    let (code, out, _) = cli(strings(&["completions", "bash"])).await;
    assert_eq!(code, 0);
    assert!(
        out.contains("switchover") && out.contains("--allow-data-loss"),
        "{out}"
    );
    let (code, out, _) = cli(strings(&["man"])).await;
    assert_eq!(code, 0);
    assert!(out.contains(".TH") && out.contains("failover"), "{out}");
}
