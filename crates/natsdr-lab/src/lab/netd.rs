//! netd: the lab's fault-injecting TCP proxy daemon and reaper, one process for every route.
//!
//! Each route listens on one address and forwards every accepted connection to the first
//! upstream that accepts. Faults are per path: a cut path stops forwarding in both directions
//! without closing anything (no RST, no FIN: the peers see silence, as in a real partition) and
//! resumes when healed; a slow path delays every chunk (latency, jitter, loss stalls and a
//! bandwidth cap, scheduled by [`super::pacing`]). New connections on a cut path are accepted
//! and then hang until the heal, like SYNs retransmitted into a partition.
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::faults::{Faults, PathFault};
use super::json_file::JsonFileError;
use super::manifest::{LabManifest, Route};
use super::names::NetPath;
use super::pacing::{Link, Pacer};
use super::process;

/// How often netd looks at the fault table and the owner.
const POLL: Duration = Duration::from_millis(20);
/// How long one upstream may take to accept before the next is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Chunks in flight per direction: bounds memory while a path is cut (then the kernel's buffers
/// fill and the sender sees a closed TCP window, not an error).
const IN_FLIGHT: usize = 64;

/// Why netd stopped.
#[derive(Debug, thiserror::Error)]
pub enum NetdError {
    /// The lab manifest could not be read.
    #[error("cannot read the lab manifest")]
    Manifest(#[source] JsonFileError),
    /// The fault table could not be read, or the acknowledgement written.
    #[error("cannot use the fault table")]
    Faults(#[source] JsonFileError),
    /// A route's listen address is taken.
    #[error("cannot listen on {addr} for route {route}")]
    Bind {
        /// The route.
        route: String,
        /// Its listen address.
        addr: SocketAddr,
        /// The underlying failure.
        #[source]
        source: std::io::Error,
    },
}

/// Runs netd for the lab in `dir` until it is killed or, when the manifest names an owner pid,
/// until that owner is gone; then it kills every lab process first. Listens on every route of
/// `DIR/lab.json`, applies `DIR/faults.json` and acknowledges each generation in `DIR/netd.ack`
/// (the first acknowledgement also says "all listeners are up").
pub async fn run(dir: &Path) -> Result<(), NetdError> {
    let manifest = LabManifest::load(dir).map_err(NetdError::Manifest)?;
    let mut switches: BTreeMap<NetPath, watch::Sender<PathFault>> = BTreeMap::new();
    let mut links: BTreeMap<NetPath, Links> = BTreeMap::new();
    let mut listeners = Vec::new();
    for route in &manifest.routes {
        let listener = TcpListener::bind(route.listen)
            .await
            .map_err(|source| NetdError::Bind {
                route: route.name.clone(),
                addr: route.listen,
                source,
            })?;
        let fault = switches
            .entry(route.path)
            .or_insert_with(|| watch::Sender::new(PathFault::default()))
            .subscribe();
        let links = links.entry(route.path).or_default().clone();
        listeners.push((listener, route.clone(), fault, links));
    }
    for (listener, route, fault, links) in listeners {
        tokio::spawn(accept_loop(listener, route, fault, links));
    }
    tracing::info!(routes = manifest.routes.len(), "netd listening");

    let mut applied = None;
    loop {
        let faults = Faults::load(dir).map_err(NetdError::Faults)?;
        if applied != Some(faults.generation) {
            for (path, switch) in &switches {
                switch.send_if_modified(|current| {
                    let wanted = faults.effective(*path);
                    let changed = *current != wanted;
                    *current = wanted;
                    changed
                });
            }
            Faults::acknowledge(dir, faults.generation).map_err(NetdError::Faults)?;
            tracing::info!(generation = faults.generation, wan = %faults.wan, faults = ?faults.paths, "faults in force");
            applied = Some(faults.generation);
        }
        if let Some(owner) = manifest.owner_pid
            && !process::is_alive(owner)
        {
            tracing::warn!(owner, "owner is gone: killing the lab");
            reap(dir).await;
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Kills every process the current manifest names (except netd itself) and waits for them.
async fn reap(dir: &Path) {
    let Ok(manifest) = LabManifest::load(dir) else {
        return;
    };
    let me = std::process::id();
    let pids: Vec<u32> = manifest
        .pids()
        .into_iter()
        .map(|(_, pid)| pid)
        .filter(|pid| *pid != me)
        .collect();
    for pid in &pids {
        process::signal_lab_process(*pid, dir, nix::sys::signal::Signal::SIGKILL);
    }
    process::wait_gone(&pids, Duration::from_secs(10)).await;
}

/// Both directions of a path's link, shared by the path's connections (a bandwidth cap is the
/// path's, not each connection's).
#[derive(Debug, Clone, Default)]
struct Links {
    /// Client to server.
    up: Arc<Mutex<Link>>,
    /// Server to client.
    down: Arc<Mutex<Link>>,
}

/// A stable seed per route, connection and direction: a lab replays the same jitter and loss
/// draws for the same sequence of connections.
fn seed(route: &str, connection: u64, upstream: bool) -> u64 {
    // FNV-1a: std's hashers are randomly keyed per process.
    let name = route.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    name ^ connection.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(upstream)
}

async fn accept_loop(
    listener: TcpListener,
    route: Route,
    fault: watch::Receiver<PathFault>,
    links: Links,
) {
    let mut connection = 0u64;
    loop {
        match listener.accept().await {
            Ok((inbound, _)) => {
                connection += 1;
                let pacers = (
                    Pacer::new(seed(&route.name, connection, true)),
                    Pacer::new(seed(&route.name, connection, false)),
                );
                tokio::spawn(proxy(
                    inbound,
                    route.upstreams.clone(),
                    fault.clone(),
                    links.clone(),
                    pacers,
                ));
            }
            Err(e) => {
                // NB: accept fails on fd exhaustion; back off instead of spinning.
                tracing::warn!(route = %route.name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Forwards one accepted connection until both directions are finished.
async fn proxy(
    inbound: TcpStream,
    upstreams: Vec<SocketAddr>,
    mut fault: watch::Receiver<PathFault>,
    links: Links,
    (up, down): (Pacer, Pacer),
) {
    if fault.wait_for(|f| !f.cut).await.is_err() {
        return;
    }
    let Some(outbound) = connect_first(&upstreams).await else {
        // Every upstream refused: close, as a load balancer with no healthy target does.
        return;
    };
    // Small NATS protocol frames (PING/PONG, acks) must not wait for Nagle.
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let (in_read, in_write) = inbound.into_split();
    let (out_read, out_write) = outbound.into_split();
    tokio::join!(
        pump(in_read, out_write, fault.clone(), up, links.up),
        pump(out_read, in_write, fault, down, links.down)
    );
}

async fn connect_first(upstreams: &[SocketAddr]) -> Option<TcpStream> {
    for addr in upstreams {
        if let Ok(Ok(stream)) =
            tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await
        {
            return Some(stream);
        }
    }
    None
}

/// Copies one direction. Each chunk is stamped with its delivery time when read (so latency
/// pipelines instead of throttling; see [`Pacer::due`]) and written only while the path is not
/// cut. End of stream is queued like data, so a FIN also waits for the heal (and for the chunks
/// before it).
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut fault: watch::Receiver<PathFault>,
    mut pacer: Pacer,
    link: Arc<Mutex<Link>>,
) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Option<Bytes>)>(IN_FLIGHT);
    let reading = {
        let fault = fault.clone();
        async move {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let chunk = match from.read(&mut buf).await {
                    Ok(0) | Err(_) => None,
                    Ok(n) => Some(Bytes::copy_from_slice(&buf[..n])),
                };
                let done = chunk.is_none();
                let len = chunk.as_ref().map_or(0, Bytes::len);
                let wanted = *fault.borrow();
                let due = pacer.due(
                    Instant::now(),
                    len,
                    &wanted,
                    &mut link.lock().unwrap_or_else(PoisonError::into_inner),
                );
                if tx.send((due, chunk)).await.is_err() || done {
                    return;
                }
            }
        }
    };
    let writing = async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if fault.wait_for(|f| !f.cut).await.is_err() {
                return;
            }
            match chunk {
                Some(bytes) => {
                    if to.write_all(&bytes).await.is_err() {
                        return;
                    }
                }
                None => {
                    let _ = to.shutdown().await;
                    return;
                }
            }
        }
    };
    // NB: when the writer stops (peer reset, or end of stream delivered) the reader must stop too,
    // or it would hold its socket half open forever.
    let reader = tokio::spawn(reading);
    writing.await;
    reader.abort();
}

/// The log file netd writes to inside the lab directory.
pub fn log_path(dir: &Path) -> PathBuf {
    dir.join("logs").join("netd.log")
}
