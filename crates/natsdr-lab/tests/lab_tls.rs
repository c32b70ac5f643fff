//! The three watchdogs on HTTPS with mutual TLS, on certificates the lab makes for the test (a
//! CA, one certificate per watchdog, one for the operator): they vote for each other over TLS,
//! a client without a certificate and plain HTTP get nothing, and a watchdog whose certificate
//! another CA signed is refused by its peers. Real nats-server, BIND and natsdr binaries: fails,
//! never skips, when one is missing.
mod common;

use std::path::Path;
use std::time::Duration;

use natsdr_lab::lab::Site;
use natsdr_lab::testkit::pki::Ca;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchdogs_vote_over_mutual_tls_and_refuse_a_peer_certified_by_another_ca() {
    let running = common::lab::lab().tls().up().await.watchdogs(&[]).await;
    let (m, mut dogs) = (running.lab.manifest().clone(), running.dogs);
    let tls = m.tls.clone().expect("a TLS lab records its certificates");
    let tmp = tempfile::tempdir().unwrap();
    assert!(dogs.api(Site::Eu).starts_with("https://"));

    // Each watchdog hears both others over TLS: every peer answers, with a fresh report.
    let all_peers_answer = |s: &natsdr::api::model::Status| {
        s.peers.len() == 2
            && s.peers
                .iter()
                .all(|p| p.error.is_none() && p.age_seconds.is_some())
    };
    for site in [Site::Us, Site::Eu, Site::Witness] {
        let s = dogs
            .wait_for(site, Duration::from_secs(30), all_peers_answer)
            .await
            .unwrap_or_else(|s| panic!("{site:?} does not hear its peers over TLS: {:?}", s.peers));
        assert!(
            s.peers.iter().all(|p| p.url.starts_with("https://")),
            "{:?}",
            s.peers
        );
    }
    // Where EU and the witness reach US (each through its own path of the lab).
    let us_id = m.watchdog(Site::Us).id.clone();
    let mut us_url = std::collections::BTreeMap::new();
    for site in [Site::Eu, Site::Witness] {
        let s = dogs.status(site).await.unwrap();
        let p = s
            .peers
            .iter()
            .find(|p| p.id.as_deref() == Some(us_id.as_str()))
            .unwrap_or_else(|| panic!("{site:?} lists no US peer: {:?}", s.peers));
        us_url.insert(site, p.url.clone());
    }

    // A client that trusts the CA but has no certificate, and plain HTTP on the TLS port, are
    // both turned away before any HTTP is served.
    let status = format!("{}/v1/status", dogs.api(Site::Eu));
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&tls.ca).unwrap()).unwrap();
    let no_cert = reqwest::Client::builder()
        .add_root_certificate(ca)
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    assert!(no_cert.get(&status).send().await.is_err());
    let plain = status.replacen("https://", "http://", 1);
    let answered = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap()
        .get(&plain)
        .send()
        .await;
    assert!(
        answered.as_ref().map_or(true, |r| !r.status().is_success()),
        "plain HTTP got {answered:?}"
    );

    // US now holds a certificate another CA signed: its peers refuse it both ways (EU does not
    // trust its server certificate, and its client certificate is not EU's CA's).
    let rogue = Ca::new("not the lab's CA").unwrap();
    let rogue_dir = tmp.path().join("rogue");
    std::fs::create_dir_all(&rogue_dir).unwrap();
    let (cert, key) = rogue.leaf(&rogue_dir, "us").unwrap();
    let us = &tls.sites[&Site::Us];
    replace(&cert, &us.cert);
    replace(&key, &us.key);
    dogs.restart(Site::Us).unwrap();
    // While US restarts its peers see it unreachable (the lab's proxy ends the handshake): the
    // refusal to wait for is the certificate's.
    for site in [Site::Eu, Site::Witness] {
        let url = &us_url[&site];
        dogs.wait_for(site, Duration::from_secs(30), |s| {
            s.peers.iter().any(|p| {
                &p.url == url && p.error.as_deref().is_some_and(|e| e.contains("certificate"))
            })
        })
        .await
        .unwrap_or_else(|s| {
            panic!(
                "{site:?} does not refuse the watchdog with the rogue certificate for its certificate: {:?}",
                s.peers
            )
        });
    }
    // The peers that kept the lab's certificates still hear each other.
    dogs.wait_for(Site::Eu, Duration::from_secs(30), |s| {
        s.peers
            .iter()
            .any(|p| p.url != us_url[&Site::Eu] && p.error.is_none() && p.age_seconds.is_some())
    })
    .await
    .expect("EU still hears the witness");
    drop(dogs);
}

/// Replaces `to`'s contents with `from`'s (the watchdog reads its files at start).
fn replace(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap();
}
