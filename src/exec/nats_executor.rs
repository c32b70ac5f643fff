//! `NatsExecutor`: fences, unfences and promotes streams on the real servers, one
//! read-modify-write STREAM.UPDATE per stream (a snapshot/restore per mirror before 2.12),
//! epoch-guarded and idempotent; a promoted stream then gets its tracked consumers
//! (`exec/carry.rs`).
use std::sync::Arc;

use futures::StreamExt;

use super::edit::{self, Edit, Takeover};
use super::error::ExecError;
use super::restore::{PromotionPath, Restore};
use super::snapshot_store::SnapshotStore;
use super::takeover::TakeoverIndex;
use super::{Fencer, Promoter};
use crate::config::{Config, RegionConfig};
use crate::core::{FenceResult, StepResult};
use crate::model::{Epoch, Region, StreamName};
use crate::nats::{JsApi, JsError, RegionClients, Regions, codes};
use crate::telemetry::Metrics;
use crate::topology::{Desired, expected};

/// Performs the core's `Fence`, `Unfence` and `Promote` actions over each region's clients.
///
/// Invariants: it only ever touches the streams an action lists; it refuses (not retryable) any
/// stream the config marks GDPR-only, and any stream stamped with a newer epoch than the
/// action's; every stream is changed by one full-config STREAM.UPDATE built from the config just
/// read (the server replaces the whole config), so a repeat of an action changes nothing.
/// Before 2.12 a mirror is promoted by snapshot, delete and restore instead: the snapshot is
/// kept in the [`SnapshotStore`] before the mirror is deleted, so a promotion interrupted in
/// between is finished by the next one.
#[derive(Debug, Clone)]
pub struct NatsExecutor {
    pub(super) config: Arc<Config>,
    regions: Regions,
    snapshots: SnapshotStore,
    /// Where promotions count the consumers they carry over (none in tests and tools).
    pub(super) metrics: Option<Metrics>,
}

/// How much of a region answers, from one system PING round.
enum Reach {
    /// A majority of the servers answered.
    Quorum,
    /// Some answered, fewer than a majority: the region cannot acknowledge writes.
    NoQuorum,
    /// Nobody answered.
    Unreachable,
}

impl NatsExecutor {
    /// An executor over `regions` (from [`crate::nats::connect_regions`]) for the streams and
    /// mirrors `config` describes, keeping snapshots under the OS temp dir
    /// ([`SnapshotStore::in_temp_dir`]).
    pub fn new(config: Arc<Config>, regions: Regions) -> Self {
        let snapshots = SnapshotStore::in_temp_dir(config.watchdog.id.as_str());
        Self {
            config,
            regions,
            snapshots,
            metrics: None,
        }
    }

    /// The same executor counting carried-over consumers in `metrics`.
    #[must_use]
    pub fn with_metrics(self, metrics: Metrics) -> Self {
        Self {
            metrics: Some(metrics),
            ..self
        }
    }

    /// The same executor keeping its snapshots in `store`.
    #[must_use]
    pub fn with_snapshot_store(self, snapshots: SnapshotStore) -> Self {
        Self { snapshots, ..self }
    }

    /// Where snapshots are kept.
    pub fn snapshot_store(&self) -> &SnapshotStore {
        &self.snapshots
    }

    /// The config and the regions' clients, for the failback executor (`exec/failback.rs`).
    pub(super) fn parts(&self) -> (&Config, &Regions) {
        (&self.config, &self.regions)
    }

    fn region(&self, region: &Region) -> Result<(&RegionConfig, &RegionClients), ExecError> {
        let unknown = || ExecError::UnknownRegion {
            region: region.clone(),
        };
        let cfg = self
            .config
            .regions
            .iter()
            .find(|r| &r.name == region)
            .ok_or_else(unknown)?;
        let clients = self.regions.get(region).ok_or_else(unknown)?;
        Ok((cfg, clients))
    }

    /// The clients of `region`, to make `streams` writable there: refused for an unknown
    /// region, and for a GDPR-only stream outside its home region.
    fn writable(
        &self,
        region: &Region,
        streams: &[StreamName],
    ) -> Result<&RegionClients, ExecError> {
        let (_, clients) = self.region(region)?;
        self.refuse_gdpr(region, streams)?;
        Ok(clients)
    }

    /// Defence in depth: the core never lists a GDPR-only stream, but if it ever did, nothing of
    /// the action is performed.
    fn refuse_gdpr(&self, region: &Region, streams: &[StreamName]) -> Result<(), ExecError> {
        match streams.iter().find(|name| {
            self.config
                .streams
                .iter()
                .any(|s| s.gdpr && &s.name == *name && &s.region == region)
        }) {
            Some(stream) => Err(ExecError::Gdpr {
                region: region.clone(),
                stream: stream.clone(),
            }),
            None => Ok(()),
        }
    }

    /// One PING round over the system account, waiting at most the probe timeout (less when
    /// every server answers).
    async fn reach(&self, cfg: &RegionConfig, clients: &RegionClients) -> Reach {
        let size = usize::from(cfg.cluster_size);
        match clients
            .sys
            .ping(self.config.timing.probe_timeout, Some(size))
            .await
        {
            Ok(pongs) if pongs.len() >= usize::from(cfg.quorum()) => Reach::Quorum,
            Ok(pongs) if !pongs.is_empty() => Reach::NoQuorum,
            Ok(_) | Err(_) => Reach::Unreachable,
        }
    }

    /// After failures that look like a lost quorum: whether the region still has one. A PING
    /// majority is not enough (the meta group may still be leaderless), so JetStream must answer too.
    async fn recheck(&self, cfg: &RegionConfig, clients: &RegionClients) -> Reach {
        match self.reach(cfg, clients).await {
            Reach::Quorum => match clients.js.account_info().await {
                Err(e)
                    if matches!(e, JsError::Timeout { .. })
                        || e.err_code() == Some(codes::CLUSTER_NOT_AVAILABLE) =>
                {
                    Reach::NoQuorum
                }
                Ok(_) | Err(_) => Reach::Quorum,
            },
            other => other,
        }
    }

    /// Parks (`park`) or restores one stream's subjects at `epoch`. Parking a stream that is
    /// not there is done (nothing stores publishes on its subjects, which is what a fence
    /// wants); restoring one is an error.
    async fn set_fence(
        &self,
        region: &Region,
        js: &JsApi,
        stream: &StreamName,
        epoch: Epoch,
        park: bool,
    ) -> Result<(), ExecError> {
        let api = ExecError::api(region, stream.as_str());
        let Some(info) = js.find_stream(stream.as_str()).await.map_err(api)? else {
            if park {
                tracing::warn!(%region, %stream, %epoch, "fence: no such stream, nothing to fence");
                return Ok(());
            }
            return Err(ExecError::Missing {
                region: region.clone(),
                stream: stream.clone(),
            });
        };
        let edit = if park {
            edit::fence(&info.config, epoch)
        } else {
            edit::unfence(&info.config, epoch)
        };
        let (done, already) = if park {
            ("fence: subjects parked", "fence: already fenced")
        } else {
            ("unfence: subjects restored", "unfence: already unfenced")
        };
        match edit.map_err(ExecError::refused(region, stream))? {
            Edit::Unchanged => tracing::info!(%region, %stream, %epoch, "{already}"),
            Edit::Update(cfg) => {
                js.stream_update(&cfg).await.map_err(api)?;
                tracing::info!(%region, %stream, %epoch, "{done}");
            }
        }
        Ok(())
    }

    /// What promoting each of `streams` in `region` takes over from its source, per the config:
    /// the topology is built and indexed once for the whole action.
    fn takeovers(
        &self,
        region: &Region,
        streams: &[StreamName],
    ) -> Result<Vec<Takeover>, ExecError> {
        let all = expected(&Desired::from(&*self.config))
            .map_err(|source| ExecError::Topology { source })?;
        let index = TakeoverIndex::new(&all);
        streams
            .iter()
            .map(|stream| {
                index
                    .takeover(region, stream)
                    .ok_or_else(|| ExecError::NotConfiguredMirror {
                        region: region.clone(),
                        stream: stream.clone(),
                    })
            })
            .collect()
    }

    async fn promote_one(
        &self,
        region: &Region,
        clients: &RegionClients,
        path: PromotionPath,
        stream: &StreamName,
        epoch: Epoch,
        takeover: &Takeover,
    ) -> Result<(), ExecError> {
        let api = ExecError::api(region, stream.as_str());
        // A snapshot/restore takes several round trips and replies that wait for a new raft
        // group, and an in-place update waits for a meta proposal queued behind every other
        // stream's of the same promotion (1,000 at once take seconds): the step timeout bounds
        // each request, not the probe timeout, or a large promotion fails and is resent.
        let slow_js = clients.js.with_timeout(self.config.timing.step_timeout);
        let restore = Restore {
            region,
            stream,
            epoch,
            takeover,
            js: &slow_js,
            store: &self.snapshots,
        };
        // One promotion of a stream at a time: the core resends a slow step, and a second
        // snapshot or restore must not interleave with the first.
        let _guard = match path {
            PromotionPath::SnapshotRestore => Some(self.snapshots.lock(region, stream).await),
            PromotionPath::InPlace => None,
        };
        let Some(info) = slow_js.find_stream(stream.as_str()).await.map_err(api)? else {
            if path == PromotionPath::SnapshotRestore && restore.resume().await?.is_some() {
                return Ok(());
            }
            return Err(ExecError::Missing {
                region: region.clone(),
                stream: stream.clone(),
            });
        };
        let edit = edit::promote(&info.config, epoch, takeover)
            .map_err(ExecError::refused(region, stream))?;
        let Edit::Update(cfg) = edit else {
            tracing::info!(%region, %stream, %epoch, "promote: already promoted");
            return Ok(());
        };
        if info.config.mirror().is_none() {
            // Promoted at an older epoch: only the stamp changes, in place on every version.
            slow_js.stream_update(&cfg).await.map_err(api)?;
            tracing::info!(%region, %stream, %epoch, "promote: restamped");
            return Ok(());
        }
        match path {
            PromotionPath::SnapshotRestore => {
                restore.promote(&info).await?;
                tracing::info!(%region, %stream, %epoch, origin = %takeover.origin, "promote: mirror promoted by snapshot and restore");
                Ok(())
            }
            PromotionPath::InPlace => match slow_js.stream_update(&cfg).await {
                Ok(_) => {
                    tracing::info!(%region, %stream, %epoch, origin = %takeover.origin, "promote: mirror promoted");
                    Ok(())
                }
                Err(source) if source.err_code() == Some(codes::MIRROR_NOT_UPDATABLE) => {
                    Err(ExecError::InPlacePromotion {
                        region: region.clone(),
                        stream: stream.clone(),
                        version: self.server_version(clients).await,
                        source: Box::new(source),
                    })
                }
                Err(source) => Err(api(source)),
            },
        }
    }

    /// The version one of the region's servers reports, for error messages.
    async fn server_version(&self, clients: &RegionClients) -> String {
        match clients
            .sys
            .ping(self.config.timing.probe_timeout, Some(1))
            .await
        {
            Ok(pongs) => pongs
                .first()
                .map_or_else(|| "unknown".to_owned(), |p| p.server.version.clone()),
            Err(_) => "unknown".to_owned(),
        }
    }
}

/// Streams one action changes at once. NB: every stream costs an info read and an update (a
/// meta-layer proposal); measured on the lab (nats-server 2.15, 3 nodes), 1,000 mirrors all at
/// once promoted at the server's pace (~1.7 ms a stream, like 100), but 5,000 all at once left
/// thousands of requests unanswered after 5 s. A few hundred in flight keep the meta leader
/// busy without queueing any request near the step timeout.
const IN_FLIGHT: usize = 256;

/// Runs `work` (one future per stream) at most [`IN_FLIGHT`] at a time; results in order.
/// NB: the futures are made before they are streamed: a stream over a closure that borrows the
/// stream names makes the step's future not provably Send.
async fn bounded<F: Future>(work: impl Iterator<Item = F>) -> Vec<F::Output> {
    let work: Vec<F> = work.collect();
    futures::stream::iter(work)
        .buffered(IN_FLIGHT)
        .collect()
        .await
}

/// Errors named in full in a step's summary; the rest are counted.
const NAMED_ERRORS: usize = 10;

/// The errors of one action as one line, each with its causes (the first [`NAMED_ERRORS`],
/// then how many more: 5,000 failed streams made a 450 KB log line).
pub(super) fn summary(errors: &[ExecError]) -> String {
    let mut line = errors
        .iter()
        .take(NAMED_ERRORS)
        .map(|e| crate::error_chain(e))
        .collect::<Vec<_>>()
        .join("; ");
    if let Some(more) = errors.len().checked_sub(NAMED_ERRORS).filter(|m| *m > 0) {
        line.push_str(&format!("; and {more} more"));
    }
    line
}

fn step(errors: Vec<ExecError>) -> StepResult {
    if errors.is_empty() {
        return StepResult::Done;
    }
    StepResult::Failed {
        retryable: errors.iter().all(ExecError::is_retryable),
        error: summary(&errors),
    }
}

fn failures(results: Vec<Result<(), ExecError>>) -> Vec<ExecError> {
    results.into_iter().filter_map(Result::err).collect()
}

impl Fencer for NatsExecutor {
    async fn fence(&self, region: &Region, epoch: Epoch, streams: &[StreamName]) -> FenceResult {
        let failed = |e: ExecError| FenceResult::Failed {
            retryable: e.is_retryable(),
            error: crate::error_chain(&e),
        };
        let (cfg, clients) = match self.region(region) {
            Ok(found) => found,
            Err(e) => return failed(e),
        };
        if let Err(e) = self.refuse_gdpr(region, streams) {
            return failed(e);
        }
        // Confirm before acting: a region without a majority cannot acknowledge writes, and
        // updating its streams would only time out.
        match self.reach(cfg, clients).await {
            Reach::Quorum => {}
            Reach::NoQuorum => return FenceResult::NoQuorum,
            Reach::Unreachable => return FenceResult::Unreachable,
        }
        let results = bounded(
            streams
                .iter()
                .map(|s| self.set_fence(region, &clients.js, s, epoch, true)),
        )
        .await;
        let errors = failures(results);
        if errors.is_empty() {
            return FenceResult::Fenced;
        }
        let retryable = errors.iter().all(ExecError::is_retryable);
        if retryable && errors.iter().any(ExecError::looks_like_no_quorum) {
            match self.recheck(cfg, clients).await {
                Reach::NoQuorum => return FenceResult::NoQuorum,
                Reach::Unreachable => return FenceResult::Unreachable,
                Reach::Quorum => {}
            }
        }
        FenceResult::Failed {
            retryable,
            error: summary(&errors),
        }
    }

    async fn unfence(&self, region: &Region, epoch: Epoch, streams: &[StreamName]) -> StepResult {
        let clients = match self.writable(region, streams) {
            Ok(clients) => clients,
            Err(e) => return step(vec![e]),
        };
        let results = bounded(
            streams
                .iter()
                .map(|s| self.set_fence(region, &clients.js, s, epoch, false)),
        )
        .await;
        step(failures(results))
    }
}

impl Promoter for NatsExecutor {
    async fn promote(&self, region: &Region, epoch: Epoch, streams: &[StreamName]) -> StepResult {
        let clients = match self.writable(region, streams) {
            Ok(clients) => clients,
            Err(e) => return step(vec![e]),
        };
        // Every stream's takeover is known before any stream is touched: a config problem
        // must not leave a half-promoted region.
        let takeovers = match self.takeovers(region, streams) {
            Ok(t) => t,
            Err(e) => return step(vec![e]),
        };
        let path = match clients.js.account_info().await {
            Ok(info) => PromotionPath::for_api_level(info.api_level),
            Err(source) => {
                return step(vec![ExecError::ApiLevel {
                    region: region.clone(),
                    source: Box::new(source),
                }]);
            }
        };
        let results = bounded(
            streams
                .iter()
                .zip(&takeovers)
                .map(|(s, t)| self.promote_one(region, clients, path, s, epoch, t)),
        )
        .await;
        // Every stream now writable gets its tracked consumers before the step reports Done,
        // so before the DNS swap sends clients here (a retry of the step finds them placed).
        let writable: Vec<StreamName> = streams
            .iter()
            .zip(&results)
            .filter(|(_, r)| r.is_ok())
            .map(|(s, _)| s.clone())
            .collect();
        self.carry_consumers(region, clients, &writable).await;
        step(failures(results))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn missing(i: usize) -> ExecError {
        ExecError::NotConfiguredMirror {
            region: Region::new("eu-central-1").unwrap(),
            stream: StreamName::new(format!("s{i}")).unwrap(),
        }
    }

    #[test]
    fn a_step_summary_names_the_first_ten_failures_and_counts_the_rest() {
        let few: Vec<ExecError> = (0..3).map(missing).collect();
        let line = summary(&few);
        assert!(line.contains("s0") && line.contains("s2"), "{line}");
        assert!(!line.contains("more"), "{line}");
        let many: Vec<ExecError> = (0..5_000).map(missing).collect();
        let line = summary(&many);
        assert!(line.contains("s9") && !line.contains("s10"), "{line}");
        assert!(line.ends_with("; and 4990 more"), "{line}");
    }

    #[tokio::test]
    async fn bounded_work_keeps_the_order_of_the_streams() {
        let out = bounded((0..1_000_u32).map(|i| async move {
            tokio::task::yield_now().await;
            i
        }))
        .await;
        assert_eq!(out, (0..1_000).collect::<Vec<_>>());
    }
}
