//! The consumer step of a promotion: once a stream is writable, its tracked durable consumers
//! are put on it just after their last known ack floor, before the DNS swap moves clients.
//! Never fails the promotion: a refused consumer is reported by name, the others still made.
use futures::StreamExt;

use super::nats_executor::NatsExecutor;
use crate::consumers::{ConsumerInfo, Position, PositionStore, Recreated, Recreator, merge, twins};
use crate::model::{Region, StreamName};
use crate::nats::RegionClients;

/// Consumers recreated at once on one stream. NB: each creation of a replicated consumer is a
/// meta-layer proposal and a new consensus group; measured on an idle 3-node lab, 100 creations
/// took 6.7 s one at a time, 0.8 s 16 at a time, 0.74 s 32 at a time and 1.2 s all at once:
/// past 16 the server's throughput is the limit, and each creation only waits longer.
const RECREATE_CONCURRENCY: usize = 16;
/// Streams whose consumers are recreated at once.
const STREAM_CONCURRENCY: usize = 4;

impl NatsExecutor {
    /// Recreates the tracked consumers of each of `streams`, just promoted in `region`.
    pub(super) async fn carry_consumers(
        &self,
        region: &Region,
        clients: &RegionClients,
        streams: &[StreamName],
    ) {
        // NB: owned names: a closure over borrowed items makes this future not provably Send.
        let outcomes: Vec<(StreamName, Recreated)> = futures::stream::iter(streams.to_vec())
            .map(|s| async move {
                let r = self.carry_one(region, clients, &s).await;
                (s, r)
            })
            .buffer_unordered(STREAM_CONCURRENCY)
            .collect()
            .await;
        for (stream, r) in outcomes {
            for e in &r.failed {
                tracing::warn!(%region, %stream, error = %crate::error_chain(e), "promote: consumer not recreated");
            }
            if !(r.created.is_empty()
                && r.replaced.is_empty()
                && r.left.is_empty()
                && r.failed.is_empty())
            {
                tracing::info!(%region, %stream, created = ?r.created, replaced = ?r.replaced,
                    left = ?r.left, failed = r.failed.len(), "promote: tracked consumers carried over");
            }
            if let Some(m) = &self.metrics {
                let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
                m.consumers_recreated("created", n(r.created.len()));
                m.consumers_recreated("left", n(r.left.len()));
                m.consumers_recreated("replaced", n(r.replaced.len()));
                m.consumers_recreated("failed", n(r.failed.len()));
            }
        }
    }

    async fn carry_one(
        &self,
        region: &Region,
        clients: &RegionClients,
        stream: &StreamName,
    ) -> Recreated {
        let (cfg, regions) = self.parts();
        let budget = cfg.timing.step_timeout;
        let cluster = cfg.region(region).map_or(3, |r| r.cluster_size.min(3));
        let store = PositionStore::new(clients.js.clone(), region.clone(), cluster);
        let stored = match tokio::time::timeout(budget, store.load(Some(stream.as_str()))).await {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                tracing::warn!(%region, %stream, error = %crate::error_chain(&e), "promote: stored consumer positions unreadable");
                Vec::new()
            }
            Err(_) => {
                tracing::warn!(%region, %stream, after = ?budget, "promote: stored consumer positions not read in time");
                Vec::new()
            }
        };
        // The other side, when it still answers (a planned switchover: its publishers are
        // fenced, acknowledgements still land), gives the final floors; otherwise (a lost
        // region) the stored ones stand. One bounded listing, never waited on past its timeout.
        let fresh = match twins(cfg)
            .iter()
            .find_map(|t| t.counterpart(region, stream.as_str()).cloned())
        {
            // NB: not over a connection already known lost (a dead region): its timeout would
            // add straight to the RTO of a failover.
            Some(other) => match regions.get(&other.region).filter(|c| {
                c.js.client().connection_state() == async_nats::connection::State::Connected
            }) {
                Some(c) => match c.js.consumer_list::<ConsumerInfo>(&other.stream).await {
                    Ok(list) => {
                        let now = time::OffsetDateTime::now_utc();
                        let ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000)
                            .unwrap_or(i64::MAX);
                        Some(
                            list.into_iter()
                                .filter(|c| c.is_durable() && cfg.consumers.admits(&c.name))
                                .map(|c| Position::from_info(stream.as_str(), c, ms))
                                .collect::<Vec<_>>(),
                        )
                    }
                    Err(e) => {
                        tracing::info!(%region, %stream, other = %other.region, error = %crate::error_chain(&e),
                            "promote: the other side's consumers unreadable, using the stored positions");
                        None
                    }
                },
                None => None,
            },
            None => None,
        };
        let positions = merge(stored, fresh);
        if positions.is_empty() {
            return Recreated::default();
        }
        Recreator {
            region,
            js: &clients.js,
            concurrency: RECREATE_CONCURRENCY,
            budget,
        }
        .recreate(stream.as_str(), positions)
        .await
    }
}
