//! Failover outcomes under a lost meta leader, an isolated primary, a flapping primary, a
//! watchdog crash mid-move and racing claimers, each on the real lab:
//! real natsdr processes, two real 3-node NATS regions, a real BIND holding the arbiter and the
//! client record. Needs nats-server and BIND (make deps): without them these fail, never skip.
mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::lab::{
    Running, accepted, connect, dns, eu, in_state, js, js_ack, lab, never_went_through,
    status_until, story, us, wait_healthy, went_through,
};
use common::wait_until;
use natsdr::api::model::Status;
use natsdr::config::Config;
use natsdr::dns::{Arbiter, ClientRecord, ClientTarget};
use natsdr::model::Epoch;
use natsdr::nats::JsApi;
use natsdr_lab::lab::watchdogs::{Dog, Watchdogs};
use natsdr_lab::lab::{Lab, LabRegion, NetPath, Site};
use tokio::time::Instant;

/// The lab's failover delay (`src/lab/natsdr_conf.rs`).
const FAILOVER_DELAY: Duration = Duration::from_secs(5);

/// A healthy lab with the topology applied, some history in every mirrored stream, and the
/// three watchdogs running, healthy and caught up.
async fn setup() -> Running {
    lab().up().await.with_history().await.watchdogs(&[]).await
}

/// When a watchdog first entered `state` (its transitions are newest first), as wall time.
fn entered(s: &Status, state: &str) -> Option<time::OffsetDateTime> {
    s.transitions.iter().rev().find(|t| t.to == state).map(|t| {
        time::OffsetDateTime::parse(&t.at, &time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|e| panic!("transition time {:?}: {e}", t.at))
    })
}

async fn arbiter_epoch(cfg: &Config) -> Epoch {
    Arbiter::read(&dns(cfg)).await.unwrap().unwrap().epoch
}

/// Reads the arbiter every 20 ms in the background and keeps the highest epoch it ever held, so
/// a second claim that is later overwritten cannot hide.
struct EpochWatch {
    highest: Arc<Mutex<Epoch>>,
    task: tokio::task::JoinHandle<()>,
}

impl EpochWatch {
    fn start(cfg: &Config) -> Self {
        let highest = Arc::new(Mutex::new(Epoch(0)));
        let dns = dns(cfg);
        let h = highest.clone();
        let task = tokio::spawn(async move {
            loop {
                if let Ok(Some(o)) = Arbiter::read(&dns).await {
                    let mut h = h.lock().unwrap();
                    *h = (*h).max(o.epoch);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        Self { highest, task }
    }

    fn highest(&self) -> Epoch {
        *self.highest.lock().unwrap()
    }
}

impl Drop for EpochWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn entry_ip(lab: &Lab, region: LabRegion) -> std::net::IpAddr {
    std::net::IpAddr::V4(lab.manifest().region(region).entry_ip)
}

/// A lost meta leader: the US JetStream meta leader is killed. The survivors elect another; the primary
/// never moves, the epoch stays 1 and the US watchdog never fences its own region (a slow API
/// during the election must not read as an isolation).
#[tokio::test]
async fn killing_the_primary_meta_leader_never_moves_the_primary() {
    let t0 = Instant::now();
    let mut s = setup().await;
    let us_clients = connect(&s.cfg, &us()).await;
    let meta = us_clients
        .sys
        .meta_cluster(Duration::from_secs(2))
        .await
        .unwrap()
        .expect("US has a meta leader");
    let leader = meta.leader.expect("the meta group names its leader");
    let index = s
        .lab
        .manifest()
        .region(LabRegion::Us)
        .nodes
        .iter()
        .position(|n| n.name == leader)
        .unwrap_or_else(|| panic!("the meta leader {leader} is not a US node"));
    let epochs = EpochWatch::start(&s.cfg);
    s.lab.kill_node(LabRegion::Us, index).await.unwrap();
    let killed = Instant::now();

    // A new leader among the two survivors.
    let deadline = Instant::now() + Duration::from_secs(30);
    let new_leader = loop {
        if let Ok(Some(m)) = us_clients.sys.meta_cluster(Duration::from_secs(1)).await
            && let Some(l) = m.leader.filter(|l| *l != leader)
        {
            break l;
        }
        assert!(
            Instant::now() < deadline,
            "US never elected a new meta leader"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!(
        "meta leader {leader} killed, {new_leader} elected after {:?}",
        killed.elapsed()
    );

    // For more than twice the failover delay, nobody moves the primary.
    while killed.elapsed() < 2 * FAILOVER_DELAY + Duration::from_secs(2) {
        let eu_status = s.dogs.status(Site::Eu).await.unwrap();
        never_went_through(&eu_status, &["failing_over", "blocked"]);
        let us_status = s.dogs.status(Site::Us).await.unwrap();
        never_went_through(&us_status, &["self_fenced", "isolated"]);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(epochs.highest(), Epoch(1));
    let owner = Arbiter::read(&dns(&s.cfg)).await.unwrap().unwrap();
    assert_eq!((owner.region, owner.epoch), (us(), Epoch(1)));
    assert_eq!(
        ClientRecord::read(&dns(&s.cfg)).await.unwrap(),
        Some(ClientTarget::addresses([entry_ip(&s.lab, LabRegion::Us)]))
    );
    // The primary still takes writes, with its new leader.
    let ack = js_ack(&us_clients.js, "events.after-election").await;
    assert_eq!(ack["stream"], "events-us", "{ack}");
    println!("meta leader loss took {:?}", t0.elapsed());
}

/// One acknowledged publish: which domain stored it, and when (test clock).
#[derive(Debug, Clone)]
struct Acked {
    id: u64,
    domain: String,
    at: Instant,
}

/// Publishes `events.row6` every 50 ms with a `Nats-Msg-Id` to both regions directly (never
/// through DNS), each with its own connection, and records every acknowledgement.
fn write_to_both(
    us_js: JsApi,
    eu_js: JsApi,
) -> (Arc<Mutex<Vec<Acked>>>, tokio::task::JoinHandle<()>) {
    let acks = Arc::new(Mutex::new(Vec::new()));
    let out = acks.clone();
    let task = tokio::spawn(async move {
        for id in 0u64.. {
            let send = |js: &JsApi| {
                let client = js.client().clone();
                async move {
                    let mut headers = async_nats::HeaderMap::new();
                    headers.insert("Nats-Msg-Id", format!("row6-{id}").as_str());
                    let reply = tokio::time::timeout(
                        Duration::from_millis(400),
                        client.request_with_headers("events.row6".to_owned(), headers, "x".into()),
                    )
                    .await;
                    let Ok(Ok(msg)) = reply else { return None };
                    let ack: serde_json::Value = serde_json::from_slice(&msg.payload).ok()?;
                    // A JetStream error reply (e.g. no quorum) is not an acknowledgement.
                    ack.get("seq")?;
                    Some(ack["domain"].as_str().unwrap_or_default().to_owned())
                }
            };
            let (a, b) = tokio::join!(send(&us_js), send(&eu_js));
            let at = Instant::now();
            for domain in [a, b].into_iter().flatten() {
                out.lock().unwrap().push(Acked { id, domain, at });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    (acks, task)
}

/// An isolated primary: US is cut off from EU and the witness while its clients keep writing to it. US fences
/// itself when its lease runs out; EU fails over only after that; no message is acknowledged by
/// both regions, and US acknowledges nothing once EU has.
///
/// NB: the watchdogs reach BIND directly (the lab has no proxy in front of it), so the US
/// watchdog's path to the arbiter cannot be cut. It matters only in that US could also learn of
/// EU's claim there; the test checks that US fenced itself by its lease, before any claim.
#[tokio::test]
async fn a_cut_off_primary_fences_itself_before_the_standby_promotes() {
    let t0 = Instant::now();
    let s = setup().await;
    let (us_js, eu_js) = (js(&s.cfg, &us()).await, js(&s.cfg, &eu()).await);
    let (acks, writer) = write_to_both(us_js, eu_js);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cut_at = Instant::now();
    for p in [
        "leaf",
        "wd:eu->us-east-1",
        "wd:us->eu-central-1",
        "wd:witness->us-east-1",
        "peer:eu->us",
        "peer:us->eu",
        "peer:witness->us",
        "peer:us->witness",
    ] {
        s.lab.cut(p.parse::<NetPath>().unwrap()).await.unwrap();
    }
    let eu_status = in_state(&s.dogs, Site::Eu, "failed_over", 40).await;
    println!("cut -> EU failed_over in {:?}", cut_at.elapsed());
    assert_eq!(eu_status.epoch, Some(Epoch(2)));
    // Keep writing until EU has acknowledged some writes of its own.
    wait_until(
        Duration::from_secs(15),
        "EU acknowledges a write",
        || async {
            acks.lock()
                .unwrap()
                .iter()
                .any(|a| a.domain == "eu-central-1")
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    writer.abort();

    let us_status = s.dogs.status(Site::Us).await.unwrap();
    let fenced = us_status
        .transitions
        .iter()
        .rev()
        .find(|t| t.to == "self_fenced")
        .unwrap_or_else(|| panic!("US never fenced itself: {}", story(&us_status)));
    assert!(
        fenced.reason.contains("no majority vouched"),
        "US must fence itself by its lease, not because it saw the claim: {}",
        story(&us_status)
    );
    let fenced_at = entered(&us_status, "self_fenced").unwrap();
    let failing_over_at = entered(&eu_status, "failing_over").unwrap();
    assert!(
        fenced_at < failing_over_at,
        "US fenced itself at {fenced_at}, EU started failing over at {failing_over_at}:\n{}\n{}",
        story(&us_status),
        story(&eu_status)
    );
    println!(
        "US self-fenced {:?} before EU started failing over",
        failing_over_at - fenced_at
    );

    let acks = acks.lock().unwrap().clone();
    let by = |domain: &str| -> BTreeSet<u64> {
        acks.iter()
            .filter(|a| a.domain == domain)
            .map(|a| a.id)
            .collect()
    };
    let (us_ids, eu_ids) = (by("us-east-1"), by("eu-central-1"));
    let both: Vec<_> = us_ids.intersection(&eu_ids).collect();
    assert!(both.is_empty(), "acknowledged by both regions: {both:?}");
    let us_after_cut = acks
        .iter()
        .filter(|a| a.domain == "us-east-1" && a.at > cut_at)
        .count();
    assert!(
        us_after_cut > 0,
        "US clients kept writing to US after the cut until the lease ran out"
    );
    let last_us = acks
        .iter()
        .filter(|a| a.domain == "us-east-1")
        .map(|a| a.at)
        .max()
        .unwrap();
    let first_eu = acks
        .iter()
        .filter(|a| a.domain == "eu-central-1")
        .map(|a| a.at)
        .min()
        .unwrap();
    assert!(
        last_us < first_eu,
        "US acknowledged a write after EU took its first one"
    );
    println!(
        "US acked {} ids ({} after the cut), EU acked {}; gap between the last US ack and the first EU ack: {:?}",
        us_ids.len(),
        us_after_cut,
        eu_ids.len(),
        first_eu - last_us
    );
    println!("isolated primary took {:?}", t0.elapsed());
}

/// A flapping primary: US flaps (killed and restarted again and again, each outage shorter than the failover
/// delay). EU counts the down-edges and, past `flap_max` (3 in the lab), holds in Blocked: a
/// long outage after that moves nothing until an operator acknowledges; then exactly one
/// failover follows. At most one epoch bump overall.
#[tokio::test]
async fn a_flapping_primary_fails_over_at_most_once_and_only_after_an_ack() {
    let t0 = Instant::now();
    let mut s = setup().await;
    let epochs = EpochWatch::start(&s.cfg);
    let us_seen = |up: bool| {
        move |st: &Status| {
            st.regions
                .iter()
                .any(|r| r.region == us() && r.up == up && (up || r.servers == 0))
        }
    };
    for cycle in 1..=4 {
        let down_at = Instant::now();
        s.lab.kill_region(LabRegion::Us).await.unwrap();
        status_until(
            &s.dogs,
            Site::Eu,
            Duration::from_secs(10),
            &format!("cycle {cycle}: EU never saw US down"),
            us_seen(false),
        )
        .await;
        s.lab.restart_region(LabRegion::Us).await.unwrap();
        let st = status_until(
            &s.dogs,
            Site::Eu,
            Duration::from_secs(20),
            &format!("cycle {cycle}: EU never saw US back"),
            us_seen(true),
        )
        .await;
        println!(
            "cycle {cycle}: US down for {:?}; EU is {}",
            down_at.elapsed(),
            st.state
        );
    }
    let st = in_state(&s.dogs, Site::Eu, "blocked", 5).await;
    assert!(
        st.transitions[0].reason.contains("flapping"),
        "{}",
        story(&st)
    );
    never_went_through(&st, &["failing_over"]);

    // Now US dies for good: held, however long it stays down.
    s.lab.kill_region(LabRegion::Us).await.unwrap();
    let killed = Instant::now();
    while killed.elapsed() < 2 * FAILOVER_DELAY + Duration::from_secs(2) {
        let st = s.dogs.status(Site::Eu).await.unwrap();
        assert_eq!(st.state, "blocked", "{}", story(&st));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(epochs.highest(), Epoch(1));

    accepted(
        &s.dogs,
        Site::Eu,
        "ack",
        "flapping understood; us-east-1 is gone",
    )
    .await;
    let st = in_state(&s.dogs, Site::Eu, "failed_over", 40).await;
    assert_eq!(st.epoch, Some(Epoch(2)));
    // US comes back once more: it is fenced, nothing moves again.
    s.lab.restart_region(LabRegion::Us).await.unwrap();
    tokio::time::sleep(FAILOVER_DELAY).await;
    let st = s.dogs.status(Site::Eu).await.unwrap();
    assert_eq!(st.state, "failed_over", "{}", story(&st));
    assert_eq!(epochs.highest(), Epoch(2));
    assert_eq!(arbiter_epoch(&s.cfg).await, Epoch(2));
    println!("flapping primary took {:?}", t0.elapsed());
}

/// Whether EU's `events-eu-mirror` is still a mirror (not promoted), read directly.
async fn still_mirror(eu_js: &JsApi) -> bool {
    eu_js
        .stream_info("events-eu-mirror")
        .await
        .unwrap()
        .mirror
        .is_some()
}

/// A crash mid-move: the EU watchdog crashes after its claim landed and before it promoted. Restarted, it
/// reads the epoch it already holds and finishes the move: mirrors promoted, DNS swapped, and no
/// second epoch.
///
/// The crash is placed, not raced for: a claim and the promotion after it are now a few
/// milliseconds apart (no fence is attempted on a region seen down past its lease), too close to
/// SIGKILL in between reliably. So the EU watchdog is killed while it confirms the outage, and
/// the test writes the very claim it was about to make (`us-east-1@1 -> eu-central-1@2`, by the
/// same compare-and-swap): the world is exactly "claimed, not promoted" when it restarts.
#[tokio::test]
async fn a_watchdog_killed_between_claim_and_promotion_finishes_on_restart() {
    let t0 = Instant::now();
    let mut s = setup().await;
    let eu_js = js(&s.cfg, &eu()).await;
    let arbiter = dns(&s.cfg);
    let epochs = EpochWatch::start(&s.cfg);
    s.lab.kill_region(LabRegion::Us).await.unwrap();
    let before = in_state(&s.dogs, Site::Eu, "suspect", 40).await;
    s.dogs.kill(Site::Eu);
    let claim = natsdr::dns::Ownership {
        region: eu(),
        epoch: Epoch(2),
    };
    let expect = natsdr::dns::Ownership {
        region: us(),
        epoch: Epoch(1),
    };
    assert_eq!(
        arbiter.claim(&expect, &claim).await.unwrap(),
        natsdr::dns::ClaimResult::Won,
        "EU's watchdog had not claimed yet: {}",
        story(&before)
    );
    let claimed = Instant::now();
    assert!(
        still_mirror(&eu_js).await,
        "nothing promoted before the crash"
    );
    s.dogs.restart(Site::Eu).unwrap();
    let st = in_state(&s.dogs, Site::Eu, "failed_over", 60).await;
    println!("claim -> finished after restart in {:?}", claimed.elapsed());
    assert_eq!(st.epoch, Some(Epoch(2)), "{}", story(&st));
    assert!(
        st.transitions
            .iter()
            .any(|t| t.to == "failing_over" && t.reason.contains("resum")),
        "the restarted watchdog resumed the move: {}",
        story(&st)
    );
    assert!(!still_mirror(&eu_js).await, "mirrors promoted");
    let owner = Arbiter::read(&arbiter).await.unwrap().unwrap();
    assert_eq!((owner.region, owner.epoch), (eu(), Epoch(2)));
    assert_eq!(epochs.highest(), Epoch(2), "no second epoch, ever");
    assert_eq!(
        ClientRecord::read(&arbiter).await.unwrap(),
        Some(ClientTarget::addresses([entry_ip(&s.lab, LabRegion::Eu)]))
    );
    println!("crash mid-move took {:?}", t0.elapsed());
}

/// Racing claimers: two EU watchdogs (two replicas, different ids, same region and config) race on a
/// region loss. The arbiter moves exactly once (epoch 2, never 3), the move completes once, and
/// both end agreeing on epoch 2 without blocking.
///
/// NB: the ownership record names a region, not a watchdog. A twin whose CAS fails because the
/// other's identical claim `(eu-central-1, 2)` landed reads it back as `AlreadyOurs` and carries
/// on with the same epoch-2 steps (seen on the lab when both claim within one round); a twin
/// that reads the claim in its next round goes to `healthy` without claiming. Neither can make
/// a second epoch, which is what this asserts.
#[tokio::test]
async fn two_standby_watchdogs_racing_move_the_primary_exactly_once() {
    let t0 = Instant::now();
    let mut s = setup().await;
    s.dogs
        .start_twin(Site::Eu, Duration::from_secs(30))
        .await
        .unwrap();
    wait_healthy(&s.dogs, Dog::Twin(Site::Eu)).await;
    let epochs = EpochWatch::start(&s.cfg);
    s.lab.kill_region(LabRegion::Us).await.unwrap();
    let done = |s: &Status| {
        s.epoch == Some(Epoch(2)) && matches!(s.state.as_str(), "failed_over" | "healthy")
    };
    let mut finals = Vec::new();
    for dog in [Dog::Site(Site::Eu), Dog::Twin(Site::Eu)] {
        let st = status_until(
            &s.dogs,
            dog,
            Duration::from_secs(60),
            &format!("{dog} never settled at epoch 2"),
            done,
        )
        .await;
        never_went_through(&st, &["blocked"]);
        finals.push((dog, st));
    }
    tokio::time::sleep(FAILOVER_DELAY).await;
    assert_eq!(
        epochs.highest(),
        Epoch(2),
        "exactly one claim moved the arbiter"
    );
    let owner = Arbiter::read(&dns(&s.cfg)).await.unwrap().unwrap();
    assert_eq!((owner.region, owner.epoch), (eu(), Epoch(2)));
    let claimers: Vec<Dog> = finals
        .iter()
        .filter(|(_, st)| went_through(st, "failing_over"))
        .map(|(d, _)| *d)
        .collect();
    for (dog, st) in &finals {
        println!("{dog}: {}", story(st));
    }
    assert!(!claimers.is_empty(), "somebody failed over");
    assert!(!still_mirror(&js(&s.cfg, &eu()).await).await);
    println!("claimers: {claimers:?}; the race took {:?}", t0.elapsed());
}

/// Publishes one message with an id to `region`'s `events.*` directly; whether it was acked.
async fn acked(js: &JsApi, id: &str) -> bool {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", id);
    let reply = tokio::time::timeout(
        Duration::from_millis(800),
        js.client()
            .request_with_headers("events.unfence".to_owned(), headers, "x".into()),
    )
    .await;
    matches!(reply, Ok(Ok(msg)) if serde_json::from_slice::<serde_json::Value>(&msg.payload)
        .is_ok_and(|a| a.get("seq").is_some()))
}

fn signal(dogs: &Watchdogs, dog: Site, sig: nix::sys::signal::Signal) {
    let pid = dogs.pid(dog).expect("watchdog running");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap()), sig).unwrap();
}

/// Chaos seed 15's story on the real lab: no vantage point vouches for US for longer than its
/// lease (the EU watchdog and the witness are frozen, SIGSTOP, for 6 s), so US fences itself;
/// nothing fails over (EU is frozen). Once both answer again, US unfences itself after a
/// majority has vouched for it for `self_unfence_after` (one probe interval: the second vouched
/// round): writes resume in US without an operator, at the same epoch, and EU never starts a
/// move.
#[tokio::test]
async fn a_primary_that_fenced_itself_without_a_failover_unfences_itself_once_vouched_for() {
    use nix::sys::signal::Signal;
    let t0 = Instant::now();
    let s = setup().await;
    let us_js = js(&s.cfg, &us()).await;
    assert!(
        acked(&us_js, "before").await,
        "US takes writes at the start"
    );
    for dog in [Site::Eu, Site::Witness] {
        signal(&s.dogs, dog, Signal::SIGSTOP);
    }
    let fenced = s
        .dogs
        .wait_for(Site::Us, Duration::from_secs(15), |s| {
            s.state == "self_fenced"
        })
        .await;
    for dog in [Site::Eu, Site::Witness] {
        signal(&s.dogs, dog, Signal::SIGCONT);
    }
    let fenced = fenced.unwrap_or_else(|st| panic!("US never fenced itself: {}", story(&st)));
    let resumed = Instant::now();
    // The fence landed: US refuses writes.
    wait_until(
        Duration::from_secs(5),
        format!("US refuses writes: {}", story(&fenced)),
        || async { !acked(&us_js, "while-fenced").await },
    )
    .await;
    let us_status = status_until(
        &s.dogs,
        Site::Us,
        Duration::from_secs(40),
        "US never unfenced itself",
        |s| s.state == "healthy" && went_through(s, "self_fenced"),
    )
    .await;
    let unfenced_after = resumed.elapsed();
    let unfence = us_status
        .transitions
        .iter()
        .find(|t| t.from == "self_fenced")
        .unwrap();
    assert!(
        unfence.reason.contains("unfenced own region"),
        "{}",
        story(&us_status)
    );
    // The hold is one probe interval (500 ms) of vouching, counted from the first vouch.
    assert!(
        unfenced_after >= Duration::from_millis(500),
        "unfenced {unfenced_after:?} after the peers came back: before the hold"
    );
    wait_until(
        Duration::from_secs(10),
        format!("US, unfenced, takes writes: {}", story(&us_status)),
        || async { acked(&us_js, "after").await },
    )
    .await;
    assert_eq!(arbiter_epoch(&s.cfg).await, Epoch(1));
    let eu_status = s.dogs.status(Site::Eu).await.unwrap();
    never_went_through(&eu_status, &["failing_over", "blocked"]);
    assert!(still_mirror(&js(&s.cfg, &eu()).await).await);
    println!(
        "US unfenced itself {unfenced_after:?} after its peers answered again; took {:?}",
        t0.elapsed()
    );
}
