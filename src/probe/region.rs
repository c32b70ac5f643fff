//! One region's probes: the system ping, JSZ, HEALTHZ, LEAFZ and the paged stream listing, run
//! side by side.
use std::time::Duration;

use tokio::task::JoinHandle;
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

/// A listing of a region's streams running in the background: it may outlive the round that
/// started it (at several thousand streams the server's own listing takes longer than a
/// round's bound), and the next round picks its answer up.
pub type Listing = JoinHandle<Result<Vec<StreamInfo>, ProbeError>>;

/// Starts listing the region's streams, every page bounded by `bound` (longer than a round's:
/// a region that lists slowly still gets listed, one listing in flight at a time).
pub fn start_listing(clients: &RegionClients, bound: Duration) -> Listing {
    let js = clients.js.with_timeout(bound);
    tokio::spawn(async move {
        match timeout(bound, js.stream_list_probed()).await {
            Ok(Ok(streams)) => Ok(streams),
            Ok(Err(e)) => Err(ProbeError::Streams(e)),
            Err(_) => Err(ProbeError::Timeout {
                what: "streams",
                after: bound,
            }),
        }
    })
}

/// Pings the region's servers, asks the meta leader (JSZ), every server's meta health (HEALTHZ)
/// and leafnode links (LEAFZ), all at once, each bounded by `bound`, and waits as long for
/// `listing`. The scatter requests listen for three quarters of `bound` (or until every
/// configured server answered): servers usually answer in milliseconds, but on a loaded host a
/// STATSZ reply can take a few hundred, and the listing runs alongside anyway, so a longer
/// window costs a round nothing unless a server is missing. The rest of `bound` is headroom for
/// the reply decoding. Without `depth`, JSZ, HEALTHZ and LEAFZ are not asked (their fields stay
/// `None`). A listing still running after `bound` is handed back to be waited for next round
/// (the answer's streams are `None` meanwhile, which is no error).
pub async fn probe(
    clients: &RegionClients,
    cluster_size: u32,
    bound: Duration,
    depth: bool,
    listing: Listing,
) -> (RegionAnswer, Option<Listing>) {
    let started = Instant::now();
    let expected = usize::try_from(cluster_size).ok();
    let window = bound * 3 / 4;
    let sys = &clients.sys;
    let (ping, jsz, healthz, leafz, (listed, pending)) = tokio::join!(
        bounded("ping", bound, sys.ping(window, expected)),
        maybe(depth, bounded("jsz", bound, sys.meta_cluster(window))),
        maybe(
            depth,
            bounded("healthz", bound, sys.healthz(window, expected))
        ),
        maybe(depth, bounded("leafz", bound, sys.leafz(window, expected))),
        wait_for(listing, bound),
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
    let streams = listed.and_then(|l| l.map_err(|e| errors.push(e)).ok());
    let answer = RegionAnswer {
        servers_up,
        meta_leader,
        streams,
        meta,
        health,
        leafs,
        errors,
        duration: started.elapsed(),
    };
    (answer, pending)
}

/// `listing`'s answer if it ends within `bound`; else nothing yet, and the listing handed back
/// to wait for again. A listing task that panicked lists nothing (the next round lists again).
async fn wait_for(
    mut listing: Listing,
    bound: Duration,
) -> (Option<Result<Vec<StreamInfo>, ProbeError>>, Option<Listing>) {
    match timeout(bound, &mut listing).await {
        Ok(Ok(listed)) => (Some(listed), None),
        Ok(Err(_)) => (None, None),
        Err(_) => (None, Some(listing)),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A listing that answers "no streams" after `after`.
    fn slow_listing(after: Duration) -> Listing {
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            Ok(Vec::new())
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_listing_slower_than_a_round_is_picked_up_by_the_next_round_without_an_error() {
        let bound = Duration::from_millis(400);
        let (listed, pending) = wait_for(slow_listing(Duration::from_millis(630)), bound).await;
        assert!(
            listed.is_none(),
            "nothing listed within the first round's bound"
        );
        let pending = pending.expect("the listing is handed back, still running");
        let (listed, pending) = wait_for(pending, bound).await;
        assert!(
            matches!(listed, Some(Ok(ref s)) if s.is_empty()),
            "{listed:?}"
        );
        assert!(pending.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_listing_that_fails_reports_its_error_and_is_not_waited_for_again() {
        let failed: Listing = tokio::spawn(async {
            Err(ProbeError::Timeout {
                what: "streams",
                after: Duration::from_secs(2),
            })
        });
        let (listed, pending) = wait_for(failed, Duration::from_millis(400)).await;
        assert!(matches!(listed, Some(Err(ProbeError::Timeout { .. }))));
        assert!(pending.is_none());
    }
}
