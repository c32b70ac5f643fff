//! `natsdr bench`: runs the benchmark and writes its JSON and Markdown reports.
use std::path::PathBuf;
use std::time::Duration;

use super::exit;
use crate::bench::{BenchError, BenchOptions};
use crate::lab::LabError;

/// How much `natsdr bench` measures and where it writes.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Region-loss runs per timing profile.
    #[arg(long, default_value_t = 10)]
    runs: usize,
    /// Timing profiles to measure RTO on, comma-separated.
    #[arg(long, value_delimiter = ',', default_values = crate::bench::PROFILE_NAMES,
          value_parser = clap::builder::PossibleValuesParser::new(crate::bench::PROFILE_NAMES))]
    profiles: Vec<String>,
    /// Planned switchover runs.
    #[arg(long, default_value_t = 3)]
    switchovers: usize,
    /// Mirrored-stream counts for the footprint, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [10, 100, 1000])]
    sizes: Vec<usize>,
    /// Seconds to sample a watchdog at steady state.
    #[arg(long, default_value_t = 20)]
    window_secs: u64,
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
    let natsdr_exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("natsdr bench: cannot find my own executable: {e}");
            return exit::FAILURE;
        }
    };
    let opts = BenchOptions {
        runs: args.runs,
        profiles: args.profiles.clone(),
        switchovers: args.switchovers,
        sizes: args.sizes.clone(),
        window: Duration::from_secs(args.window_secs),
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
                "natsdr bench: wrote {} and {}",
                args.json.display(),
                args.markdown.display()
            );
            exit::OK
        }
        Err(e) => {
            eprintln!("natsdr bench: {}", crate::error_chain(&e));
            match e {
                BenchError::Lab(LabError::NatsServerMissing(_)) => exit::UNAVAILABLE,
                _ => exit::FAILURE,
            }
        }
    }
}
