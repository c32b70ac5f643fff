//! `natsdr-lab demo`: a live two-region failover on this machine, reported as a timeline or JSON.
use std::path::PathBuf;

use super::exit;
use crate::demo::{DemoDns, DemoError, DemoOptions, Scenario, run as run_demo};
use crate::lab::{LabError, WanProfile};

/// 128 + SIGINT, as shells report an interrupted command.
const INTERRUPTED: u8 = 130;

/// Runs the scenario; exit 0 when its expectation held, 1 when it did not or the demo failed,
/// 69 when nats-server or BIND is missing, 130 when interrupted.
pub fn run(
    scenario: Scenario,
    dns: DemoDns,
    wan: WanProfile,
    json: bool,
    dir: Option<PathBuf>,
    keep: bool,
    config: Option<PathBuf>,
) -> u8 {
    let source = match config.as_deref().map(super::lab::source).transpose() {
        Ok(s) => s,
        Err((message, code)) => {
            eprintln!("natsdr-lab demo: {message}");
            return code;
        }
    };
    let natsdr_exe = match super::natsdr_exe("demo") {
        Ok(p) => p,
        Err(code) => return code,
    };
    let opts = DemoOptions {
        scenario,
        dir,
        keep,
        natsdr_exe,
        env: Vec::new(),
        dns,
        wan,
        extra_consumers: 0,
        source,
        generated_streams: 0,
    };
    if !json {
        eprintln!(
            "natsdr-lab demo: starting a two-region lab ({wan} network) for the {scenario} scenario..."
        );
        for line in opts.source.iter().flat_map(|s| &s.adjustments) {
            eprintln!("  from the config: {line}");
        }
    }
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    // NB: on Ctrl-C or SIGTERM the demo future is dropped, which kills the watchdogs and the
    // lab it started (their handles kill on drop); netd also reaps the lab if we die harder.
    let outcome = rt.block_on(async {
        tokio::select! {
            r = run_demo(&opts) => Some(r),
            () = interrupted() => None,
        }
    });
    let Some(outcome) = outcome else {
        opts.clean_up();
        eprintln!("natsdr-lab demo: interrupted; the lab and the watchdogs are stopped");
        return INTERRUPTED;
    };
    match outcome {
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
            eprintln!("natsdr-lab demo: {}", natsdr::error_chain(&e));
            match e {
                DemoError::Lab(LabError::NatsServerMissing(_)) | DemoError::NoDns => {
                    exit::UNAVAILABLE
                }
                _ => exit::FAILURE,
            }
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn interrupted() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
