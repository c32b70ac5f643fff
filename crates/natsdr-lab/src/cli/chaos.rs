//! `natsdr-lab chaos`: seeded fault runs on the lab; prints each seed's schedule and verdicts, the
//! summary table, and the failing seeds with the command that replays them.
use std::path::PathBuf;
use std::time::Duration;

use super::exit;
use crate::chaos::{ChaosError, SeedReport, run_seed_on, summary};
use crate::lab::{LabError, WanProfile};

/// Which seeds `natsdr-lab chaos` runs, for how long, and where the JSON goes.
#[derive(Debug, clap::Args)]
pub struct ChaosArgs {
    /// How many seeds to run (first-seed, first-seed + 1, ...).
    #[arg(long, default_value_t = 20)]
    seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 1)]
    first_seed: u64,
    /// Run this one seed only (a replay); overrides --seeds and --first-seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Seconds during which faults are injected in each run.
    #[arg(long, default_value_t = 30)]
    duration_secs: u64,
    /// Also write every seed's verdicts as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// The latency between the regions and the witness, under the seed's faults: `lan`,
    /// `transatlantic` (45 ms each way, +-5 ms) or `far` (100 ms each way, +-15 ms).
    #[arg(long, value_enum, default_value_t = WanProfile::Lan)]
    wan: WanProfile,
}

/// Runs the seeds; exit 0 when every invariant held for every seed, 1 when not, 69 when
/// nats-server is missing.
pub fn run(args: &ChaosArgs) -> u8 {
    let exe = match super::natsdr_exe("chaos") {
        Ok(p) => p,
        Err(code) => return code,
    };
    let seeds: Vec<u64> = match args.seed {
        Some(s) => vec![s],
        None => (args.first_seed..args.first_seed.saturating_add(args.seeds)).collect(),
    };
    let duration = Duration::from_secs(args.duration_secs);
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let mut reports: Vec<SeedReport> = Vec::new();
    let mut failing: Vec<(u64, String)> = Vec::new();
    for seed in seeds {
        match rt.block_on(run_seed_on(seed, duration, &exe, args.wan)) {
            Ok(r) => {
                print!("{}", r.render());
                if !r.held() {
                    failing.push((seed, "an invariant failed".into()));
                }
                reports.push(r);
            }
            Err(ChaosError::Lab(e @ LabError::NatsServerMissing(_))) => {
                eprintln!("natsdr-lab chaos: {}", natsdr::error_chain(&e));
                return exit::UNAVAILABLE;
            }
            Err(e) => {
                let why = natsdr::error_chain(&e);
                println!("seed {seed}: could not run: {why}");
                failing.push((seed, why));
            }
        }
    }
    println!();
    print!("{}", summary(&reports));
    if let Some(path) = &args.json {
        let json = serde_json::json!({
            "duration_secs": args.duration_secs,
            "wan": args.wan,
            "seeds": reports.iter().map(to_json).collect::<Vec<_>>(),
            "failing": failing.iter().map(|(s, why)| serde_json::json!({"seed": s, "why": why})).collect::<Vec<_>>(),
        });
        let text = serde_json::to_string_pretty(&json).unwrap_or_default();
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("natsdr-lab chaos: {}: {e}", path.display());
        }
    }
    if failing.is_empty() {
        println!(
            "natsdr-lab chaos: every invariant held for {} seed(s)",
            reports.len()
        );
        exit::OK
    } else {
        for (seed, why) in &failing {
            println!(
                "failing seed: {seed} ({why}) (replay: natsdr-lab chaos --seed {seed} --duration-secs {} --wan {})",
                args.duration_secs, args.wan
            );
        }
        exit::FAILURE
    }
}

fn to_json(r: &SeedReport) -> serde_json::Value {
    serde_json::json!({
        "seed": r.seed,
        "schedule": r.schedule.episodes.iter().map(|e| serde_json::json!({
            "at_ms": e.at.as_millis(), "hold_ms": e.hold.as_millis(), "fault": e.fault.to_string(),
        })).collect::<Vec<_>>(),
        "injected": r.injected,
        "failovers": r.failovers,
        "failed_back": r.failed_back,
        "acked": r.acked,
        "pages": r.pages,
        "wall_secs": r.wall_secs,
        "held": r.held(),
        "verdicts": r.verdicts.iter().map(|v| serde_json::json!({
            "invariant": v.invariant, "checked": v.checked, "unit": v.unit,
            "violations": v.violations, "notes": v.notes,
        })).collect::<Vec<_>>(),
    })
}
