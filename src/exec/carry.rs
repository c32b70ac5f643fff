//! The consumer step of a promotion: once a stream is writable, its tracked durable consumers
//! are put on it just after their last known ack floor, before the DNS swap moves clients.
//! Never fails the promotion: a refused consumer is reported by name, the others still made.
use std::collections::{HashMap, HashSet};

use futures::StreamExt;

use super::nats_executor::NatsExecutor;
use crate::consumers::{
    ConsumerInfo, Position, PositionStore, Recreated, Recreator, Side, merge, twins,
};
use crate::model::{Region, StreamName};
use crate::nats::RegionClients;

/// Consumers recreated at once on one stream. NB: each creation of a replicated consumer is a
/// meta-layer proposal and a new consensus group; measured on an idle 3-node lab, 100 creations
/// took 6.7 s one at a time, 0.8 s 16 at a time, 0.74 s 32 at a time and 1.2 s all at once:
/// past 16 the server's throughput is the limit, and each creation only waits longer.
const RECREATE_CONCURRENCY: usize = 16;
/// Streams whose consumers are recreated at once.
const STREAM_CONCURRENCY: usize = 4;
/// Streams whose consumers are listed on the other side at once: plain reads, no proposal.
const LIST_CONCURRENCY: usize = 64;

impl NatsExecutor {
    /// Recreates the tracked consumers of each of `streams`, just promoted in `region`.
    ///
    /// NB: the position store is read once for every stream, and only streams with consumers
    /// to place cost a creation: a promotion of thousands of streams without consumers costs
    /// one read here (per stream, a read and a listing 4 at a time took most of the promotion).
    pub(super) async fn carry_consumers(
        &self,
        region: &Region,
        clients: &RegionClients,
        streams: &[StreamName],
    ) {
        if streams.is_empty() {
            return;
        }
        let mut stored = self.stored_positions(region, clients).await;
        let fresh = self.fresh_positions(region, streams).await;
        let plans: Vec<(StreamName, Vec<Position>)> = streams
            .iter()
            .map(|s| {
                let stored = stored.remove(s.as_str()).unwrap_or_default();
                let fresh = fresh.get(s.as_str()).cloned().flatten();
                (s.clone(), merge(stored, fresh))
            })
            .filter(|(_, positions)| !positions.is_empty())
            .collect();
        let budget = self.parts().0.timing.step_timeout;
        // NB: owned values: a closure over borrowed items makes this future not provably Send.
        let outcomes: Vec<(StreamName, Recreated)> = futures::stream::iter(plans)
            .map(|(s, positions)| async move {
                let r = Recreator {
                    region,
                    js: &clients.js,
                    concurrency: RECREATE_CONCURRENCY,
                    budget,
                }
                .recreate(s.as_str(), positions)
                .await;
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

    /// Every stored consumer position in `region`'s store, by stream; none when the store cannot
    /// be read within the step timeout (the promotion goes on without them).
    async fn stored_positions(
        &self,
        region: &Region,
        clients: &RegionClients,
    ) -> HashMap<String, Vec<Position>> {
        let cfg = self.parts().0;
        let budget = cfg.timing.step_timeout;
        let cluster = cfg.region(region).map_or(3, |r| r.cluster_size.min(3));
        let store = PositionStore::new(clients.js.clone(), region.clone(), cluster);
        let positions = match tokio::time::timeout(budget, store.load(None)).await {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                tracing::warn!(%region, error = %crate::error_chain(&e), "promote: stored consumer positions unreadable");
                Vec::new()
            }
            Err(_) => {
                tracing::warn!(%region, after = ?budget, "promote: stored consumer positions not read in time");
                Vec::new()
            }
        };
        let mut by_stream: HashMap<String, Vec<Position>> = HashMap::new();
        for p in positions {
            by_stream.entry(p.stream.clone()).or_default().push(p);
        }
        by_stream
    }

    /// The other side's durable consumers of each of `streams`, where it still answers (a
    /// planned switchover: its publishers are fenced, acknowledgements still land): the final
    /// floors. `None` for a stream whose other side was not read (a lost region): its stored
    /// positions stand. Each listing is bounded by its own timeout.
    async fn fresh_positions(
        &self,
        region: &Region,
        streams: &[StreamName],
    ) -> HashMap<String, Option<Vec<Position>>> {
        let (cfg, regions) = self.parts();
        let twins = twins(cfg);
        let mut other_side: HashMap<&str, &Side> = HashMap::new();
        for t in &twins {
            for (mine, other) in [(&t.home, &t.away), (&t.away, &t.home)] {
                if &mine.region == region {
                    other_side.entry(mine.stream.as_str()).or_insert(other);
                }
            }
        }
        // NB: not over a connection already known lost (a dead region): its timeout would add
        // straight to the RTO of a failover.
        let connected = |r: &Region| {
            regions.get(r).filter(|c| {
                c.js.client().connection_state() == async_nats::connection::State::Connected
            })
        };
        // One listing of each other side's streams says which have consumers at all: a stream
        // without any is read as an empty listing, not asked (None: that listing failed, every
        // stream is asked).
        let mut with_consumers: HashMap<&Region, Option<HashSet<String>>> = HashMap::new();
        for side in other_side.values() {
            if with_consumers.contains_key(&side.region) {
                continue;
            }
            let names = match connected(&side.region) {
                Some(c) => c.js.stream_list_probed().await.ok().map(|list| {
                    list.into_iter()
                        .filter(|s| s.state.consumer_count > 0)
                        .map(|s| s.config.name().to_owned())
                        .collect()
                }),
                None => None,
            };
            with_consumers.insert(&side.region, names);
        }
        let reads: Vec<(String, Side)> = streams
            .iter()
            .filter_map(|s| Some((s.to_string(), (*other_side.get(s.as_str())?).clone())))
            .collect();
        let with_consumers = &with_consumers;
        futures::stream::iter(reads)
            .map(|(stream, other)| async move {
                let Some(c) = connected(&other.region) else {
                    return (stream, None);
                };
                let none = with_consumers
                    .get(&other.region)
                    .and_then(Option::as_ref)
                    .is_some_and(|w| !w.contains(&other.stream));
                if none {
                    return (stream, Some(Vec::new()));
                }
                match c.js.consumer_list::<ConsumerInfo>(&other.stream).await {
                    Ok(list) => {
                        let now = time::OffsetDateTime::now_utc();
                        let ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000)
                            .unwrap_or(i64::MAX);
                        let fresh = list
                            .into_iter()
                            .filter(|c| c.is_durable() && cfg.consumers.admits(&c.name))
                            .map(|c| Position::from_info(&stream, c, ms))
                            .collect::<Vec<_>>();
                        (stream, Some(fresh))
                    }
                    Err(e) => {
                        tracing::info!(%region, %stream, other = %other.region, error = %crate::error_chain(&e),
                            "promote: the other side's consumers unreadable, using the stored positions");
                        (stream, None)
                    }
                }
            })
            .buffer_unordered(LIST_CONCURRENCY)
            .collect()
            .await
    }
}
