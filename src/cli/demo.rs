//! `natsdr demo`: a live two-region failover on this machine, reported as a timeline or JSON.
use std::path::PathBuf;

use super::exit;
use crate::demo::{DemoError, DemoOptions, Scenario, run as run_demo};
use crate::lab::LabError;

/// Runs the scenario; exit 0 when its expectation held, 1 when it did not or the demo failed,
/// 69 when nats-server or BIND is missing.
pub fn run(scenario: Scenario, json: bool, dir: Option<PathBuf>, keep: bool) -> u8 {
    let natsdr_exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("natsdr demo: cannot find my own executable: {e}");
            return exit::FAILURE;
        }
    };
    let opts = DemoOptions {
        scenario,
        dir,
        keep,
        natsdr_exe,
    };
    if !json {
        eprintln!("natsdr demo: starting a two-region lab for the {scenario} scenario...");
    }
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    match rt.block_on(run_demo(&opts)) {
        Ok(report) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&report).expect("a report serialises")
                );
            } else {
                print!("{}", report.render());
            }
            if report.ok { exit::OK } else { exit::FAILURE }
        }
        Err(e) => {
            eprintln!("natsdr demo: {}", crate::error_chain(&e));
            match e {
                DemoError::Lab(LabError::NatsServerMissing(_)) | DemoError::NoDns => {
                    exit::UNAVAILABLE
                }
                _ => exit::FAILURE,
            }
        }
    }
}
