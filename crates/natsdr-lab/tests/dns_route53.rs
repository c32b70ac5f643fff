//! The Route 53 arbiter and client record against a real ministack (started on a free port;
//! these tests fail when it is missing). A small HTTP proxy in front of it injects `Throttling`
//! and lost answers, and counts the calls.
mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, HostedZoneConfig, ResourceRecord, ResourceRecordSet, RrType,
};
use common::dns::{own, sole_winner};
use natsdr::dns::{
    Arbiter, ClaimResult, ClientRecord, ClientTarget, DnsError, Route53, Route53Config, SwapResult,
};
use natsdr_lab::testkit::ministack::{Ministack, sdk_config as sdk};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const ZONE: &str = "dr.test.";
const OWNER: &str = "_natsdr-owner.dr.test.";
const CLIENT: &str = "nats.dr.test.";

fn addr(ip: &str) -> ClientTarget {
    ClientTarget::addresses([ip.parse().unwrap()])
}

/// A ministack with the zone `dr.test` holding the owner `region=us-east-1 epoch=1` and the
/// client record `127.1.0.1` (TTL 30 both, as an operator would seed them).
struct Zone {
    _dir: tempfile::TempDir,
    ministack: Ministack,
    api: aws_sdk_route53::Client,
    zone_id: String,
}

impl Zone {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ministack = Ministack::start(dir.path()).expect("ministack starts (make deps)");
        let api = aws_sdk_route53::Client::new(&sdk(&ministack.url()));
        let zone = api
            .create_hosted_zone()
            .name(ZONE)
            .caller_reference(format!("natsdr-test-{}", ministack.addr().port()))
            .hosted_zone_config(HostedZoneConfig::builder().comment("natsdr").build())
            .send()
            .await
            .unwrap();
        let zone_id = zone
            .hosted_zone()
            .unwrap()
            .id()
            .trim_start_matches("/hostedzone/")
            .to_owned();
        let z = Self {
            _dir: dir,
            ministack,
            api,
            zone_id,
        };
        z.change(vec![
            (
                ChangeAction::Create,
                set(
                    OWNER,
                    RrType::Txt,
                    30,
                    &["\"region=us-east-1 epoch=1\""],
                    None,
                ),
            ),
            (
                ChangeAction::Create,
                set(CLIENT, RrType::A, 30, &["127.1.0.1"], None),
            ),
        ])
        .await
        .unwrap();
        z
    }

    async fn change(&self, changes: Vec<(ChangeAction, ResourceRecordSet)>) -> Result<(), String> {
        let changes = changes
            .into_iter()
            .map(|(a, s)| {
                Change::builder()
                    .action(a)
                    .resource_record_set(s)
                    .build()
                    .unwrap()
            })
            .collect();
        self.api
            .change_resource_record_sets()
            .hosted_zone_id(&self.zone_id)
            .change_batch(
                ChangeBatch::builder()
                    .set_changes(Some(changes))
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                use aws_sdk_route53::error::ProvideErrorMetadata as _;
                e.code().unwrap_or("?").to_owned()
            })
    }

    /// Every record set of the zone except SOA and NS: (name, type, set id, ttl, values).
    async fn records(&self) -> Vec<(String, String, Option<String>, Option<i64>, Vec<String>)> {
        let out = self
            .api
            .list_resource_record_sets()
            .hosted_zone_id(&self.zone_id)
            .send()
            .await
            .unwrap();
        let mut all: Vec<_> = out
            .resource_record_sets()
            .iter()
            .filter(|s| !matches!(s.r#type(), RrType::Soa | RrType::Ns))
            .map(|s| {
                let mut values: Vec<String> = s
                    .resource_records()
                    .iter()
                    .map(|r| r.value().to_owned())
                    .collect();
                values.sort();
                (
                    s.name().to_owned(),
                    s.r#type().as_str().to_owned(),
                    s.set_identifier().map(str::to_owned),
                    s.ttl(),
                    values,
                )
            })
            .collect();
        all.sort();
        all
    }

    fn config(&self) -> Route53Config {
        Route53Config {
            hosted_zone_id: self.zone_id.clone(),
            owner_record_name: OWNER.into(),
            client_record_name: CLIENT.into(),
            set_identifier: None,
            ttl: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            retry_deadline: Duration::from_secs(3),
            // A port nobody answers on: verification must wait for a real server.
            name_servers: vec![closed_udp_port()],
        }
    }

    /// A client straight to ministack.
    fn route53(&self) -> Route53 {
        Route53::new(&self.config(), &sdk(&self.ministack.url())).unwrap()
    }

    /// A client through `proxy`.
    fn via(&self, proxy: &Proxy) -> Route53 {
        Route53::new(&self.config(), &sdk(&format!("http://{}", proxy.addr))).unwrap()
    }
}

fn set(
    name: &str,
    rtype: RrType,
    ttl: i64,
    values: &[&str],
    routing: Option<(&str, i64)>,
) -> ResourceRecordSet {
    let mut b = ResourceRecordSet::builder()
        .name(name)
        .r#type(rtype)
        .ttl(ttl);
    for v in values {
        b = b.resource_records(ResourceRecord::builder().value(*v).build().unwrap());
    }
    if let Some((id, weight)) = routing {
        b = b.set_identifier(id).weight(weight);
    }
    b.build().unwrap()
}

fn closed_udp_port() -> SocketAddr {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap()
}

/// What the proxy does to a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// Answer `400 Throttling` without forwarding.
    Throttle,
    /// Forward, then drop the answer (the change lands; the caller sees a broken connection).
    LoseAnswer,
}

/// An HTTP/1.1 proxy to ministack that applies `faults` to ChangeResourceRecordSets calls in
/// order (then forwards normally), and counts calls per kind.
struct Proxy {
    addr: SocketAddr,
    changes: Arc<AtomicUsize>,
    get_change: Arc<AtomicUsize>,
    faults_applied: Arc<AtomicUsize>,
}

impl Proxy {
    async fn start(upstream: SocketAddr, faults: Vec<Fault>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let changes = Arc::new(AtomicUsize::new(0));
        let get_change = Arc::new(AtomicUsize::new(0));
        let faults_applied = Arc::new(AtomicUsize::new(0));
        let faults = Arc::new(std::sync::Mutex::new(std::collections::VecDeque::from(
            faults,
        )));
        let (c, g, f) = (changes.clone(), get_change.clone(), faults_applied.clone());
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let (c, g, f, faults) = (c.clone(), g.clone(), f.clone(), faults.clone());
                tokio::spawn(serve(conn, upstream, c, g, f, faults));
            }
        });
        Self {
            addr,
            changes,
            get_change,
            faults_applied,
        }
    }
}

/// Reads one HTTP request (head and body); `None` at EOF.
async fn read_request(conn: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if conn.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    conn.read_exact(&mut body).await.ok()?;
    Some((head, body))
}

async fn serve(
    mut conn: TcpStream,
    upstream: SocketAddr,
    changes: Arc<AtomicUsize>,
    get_change: Arc<AtomicUsize>,
    applied: Arc<AtomicUsize>,
    faults: Arc<std::sync::Mutex<std::collections::VecDeque<Fault>>>,
) {
    while let Some((head, body)) = read_request(&mut conn).await {
        let request_line = head.lines().next().unwrap_or_default().to_owned();
        let is_change = request_line.starts_with("POST") && request_line.contains("/rrset");
        if request_line.starts_with("GET") && request_line.contains("/change/") {
            get_change.fetch_add(1, Ordering::SeqCst);
        }
        let fault = if is_change {
            changes.fetch_add(1, Ordering::SeqCst);
            faults.lock().unwrap().pop_front()
        } else {
            None
        };
        if fault.is_some() {
            applied.fetch_add(1, Ordering::SeqCst);
        }
        if fault == Some(Fault::Throttle) {
            let xml = "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>proxy</RequestId></ErrorResponse>";
            let answer = format!(
                "HTTP/1.1 400 Bad Request\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nx-amzn-RequestId: proxy\r\n\r\n{xml}",
                xml.len()
            );
            if conn.write_all(answer.as_bytes()).await.is_err() {
                return;
            }
            continue;
        }
        // Forward with `Connection: close`, so the answer ends at EOF.
        let mut forwarded: String = head
            .trim_end()
            .lines()
            .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
            .map(|l| format!("{l}\r\n"))
            .collect();
        forwarded.push_str("Connection: close\r\n\r\n");
        let Ok(mut up) = TcpStream::connect(upstream).await else {
            return;
        };
        let mut request = forwarded.into_bytes();
        request.extend_from_slice(&body);
        if up.write_all(&request).await.is_err() {
            return;
        }
        let mut answer = Vec::new();
        if up.read_to_end(&mut answer).await.is_err() {
            return;
        }
        if fault == Some(Fault::LoseAnswer) {
            return; // drops the connection: the change landed, its answer is lost
        }
        if conn.write_all(&answer).await.is_err() {
            return;
        }
        // The answer says `Connection: close`: the client opens a new connection next.
        return;
    }
}

#[tokio::test]
async fn a_claim_and_a_swap_each_replace_exactly_the_live_record() {
    let zone = Zone::start().await;
    let dns = zone.route53();
    assert_eq!(
        Arbiter::read(&dns).await.unwrap(),
        Some(own("us-east-1", 1))
    );
    assert_eq!(
        dns.claim(&own("us-east-1", 1), &own("eu-central-1", 2))
            .await
            .unwrap(),
        ClaimResult::Won
    );
    assert_eq!(
        dns.swap(Some(&addr("127.1.0.1")), &addr("127.2.0.1"))
            .await
            .unwrap(),
        SwapResult::Swapped
    );
    assert_eq!(
        zone.records().await,
        vec![
            (
                OWNER.into(),
                "TXT".into(),
                None,
                Some(5),
                vec!["\"region=eu-central-1 epoch=2\"".into()]
            ),
            (
                CLIENT.into(),
                "A".into(),
                None,
                Some(5),
                vec!["127.2.0.1".into()]
            ),
        ]
    );
    assert_eq!(
        ClientRecord::read(&dns).await.unwrap(),
        Some(addr("127.2.0.1"))
    );
}

#[tokio::test]
async fn a_stale_expected_value_stands_down_and_changes_nothing() {
    let zone = Zone::start().await;
    let dns = zone.route53();
    let before = zone.records().await;
    assert_eq!(
        dns.claim(&own("us-east-1", 0), &own("eu-central-1", 1))
            .await
            .unwrap(),
        ClaimResult::Lost {
            current: Some(own("us-east-1", 1))
        }
    );
    assert_eq!(
        dns.swap(Some(&addr("127.9.9.9")), &addr("127.2.0.1"))
            .await
            .unwrap(),
        SwapResult::Lost {
            current: Some(addr("127.1.0.1"))
        }
    );
    assert_eq!(zone.records().await, before);
}

#[tokio::test]
async fn ten_concurrent_claimers_leave_exactly_one_winner_and_only_its_record() {
    let zone = Zone::start().await;
    let claims = (0..10).map(|i| {
        let dns = zone.route53();
        async move {
            let new = own(&format!("eu-central-{i}"), 2);
            (
                new.clone(),
                dns.claim(&own("us-east-1", 1), &new).await.unwrap(),
            )
        }
    });
    let results = futures::future::join_all(claims).await;
    let winner = sole_winner(&results);
    let txt: Vec<_> = zone
        .records()
        .await
        .into_iter()
        .filter(|r| r.1 == "TXT")
        .collect();
    assert_eq!(
        txt,
        vec![(
            OWNER.into(),
            "TXT".into(),
            None,
            Some(5),
            vec![format!("\"{}\"", winner.to_txt())]
        )]
    );
}

#[tokio::test]
async fn a_retry_after_a_change_that_landed_but_lost_its_answer_counts_as_success() {
    let zone = Zone::start().await;
    let proxy = Proxy::start(zone.ministack.addr(), vec![Fault::LoseAnswer]).await;
    let dns = zone.via(&proxy);
    // The first batch lands, its answer is lost; the retry's exact DELETE no longer matches
    // (InvalidChangeBatch) and the read-back finds our value.
    assert_eq!(
        dns.claim(&own("us-east-1", 1), &own("eu-central-1", 2))
            .await
            .unwrap(),
        ClaimResult::AlreadyOurs
    );
    assert_eq!(proxy.faults_applied.load(Ordering::SeqCst), 1);
    assert_eq!(proxy.changes.load(Ordering::SeqCst), 2, "sent twice");
    let proxy = Proxy::start(zone.ministack.addr(), vec![Fault::LoseAnswer]).await;
    let dns = zone.via(&proxy);
    assert_eq!(
        dns.swap(Some(&addr("127.1.0.1")), &addr("127.2.0.1"))
            .await
            .unwrap(),
        SwapResult::AlreadyThere
    );
    assert_eq!(proxy.changes.load(Ordering::SeqCst), 2, "sent twice");
    assert_eq!(
        Arbiter::read(&dns).await.unwrap(),
        Some(own("eu-central-1", 2))
    );
}

#[tokio::test]
async fn throttling_is_retried_with_backoff_until_the_batch_lands() {
    let zone = Zone::start().await;
    let proxy = Proxy::start(zone.ministack.addr(), vec![Fault::Throttle; 3]).await;
    let dns = zone.via(&proxy);
    assert_eq!(
        dns.claim(&own("us-east-1", 1), &own("eu-central-1", 2))
            .await
            .unwrap(),
        ClaimResult::Won
    );
    assert_eq!(proxy.faults_applied.load(Ordering::SeqCst), 3);
    assert_eq!(proxy.changes.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn throttling_past_the_deadline_is_a_retryable_error_and_changes_nothing() {
    let zone = Zone::start().await;
    let proxy = Proxy::start(zone.ministack.addr(), vec![Fault::Throttle; 100]).await;
    let dns = zone.via(&proxy);
    let before = zone.records().await;
    let started = tokio::time::Instant::now();
    let err = dns
        .claim(&own("us-east-1", 1), &own("eu-central-1", 2))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(
        matches!(&err, DnsError::Route53 { code, .. } if code == "Throttling"),
        "{err}"
    );
    // retry_deadline 3 s, plus one read-back.
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    assert!(proxy.changes.load(Ordering::SeqCst) >= 3);
    assert_eq!(zone.records().await, before);
}

#[tokio::test]
async fn insync_is_polled_until_route53_reports_the_change_in_sync() {
    let zone = Zone::start().await;
    let proxy = Proxy::start(zone.ministack.addr(), vec![]).await;
    let dns = zone.via(&proxy);
    dns.swap(Some(&addr("127.1.0.1")), &addr("127.2.0.1"))
        .await
        .unwrap();
    let id = dns.last_change().expect("the swap's change id is kept");
    dns.wait_insync(&id, Duration::from_secs(5)).await.unwrap();
    // ministack answers PENDING to the first GetChange and INSYNC after.
    assert_eq!(proxy.get_change.load(Ordering::SeqCst), 2);
    let unknown = dns
        .wait_insync("CNOSUCHCHANGE0", Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(!unknown.is_retryable(), "{unknown}");
}

#[tokio::test]
async fn verify_waits_for_insync_then_fails_while_no_authoritative_server_shows_the_record() {
    let zone = Zone::start().await;
    let dns = zone.route53();
    dns.swap(Some(&addr("127.1.0.1")), &addr("127.2.0.1"))
        .await
        .unwrap();
    let err = dns
        .verify(&addr("127.2.0.1"), Duration::from_millis(500))
        .await
        .unwrap_err();
    assert!(matches!(err, DnsError::NotVisible { .. }), "{err}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_weighted_variant_is_swapped_alone_and_keeps_its_weight() {
    let zone = Zone::start().await;
    zone.change(vec![
        (
            ChangeAction::Delete,
            set(CLIENT, RrType::A, 30, &["127.1.0.1"], None),
        ),
        (
            ChangeAction::Create,
            set(CLIENT, RrType::A, 30, &["127.1.0.1"], Some(("us", 100))),
        ),
        (
            ChangeAction::Create,
            set(CLIENT, RrType::A, 30, &["127.3.0.1"], Some(("canary", 0))),
        ),
    ])
    .await
    .unwrap();
    let mut cfg = zone.config();
    cfg.set_identifier = Some("us".into());
    let dns = Route53::new(&cfg, &sdk(&zone.ministack.url())).unwrap();
    assert_eq!(
        dns.swap(
            Some(&addr("127.1.0.1")),
            &ClientTarget::Alias("eu.dr.test".into())
        )
        .await
        .unwrap(),
        SwapResult::Swapped
    );
    let out = zone
        .api
        .list_resource_record_sets()
        .hosted_zone_id(&zone.zone_id)
        .start_record_name(CLIENT)
        .send()
        .await
        .unwrap();
    let variants: Vec<(String, Option<String>, Option<i64>, String)> = out
        .resource_record_sets()
        .iter()
        .filter(|s| s.name() == CLIENT)
        .map(|s| {
            (
                s.r#type().as_str().to_owned(),
                s.set_identifier().map(str::to_owned),
                s.weight(),
                s.resource_records()[0].value().to_owned(),
            )
        })
        .collect();
    assert!(
        variants.contains(&(
            "CNAME".into(),
            Some("us".into()),
            Some(100),
            "eu.dr.test.".into()
        )),
        "{variants:?}"
    );
    assert!(
        variants.contains(&(
            "A".into(),
            Some("canary".into()),
            Some(0),
            "127.3.0.1".into()
        )),
        "{variants:?}"
    );
    assert_eq!(variants.len(), 2, "{variants:?}");
    assert_eq!(
        ClientRecord::read(&dns).await.unwrap(),
        Some(ClientTarget::Alias("eu.dr.test.".into()))
    );
}

/// What ministack itself enforces (the facts the compare-and-swap relies on).
#[tokio::test]
async fn ministack_rejects_an_inexact_delete_and_applies_a_batch_all_or_nothing() {
    let zone = Zone::start().await;
    let before = zone.records().await;
    // Same value, other TTL: rejected.
    assert_eq!(
        zone.change(vec![(
            ChangeAction::Delete,
            set(CLIENT, RrType::A, 5, &["127.1.0.1"], None)
        )])
        .await,
        Err("InvalidChangeBatch".into())
    );
    // A good first change and a bad second one: neither applied.
    assert_eq!(
        zone.change(vec![
            (
                ChangeAction::Delete,
                set(CLIENT, RrType::A, 30, &["127.1.0.1"], None)
            ),
            (
                ChangeAction::Create,
                set(CLIENT, RrType::A, 30, &["127.2.0.1"], None)
            ),
            (
                ChangeAction::Delete,
                set(
                    OWNER,
                    RrType::Txt,
                    30,
                    &["\"region=us-east-1 epoch=9\""],
                    None
                )
            ),
        ])
        .await,
        Err("InvalidChangeBatch".into())
    );
    assert_eq!(zone.records().await, before);
}
