//! The chaos suite's imperative shell: one seed = a fresh lab, watchdogs, load, the seed's
//! faults, healing, an operator's failback if a failover happened, and the recorded history.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use time::OffsetDateTime;

use super::check::{self, EpochSample, FinalStatus, OwnerSample, Verdict};
use super::schedule::{Fault, Schedule};
use super::{ChaosError, SeedReport};
use crate::demo::run::{caught_up, connect_js, load_target, stream_ids};
use crate::demo::{DemoError, LoadGen};
use crate::lab::watchdogs::Watchdogs;
use crate::lab::{Lab, LabOptions, NetPath, Site, WanProfile};
use crate::testkit::receiver::{Receiver, ReceiverOptions};
use natsdr::api::model::Status;
use natsdr::config::Config;
use natsdr::dns::{AnyArbiter, Arbiter as _};
use natsdr::topology::{Desired, apply, expected};

/// The US stream the load's subject lands in while US is primary.
const US_STREAM: &str = "events-us";
/// Its EU mirror, which takes the subject's writes once promoted.
const EU_STREAM: &str = "events-eu-mirror";
/// How often the arbiter and the watchdogs' epochs are sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);
/// How long settling leaves a `self_fenced` primary to unfence itself (the default
/// `self_unfence_after` of 10 s, plus rounds and report ages) before acknowledging it.
const SELF_UNFENCE_GRACE: Duration = Duration::from_secs(20);

/// Bound for each wait of the settle and failback phases.
const WAIT: Duration = Duration::from_secs(90);

/// How to run the suite.
#[derive(Debug, Clone)]
pub struct ChaosOptions {
    /// Seeds to run, in order.
    pub seeds: Vec<u64>,
    /// How long faults are drawn for in each run.
    pub duration: Duration,
    /// The natsdr binary the watchdogs and netd run.
    pub natsdr_exe: PathBuf,
}

/// Runs one seed on a fresh LAN lab (see [`run_seed_on`]).
pub async fn run_seed(seed: u64, duration: Duration, exe: &Path) -> Result<SeedReport, ChaosError> {
    run_seed_on(seed, duration, exe, WanProfile::Lan).await
}

/// Runs one seed on a fresh lab whose places are `wan` apart. A harness failure (the lab did not
/// start) is an error; a broken invariant is a report whose verdicts say so. The lab's directory
/// is removed when every invariant held and kept (its logs are the evidence) when not.
pub async fn run_seed_on(
    seed: u64,
    duration: Duration,
    exe: &Path,
    wan: WanProfile,
) -> Result<SeedReport, ChaosError> {
    let dir = std::env::temp_dir().join(format!("natsdr-chaos-{}-{seed}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let started = tokio::time::Instant::now();
    let schedule = Schedule::generate(seed, duration);
    let mut lab_opts = LabOptions::new(&dir).map_err(ChaosError::Lab)?;
    lab_opts.natsdr_exe = exe.to_owned();
    lab_opts.owner_pid = Some(std::process::id());
    lab_opts.wan = wan;
    let mut lab = Lab::up(lab_opts).await.map_err(ChaosError::Lab)?;
    let result = drive(&schedule, &mut lab, exe).await;
    let _ = lab.shutdown().await;
    let mut report = result?;
    report.wall_secs = started.elapsed().as_secs_f64();
    // NATSDR_CHAOS_KEEP=1 keeps the lab directory (every process's log) of a seed that held too.
    if report.held() && std::env::var_os("NATSDR_CHAOS_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        report.kept_dir = Some(dir);
    }
    Ok(report)
}

/// The PagerDuty routing key the watchdogs read from their environment.
const ROUTING_KEY: &str = "CHAOS-ROUTING-KEY";

async fn drive(schedule: &Schedule, lab: &mut Lab, exe: &Path) -> Result<SeedReport, ChaosError> {
    let m = lab.manifest().clone();
    let cfg = Config::load(&m.natsdr_config).map_err(|e| ChaosError::Demo(DemoError::Config(e)))?;
    let us = cfg.regions[0].name.to_string();
    let eu = cfg.regions[1].name.to_string();
    let apis = connect_js(&cfg).await?;
    let plan = expected(&Desired::from(&cfg)).map_err(|e| ChaosError::Harness(e.to_string()))?;
    if let Some(bad) = apply(&plan, &apis).await.iter().find(|c| !c.is_change()) {
        return Err(ChaosError::Harness(format!("topology: {bad}")));
    }
    let (arbiter, _) = natsdr::dns::from_config(&cfg)
        .await
        .map_err(ChaosError::Harness)?;
    let pagerduty = Receiver::start(ReceiverOptions::default())
        .await
        .map_err(|e| ChaosError::Harness(format!("PagerDuty receiver: {e}")))?;
    let events_url = pagerduty.pagerduty_url().to_string();
    let env = [
        ("NATSDR_NOTIFY__PAGERDUTY__EVENTS_URL", events_url.as_str()),
        (
            "NATSDR_NOTIFY__PAGERDUTY__ROUTING_KEY_ENV",
            "PD_ROUTING_KEY",
        ),
        ("PD_ROUTING_KEY", ROUTING_KEY),
    ];
    let mut dogs = Watchdogs::start(&m, exe, &env, Duration::from_secs(30))
        .await
        .map_err(|e| ChaosError::Demo(DemoError::Watchdog(e)))?;
    for site in [Site::Us, Site::Eu] {
        dogs.wait_for(site, Duration::from_secs(60), |s| {
            s.state == "healthy" && caught_up(s)
        })
        .await
        .map_err(|s| ChaosError::Harness(format!("{site} never healthy: {}", s.state)))?;
    }
    let load = LoadGen::start(load_target(&m)?)
        .map_err(|e| ChaosError::Harness(format!("resolver: {e}")))?;
    let warm = tokio::time::Instant::now() + Duration::from_secs(10);
    while load.snapshot().acks.len() < 100 && tokio::time::Instant::now() < warm {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let apis_by_site: Vec<(Site, String)> = Site::ALL
        .into_iter()
        .map(|s| (s, dogs.api(s).to_owned()))
        .collect();
    let sampler = Sampler::start(arbiter.clone(), apis_by_site);
    let named = m.dns.as_ref().and_then(|d| d.process.pid);

    // The faults, one episode at a time, each undone before the next.
    let t0 = tokio::time::Instant::now();
    let mut injected = 0_u64;
    for e in &schedule.episodes {
        tokio::time::sleep_until(t0 + e.at).await;
        set_fault(e.fault, true, lab, &mut dogs, &pagerduty, named).await?;
        injected += 1;
        tokio::time::sleep_until(t0 + e.end()).await;
        set_fault(e.fault, false, lab, &mut dogs, &pagerduty, named).await?;
    }
    lab.heal_all(&NetPath::all())
        .await
        .map_err(ChaosError::Lab)?;
    dogs.wait_ready(Duration::from_secs(30))
        .await
        .map_err(|e| ChaosError::Demo(DemoError::Watchdog(e)))?;
    // Settle: a failover in flight completes, a returning region is seen and re-fenced.
    tokio::time::sleep(cfg.timing.failover_delay * 2).await;

    let failback_at = OffsetDateTime::now_utc();
    let owner = read_owner(&arbiter).await;
    let failed_over = owner.as_ref().is_some_and(|(_, r)| *r == eu);
    let mut operator = Vec::new();
    if failed_over {
        fail_back(&dogs, &mut operator).await;
    }
    settle(&dogs, &us, &mut operator).await;
    // The client follows DNS home and publishes a few more.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let home_since = OffsetDateTime::now_utc();
    while load
        .snapshot()
        .first_ack_from(US_STREAM, home_since)
        .is_none()
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let ledger = load.stop().await;
    let samples = sampler.stop();
    let mut finals = Vec::new();
    for site in Site::ALL {
        let s = dogs.status(site).await.unwrap_or_default();
        finals.push(FinalStatus {
            site: site.short().to_owned(),
            state: s.state,
            active_region: s.active_region.map(|r| r.to_string()),
            dns_points_at: s.dns_points_at.map(|r| r.to_string()),
        });
    }
    let final_owner = read_owner(&arbiter).await;
    drop(dogs);
    let final_region = final_owner.as_ref().map_or(us.clone(), |(_, r)| r.clone());
    let (stream, api) = if final_region == eu {
        (EU_STREAM, &apis[&cfg.regions[1].name])
    } else {
        (US_STREAM, &apis[&cfg.regions[0].name])
    };
    let stored = stream_ids(api, stream).await?;

    let region_of: BTreeMap<String, String> = [
        (US_STREAM.to_owned(), us.clone()),
        (EU_STREAM.to_owned(), eu.clone()),
    ]
    .into();
    let failovers = {
        let mut epochs: Vec<u64> = samples
            .owners
            .iter()
            .filter(|o| o.region == eu && o.at < failback_at)
            .map(|o| o.epoch)
            .collect();
        epochs.dedup();
        u64::try_from(epochs.len()).unwrap_or(u64::MAX)
    };
    let verdicts: Vec<Verdict> = vec![
        check::no_dual_writes(
            &ledger.acks,
            &region_of,
            &samples.owners,
            Duration::from_secs(2),
        ),
        check::epochs_only_grow(&samples.epochs),
        check::acked_exactly_once(&ledger.acks, &stored),
        check::no_unwarranted_failover(schedule, cfg.timing.failover_delay, failovers),
        check::converged(&finals, final_owner.as_ref().map(|(_, r)| r.as_str()), &us),
    ];
    Ok(SeedReport {
        seed: schedule.seed,
        schedule: schedule.clone(),
        injected,
        failovers,
        failed_back: failed_over,
        operator,
        acked: u64::try_from(ledger.acked_ids().len()).unwrap_or(u64::MAX),
        pages: u64::try_from(pagerduty.requests().len()).unwrap_or(u64::MAX),
        verdicts,
        wall_secs: 0.0,
        kept_dir: None,
    })
}

fn signal(pid: Option<u32>, sig: Signal, what: &str) -> Result<(), ChaosError> {
    let pid = pid.ok_or_else(|| ChaosError::Harness(format!("{what} has no pid")))?;
    let raw = i32::try_from(pid).map_err(|_| ChaosError::Harness(format!("{what}: pid {pid}")))?;
    nix::sys::signal::kill(Pid::from_raw(raw), sig)
        .map_err(|e| ChaosError::Harness(format!("{sig} to {what} ({pid}): {e}")))
}

/// Starts `fault` (`on`) or ends it (heals, restarts, resumes).
async fn set_fault(
    fault: Fault,
    on: bool,
    lab: &mut Lab,
    dogs: &mut Watchdogs,
    pagerduty: &Receiver,
    named: Option<u32>,
) -> Result<(), ChaosError> {
    let stall = if on { Signal::SIGSTOP } else { Signal::SIGCONT };
    match fault {
        Fault::KillNode(r, i) if on => lab.kill_node(r, i).await.map_err(ChaosError::Lab),
        Fault::KillNode(r, i) => lab.restart_node(r, i).await.map_err(ChaosError::Lab),
        Fault::KillRegion(r) if on => lab.kill_region(r).await.map_err(ChaosError::Lab),
        Fault::KillRegion(r) => lab.restart_region(r).await.map_err(ChaosError::Lab),
        Fault::Cut(p) if on => lab.cut(p).await.map_err(ChaosError::Lab),
        Fault::Slow(p, ms) if on => lab
            .slow(p, Duration::from_millis(ms))
            .await
            .map_err(ChaosError::Lab),
        Fault::Cut(p) | Fault::Slow(p, _) => lab.heal(p).await.map_err(ChaosError::Lab),
        Fault::KillWatchdog(s) if on => {
            dogs.kill(s);
            Ok(())
        }
        Fault::KillWatchdog(s) => dogs
            .restart(s)
            .map_err(|e| ChaosError::Demo(DemoError::Watchdog(e))),
        Fault::StallWatchdog(s) => signal(dogs.pid(s), stall, "a watchdog"),
        Fault::StallDns => signal(named, stall, "named"),
        Fault::PagerDutyDown => {
            pagerduty.set_hang(on);
            Ok(())
        }
    }
}

async fn read_owner(arbiter: &AnyArbiter) -> Option<(u64, String)> {
    let read = tokio::time::timeout(Duration::from_secs(2), arbiter.read()).await;
    match read {
        Ok(Ok(Some(o))) => Some((o.epoch.0, o.region.to_string())),
        Ok(Ok(None) | Err(_)) | Err(_) => None,
    }
}

/// What an operator does after a failover, as runbooks/failback.md says: wait until EU has
/// failed over (or holds in Blocked: acknowledged) and US is back and fenced, then `failback` to
/// the US watchdog, repeated while it is refused for a passing reason.
async fn fail_back(dogs: &Watchdogs, operator: &mut Vec<String>) {
    let _ = dogs
        .wait_for(Site::Eu, WAIT, |s| {
            s.state == "failed_over" || s.state == "blocked"
        })
        .await;
    let _ = dogs
        .wait_for(Site::Us, WAIT, |s| {
            s.regions
                .iter()
                .any(|r| r.home == "primary" && r.up && r.fenced)
        })
        .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        ack_blocked(dogs, operator).await;
        let body = serde_json::json!({"reason": "natsdr-lab chaos: failback after the faults"});
        let answer = dogs.command(Site::Us, "failback", body).await;
        let (code, text) = match answer {
            Ok((code, body)) => (code, body.to_string()),
            Err(e) => (0, e.to_string()),
        };
        operator.push(format!("failback -> {code}"));
        if (200..300).contains(&code) || tokio::time::Instant::now() > deadline {
            break;
        }
        operator.push(format!("  refused: {}", short(&text)));
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let _ = dogs
        .wait_for(Site::Us, WAIT, |s| {
            s.transitions
                .iter()
                .any(|t| t.from == "failing_back" && t.to == "healthy")
        })
        .await;
}

/// Waits for every watchdog to be healthy on `home`, acknowledging a Blocked hold the way an
/// operator would (`ack`; runbooks/natsdr-not-healthy.md). A primary that fenced itself while its
/// region was unreachable longer than its lease, with no failover following, unfences itself
/// once a majority vouches for it for `self_unfence_after` (10 s); only one still `self_fenced`
/// after [`SELF_UNFENCE_GRACE`] (it flapped) is acknowledged too.
async fn settle(dogs: &Watchdogs, home: &str, operator: &mut Vec<String>) {
    let start = tokio::time::Instant::now();
    let deadline = start + WAIT;
    while tokio::time::Instant::now() < deadline {
        let mut all = true;
        for site in Site::ALL {
            let ok = dogs.status(site).await.is_ok_and(|s| at_home(&s, home));
            all &= ok;
        }
        if all {
            return;
        }
        let holds: &[&str] = if start.elapsed() < SELF_UNFENCE_GRACE {
            &["blocked"]
        } else {
            &["blocked", "self_fenced"]
        };
        ack_holds(dogs, operator, holds).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn at_home(s: &Status, home: &str) -> bool {
    s.state == "healthy"
        && s.active_region.as_ref().is_some_and(|r| r.as_str() == home)
        && s.dns_points_at.as_ref().is_some_and(|r| r.as_str() == home)
}

async fn ack_blocked(dogs: &Watchdogs, operator: &mut Vec<String>) {
    ack_holds(dogs, operator, &["blocked"]).await;
}

/// Acknowledges every watchdog holding in one of `states`, as the runbooks tell an operator.
async fn ack_holds(dogs: &Watchdogs, operator: &mut Vec<String>, states: &[&str]) {
    for site in [Site::Us, Site::Eu] {
        if dogs
            .status(site)
            .await
            .is_ok_and(|s| states.contains(&s.state.as_str()))
        {
            let body =
                serde_json::json!({"reason": "natsdr-lab chaos: acknowledged after the faults"});
            let code = dogs.command(site, "ack", body).await.map_or(0, |(c, _)| c);
            operator.push(format!("ack {site} -> {code}"));
        }
    }
}

fn short(s: &str) -> String {
    s.chars().take(200).collect()
}

/// Everything the sampler read during a run.
#[derive(Debug, Clone, Default)]
struct Samples {
    epochs: Vec<EpochSample>,
    owners: Vec<OwnerSample>,
}

/// Reads the arbiter and every watchdog's status epoch every [`SAMPLE_EVERY`], in its own task
/// so a stalled DNS server or watchdog only delays its own reading.
struct Sampler {
    samples: Arc<Mutex<Samples>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Sampler {
    fn start(arbiter: AnyArbiter, apis: Vec<(Site, String)>) -> Self {
        let samples: Arc<Mutex<Samples>> = Arc::default();
        let mut tasks = Vec::new();
        let into = Arc::clone(&samples);
        tasks.push(tokio::spawn(async move {
            loop {
                if let Some((epoch, region)) = read_owner(&arbiter).await {
                    let at = OffsetDateTime::now_utc();
                    let mut s = into.lock().unwrap_or_else(PoisonError::into_inner);
                    s.owners.push(OwnerSample { at, epoch, region });
                    s.epochs.push(EpochSample {
                        at,
                        source: "arbiter".into(),
                        epoch,
                    });
                }
                tokio::time::sleep(SAMPLE_EVERY).await;
            }
        }));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()
            .expect("client builds");
        for (site, api) in apis {
            let (http, into) = (http.clone(), Arc::clone(&samples));
            tasks.push(tokio::spawn(async move {
                loop {
                    let status = match http.get(format!("{api}/v1/status")).send().await {
                        Ok(r) => r.json::<Status>().await.ok(),
                        Err(_) => None,
                    };
                    if let Some(epoch) = status.and_then(|s| s.epoch) {
                        into.lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .epochs
                            .push(EpochSample {
                                at: OffsetDateTime::now_utc(),
                                source: site.short().to_owned(),
                                epoch: epoch.0,
                            });
                    }
                    tokio::time::sleep(SAMPLE_EVERY).await;
                }
            }));
        }
        Self { samples, tasks }
    }

    fn stop(self) -> Samples {
        for t in &self.tasks {
            t.abort();
        }
        self.samples
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
