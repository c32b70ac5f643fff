//! The bench's imperative shell: demo runs for RTO and switchover, a lab per outage case and
//! per footprint size.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::BenchError;
use super::openmetrics::sample;
use super::outage::{Fault, run_case};
use super::report::{
    BenchReport, ConsumersBench, Footprint, Machine, OutageCase, RtoProfile, ScaleRto, Switchover,
};
use super::scale;
use super::stats::Summary;
use crate::demo::{DemoOptions, Report, Scenario, nats_version};
use crate::lab::watchdogs::Watchdogs;
use crate::lab::{GENERATED_PREFIX, Lab, LabOptions, Site, WanProfile, find_nats_server};
use natsdr::config::Config;
use natsdr::exec::{NatsExecutor, Promoter as _};
use natsdr::model::{Epoch, Region, StreamName};
use natsdr::nats::connect_regions;
use natsdr::topology::{Desired, ExpectedStream, StreamKind, apply, expected};

/// The parts of the bench, so a person can run a small one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Section {
    /// Region losses: RTO per timing and network profile.
    Rto,
    /// Isolations of the primary region that must not fail over, per network profile.
    FalseFailover,
    /// Write outages natsdr causes: watchdogs starting together, each restarted, isolations.
    Availability,
    /// Planned switchovers under load.
    Switchover,
    /// One watchdog at N mirrored streams: footprint, probe round and promotion, next to a
    /// plain client's floor for the same reads and promotions.
    #[value(alias = "footprint")]
    Scale,
    /// Region losses on a lab carrying many generated mirrored streams.
    ScaleRto,
    /// `check-config` on generated configs of N streams.
    Config,
    /// Durable consumers across moves: redeliveries against their bound, the standby's CPU
    /// tracking 1,000 of them, the RTO recreating 100 adds.
    Consumers,
    /// Backup and restore throughput to an S3-compatible server, and the backup's peak RSS.
    Backup,
    /// The API under abuse: idle connections, slowloris heads and oversized unauthenticated
    /// bodies, while status is timed and the watchdog's memory sampled.
    Api,
}

impl Section {
    /// Every section, in the order the bench runs them.
    pub const ALL: [Self; 10] = [
        Self::Rto,
        Self::FalseFailover,
        Self::Availability,
        Self::Switchover,
        Self::Scale,
        Self::ScaleRto,
        Self::Config,
        Self::Consumers,
        Self::Backup,
        Self::Api,
    ];
}

/// Runs of `check-config` per size (the median is reported).
const CONFIG_RUNS: usize = 3;

/// The isolations of the availability table: around the default detection window.
pub const AVAILABILITY_ISOLATIONS_MS: [u64; 4] = [1_000, 2_000, 3_000, 3_500];

/// How much to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Which parts to run.
    pub sections: Vec<Section>,
    /// Region-loss runs per timing and network profile (10 by default).
    pub runs: usize,
    /// Which timing profiles to run ([`PROFILE_NAMES`]); unknown names are ignored.
    pub profiles: Vec<String>,
    /// The network profiles of the RTO and false-failover tables.
    pub wans: Vec<WanProfile>,
    /// How long each false-failover case isolates the primary region.
    pub isolations: Vec<Duration>,
    /// The network of the availability table, the switchovers and the footprint.
    pub wan: WanProfile,
    /// Planned switchover runs.
    pub switchovers: usize,
    /// Region-loss runs with 100 idle durables added (and, when the RTO and switchover parts
    /// did not run, region losses and switchovers of the consumer part's own).
    pub consumer_runs: usize,
    /// Mirrored-stream counts to measure the scale part at (100, 1,000 and 5,000 by default).
    pub sizes: Vec<usize>,
    /// Generated mirrored-stream counts of the region losses at scale (on the default timing
    /// and `opts.wan`).
    pub rto_streams: Vec<usize>,
    /// Region-loss runs per size of `rto_streams`.
    pub scale_rto_runs: usize,
    /// Stream counts of the generated configs `check-config` is timed on.
    pub config_sizes: Vec<usize>,
    /// How long to sample a watchdog at steady state.
    pub window: Duration,
    /// MiB to fill the backup part's stream with (1,024 for the report).
    pub backup_mib: u64,
    /// The natsdr binary the watchdogs run (and netd): normally this process's own.
    pub natsdr_exe: PathBuf,
}

/// The timing profiles the bench knows, in the order it runs them.
pub const PROFILE_NAMES: [&str; 2] = ["default", "aggressive"];

/// A named set of `[timing]` settings, passed to the watchdogs as `NATSDR_TIMING__*`.
struct Profile {
    name: &'static str,
    timing: [(&'static str, &'static str); 6],
}

/// The defaults (500 ms rounds, 4.5 s failover delay), set explicitly so the report
/// states exactly what ran; and a faster profile that still satisfies every timing rule.
const PROFILES: [Profile; 2] = [
    Profile {
        name: "default",
        timing: [
            ("probe_interval", "500ms"),
            ("probe_timeout", "400ms"),
            ("failover_delay", "4500ms"),
            ("self_fence_lease", "2500ms"),
            ("mirror_silence", "3s"),
            ("peer_stale_after", "3s"),
        ],
    },
    Profile {
        name: "aggressive",
        timing: [
            ("probe_interval", "250ms"),
            ("probe_timeout", "200ms"),
            ("failover_delay", "2500ms"),
            ("self_fence_lease", "1500ms"),
            ("mirror_silence", "1500ms"),
            ("peer_stale_after", "1s"),
        ],
    },
];

impl Profile {
    /// The detection window: the profile's `failover_delay`, in ms (read from the settings, so
    /// the two cannot disagree).
    fn window_ms(&self) -> u64 {
        self.timing
            .iter()
            .find(|(k, _)| *k == "failover_delay")
            .and_then(|(_, v)| humantime::parse_duration(v).ok())
            .and_then(|d| u64::try_from(d.as_millis()).ok())
            .expect("every profile sets a valid failover_delay")
    }

    fn env(&self) -> Vec<(String, String)> {
        self.timing
            .iter()
            .map(|(k, v)| {
                (
                    format!("NATSDR_TIMING__{}", k.to_uppercase()),
                    (*v).to_owned(),
                )
            })
            .collect()
    }

    fn settings(&self) -> BTreeMap<String, String> {
        self.timing
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }
}

/// Runs the whole bench and returns its report (targets checked). Progress goes to stderr.
/// A run that fails is recorded as a failure in the report, never retried or dropped silently.
pub async fn run(opts: &BenchOptions) -> Result<BenchReport, BenchError> {
    let server = find_nats_server().map_err(BenchError::Lab)?;
    let mut report = BenchReport {
        machine: machine(),
        command: std::env::args()
            .enumerate()
            .map(|(i, a)| if i == 0 { "natsdr-lab".to_owned() } else { a })
            .collect::<Vec<_>>()
            .join(" "),
        nats_version: nats_version(&server).map_err(BenchError::Demo)?,
        ..BenchReport::default()
    };
    let wanted = |s: Section| opts.sections.contains(&s);
    if wanted(Section::Rto) {
        for p in PROFILES
            .iter()
            .filter(|p| opts.profiles.iter().any(|n| n == p.name))
        {
            for &wan in &opts.wans {
                let mut runs = Vec::new();
                for i in 1..=opts.runs {
                    eprintln!(
                        "natsdr-lab bench: region loss, {} timing, {wan} network, run {i}/{}",
                        p.name, opts.runs
                    );
                    runs.push(demo(opts, Scenario::RegionLoss, p.env(), wan, 0).await);
                }
                report.rto.push(RtoProfile::from_runs(
                    p.name,
                    wan,
                    p.settings(),
                    p.window_ms(),
                    runs,
                ));
            }
        }
    }
    let mut cases = 0;
    if wanted(Section::FalseFailover) {
        for &wan in &opts.wans {
            for &hold in &opts.isolations {
                cases += 1;
                report
                    .false_failover
                    .push(case(opts, wan, Fault::IsolateUs(hold), cases).await);
            }
        }
    }
    if wanted(Section::Availability) {
        let mut faults = vec![Fault::StartTogether];
        faults.extend(Site::ALL.map(Fault::Restart));
        for ms in AVAILABILITY_ISOLATIONS_MS {
            faults.push(Fault::IsolateUs(Duration::from_millis(ms)));
        }
        for fault in faults {
            // An isolation the false-failover table already ran on this network is not re-run.
            let done = report
                .false_failover
                .iter()
                .find(|c| c.wan == opts.wan && c.case == fault.describe() && c.error.is_none());
            let c = match done {
                Some(c) => c.clone(),
                None => {
                    cases += 1;
                    case(opts, opts.wan, fault, cases).await
                }
            };
            report.availability.push(c);
        }
    }
    if wanted(Section::Switchover) {
        let mut runs = Vec::new();
        for i in 1..=opts.switchovers {
            eprintln!(
                "natsdr-lab bench: planned switchover, {} network, run {i}/{}",
                opts.wan, opts.switchovers
            );
            runs.push(demo(opts, Scenario::Switchover, PROFILES[0].env(), opts.wan, 0).await);
        }
        report.switchover = Switchover::from_runs(runs);
    }
    if wanted(Section::Scale) {
        for &n in &opts.sizes {
            eprintln!(
                "natsdr-lab bench: scale at {n} mirrored streams, {} network",
                opts.wan
            );
            let f = footprint(opts, n).await;
            eprintln!(
                "  rss_kib {:?}, cpu_percent {:?}, probe_round_ms {:?}, promote_ms {:?} \
                 (baseline sequential {:?}, concurrent {:?}), promoted {:?}{}",
                f.rss_kib,
                f.cpu_percent,
                f.probe_round_ms,
                f.promote_ms,
                f.baseline_promote_sequential_ms,
                f.baseline_promote_concurrent_ms,
                f.promoted,
                f.error
                    .as_ref()
                    .map_or_else(String::new, |e| format!(" (failed: {e})"))
            );
            report.footprint.push(f);
        }
    }
    if wanted(Section::ScaleRto) {
        let p = &PROFILES[0];
        for &n in &opts.rto_streams {
            let mut runs = Vec::new();
            for i in 1..=opts.scale_rto_runs {
                eprintln!(
                    "natsdr-lab bench: region loss with {n} mirrored streams, {} timing, {} network, run {i}/{}",
                    p.name, opts.wan, opts.scale_rto_runs
                );
                runs.push(demo_with_streams(opts, p.env(), opts.wan, n).await);
            }
            report.scale_rto.push(ScaleRto {
                streams: n,
                rto: RtoProfile::from_runs(p.name, opts.wan, p.settings(), p.window_ms(), runs),
            });
        }
    }
    if wanted(Section::Config) {
        let dir = std::env::temp_dir();
        for &n in &opts.config_sizes {
            eprintln!("natsdr-lab bench: check-config on {n} streams");
            report.config_check.push(super::config_scale::measure(
                &opts.natsdr_exe,
                &dir,
                n,
                CONFIG_RUNS,
            ));
        }
    }
    if wanted(Section::Consumers) {
        report.consumers = consumers_part(opts, &report).await;
    }
    if wanted(Section::Backup) {
        eprintln!(
            "natsdr-lab bench: backup and restore of {} MiB, {} network",
            opts.backup_mib, opts.wan
        );
        let b = super::backup::backup(&opts.natsdr_exe, opts.wan, opts.backup_mib).await;
        if let Some(e) = &b.error {
            eprintln!("  failed: {e}");
        }
        report.backup = Some(b);
    }
    if wanted(Section::Api) {
        eprintln!(
            "natsdr-lab bench: the API under {} idle connections and {} MiB unauthenticated bodies",
            super::api_load::IDLE_CONNECTIONS,
            super::api_load::BODY_BYTES / (1024 * 1024)
        );
        let a = super::api_load::api_load(&opts.natsdr_exe, opts.wan).await;
        if let Some(e) = &a.error {
            eprintln!("  failed: {e}");
        }
        report.api = Some(a);
    }
    report.generated_at = OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default();
    report.check_targets();
    Ok(report)
}

/// Writes the JSON document and BENCHMARKS.md.
pub fn write(report: &BenchReport, json: &Path, markdown: &Path) -> Result<(), BenchError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| BenchError::Io { path, source }
    };
    if let Some(dir) = json.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let text = serde_json::to_string_pretty(report).expect("a bench report serialises");
    std::fs::write(json, text + "\n").map_err(io(json))?;
    std::fs::write(markdown, report.markdown()).map_err(io(markdown))
}

/// One outage case, with its progress on stderr.
async fn case(opts: &BenchOptions, wan: WanProfile, fault: Fault, n: usize) -> OutageCase {
    eprintln!("natsdr-lab bench: {}, {wan} network", fault.describe());
    let c = run_case(&opts.natsdr_exe, wan, fault, n).await;
    match &c.error {
        None => eprintln!(
            "  failed_over {}, write_outage_ms {:?}, fences {}, self_fenced {}",
            c.failed_over, c.write_outage_ms, c.fences, c.self_fenced
        ),
        Some(e) => eprintln!("  failed: {e}"),
    }
    c
}

/// Idle durables the consumer part adds to measure what recreating them costs the RTO.
const RECREATED: usize = 100;

/// The consumer part, reusing the RTO part's default-profile region losses on `opts.wan` and
/// the switchover part's runs when they ran.
async fn consumers_part(opts: &BenchOptions, report: &BenchReport) -> ConsumersBench {
    let mut c = ConsumersBench {
        recreated: RECREATED,
        ..ConsumersBench::default()
    };
    let mut runs = |what: &str, rs: Vec<Result<Report, String>>| {
        let mut ok = Vec::new();
        for (i, r) in rs.into_iter().enumerate() {
            match r {
                Ok(r) => ok.push(r),
                Err(e) => c.failures.push(format!("{what} run {}: {e}", i + 1)),
            }
        }
        ok
    };
    let mut losses: Vec<Report> = report
        .rto
        .iter()
        .filter(|p| p.profile == PROFILES[0].name && p.wan == opts.wan)
        .flat_map(|p| p.runs.iter().cloned())
        .collect();
    if losses.is_empty() {
        let rs = consumer_demos(opts, Scenario::RegionLoss, "region loss", 0).await;
        losses = runs("region loss", rs);
    }
    let mut switchovers = report.switchover.runs.clone();
    if switchovers.is_empty() {
        let rs = consumer_demos(opts, Scenario::Switchover, "switchover", 0).await;
        switchovers = runs("switchover", rs);
    }
    let what = format!("region loss with {RECREATED} more durables");
    let with = consumer_demos(opts, Scenario::RegionLoss, &what, RECREATED).await;
    let with = runs("region loss with more durables", with);
    let rtos = |rs: &[Report]| {
        Summary::of(
            &rs.iter()
                .filter(|r| r.failover)
                .filter_map(|r| r.rto_ms)
                .collect::<Vec<_>>(),
        )
    };
    c.rto_without = rtos(&losses);
    c.rto_with = rtos(&with);
    c.region_loss = losses.iter().map(|r| r.consumers).collect();
    c.switchover = switchovers.iter().map(|r| r.consumers).collect();
    eprintln!(
        "natsdr-lab bench: consumers, the standby's CPU at {} durables",
        super::consumers::CPU_STREAMS * super::consumers::CPU_CONSUMERS_PER_STREAM
    );
    let cpu = super::consumers::cpu(&opts.natsdr_exe, opts.wan).await;
    eprintln!(
        "  {:.2}% with none, {:.2}% tracking{}",
        cpu.baseline_percent,
        cpu.tracking_percent,
        cpu.error
            .as_ref()
            .map_or_else(String::new, |e| format!(" (failed: {e})"))
    );
    c.cpu = Some(cpu);
    c
}

/// The consumer part's `opts.consumer_runs` demo runs of `scenario` (default timing, with
/// `extra_consumers` idle durables added), with their progress on stderr as `what`.
async fn consumer_demos(
    opts: &BenchOptions,
    scenario: Scenario,
    what: &str,
    extra_consumers: usize,
) -> Vec<Result<Report, String>> {
    let mut rs = Vec::new();
    for i in 1..=opts.consumer_runs {
        eprintln!(
            "natsdr-lab bench: consumers, {what}, run {i}/{}",
            opts.consumer_runs
        );
        let env = PROFILES[0].env();
        rs.push(demo(opts, scenario, env, opts.wan, extra_consumers).await);
    }
    rs
}

async fn demo(
    opts: &BenchOptions,
    scenario: Scenario,
    env: Vec<(String, String)>,
    wan: WanProfile,
    extra_consumers: usize,
) -> Result<Report, String> {
    demo_run(opts, scenario, env, wan, extra_consumers, 0).await
}

/// A region loss on a lab carrying `streams` generated mirrored streams.
async fn demo_with_streams(
    opts: &BenchOptions,
    env: Vec<(String, String)>,
    wan: WanProfile,
    streams: usize,
) -> Result<Report, String> {
    demo_run(opts, Scenario::RegionLoss, env, wan, 0, streams).await
}

async fn demo_run(
    opts: &BenchOptions,
    scenario: Scenario,
    env: Vec<(String, String)>,
    wan: WanProfile,
    extra_consumers: usize,
    generated_streams: usize,
) -> Result<Report, String> {
    let d = DemoOptions {
        source: None,
        generated_streams,
        scenario,
        dir: None,
        keep: false,
        natsdr_exe: opts.natsdr_exe.clone(),
        env,
        dns: crate::demo::DemoDns::Rfc2136,
        wan,
        extra_consumers,
    };
    let r = crate::demo::run(&d)
        .await
        .map_err(|e| natsdr::error_chain(&e));
    match &r {
        Ok(r) => eprintln!(
            "  rto_ms {:?}, max_ack_gap_ms {}, acked_lost {}, lag_at_kill {:?}, consumers {:?}, ok {}{}",
            r.rto_ms,
            r.max_ack_gap_ms,
            r.acked_lost,
            r.lag_at_kill,
            r.consumers,
            r.ok,
            if r.unmet.is_empty() {
                String::new()
            } else {
                format!(" ({})", r.unmet.join("; "))
            }
        ),
        Err(e) => eprintln!("  failed: {e}"),
    }
    r
}

fn machine() -> Machine {
    Machine {
        cpus: std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|k| format!("Linux {}", k.trim()))
            .unwrap_or_default(),
        natsdr_version: env!("CARGO_PKG_VERSION").to_owned(),
        build: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
        .to_owned(),
    }
}

/// Measures one watchdog with `n` generated mirrored streams; what fails is recorded in
/// `error`, with whatever was measured before it.
async fn footprint(opts: &BenchOptions, n: usize) -> Footprint {
    let mut f = Footprint {
        streams: n,
        window_s: opts.window.as_secs(),
        ..Footprint::default()
    };
    let dir = std::env::temp_dir().join(format!("natsdr-bench-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    match LabOptions::new(&dir) {
        Ok(mut lab_opts) => {
            lab_opts.natsdr_exe = opts.natsdr_exe.clone();
            lab_opts.owner_pid = Some(std::process::id());
            lab_opts.wan = opts.wan;
            match Lab::up(lab_opts).await {
                Ok(mut lab) => {
                    if let Err(e) = measure(opts, &mut lab, &mut f).await {
                        f.error = Some(e);
                    }
                    let _ = lab.shutdown().await;
                }
                Err(e) => f.error = Some(natsdr::error_chain(&e)),
            }
        }
        Err(e) => f.error = Some(natsdr::error_chain(&e)),
    }
    let _ = std::fs::remove_dir_all(&dir);
    f
}

/// Runs one part of the bench on a lab of its own, in a fresh directory named after `part` (the
/// lab in `DIR/lab`, `DIR` handed to `measure` for anything else it writes), shut down and
/// removed afterwards. What failed, in words.
pub(super) async fn on_own_lab(
    part: &str,
    natsdr_exe: &Path,
    wan: WanProfile,
    measure: impl AsyncFnOnce(&mut Lab, &Path) -> Result<(), String>,
) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("natsdr-bench-{part}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let outcome = async {
        let mut opts = LabOptions::new(dir.join("lab")).map_err(|e| natsdr::error_chain(&e))?;
        opts.natsdr_exe = natsdr_exe.to_owned();
        opts.owner_pid = Some(std::process::id());
        opts.wan = wan;
        let mut lab = Lab::up(opts).await.map_err(|e| natsdr::error_chain(&e))?;
        let r = measure(&mut lab, &dir).await;
        let _ = lab.shutdown().await;
        r
    }
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

/// A lab carrying `streams` generated mirrored streams: the topology applied, the three
/// watchdogs started, the EU one healthy with every mirror caught up. Returns the config, the
/// regions' clients, the watchdogs, and how long the apply took.
pub(super) async fn carried_lab(
    natsdr_exe: &Path,
    lab: &mut Lab,
    streams: usize,
) -> Result<(Arc<Config>, natsdr::nats::Regions, Watchdogs, Duration), String> {
    let chain = |e: &dyn std::error::Error| natsdr::error_chain(e);
    lab.carry_streams(streams).map_err(|e| chain(&e))?;
    let m = lab.manifest().clone();
    let cfg = Arc::new(Config::load(&m.natsdr_config).map_err(|e| chain(&e))?);
    let regions = connect_regions(&cfg, "natsdr-bench", Duration::from_secs(5))
        .await
        .map_err(|e| chain(&e))?;
    let apis = regions
        .iter()
        .map(|(r, c)| (r.clone(), c.js.clone()))
        .collect();
    let t0 = tokio::time::Instant::now();
    let changes = apply(
        &expected(&Desired::from(&*cfg)).map_err(|e| chain(&e))?,
        &apis,
    )
    .await;
    let applied = t0.elapsed();
    if let Some(bad) = changes.iter().find(|c| !c.is_change()) {
        return Err(format!("apply: {bad}"));
    }
    let dogs = Watchdogs::start(&m, natsdr_exe, &[], Duration::from_secs(60))
        .await
        .map_err(|e| chain(&e))?;
    let mirrors = cfg.mirrors.len();
    dogs.wait_for(Site::Eu, Duration::from_secs(180), |s| {
        s.state == "healthy"
            && s.mirrors.len() >= mirrors
            && s.mirrors.iter().all(|x| x.lag_messages == Some(0))
    })
    .await
    .map_err(|s| {
        format!(
            "the EU watchdog never became healthy with every mirror caught up (state {})",
            s.state
        )
    })?;
    Ok((cfg, regions, dogs, applied))
}

async fn measure(opts: &BenchOptions, lab: &mut Lab, f: &mut Footprint) -> Result<(), String> {
    let chain = |e: &dyn std::error::Error| natsdr::error_chain(e);
    let (cfg, regions, dogs, applied) = carried_lab(&opts.natsdr_exe, lab, f.streams).await?;
    f.apply_ms = Some(millis(applied));
    let pid = dogs.pid(Site::Eu).ok_or("the EU watchdog is not running")?;
    // Steady state: let start-up allocations and the first rounds settle.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let before = dogs.metrics(Site::Eu).await.map_err(|e| chain(&e))?;
    let ticks0 = cpu_ticks(pid)?;
    let t0 = tokio::time::Instant::now();
    let mut rss = Vec::new();
    while t0.elapsed() < opts.window {
        rss.push(rss_kib(pid)?);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let ticks1 = cpu_ticks(pid)?;
    let elapsed = t0.elapsed();
    let after = dogs.metrics(Site::Eu).await.map_err(|e| chain(&e))?;
    f.cpu_percent = Some(cpu_percent(
        ticks1.saturating_sub(ticks0),
        clock_ticks(),
        elapsed,
    ));
    rss.sort_unstable();
    f.rss_kib = rss.get(rss.len().saturating_sub(1) / 2).copied();
    f.rss_max_kib = rss.last().copied();
    for r in &cfg.regions {
        if let Some(ms) = mean_round_ms(&before, &after, r.name.as_str()) {
            f.probe_round_ms.insert(r.name.to_string(), ms);
        }
    }
    // The executor alone: no watchdog may race it (or count the promotion as a failover).
    drop(dogs);

    let (us, eu) = (cfg.regions[0].name.clone(), cfg.regions[1].name.clone());
    let set = generated_set(&cfg, &eu)?;
    let (us_js, eu_js) = match (regions.get(&us), regions.get(&eu)) {
        (Some(u), Some(e)) => (u.js.clone(), e.js.clone()),
        _ => return Err("the lab's regions are not both connected".to_owned()),
    };
    let client = eu_js.client().clone();
    // The floor of the probe's reads, on the mirrors the watchdog just probed.
    f.baseline_read_ms = Some(millis(scale::read_infos(&client, &set).await?));
    f.baseline_list_ms = Some(millis(scale::list(&client).await?.0));

    let names: Vec<StreamName> = set.iter().map(|g| g.mirror.name.clone()).collect();
    let exec = NatsExecutor::new(Arc::clone(&cfg), regions);
    let t0 = tokio::time::Instant::now();
    let result = exec.promote(&eu, Epoch(2), &names).await;
    let took = millis(t0.elapsed());
    if result != natsdr::core::StepResult::Done {
        return Err(format!("promoting {} mirrors: {result:?}", names.len()));
    }
    f.promote_ms = Some(took);
    f.promoted.natsdr = Some(scale::promoted(&eu_js, &set).await?);

    for pace in [scale::Pace::Sequential, scale::Pace::Concurrent] {
        scale::rebuild(&eu_js, &set).await?;
        scale::caught_up(&eu_js, &us_js, &set).await?;
        let timed = scale::promote(&client, &set, pace).await?;
        let took = Some(millis(timed.total));
        let promoted = Some(scale::promoted(&eu_js, &set).await?);
        match pace {
            scale::Pace::Sequential => {
                f.baseline_promote_sequential_ms = took;
                f.baseline_sequential_infos_ms = Some(millis(timed.infos));
                f.baseline_sequential_updates_ms = Some(millis(timed.updates));
                f.promoted.baseline_sequential = promoted;
            }
            scale::Pace::Concurrent => {
                f.baseline_promote_concurrent_ms = took;
                f.promoted.baseline_concurrent = promoted;
            }
        }
    }
    Ok(())
}

/// The generated mirrors `cfg` puts in `region`, with their sources' subjects.
fn generated_set(cfg: &Config, region: &Region) -> Result<Vec<scale::Generated>, String> {
    let all = expected(&Desired::from(cfg)).map_err(|e| natsdr::error_chain(&e))?;
    let by_name: std::collections::HashMap<(&Region, &str), &ExpectedStream> = all
        .iter()
        .map(|e| ((&e.region, e.name.as_str()), e))
        .collect();
    all.iter()
        .filter(|e| &e.region == region && e.name.as_str().starts_with(GENERATED_PREFIX))
        .filter_map(|e| match &e.kind {
            StreamKind::Mirror {
                source,
                source_region,
            } => Some((e, source_region, source)),
            StreamKind::Stream | StreamKind::Kv { .. } | StreamKind::KvMirror { .. } => None,
        })
        .map(|(e, source_region, source)| {
            let subjects = by_name
                .get(&(source_region, source.as_str()))
                .ok_or_else(|| format!("{}: its source {source} is not configured", e.name))?
                .config
                .subjects();
            Ok(scale::Generated {
                mirror: e.clone(),
                subjects,
            })
        })
        .collect()
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The mean probe round of `region` between two scrapes of `/metrics`, ms.
fn mean_round_ms(before: &str, after: &str, region: &str) -> Option<f64> {
    let l = [("region", region)];
    let sum = |t| sample(t, "natsdr_probe_duration_seconds_sum", &l);
    let count = |t| sample(t, "natsdr_probe_duration_seconds_count", &l);
    let rounds = count(after)? - count(before)?;
    let spent = sum(after)? - sum(before)?;
    (rounds > 0.0).then(|| spent / rounds * 1000.0)
}

/// CPU time (user + system) of `ticks` clock ticks over `wall`, as a percent of one core.
pub fn cpu_percent(ticks: u64, ticks_per_second: u64, wall: Duration) -> f64 {
    // NB: tick counts over a window are far below 2^52: the casts are exact.
    let cpu = ticks as f64 / ticks_per_second.max(1) as f64;
    cpu / wall.as_secs_f64().max(f64::EPSILON) * 100.0
}

/// utime + stime of `pid` from `/proc/<pid>/stat`, in clock ticks.
pub(super) fn cpu_ticks(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    parse_stat_ticks(&text).ok_or_else(|| format!("{path}: no utime/stime"))
}

/// utime + stime from the text of `/proc/<pid>/stat`. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted from its last `)`: utime and stime are
/// fields 14 and 15.
pub fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// VmRSS of `pid` from `/proc/<pid>/status`, KiB.
pub(super) fn rss_kib(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    parse_vm_rss_kib(&text).ok_or_else(|| format!("{path}: no VmRSS"))
}

/// The `VmRSS:` line of `/proc/<pid>/status`, KiB.
pub fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    status_kib(status, "VmRSS:")
}

/// The `VmHWM:` line of `/proc/<pid>/status` (peak resident memory so far), KiB.
pub fn parse_vm_hwm_kib(status: &str) -> Option<u64> {
    status_kib(status, "VmHWM:")
}

fn status_kib(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Clock ticks per second for `/proc` times (`getconf CLK_TCK`; 100, USER_HZ, on every Linux
/// this runs on if getconf is missing).
pub(super) fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::PROFILES;
    use natsdr::config::raw::RawTiming;
    use natsdr::config::units::duration;

    #[test]
    fn the_default_profile_is_what_a_config_without_timing_gets() {
        let d = RawTiming::default();
        let default = &PROFILES[0];
        assert_eq!(default.name, "default");
        for (key, value) in default.timing {
            let q = match key {
                "probe_interval" => &d.probe_interval,
                "probe_timeout" => &d.probe_timeout,
                "failover_delay" => &d.failover_delay,
                "self_fence_lease" => &d.self_fence_lease,
                "mirror_silence" => &d.mirror_silence,
                "peer_stale_after" => &d.peer_stale_after,
                other => panic!("unexpected setting {other}"),
            };
            assert_eq!(
                humantime::parse_duration(value).ok(),
                duration(q).ok(),
                "{key}"
            );
        }
    }

    #[test]
    fn each_profiles_detection_window_is_its_failover_delay() {
        assert_eq!(PROFILES[0].window_ms(), 4_500);
        assert_eq!(PROFILES[1].window_ms(), 2_500);
    }
}
