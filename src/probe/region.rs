//! One region's probes: the system ping and the paged stream listing, run side by side.
use std::time::Duration;

use tokio::time::{Instant, timeout};

use super::ProbeError;
use crate::nats::{RegionClients, StreamInfo};

/// What one region answered this round, before mirrors' lag is worked out (that needs both
/// regions' answers).
#[derive(Debug)]
pub struct RegionAnswer {
    /// Servers that answered the ping.
    pub servers_up: u32,
    /// Whether some server named a JetStream meta leader.
    pub meta_leader: bool,
    /// Every stream of the region; `None` when the listing failed.
    pub streams: Option<Vec<StreamInfo>>,
    /// What went wrong.
    pub errors: Vec<ProbeError>,
    /// How long the probes took.
    pub duration: Duration,
}

/// Pings the region's servers and lists its streams at once, each bounded by `bound`. The ping
/// listens for three quarters of `bound` (or until every configured server answered): servers
/// usually answer in milliseconds, but on a loaded host a STATSZ reply can take a few hundred,
/// and the listing runs alongside anyway, so a longer window costs a round nothing unless a
/// server is missing. The rest of `bound` is headroom for the reply decoding.
pub async fn probe(clients: &RegionClients, cluster_size: u32, bound: Duration) -> RegionAnswer {
    let started = Instant::now();
    let expected = usize::try_from(cluster_size).ok();
    let ping = async {
        match timeout(bound, clients.sys.ping(bound * 3 / 4, expected)).await {
            Ok(Ok(pongs)) => Ok(pongs),
            Ok(Err(e)) => Err(ProbeError::Ping(e)),
            Err(_) => Err(ProbeError::Timeout {
                what: "ping",
                after: bound,
            }),
        }
    };
    let js = clients.js.with_timeout(bound);
    let list = async {
        match timeout(bound, js.stream_list()).await {
            Ok(Ok(streams)) => Ok(streams),
            Ok(Err(e)) => Err(ProbeError::Streams(e)),
            Err(_) => Err(ProbeError::Timeout {
                what: "streams",
                after: bound,
            }),
        }
    };
    let (ping, list) = tokio::join!(ping, list);
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
    let streams = list.map_err(|e| errors.push(e)).ok();
    RegionAnswer {
        servers_up,
        meta_leader,
        streams,
        errors,
        duration: started.elapsed(),
    }
}
