//! The prober with no NATS server at all: DNS from memory, peers that refuse or never answer.
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use natsdr::{
    config::Config,
    core::{self, WallTime},
    dns::{self, ClientTarget, MemoryDns},
    model::{Epoch, Region},
    nats::Regions,
    probe::Prober,
};

fn example() -> Config {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/natsdr.example.toml");
    Config::load(&path).unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[tokio::test]
async fn a_round_with_dead_and_silent_peers_is_bounded_and_maps_the_client_record_to_its_region() {
    let eu = Region::new("eu-central-1").unwrap();
    // Accepted by the kernel, never read: a request there hangs until the probe timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused_url = format!("http://{}", refused.local_addr().unwrap());
    drop(refused);
    let mut config = example();
    config.peers.token = None;
    config.peers.tls = natsdr::config::PeerTls::default();
    config.peers.watchdogs = vec![refused_url];
    config.peers.witness = Some(format!("http://{}", silent.local_addr().unwrap()));
    let bound = config.timing.probe_timeout;
    let zone = MemoryDns::new(
        Some(dns::Ownership::new(eu.clone(), Epoch(4))),
        Some(ClientTarget::addresses([ip("198.51.100.20")])),
    );
    let mut prober = Prober::new(Arc::new(config), Regions::new(), Some((zone.clone(), zone)))
        .expect("no token to read, plain HTTP clients");

    let started = tokio::time::Instant::now();
    // Spawned: the driver runs rounds inside its own task, so the round must be Send.
    let (obs, details) =
        tokio::spawn(async move { prober.round(core::Instant(0), WallTime(0)).await })
            .await
            .unwrap();
    let took = started.elapsed();
    println!("round with a refusing and a silent peer: {took:?}");

    assert!(took < bound + Duration::from_millis(500), "{took:?}");
    assert_eq!(
        obs.arbiter,
        Some(core::Ownership {
            region: eu.clone(),
            epoch: Epoch(4)
        })
    );
    assert_eq!(obs.dns, Some(eu));
    assert!(obs.regions.is_empty(), "no connections: no region probed");
    assert!(obs.reports.is_empty(), "{:?}", obs.reports);
    assert_eq!(details.peers.len(), 2);
    assert!(
        details.peers.iter().all(|p| p.error.is_some()),
        "{details:?}"
    );
}

#[tokio::test]
async fn a_client_record_that_is_no_regions_entry_point_maps_to_no_region() {
    let mut config = example();
    config.peers = natsdr::config::Peers {
        watchdogs: vec![],
        witness: None,
        token: None,
        tls: natsdr::config::PeerTls::default(),
    };
    let both = ClientTarget::addresses([ip("198.51.100.20"), ip("203.0.113.10")]);
    let zone = MemoryDns::new(None, Some(both.clone()));
    let mut prober =
        Prober::new(Arc::new(config), Regions::new(), Some((zone.clone(), zone))).unwrap();
    let (obs, details) = prober.round(core::Instant(0), WallTime(0)).await;
    assert_eq!((obs.arbiter, obs.dns), (None, None));
    assert_eq!(details.dns.client_target, Some(both), "shown as it is");
    assert!(details.dns.errors.is_empty());
}
