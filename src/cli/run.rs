//! `natsdr run`: config, logging, runtime, then the [`App`] until SIGTERM, SIGINT or the owner
//! process's end.
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::check_config::usage_error;
use super::exit;
use crate::app::App;
use crate::config::Config;
use crate::telemetry::logging::{self, LogFormat};

/// Runs the watchdog until SIGTERM or SIGINT.
pub fn run(path: &Path, format: LogFormat) -> u8 {
    let cfg = match Config::load(path) {
        Ok(c) => Arc::new(c),
        Err(e) => return usage_error(path, &e),
    };
    logging::init(format);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    let started = rt.block_on(async {
        let app = App::build(cfg).await?;
        app.run(shutdown_signal()).await;
        Ok::<(), crate::app::AppError>(())
    });
    match started {
        Ok(()) => exit::OK,
        Err(e) => {
            let msg = crate::error_chain(&e);
            tracing::error!(error = %msg, "natsdr stops");
            eprintln!("natsdr run: {msg}");
            exit::FAILURE
        }
    }
}

/// Resolves on SIGTERM or SIGINT, or when the process named by `NATSDR_OWNER_PID` is gone (the
/// lab and the demo set it, so their watchdogs never outlive them, even after a SIGKILL).
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    let owner = std::env::var("NATSDR_OWNER_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok());
    let orphaned = async move {
        let Some(pid) = owner else {
            return std::future::pending().await;
        };
        while crate::process::is_alive(pid) {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        () = orphaned => tracing::info!("owner process gone: shutting down"),
    }
}
