//! The RFC 2136 arbiter and client record against a real BIND `named`.
//!
//! These tests need `named` (Debian `bind9`, or `NATSDR_NAMED`); without it they fail.
mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::dns::{own, sole_winner};
use hickory_proto::op::ResponseCode;
use natsdr::dns::{
    Arbiter, ClaimResult, ClientRecord, ClientTarget, DnsError, Ownership, Rfc2136, SwapResult,
};
use natsdr_lab::lab::bind::{BindServer, ZoneSpec};
use tokio::time::Instant;

const TIMEOUT: Duration = Duration::from_secs(2);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A fresh BIND with the default zone (owner `region=us-east-1 epoch=1`, `nats A 127.1.0.1`)
/// and a client for it. The tempdir must outlive the server.
fn bind() -> (tempfile::TempDir, BindServer, Rfc2136) {
    let dir = tempfile::tempdir().unwrap();
    let server = BindServer::start(dir.path(), &ZoneSpec::default())
        .expect("named must be installed (bind9) or NATSDR_NAMED set");
    let dns = Rfc2136::new(&server.info().rfc2136_config(TIMEOUT)).unwrap();
    (dir, server, dns)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_claim_from_the_current_value_wins_and_reads_back() {
    let (_dir, _server, dns) = bind();
    assert_eq!(
        Arbiter::read(&dns).await.unwrap(),
        Some(own("us-east-1", 1))
    );

    let result = dns
        .claim(&own("us-east-1", 1), &own("eu-central-1", 2))
        .await
        .unwrap();

    assert_eq!(result, ClaimResult::Won);
    assert_eq!(
        Arbiter::read(&dns).await.unwrap(),
        Some(own("eu-central-1", 2))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_claim_from_a_stale_value_is_lost_and_changes_nothing() {
    let (_dir, _server, dns) = bind();
    assert_eq!(
        dns.claim(&own("us-east-1", 1), &own("us-east-1", 2))
            .await
            .unwrap(),
        ClaimResult::Won
    );

    // This watchdog still believes epoch 1 is current.
    let result = dns
        .claim(&own("us-east-1", 1), &own("eu-central-1", 2))
        .await
        .unwrap();

    assert_eq!(
        result,
        ClaimResult::Lost {
            current: Some(own("us-east-1", 2))
        }
    );
    assert_eq!(
        Arbiter::read(&dns).await.unwrap(),
        Some(own("us-east-1", 2))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn of_ten_concurrent_claimers_exactly_one_wins_and_the_zone_holds_its_record() {
    let (_dir, server, _dns) = bind();
    let expected = own("us-east-1", 1);
    let claims = (0..10).map(|i| {
        // Each claimer has its own client and connection, like separate watchdogs.
        let dns = Rfc2136::new(&server.info().rfc2136_config(TIMEOUT)).unwrap();
        let expected = expected.clone();
        let new = own(&format!("claimer-{i}"), 2);
        tokio::spawn(async move { (new.clone(), dns.claim(&expected, &new).await.unwrap()) })
    });
    let results: Vec<(Ownership, ClaimResult)> =
        futures::future::try_join_all(claims).await.unwrap();

    let winner = sole_winner(&results);
    // `read` refuses an RRset of more than one TXT, so this also proves the winner is alone.
    let dns = Rfc2136::new(&server.info().rfc2136_config(TIMEOUT)).unwrap();
    assert_eq!(Arbiter::read(&dns).await.unwrap(), Some(winner));
}

#[tokio::test(flavor = "multi_thread")]
async fn retrying_a_claim_that_already_landed_is_already_ours() {
    let (_dir, _server, dns) = bind();
    let (expected, new) = (own("us-east-1", 1), own("eu-central-1", 2));
    assert_eq!(dns.claim(&expected, &new).await.unwrap(), ClaimResult::Won);

    let retry = dns.claim(&expected, &new).await.unwrap();

    assert_eq!(retry, ClaimResult::AlreadyOurs);
    assert_eq!(Arbiter::read(&dns).await.unwrap(), Some(new));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_arbiter_without_an_ownership_record_reads_as_none() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ZoneSpec {
        owner_txt: None,
        ..ZoneSpec::default()
    };
    let server = BindServer::start(dir.path(), &spec).unwrap();
    let dns = Rfc2136::new(&server.info().rfc2136_config(TIMEOUT)).unwrap();

    assert_eq!(Arbiter::read(&dns).await.unwrap(), None);
    assert_eq!(
        dns.claim(&own("us-east-1", 1), &own("eu-central-1", 2))
            .await
            .unwrap(),
        ClaimResult::Lost { current: None }
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ownership_record_written_by_hand_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ZoneSpec {
        owner_txt: Some("primary is us".into()),
        ..ZoneSpec::default()
    };
    let server = BindServer::start(dir.path(), &spec).unwrap();
    let dns = Rfc2136::new(&server.info().rfc2136_config(TIMEOUT)).unwrap();

    let err = Arbiter::read(&dns).await.unwrap_err();

    assert!(
        matches!(&err, DnsError::MalformedOwnership { text, .. } if text == "primary is us"),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    // A claim cannot match it either, and reports the same refusal.
    let err = dns
        .claim(&own("us-east-1", 1), &own("eu-central-1", 2))
        .await
        .unwrap_err();
    assert!(
        matches!(err, DnsError::MalformedOwnership { .. }),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_claim_that_does_not_raise_the_epoch_is_refused_before_reaching_the_server() {
    let (_dir, _server, dns) = bind();

    let err = dns
        .claim(&own("us-east-1", 1), &own("eu-central-1", 1))
        .await
        .unwrap_err();

    assert!(
        matches!(
            err,
            DnsError::EpochNotIncreasing {
                expected: 1,
                new: 1
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert_eq!(
        Arbiter::read(&dns).await.unwrap(),
        Some(own("us-east-1", 1))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_key_is_an_authorisation_error_that_is_not_retried() {
    let (_dir, server, dns) = bind();
    let mut wrong_secret = server.info().rfc2136_config(TIMEOUT);
    wrong_secret.key_secret =
        natsdr::config::Secret::new("c2VjcmV0LXRoYXQtYmluZC1kb2VzLW5vdC1rbm93IQ==");
    let mut wrong_name = server.info().rfc2136_config(TIMEOUT);
    wrong_name.key_name = "someone-else".into();

    for (config, reason) in [
        (wrong_secret, ResponseCode::BADSIG),
        (wrong_name, ResponseCode::BADKEY),
    ] {
        let intruder = Rfc2136::new(&config).unwrap();
        let err = intruder
            .claim(&own("us-east-1", 1), &own("eu-central-1", 2))
            .await
            .unwrap_err();
        assert!(
            matches!(err, DnsError::NotAuthorized { rcode, .. } if rcode == reason),
            "{err:?}"
        );
        assert!(!err.is_retryable(), "{err:?}");
    }
    assert_eq!(
        Arbiter::read(&dns).await.unwrap(),
        Some(own("us-east-1", 1))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_record_swap_is_visible_on_the_authority_and_a_stale_swap_is_lost() {
    let (_dir, _server, dns) = bind();
    let us = ClientTarget::addresses([ip("127.1.0.1")]);
    let eu = ClientTarget::addresses([ip("127.2.0.1"), ip("127.2.0.2"), ip("fd00::2")]);
    assert_eq!(ClientRecord::read(&dns).await.unwrap(), Some(us.clone()));

    assert_eq!(dns.swap(Some(&us), &eu).await.unwrap(), SwapResult::Swapped);
    let seen_after = dns.verify(&eu, Duration::from_secs(5)).await.unwrap();
    println!("verified after {seen_after:?}");
    assert_eq!(ClientRecord::read(&dns).await.unwrap(), Some(eu.clone()));

    // Retrying the same swap finds it done; a swap from a stale value changes nothing.
    assert_eq!(
        dns.swap(Some(&us), &eu).await.unwrap(),
        SwapResult::AlreadyThere
    );
    let other = ClientTarget::addresses([ip("127.3.0.1")]);
    assert_eq!(
        dns.swap(Some(&us), &other).await.unwrap(),
        SwapResult::Lost {
            current: Some(eu.clone())
        }
    );
    // A swap that expects the name to be empty is stale as well.
    assert_eq!(
        dns.swap(None, &other).await.unwrap(),
        SwapResult::Lost {
            current: Some(eu.clone())
        }
    );
    // A subset of the current addresses is stale too: the prerequisite pins the whole set.
    let part = ClientTarget::addresses([ip("127.2.0.1"), ip("127.2.0.2")]);
    assert_eq!(
        dns.swap(Some(&part), &other).await.unwrap(),
        SwapResult::Lost {
            current: Some(eu.clone())
        }
    );
    assert_eq!(ClientRecord::read(&dns).await.unwrap(), Some(eu));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_client_record_can_move_between_addresses_and_an_alias() {
    let (_dir, _server, dns) = bind();
    let us = ClientTarget::addresses([ip("127.1.0.1")]);
    let alias = ClientTarget::Alias("nats.eu-central-1.example.".into());

    assert_eq!(
        dns.swap(Some(&us), &alias).await.unwrap(),
        SwapResult::Swapped
    );
    dns.verify(&alias, Duration::from_secs(5)).await.unwrap();
    assert_eq!(ClientRecord::read(&dns).await.unwrap(), Some(alias.clone()));

    assert_eq!(
        dns.swap(Some(&alias), &us).await.unwrap(),
        SwapResult::Swapped
    );
    dns.verify(&us, Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_gives_up_with_a_retryable_error_when_the_value_never_appears() {
    let (_dir, _server, dns) = bind();
    let never = ClientTarget::addresses([ip("127.9.9.9")]);

    let err = dns
        .verify(&never, Duration::from_millis(300))
        .await
        .unwrap_err();

    assert!(
        matches!(&err, DnsError::NotVisible { last_seen, .. } if last_seen == "[127.1.0.1]"),
        "{err:?}"
    );
    assert!(err.is_retryable());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_server_gives_a_retryable_error_within_the_timeout() {
    let (_dir, mut server, dns) = bind();
    server.stop().unwrap();

    let started = Instant::now();
    let claim = dns
        .claim(&own("us-east-1", 1), &own("eu-central-1", 2))
        .await;
    let swap = dns
        .swap(None, &ClientTarget::addresses([ip("127.2.0.1")]))
        .await;
    let read = Arbiter::read(&dns).await;
    let elapsed = started.elapsed();

    for err in [claim.unwrap_err(), swap.unwrap_err(), read.unwrap_err()] {
        assert!(matches!(err, DnsError::Transport { .. }), "{err:?}");
        assert!(err.is_retryable(), "{err:?}");
    }
    // Each operation is bounded by the timeout (a claim is a write plus a read-back).
    assert!(elapsed < TIMEOUT * 5, "took {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_never_answers_times_out_without_hanging() {
    // A listener that accepts TCP connections but never answers, like a wedged server.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (_dir, server, _dns) = bind();
    let mut config = server.info().rfc2136_config(Duration::from_millis(500));
    config.server = silent.local_addr().unwrap();
    let dns = Rfc2136::new(&config).unwrap();

    let started = Instant::now();
    let err = dns
        .claim(&own("us-east-1", 1), &own("eu-central-1", 2))
        .await
        .unwrap_err();

    assert!(matches!(err, DnsError::Timeout { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

/// Not an assertion: prints how long a claim and a swap plus verification take here.
#[tokio::test(flavor = "multi_thread")]
async fn measure_claim_and_swap_latency() {
    let (_dir, _server, dns) = bind();
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let mut claims = Vec::new();
    for epoch in 1..=21 {
        let started = Instant::now();
        let result = dns
            .claim(&own("us-east-1", epoch), &own("us-east-1", epoch + 1))
            .await
            .unwrap();
        claims.push(started.elapsed());
        assert_eq!(result, ClaimResult::Won);
    }
    let mut swaps = Vec::new();
    let mut current = ClientTarget::addresses([ip("127.1.0.1")]);
    for i in 1..=21u8 {
        let next = ClientTarget::addresses([IpAddr::from([127, 2, 0, i])]);
        let started = Instant::now();
        assert_eq!(
            dns.swap(Some(&current), &next).await.unwrap(),
            SwapResult::Swapped
        );
        dns.verify(&next, Duration::from_secs(5)).await.unwrap();
        swaps.push(started.elapsed());
        current = next;
    }
    println!(
        "median claim: {:?}; median swap+verify: {:?}",
        median(claims),
        median(swaps)
    );
}

/// What a [`lossy_proxy`] does to the first connection through it.
#[derive(Clone, Copy)]
enum Loss {
    /// Forward the request, wait for the server's answer, then drop it and hang up.
    Answer,
    /// Read the request, never forward it, and hang up.
    Request,
}

/// A TCP proxy to `server` that spoils the first connection as `loss` says and forwards every
/// later one faithfully, like a network that fails once.
async fn lossy_proxy(server: std::net::SocketAddr, loss: Loss) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut first = true;
        while let Ok((mut client, _)) = listener.accept().await {
            let mut upstream = tokio::net::TcpStream::connect(server).await.unwrap();
            if !std::mem::take(&mut first) {
                tokio::spawn(async move {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                });
                continue;
            }
            let mut request = vec![0; 4096];
            let n = client.read(&mut request).await.unwrap();
            if let Loss::Answer = loss {
                upstream.write_all(&request[..n]).await.unwrap();
                let mut answer = vec![0; 4096];
                let _ = upstream.read(&mut answer).await.unwrap();
            }
            drop(client);
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread")]
async fn a_claim_whose_answer_is_lost_is_recognised_as_ours_by_reading_back() {
    let (_dir, server, dns) = bind();
    let mut config = server.info().rfc2136_config(TIMEOUT);
    config.server = lossy_proxy(server.addr(), Loss::Answer).await;
    let through_lossy_network = Rfc2136::new(&config).unwrap();
    let (expected, new) = (own("us-east-1", 1), own("eu-central-1", 2));

    let result = through_lossy_network.claim(&expected, &new).await.unwrap();

    assert_eq!(result, ClaimResult::AlreadyOurs);
    assert_eq!(Arbiter::read(&dns).await.unwrap(), Some(new));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_claim_whose_request_is_lost_is_a_retryable_error_and_a_retry_wins() {
    let (_dir, server, dns) = bind();
    let mut config = server.info().rfc2136_config(TIMEOUT);
    config.server = lossy_proxy(server.addr(), Loss::Request).await;
    let through_lossy_network = Rfc2136::new(&config).unwrap();
    let (expected, new) = (own("us-east-1", 1), own("eu-central-1", 2));

    let err = through_lossy_network
        .claim(&expected, &new)
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(Arbiter::read(&dns).await.unwrap(), Some(expected.clone()));

    let retry = through_lossy_network.claim(&expected, &new).await.unwrap();
    assert_eq!(retry, ClaimResult::Won);
}
