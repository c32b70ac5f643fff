//! One region's probes: the system ping, JSZ, HEALTHZ, LEAFZ and the paged stream listing, run
//! side by side.
use std::time::Duration;

use tokio::time::{Instant, timeout};

use super::ProbeError;
use super::depth::{HealthDepth, LeafDepth, MetaDepth};
use crate::nats::{RegionClients, StreamInfo, SysError};

/// What one region answered this round, before mirrors' lag is worked out (that needs both
/// regions' answers).
#[derive(Debug)]
pub struct RegionAnswer {
    /// Servers that answered the ping.
    pub servers_up: u32,
    /// Whether some server named a JetStream meta leader.
    pub meta_leader: bool,
    /// Every stream of the region, as a probe reads it ([`crate::nats::ProbedStream`]: never
    /// write these configs back); `None` when the listing failed.
    pub streams: Option<Vec<StreamInfo>>,
    /// The meta leader's view of its group; `None` when no leader answered in time.
    pub meta: Option<MetaDepth>,
    /// HEALTHZ `js-meta-only` replies; `None` when the request failed.
    pub health: Option<HealthDepth>,
    /// LEAFZ replies; `None` when the request failed.
    pub leafs: Option<LeafDepth>,
    /// What went wrong.
    pub errors: Vec<ProbeError>,
    /// How long the probes took.
    pub duration: Duration,
}

/// Pings the region's servers, asks the meta leader (JSZ), every server's meta health (HEALTHZ)
/// and leafnode links (LEAFZ), and lists its streams, all at once, each bounded by `bound`. The
/// scatter requests listen for three quarters of `bound` (or until every configured server
/// answered): servers usually answer in milliseconds, but on a loaded host a STATSZ reply can
/// take a few hundred, and the listing runs alongside anyway, so a longer window costs a round
/// nothing unless a server is missing. The rest of `bound` is headroom for the reply decoding.
/// Without `depth`, JSZ, HEALTHZ and LEAFZ are not asked (their fields stay `None`).
pub async fn probe(
    clients: &RegionClients,
    cluster_size: u32,
    bound: Duration,
    depth: bool,
) -> RegionAnswer {
    let started = Instant::now();
    let expected = usize::try_from(cluster_size).ok();
    let window = bound * 3 / 4;
    let sys = &clients.sys;
    let js = clients.js.with_timeout(bound);
    let list = async {
        match timeout(bound, js.stream_list_probed()).await {
            Ok(Ok(streams)) => Ok(streams),
            Ok(Err(e)) => Err(ProbeError::Streams(e)),
            Err(_) => Err(ProbeError::Timeout {
                what: "streams",
                after: bound,
            }),
        }
    };
    let (ping, jsz, healthz, leafz, list) = tokio::join!(
        bounded("ping", bound, sys.ping(window, expected)),
        maybe(depth, bounded("jsz", bound, sys.meta_cluster(window))),
        maybe(
            depth,
            bounded("healthz", bound, sys.healthz(window, expected))
        ),
        maybe(depth, bounded("leafz", bound, sys.leafz(window, expected))),
        list,
    );
    let mut errors = Vec::new();
    let (servers_up, meta_leader) = match ping {
        Ok(pongs) => (
            u32::try_from(pongs.len()).unwrap_or(u32::MAX),
            pongs.iter().any(|p| p.meta_leader.is_some()),
        ),
        Err(e) => {
            errors.push(e);
            (0, false)
        }
    };
    let meta = jsz
        .and_then(|r| r.map_err(|e| errors.push(e)).ok())
        .flatten()
        .map(|m| MetaDepth::from_cluster(&m));
    let health = healthz
        .and_then(|r| r.map_err(|e| errors.push(e)).ok())
        .map(|h| HealthDepth::from_replies(&h));
    let leafs = leafz
        .and_then(|r| r.map_err(|e| errors.push(e)).ok())
        .map(|l| LeafDepth::from_replies(&l));
    let streams = list.map_err(|e| errors.push(e)).ok();
    RegionAnswer {
        servers_up,
        meta_leader,
        streams,
        meta,
        health,
        leafs,
        errors,
        duration: started.elapsed(),
    }
}

/// `request`'s answer when `ask`, else `None` without sending it.
async fn maybe<T>(ask: bool, request: impl Future<Output = T>) -> Option<T> {
    if ask { Some(request.await) } else { None }
}

/// One system request, bounded: a request that cannot be sent or outlives `bound` is an error.
async fn bounded<T>(
    what: &'static str,
    bound: Duration,
    request: impl Future<Output = Result<T, SysError>>,
) -> Result<T, ProbeError> {
    match timeout(bound, request).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(source)) => Err(ProbeError::System { what, source }),
        Err(_) => Err(ProbeError::Timeout { what, after: bound }),
    }
}
