//! `natsdr plan` and `natsdr apply`: the world against the config's streams, mirrors and buckets.
use std::path::Path;

use super::check_config::usage_error;
use super::exit;
use crate::config::Config;
use crate::topology::{Change, Desired, Drift, apply_config, connect_js, expected, observe, plan};

/// Loads the config at `path` and runs `work` with it on a fresh runtime; a config that does
/// not load exits with the usage code before anything connects.
fn with_config<F: Future<Output = u8>>(path: &Path, work: impl FnOnce(Config) -> F) -> u8 {
    match Config::load(path) {
        Ok(cfg) => tokio::runtime::Runtime::new()
            .expect("a tokio runtime starts")
            .block_on(work(cfg)),
        Err(e) => usage_error(path, &e),
    }
}

/// `plan`: prints every difference; exit 0 = none, 2 = drift (failover state such as a promoted
/// mirror is shown but is not drift), 1 = a region could not be read.
pub fn run_plan(path: &Path) -> u8 {
    with_config(path, |cfg| async move {
        let apis = match connect_js(&cfg).await {
            Ok(a) => a,
            Err(e) => {
                eprintln!("natsdr plan: {e}");
                return exit::FAILURE;
            }
        };
        let exp = match expected(&Desired::from(&cfg)) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("natsdr plan: {e}");
                return exit::USAGE;
            }
        };
        let (actual, errors) = observe(&apis).await;
        for (region, e) in &errors {
            eprintln!(
                "natsdr plan: cannot read {region}: {}",
                crate::error_chain(e)
            );
        }
        let drifts = plan(&exp, &actual);
        let (state, drift): (Vec<&Drift>, Vec<&Drift>) = drifts.iter().partition(|d| d.is_state());
        for d in &state {
            println!("state  {d}");
        }
        for d in &drift {
            println!("drift  {d}");
        }
        if !errors.is_empty() {
            exit::FAILURE
        } else if drift.is_empty() {
            println!("no drift: {} streams match the config", exp.len());
            exit::OK
        } else {
            println!(
                "{} drift(s); `natsdr apply` fixes what it safely can",
                drift.len()
            );
            exit::DRIFT
        }
    })
}

/// `apply`: makes the world match, idempotently; exit 0 when everything needed is done.
pub fn run_apply(path: &Path) -> u8 {
    with_config(path, |cfg| async move {
        match apply_config(&cfg).await {
            Ok(changes) => report(&changes),
            Err(e) => {
                eprintln!("natsdr apply: {e}");
                exit::FAILURE
            }
        }
    })
}

/// Prints changes; exit 0 unless something failed or needs an operator.
pub fn report(changes: &[Change]) -> u8 {
    for c in changes {
        println!("{c}");
    }
    let bad = changes.iter().filter(|c| !c.is_change()).count();
    if changes.is_empty() {
        println!("no change: the world matches the config");
    }
    if bad == 0 { exit::OK } else { exit::FAILURE }
}
