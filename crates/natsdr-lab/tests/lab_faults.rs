//! The lab against real nats-server processes: every fault really blocks traffic, every heal
//! really restores it, and no process outlives the lab. Needs nats-server (`make deps`): without
//! it these tests fail, they never skip.
mod common;

use std::net::SocketAddr;
use std::time::Duration;

use async_nats::jetstream;
use natsdr_lab::lab::{Lab, LabManifest, LabRegion, NetPath, Site, process};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, sleep, timeout};

use common::lab::lab;
use common::wait_until;

async fn connect(url: &str, user: &str, password: &str) -> async_nats::Client {
    async_nats::ConnectOptions::new()
        .user_and_password(user.into(), password.into())
        .connection_timeout(Duration::from_secs(2))
        .request_timeout(Some(Duration::from_secs(2)))
        .connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"))
}

async fn app(m: &LabManifest, url: &str) -> async_nats::Client {
    connect(url, &m.app.user, &m.app.password).await
}

/// Raw JSON of `$JS.API.<subject>`: async-nats hides fields the lab must see (mirror.active).
async fn js_api(client: &async_nats::Client, subject: &str) -> Value {
    let reply = client
        .request(format!("$JS.API.{subject}"), "".into())
        .await
        .expect("JetStream API answers");
    serde_json::from_slice(&reply.payload).expect("JSON reply")
}

async fn last_seq(client: &async_nats::Client, stream: &str) -> u64 {
    js_api(client, &format!("STREAM.INFO.{stream}"))
        .await
        .pointer("/state/last_seq")
        .and_then(Value::as_u64)
        .expect("last_seq")
}

/// Creates `mirror` in EU, mirroring US's `source` over the leafnode.
async fn mirror_in_eu(eu_js: &jetstream::Context, source: &str, mirror: &str) {
    eu_js
        .create_stream(jetstream::stream::Config {
            name: mirror.into(),
            mirror: Some(jetstream::stream::Source {
                name: source.into(),
                external: Some(jetstream::stream::External {
                    api_prefix: "$JS.us-east-1.API".into(),
                    delivery_prefix: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("EU mirror over the leafnode");
}

/// Publishes `payload` on `subject` and waits for JetStream's ack.
async fn publish_acked(js: &jetstream::Context, subject: &'static str, payload: &'static str) {
    js.publish(subject, payload.into())
        .await
        .expect("publish")
        .await
        .expect("ack");
}

/// Connects and waits for the first byte: `Ok(true)` data arrived, `Ok(false)` the connection
/// was closed, `Err(())` silence until `wait` (a blackhole).
async fn first_byte(addr: &str, wait: Duration) -> Result<bool, ()> {
    let mut s = TcpStream::connect(addr)
        .await
        .expect("the proxy accepts: a cut never refuses");
    let mut buf = [0u8; 1];
    match timeout(wait, s.read(&mut buf)).await {
        Ok(Ok(n)) => Ok(n > 0),
        Ok(Err(_)) => Ok(false),
        Err(_) => Err(()),
    }
}

fn url_addr(url: &str) -> String {
    url.trim_start_matches("nats://")
        .trim_start_matches("http://")
        .to_owned()
}

#[tokio::test]
async fn up_writes_every_config_and_down_leaves_no_process_behind() {
    let (_tmp, lab) = lab().start().await;
    let dir = lab.dir().to_owned();
    let m = LabManifest::load(&dir).expect("lab.json is readable");
    assert_eq!(&m, lab.manifest());
    let pids: Vec<u32> = m.pids().into_iter().map(|(_, p)| p).collect();
    assert_eq!(pids.len(), 8, "six nodes, netd and named: {:?}", m.pids());
    let dns = m.dns.clone().expect("the lab runs BIND");
    TcpStream::connect(dns.server)
        .await
        .expect("named answers on TCP");
    let operator = std::fs::read_to_string(&m.natsdr_config).expect("natsdr.toml");
    assert!(
        operator.contains(&format!("server = \"{}\"", dns.server)),
        "natsdr.toml points at the lab's BIND"
    );
    assert!(pids.iter().all(|p| process::is_alive(*p)));
    let status = Lab::status(&dir).expect("status");
    assert!(status.processes.iter().all(|p| p.alive), "{status}");
    assert!(
        status.faults.is_empty() && status.faults_applied,
        "{status}"
    );
    for file in [
        "natsdr.toml",
        "natsdr-us.toml",
        "natsdr-eu.toml",
        "natsdr-witness.toml",
    ] {
        let text = std::fs::read_to_string(dir.join(file)).expect(file);
        let parsed: toml::Table =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{file} is TOML: {e}"));
        assert_eq!(
            parsed["regions"].as_array().map(Vec::len),
            Some(2),
            "{file}"
        );
        assert!(
            !text.contains(&m.system.password),
            "{file} must reference secrets by file, not hold them"
        );
    }
    let us_wd = std::fs::read_to_string(dir.join("natsdr-us.toml")).expect("us config");
    let through_proxy = &m.watchdog(Site::Us).region_urls[&LabRegion::Eu][0];
    assert!(
        us_wd.contains(through_proxy.as_str()),
        "the US watchdog reaches EU through its wd: proxy"
    );
    assert!(
        !us_wd.contains(&m.region(LabRegion::Eu).nodes[0].client_url),
        "and never directly"
    );

    let other = Lab::open(&dir).expect("another process takes control");
    other
        .cut(NetPath::Leaf)
        .await
        .expect("cut from the other handle");
    let status = Lab::status(&dir).expect("status");
    assert!(
        status.faults[&NetPath::Leaf].cut && status.faults_applied,
        "{status}"
    );
    drop(other);
    assert!(
        pids.iter().all(|p| process::is_alive(*p)),
        "dropping an opened handle must not stop the lab"
    );

    Lab::down(&dir).await.expect("down");
    assert!(
        pids.iter().all(|p| !process::is_alive(*p)),
        "a lab process survived down"
    );
    assert!(Lab::status(&dir).expect("status").all_stopped());
    assert!(
        TcpStream::connect(dns.server).await.is_err(),
        "named survived down"
    );
    lab.shutdown().await.expect("a second stop is harmless");
}

#[tokio::test]
async fn cutting_the_leaf_stops_mirroring_and_healing_resumes_it() {
    let (_tmp, lab) = lab().start().await;
    let m = lab.manifest().clone();
    let us = app(&m, &m.region(LabRegion::Us).nodes[0].client_url).await;
    let eu = app(&m, &m.region(LabRegion::Eu).nodes[0].client_url).await;
    let us_js = jetstream::new(us.clone());
    let eu_js = jetstream::new(eu.clone());
    us_js
        .create_stream(jetstream::stream::Config {
            name: "LAB".into(),
            subjects: vec!["lab.>".into()],
            ..Default::default()
        })
        .await
        .expect("US stream");
    mirror_in_eu(&eu_js, "LAB", "LAB_M").await;
    publish_acked(&us_js, "lab.a", "1").await;
    wait_until(
        Duration::from_secs(20),
        "the first message reaches the EU mirror",
        || async { last_seq(&eu, "LAB_M").await == 1 },
    )
    .await;

    lab.cut(NetPath::Leaf).await.expect("cut");
    us_js
        .publish("lab.a", "2".into())
        .await
        .expect("publish")
        .await
        .expect("US still takes writes");
    sleep(Duration::from_secs(3)).await;
    assert_eq!(
        last_seq(&eu, "LAB_M").await,
        1,
        "a message crossed a cut leafnode"
    );
    let active = js_api(&eu, "STREAM.INFO.LAB_M")
        .await
        .pointer("/mirror/active")
        .and_then(Value::as_i64)
        .expect("mirror.active");
    assert!(
        active > 2_000_000_000,
        "the mirror's last contact must age while cut, was {active} ns"
    );

    lab.heal(NetPath::Leaf).await.expect("heal");
    wait_until(
        Duration::from_secs(30),
        "the message published during the cut arrives after the heal",
        || async { last_seq(&eu, "LAB_M").await == 2 },
    )
    .await;
    lab.shutdown().await.expect("down");
}

#[tokio::test]
async fn a_cut_watchdog_or_peer_path_blackholes_and_healing_restores_it() {
    let (_tmp, lab) = lab().start().await;
    let m = lab.manifest().clone();
    let wd_path = NetPath::Watchdog {
        from: Site::Eu,
        to: LabRegion::Us,
    };
    let wd_url = m.watchdog(Site::Eu).region_urls[&LabRegion::Us][1].clone();
    let sys = connect(&wd_url, &m.system.user, &m.system.password).await;
    sys.request("$SYS.REQ.SERVER.PING", "".into())
        .await
        .expect("a probe through the healthy path");

    lab.cut(wd_path).await.expect("cut");
    let err = sys
        .request("$SYS.REQ.SERVER.PING", "".into())
        .await
        .expect_err("a probe through a cut path");
    assert_eq!(
        err.kind(),
        async_nats::client::RequestErrorKind::TimedOut,
        "{err}"
    );
    let held = {
        let addr = url_addr(&wd_url);
        tokio::spawn(async move { first_byte(&addr, Duration::from_secs(10)).await })
    };
    assert_eq!(
        first_byte(&url_addr(&wd_url), Duration::from_millis(1500)).await,
        Err(()),
        "a new connection must hang, not be refused or closed"
    );
    let direct = m.watchdog(Site::Us).region_urls[&LabRegion::Us][1].clone();
    assert_eq!(
        first_byte(&url_addr(&direct), Duration::from_secs(2)).await,
        Ok(true),
        "another watchdog's path to US is not cut"
    );

    lab.heal(wd_path).await.expect("heal");
    assert_eq!(
        held.await.expect("task"),
        Ok(true),
        "a connection held during the cut goes through after the heal"
    );
    wait_until(
        Duration::from_secs(15),
        "probes work again after the heal",
        || async { sys.request("$SYS.REQ.SERVER.PING", "".into()).await.is_ok() },
    )
    .await;

    // Peer path: stand in for the US watchdog's API with an echo server on its reserved port.
    let api = TcpListener::bind(m.watchdog(Site::Us).api_listen)
        .await
        .expect("the API port is reserved and free");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = api.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 64];
                while let Ok(n @ 1..) = s.read(&mut buf).await {
                    if s.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let peer = url_addr(&m.watchdog(Site::Eu).peer_urls[&Site::Us]);
    let mut conn = TcpStream::connect(&peer).await.expect("peer proxy");
    let mut buf = [0u8; 4];
    conn.write_all(b"ping").await.expect("write");
    timeout(Duration::from_secs(2), conn.read_exact(&mut buf))
        .await
        .expect("echo through the peer path")
        .expect("read");
    lab.cut(NetPath::Peer {
        from: Site::Eu,
        to: Site::Us,
    })
    .await
    .expect("cut peer");
    conn.write_all(b"pong")
        .await
        .expect("writing into a partition does not fail");
    assert!(
        timeout(Duration::from_secs(1), conn.read_exact(&mut buf))
            .await
            .is_err(),
        "an echo crossed a cut peer path"
    );
    lab.slow(
        NetPath::Peer {
            from: Site::Eu,
            to: Site::Us,
        },
        Duration::from_millis(300),
    )
    .await
    .expect("slow");
    lab.heal(NetPath::Peer {
        from: Site::Eu,
        to: Site::Us,
    })
    .await
    .expect("heal peer");
    timeout(Duration::from_secs(2), conn.read_exact(&mut buf))
        .await
        .expect("the held echo arrives after the heal")
        .expect("read");
    assert_eq!(&buf, b"pong");
    lab.shutdown().await.expect("down");
}

#[tokio::test]
async fn a_slow_path_delays_each_direction() {
    let (_tmp, lab) = lab().start().await;
    let m = lab.manifest().clone();
    let url = m.watchdog(Site::Witness).region_urls[&LabRegion::Eu][0].clone();
    let sys = connect(&url, &m.system.user, &m.system.password).await;
    let rtt = |sys: async_nats::Client| async move {
        let t = Instant::now();
        sys.request("$SYS.REQ.SERVER.PING", "".into())
            .await
            .expect("probe");
        t.elapsed()
    };
    assert!(rtt(sys.clone()).await < Duration::from_millis(300));
    lab.slow(
        NetPath::Watchdog {
            from: Site::Witness,
            to: LabRegion::Eu,
        },
        Duration::from_millis(400),
    )
    .await
    .expect("slow");
    let slowed = rtt(sys.clone()).await;
    assert!(
        slowed >= Duration::from_millis(800),
        "400 ms each way, round trip took {slowed:?}"
    );
    lab.heal(NetPath::Watchdog {
        from: Site::Witness,
        to: LabRegion::Eu,
    })
    .await
    .expect("heal");
    assert!(rtt(sys).await < Duration::from_millis(300));
    lab.shutdown().await.expect("down");
}

#[tokio::test]
async fn the_entry_point_survives_a_dead_node_and_a_restarted_node_rejoins() {
    let (_tmp, mut lab) = lab().start().await;
    let m = lab.manifest().clone();
    let node0 = m.region(LabRegion::Us).nodes[0].clone();
    let entry = m.region(LabRegion::Us).entry_url.clone();
    assert!(entry.starts_with("nats://127.1.0.1:"), "{entry}");
    assert_eq!(
        m.region(LabRegion::Eu).entry_url.rsplit(':').next(),
        entry.rsplit(':').next(),
        "both entry points share one port"
    );

    lab.kill_node(LabRegion::Us, 0).await.expect("kill node 0");
    assert!(!process::is_alive(node0.pid.expect("pid")));
    assert!(
        TcpStream::connect(url_addr(&node0.client_url))
            .await
            .is_err(),
        "the killed node still listens"
    );
    let client = app(&m, &entry).await;
    client
        .flush()
        .await
        .expect("the entry point reaches a live node");
    // NB: node 0 may have been the meta leader: JetStream answers again after a re-election.
    let js = jetstream::new(client);
    wait_until(
        Duration::from_secs(20),
        "JetStream answers through the entry point with node 0 dead",
        || async {
            js.query_account()
                .await
                .is_ok_and(|info| info.domain.as_deref() == Some("us-east-1"))
        },
    )
    .await;

    lab.restart_node(LabRegion::Us, 0)
        .await
        .expect("restart node 0");
    let again = app(&lab.manifest().clone(), &node0.client_url).await;
    again
        .flush()
        .await
        .expect("the restarted node answers on its old port");
    assert_ne!(
        lab.manifest().node(LabRegion::Us, 0).and_then(|n| n.pid),
        node0.pid
    );
    lab.shutdown().await.expect("down");
}

#[tokio::test]
async fn a_killed_region_answers_nothing_and_a_restarted_one_keeps_its_streams() {
    let (_tmp, mut lab) = lab().start().await;
    let m = lab.manifest().clone();
    let js = jetstream::new(app(&m, &m.region(LabRegion::Us).nodes[2].client_url).await);
    js.create_stream(jetstream::stream::Config {
        name: "KEEP".into(),
        subjects: vec!["keep".into()],
        num_replicas: 3,
        ..Default::default()
    })
    .await
    .expect("R3 stream");
    js.publish("keep", "x".into())
        .await
        .expect("publish")
        .await
        .expect("ack");

    lab.kill_region(LabRegion::Us).await.expect("kill region");
    for n in &m.region(LabRegion::Us).nodes {
        assert!(
            TcpStream::connect(url_addr(&n.client_url)).await.is_err(),
            "{} still listens",
            n.name
        );
        let monitor: SocketAddr = url_addr(&n.monitor_url).parse().expect("addr");
        assert!(
            TcpStream::connect(monitor).await.is_err(),
            "{} monitoring still listens",
            n.name
        );
    }
    let entry = url_addr(&m.region(LabRegion::Us).entry_url);
    assert_eq!(
        first_byte(&entry, Duration::from_secs(5)).await,
        Ok(false),
        "the entry point of a dead region must close, not greet"
    );
    let eu = app(&m, &m.region(LabRegion::Eu).entry_url).await;
    eu.flush().await.expect("EU is unaffected");

    lab.restart_region(LabRegion::Us)
        .await
        .expect("restart region");
    let js = jetstream::new(app(&m, &m.region(LabRegion::Us).entry_url).await);
    wait_until(
        Duration::from_secs(20),
        "the stream and its message survive the restart",
        || {
            let js = js.clone();
            async move {
                match js.get_stream("KEEP").await {
                    Ok(mut s) => s.info().await.is_ok_and(|i| i.state.messages == 1),
                    Err(_) => false,
                }
            }
        },
    )
    .await;
    lab.shutdown().await.expect("down");
}

#[tokio::test]
async fn the_reaper_kills_the_whole_lab_when_its_owner_dies() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut owner = std::process::Command::new("sleep")
        .arg("600")
        .spawn()
        .expect("owner process");
    let opts = lab()
        .owner(Some(owner.id()))
        .options(tmp.path().join("lab"));
    let lab = Lab::up(opts).await.expect("lab starts");
    let pids: Vec<u32> = lab.manifest().pids().into_iter().map(|(_, p)| p).collect();
    sleep(Duration::from_millis(300)).await;
    assert!(
        pids.iter().all(|p| process::is_alive(*p)),
        "the lab must live while its owner does"
    );

    owner.kill().expect("kill owner");
    owner.wait().expect("reap owner");
    wait_until(
        Duration::from_secs(15),
        "every lab process dies with its owner",
        || async { pids.iter().all(|p| !process::is_alive(*p)) },
    )
    .await;
    drop(lab);
}

#[tokio::test]
async fn dropping_a_lab_kills_every_process_and_a_stopped_lab_can_start_again_in_its_directory() {
    let (tmp, first) = lab().start().await;
    let pids: Vec<u32> = first
        .manifest()
        .pids()
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    drop(first); // what a panicking test does
    assert!(
        pids.iter().all(|p| !process::is_alive(*p)),
        "a process outlived its dropped lab"
    );

    let again = lab().options(tmp.path().join("lab"));
    let lab = Lab::up(again.clone())
        .await
        .expect("a second lab in the same directory");
    let err = Lab::up(again)
        .await
        .expect_err("a running lab is never started over");
    assert!(
        matches!(err, natsdr_lab::lab::LabError::AlreadyRunning(_)),
        "{err}"
    );
    lab.shutdown().await.expect("down");
}

#[tokio::test]
async fn a_missing_nats_server_is_an_error_that_names_make_deps() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let opts = lab()
        .nats_server(tmp.path().join("no-nats-server"))
        .owner(None)
        .ready_timeout(Duration::from_secs(1))
        .options(tmp.path().join("lab"));
    let err = Lab::up(opts).await.expect_err("no binary, no lab");
    assert!(err.to_string().contains("make deps"), "{err}");
}

#[tokio::test]
async fn application_subjects_of_configured_streams_stay_in_their_region_while_mirrors_cross() {
    let (_tmp, lab) = lab().start().await;
    let m = lab.manifest().clone();
    let us = app(&m, &m.region(LabRegion::Us).nodes[0].client_url).await;
    let eu = app(&m, &m.region(LabRegion::Eu).nodes[0].client_url).await;
    let (us_js, eu_js) = (jetstream::new(us.clone()), jetstream::new(eu.clone()));
    // `events.*` belongs to a configured stream (denied on the leafnode); `other.*` does not.
    for (name, subject) in [("EV", "events.*"), ("OTHER", "other.*")] {
        us_js
            .create_stream(jetstream::stream::Config {
                name: name.into(),
                subjects: vec![subject.into()],
                ..Default::default()
            })
            .await
            .expect("US stream");
    }
    mirror_in_eu(&eu_js, "EV", "EV_M").await;
    publish_acked(&us_js, "events.a", "1").await;
    wait_until(
        Duration::from_secs(20),
        "the mirror still crosses the leafnode",
        || async { last_seq(&eu, "EV_M").await == 1 },
    )
    .await;
    // The control: a subject no configured stream uses crosses, so the leafnode carries APP.
    wait_until(
        Duration::from_secs(20),
        "an unconfigured subject published in EU reaches US",
        || async {
            match eu_js.publish("other.a", "x".into()).await {
                Ok(ack) => ack.await.is_ok(),
                Err(_) => false,
            }
        },
    )
    .await;
    // A configured stream's subject published in EU never reaches the US stream.
    let stored_in = match eu_js.publish("events.a", "from EU".into()).await {
        Ok(ack) => ack.await.ok().map(|a| a.stream),
        Err(_) => None,
    };
    assert_eq!(stored_in, None, "an EU publish was stored in US");
    sleep(Duration::from_secs(1)).await;
    assert_eq!(last_seq(&us, "EV").await, 1, "US stored an EU publish");
}
