//! `natsdr backup`: take a set (once, for a CronJob), list, verify, restore and drill.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};

use super::check_config::usage_error;
use super::exit;
use crate::backup::{BackupError, Catalog, Drill, Manifest, Restorer, Taker, Target, Verifier};
use crate::config::{Backup, Config, RegionConfig};
use crate::model::Region;
use crate::nats::{Auth, ConnectSpec, JsApi, RegionClients};

/// Per JetStream API request.
const API_TIMEOUT: Duration = Duration::from_secs(5);

/// `natsdr backup ...`.
#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Take one set now (snapshot every configured stream to the target, write the manifest,
    /// apply retention), for a CronJob. Exit 1 naming the stream or object when it fails: the
    /// partial set is removed and never lists as complete.
    Run {
        #[command(flatten)]
        common: Common,
    },
    /// List the sets on the target, oldest first; incomplete or unreadable ones say why.
    List {
        #[command(flatten)]
        common: Common,
    },
    /// Read every object of a set (default: the newest) back and compare its size and SHA-256
    /// with the manifest. Exit 1 naming each missing or corrupted object.
    Verify {
        #[command(flatten)]
        common: Common,
        /// The set (default: the newest complete one).
        #[arg(long)]
        set: Option<String>,
    },
    /// Restore a set (or one stream of it) into a region, writable (a mirror's snapshot comes
    /// back with its source's subjects). Verifies the objects first; refuses to overwrite an
    /// existing stream unless --replace; a failure part-way names what was restored.
    Restore {
        #[command(flatten)]
        common: Common,
        /// The set (default: the newest complete one).
        #[arg(long)]
        set: Option<String>,
        /// Only this stream (its configured or its snapshotted name).
        #[arg(long)]
        stream: Option<String>,
        /// The region to restore into (one of the config's).
        #[arg(long)]
        region: String,
        /// Delete and restore streams that exist.
        #[arg(long, alias = "force")]
        replace: bool,
        /// Restore with this many replicas instead of the snapshot's.
        #[arg(long)]
        replicas: Option<u8>,
    },
    /// Restore a set (default: the newest) into a scratch NATS server and compare message
    /// counts, first/last sequences, sampled message hashes and consumers with the manifest.
    /// Exit 0 when every stream matches, 1 otherwise.
    Drill {
        #[command(flatten)]
        common: Common,
        /// The set (default: the newest complete one).
        #[arg(long)]
        set: Option<String>,
        /// The scratch server, e.g. nats://user:password@scratch:4222 (JetStream enabled).
        #[arg(long)]
        url: String,
        /// Keep the restored streams on the scratch server.
        #[arg(long)]
        keep: bool,
        /// Replace streams already on the scratch server (from an earlier kept drill).
        #[arg(long)]
        replace: bool,
    },
}

/// Arguments every backup command takes.
#[derive(Debug, Args)]
pub struct Common {
    /// The config file (its `[backup]` section names the target).
    #[arg(long, env = "NATSDR_CONFIG")]
    config: PathBuf,
}

/// Runs a backup command; returns the exit code.
pub fn run(command: BackupCommand) -> u8 {
    let common = match &command {
        BackupCommand::Run { common }
        | BackupCommand::List { common }
        | BackupCommand::Verify { common, .. }
        | BackupCommand::Restore { common, .. }
        | BackupCommand::Drill { common, .. } => common,
    };
    let (cfg, backup) = match load(&common.config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    rt.block_on(async {
        let target = Target::open(&backup.target).await;
        let result = match command {
            BackupCommand::Run { .. } => take(&cfg, &backup, &target).await,
            BackupCommand::List { .. } => list(&target).await,
            BackupCommand::Verify { set, .. } => verify(&target, set.as_deref()).await,
            BackupCommand::Restore {
                set,
                stream,
                region,
                replace,
                replicas,
                ..
            } => {
                restore(
                    &cfg,
                    &target,
                    set.as_deref(),
                    stream.as_deref(),
                    &region,
                    replace,
                    replicas,
                )
                .await
            }
            BackupCommand::Drill {
                set,
                url,
                keep,
                replace,
                ..
            } => drill(&target, set.as_deref(), &url, keep, replace).await,
        };
        match result {
            Ok(code) => code,
            Err(Failure::Usage(msg)) => {
                eprintln!("natsdr backup: {msg}");
                exit::USAGE
            }
            Err(Failure::Backup(e)) => {
                eprintln!("natsdr backup: {}", crate::error_chain(&e));
                exit::FAILURE
            }
        }
    })
}

enum Failure {
    Usage(String),
    Backup(BackupError),
}

impl From<BackupError> for Failure {
    fn from(e: BackupError) -> Self {
        Self::Backup(e)
    }
}

fn load(path: &Path) -> Result<(Config, Backup), u8> {
    let cfg = Config::load(path).map_err(|e| usage_error(path, &e))?;
    let Some(backup) = cfg.backup.clone() else {
        eprintln!(
            "natsdr: config error in {}: backup: missing: add a [backup] section naming the target",
            path.display()
        );
        return Err(exit::USAGE);
    };
    Ok((cfg, backup))
}

async fn region_js(region: &RegionConfig) -> Result<JsApi, BackupError> {
    RegionClients::for_region(region, "natsdr-backup", API_TIMEOUT)
        .await
        .map(|c| c.js)
        .map_err(|source| BackupError::Connect {
            what: region.name.to_string(),
            source,
        })
}

async fn take(cfg: &Config, backup: &Backup, target: &Target) -> Result<u8, Failure> {
    let mut regions = BTreeMap::new();
    for item in &backup.items {
        if let (false, Some(r)) = (
            regions.contains_key(&item.snapshot_region),
            cfg.region(&item.snapshot_region),
        ) {
            regions.insert(r.name.clone(), region_js(r).await?);
        }
    }
    let started = tokio::time::Instant::now();
    let manifest = Taker {
        backup,
        regions: &regions,
        target,
        taken_by: &cfg.watchdog.id,
    }
    .take(time::OffsetDateTime::now_utc())
    .await?;
    let bytes: u64 = manifest.streams.iter().map(|s| s.bytes).sum();
    println!(
        "backup set {} complete: {} streams, {} bytes, {:.1} s, in {}",
        manifest.set,
        manifest.streams.len(),
        bytes,
        started.elapsed().as_secs_f64(),
        target.describe()
    );
    Ok(exit::OK)
}

async fn list(target: &Target) -> Result<u8, Failure> {
    let sets = Catalog { target }.list().await?;
    if sets.is_empty() {
        println!("no sets in {}", target.describe());
    }
    for l in sets {
        match l.manifest {
            Ok(m) => println!("{}  {}", l.set, summary(&m)),
            Err(BackupError::SetNotFound { .. }) => {
                println!(
                    "{}  incomplete (no manifest: failed or still running)",
                    l.set
                );
            }
            Err(e) => println!("{}  unusable: {}", l.set, crate::error_chain(&e)),
        }
    }
    Ok(exit::OK)
}

fn summary(m: &Manifest) -> String {
    let messages: u64 = m.streams.iter().map(|s| s.messages).sum();
    let bytes: u64 = m.streams.iter().map(|s| s.bytes).sum();
    format!(
        "{} streams, {messages} messages, {bytes} bytes, epoch {}, by {} at {}",
        m.streams.len(),
        m.epoch,
        m.taken_by,
        m.finished_at
    )
}

async fn verify(target: &Target, set: Option<&str>) -> Result<u8, Failure> {
    let manifest = Catalog { target }.pick(set).await?;
    let checks = Verifier { target }.verify(&manifest).await?;
    let mut bad = 0;
    for c in &checks {
        match &c.problem {
            None => println!("ok      {}", c.object),
            Some(p) => {
                bad += 1;
                println!("FAILED  {}: {}", c.object, crate::error_chain(p));
            }
        }
    }
    if bad == 0 {
        println!(
            "set {} verified: {} objects intact",
            manifest.set,
            checks.len()
        );
        Ok(exit::OK)
    } else {
        eprintln!(
            "natsdr backup: set {} failed verification: {bad} of {} objects missing or corrupted",
            manifest.set,
            checks.len()
        );
        Ok(exit::FAILURE)
    }
}

async fn restore(
    cfg: &Config,
    target: &Target,
    set: Option<&str>,
    stream: Option<&str>,
    region: &str,
    replace: bool,
    replicas: Option<u8>,
) -> Result<u8, Failure> {
    let region = Region::new(region)
        .ok()
        .and_then(|r| cfg.region(&r))
        .ok_or_else(|| {
            Failure::Usage(format!(
                "--region {region}: not one of the config's regions"
            ))
        })?;
    let manifest = Catalog { target }.pick(set).await?;
    let entries = Restorer::select(&manifest, stream)?;
    let js = region_js(region).await?;
    let restored = Restorer {
        target,
        js: &js,
        replace,
        replicas,
    }
    .restore(&manifest, &entries)
    .await?;
    for info in &restored {
        println!(
            "restored {} in {}: {} messages, sequences {}..{}",
            info.config.name(),
            region.name,
            info.state.messages,
            info.state.first_seq,
            info.state.last_seq
        );
    }
    println!(
        "set {} restored into {}: {} streams",
        manifest.set,
        region.name,
        restored.len()
    );
    Ok(exit::OK)
}

/// `nats://user:password@host:port` as a URL without credentials and the credentials (the
/// connection layer authenticates from its spec, not from the URL).
fn split_credentials(url: &str) -> (String, Auth) {
    let (scheme, rest) = url.split_once("://").unwrap_or(("nats", url));
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            (
                format!("{scheme}://{host}"),
                Auth::UserPassword {
                    user: user.to_owned(),
                    password: crate::config::Secret::new(password),
                },
            )
        }
        None => (url.to_owned(), Auth::None),
    }
}

async fn drill(
    target: &Target,
    set: Option<&str>,
    url: &str,
    keep: bool,
    replace: bool,
) -> Result<u8, Failure> {
    let manifest = Catalog { target }.pick(set).await?;
    let (url, auth) = split_credentials(url);
    let spec = ConnectSpec::new("natsdr-drill", vec![url], auth);
    let client = crate::nats::connect(&spec)
        .await
        .map_err(|source| BackupError::Connect {
            what: "the scratch server".into(),
            source,
        })?;
    let js = JsApi::new(client, API_TIMEOUT);
    let checks = Drill {
        target,
        js: &js,
        keep,
        replace,
    }
    .run(&manifest)
    .await?;
    let failed = checks.iter().filter(|c| !c.problems.is_empty()).count();
    for c in &checks {
        if c.problems.is_empty() {
            println!("pass  {} ({} sampled messages match)", c.stream, c.samples);
        } else {
            println!("FAIL  {}: {}", c.stream, c.problems.join("; "));
        }
    }
    if failed == 0 {
        println!(
            "drill passed: set {} restored and matches its manifest ({} streams)",
            manifest.set,
            checks.len()
        );
        Ok(exit::OK)
    } else {
        eprintln!(
            "natsdr backup: drill failed: {failed} of {} streams differ from set {}",
            checks.len(),
            manifest.set
        );
        Ok(exit::FAILURE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_a_scratch_url_become_the_connections_user_and_password() {
        let (url, auth) = split_credentials("nats://app:s3cr@t@127.0.0.1:4222");
        assert_eq!(url, "nats://127.0.0.1:4222");
        assert_eq!(
            auth,
            Auth::UserPassword {
                user: "app".into(),
                password: crate::config::Secret::new("s3cr@t")
            }
        );
        let (url, auth) = split_credentials("nats://127.0.0.1:4222");
        assert_eq!((url.as_str(), auth), ("nats://127.0.0.1:4222", Auth::None));
    }
}
