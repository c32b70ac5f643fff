//! `natsdr-lab lab`: a real two-region NATS deployment on this machine, for trying natsdr out.
use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::exit;
use crate::lab::{
    Lab, LabError, LabOptions, LabSource, LabTarget, NetPath, WanProfile, update_fault,
};

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
        /// The latency between the regions and the witness, under every fault: `lan` (none),
        /// `transatlantic` (45 ms each way, +-5 ms) or `far` (100 ms each way, +-15 ms). Not
        /// applied to the client entry points.
        #[arg(long, value_enum, default_value_t = WanProfile::Lan)]
        wan: WanProfile,
        /// Watchdog configs with HTTPS and mutual TLS between the watchdogs, on a CA and
        /// certificates the lab makes in DIR/tls (the operator's client certificate included).
        #[arg(long)]
        tls: bool,
        /// A natsdr config whose regions (names, domains, cluster sizes up to 3 nodes), policy
        /// and topology (streams, mirrors, KV buckets) the lab runs instead of the reference
        /// topology; its addresses, DNS zone and secrets are replaced by the lab's, and sizes
        /// too large for a lab are scaled down (each change is printed).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Show which lab processes are alive, the network profile, and each path's baseline and
    /// fault.
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
    /// SIGKILL a node (`us-east-1-0`, `us:0`) or every node of a region (`us`, `eu-central-1`).
    Kill {
        /// The node or region.
        target: LabTarget,
        /// The lab's directory.
        #[arg(long, default_value = ".lab")]
        dir: PathBuf,
    },
    /// Start a killed node or region again (same config and store) and wait until it is ready.
    Restart {
        /// The node or region.
        target: LabTarget,
        /// The lab's directory.
        #[arg(long, default_value = ".lab")]
        dir: PathBuf,
    },
    /// Blackhole a network path (nothing forwarded, nothing closed) until `heal`. Paths: leaf,
    /// client-us, client-eu, wd:<us|eu|witness>-><region>, peer:<site>-><site>.
    Cut {
        /// The path.
        path: NetPath,
        /// The lab's directory.
        #[arg(long, default_value = ".lab")]
        dir: PathBuf,
    },
    /// Slow a network path down, on top of its profile baseline, until `heal`.
    Slow {
        /// The path.
        path: NetPath,
        /// Added one-way delay, ms.
        #[arg(long)]
        ms: u64,
        /// Each chunk's added delay varies within +-this many ms (bytes never reorder).
        #[arg(long, default_value_t = 0)]
        jitter_ms: u64,
        /// Percent of chunks held one extra retransmission timeout (200 ms), as after a loss.
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
        loss_pct: u8,
        /// Bandwidth cap in kbit/s shared by the path's connections (0: none).
        #[arg(long, default_value_t = 0)]
        bandwidth_kbps: u64,
        /// The lab's directory.
        #[arg(long, default_value = ".lab")]
        dir: PathBuf,
    },
    /// Remove a path's cut or slowdown: it returns to its profile baseline.
    Heal {
        /// The path.
        path: NetPath,
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
            LabCommand::Up {
                dir,
                wan,
                tls,
                config,
            } => up(&dir, wan, tls, config.as_deref()).await,
            LabCommand::Status { dir } => Lab::status(&dir).map(|s| print!("{s}")).map_err(failed),
            LabCommand::Down { dir } => Lab::down(&dir).await.map_err(failed),
            LabCommand::Kill { target, dir } => {
                let mut lab = Lab::open(&dir).map_err(failed)?;
                lab.kill(target).await.map_err(failed)?;
                println!("{target} killed");
                Ok(())
            }
            LabCommand::Restart { target, dir } => {
                let mut lab = Lab::open(&dir).map_err(failed)?;
                lab.restart(target).await.map_err(failed)?;
                println!("{target} running again");
                Ok(())
            }
            LabCommand::Cut { path, dir } => {
                let lab = Lab::open(&dir).map_err(failed)?;
                lab.cut(path).await.map_err(failed)?;
                println!("{path} cut");
                Ok(())
            }
            LabCommand::Slow {
                path,
                ms,
                jitter_ms,
                loss_pct,
                bandwidth_kbps,
                dir,
            } => {
                Lab::open(&dir).map_err(failed)?;
                update_fault(&dir, &[path], |f| {
                    f.latency_ms = ms;
                    f.jitter_ms = jitter_ms;
                    f.loss_pct = loss_pct;
                    f.bandwidth_kbps = bandwidth_kbps;
                })
                .await
                .map_err(failed)?;
                println!("{path} slowed: {}", describe(&dir, path));
                Ok(())
            }
            LabCommand::Heal { path, dir } => {
                let lab = Lab::open(&dir).map_err(failed)?;
                lab.heal(path).await.map_err(failed)?;
                println!("{path} healed: {}", describe(&dir, path));
                Ok(())
            }
            LabCommand::Netd { dir } => {
                natsdr::telemetry::logging::init(natsdr::telemetry::logging::LogFormat::Pretty);
                crate::lab::netd::run(&dir)
                    .await
                    .map_err(|e| (natsdr::error_chain(&e), exit::FAILURE))
            }
        }
    });
    match result {
        Ok(()) => exit::OK,
        Err((message, code)) => {
            eprintln!("natsdr-lab lab: {message}");
            code
        }
    }
}

/// The lab's source config, refused with exit 64 (naming the key) when natsdr would refuse it.
pub(super) fn source(path: &Path) -> Result<LabSource, (String, u8)> {
    let usage = |e: String| (e, exit::USAGE);
    natsdr::config::load_raw(path).map_err(|e| usage(natsdr::error_chain(&e)))?;
    LabSource::load(path).map_err(|e| usage(natsdr::error_chain(&e)))
}

fn failed(e: LabError) -> (String, u8) {
    let code = if matches!(e, LabError::NatsServerMissing(_)) {
        exit::UNAVAILABLE
    } else {
        exit::FAILURE
    };
    (natsdr::error_chain(&e), code)
}

/// The path's baseline and fault as `status` shows them, for the confirmation line.
fn describe(dir: &Path, path: NetPath) -> String {
    Lab::status(dir)
        .ok()
        .and_then(|s| s.paths.into_iter().find(|p| p.path == path))
        .map_or_else(String::new, |p| {
            format!("baseline {}, fault {}", p.baseline, p.fault)
        })
}

async fn up(
    dir: &Path,
    wan: WanProfile,
    tls: bool,
    config: Option<&Path>,
) -> Result<(), (String, u8)> {
    let mut opts = LabOptions::new(dir).map_err(failed)?;
    opts.wan = wan;
    opts.tls = tls;
    opts.source = config.map(source).transpose()?;
    for line in opts.source.iter().flat_map(|s| &s.adjustments) {
        println!("  from {}: {line}", config.unwrap_or(dir).display());
    }
    let lab = Lab::up(opts).await.map_err(failed)?;
    let m = lab.detach();
    let topology = |e: String| {
        (
            format!("lab is up, but applying its topology failed: {e}"),
            exit::FAILURE,
        )
    };
    let cfg =
        natsdr::config::Config::load(&m.natsdr_config).map_err(|e| topology(e.to_string()))?;
    let changes = natsdr::topology::apply_config(&cfg)
        .await
        .map_err(topology)?;
    if let Some(bad) = changes.iter().find(|c| !c.is_change()) {
        return Err(topology(bad.to_string()));
    }
    println!(
        "lab up in {} ({wan} network): {} streams created",
        dir.display(),
        changes.len()
    );
    println!("  operator config: {}", m.natsdr_config.display());
    println!("  try: natsdr plan --config {}", m.natsdr_config.display());
    Ok(())
}
