//! `natsdr-lab bench`: runs the benchmark and writes its JSON and Markdown reports.
use std::path::PathBuf;
use std::time::Duration;

use super::exit;
use crate::bench::{BenchError, BenchOptions, Section};
use crate::lab::{LabError, WanProfile};

/// How much `natsdr-lab bench` measures and where it writes.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// The parts to run, comma-separated (default: all).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        conflicts_with = "availability_only"
    )]
    only: Vec<Section>,
    /// Run the availability table only (same as `--only availability`).
    #[arg(long)]
    availability_only: bool,
    /// Region-loss runs per timing and network profile.
    #[arg(long, default_value_t = 10)]
    runs: usize,
    /// Network profiles of the RTO and false-failover tables, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',',
          default_values_t = [WanProfile::Lan, WanProfile::Transatlantic, WanProfile::Far])]
    profiles: Vec<WanProfile>,
    /// Timing profiles to measure RTO on, comma-separated.
    #[arg(long, value_delimiter = ',', default_values = ["default"],
          value_parser = clap::builder::PossibleValuesParser::new(crate::bench::PROFILE_NAMES))]
    timings: Vec<String>,
    /// Seconds each false-failover case isolates the primary region, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1.0, 2.0, 3.0, 3.5])]
    isolations: Vec<f64>,
    /// The network of the availability table, the switchovers and the footprint.
    #[arg(long, value_enum, default_value_t = WanProfile::Transatlantic)]
    wan: WanProfile,
    /// Planned switchover runs.
    #[arg(long, default_value_t = 3)]
    switchovers: usize,
    /// Region-loss runs with 100 idle durables added, for the consumer part (also its own
    /// region losses and switchovers when the RTO and switchover parts do not run).
    #[arg(long, default_value_t = 3)]
    consumer_runs: usize,
    /// Mirrored-stream counts for the scale part (footprint, probe round and promotion next to
    /// a plain client's floor), comma-separated.
    #[arg(long, visible_alias = "streams", value_delimiter = ',', default_values_t = [100, 1000, 5000])]
    sizes: Vec<usize>,
    /// Generated mirrored-stream counts of the region losses at scale (`--scale-rto-runs`
    /// each, default timing, `--wan` network), comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1000])]
    rto_streams: Vec<usize>,
    /// Region-loss runs per size of `--rto-streams` (the median is reported).
    #[arg(long, default_value_t = 3)]
    scale_rto_runs: usize,
    /// Stream counts of the generated configs `check-config` is timed on, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1_000, 10_000, 100_000])]
    config_sizes: Vec<usize>,
    /// Seconds to sample a watchdog at steady state.
    #[arg(long, default_value_t = 20)]
    window_secs: u64,
    /// MiB of messages in the stream the backup part backs up and restores (it needs about
    /// three times that on disk: the stream, the S3 object, the restored stream).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    backup_mib: u64,
    /// Where the JSON goes.
    #[arg(long, default_value = "bench/results.json")]
    json: PathBuf,
    /// Where the Markdown goes.
    #[arg(long, default_value = "BENCHMARKS.md")]
    markdown: PathBuf,
}

/// Runs the bench; exit 0 when the reports were written, 1 when not, 69 when nats-server is
/// missing.
pub fn run(args: &BenchArgs) -> u8 {
    let natsdr_exe = match super::natsdr_exe("bench") {
        Ok(p) => p,
        Err(code) => return code,
    };
    let sections = if args.availability_only {
        vec![Section::Availability]
    } else if args.only.is_empty() {
        Section::ALL.to_vec()
    } else {
        args.only.clone()
    };
    let Some(isolations) = args
        .isolations
        .iter()
        .map(|s| Duration::try_from_secs_f64(*s).ok())
        .collect::<Option<Vec<_>>>()
    else {
        eprintln!("natsdr-lab bench: --isolations takes seconds, e.g. 1,2,3.5");
        return exit::USAGE;
    };
    let opts = BenchOptions {
        sections,
        runs: args.runs,
        profiles: args.timings.clone(),
        wans: args.profiles.clone(),
        isolations,
        wan: args.wan,
        switchovers: args.switchovers,
        consumer_runs: args.consumer_runs,
        sizes: args.sizes.clone(),
        rto_streams: args.rto_streams.clone(),
        scale_rto_runs: args.scale_rto_runs,
        config_sizes: args.config_sizes.clone(),
        window: Duration::from_secs(args.window_secs),
        backup_mib: args.backup_mib,
        natsdr_exe,
    };
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let outcome = rt.block_on(crate::bench::run(&opts)).and_then(|report| {
        crate::bench::write(&report, &args.json, &args.markdown)?;
        Ok(report)
    });
    match outcome {
        Ok(report) => {
            for t in &report.targets {
                let met = match t.met {
                    Some(true) => "met",
                    Some(false) => "MISSED",
                    None => "not measured",
                };
                println!(
                    "{met:>12}  {}: {} (target {})",
                    t.what, t.measured, t.target
                );
            }
            println!(
                "natsdr-lab bench: wrote {} and {}",
                args.json.display(),
                args.markdown.display()
            );
            exit::OK
        }
        Err(e) => {
            eprintln!("natsdr-lab bench: {}", natsdr::error_chain(&e));
            match e {
                BenchError::Lab(LabError::NatsServerMissing(_)) => exit::UNAVAILABLE,
                _ => exit::FAILURE,
            }
        }
    }
}
