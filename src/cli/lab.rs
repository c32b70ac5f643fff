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
    let result = rt.block_on(async {
        match cmd {
            LabCommand::Up { dir } => up(&dir).await,
            LabCommand::Status { dir } => Lab::status(&dir).map(|s| print!("{s}")),
            LabCommand::Down { dir } => Lab::down(&dir).await,
            LabCommand::Netd { dir } => {
                crate::telemetry::logging::init(crate::telemetry::logging::LogFormat::Pretty);
                return crate::lab::netd::run(&dir).await.map_err(|e| {
                    eprintln!("natsdr lab netd: {}", crate::error_chain(&e));
                    exit::FAILURE
                });
            }
        }
        .map_err(|e| {
            eprintln!("natsdr lab: {}", crate::error_chain(&e));
            if matches!(e, LabError::NatsServerMissing(_)) {
                exit::UNAVAILABLE
            } else {
                exit::FAILURE
            }
        })
    });
    match result {
        Ok(()) => exit::OK,
        Err(code) => code,
    }
}

async fn up(dir: &Path) -> Result<(), LabError> {
    let lab = Lab::up(LabOptions::new(dir)?).await?;
    let m = lab.detach();
    println!("lab up in {}", dir.display());
    println!("  operator config: {}", m.natsdr_config.display());
    println!("  try: natsdr plan --config {}", m.natsdr_config.display());
    Ok(())
}
