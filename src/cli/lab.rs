//! `natsdr lab`: a real two-region NATS deployment on this machine, for trying natsdr out.
use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::exit;
use crate::lab::{Lab, LabError, LabOptions};

/// What to do with the lab.
#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Start a 3-node us-east-1 and a 3-node eu-central-1 cluster (real nats-server), leafnodes,
    /// a fault-injecting proxy and a real BIND, then apply the example topology. Writes
    /// DIR/lab.json and ready natsdr configs (DIR/natsdr*.toml). Processes outlive the command.
    Up {
        /// Directory holding everything the lab writes.
        #[arg(long, default_value = ".lab")]
        dir: PathBuf,
    },
    /// Show which lab processes are alive and which network paths are cut.
    Status {
        /// The lab's directory.
        #[arg(long, default_value = ".lab")]
        dir: PathBuf,
    },
    /// Stop every lab process (SIGTERM, then SIGKILL after 5 s) and wait until all are gone.
    Down {
        /// The lab's directory.
        #[arg(long, default_value = ".lab")]
        dir: PathBuf,
    },
    /// The lab's fault-injecting TCP proxy daemon (started by `lab up`; not for people).
    #[command(hide = true)]
    Netd {
        /// The lab's directory.
        #[arg(long)]
        dir: PathBuf,
    },
}

pub fn run(cmd: LabCommand) -> u8 {
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let result: Result<(), (String, u8)> = rt.block_on(async {
        match cmd {
            LabCommand::Up { dir } => up(&dir).await,
            LabCommand::Status { dir } => Lab::status(&dir).map(|s| print!("{s}")).map_err(failed),
            LabCommand::Down { dir } => Lab::down(&dir).await.map_err(failed),
            LabCommand::Netd { dir } => {
                crate::telemetry::logging::init(crate::telemetry::logging::LogFormat::Pretty);
                crate::lab::netd::run(&dir)
                    .await
                    .map_err(|e| (crate::error_chain(&e), exit::FAILURE))
            }
        }
    });
    match result {
        Ok(()) => exit::OK,
        Err((message, code)) => {
            eprintln!("natsdr lab: {message}");
            code
        }
    }
}

fn failed(e: LabError) -> (String, u8) {
    let code = if matches!(e, LabError::NatsServerMissing(_)) {
        exit::UNAVAILABLE
    } else {
        exit::FAILURE
    };
    (crate::error_chain(&e), code)
}

async fn up(dir: &Path) -> Result<(), (String, u8)> {
    let lab = Lab::up(LabOptions::new(dir).map_err(failed)?)
        .await
        .map_err(failed)?;
    let m = lab.detach();
    let topology = |e: String| {
        (
            format!("lab is up, but applying its topology failed: {e}"),
            exit::FAILURE,
        )
    };
    let cfg = crate::config::Config::load(&m.natsdr_config).map_err(|e| topology(e.to_string()))?;
    let changes = super::topology::apply_config(&cfg)
        .await
        .map_err(topology)?;
    if let Some(bad) = changes.iter().find(|c| !c.is_change()) {
        return Err(topology(bad.to_string()));
    }
    println!(
        "lab up in {}: {} streams created",
        dir.display(),
        changes.len()
    );
    println!("  operator config: {}", m.natsdr_config.display());
    println!("  try: natsdr plan --config {}", m.natsdr_config.display());
    Ok(())
}
