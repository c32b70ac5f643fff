//! What a bench run found: the JSON document (`bench/results.json`) and BENCHMARKS.md, both
//! built from the same values by pure functions.
use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::stats::Summary;
use crate::demo::Report;
use crate::lab::WanProfile;

/// The targets, checked against what was measured.
pub mod target {
    /// RTO median on the default settings, ms.
    pub const RTO_MEDIAN_MS: u64 = 5_000;
    /// RTO p95 on the default settings, ms.
    pub const RTO_P95_MS: u64 = 10_000;
    /// Resident memory of one watchdog at 100 streams, KiB (30 MiB).
    pub const RSS_KIB_AT_100: u64 = 30 * 1024;
    /// CPU share of one core of one watchdog at 100 streams, percent.
    pub const CPU_PERCENT_AT_100: f64 = 2.0;
    /// One probe round over 1,000 streams, ms.
    pub const PROBE_ROUND_MS_AT_1000: f64 = 1_000.0;
    /// Region-loss RTO median with 1,000 generated mirrored streams, ms.
    pub const RTO_MEDIAN_MS_AT_1000: u64 = 8_000;
    /// How far the RTO median with 100 generated streams may exceed the lab's own (3-stream)
    /// median on the same timing and network, as a ratio.
    pub const RTO_RATIO_AT_100: f64 = 1.1;
    /// CPU share of one core of one watchdog at 1,000 streams, percent.
    pub const CPU_PERCENT_AT_1000: f64 = 5.0;
    /// Resident memory of one watchdog at 1,000 streams, KiB (40 MiB).
    pub const RSS_KIB_AT_1000: u64 = 40 * 1024;
    /// How far the marginal CPU and memory per stream at 5,000 streams may exceed the
    /// per-stream figure at 100, as a ratio.
    pub const PER_STREAM_RATIO_AT_5000: f64 = 1.5;
    /// How far natsdr's promotion of every mirror may exceed the plain client's best loop, as a
    /// ratio (at 1,000 streams).
    pub const PROMOTE_VS_FLOOR: f64 = 1.5;
    /// `check-config` on 100,000 streams, ms.
    pub const CHECK_CONFIG_MS_AT_100000: u64 = 5_000;
}

/// The whole bench: where it ran, with what, and every figure.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BenchReport {
    /// When the bench finished (RFC 3339, UTC).
    pub generated_at: String,
    /// The command line that produced it (run counts and sizes differ from `make bench`'s when
    /// someone shortens a run: the report says so itself).
    pub command: String,
    /// The machine and build every figure comes from.
    pub machine: Machine,
    /// `nats-server --version` of every lab server in this run.
    pub nats_version: String,
    /// Region-loss failovers, one entry per timing profile and network profile.
    pub rto: Vec<RtoProfile>,
    /// Isolations of the primary region that must not fail over, per network profile.
    pub false_failover: Vec<OutageCase>,
    /// Write outages natsdr itself causes: watchdogs starting together, each one restarted,
    /// isolations around the detection window.
    pub availability: Vec<OutageCase>,
    /// Planned switchovers under load.
    pub switchover: Switchover,
    /// One watchdog at steady state, per number of mirrored streams, with the plain client's
    /// floor for the same reads and promotions.
    pub footprint: Vec<Footprint>,
    /// Region losses on labs carrying many generated mirrored streams.
    #[serde(default)]
    pub scale_rto: Vec<ScaleRto>,
    /// `check-config` on generated configs, per number of streams.
    pub config_check: Vec<super::ConfigCheck>,
    /// Durable consumers carried across moves: redeliveries, tracking CPU, recreation's RTO.
    pub consumers: ConsumersBench,
    /// Backup and restore of one stream through a real S3-compatible server (when run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupFigures>,
    /// The API under abuse (idle connections, oversized unauthenticated bodies).
    pub api: Option<super::api_load::ApiLoad>,
    /// The targets, met or not.
    pub targets: Vec<TargetCheck>,
}

/// The machine and build the figures come from.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Machine {
    /// Logical CPUs this process may use.
    pub cpus: usize,
    /// `uname -sr`-like kernel string from /proc.
    pub kernel: String,
    /// natsdr's version.
    pub natsdr_version: String,
    /// `release` or `debug`: figures from a debug build are not representative.
    pub build: String,
}

/// One timing profile's region-loss runs on one network profile.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RtoProfile {
    /// `default` or `aggressive`: the timing profile.
    pub profile: String,
    /// The network profile between the lab's places.
    pub wan: WanProfile,
    /// Per run that reported: acked messages lost against the mirror's lag at the kill (the
    /// most an unplanned failover may lose).
    pub loss_at_kill: Vec<LossAtKill>,
    /// Ids acked by both regions, summed over the runs (must be 0).
    pub dual_writes: u64,
    /// The `[timing]` settings the watchdogs ran with.
    pub settings: BTreeMap<String, String>,
    /// The configured detection window (`failover_delay`), ms: what no failover can beat.
    pub detection_window_ms: u64,
    /// Fault to the first acked publish in the new primary, over the runs that failed over.
    pub total: Option<Summary>,
    /// RTO minus the detection window: what natsdr and the client add on top of the wait.
    pub overhead: Option<Summary>,
    /// When each step was first seen, ms after the fault (`detect`, `confirm`, `claim`,
    /// `failed_over`, `dns_swapped`, `first_ack`).
    pub offsets: BTreeMap<String, Summary>,
    /// How long each step the new primary's watchdog performed took (`claim`, `fence`,
    /// `promote`, `dns`), as it timed them.
    pub steps: BTreeMap<String, Summary>,
    /// Runs that did not produce a failover report (lab or watchdog errors, no failover).
    pub failures: Vec<String>,
    /// Every run's demo report, as `natsdr-lab demo --json` prints it.
    pub runs: Vec<Report>,
}

/// One region-loss run's loss against what it was allowed to lose.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LossAtKill {
    /// Acked messages the new primary does not hold.
    pub acked_lost: u64,
    /// The mirror's lag in messages just before the kill, as the standby's watchdog saw it.
    pub lag_at_kill: Option<u64>,
}

/// One fault held on a lab under acked load through DNS, and what the client and natsdr did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OutageCase {
    /// What was done, in words (`US isolated for 2 s`, `us watchdog restarted`).
    pub case: String,
    /// The network profile between the lab's places.
    pub wan: WanProfile,
    /// How long the fault was held, ms (none for a start or a restart).
    pub hold_ms: Option<u64>,
    /// True when the primary moved (a new epoch in the arbiter, or EU began failing over).
    pub failed_over: bool,
    /// The longest stretch without an ack at the client from the fault to the end of the
    /// observation, ms: the write outage it saw.
    pub write_outage_ms: Option<u64>,
    /// Fence actions natsdr performed (self-fences and fences of another region), from the
    /// watchdogs' logs.
    pub fences: u64,
    /// Transitions of any watchdog into `self_fenced`.
    pub self_fenced: u64,
    /// How far the standby's count of the primary's outage got, ms (a failover starts at
    /// `failover_delay`); none if it never suspected the primary or failed over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closest_ms: Option<u64>,
    /// How long the case was observed after the fault ended, ms.
    pub observed_ms: u64,
    /// What went wrong, if the case could not be run.
    pub error: Option<String>,
    /// The standby watchdog's state and reason at the end of the observation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standby_state: Option<String>,
    /// See `standby_state`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standby_reason: Option<String>,
    /// Ids acked by both regions, or by US after EU's first ack (0 is the only right answer).
    #[serde(default)]
    pub dual_writes: u64,
}

/// Planned switchovers under load.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Switchover {
    /// The longest stretch without an ack after the switchover began (write unavailability), ms.
    pub unavailability: Option<Summary>,
    /// Acked messages missing from the new primary, summed over the runs (must be 0).
    pub acked_lost: u64,
    /// Runs that did not produce a switchover report.
    pub failures: Vec<String>,
    /// Every run's demo report.
    pub runs: Vec<Report>,
}

/// One watchdog (the standby's, which owns the mirrors) at steady state with `streams` mirrored
/// streams.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Footprint {
    /// Mirrored streams (generated ones, on top of the lab's three).
    pub streams: usize,
    /// How long the footprint was sampled, s.
    pub window_s: u64,
    /// Resident memory (VmRSS), median of the samples, KiB.
    pub rss_kib: Option<u64>,
    /// Resident memory, largest sample, KiB.
    pub rss_max_kib: Option<u64>,
    /// CPU time over the window as a share of one core, percent.
    pub cpu_percent: Option<f64>,
    /// Mean probe round duration per region over the window, ms (from
    /// `natsdr_probe_duration_seconds`).
    pub probe_round_ms: BTreeMap<String, f64>,
    /// Time for `apply` to create the streams and mirrors, ms (context, not a target).
    pub apply_ms: Option<u64>,
    /// Time for the executor to promote every generated mirror, ms.
    pub promote_ms: Option<u64>,
    /// The floor of a probe round's reads: a plain client's STREAM.INFO of every generated
    /// mirror, all in flight at once, ms.
    #[serde(default)]
    pub baseline_read_ms: Option<u64>,
    /// A plain client's paged STREAM.LIST of the standby region (the request natsdr's probe
    /// sends), ms.
    #[serde(default)]
    pub baseline_list_ms: Option<u64>,
    /// A plain client loop promoting as many fresh mirrors one after the other (info, then
    /// update without `mirror` and with the source's subjects), ms.
    #[serde(default)]
    pub baseline_promote_sequential_ms: Option<u64>,
    /// The sequential loop's info reads, summed, ms: round trips answered by a stream leader.
    #[serde(default)]
    pub baseline_sequential_infos_ms: Option<u64>,
    /// The sequential loop's updates, summed, ms: each a meta-layer proposal applied by the
    /// stream's leader before the reply.
    #[serde(default)]
    pub baseline_sequential_updates_ms: Option<u64>,
    /// The same loop with every request in flight at once, ms.
    #[serde(default)]
    pub baseline_promote_concurrent_ms: Option<u64>,
    /// Mirrors the server held promoted after each promotion (natsdr, baseline sequential,
    /// baseline concurrent), read back with a listing: each must equal `streams`.
    #[serde(default)]
    pub promoted: Promoted,
    /// What went wrong, if anything did.
    pub error: Option<String>,
}

/// Mirrors found promoted on the server after each promotion of the scale part.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Promoted {
    /// After natsdr's executor.
    pub natsdr: Option<usize>,
    /// After the plain client's sequential loop.
    pub baseline_sequential: Option<usize>,
    /// After the plain client's concurrent loop.
    pub baseline_concurrent: Option<usize>,
}

impl Footprint {
    /// CPU share of a core per stream, percent: the whole watchdog's share over `streams`.
    pub fn cpu_per_stream(&self) -> Option<f64> {
        Some(self.cpu_percent? / count(self.streams)?)
    }

    /// Resident memory per stream, KiB: the whole watchdog's RSS over `streams`.
    pub fn rss_kib_per_stream(&self) -> Option<f64> {
        Some(as_f64(self.rss_kib?) / count(self.streams)?)
    }

    /// What each stream added to CPU (percent of a core) and RSS (KiB) since `smaller`, a
    /// measurement at fewer streams: the marginal cost, free of the watchdog's fixed base.
    pub fn marginal_since(&self, smaller: &Self) -> Option<(f64, f64)> {
        let added = count(self.streams.checked_sub(smaller.streams)?)?;
        let cpu = (self.cpu_percent? - smaller.cpu_percent?) / added;
        let rss = (as_f64(self.rss_kib?) - as_f64(smaller.rss_kib?)) / added;
        Some((cpu, rss))
    }

    /// natsdr's promotion time over the best baseline loop's (sequential or concurrent).
    pub fn promote_vs_floor(&self) -> Option<f64> {
        let floor = match (
            self.baseline_promote_sequential_ms,
            self.baseline_promote_concurrent_ms,
        ) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return None,
        };
        Some(as_f64(self.promote_ms?) / as_f64(floor.max(1)))
    }
}

/// `n` as a divisor: `None` for zero.
fn count(n: usize) -> Option<f64> {
    // NB: stream counts are far below 2^52: the cast is exact.
    (n > 0).then_some(n as f64)
}

// NB: milliseconds and KiB here are far below 2^52: the cast is exact.
fn as_f64(v: u64) -> f64 {
    v as f64
}

/// Region losses on a lab carrying `streams` generated mirrored streams besides its own.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ScaleRto {
    /// Generated mirrored streams on top of the lab's own.
    pub streams: usize,
    /// The runs, as the RTO table summarises them.
    pub rto: RtoProfile,
}

/// One stream backed up to and restored from an S3-compatible server, timed next to the raw
/// JetStream snapshot of the same stream, with the peak memory of the `natsdr` process doing it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BackupFigures {
    /// The S3-compatible server the objects went to (name and version).
    pub store: String,
    /// Messages in the stream.
    pub messages: u64,
    /// The stream's stored bytes (what every MiB/s below is of).
    pub stream_bytes: u64,
    /// Bytes of the snapshot object (s2-compressed tar; the payloads are random, so about
    /// the stream's size).
    pub object_bytes: Option<u64>,
    /// The JetStream snapshot API alone, read into nothing, ms.
    pub snapshot_ms: Option<u64>,
    /// `natsdr backup run` (snapshot, multipart upload, manifest, retention), ms.
    pub backup_ms: Option<u64>,
    /// Peak resident memory (VmHWM) of the `natsdr backup run` process, KiB.
    pub backup_peak_rss_kib: Option<u64>,
    /// `natsdr backup restore --replace` (verify every object, then restore), ms.
    pub restore_ms: Option<u64>,
    /// Peak resident memory (VmHWM) of the `natsdr backup restore` process, KiB.
    pub restore_peak_rss_kib: Option<u64>,
    /// What went wrong, if anything did (figures before it are kept).
    pub error: Option<String>,
}

impl BackupFigures {
    /// MiB of the stream per second over `ms` (none when not measured).
    pub fn mib_per_s(&self, ms: Option<u64>) -> Option<f64> {
        // NB: byte counts and milliseconds here are far below 2^52: the casts are exact.
        ms.map(|ms| self.stream_bytes as f64 / 1_048_576.0 / (ms.max(1) as f64 / 1000.0))
    }
}

/// Durable consumers carried across moves: what the demo's reader was delivered again against
/// its bound, what tracking costs the standby, and what recreating adds to the RTO.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ConsumersBench {
    /// The demo reader's counts, per region-loss run (default settings).
    pub region_loss: Vec<crate::demo::Consumers>,
    /// The demo reader's counts, per planned switchover run.
    pub switchover: Vec<crate::demo::Consumers>,
    /// The standby watchdog's CPU without and with tracked consumers.
    pub cpu: Option<ConsumersCpu>,
    /// Idle durables added on top of the reader's own for the RTO comparison.
    pub recreated: usize,
    /// Region-loss RTO with only the reader's durable, ms.
    pub rto_without: Option<Summary>,
    /// Region-loss RTO with `recreated` more durables to recreate, ms.
    pub rto_with: Option<Summary>,
    /// Runs that did not produce a report.
    pub failures: Vec<String>,
}

impl ConsumersBench {
    /// True when nothing was measured (the part did not run).
    pub fn is_empty(&self) -> bool {
        self.region_loss.is_empty()
            && self.switchover.is_empty()
            && self.cpu.is_none()
            && self.rto_with.is_none()
            && self.failures.is_empty()
    }
}

/// The standby watchdog's CPU while it tracks consumers, against itself with none, in one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ConsumersCpu {
    /// Mirrored streams (generated).
    pub streams: usize,
    /// Durable consumers tracked, over those streams.
    pub consumers: usize,
    /// Length of one CPU window, s.
    pub window_s: u64,
    /// Each window's CPU share with no consumer, percent of a core.
    pub baseline_samples: Vec<f64>,
    /// Their median.
    pub baseline_percent: f64,
    /// Each window's CPU share while tracking `consumers`, percent of a core.
    pub tracking_samples: Vec<f64>,
    /// Their median.
    pub tracking_percent: f64,
    /// What went wrong, if anything did.
    pub error: Option<String>,
}

/// The lower median of `values` (0 when empty), like [`Summary`]'s.
pub fn median_f64(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len().saturating_sub(1) / 2).copied().unwrap_or(0.0)
}

/// One of the targets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetCheck {
    /// What is measured.
    pub what: String,
    /// The target, in words.
    pub target: String,
    /// What was measured, in words (`not measured` when nothing was).
    pub measured: String,
    /// `None`: not measured, so neither met nor missed.
    pub met: Option<bool>,
}

impl RtoProfile {
    /// Summarises a profile's runs: `Err` runs become failures, runs without a failover too.
    pub fn from_runs(
        profile: &str,
        wan: WanProfile,
        settings: BTreeMap<String, String>,
        detection_window_ms: u64,
        runs: Vec<Result<Report, String>>,
    ) -> Self {
        let mut failures = Vec::new();
        let mut ok = Vec::new();
        for (i, r) in runs.into_iter().enumerate() {
            match r {
                Ok(r) if r.failover && r.rto_ms.is_some() => ok.push(r),
                Ok(r) => {
                    failures.push(format!(
                        "run {}: no failover ({})",
                        i + 1,
                        r.unmet.join("; ")
                    ));
                    ok.push(r);
                }
                Err(e) => failures.push(format!("run {}: {e}", i + 1)),
            }
        }
        let failed_over: Vec<&Report> = ok.iter().filter(|r| r.failover).collect();
        let rtos: Vec<u64> = failed_over.iter().filter_map(|r| r.rto_ms).collect();
        let offsets: [(&str, Pick); 6] = [
            ("detect", |r: &Report| r.phases_ms.detect),
            ("confirm", |r: &Report| r.phases_ms.confirm),
            ("claim", |r: &Report| r.phases_ms.claim),
            ("failed_over", |r: &Report| r.phases_ms.failed_over),
            ("dns_swapped", |r: &Report| r.phases_ms.dns_swapped),
            ("first_ack", |r: &Report| r.phases_ms.first_ack),
        ];
        let steps: [(&str, Pick); 4] = [
            ("claim", |r: &Report| r.steps_ms.claim),
            ("fence", |r: &Report| r.steps_ms.fence),
            ("promote", |r: &Report| r.steps_ms.promote),
            ("dns", |r: &Report| r.steps_ms.dns),
        ];
        let summarise = |pick: Pick| {
            Summary::of(
                &failed_over
                    .iter()
                    .filter_map(|r| pick(r))
                    .collect::<Vec<_>>(),
            )
        };
        Self {
            profile: profile.to_owned(),
            wan,
            loss_at_kill: ok
                .iter()
                .map(|r| LossAtKill {
                    acked_lost: r.acked_lost,
                    lag_at_kill: r.lag_at_kill,
                })
                .collect(),
            dual_writes: ok.iter().map(|r| r.dual_writes).sum(),
            settings,
            detection_window_ms,
            total: Summary::of(&rtos),
            overhead: Summary::of(
                &rtos
                    .iter()
                    .map(|r| r.saturating_sub(detection_window_ms))
                    .collect::<Vec<_>>(),
            ),
            offsets: offsets
                .into_iter()
                .filter_map(|(k, pick)| Some((k.to_owned(), summarise(pick)?)))
                .collect(),
            steps: steps
                .into_iter()
                .filter_map(|(k, pick)| Some((k.to_owned(), summarise(pick)?)))
                .collect(),
            failures,
            runs: ok,
        }
    }
}

impl Switchover {
    /// Summarises the switchover runs.
    pub fn from_runs(runs: Vec<Result<Report, String>>) -> Self {
        let mut s = Self::default();
        for (i, r) in runs.into_iter().enumerate() {
            match r {
                Ok(r) => {
                    if !r.failover {
                        s.failures.push(format!(
                            "run {}: did not move ({})",
                            i + 1,
                            r.unmet.join("; ")
                        ));
                    }
                    s.acked_lost += r.acked_lost;
                    s.runs.push(r);
                }
                Err(e) => s.failures.push(format!("run {}: {e}", i + 1)),
            }
        }
        let moved: Vec<u64> = s
            .runs
            .iter()
            .filter(|r| r.failover)
            .map(|r| r.max_ack_gap_ms)
            .collect();
        s.unavailability = Summary::of(&moved);
        s
    }
}

impl BenchReport {
    /// Checks the targets against the figures (call once they are all in).
    pub fn check_targets(&mut self) {
        let mut t = Vec::new();
        // The deployment's own distance first; a run without it is judged on what it measured.
        let default = [WanProfile::Transatlantic, WanProfile::Lan, WanProfile::Far]
            .into_iter()
            .find_map(|wan| {
                self.rto
                    .iter()
                    .find(|p| p.profile == "default" && p.wan == wan)
            });
        let rto = default.and_then(|p| p.total);
        let on = default.map_or_else(String::new, |p| format!(", {} network", p.wan));
        t.push(check(
            &format!("RTO median, region loss, default settings{on}"),
            format!("<= {} ms", target::RTO_MEDIAN_MS),
            rto.map(|s| {
                (
                    format!("{} ms over {} runs", s.median, s.n),
                    s.median <= target::RTO_MEDIAN_MS,
                )
            }),
        ));
        t.push(check(
            &format!("RTO p95, region loss, default settings{on}"),
            format!("<= {} ms", target::RTO_P95_MS),
            rto.map(|s| {
                (
                    format!("{} ms over {} runs", s.p95, s.n),
                    s.p95 <= target::RTO_P95_MS,
                )
            }),
        ));
        let isolations: Vec<&OutageCase> = self
            .false_failover
            .iter()
            .filter(|c| c.error.is_none())
            .collect();
        t.push(check(
            "false failovers, the primary region isolated for up to 3.5 s",
            "0".into(),
            (!isolations.is_empty()).then(|| {
                let moved = isolations.iter().filter(|c| c.failed_over).count();
                (
                    format!("{moved} over {} isolations", isolations.len()),
                    moved == 0,
                )
            }),
        ));
        let sw = &self.switchover;
        let moved = sw.runs.iter().filter(|r| r.failover).count();
        t.push(check(
            "messages lost in a planned switchover",
            "0".into(),
            (moved > 0).then(|| {
                (
                    format!("{} over {moved} switchovers", sw.acked_lost),
                    sw.acked_lost == 0,
                )
            }),
        ));
        let at = |n: usize| self.footprint.iter().find(|f| f.streams == n);
        let rss = at(100).and_then(|f| f.rss_kib);
        t.push(check(
            "watchdog RSS at 100 streams",
            format!("<= {} MiB", target::RSS_KIB_AT_100 / 1024),
            rss.map(|k| (format!("{:.1} MiB", mib(k)), k <= target::RSS_KIB_AT_100)),
        ));
        let cpu = at(100).and_then(|f| f.cpu_percent);
        t.push(check(
            "watchdog CPU at 100 streams",
            format!("<= {}% of a core", target::CPU_PERCENT_AT_100),
            cpu.map(|c| {
                (
                    format!("{c:.2}% of a core"),
                    c <= target::CPU_PERCENT_AT_100,
                )
            }),
        ));
        let round = at(1000).and_then(|f| f.probe_round_ms.values().copied().reduce(f64::max));
        t.push(check(
            "probe round over 1,000 streams (slowest region)",
            format!("<= {} ms", target::PROBE_ROUND_MS_AT_1000),
            round.map(|r| (format!("{r:.0} ms"), r <= target::PROBE_ROUND_MS_AT_1000)),
        ));
        self.scale_targets(&mut t);
        let big = self
            .config_check
            .iter()
            .find(|c| c.streams == 100_000 && c.error.is_none());
        t.push(check(
            "`natsdr check-config` on 100,000 mirrored streams",
            format!("< {} ms", target::CHECK_CONFIG_MS_AT_100000),
            big.and_then(|c| c.median_ms).map(|ms| {
                (
                    format!("{ms} ms (median of {})", big.map_or(0, |c| c.runs_ms.len())),
                    ms < target::CHECK_CONFIG_MS_AT_100000,
                )
            }),
        ));
        t.extend(
            self.api
                .as_ref()
                .map(super::api_load::targets)
                .into_iter()
                .flatten(),
        );
        self.targets = t;
    }

    /// The scale part's targets: RTO, footprint at 1,000 and per stream at 5,000, and
    /// natsdr's promotion against the plain client's floor.
    fn scale_targets(&self, t: &mut Vec<TargetCheck>) {
        let at = |n: usize| self.footprint.iter().find(|f| f.streams == n);
        let rto_at = |n: usize| {
            self.scale_rto
                .iter()
                .find(|r| r.streams == n)
                .and_then(|r| r.rto.total)
        };
        t.push(check(
            "RTO median on region loss with 1,000 mirrored streams",
            format!("<= {} ms", target::RTO_MEDIAN_MS_AT_1000),
            rto_at(1000).map(|s| {
                (
                    format!("{} ms (median of {})", s.median, s.n),
                    s.median <= target::RTO_MEDIAN_MS_AT_1000,
                )
            }),
        ));
        if let Some(with) = self.scale_rto.iter().find(|r| r.streams == 100) {
            let plain = self
                .rto
                .iter()
                .find(|p| p.profile == with.rto.profile && p.wan == with.rto.wan)
                .and_then(|p| p.total);
            t.push(check(
                "RTO median with 100 mirrored streams against the lab's 3",
                format!("<= {:.0}% of it", target::RTO_RATIO_AT_100 * 100.0),
                with.rto.total.zip(plain).map(|(w, p)| {
                    let ratio = as_f64(w.median) / as_f64(p.median.max(1));
                    (
                        format!(
                            "{} ms against {} ms ({:.0}%)",
                            w.median,
                            p.median,
                            ratio * 100.0
                        ),
                        ratio <= target::RTO_RATIO_AT_100,
                    )
                }),
            ));
        }
        t.push(check(
            "watchdog CPU at 1,000 streams",
            format!("<= {}% of a core", target::CPU_PERCENT_AT_1000),
            at(1000).and_then(|f| f.cpu_percent).map(|c| {
                (
                    format!("{c:.2}% of a core"),
                    c <= target::CPU_PERCENT_AT_1000,
                )
            }),
        ));
        t.push(check(
            "watchdog RSS at 1,000 streams",
            format!("<= {} MiB", target::RSS_KIB_AT_1000 / 1024),
            at(1000)
                .and_then(|f| f.rss_kib)
                .map(|k| (format!("{:.1} MiB", mib(k)), k <= target::RSS_KIB_AT_1000)),
        ));
        let per_stream = at(100).zip(at(5000)).and_then(|(small, big)| {
            let below = self
                .footprint
                .iter()
                .filter(|f| f.streams < big.streams)
                .max_by_key(|f| f.streams)?;
            let (cpu, rss) = big.marginal_since(below)?;
            Some((
                cpu,
                rss,
                small.cpu_per_stream()?,
                small.rss_kib_per_stream()?,
            ))
        });
        t.push(check(
            "CPU and RSS per stream at 5,000 streams against 100",
            format!(
                "<= {}x the figure at 100",
                target::PER_STREAM_RATIO_AT_5000
            ),
            per_stream.map(|(cpu, rss, cpu100, rss100)| {
                let (rc, rr) = (cpu / cpu100.max(f64::EPSILON), rss / rss100.max(f64::EPSILON));
                (
                    format!(
                        "CPU {:.2}x ({cpu:.5}% against {cpu100:.5}%), RSS {:.2}x ({rss:.1} KiB against {rss100:.1} KiB)",
                        rc, rr
                    ),
                    rc <= target::PER_STREAM_RATIO_AT_5000
                        && rr <= target::PER_STREAM_RATIO_AT_5000,
                )
            }),
        ));
        t.push(check(
            "natsdr's promotion of 1,000 mirrors against the plain client's best loop",
            format!("<= {}x", target::PROMOTE_VS_FLOOR),
            at(1000).and_then(|f| {
                let r = f.promote_vs_floor()?;
                Some((
                    format!("{r:.2}x ({} ms)", f.promote_ms?),
                    r <= target::PROMOTE_VS_FLOOR,
                ))
            }),
        ));
    }

    /// BENCHMARKS.md: every figure with the nats-server version and the settings it was taken on.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let m = &self.machine;
        let _ = writeln!(s, "# natsdr benchmarks\n");
        let _ = writeln!(
            s,
            "Generated by `{}` at {}; the same numbers are in `bench/results.json`. Do not \
             edit by hand (`make bench` regenerates both).\n",
            self.command, self.generated_at
        );
        let _ = writeln!(
            s,
            "Every figure below comes from this one run, on one machine: {} CPUs, {}, natsdr {} \
             ({} build), **nats-server {}**, the two-region lab of `natsdr-lab lab` (3 + 3 nodes, \
             leafnodes, BIND, a fault proxy, three watchdogs) on 127.0.0.1. The machine is small \
             and shared, so medians and p95s, not means.\n",
            m.cpus, m.kernel, m.natsdr_version, m.build, self.nats_version
        );
        let _ = writeln!(s, "## Targets\n");
        let _ = writeln!(s, "| what | target | measured | met |\n|---|---|---|---|");
        for t in &self.targets {
            let met = match t.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "not measured",
            };
            let _ = writeln!(s, "| {} | {} | {} | {met} |", t.what, t.target, t.measured);
        }
        let _ = writeln!(s, "\n## RTO on region loss\n");
        let _ = writeln!(
            s,
            "Each run: a fresh lab, the lab topology applied, three watchdogs, a client publishing \
             every 10 ms through the DNS name with acks, then every US node SIGKILLed. RTO = fault \
             to the client's first acked publish in EU. Overhead = RTO minus the configured \
             detection window (`failover_delay`), which no failover can beat.\n"
        );
        render_rto_by_wan(&mut s, &self.rto);
        for p in &self.rto {
            render_profile(&mut s, p);
        }
        render_false_failover(&mut s, &self.false_failover);
        render_availability(&mut s, &self.availability);
        render_switchover(&mut s, &self.switchover);
        render_footprint(&mut s, &self.footprint);
        render_scale_rto(&mut s, &self.scale_rto, &self.rto);
        render_config_check(&mut s, &self.config_check);
        render_consumers(&mut s, &self.consumers);
        if let Some(b) = &self.backup {
            s.push_str(&render_backup(b));
        }
        if let Some(a) = &self.api {
            s.push_str(&super::api_load::render(a));
        }
        s
    }
}

/// Reads one figure out of a run's report.
type Pick = fn(&Report) -> Option<u64>;

fn check(what: &str, target: String, measured: Option<(String, bool)>) -> TargetCheck {
    let (measured, met) = match measured {
        Some((m, met)) => (m, Some(met)),
        None => ("not measured".to_owned(), None),
    };
    TargetCheck {
        what: what.to_owned(),
        target,
        measured,
        met,
    }
}

// NB: KiB of a process's memory are far below 2^52: the cast is exact.
fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn settings_line(settings: &BTreeMap<String, String>) -> String {
    settings
        .iter()
        .map(|(k, v)| format!("`{k} = {v}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn summary_row(s: &mut String, name: &str, x: Option<&Summary>) {
    match x {
        Some(x) => {
            let _ = writeln!(
                s,
                "| {name} | {} | {} | {} | {} | {} |",
                x.median, x.p95, x.min, x.max, x.n
            );
        }
        None => {
            let _ = writeln!(s, "| {name} | - | - | - | - | 0 |");
        }
    }
}

/// The network profiles side by side: what the distance between the regions does to the RTO
/// and to what a failover may lose.
fn render_rto_by_wan(s: &mut String, rto: &[RtoProfile]) {
    if rto.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "Per network profile (`lan`: 0 ms; `transatlantic`: 45 ms each way +-5 ms; `far`: \
         100 ms each way +-15 ms, on the leafnode, the watchdogs' cross-region probes and the \
         watchdog-to-watchdog links; the client sits beside the primary):\n"
    );
    let _ = writeln!(
        s,
        "| network | timing | failed over | RTO median ms | RTO p95 ms | acked lost / lag at kill, per run | dual writes |\n|---|---|---|---|---|---|---|"
    );
    for p in rto {
        let runs = p.runs.len()
            + p.failures
                .iter()
                .filter(|f| !f.contains("no failover"))
                .count();
        let moved = p.total.map_or(0, |t| t.n);
        let loss: Vec<String> = p
            .loss_at_kill
            .iter()
            .map(|l| {
                format!(
                    "{}/{}",
                    l.acked_lost,
                    l.lag_at_kill.map_or("?".to_owned(), |n| n.to_string())
                )
            })
            .collect();
        let _ = writeln!(
            s,
            "| {} | {} | {moved}/{runs} | {} | {} | {} | {} |",
            p.wan,
            p.profile,
            p.total.map_or("-".to_owned(), |t| t.median.to_string()),
            p.total.map_or("-".to_owned(), |t| t.p95.to_string()),
            if loss.is_empty() {
                "-".to_owned()
            } else {
                loss.join(", ")
            },
            p.dual_writes
        );
    }
    let _ = writeln!(s);
}

fn outage_rows(s: &mut String, cases: &[OutageCase]) {
    let _ = writeln!(
        s,
        "| case | network | failed over | standby counted down ms | write outage at the client ms | fences | self-fenced | observed after ms |\n|---|---|---|---|---|---|---|---|"
    );
    for c in cases {
        let outage = c
            .write_outage_ms
            .map_or_else(|| "-".to_owned(), |v| v.to_string());
        let moved = if c.error.is_some() {
            "-"
        } else if c.failed_over {
            "**yes**"
        } else {
            "no"
        };
        let counted = c
            .closest_ms
            .map_or_else(|| "-".to_owned(), |v| v.to_string());
        let _ = writeln!(
            s,
            "| {} | {} | {moved} | {counted} | {outage} | {} | {} | {} |",
            c.case, c.wan, c.fences, c.self_fenced, c.observed_ms
        );
    }
    let _ = writeln!(s);
    for c in cases {
        if let Some(e) = &c.error {
            let _ = writeln!(s, "- failed: {} ({}): {e}", c.case, c.wan);
        }
    }
    if cases.iter().any(|c| c.error.is_some()) {
        let _ = writeln!(s);
    }
}

fn render_false_failover(s: &mut String, cases: &[OutageCase]) {
    if cases.is_empty() {
        return;
    }
    let _ = writeln!(s, "## False failovers: the primary region isolated\n");
    let _ = writeln!(
        s,
        "Each case: a fresh lab, three watchdogs, the same acked load through DNS, then every path \
         to and from US cut except its own watchdog's (leaf, wd:eu->us, wd:witness->us, \
         peer:us->*, peer:*->us), held, healed, and watched a while longer. None may fail over. \
         Standby counted down = how far the standby's count of the outage got before it saw US \
         again (a failover starts when it reaches `failover_delay`). Write outage = the longest \
         stretch without an ack at the client from the cut to the end of the observation; fences \
         = fence actions in the watchdogs' logs.\n"
    );
    outage_rows(s, cases);
}

fn render_availability(s: &mut String, cases: &[OutageCase]) {
    if cases.is_empty() {
        return;
    }
    let _ = writeln!(s, "## Availability: outages natsdr itself causes\n");
    let _ = writeln!(
        s,
        "Under the same acked load: the three watchdogs started together against a healthy lab, \
         each watchdog killed and started again alone, and isolations of US around the detection \
         window. Write outage and fences as above.\n"
    );
    outage_rows(s, cases);
}

fn render_profile(s: &mut String, p: &RtoProfile) {
    let _ = writeln!(s, "### Profile `{}`, `{}` network\n", p.profile, p.wan);
    let _ = writeln!(
        s,
        "Settings: {}; detection window {} ms.\n",
        settings_line(&p.settings),
        p.detection_window_ms
    );
    let _ = writeln!(
        s,
        "| ms | median | p95 | min | max | runs |\n|---|---|---|---|---|---|"
    );
    summary_row(
        s,
        "**RTO** (fault -> first acked publish in EU)",
        p.total.as_ref(),
    );
    summary_row(s, "overhead (RTO - detection window)", p.overhead.as_ref());
    for (k, what) in [
        ("detect", "fault -> detect (EU suspects US)"),
        ("confirm", "fault -> confirm (EU starts failing over)"),
        ("claim", "fault -> epoch claimed (seen in EU's status)"),
        (
            "failed_over",
            "fault -> failed over (fenced, promoted, DNS)",
        ),
        ("dns_swapped", "fault -> DNS answers EU"),
        ("first_ack", "fault -> first acked publish in EU"),
    ] {
        summary_row(s, what, p.offsets.get(k));
    }
    for (k, what) in [
        ("claim", "step: claim (DNS compare-and-swap)"),
        ("fence", "step: fence the old primary"),
        ("promote", "step: promote the mirrors"),
        ("dns", "step: swap the client record"),
    ] {
        summary_row(s, what, p.steps.get(k));
    }
    if p.total.is_some() && !p.steps.contains_key("fence") {
        let _ = writeln!(
            s,
            "\nNo fence was attempted: in each run the EU watchdog's latest round found US down \
             and its self-fence lease surely expired when the claim landed, which counts it fenced \
             (`counted fenced without an attempt`; a returning US is fenced as a stale twin within \
             a probe interval)."
        );
    }
    let _ = writeln!(s);
    for f in &p.failures {
        let _ = writeln!(s, "- failed: {f}");
    }
    if !p.failures.is_empty() {
        let _ = writeln!(s);
    }
}

fn render_switchover(s: &mut String, sw: &Switchover) {
    if sw.runs.is_empty() && sw.failures.is_empty() {
        return;
    }
    let _ = writeln!(s, "## Planned switchover\n");
    let _ = writeln!(
        s,
        "`POST /v1/switchover` to the EU watchdog under the same 10 ms acked load (default \
         settings): fence US, wait for lag 0, promote, swap DNS. Write unavailability = the \
         longest stretch with no ack after the request.\n"
    );
    let _ = writeln!(
        s,
        "| ms | median | p95 | min | max | runs |\n|---|---|---|---|---|---|"
    );
    summary_row(s, "write unavailability", sw.unavailability.as_ref());
    let _ = writeln!(
        s,
        "\nAcked messages lost over all switchovers: **{}**.\n",
        sw.acked_lost
    );
    for f in &sw.failures {
        let _ = writeln!(s, "- failed: {f}");
    }
    if !sw.failures.is_empty() {
        let _ = writeln!(s);
    }
}

fn render_consumers(s: &mut String, c: &ConsumersBench) {
    if c.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "## Durable consumers across a move
"
    );
    let _ = writeln!(
        s,
        "The demo's reader (a durable pull consumer bound by subject, `max_ack_pending` 64, \
         acking every message, following the DNS name) under the 10 ms acked load. Redelivered = \
         messages it got more than once; bound = after a region loss its acks from one \
         `consumers.sync_interval` before the fault on plus `max_ack_pending`, after a \
         switchover what US held that it had not acked when the move began; never delivered = \
         acked messages the final primary holds that it never got (must be 0).\n"
    );
    let _ = writeln!(
        s,
        "| move | run | redelivered | bound | never delivered | tracked | recreated |\n\
         |---|---|---|---|---|---|---|"
    );
    for (what, runs) in [
        ("region loss", &c.region_loss),
        ("switchover", &c.switchover),
    ] {
        for (i, r) in runs.iter().enumerate() {
            let _ = writeln!(
                s,
                "| {what} | {} | {} | {} | {} | {} | {} |",
                i + 1,
                r.redelivered,
                r.bound,
                r.never_delivered,
                r.tracked,
                r.recreated
            );
        }
    }
    if let Some(cpu) = &c.cpu {
        let _ = writeln!(
            s,
            "\nThe standby watchdog's CPU from `/proc/<pid>/stat`, median of {} windows of {} s, \
             {} mirrored streams, in one run: with no consumer, then tracking {} durables \
             (default `sync_interval`).\n",
            cpu.tracking_samples.len().max(cpu.baseline_samples.len()),
            cpu.window_s,
            cpu.streams,
            cpu.consumers
        );
        let _ = writeln!(
            s,
            "| consumers | CPU % of a core (median) | windows |\n|---|---|---|"
        );
        let list = |v: &[f64]| {
            v.iter()
                .map(|x| format!("{x:.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            s,
            "| 0 | {:.2} | {} |",
            cpu.baseline_percent,
            list(&cpu.baseline_samples)
        );
        if !cpu.tracking_samples.is_empty() {
            let _ = writeln!(
                s,
                "| {} | {:.2} | {} |",
                cpu.consumers,
                cpu.tracking_percent,
                list(&cpu.tracking_samples)
            );
        }
        if let Some(e) = &cpu.error {
            let _ = writeln!(s, "\n- failed: {e}");
        }
    }
    if c.rto_with.is_some() || c.rto_without.is_some() {
        let _ = writeln!(
            s,
            "\nRegion-loss RTO (default settings) with only the reader's durable, and with {} \
             idle durables more for the promotion to recreate.\n",
            c.recreated
        );
        let _ = writeln!(
            s,
            "| ms | median | p95 | min | max | runs |\n|---|---|---|---|---|---|"
        );
        summary_row(s, "RTO, reader only", c.rto_without.as_ref());
        summary_row(
            s,
            &format!("RTO, {} more durables", c.recreated),
            c.rto_with.as_ref(),
        );
        if let (Some(a), Some(b)) = (&c.rto_without, &c.rto_with) {
            let added = i128::from(b.median) - i128::from(a.median);
            let _ = writeln!(s, "\nAdded by recreating them (medians): {added} ms.");
        }
    }
    let _ = writeln!(s);
    for f in &c.failures {
        let _ = writeln!(s, "- failed: {f}");
    }
}

fn render_config_check(s: &mut String, cc: &[super::ConfigCheck]) {
    if cc.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "## Loading and validating a large config
"
    );
    let _ = writeln!(
        s,
        "`natsdr check-config` (the command, a fresh process each run: read, parse, every \
         validation rule, print the effective config) on the shipped example's settings with N \
         generated streams in us-east-1, two subject filters each, each mirrored in \
         eu-central-1. Median of the runs; per stream = median / N.\n"
    );
    let _ = writeln!(
        s,
        "| streams | runs ms | median ms | per stream µs |\n|---|---|---|---|"
    );
    for c in cc {
        let runs = c
            .runs_ms
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let (median, per) = match c.median_ms {
            // NB: ms and stream counts are far below 2^52: the casts are exact.
            Some(m) => (
                m.to_string(),
                format!("{:.1}", m as f64 * 1000.0 / c.streams.max(1) as f64),
            ),
            None => ("-".to_owned(), "-".to_owned()),
        };
        let _ = writeln!(s, "| {} | {runs} | {median} | {per} |", c.streams);
    }
    let _ = writeln!(s);
    for c in cc.iter().filter(|c| c.error.is_some()) {
        let _ = writeln!(
            s,
            "- failed at {} streams: {}",
            c.streams,
            c.error.as_deref().unwrap_or_default()
        );
    }
}

fn render_footprint(s: &mut String, fp: &[Footprint]) {
    if fp.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "## Scale: one watchdog at N mirrored streams, next to the server's floor\n"
    );
    let _ = writeln!(
        s,
        "The EU (standby) watchdog, which probes both regions and reads every mirror's lag, with \
         N generated US streams each mirrored in EU (R1, 1 MiB; on top of the lab's own streams), \
         default settings (500 ms rounds), no load. RSS from `/proc/<pid>/status` (median of 1 s \
         samples), CPU from `/proc/<pid>/stat` over the window. Per stream = the whole figure over \
         N; marginal = what each stream added since the next smaller size (the watchdog's fixed \
         base left out).\n"
    );
    let _ = writeln!(
        s,
        "| streams | window s | RSS MiB (median / max) | CPU % of a core | per stream: CPU % / RSS KiB | marginal per stream: CPU % / RSS KiB |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
    let mut sorted: Vec<&Footprint> = fp.iter().collect();
    sorted.sort_by_key(|f| f.streams);
    for (i, f) in sorted.iter().enumerate() {
        let marginal = i
            .checked_sub(1)
            .and_then(|j| f.marginal_since(sorted[j]))
            .map(|(c, r)| format!("{c:.5} / {r:.1}"));
        let _ = writeln!(
            s,
            "| {} | {} | {} / {} | {} | {} / {} | {} |",
            f.streams,
            f.window_s,
            opt(f.rss_kib.map(|k| format!("{:.1}", mib(k)))),
            opt(f.rss_max_kib.map(|k| format!("{:.1}", mib(k)))),
            opt(f.cpu_percent.map(|c| format!("{c:.2}"))),
            opt(f.cpu_per_stream().map(|c| format!("{c:.5}"))),
            opt(f.rss_kib_per_stream().map(|k| format!("{k:.1}"))),
            opt(marginal),
        );
    }
    let _ = writeln!(
        s,
        "\nThe same lab, the same N. Probe round = natsdr's mean round over the window (both \
         regions probed at once, from `natsdr_probe_duration_seconds`; the slowest region shown). \
         The floor of its reads: a plain async-nats client's STREAM.INFO of every mirror, all in \
         flight at once, and its paged STREAM.LIST of the standby region (what the probe sends). \
         Promote = every generated mirror promoted, watchdogs stopped: natsdr's executor (the \
         failover's promote step, consumers carried included), then a plain client loop (read \
         the info, drop `mirror`, set the source's subjects, update) one stream after the other \
         and with every request in flight at once; each on a fresh set of N mirrors (the \
         previous set deleted and created again). Promoted = mirrors the server then held \
         promoted, read back with a listing (natsdr / sequential / concurrent).\n"
    );
    let _ = writeln!(
        s,
        "| streams | probe round ms | reads floor ms (infos / list) | apply ms | promote ms: natsdr | baseline sequential | baseline concurrent | natsdr / best baseline | promoted |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|");
    for f in &sorted {
        let round = f.probe_round_ms.values().copied().reduce(f64::max);
        let ms = |v: Option<u64>| opt(v.map(|v| v.to_string()));
        let n = |v: Option<usize>| opt(v.map(|v| v.to_string()));
        let _ = writeln!(
            s,
            "| {} | {} | {} / {} | {} | {} | {} | {} | {} | {} / {} / {} |",
            f.streams,
            opt(round.map(|r| format!("{r:.0}"))),
            ms(f.baseline_read_ms),
            ms(f.baseline_list_ms),
            ms(f.apply_ms),
            ms(f.promote_ms),
            ms(f.baseline_promote_sequential_ms),
            ms(f.baseline_promote_concurrent_ms),
            opt(f.promote_vs_floor().map(|r| format!("{r:.2}x"))),
            n(f.promoted.natsdr),
            n(f.promoted.baseline_sequential),
            n(f.promoted.baseline_concurrent),
        );
    }
    let errors: Vec<String> = fp
        .iter()
        .filter_map(|f| Some(format!("{} streams: {}", f.streams, f.error.as_ref()?)))
        .collect();
    if !errors.is_empty() {
        let _ = writeln!(s);
        for e in errors {
            let _ = writeln!(s, "- failed: {e}");
        }
    }
    let _ = writeln!(s);
}

/// Region losses with many mirrored streams, next to the lab's own (3-stream) figure on the same
/// timing and network when the RTO part ran.
fn render_scale_rto(s: &mut String, scale: &[ScaleRto], plain: &[RtoProfile]) {
    if scale.is_empty() {
        return;
    }
    let _ = writeln!(s, "## RTO on region loss with many mirrored streams\n");
    let _ = writeln!(
        s,
        "The region-loss run of the RTO table (fresh lab, acked load through DNS, every US node \
         SIGKILLed) on a lab carrying N generated US streams mirrored in EU besides its own: the \
         failover promotes all of them before the DNS swap.\n"
    );
    let _ = writeln!(
        s,
        "| streams | timing | network | runs | RTO ms (median / p95) | promote step ms (median) | failures |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|");
    let row = |s: &mut String, streams: String, p: &RtoProfile| {
        let _ = writeln!(
            s,
            "| {streams} | {} | {} | {} | {} | {} | {} |",
            p.profile,
            p.wan,
            p.runs.len() + p.failures.len(),
            p.total
                .map_or_else(|| "-".to_owned(), |t| format!("{} / {}", t.median, t.p95)),
            p.steps
                .get("promote")
                .map_or_else(|| "-".to_owned(), |t| t.median.to_string()),
            p.failures.len()
        );
    };
    for r in scale {
        if let Some(p) = plain
            .iter()
            .find(|p| p.profile == r.rto.profile && p.wan == r.rto.wan)
        {
            row(s, "the lab's own 3".to_owned(), p);
            break;
        }
    }
    for r in scale {
        row(s, format!("{} + 3", r.streams), &r.rto);
    }
    for r in scale {
        for f in &r.rto.failures {
            let _ = writeln!(s, "\n- failed at {} streams: {f}", r.streams);
        }
    }
    let _ = writeln!(s);
}

/// The "Backup and restore" section of BENCHMARKS.md, alone (it can be added to an existing
/// file without regenerating the rest).
pub fn render_backup(b: &BackupFigures) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "## Backup and restore throughput
"
    );
    let _ = writeln!(
        s,
        "One R1 stream in EU filled with {} messages of random (incompressible) payload, {:.1} MiB \
         stored; objects on {} (a real S3-compatible server on 127.0.0.1, signatures checked). \
         MiB/s is of the stream's stored bytes over the wall time of the whole command. Peak RSS \
         is the `natsdr` process's VmHWM from `/proc/<pid>/status`: the backup streams each \
         object through one 8 MiB multipart part, so it should not grow with the stream.\n",
        b.messages,
        mib(b.stream_bytes / 1024),
        b.store
    );
    let _ = writeln!(
        s,
        "| step | time ms | MiB/s | peak RSS MiB |\n|---|---|---|---|"
    );
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
    let ms = |v: Option<u64>| opt(v.map(|v| v.to_string()));
    let rate = |v: Option<u64>| opt(b.mib_per_s(v).map(|r| format!("{r:.1}")));
    let rss = |v: Option<u64>| opt(v.map(|k| format!("{:.1}", mib(k))));
    let _ = writeln!(
        s,
        "| JetStream snapshot API alone (into nothing) | {} | {} | - |",
        ms(b.snapshot_ms),
        rate(b.snapshot_ms)
    );
    let _ = writeln!(
        s,
        "| `natsdr backup run` (snapshot to S3, manifest) | {} | {} | {} |",
        ms(b.backup_ms),
        rate(b.backup_ms),
        rss(b.backup_peak_rss_kib)
    );
    let _ = writeln!(
        s,
        "| `natsdr backup restore --replace` (verify, restore) | {} | {} | {} |",
        ms(b.restore_ms),
        rate(b.restore_ms),
        rss(b.restore_peak_rss_kib)
    );
    if let Some(e) = &b.error {
        let _ = writeln!(s, "\n- failed: {e}");
    }
    s
}
