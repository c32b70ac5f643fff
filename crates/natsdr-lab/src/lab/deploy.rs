//! `Lab`: starts, faults and stops a real two-region NATS deployment on one machine.
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::bind::{BindError, BindServer, ZoneSpec};
use super::faults::{Faults, PathFault};
use super::json_file::JsonFileError;
use super::manifest::{
    CertFiles, Credentials, DnsInfo, LabManifest, LabTls, NodeInfo, ProcessInfo, RegionInfo, Route,
    WatchdogInfo,
};
use super::names::{LabRegion, LabTarget, NetPath, Site};
use super::natsdr_conf::{self, Secrets, View};
use super::source::LabSource;
use super::wan::WanProfile;
use super::{nats_conf, netd, process};

/// Nodes per region: the smallest cluster that survives one loss.
pub const NODES_PER_REGION: usize = 3;
/// How long `cut`/`heal`/`slow` wait for netd to put a change in force.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// Grace between SIGTERM and SIGKILL in `down`.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Why a lab operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// No nats-server binary where the lab looks for one.
    #[error(
        "nats-server not found at {0} (run `make deps`, or set NATSDR_NATS_SERVER to a nats-server binary)"
    )]
    NatsServerMissing(PathBuf),
    /// The natsdr or natsdr-lab binary is not where the lab looks for it.
    #[error(
        "{0} not found (build the workspace's binaries: `cargo build --bins`, or set NATSDR_EXE / NATSDR_LAB_EXE)"
    )]
    BinaryMissing(PathBuf),
    /// The lab directory already holds a running lab.
    #[error("a lab is already running in {0} (`natsdr-lab lab down --dir {0}` first)")]
    AlreadyRunning(PathBuf),
    /// A file or directory of the lab could not be created or read.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying failure.
        #[source]
        source: std::io::Error,
    },
    /// Free ports could not be reserved.
    #[error("cannot reserve free ports on {0}")]
    Ports(Ipv4Addr, #[source] std::io::Error),
    /// A process could not be started.
    #[error("cannot start {name} ({program})")]
    Spawn {
        /// Which lab process.
        name: String,
        /// The program.
        program: PathBuf,
        /// The underlying failure.
        #[source]
        source: std::io::Error,
    },
    /// The manifest or the fault table could not be read or written.
    #[error(transparent)]
    File(#[from] JsonFileError),
    /// netd did not start, or did not acknowledge a fault change in time.
    #[error("netd did not {what} within {timeout:?} (see {log}): {last_lines}")]
    Netd {
        /// What was awaited.
        what: &'static str,
        /// How long.
        timeout: Duration,
        /// netd's log.
        log: PathBuf,
        /// The end of netd's log, usually the reason.
        last_lines: String,
    },
    /// The nodes did not become ready in time.
    #[error("{what} not ready within {timeout:?} (logs in {logs}){seen}")]
    NotReady {
        /// What was awaited.
        what: String,
        /// How long.
        timeout: Duration,
        /// The log directory.
        logs: PathBuf,
        /// What the last look at the nodes saw (`; seen: ...`), when the wait knows how to say.
        seen: String,
    },
    /// The lab's BIND could not be started.
    #[error("cannot start the lab's DNS server (BIND)")]
    Dns(#[source] BindError),
    /// The task starting BIND panicked.
    #[error("starting the lab's DNS server panicked")]
    DnsPanicked(#[source] tokio::task::JoinError),
    /// A node exited while the lab waited for it.
    #[error("{node} {how}; the end of its log ({log}):\n{last_lines}")]
    NodeDied {
        /// The node.
        node: String,
        /// How it ended (`exited with status 1`, `was killed by signal 9`), as far as known.
        how: String,
        /// Its log.
        log: PathBuf,
        /// The end of its log, usually the reason.
        last_lines: String,
    },
    /// A region has no node with that index.
    #[error("{region} has no node {index} (nodes are 0..{NODES_PER_REGION})")]
    NoSuchNode {
        /// The region.
        region: LabRegion,
        /// The refused index.
        index: usize,
    },
    /// Processes survived SIGKILL (this should not happen; look for them by pid).
    /// The lab's own natsdr config does not load (a bug in the lab's config writer).
    #[error("the lab's natsdr config does not load")]
    Config(#[source] natsdr::config::ConfigError),
    /// Processes survived SIGKILL.
    #[error("lab processes still running after SIGKILL: {0:?}")]
    StillRunning(Vec<(String, u32)>),
}

/// How to start a lab.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// Where everything goes: configs, JetStream stores, logs, secrets, `lab.json`.
    pub dir: PathBuf,
    /// The nats-server binary (see [`find_nats_server`]).
    pub nats_server: PathBuf,
    /// The natsdr binary the lab's watchdogs and operator commands run (see [`find_natsdr`]).
    pub natsdr_exe: PathBuf,
    /// The natsdr-lab binary whose hidden `lab netd --dir DIR` subcommand runs the proxy daemon
    /// (see [`find_lab_exe`]).
    pub lab_exe: PathBuf,
    /// When set (tests), the whole lab is killed as soon as this process is gone, even if it was
    /// SIGKILLed. `None` (the CLI): the lab lives until `down`.
    pub owner_pid: Option<u32>,
    /// How long `up` and restarts wait for JetStream meta leaders and leafnodes.
    pub ready_timeout: Duration,
    /// The latency between the lab's places (regions, witness): a baseline under every fault.
    pub wan: WanProfile,
    /// Watchdog APIs and peer fetches over HTTPS with mutual TLS, on certificates of a CA the lab
    /// makes (`DIR/tls/`); `false`: plain HTTP, as the lab's peers talk through loopback.
    pub tls: bool,
    /// The operator's config whose regions, policy and topology the lab runs (see
    /// [`LabSource`]); `None`: the two-region reference topology.
    pub source: Option<LabSource>,
}

impl LabOptions {
    /// Options for a lab in `dir` with the default nats-server, natsdr and natsdr-lab binaries,
    /// no owner and a 60 s readiness timeout.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, LabError> {
        Ok(Self {
            dir: dir.into(),
            nats_server: find_nats_server()?,
            natsdr_exe: find_natsdr()?,
            lab_exe: find_lab_exe()?,
            owner_pid: None,
            ready_timeout: Duration::from_secs(60),
            wan: WanProfile::Lan,
            tls: false,
            source: None,
        })
    }
}

/// The nats-server binary: `$NATSDR_NATS_SERVER`, else `<repo>/.tools/nats-server-default/nats-server`
/// (installed by `make deps`). A missing binary is an error, never a reason to skip.
pub fn find_nats_server() -> Result<PathBuf, LabError> {
    tools_nats_server("NATSDR_NATS_SERVER", "nats-server-default")
}

/// `$var` when set and not empty, else `<repo>/.tools/<dir>/nats-server`; it must be a file.
fn tools_nats_server(var: &str, dir: &str) -> Result<PathBuf, LabError> {
    let path = match std::env::var_os(var) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => crate::repo_root()
            .join(".tools")
            .join(dir)
            .join("nats-server"),
    };
    existing(path, LabError::NatsServerMissing)
}

/// How a lab's nodes stand while it waits for them.
enum Nodes {
    /// One died: it never gets ready, so the wait stops and the caller reports it.
    Dead,
    /// One is not ready yet.
    Waiting,
    /// Every one is ready.
    Ready,
}

/// Checks the nodes in order: the first dead one, or the first not `ready`, decides.
async fn nodes_ready<F, Fut>(nodes: &[NodeInfo], dir: &Path, ready: F) -> Nodes
where
    F: Fn(&NodeInfo) -> Fut,
    Fut: Future<Output = bool>,
{
    for n in nodes {
        if !n.pid.is_some_and(|p| process::belongs_to(p, dir)) {
            return Nodes::Dead;
        }
        if !ready(n).await {
            return Nodes::Waiting;
        }
    }
    Nodes::Ready
}

/// The natsdr binary: `$NATSDR_EXE`, else `natsdr` beside this executable (cargo builds every
/// binary of the workspace into one directory; a test binary sits one level below, in `deps/`).
pub fn find_natsdr() -> Result<PathBuf, LabError> {
    sibling_exe("NATSDR_EXE", "natsdr")
}

/// The natsdr-lab binary (it runs netd): `$NATSDR_LAB_EXE`, else this executable when it is
/// natsdr-lab, else `natsdr-lab` beside it (as for [`find_natsdr`]).
pub fn find_lab_exe() -> Result<PathBuf, LabError> {
    let me = current_exe()?;
    if std::env::var_os("NATSDR_LAB_EXE").is_none()
        && me.file_name().is_some_and(|n| n == "natsdr-lab")
    {
        return Ok(me);
    }
    sibling_exe("NATSDR_LAB_EXE", "natsdr-lab")
}

/// `$var` when set, else `name` in this executable's directory (or its parent, for a test binary
/// in `deps/`). A missing binary is an error naming where it was looked for.
fn sibling_exe(var: &str, name: &str) -> Result<PathBuf, LabError> {
    if let Some(p) = std::env::var_os(var).filter(|p| !p.is_empty()) {
        return existing(PathBuf::from(p), LabError::BinaryMissing);
    }
    let me = current_exe()?;
    let mut dir = me.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    existing(dir.join(name), LabError::BinaryMissing)
}

/// This executable's path.
fn current_exe() -> Result<PathBuf, LabError> {
    std::env::current_exe().map_err(|source| LabError::Io {
        path: PathBuf::from("/proc/self/exe"),
        source,
    })
}

/// `path` when it is a file, else the error `missing` makes of it.
fn existing(path: PathBuf, missing: fn(PathBuf) -> LabError) -> Result<PathBuf, LabError> {
    if path.is_file() {
        Ok(path)
    } else {
        Err(missing(path))
    }
}

/// The compatibility nats-server (2.10.26, which cannot promote a mirror in place):
/// `$NATSDR_NATS_SERVER_COMPAT`, else `<repo>/.tools/nats-server-2.10.26/nats-server` (installed
/// by `make deps`). A missing binary is an error, never a reason to skip.
pub fn find_compat_nats_server() -> Result<PathBuf, LabError> {
    tools_nats_server("NATSDR_NATS_SERVER_COMPAT", "nats-server-2.10.26")
}

/// A running lab. Dropping it kills every process it started (so a panicking test leaves nothing
/// behind) unless it was [`detach`](Lab::detach)ed.
#[derive(Debug)]
pub struct Lab {
    manifest: LabManifest,
    children: BTreeMap<String, Child>,
    ready_timeout: Duration,
    detached: bool,
}

impl Lab {
    /// Starts both regions and netd, writes `DIR/lab.json` and the natsdr configs, and returns
    /// once both regions have a whole JetStream meta group (a leader with every peer current) and every EU node's leafnode is connected.
    /// Creates no streams.
    pub async fn up(opts: LabOptions) -> Result<Self, LabError> {
        if !opts.nats_server.is_file() {
            return Err(LabError::NatsServerMissing(opts.nats_server));
        }
        let dir = prepare_dir(&opts.dir)?;
        let port_lock = PortLock::acquire().await?;
        let mut reserved = Reservations::load();
        let manifest = plan(&dir, &opts, &reserved.in_use())?;
        reserved.record(&manifest);
        write_files(&manifest)?;
        // The profile is in the table before netd starts, so no connection ever skips it.
        Faults {
            wan: opts.wan,
            ..Faults::default()
        }
        .save(&dir)?;

        let mut lab = Self {
            manifest,
            children: BTreeMap::new(),
            ready_timeout: opts.ready_timeout,
            detached: false,
        };
        lab.start_netd(&opts.lab_exe).await?;
        for region in LabRegion::ALL {
            for i in 0..lab.manifest.region(region).nodes.len() {
                lab.spawn_node(region, i)?;
            }
        }
        lab.manifest.save()?;
        lab.wait_listening().await?;
        drop(port_lock);
        // NB: named starts while the clusters elect their meta leaders.
        lab.start_dns().await?;
        for region in LabRegion::ALL {
            lab.wait_region_ready(region).await?;
        }
        Ok(lab)
    }

    /// Takes control of the running lab in `dir`, e.g. one started by `natsdr-lab lab up`, to inject
    /// faults from another process. Dropping the handle leaves the lab running.
    pub fn open(dir: &Path) -> Result<Self, LabError> {
        Ok(Self {
            manifest: LabManifest::load(dir)?,
            children: BTreeMap::new(),
            ready_timeout: Duration::from_secs(60),
            detached: true,
        })
    }

    /// The lab's network profile (from its fault table).
    pub fn wan(&self) -> Result<WanProfile, LabError> {
        Ok(Faults::load(&self.manifest.dir)?.wan)
    }

    /// The lab's description (what `lab.json` holds).
    pub fn manifest(&self) -> &LabManifest {
        &self.manifest
    }

    /// Makes every natsdr config of this lab carry `n` generated US streams, each mirrored in
    /// EU, on top of the example topology (for measuring a watchdog at scale). Rewrites the
    /// configs only: apply them (`natsdr apply`) and (re)start the watchdogs afterwards.
    pub fn carry_streams(&mut self, n: usize) -> Result<(), LabError> {
        self.manifest.generated_streams = n;
        write_natsdr_configs(&self.manifest)?;
        self.manifest.save()?;
        Ok(())
    }

    /// The lab directory.
    pub fn dir(&self) -> &Path {
        &self.manifest.dir
    }

    /// Leaves the lab running after this value is gone (for `natsdr-lab lab up`); `down` stops it.
    pub fn detach(mut self) -> LabManifest {
        self.detached = true;
        self.manifest.clone()
    }

    /// Stops this lab and waits until every process is gone.
    pub async fn shutdown(mut self) -> Result<(), LabError> {
        let result = Self::down(&self.manifest.dir).await;
        self.reap_children();
        result
    }

    /// Stops the lab recorded in `dir/lab.json` (from any process): SIGTERM, then SIGKILL after a
    /// grace period; returns once every process is gone. Stopping a stopped lab does nothing.
    pub async fn down(dir: &Path) -> Result<(), LabError> {
        let mut manifest = LabManifest::load(dir)?;
        let procs = manifest.pids();
        let pids: Vec<u32> = procs.iter().map(|(_, p)| *p).collect();
        for pid in &pids {
            process::signal_lab_process(*pid, &manifest.dir, Signal::SIGTERM);
        }
        let mut left = process::wait_gone(&pids, STOP_GRACE).await;
        for pid in &left {
            process::signal_lab_process(*pid, &manifest.dir, Signal::SIGKILL);
        }
        left = process::wait_gone(&left, STOP_GRACE).await;
        if !left.is_empty() {
            return Err(LabError::StillRunning(
                procs
                    .into_iter()
                    .filter(|(_, p)| left.contains(p))
                    .collect(),
            ));
        }
        for node in manifest.regions.iter_mut().flat_map(|r| &mut r.nodes) {
            node.pid = None;
        }
        manifest.netd.pid = None;
        if let Some(dns) = &mut manifest.dns {
            dns.process.pid = None;
        }
        manifest.save()?;
        Ok(())
    }

    /// Which lab processes run and which paths are faulted, for the lab in `dir`.
    pub fn status(dir: &Path) -> Result<LabStatus, LabError> {
        let manifest = LabManifest::load(dir)?;
        let mut processes = Vec::new();
        for r in &manifest.regions {
            for n in &r.nodes {
                processes.push(ProcessStatus::of(n.name.clone(), n.pid, &manifest.dir));
            }
        }
        processes.push(ProcessStatus::of(
            "netd".into(),
            manifest.netd.pid,
            &manifest.dir,
        ));
        if let Some(dns) = &manifest.dns {
            processes.push(ProcessStatus::of(
                "named".into(),
                dns.process.pid,
                &manifest.dir,
            ));
        }
        let faults = Faults::load(&manifest.dir)?;
        let applied = Faults::acknowledged(&manifest.dir) == Some(faults.generation);
        Ok(LabStatus {
            processes,
            wan: faults.wan,
            paths: NetPath::all()
                .into_iter()
                .map(|p| PathStatus {
                    path: p,
                    baseline: faults.wan.baseline(p),
                    fault: faults.get(p),
                })
                .collect(),
            faults: faults.paths,
            faults_applied: applied,
        })
    }

    /// Kills node `index` of `region` with SIGKILL (a crash: no lame duck, no goodbye).
    pub async fn kill_node(&mut self, region: LabRegion, index: usize) -> Result<(), LabError> {
        let name = self.node(region, index)?.name.clone();
        self.kill_nodes(&[name]).await
    }

    /// Starts node `index` of `region` again with the same config and JetStream store, and waits
    /// until it sees a meta leader (and, with the whole region up, a whole meta group). Does nothing to a node that runs.
    pub async fn restart_node(&mut self, region: LabRegion, index: usize) -> Result<(), LabError> {
        let node = self.node(region, index)?.clone();
        if !node
            .pid
            .is_some_and(|p| process::belongs_to(p, &self.manifest.dir))
        {
            self.spawn_node(region, index)?;
            self.manifest.save()?;
        }
        let node = self.node(region, index)?.clone();
        let nodes = self.manifest.region(region).nodes.clone();
        let dir = self.manifest.dir.clone();
        self.wait_until(format!("{} (meta leader)", node.name), || {
            let node = node.clone();
            let nodes = nodes.clone();
            let dir = dir.clone();
            async move {
                if !has_meta_leader(&node).await {
                    return false;
                }
                // With the whole region up again, wait until the meta group is whole too.
                let all_up = nodes
                    .iter()
                    .all(|n| n.pid.is_some_and(|p| process::belongs_to(p, &dir)));
                !all_up || meta_group_whole(&nodes).await
            }
        })
        .await
    }

    /// Kills every node of `region` at once.
    pub async fn kill_region(&mut self, region: LabRegion) -> Result<(), LabError> {
        let names: Vec<String> = self
            .manifest
            .region(region)
            .nodes
            .iter()
            .map(|n| n.name.clone())
            .collect();
        self.kill_nodes(&names).await
    }

    /// Restarts every stopped node of `region` and waits until the region is ready again.
    pub async fn restart_region(&mut self, region: LabRegion) -> Result<(), LabError> {
        for i in 0..self.manifest.region(region).nodes.len() {
            let alive = self
                .node(region, i)?
                .pid
                .is_some_and(|p| process::belongs_to(p, &self.manifest.dir));
            if !alive {
                self.spawn_node(region, i)?;
            }
        }
        self.manifest.save()?;
        self.wait_region_ready(region).await
    }

    /// Blackholes `path`; returns once netd has it in force.
    pub async fn cut(&self, path: NetPath) -> Result<(), LabError> {
        self.cut_all(&[path]).await
    }

    /// Blackholes every one of `paths` at the same instant (one isolation, not a staircase of
    /// cuts); returns once netd has them in force.
    pub async fn cut_all(&self, paths: &[NetPath]) -> Result<(), LabError> {
        update_fault(&self.manifest.dir, paths, |f| f.cut = true).await
    }

    /// Removes every fault from `path`, returning it to its profile baseline (not to zero);
    /// returns once netd has it in force.
    pub async fn heal(&self, path: NetPath) -> Result<(), LabError> {
        self.heal_all(&[path]).await
    }

    /// [`Lab::heal`] of every one of `paths` at the same instant.
    pub async fn heal_all(&self, paths: &[NetPath]) -> Result<(), LabError> {
        update_fault(&self.manifest.dir, paths, |f| *f = PathFault::default()).await
    }

    /// Delays every chunk on `path` by `latency` in each direction on top of its baseline (zero
    /// removes the added delay).
    pub async fn slow(&self, path: NetPath, latency: Duration) -> Result<(), LabError> {
        let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        update_fault(&self.manifest.dir, &[path], |f| f.latency_ms = ms).await
    }

    /// Kills a node or a whole region (SIGKILL).
    pub async fn kill(&mut self, target: LabTarget) -> Result<(), LabError> {
        match target {
            LabTarget::Node(region, index) => self.kill_node(region, index).await,
            LabTarget::Region(region) => self.kill_region(region).await,
        }
    }

    /// Starts a killed node or region again and waits until it is ready.
    pub async fn restart(&mut self, target: LabTarget) -> Result<(), LabError> {
        match target {
            LabTarget::Node(region, index) => self.restart_node(region, index).await,
            LabTarget::Region(region) => self.restart_region(region).await,
        }
    }

    fn node(&self, region: LabRegion, index: usize) -> Result<&NodeInfo, LabError> {
        self.manifest
            .node(region, index)
            .ok_or(LabError::NoSuchNode { region, index })
    }

    fn node_mut(&mut self, region: LabRegion, index: usize) -> Result<&mut NodeInfo, LabError> {
        self.manifest
            .regions
            .iter_mut()
            .find(|r| r.region == region)
            .and_then(|r| r.nodes.get_mut(index))
            .ok_or(LabError::NoSuchNode { region, index })
    }

    async fn start_netd(&mut self, lab_exe: &Path) -> Result<(), LabError> {
        let dir = self.manifest.dir.clone();
        let log = self.manifest.netd.log.clone();
        let args = [
            OsStr::new("lab"),
            OsStr::new("netd"),
            OsStr::new("--dir"),
            dir.as_os_str(),
        ];
        let child =
            process::spawn_detached(lab_exe, &args, &log).map_err(|source| LabError::Spawn {
                name: "netd".into(),
                program: lab_exe.to_owned(),
                source,
            })?;
        let pid = child.id();
        self.manifest.netd.pid = Some(pid);
        self.children.insert("netd".into(), child);
        self.manifest.save()?;
        // NB: stop waiting as soon as netd is gone (e.g. a binary without `lab netd`).
        let ready = wait_for(ACK_TIMEOUT, || {
            let dir = dir.clone();
            async move { Faults::acknowledged(&dir).is_some() || !process::is_alive(pid) }
        })
        .await
            && Faults::acknowledged(&dir).is_some();
        if ready {
            Ok(())
        } else {
            Err(LabError::Netd {
                what: "start",
                timeout: ACK_TIMEOUT,
                last_lines: log_tail(&log),
                log,
            })
        }
    }

    /// Starts BIND with the client record on the US entry point, records it in the manifest and
    /// rewrites the natsdr configs with their `[dns]` section.
    async fn start_dns(&mut self) -> Result<(), LabError> {
        let dir = self.manifest.dir.join("dns");
        std::fs::create_dir_all(&dir).map_err(|source| LabError::Io {
            path: dir.clone(),
            source,
        })?;
        let spec = ZoneSpec {
            client_addr: LabRegion::Us.entry_ip().into(),
            owner_txt: Some(format!(
                "region={} epoch=1",
                self.manifest.region_name(LabRegion::Us)
            )),
            ..ZoneSpec::default()
        };
        let info = {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || BindServer::spawn(&dir, &spec))
                .await
                .map_err(LabError::DnsPanicked)?
                .map_err(LabError::Dns)?
        };
        let key_secret_file = self.manifest.dir.join("secrets").join("tsig-secret");
        write_file(&key_secret_file, &info.key_secret, 0o600)?;
        self.manifest.dns = Some(DnsInfo {
            server: info.addr,
            zone: format!("{}.", info.spec.zone),
            client_record: format!("{}.", info.spec.client_name()),
            owner_record: format!("{}.", info.spec.owner_name()),
            key_name: info.spec.key_name.clone(),
            key_algorithm: "hmac-sha256".into(),
            key_secret_file,
            process: ProcessInfo {
                pid: Some(info.pid),
                log: dir.join("named.log"),
            },
        });
        self.manifest.save()?;
        write_natsdr_configs(&self.manifest)
    }

    fn spawn_node(&mut self, region: LabRegion, index: usize) -> Result<(), LabError> {
        let program = self.manifest.nats_server.clone();
        let node = self.node(region, index)?.clone();
        let args = [OsStr::new("-c"), node.config.as_os_str()];
        let child = process::spawn_detached(&program, &args, &node.log).map_err(|source| {
            LabError::Spawn {
                name: node.name.clone(),
                program,
                source,
            }
        })?;
        self.node_mut(region, index)?.pid = Some(child.id());
        if let Some(mut old) = self.children.insert(node.name, child) {
            // The previous process of this node was killed (or crashed): reap it.
            let _ = old.kill();
            let _ = old.wait();
        }
        Ok(())
    }

    async fn kill_nodes(&mut self, names: &[String]) -> Result<(), LabError> {
        let dir = self.manifest.dir.clone();
        let mut pids = Vec::new();
        for node in self
            .manifest
            .regions
            .iter_mut()
            .flat_map(|r| &mut r.nodes)
            .filter(|n| names.contains(&n.name))
        {
            if let Some(pid) = node.pid.take() {
                process::signal_lab_process(pid, &dir, Signal::SIGKILL);
                pids.push(pid);
            }
        }
        for name in names {
            if let Some(mut child) = self.children.remove(name) {
                let _ = child.wait();
            }
        }
        let left = process::wait_gone(&pids, STOP_GRACE).await;
        self.manifest.save()?;
        if left.is_empty() {
            Ok(())
        } else {
            Err(LabError::StillRunning(
                left.into_iter().map(|p| ("node".to_owned(), p)).collect(),
            ))
        }
    }

    /// Waits until every node accepts clients (the last listener nats-server opens), failing
    /// fast with the log's end when a node died (a port taken after all, a bad config).
    async fn wait_listening(&mut self) -> Result<(), LabError> {
        let nodes: Vec<NodeInfo> = self
            .manifest
            .regions
            .iter()
            .flat_map(|r| r.nodes.clone())
            .collect();
        let dir = self.manifest.dir.clone();
        self.wait_until("every node listening".into(), || {
            let (nodes, dir) = (nodes.clone(), dir.clone());
            async move {
                let listening = |n: &NodeInfo| {
                    let port = n.client_port;
                    async move {
                        let addr = (Ipv4Addr::LOCALHOST, port);
                        tokio::net::TcpStream::connect(addr).await.is_ok()
                    }
                };
                !matches!(nodes_ready(&nodes, &dir, listening).await, Nodes::Waiting)
            }
        })
        .await?;
        self.check_nodes_alive(None)
    }

    /// Fails with how a node ended and the end of its own log if a node of `region` (or any
    /// node) has died.
    fn check_nodes_alive(&mut self, region: Option<LabRegion>) -> Result<(), LabError> {
        let dir = self.manifest.dir.clone();
        let dead = self
            .manifest
            .regions
            .iter()
            .filter(|r| region.is_none_or(|want| r.region == want))
            .flat_map(|r| &r.nodes)
            .find(|n| !n.pid.is_some_and(|p| process::belongs_to(p, &dir)))
            .cloned();
        let Some(n) = dead else {
            return Ok(());
        };
        let how = match self.children.get_mut(&n.name).map(Child::try_wait) {
            Some(Ok(Some(status))) => exit_description(status),
            _ => "is not running".to_owned(),
        };
        Err(LabError::NodeDied {
            how,
            last_lines: log_tail_lines(&n.log, NODE_DIED_LINES),
            log: n.log,
            node: n.name,
        })
    }

    async fn wait_region_ready(&mut self, region: LabRegion) -> Result<(), LabError> {
        let nodes = self.manifest.region(region).nodes.clone();
        let dir = self.manifest.dir.clone();
        let leaf = region == LabRegion::Eu;
        let waited = self.wait_until(
            format!(
                "{region} (meta leader{})",
                if leaf { ", leafnodes" } else { "" }
            ),
            || {
                let (nodes, dir) = (nodes.clone(), dir.clone());
                async move {
                    let ready = |n: &NodeInfo| {
                        let n = n.clone();
                        async move { has_meta_leader(&n).await && (!leaf || has_leafnode(&n).await) }
                    };
                    match nodes_ready(&nodes, &dir, ready).await {
                        Nodes::Dead => true,
                        Nodes::Waiting => false,
                        // A leader alone is not enough: nats-server 2.10 refuses R3 placement
                        // ("no suitable peers") until the leader has every peer current in its
                        // meta group.
                        Nodes::Ready => meta_group_whole(&nodes).await,
                    }
                }
            },
        )
        .await;
        if let Err(LabError::NotReady {
            what,
            timeout,
            logs,
            ..
        }) = waited
        {
            return Err(LabError::NotReady {
                what,
                timeout,
                logs,
                seen: format!("; seen: {}", readiness_report(&nodes).await),
            });
        }
        waited?;
        self.check_nodes_alive(Some(region))
    }

    async fn wait_until<F, Fut>(&self, what: String, check: F) -> Result<(), LabError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        if wait_for(self.ready_timeout, check).await {
            Ok(())
        } else {
            Err(LabError::NotReady {
                what,
                timeout: self.ready_timeout,
                logs: self.manifest.dir.join("logs"),
                seen: String::new(),
            })
        }
    }

    fn reap_children(&mut self) {
        for (_, mut child) in std::mem::take(&mut self.children) {
            let _ = child.kill();
            let _ = child.wait();
        }
        // named runs detached (the BIND runner keeps no child handle): kill it by pid.
        if let Some(pid) = self.manifest.dns.as_ref().and_then(|d| d.process.pid)
            && process::signal_lab_process(pid, &self.manifest.dir, Signal::SIGKILL)
        {
            // NB: a signal is delivered asynchronously; Drop cannot await, so poll briefly.
            let deadline = tokio::time::Instant::now() + STOP_GRACE;
            while process::is_alive(pid) && tokio::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if !self.detached {
            self.reap_children();
        }
    }
}

/// What `status` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabStatus {
    /// Every lab process, nodes first.
    pub processes: Vec<ProcessStatus>,
    /// The network profile the lab was started with.
    pub wan: WanProfile,
    /// Every path with its profile baseline and its fault on top.
    pub paths: Vec<PathStatus>,
    /// The faulted paths (paths carrying their baseline only are not listed).
    pub faults: BTreeMap<NetPath, PathFault>,
    /// True when netd has acknowledged the current fault table.
    pub faults_applied: bool,
}

/// One network path as `status` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathStatus {
    /// Which path.
    pub path: NetPath,
    /// What the network profile puts on it.
    pub baseline: PathFault,
    /// What was injected on top (`lab cut|slow`), healthy when nothing was.
    pub fault: PathFault,
}

/// One lab process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessStatus {
    /// `us-east-1-0`, `netd`, `named`.
    pub name: String,
    /// The recorded pid, if it was started.
    pub pid: Option<u32>,
    /// Whether it runs now.
    pub alive: bool,
}

impl ProcessStatus {
    fn of(name: String, pid: Option<u32>, dir: &Path) -> Self {
        Self {
            name,
            pid,
            alive: pid.is_some_and(|p| process::belongs_to(p, dir)),
        }
    }
}

impl LabStatus {
    /// True when every lab process is gone.
    pub fn all_stopped(&self) -> bool {
        self.processes.iter().all(|p| !p.alive)
    }
}

impl fmt::Display for LabStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.processes {
            let state = if p.alive { "running" } else { "stopped" };
            match p.pid {
                Some(pid) if p.alive => writeln!(f, "{:<16} {state} (pid {pid})", p.name)?,
                _ => writeln!(f, "{:<16} {state}", p.name)?,
            }
        }
        writeln!(
            f,
            "network profile: {} ({} between places)",
            self.wan,
            self.wan.cross_place()
        )?;
        writeln!(f, "{:<26} {:<18} fault", "path", "baseline")?;
        for p in &self.paths {
            writeln!(
                f,
                "{:<26} {:<18} {}",
                p.path.to_string(),
                p.baseline.to_string(),
                p.fault
            )?;
        }
        if !self.faults_applied {
            writeln!(f, "(netd has not applied the latest fault table)")?;
        }
        Ok(())
    }
}

/// Changes the fault on each of `paths` of the lab in `dir` in one table generation (netd puts
/// them in force together, so a fault on several paths starts and ends at one instant) and waits
/// until netd has. Works from any process (read-modify-write of `DIR/faults.json`).
pub async fn update_fault(
    dir: &Path,
    paths: &[NetPath],
    change: impl Fn(&mut PathFault),
) -> Result<(), LabError> {
    let mut faults = Faults::load(dir)?;
    for &path in paths {
        let mut fault = faults.get(path);
        change(&mut fault);
        faults.set(path, fault);
    }
    faults.generation += 1;
    faults.save(dir)?;
    let generation = faults.generation;
    let applied = wait_for(ACK_TIMEOUT, || async move {
        Faults::acknowledged(dir).is_some_and(|g| g >= generation)
    })
    .await;
    if applied {
        Ok(())
    } else {
        let log = netd::log_path(dir);
        Err(LabError::Netd {
            what: "apply a fault change",
            timeout: ACK_TIMEOUT,
            last_lines: log_tail(&log),
            log,
        })
    }
}

/// The last lines of a log file, for one-line error messages.
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(3)..].join(" | ")
}

/// Lines of a dead node's own log shown when `up` or a restart fails.
const NODE_DIED_LINES: usize = 15;

/// The last `n` lines of a log file, indented, or a sentence saying it holds nothing (a process
/// killed before it wrote anything).
fn log_tail_lines(log: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return "  (the log is empty)".to_owned();
    }
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `exited with status 1`, `was killed by signal 9 (SIGKILL)`.
fn exit_description(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => match Signal::try_from(sig) {
            Ok(name) => format!("was killed by signal {sig} ({name})"),
            Err(_) => format!("was killed by signal {sig}"),
        },
        (None, None) => "ended".to_owned(),
    }
}

/// Polls `check` every 50 ms until it holds or `timeout` passes.
async fn wait_for<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn monitor_json(node: &NodeInfo, endpoint: &str) -> Option<serde_json::Value> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .ok()?;
    client
        .get(format!("{}/{endpoint}", node.monitor_url))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
}

/// Each node's meta leader, leafnode count and, on the leader, its replicas' flags: what a
/// region that never got ready looked like, for the error.
async fn readiness_report(nodes: &[NodeInfo]) -> String {
    let mut parts = Vec::new();
    for n in nodes {
        let jsz = monitor_json(n, "jsz").await;
        let leafs = monitor_json(n, "leafz")
            .await
            .and_then(|v| v.get("leafnodes").and_then(serde_json::Value::as_u64));
        let meta = jsz.as_ref().and_then(|v| v.get("meta_cluster"));
        let leader = meta
            .and_then(|m| m.get("leader"))
            .and_then(serde_json::Value::as_str)
            .unwrap_or("none");
        let replicas = meta
            .and_then(|m| m.get("replicas"))
            .and_then(serde_json::Value::as_array)
            .map(|rs| {
                rs.iter()
                    .map(|r| {
                        format!(
                            "{} current={} offline={}",
                            r.get("name")
                                .and_then(serde_json::Value::as_str)
                                .unwrap_or("?"),
                            r.get("current")
                                .and_then(serde_json::Value::as_bool)
                                .unwrap_or(false),
                            r.get("offline")
                                .and_then(serde_json::Value::as_bool)
                                .unwrap_or(false)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        parts.push(format!(
            "{} (jsz {}, leader {leader}, leafnodes {}{})",
            n.name,
            if jsz.is_some() { "ok" } else { "no answer" },
            leafs.map_or("?".into(), |l| l.to_string()),
            if replicas.is_empty() {
                String::new()
            } else {
                format!(", replicas [{replicas}]")
            }
        ));
    }
    parts.join("; ")
}

async fn has_meta_leader(node: &NodeInfo) -> bool {
    monitor_json(node, "jsz")
        .await
        .and_then(|v| {
            v.pointer("/meta_cluster/leader")
                .and_then(|l| l.as_str())
                .map(|l| !l.is_empty())
        })
        .unwrap_or(false)
}

/// True when one of `nodes` leads the meta group and reports every other node as a current,
/// online member of it.
async fn meta_group_whole(nodes: &[NodeInfo]) -> bool {
    for n in nodes {
        let Some(meta) = monitor_json(n, "jsz")
            .await
            .and_then(|v| v.get("meta_cluster").cloned())
        else {
            continue;
        };
        // Followers list replicas too (each other as not current): only the leader's view counts.
        if meta.get("leader").and_then(serde_json::Value::as_str) != Some(n.name.as_str()) {
            continue;
        }
        let Some(replicas) = meta.get("replicas").and_then(serde_json::Value::as_array) else {
            return false;
        };
        let flag = |r: &serde_json::Value, key: &str| {
            r.get(key)
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false)
        };
        return replicas.len() + 1 >= nodes.len()
            && replicas
                .iter()
                .all(|r| flag(r, "current") && !flag(r, "offline"));
    }
    false
}

async fn has_leafnode(node: &NodeInfo) -> bool {
    monitor_json(node, "leafz")
        .await
        .and_then(|v| v.get("leafnodes").and_then(serde_json::Value::as_u64))
        .unwrap_or(0)
        > 0
}

/// Creates the lab directory and its sub-directories; refuses a directory with a running lab.
fn prepare_dir(dir: &Path) -> Result<PathBuf, LabError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| LabError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let dir = dir.canonicalize().map_err(io(dir))?;
    if let Ok(old) = LabManifest::load(&dir) {
        if old
            .pids()
            .iter()
            .any(|(_, p)| process::belongs_to(*p, &dir))
        {
            return Err(LabError::AlreadyRunning(dir));
        }
        // A stopped lab's stores would hold streams and Raft state of another topology: start
        // afresh. NB: only a directory holding a lab.json is ever wiped, never an arbitrary one.
        for sub in ["nodes", "dns", "logs"] {
            match std::fs::remove_dir_all(dir.join(sub)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io(&dir.join(sub))(e));
                }
                _ => {}
            }
        }
    }
    for sub in ["logs", "secrets", "nodes"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(io(&dir.join(sub)))?;
    }
    // A new lab starts healthy: forget the previous run's faults and acknowledgements.
    for stale in [Faults::path(&dir), Faults::ack_path(&dir)] {
        match std::fs::remove_file(&stale) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&stale)(e)),
            _ => {}
        }
    }
    Ok(dir)
}

/// Where lab ports come from: below the kernel's ephemeral range (32768 and up by default), so no
/// other program's `bind(0)` or outgoing connection takes a port between our reservation and the
/// server's own bind.
const PORT_RANGE: std::ops::Range<u16> = 20000..32000;

/// Free ports, held open until the plan is complete so no two roles get the same one.
struct Ports<'a> {
    held: Vec<TcpListener>,
    next: u16,
    /// Promised to other running labs (e.g. a watchdog API port nobody listens on yet).
    reserved: &'a BTreeSet<u16>,
}

impl<'a> Ports<'a> {
    /// Scans from a random point of [`PORT_RANGE`], so concurrent labs rarely even meet.
    fn new(reserved: &'a BTreeSet<u16>) -> Self {
        use std::hash::{BuildHasher, RandomState};
        let span = u64::from(PORT_RANGE.end - PORT_RANGE.start);
        let offset =
            u16::try_from(RandomState::new().hash_one(std::process::id()) % span).unwrap_or(0);
        Self {
            held: Vec::new(),
            next: PORT_RANGE.start + offset,
            reserved,
        }
    }

    fn take(&mut self, ip: Ipv4Addr) -> Result<u16, LabError> {
        let mut last = None;
        for _ in PORT_RANGE {
            let port = self.next;
            self.next = if port + 1 >= PORT_RANGE.end {
                PORT_RANGE.start
            } else {
                port + 1
            };
            if self.reserved.contains(&port) {
                continue;
            }
            match TcpListener::bind((ip, port)) {
                Ok(l) => {
                    self.held.push(l);
                    return Ok(port);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(LabError::Ports(
            ip,
            last.unwrap_or_else(|| std::io::Error::other("port range exhausted")),
        ))
    }

    /// One port free on every address in `ips` (the entry points share their port).
    fn take_shared(&mut self, ips: &[Ipv4Addr]) -> Result<u16, LabError> {
        let mut last = None;
        for _ in 0..100 {
            let port = self.take(ips[0])?;
            let rest: Result<Vec<TcpListener>, _> = ips[1..]
                .iter()
                .map(|ip| TcpListener::bind((*ip, port)))
                .collect();
            match rest {
                Ok(ls) => {
                    self.held.extend(ls);
                    return Ok(port);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(LabError::Ports(
            ips[1],
            last.unwrap_or_else(|| std::io::Error::other("no shared port")),
        ))
    }
}

/// A machine-wide lock held from choosing ports until every process has bound them, so two labs
/// starting at once (parallel tests) never pick the same free port.
struct PortLock(std::fs::File);

impl PortLock {
    async fn acquire() -> Result<Self, LabError> {
        let path = std::env::temp_dir().join("natsdr-lab-ports.lock");
        let io = |source| LabError::Io {
            path: path.clone(),
            source,
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Self(file)),
                Err(std::fs::TryLockError::WouldBlock) => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
            }
        }
    }
}

impl Drop for PortLock {
    fn drop(&mut self) {
        // NB: closing the file releases the lock too; unlocking first just makes it prompt.
        let _ = self.0.unlock();
    }
}

/// Every port promised to a running lab on this machine, by lab directory, kept in a file next to
/// the port lock. A lab's ports stay promised while any of its processes lives, so a watchdog
/// API port nobody listens on yet, or a killed node's ports awaiting its restart, are never handed
/// to another lab. Read and written only under [`PortLock`].
struct Reservations {
    path: PathBuf,
    labs: BTreeMap<PathBuf, Vec<u16>>,
}

impl Reservations {
    /// Loads the file and forgets labs that are gone; an unreadable file counts as empty
    /// (reservations only make collisions rarer, they are not needed for correctness).
    fn load() -> Self {
        let path = std::env::temp_dir().join("natsdr-lab-ports.json");
        let mut labs: BTreeMap<PathBuf, Vec<u16>> = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        labs.retain(|dir, _| {
            LabManifest::load(dir)
                .is_ok_and(|m| m.pids().iter().any(|(_, p)| process::belongs_to(*p, dir)))
        });
        Self { path, labs }
    }

    fn in_use(&self) -> BTreeSet<u16> {
        self.labs.values().flatten().copied().collect()
    }

    /// Promises the new lab's ports. NB: best effort, like `load`.
    fn record(&mut self, m: &LabManifest) {
        self.labs.insert(m.dir.clone(), m.ports());
        if let Ok(bytes) = serde_json::to_vec(&self.labs) {
            let _ = process::write_atomic(&self.path, &bytes);
        }
    }
}

fn secret() -> String {
    use std::hash::{BuildHasher, RandomState};
    let s = RandomState::new();
    format!("{:016x}{:016x}", s.hash_one(1u8), s.hash_one(2u8))
}

/// Decides every port, path and credential of a new lab (no process is started here).
fn plan(dir: &Path, opts: &LabOptions, reserved: &BTreeSet<u16>) -> Result<LabManifest, LabError> {
    let lo = Ipv4Addr::LOCALHOST;
    let mut ports = Ports::new(reserved);
    let creds = |user: &str| Credentials {
        user: user.to_owned(),
        password: secret(),
        password_file: dir.join("secrets").join(format!("{user}.password")),
    };
    let client_port = ports.take_shared(&[LabRegion::Us.entry_ip(), LabRegion::Eu.entry_ip()])?;
    let mut regions = Vec::new();
    for (k, region) in LabRegion::ALL.into_iter().enumerate() {
        let (region_name, domain, size) = match &opts.source {
            Some(src) => {
                let r = &src.regions[k];
                (r.name.clone(), r.domain.clone(), r.nodes)
            }
            None => (
                region.name().to_owned(),
                region.name().to_owned(),
                NODES_PER_REGION,
            ),
        };
        let mut nodes = Vec::new();
        for i in 0..size {
            let name = format!("{region_name}-{i}");
            let node_dir = dir.join("nodes").join(&name);
            let (client, cluster, http) = (ports.take(lo)?, ports.take(lo)?, ports.take(lo)?);
            let leaf = if region == LabRegion::Us {
                Some(ports.take(lo)?)
            } else {
                None
            };
            nodes.push(NodeInfo {
                client_port: client,
                client_url: format!("nats://127.0.0.1:{client}"),
                cluster_port: cluster,
                leaf_port: leaf,
                http_port: http,
                monitor_url: format!("http://127.0.0.1:{http}"),
                config: node_dir.join("nats.conf"),
                store_dir: node_dir.join("jetstream"),
                log: dir.join("logs").join(format!("{name}.log")),
                pid: None,
                name,
            });
        }
        regions.push(RegionInfo {
            region,
            name: region_name,
            domain,
            entry_ip: region.entry_ip(),
            entry_url: format!("nats://{}:{client_port}", region.entry_ip()),
            nodes,
        });
    }

    let node_addrs = |region: LabRegion| -> Vec<SocketAddr> {
        regions
            .iter()
            .find(|r| r.region == region)
            .map(|r| {
                r.nodes
                    .iter()
                    .map(|n| SocketAddr::from((lo, n.client_port)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut routes = Vec::new();
    for (i, n) in regions[0].nodes.iter().enumerate() {
        let leaf = n
            .leaf_port
            .map(|p| SocketAddr::from((lo, p)))
            .into_iter()
            .collect();
        routes.push(Route {
            name: format!("leaf#{i}"),
            path: NetPath::Leaf,
            listen: (lo, ports.take(lo)?).into(),
            upstreams: leaf,
        });
    }
    for region in LabRegion::ALL {
        let path = NetPath::Client(region);
        routes.push(Route {
            name: path.to_string(),
            path,
            listen: (region.entry_ip(), client_port).into(),
            upstreams: node_addrs(region),
        });
    }
    let mut api = BTreeMap::new();
    for site in Site::ALL {
        api.insert(site, SocketAddr::from((lo, ports.take(lo)?)));
    }
    let mut watchdogs = Vec::new();
    for site in Site::ALL {
        let mut region_urls = BTreeMap::new();
        for region in LabRegion::ALL {
            let path = NetPath::Watchdog {
                from: site,
                to: region,
            };
            let mut urls = Vec::new();
            for (i, node) in node_addrs(region).into_iter().enumerate() {
                let listen = SocketAddr::from((lo, ports.take(lo)?));
                urls.push(format!("nats://{listen}"));
                routes.push(Route {
                    name: format!("{path}#{i}"),
                    path,
                    listen,
                    upstreams: vec![node],
                });
            }
            region_urls.insert(region, urls);
        }
        let mut peer_urls = BTreeMap::new();
        for to in Site::ALL.into_iter().filter(|to| *to != site) {
            let path = NetPath::Peer { from: site, to };
            let listen = SocketAddr::from((lo, ports.take(lo)?));
            let scheme = if opts.tls { "https" } else { "http" };
            peer_urls.insert(to, format!("{scheme}://{listen}"));
            routes.push(Route {
                name: path.to_string(),
                path,
                listen,
                upstreams: vec![api[&to]],
            });
        }
        let id = match site {
            Site::Us => format!("natsdr-{}", regions[0].name),
            Site::Eu => format!("natsdr-{}", regions[1].name),
            Site::Witness => "natsdr-witness".to_owned(),
        };
        watchdogs.push(WatchdogInfo {
            site,
            id,
            api_listen: api[&site],
            config: dir.join(format!("natsdr-{}.toml", site.short())),
            region_urls,
            peer_urls,
        });
    }
    // NB: the reserved ports are released here, just before netd and the servers bind them.
    drop(ports);
    Ok(LabManifest {
        dir: dir.to_owned(),
        owner_pid: opts.owner_pid,
        nats_server: opts.nats_server.clone(),
        system: creds("sys"),
        app: creds("app"),
        client_port,
        regions,
        netd: ProcessInfo {
            pid: None,
            log: netd::log_path(dir),
        },
        routes,
        watchdogs,
        dns: None,
        natsdr_config: dir.join("natsdr.toml"),
        generated_streams: 0,
        tls: if opts.tls {
            Some(make_certificates(dir)?)
        } else {
            None
        },
        source: opts.source.clone(),
    })
}

/// Makes the TLS lab's CA and certificates in `DIR/tls/`.
fn make_certificates(dir: &Path) -> Result<LabTls, LabError> {
    let tls_dir = dir.join("tls");
    let io = |source| LabError::Io {
        path: tls_dir.clone(),
        source,
    };
    std::fs::create_dir_all(&tls_dir).map_err(io)?;
    let ca = crate::testkit::pki::Ca::new("natsdr lab CA")
        .map_err(|e| io(std::io::Error::other(e.to_string())))?;
    let files = |name: &str| {
        ca.leaf(&tls_dir, name)
            .map(|(cert, key)| CertFiles { cert, key })
    };
    let mut sites = BTreeMap::new();
    for site in Site::ALL {
        sites.insert(site, files(site.short()).map_err(io)?);
    }
    Ok(LabTls {
        ca: ca.write(&tls_dir, "ca").map_err(io)?,
        sites,
        operator: files("operator").map_err(io)?,
    })
}

/// Writes `text` to `path` with file mode `mode`, creating parent directories.
fn write_file(path: &Path, text: &str, mode: u32) -> Result<(), LabError> {
    let io = |source| LabError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(io)?;
    std::io::Write::write_all(&mut f, text.as_bytes()).map_err(io)
}

fn api_token_file(m: &LabManifest) -> PathBuf {
    m.dir.join("secrets").join("api-token")
}

fn peer_token_file(m: &LabManifest) -> PathBuf {
    m.dir.join("secrets").join("peer-token")
}

/// Writes secrets, node configs, natsdr configs and the manifest.
fn write_files(m: &LabManifest) -> Result<(), LabError> {
    write_file(&m.system.password_file, &m.system.password, 0o600)?;
    write_file(&m.app.password_file, &m.app.password, 0o600)?;
    write_file(&api_token_file(m), &format!("{}\n", secret()), 0o600)?;
    write_file(&peer_token_file(m), &format!("{}\n", secret()), 0o600)?;

    // The natsdr config first: the leafnode denies the subjects of the streams it configures.
    write_natsdr_configs(m)?;
    let raw = natsdr::config::load_raw(&m.natsdr_config).map_err(LabError::Config)?;
    let leaf_deny = natsdr::topology::leaf_deny_raw(&raw);
    let leaf_remotes: Vec<SocketAddr> = m.routes_of(NetPath::Leaf).map(|r| r.listen).collect();
    for r in &m.regions {
        let cluster_ports: Vec<u16> = r.nodes.iter().map(|n| n.cluster_port).collect();
        for n in &r.nodes {
            let conf = nats_conf::NodeConf {
                cluster: &r.name,
                domain: &r.domain,
                node: n,
                cluster_ports: cluster_ports.clone(),
                leaf_remotes: if r.region == LabRegion::Eu {
                    leaf_remotes.clone()
                } else {
                    Vec::new()
                },
                leaf_deny: &leaf_deny,
                system: &m.system,
                app: &m.app,
            };
            write_file(&n.config, &nats_conf::render(&conf), 0o600)?;
        }
    }
    m.save()?;
    Ok(())
}

/// Writes the operator's and every watchdog's natsdr config.
fn write_natsdr_configs(m: &LabManifest) -> Result<(), LabError> {
    let (api, peer) = (api_token_file(m), peer_token_file(m));
    let secrets = Secrets {
        api_token_file: &api,
        peer_token_file: &peer,
    };
    write_file(
        &m.natsdr_config,
        &natsdr_conf::render(m, View::Operator, &secrets),
        0o644,
    )?;
    for w in &m.watchdogs {
        write_file(
            &w.config,
            &natsdr_conf::render(m, View::Watchdog(w.site), &secrets),
            0o644,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_nodes_report_gives_the_end_of_its_own_log_or_says_it_is_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("node.log");
        assert_eq!(log_tail_lines(&log, 2), "  (the log is empty)");
        std::fs::write(&log, "one\n\ntwo\nthree\n").expect("write");
        assert_eq!(log_tail_lines(&log, 2), "  two\n  three");
    }

    #[test]
    fn how_a_process_ended_is_told_by_exit_code_or_signal() {
        let run = |script: &str| {
            std::process::Command::new("sh")
                .args(["-c", script])
                .status()
                .expect("sh runs")
        };
        assert_eq!(exit_description(run("exit 3")), "exited with status 3");
        assert_eq!(
            exit_description(run("kill -9 $$")),
            "was killed by signal 9 (SIGKILL)"
        );
    }
}
