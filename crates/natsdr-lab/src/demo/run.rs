//! The demo's imperative shell: lab up, topology, watchdogs, load, fault, outcome, report.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use time::OffsetDateTime;

use super::deliveries::Deliveries;
use super::kv::{self, KvBuckets};
use super::load::{LoadGen, LoadTarget, resolve, uncached_resolver};
use super::reader::{MAX_ACK_PENDING, Reader};
use super::report::{
    Consumers, Phases, Report, Steps, first_transition_to, offset_ms, went_through,
};
use super::route53::Route53Lab;
use super::scenario::Scenario;
use super::streams::DemoStreams;
use super::{DemoError, Ledger};
use crate::lab::watchdogs::Watchdogs;
use crate::lab::{Lab, LabManifest, LabOptions, LabRegion, LabSource, NetPath, Site, WanProfile};
use natsdr::api::model::Status;
use natsdr::config::Config;
use natsdr::dns::{AnyArbiter, Arbiter as _, Ownership};
use natsdr::model::Region;
use natsdr::nats::{JsApi, RegionClients};
use natsdr::topology::{Desired, apply, expected};

/// The US stream the demo's subject lands in while US is primary.
pub(crate) const US_STREAM: &str = "events-us";
/// Its EU mirror, which takes the subject's writes once promoted.
pub(crate) const EU_STREAM: &str = "events-eu-mirror";
/// The subject the load generator publishes to.
pub(crate) const SUBJECT: &str = "events.demo";
/// Generous bound for each wait; the RTO target is 10 s.
const WAIT: Duration = Duration::from_secs(60);

/// How to run the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Which fault.
    pub scenario: Scenario,
    /// The lab directory; `None`: a fresh one under the system temp dir, removed at the end.
    pub dir: Option<PathBuf>,
    /// Keep the fresh temp dir (configs, logs, stores) at the end. A directory given in `dir`
    /// is always kept: the demo never deletes what it did not create.
    pub keep: bool,
    /// The natsdr binary the watchdogs run (and netd): normally this process's own.
    pub natsdr_exe: PathBuf,
    /// Extra environment for the watchdogs, e.g. `NATSDR_TIMING__FAILOVER_DELAY=2s` for a
    /// faster profile (the bench); empty: the lab's settings.
    pub env: Vec<(String, String)>,
    /// The DNS provider the watchdogs claim and swap through.
    pub dns: DemoDns,
    /// The latency between the lab's regions and the witness.
    pub wan: WanProfile,
    /// Idle durable consumers created on the primary's stream besides the reader's, so a move
    /// has that many more to carry (the bench measures what they add to the RTO); normally 0.
    pub extra_consumers: usize,
    /// The operator's config whose regions and topology the lab runs; `None`: the reference
    /// topology. The load lands in its first mirrored home stream, and its mirrored KV
    /// buckets get the KV load.
    pub source: Option<LabSource>,
    /// Generated US streams mirrored in EU besides the lab's own ([`Lab::carry_streams`]), so a
    /// failover has that many more to promote (the bench's RTO at scale); normally 0.
    pub generated_streams: usize,
}

/// The DNS provider of a demo run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum DemoDns {
    /// The lab's BIND, by RFC 2136 updates.
    #[default]
    Rfc2136,
    /// A real local Route 53 API (ministack), one change batch per compare-and-swap; the lab's
    /// BIND serves its records to the clients.
    Route53,
}

impl DemoDns {
    fn name(self) -> &'static str {
        match self {
            Self::Rfc2136 => "rfc2136",
            Self::Route53 => "route53",
        }
    }
}

/// Runs one scenario end to end and reports what it showed. Everything started is stopped
/// before returning; the lab's owner is this process, so netd kills the lab even if this
/// process dies (Ctrl-C, panic, SIGKILL).
pub async fn run(opts: &DemoOptions) -> Result<Report, DemoError> {
    let result = run_in(opts, &opts.lab_dir()).await;
    opts.clean_up();
    result
}

impl DemoOptions {
    /// Where the lab lives.
    pub fn lab_dir(&self) -> PathBuf {
        self.dir.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(format!("natsdr-demo-{}", std::process::id()))
        })
    }

    /// Removes the fresh temp dir unless asked to keep it; also after an interrupted run.
    pub fn clean_up(&self) {
        if self.dir.is_none() && !self.keep {
            let _ = std::fs::remove_dir_all(self.lab_dir());
        }
    }
}

async fn run_in(opts: &DemoOptions, dir: &Path) -> Result<Report, DemoError> {
    let mut lab_opts = LabOptions::new(dir).map_err(DemoError::Lab)?;
    lab_opts.natsdr_exe = opts.natsdr_exe.clone();
    lab_opts.owner_pid = Some(std::process::id());
    lab_opts.wan = opts.wan;
    lab_opts.source = opts.source.clone();
    let nats_version = nats_version(&lab_opts.nats_server)?;
    let mut lab = Lab::up(lab_opts).await.map_err(DemoError::Lab)?;
    let carried = match opts.generated_streams {
        0 => Ok(()),
        n => lab.carry_streams(n),
    };
    let result = match carried {
        Ok(()) => drive(opts, &mut lab, nats_version).await,
        Err(e) => Err(DemoError::Lab(e)),
    };
    let _ = lab.shutdown().await;
    result
}

async fn drive(
    opts: &DemoOptions,
    lab: &mut Lab,
    nats_version: String,
) -> Result<Report, DemoError> {
    let scenario = opts.scenario;
    let m = lab.manifest().clone();
    let cfg = Config::load(&m.natsdr_config).map_err(DemoError::Config)?;
    let us = cfg.regions[0].name.clone();
    let eu = cfg.regions[1].name.clone();
    let streams = DemoStreams::of(&cfg).ok_or_else(|| {
        DemoError::Topology("the config has no home stream mirrored in the standby".into())
    })?;
    let kv_buckets = KvBuckets::of(&cfg);
    let apis = connect_js(&cfg).await?;
    let changes = apply(
        &expected(&Desired::from(&cfg)).map_err(|e| DemoError::Topology(e.to_string()))?,
        &apis,
    )
    .await;
    if let Some(bad) = changes.iter().find(|c| !c.is_change()) {
        return Err(DemoError::Topology(bad.to_string()));
    }
    create_idle_consumers(&apis[&us], opts.extra_consumers, &streams).await?;
    let (bind_arbiter, bind_client) = natsdr::dns::from_config(&cfg)
        .await
        .map_err(DemoError::Arbiter)?;
    let r53 = match opts.dns {
        DemoDns::Rfc2136 => None,
        DemoDns::Route53 => Some(Route53Lab::start(&m.dir, &cfg).await?),
    };
    let arbiter = r53.as_ref().map_or(bind_arbiter, Route53Lab::arbiter);
    let mut env_owned = opts.env.clone();
    env_owned.extend(r53.iter().flat_map(Route53Lab::env));
    let env: Vec<(&str, &str)> = env_owned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let dogs = Watchdogs::start(&m, &opts.natsdr_exe, &env, Duration::from_secs(30))
        .await
        .map_err(DemoError::Watchdog)?;
    // NB: every generated mirror must catch up too: allow for their creation and first sync.
    let wait = WAIT
        + Duration::from_millis(100) * u32::try_from(opts.generated_streams).unwrap_or(u32::MAX);
    for site in [Site::Us, Site::Eu] {
        dogs.wait_for(site, wait, |s| s.state == "healthy" && caught_up(s))
            .await
            .map_err(|s| DemoError::NotHealthy {
                site,
                state: s.state,
            })?;
    }

    let mut target = load_target(&m)?;
    target.subject.clone_from(&streams.subject);
    let watcher = DnsWatcher::start(&target)?;
    let resolver_err = |source| DemoError::Resolver {
        server: target.dns_server,
        source,
    };
    let reader = Reader::start(target.clone()).map_err(resolver_err)?;
    let load = LoadGen::start(target.clone()).map_err(resolver_err)?;
    let kv = match &kv_buckets {
        Some(b) => Some((
            kv::start_load(target.clone(), b.clone()).map_err(resolver_err)?,
            kv::start_watch(target.clone(), b.cas.clone()).map_err(resolver_err)?,
        )),
        None => None,
    };
    let kv_warm = || {
        kv.as_ref()
            .is_none_or(|(l, w)| l.snapshot().acks.len() >= 20 && !w.snapshot().seen.is_empty())
    };
    // Warm up: the clients are connected and the mirrors have caught up with a steady stream.
    let warm = tokio::time::Instant::now() + Duration::from_secs(10);
    while (load.snapshot().acks.len() < 100 || reader.snapshot().acked.is_empty() || !kv_warm())
        && tokio::time::Instant::now() < warm
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The standby's watchdog tracks the reader's durable (not an error if it never does: the
    // report says `tracked: 0` and the consumer's counts say what that cost).
    let _ = dogs
        .wait_for(Site::Eu, Duration::from_secs(20), |s| {
            tracked(s, &streams.mirror) > 0
        })
        .await;
    let before = read_owner(&arbiter).await?;
    let eu_before = dogs.status(Site::Eu).await.map_err(DemoError::Watchdog)?;
    let lag_at_kill = eu_before
        .mirrors
        .iter()
        .find(|x| x.stream == streams.mirror)
        .and_then(|x| x.lag_messages);
    let kv_lag_at_kill = kv_buckets.as_ref().and_then(|b| {
        b.names()
            .iter()
            .map(|name| {
                let stream = format!("KV_{name}");
                eu_before
                    .mirrors
                    .iter()
                    .find(|x| x.stream == stream)
                    .and_then(|x| x.lag_messages)
            })
            .sum::<Option<u64>>()
    });

    // The watchdogs start together and the warm-up ends on a count of acks, so without this the
    // fault would land at about the same point of their probe rounds in every run. An outage
    // begins anywhere in a round: the RTO figures are to average over that, not to repeat one
    // lucky (or unlucky) phase.
    tokio::time::sleep(round_phase(cfg.timing.probe_interval)).await;
    let fault = OffsetDateTime::now_utc();
    watcher.arm();
    inject(scenario, lab, &dogs).await?;
    let switched_at = wait_outcome(
        scenario,
        &dogs,
        &eu,
        before.as_ref(),
        &cfg,
        &load,
        (fault, &streams.mirror),
    )
    .await;
    if let (Some((kv_load, _)), true) = (&kv, scenario.moves_primary()) {
        // The KV client reconnects on its own: a few of its writes must land in the new primary.
        let new_primary = std::net::IpAddr::from(LabRegion::Eu.entry_ip());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while kv_load
            .snapshot()
            .acks
            .iter()
            .filter(|a| a.via == new_primary)
            .count()
            < 20
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let failback = match scenario {
        Scenario::Failback => Some(fail_back(lab, &dogs, &load, &streams.primary).await?),
        Scenario::Flip => {
            rolling_restart_paused(lab, &dogs, LabRegion::Us).await?;
            Some(fail_back(lab, &dogs, &load, &streams.primary).await?)
        }
        Scenario::RegionLoss | Scenario::NodeLoss | Scenario::Partition | Scenario::Switchover => {
            None
        }
    };

    let ledger = load.stop().await;
    let kv_books = match kv {
        Some((l, w)) => {
            let ledger = l.stop().await;
            // The watcher gets a moment to be delivered the last writes.
            tokio::time::sleep(Duration::from_secs(2)).await;
            Some((ledger, w.stop().await))
        }
        None => None,
    };
    let dns_swapped = watcher.stop();
    let after = read_owner(&arbiter).await?;
    let final_region = after.as_ref().map_or(us.clone(), |o| o.region.clone());
    let (final_stream, final_api) = if final_region == eu {
        (streams.mirror.as_str(), &apis[&eu])
    } else {
        (streams.primary.as_str(), &apis[&us])
    };
    let stored = stream_ids(final_api, final_stream).await?;
    let kept: BTreeSet<String> = stored.keys().cloned().collect();
    let deliveries = drain(reader, &ledger, &kept).await;
    let recreated = final_api
        .consumer_names(final_stream)
        .await
        .map_or(0, |names| count(names.len()));
    let client_record = match &r53 {
        Some(r) => r.client_region(&cfg).await,
        None => natsdr::dns::ClientRecord::read(&bind_client)
            .await
            .ok()
            .flatten()
            .and_then(|t| t.region_in(&cfg)),
    };
    drop(r53);
    let eu_after = dogs.status(Site::Eu).await.unwrap_or_default();
    let steps = dogs
        .metrics(Site::Eu)
        .await
        .map(|text| steps_from(&text))
        .unwrap_or_default();
    drop(dogs);

    let failover = match (&before, &after, &failback) {
        // Away and back, planned: the EU watchdog's own record says it switched over.
        (_, _, Some(_)) if scenario == Scenario::Flip => {
            went_through(&eu_after.transitions, "switching_over", fault)
        }
        // Away and back: the EU watchdog's own record says it failed over.
        (_, _, Some(_)) => went_through(&eu_after.transitions, "failed_over", fault),
        (Some(b), Some(a), None) => a.epoch > b.epoch && a.region != b.region,
        _ => false,
    };
    let acked_ids = ledger.acked_ids();
    let duplicates = stored
        .iter()
        .filter(|(id, n)| **n > 1 && acked_ids.contains(id.as_str()))
        .count();
    // After a failback US acks again, legitimately: dual writes are counted up to the failback.
    let (dual_ledger, tail) = match &failback {
        Some((at, tail)) => {
            let mut before_failback = ledger.clone();
            before_failback.acks.retain(|a| a.at < *at);
            (before_failback, Some(tail.clone()))
        }
        None => (ledger.clone(), None),
    };

    let confirm_state = match scenario {
        Scenario::Switchover | Scenario::Flip => "switching_over",
        Scenario::RegionLoss | Scenario::NodeLoss | Scenario::Partition | Scenario::Failback => {
            "failing_over"
        }
    };
    let at = |state| {
        first_transition_to(&eu_after.transitions, state, fault).map(|t| offset_ms(fault, t))
    };
    let kv_report = match (&kv_buckets, &kv_books) {
        (Some(b), Some((l, w))) => {
            let mut r = kv::check(
                final_api,
                b,
                l,
                w,
                (
                    LabRegion::Us.entry_ip().into(),
                    LabRegion::Eu.entry_ip().into(),
                ),
                failback.as_ref().map(|(at, _)| *at),
            )
            .await;
            r.lag_at_kill = kv_lag_at_kill;
            Some(r)
        }
        _ => None,
    };
    let first_ack = ledger
        .first_ack_from(&streams.mirror, fault)
        .map(|a| offset_ms(fault, a.at));
    let phases = Phases {
        detect: at("suspect"),
        confirm: at(confirm_state),
        claim: switched_at.map(|t| offset_ms(fault, t)),
        failed_over: at("failed_over"),
        dns_swapped: dns_swapped.map(|t| offset_ms(fault, t)),
        first_ack,
    };
    let mut report = Report {
        scenario,
        nats_version,
        wan: opts.wan,
        failover,
        rto_ms: if failover { first_ack } else { None },
        phases_ms: phases,
        steps_ms: steps,
        max_ack_gap_ms: u64::try_from(ledger.longest_ack_gap(fault).whole_milliseconds())
            .unwrap_or(u64::MAX),
        published: count(ledger.sent.len()),
        acked: count(ledger.acked_ids().len()),
        acked_lost: ledger.acked_lost(&kept),
        dual_writes: dual_ledger.dual_writes(&streams.primary, &streams.mirror),
        duplicates: count(duplicates),
        tail,
        lag_at_kill,
        epoch_before: before.map(|o| o.epoch.0),
        owner_after: after.as_ref().map(|o| o.region.to_string()),
        epoch_after: after.map(|o| o.epoch.0),
        dns_provider: opts.dns.name().to_owned(),
        client_record: client_record.map(|r| r.to_string()),
        kv: kv_report,
        consumers: Consumers {
            tracked: tracked(&eu_before, &streams.mirror),
            recreated,
            redelivered: deliveries.redelivered(),
            never_delivered: deliveries.never_delivered(ledger.acked_ids(), &kept),
            bound: redelivery_bound(
                scenario,
                &deliveries,
                &ledger,
                &streams,
                Moments {
                    fault,
                    sync_interval: cfg.consumers.sync_interval,
                    switchover: first_transition_to(&eu_after.transitions, "switching_over", fault),
                    failback: failback.as_ref().map(|(at, _)| *at),
                    tail_recovered: failback.as_ref().map_or(0, |(_, t)| recovered_in(t)),
                },
            ),
        },
        ..Report::default()
    };
    report.notes = notes(scenario, &ledger, fault, &streams.primary);
    report.unmet = scenario.unmet(&report);
    report.ok = report.unmet.is_empty();
    Ok(report)
}

/// Creates `n` durable pull consumers on the primary's stream that never read: positions for
/// the standby to track and for a move to recreate.
async fn create_idle_consumers(
    api: &JsApi,
    n: usize,
    streams: &DemoStreams,
) -> Result<(), DemoError> {
    let stream = &streams.primary;
    for i in 0..n {
        let name = format!("idle-{i:04}");
        let body = serde_json::json!({"stream_name": stream, "config": {
            "durable_name": name, "ack_policy": "explicit", "filter_subject": streams.subject}});
        api.call::<serde_json::Value>(&format!("CONSUMER.CREATE.{stream}.{name}"), body)
            .await
            .map_err(|e| DemoError::Topology(format!("creating consumer {name}: {e}")))?;
    }
    Ok(())
}

/// Durable consumers a watchdog tracks on the demo's stream.
fn tracked(s: &Status, mirror: &str) -> u64 {
    s.consumers
        .iter()
        .filter(|c| c.stream == mirror)
        .map(|c| c.consumers)
        .sum()
}

/// Once the writer stopped, lets the reader catch up: until it was delivered every acked id
/// the final stream holds, or nothing new came for a few seconds (bounded in all).
async fn drain(reader: Reader, ledger: &Ledger, kept: &BTreeSet<String>) -> Deliveries {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut seen = reader.snapshot().received.len();
    let mut idle_since = tokio::time::Instant::now();
    loop {
        let d = reader.snapshot();
        let now = tokio::time::Instant::now();
        if d.never_delivered(ledger.acked_ids(), kept) == 0
            || now >= deadline
            || now - idle_since > Duration::from_secs(5)
        {
            break;
        }
        if d.received.len() > seen {
            seen = d.received.len();
            idle_since = now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // NB: a message delivered again after the drain ended would go uncounted; a short pause
    // lets a late redelivery of the last batch show.
    tokio::time::sleep(Duration::from_secs(1)).await;
    reader.stop().await
}

/// The times a redelivery bound depends on.
struct Moments {
    /// When the fault was injected (or the switchover asked for).
    fault: OffsetDateTime,
    /// How often the standby's watchdog stores the consumers' positions.
    sync_interval: Duration,
    /// When the EU watchdog started the planned switchover, if it did.
    switchover: Option<OffsetDateTime>,
    /// When the failback was asked for, if it was.
    failback: Option<OffsetDateTime>,
    /// Messages of the divergent tail the failback re-published (the reader may have had
    /// them from the old primary before it died).
    tail_recovered: u64,
}

/// The `recovered` count of a failback's divergent tail as its transition reads
/// (`3 captured, 2 recovered, 1 duplicates, 0 kept`); 0 when absent.
fn recovered_in(tail: &str) -> u64 {
    tail.split(", ")
        .find_map(|part| part.strip_suffix(" recovered")?.parse().ok())
        .unwrap_or(0)
}

/// The most the reader may be delivered again in `scenario`.
fn redelivery_bound(
    scenario: Scenario,
    d: &Deliveries,
    ledger: &Ledger,
    streams: &DemoStreams,
    m: Moments,
) -> u64 {
    let in_flight = u64::try_from(MAX_ACK_PENDING).unwrap_or(0);
    // Acked since the last position stored before the region died, plus what was delivered
    // and not yet acked. Acks after the fault count too: killing a region takes a moment.
    let window = time::Duration::try_from(m.sync_interval).unwrap_or(time::Duration::ZERO);
    let region_loss = d.acked_since(&streams.primary, m.fault - window) + in_flight;
    // A planned move reads the final floors after the fence: only what the reader had not
    // acked on the old primary when the move began can come again.
    let planned = |stream: &str, at: OffsetDateTime| {
        d.unacked_before(
            ledger
                .acks
                .iter()
                .filter(|a| a.stream == stream)
                .map(|a| a.id.as_str()),
            at,
        )
    };
    match scenario {
        Scenario::RegionLoss => region_loss,
        Scenario::Switchover => planned(&streams.primary, m.switchover.unwrap_or(m.fault)),
        Scenario::Failback => {
            region_loss + m.failback.map_or(0, |at| planned(&streams.mirror, at)) + m.tail_recovered
        }
        Scenario::Flip => {
            planned(&streams.primary, m.switchover.unwrap_or(m.fault))
                + m.failback.map_or(0, |at| planned(&streams.mirror, at))
                + m.tail_recovered
        }
        // Nothing moves; a lost node may still take unacked deliveries with it.
        Scenario::NodeLoss | Scenario::Partition => in_flight,
    }
}

/// The step durations a watchdog's metrics recorded (one failover: each sum is one step).
fn steps_from(metrics: &str) -> Steps {
    let ms = |phase| {
        crate::bench::sample(
            metrics,
            "natsdr_failover_phase_duration_seconds_sum",
            &[("phase", phase)],
        )
        .filter(|s| *s > 0.0)
        .map(secs_to_ms)
    };
    Steps {
        claim: ms("claim"),
        fence: ms("fence"),
        promote: ms("promote"),
        dns: ms("dns"),
    }
}

/// Whole milliseconds of a non-negative number of seconds.
fn secs_to_ms(s: f64) -> u64 {
    Duration::try_from_secs_f64(s).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Whether a watchdog's status shows it in its starting point: the standby's with every mirror
/// at no lag, the primary's (which has no mirror to show) as soon as it probed.
pub fn caught_up(s: &Status) -> bool {
    let standby = s
        .regions
        .iter()
        .any(|r| r.home == "standby" && r.region.as_str() == s.site);
    !s.regions.is_empty()
        && (!standby
            || (!s.mirrors.is_empty() && s.mirrors.iter().all(|m| m.lag_messages == Some(0))))
}

fn notes(
    scenario: Scenario,
    ledger: &Ledger,
    fault: OffsetDateTime,
    primary_stream: &str,
) -> Vec<String> {
    let us_after = ledger
        .acks
        .iter()
        .filter(|a| a.stream == primary_stream && a.at > fault)
        .count();
    let mut notes = Vec::new();
    match scenario {
        Scenario::Failback => notes.push(
            "dual_writes counts acks up to the failback command; after the switch back US is the \
             primary again and its acks are expected"
                .into(),
        ),
        Scenario::RegionLoss => notes.push(format!(
            "dual_writes is trivially 0 here: every US node was killed, so US could ack nothing \
             after the fault ({us_after} US acks after it)"
        )),
        Scenario::NodeLoss | Scenario::Partition => notes.push(
            "dual_writes is trivially 0 unless EU was promoted: an unpromoted mirror acks no writes"
                .into(),
        ),
        Scenario::Switchover => notes.push(format!(
            "both regions were alive: {us_after} US acks after the switchover began, all before \
             EU's first ack or dual_writes says otherwise"
        )),
        Scenario::Flip => notes.push(
            "dual_writes counts acks up to the failback command; the home primary's nodes were \
             restarted one at a time while the watchdogs were paused"
                .into(),
        ),
    }
    notes
}

pub(crate) async fn connect_js(cfg: &Config) -> Result<BTreeMap<Region, JsApi>, DemoError> {
    let mut apis = BTreeMap::new();
    for r in &cfg.regions {
        let clients = RegionClients::for_region(r, "natsdr-demo", Duration::from_secs(3))
            .await
            .map_err(|e| DemoError::Topology(format!("{}: {}", r.name, natsdr::error_chain(&e))))?;
        apis.insert(r.name.clone(), clients.js);
    }
    Ok(apis)
}

/// The version `server --version` prints, without its `v` (e.g. `2.15.1`).
pub fn nats_version(server: &Path) -> Result<String, DemoError> {
    let out = std::process::Command::new(server)
        .arg("--version")
        .output()
        .map_err(|source| DemoError::Io {
            path: server.to_owned(),
            source,
        })?;
    // NB: prints `nats-server: v2.15.1`.
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .trim_start_matches('v')
        .to_owned())
}

pub(crate) fn load_target(m: &LabManifest) -> Result<LoadTarget, DemoError> {
    let dns = m.dns.as_ref().ok_or(DemoError::NoDns)?;
    Ok(LoadTarget {
        dns_server: dns.server,
        name: dns.client_record.clone(),
        port: m.client_port,
        user: m.app.user.clone(),
        password: m.app.password.clone(),
        subject: SUBJECT.to_owned(),
        interval: Duration::from_millis(10),
        ack_timeout: Duration::from_millis(500),
    })
}

async fn read_owner(arbiter: &AnyArbiter) -> Result<Option<Ownership>, DemoError> {
    arbiter
        .read()
        .await
        .map_err(|e| DemoError::Arbiter(natsdr::error_chain(&e)))
}

/// A uniformly random point of a probe interval.
fn round_phase(interval: Duration) -> Duration {
    use std::hash::{BuildHasher, RandomState};
    let nanos = u64::try_from(interval.as_nanos())
        .unwrap_or(u64::MAX)
        .max(1);
    Duration::from_nanos(RandomState::new().hash_one(std::process::id()) % nanos)
}

async fn inject(scenario: Scenario, lab: &mut Lab, dogs: &Watchdogs) -> Result<(), DemoError> {
    match scenario {
        Scenario::RegionLoss => lab.kill_region(LabRegion::Us).await.map_err(DemoError::Lab),
        // The mirror falls behind first (the leafnode cut for a second), so US dies holding a
        // divergent tail. The leaf is healed only once EU has failed over (`fail_back`): netd
        // would deliver what it holds from US to the unpromoted mirror. (A slowed leaf left no
        // tail at all in a third of the runs: netd delivers queued chunks after US dies.)
        Scenario::Failback => {
            lab.cut(NetPath::Leaf).await.map_err(DemoError::Lab)?;
            tokio::time::sleep(Duration::from_secs(1)).await;
            lab.kill_region(LabRegion::Us).await.map_err(DemoError::Lab)
        }
        Scenario::NodeLoss => lab
            .kill_node(LabRegion::Us, 2)
            .await
            .map_err(DemoError::Lab),
        Scenario::Partition => lab
            .cut_all(&[
                NetPath::Leaf,
                NetPath::Watchdog {
                    from: Site::Eu,
                    to: LabRegion::Us,
                },
                NetPath::Peer {
                    from: Site::Eu,
                    to: Site::Us,
                },
                NetPath::Peer {
                    from: Site::Us,
                    to: Site::Eu,
                },
            ])
            .await
            .map_err(DemoError::Lab),
        Scenario::Switchover | Scenario::Flip => {
            let body = serde_json::json!({"reason": "natsdr-lab demo: planned switchover"});
            let (code, answer) = dogs
                .command(Site::Eu, "switchover", body)
                .await
                .map_err(DemoError::Watchdog)?;
            if (200..300).contains(&code) {
                Ok(())
            } else {
                Err(DemoError::Topology(format!(
                    "the EU watchdog refused the switchover ({code}): {answer}"
                )))
            }
        }
    }
}

/// Waits for the scenario's outcome; returns when a moving scenario's new epoch was first seen
/// (polled, so up to 100 ms late). A scenario that never gets there is not an error: the report says so.
async fn wait_outcome(
    scenario: Scenario,
    dogs: &Watchdogs,
    eu: &Region,
    before: Option<&Ownership>,
    cfg: &Config,
    load: &LoadGen,
    (fault, mirror): (OffsetDateTime, &str),
) -> Option<OffsetDateTime> {
    if !scenario.moves_primary() {
        tokio::time::sleep(cfg.timing.failover_delay * 2).await;
        return None;
    }
    let next = before.map(|o| o.epoch.0 + 1);
    let claimed = dogs
        .wait_for(Site::Eu, WAIT, |s| {
            s.epoch.map(|e| e.0) >= next && s.active_region.as_ref() == Some(eu)
        })
        .await
        .ok()
        .map(|_| OffsetDateTime::now_utc());
    // NB: the claim comes first; fence, promote and the DNS swap follow, and the watchdog
    // reports `failed_over` (or leaves `switching_over`) only once they are all done.
    let _ = dogs
        .wait_for(Site::Eu, WAIT, |s| match scenario {
            Scenario::Switchover | Scenario::Flip => s.state != "switching_over",
            Scenario::RegionLoss
            | Scenario::NodeLoss
            | Scenario::Partition
            | Scenario::Failback => s.state == "failed_over",
        })
        .await;
    // The client needs its own moment: re-resolve, reconnect, publish.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while load.snapshot().first_ack_from(mirror, fault).is_none()
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A few more publishes in the new primary, so the read-back checks more than one.
    tokio::time::sleep(Duration::from_secs(1)).await;
    claimed
}

/// Every `Nats-Msg-Id` stored in `stream`, with how often it is stored.
pub(crate) async fn stream_ids(
    api: &JsApi,
    stream: &str,
) -> Result<BTreeMap<String, u64>, DemoError> {
    let err = |source: Box<dyn std::error::Error + Send + Sync>| DemoError::ReadBack {
        stream: stream.to_owned(),
        source,
    };
    let info = api
        .stream_info(stream)
        .await
        .map_err(|e| err(Box::new(e)))?;
    let js = async_nats::jetstream::new(api.client().clone());
    let handle = js.get_stream(stream).await.map_err(|e| err(Box::new(e)))?;
    let mut ids = BTreeMap::new();
    if info.state.last_seq == 0 {
        return Ok(ids);
    }
    for seq in info.state.first_seq.max(1)..=info.state.last_seq {
        match handle.get_raw_message(seq).await {
            Ok(msg) => {
                if let Some(id) = msg.headers.get("Nats-Msg-Id") {
                    *ids.entry(id.as_str().to_owned()).or_default() += 1;
                }
            }
            // A deleted or never-stored sequence (mirrors keep their source's numbering).
            Err(e)
                if e.kind()
                    == async_nats::jetstream::stream::RawMessageErrorKind::NoMessageFound => {}
            Err(e) => return Err(err(Box::new(e))),
        }
    }
    Ok(ids)
}

/// The failback scenario's second half: US comes back (its watchdog sees it fenced), an operator
/// fails back to it, and the client follows DNS back. Returns when the failback command was
/// sent, and the divergent tail as the US watchdog reported it.
async fn fail_back(
    lab: &mut Lab,
    dogs: &Watchdogs,
    load: &LoadGen,
    primary_stream: &str,
) -> Result<(OffsetDateTime, String), DemoError> {
    lab.heal(NetPath::Leaf).await.map_err(DemoError::Lab)?;
    lab.restart_region(LabRegion::Us)
        .await
        .map_err(DemoError::Lab)?;
    dogs.wait_for(Site::Us, WAIT, |s| {
        s.regions
            .iter()
            .any(|r| r.home == "primary" && r.up && r.fenced)
    })
    .await
    .map_err(|s| DemoError::NotHealthy {
        site: Site::Us,
        state: s.state,
    })?;
    let at = OffsetDateTime::now_utc();
    let body = serde_json::json!({"reason": "natsdr-lab demo: failback"});
    let (code, answer) = dogs
        .command(Site::Us, "failback", body)
        .await
        .map_err(DemoError::Watchdog)?;
    if !(200..300).contains(&code) {
        return Err(DemoError::Topology(format!(
            "the US watchdog refused the failback ({code}): {answer}"
        )));
    }
    let done = |s: &Status| {
        s.transitions
            .iter()
            .find(|t| t.from == "failing_back" && t.to == "healthy")
            .map(|t| t.reason.clone())
    };
    let tail = dogs
        .wait_for(Site::Us, Duration::from_secs(120), |s| done(s).is_some())
        .await
        .ok()
        .and_then(|s| done(&s))
        .and_then(|r| r.split("divergent tail: ").nth(1).map(str::to_owned))
        .unwrap_or_else(|| "the failback did not complete".to_owned());
    // The client needs its own moment to follow DNS back.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while load.snapshot().first_ack_from(primary_stream, at).is_none()
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok((at, tail))
}

/// The seed's rolling maintenance of `region` while the other one serves: every watchdog
/// paused (probing goes on, nothing is acted on), each node restarted in turn once the previous
/// one is back with its meta group whole, then every watchdog resumed (which re-checks the
/// world before acting).
async fn rolling_restart_paused(
    lab: &mut Lab,
    dogs: &Watchdogs,
    region: LabRegion,
) -> Result<(), DemoError> {
    let say = |command: &'static str| async move {
        for site in Site::ALL {
            let body = serde_json::json!({"reason": format!("natsdr-lab demo: rolling restart ({command})")});
            let (code, answer) = dogs
                .command(site, command, body)
                .await
                .map_err(DemoError::Watchdog)?;
            if !(200..300).contains(&code) {
                return Err(DemoError::Topology(format!(
                    "the {site} watchdog refused to {command} ({code}): {answer}"
                )));
            }
        }
        Ok(())
    };
    say("pause").await?;
    for i in 0..lab.manifest().region(region).nodes.len() {
        lab.kill_node(region, i).await.map_err(DemoError::Lab)?;
        lab.restart_node(region, i).await.map_err(DemoError::Lab)?;
    }
    say("resume").await
}

/// Follows the client record from the fault on, and remembers when it first pointed elsewhere.
struct DnsWatcher {
    armed: Arc<AtomicBool>,
    swapped: Arc<Mutex<Option<OffsetDateTime>>>,
    task: tokio::task::JoinHandle<()>,
}

impl DnsWatcher {
    fn start(t: &LoadTarget) -> Result<Self, DemoError> {
        let resolver = uncached_resolver(t.dns_server, t.ack_timeout).map_err(|source| {
            DemoError::Resolver {
                server: t.dns_server,
                source,
            }
        })?;
        let armed = Arc::new(AtomicBool::new(false));
        let swapped: Arc<Mutex<Option<OffsetDateTime>>> = Arc::default();
        let (a, w, name) = (Arc::clone(&armed), Arc::clone(&swapped), t.name.clone());
        let task = tokio::spawn(async move {
            let first = resolve(&resolver, &name).await;
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                if !a.load(Ordering::SeqCst) {
                    continue;
                }
                let now = resolve(&resolver, &name).await;
                if now.is_some() && now != first {
                    *w.lock().unwrap_or_else(PoisonError::into_inner) =
                        Some(OffsetDateTime::now_utc());
                    return;
                }
            }
        });
        Ok(Self {
            armed,
            swapped,
            task,
        })
    }

    /// Starts watching for a change (from the fault on).
    fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    /// Stops watching; when the record first changed, if it did.
    fn stop(self) -> Option<OffsetDateTime> {
        self.task.abort();
        *self.swapped.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::Ack;
    use crate::demo::fixtures::{at, seen};

    #[test]
    fn a_fault_lands_at_varying_points_within_one_probe_interval() {
        let interval = Duration::from_millis(500);
        let phases: BTreeSet<Duration> = (0..32).map(|_| round_phase(interval)).collect();
        assert!(phases.iter().all(|p| *p < interval), "{phases:?}");
        assert!(phases.len() > 16, "{phases:?}");
        assert_eq!(round_phase(Duration::ZERO), Duration::ZERO);
    }

    fn writer(acks: &[(&str, &str)]) -> Ledger {
        let mut l = Ledger::default();
        for (id, stream) in acks {
            l.acked(Ack {
                id: (*id).into(),
                stream: (*stream).into(),
                seq: 1,
                at: at(0),
            });
        }
        l
    }

    fn moments(failback: Option<i64>, tail_recovered: u64) -> Moments {
        Moments {
            fault: at(10_000),
            sync_interval: Duration::from_secs(1),
            switchover: Some(at(10_500)),
            failback: failback.map(at),
            tail_recovered,
        }
    }

    #[test]
    fn a_region_loss_may_redeliver_the_last_sync_intervals_acks_and_max_ack_pending() {
        let d = Deliveries {
            received: Vec::new(),
            acked: vec![
                seen("a", US_STREAM, 8_000),
                seen("b", US_STREAM, 9_100),
                seen("c", US_STREAM, 10_050),
                seen("d", EU_STREAM, 15_000),
            ],
        };
        let bound = redelivery_bound(
            Scenario::RegionLoss,
            &d,
            &Ledger::default(),
            &DemoStreams::reference(),
            moments(None, 0),
        );
        assert_eq!(bound, 2 + 64);
    }

    #[test]
    fn a_switchover_may_redeliver_only_what_was_unacked_when_it_began() {
        let d = Deliveries {
            received: Vec::new(),
            acked: vec![seen("a", US_STREAM, 9_000), seen("b", US_STREAM, 10_600)],
        };
        let l = writer(&[("a", US_STREAM), ("b", US_STREAM), ("c", EU_STREAM)]);
        assert_eq!(
            redelivery_bound(
                Scenario::Switchover,
                &d,
                &l,
                &DemoStreams::reference(),
                moments(None, 0)
            ),
            1
        );
    }

    #[test]
    fn a_failback_adds_the_failover_the_move_back_and_the_recovered_tail() {
        let d = Deliveries {
            received: Vec::new(),
            acked: vec![seen("a", US_STREAM, 9_500), seen("e1", EU_STREAM, 20_000)],
        };
        let l = writer(&[("e1", EU_STREAM), ("e2", EU_STREAM)]);
        assert_eq!(
            redelivery_bound(
                Scenario::Failback,
                &d,
                &l,
                &DemoStreams::reference(),
                moments(Some(30_000), 7)
            ),
            (1 + 64) + 1 + 7
        );
    }

    #[test]
    fn the_recovered_count_is_read_from_the_failbacks_tail() {
        assert_eq!(
            recovered_in("110 captured, 42 recovered, 0 duplicates, 0 kept"),
            42
        );
        assert_eq!(recovered_in("the failback did not complete"), 0);
    }
}
