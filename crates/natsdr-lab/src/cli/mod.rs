//! The `natsdr-lab` command line: `lab`, `demo`, `bench` and `chaos`, with the product's exit
//! codes.
mod bench;
mod chaos;
mod demo;
mod lab;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use natsdr::cli::exit;

/// natsdr-lab: a real two-region NATS lab on this machine, and the demo, chaos suite and
/// benchmark that run natsdr's watchdogs on it.
#[derive(Debug, Parser)]
#[command(name = "natsdr-lab", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// A live two-region failover on this machine: lab, watchdogs, a load generator publishing
    /// through the DNS name, then a fault. Prints the timeline (or one JSON object with --json);
    /// exit 0 when the scenario's expectation held, 1 otherwise.
    Demo {
        /// Which fault to inject.
        #[arg(long, value_enum, default_value_t = crate::demo::Scenario::RegionLoss)]
        scenario: crate::demo::Scenario,
        /// Print one JSON object instead of the timeline.
        #[arg(long)]
        json: bool,
        /// The lab directory (default: a fresh temp dir, removed at the end unless --keep).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Keep the lab directory (configs, logs) after the demo.
        #[arg(long)]
        keep: bool,
        /// The DNS provider the watchdogs use: the lab's BIND (RFC 2136), or a local Route 53
        /// API (ministack, from `make deps`) whose records are served to clients by BIND.
        #[arg(long, value_enum, default_value_t = crate::demo::DemoDns::Rfc2136)]
        dns: crate::demo::DemoDns,
        /// The latency between the regions and the witness: `lan` (none), `transatlantic`
        /// (45 ms each way, +-5 ms, as between us-east-1 and eu-central-1) or `far` (100 ms
        /// each way, +-15 ms). The load generator sits beside the primary either way.
        #[arg(long, value_enum, default_value_t = crate::lab::WanProfile::Transatlantic)]
        wan: crate::lab::WanProfile,
        /// A natsdr config whose regions and topology the lab runs (as `lab up --config`):
        /// the load publishes to its first mirrored home stream, and its mirrored KV buckets
        /// get compare-and-set updates, heartbeats, registrations and a watcher.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// The benchmark on this machine: RTO on region loss per network profile (lan,
    /// transatlantic, far), isolations of the primary that must not fail over, the write outages
    /// natsdr itself causes, planned switchovers, and one watchdog's footprint at N mirrored
    /// streams. Writes the JSON and BENCHMARKS.md; exit 0 when it ran (targets missed are
    /// reported, not an error). `--only` / `--availability-only` run a part.
    Bench {
        #[command(flatten)]
        args: bench::BenchArgs,
    },
    /// Seeded chaos runs on the lab: load through DNS while a seed's schedule kills
    /// nodes, regions and watchdogs, cuts and slows links, stalls DNS and a watchdog, and takes
    /// PagerDuty down; then heal, fail back if needed, and check the invariants. Exit 1 and the
    /// failing seeds when any invariant failed.
    Chaos {
        #[command(flatten)]
        args: chaos::ChaosArgs,
    },
    /// Run a real two-region NATS lab on this machine (for the demo, tests and trying natsdr).
    Lab {
        #[command(subcommand)]
        command: lab::LabCommand,
    },
}

/// Parses the command line, runs it, and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = match natsdr::cli::parse::<Cli>() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let code = match cli.command {
        Command::Lab { command } => lab::run(command),
        Command::Demo {
            scenario,
            json,
            dir,
            keep,
            dns,
            wan,
            config,
        } => demo::run(scenario, dns, wan, json, dir, keep, config),
        Command::Bench { args } => bench::run(&args),
        Command::Chaos { args } => chaos::run(&args),
    };
    ExitCode::from(code)
}

/// The natsdr binary the lab's watchdogs run; when it is missing, says so on stderr as
/// `natsdr-lab <command>` and gives the exit code for it.
fn natsdr_exe(command: &str) -> Result<PathBuf, u8> {
    crate::lab::find_natsdr().map_err(|e| {
        eprintln!("natsdr-lab {command}: {e}");
        exit::UNAVAILABLE
    })
}
