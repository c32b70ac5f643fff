//! `Tracker`: the standby watchdog's task that reads the writable side's durable consumers every
//! `consumers.sync_interval` and keeps their positions in its own region's store. It runs apart
//! from the probe rounds (its own task, each call bounded), so a slow primary never slows them.
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use serde_json::value::RawValue;
use tokio::sync::watch;

use super::error::ConsumersError;
use super::info::ListedConsumer;
use super::position::Position;
use super::store::PositionStore;
use super::summary::{StreamSummary, Summary};
use super::twins::{Side, Twin, twins};
use crate::api::model::Status;
use crate::config::Config;
use crate::model::Region;
use crate::nats::Regions;
use crate::telemetry::Metrics;

/// Streams whose consumers are listed at once (only streams that have any are listed).
const LIST_CONCURRENCY: usize = 32;
/// Positions stored at once.
const PUT_CONCURRENCY: usize = 32;

/// A stored position and when it was last confirmed against the writable side (Unix ms).
#[derive(Debug, Clone)]
struct Known {
    position: Position,
    confirmed_ms: i64,
    /// The config text it was last read with; None when loaded from the store (then compared
    /// once as a map).
    config_text: Option<Box<RawValue>>,
}

impl Known {
    /// Whether the stored position still stands for a consumer read with `floor` and
    /// `config`: same floor and config (counts may drift freely without a write; they are
    /// only shown).
    fn stands(&mut self, floor: u64, config: &RawValue) -> bool {
        if self.position.ack_floor != floor {
            return false;
        }
        if let Some(text) = &self.config_text {
            return text.get() == config.get();
        }
        let same = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(config.get())
            .is_ok_and(|m| m == self.position.config);
        if same {
            self.config_text = Some(config.to_owned());
        }
        same
    }
}

/// The positions the store holds, per promoted stream, then per consumer.
type KnownPositions = BTreeMap<String, BTreeMap<String, Known>>;

/// Tracks the writable region's durable consumers into this watchdog's region.
pub struct Tracker {
    cfg: Arc<Config>,
    regions: Regions,
    /// Which region takes writes, per the driver.
    status: watch::Receiver<Arc<Status>>,
    summary: watch::Sender<Arc<Summary>>,
    metrics: Metrics,
    /// What the store holds. None until loaded.
    known: Option<KnownPositions>,
    store_ready: bool,
}

/// One stream's round: what was read from the writable side.
struct Listed {
    twin_from: Side,
    twin_to: Side,
    consumers: Result<Vec<ListedConsumer>, ConsumersError>,
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(i64::MAX)
}

impl Tracker {
    /// A tracker for the watchdog `cfg` describes, reading the driver's `status` and
    /// publishing its figures on `summary`.
    pub fn new(
        cfg: Arc<Config>,
        regions: Regions,
        status: watch::Receiver<Arc<Status>>,
        summary: watch::Sender<Arc<Summary>>,
        metrics: Metrics,
    ) -> Self {
        Self {
            cfg,
            regions,
            status,
            summary,
            metrics,
            known: None,
            store_ready: false,
        }
    }

    /// Runs a round every `consumers.sync_interval` until `stop` resolves.
    pub async fn run(mut self, stop: impl Future<Output = ()>) {
        let mut tick = tokio::time::interval(self.cfg.consumers.sync_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => return,
                _ = tick.tick() => {}
            }
            let summary = self.round().await;
            // A stream no longer tracked here (this region took over writes) shows zeros, not
            // its last figures.
            for gone in self
                .summary
                .borrow()
                .iter()
                .filter(|old| !summary.iter().any(|s| s.stream == old.stream))
            {
                self.metrics.set_consumers(&gone.stream, 0, 0.0, 0);
            }
            for s in &summary {
                self.metrics.set_consumers(
                    &s.stream,
                    s.consumers,
                    s.oldest_position_age_seconds.unwrap_or(0.0),
                    s.redelivery_at_risk,
                );
            }
            let _ = self.summary.send(Arc::new(summary));
        }
    }

    /// The store in this watchdog's region.
    fn store(&self) -> Option<PositionStore> {
        let site = &self.cfg.watchdog.site;
        let region = self.cfg.region(site)?;
        let clients = self.regions.get(site)?;
        Some(PositionStore::new(
            clients.js.clone(),
            site.clone(),
            region.cluster_size.min(3),
        ))
    }

    /// One round: list, compare, store what changed, forget what is gone.
    pub async fn round(&mut self) -> Summary {
        let site = self.cfg.watchdog.site.clone();
        let writer: Option<Region> = self.status.borrow().active_region.clone();
        let Some(writer) = writer.filter(|w| *w != site) else {
            // This region takes writes (or nobody knows who does): nothing to track here.
            return Vec::new();
        };
        let Some(store) = self.store() else {
            return Vec::new();
        };
        let pairs: Vec<(Side, Side)> = twins(&self.cfg)
            .iter()
            .filter_map(|t: &Twin| {
                t.direction(&writer, &site)
                    .map(|(from, to)| (from.clone(), to.clone()))
            })
            .collect();
        let store_error = match self.prepare(&store).await {
            Ok(()) => None,
            Err(e) => Some(crate::error_chain(&e)),
        };
        let with_consumers = self.with_consumers(&writer).await;
        let this: &Self = self;
        let listed: Vec<Listed> = futures::stream::iter(pairs)
            .map(|(from, to)| {
                let none = with_consumers
                    .as_ref()
                    .is_some_and(|w| !w.contains(&from.stream));
                async move {
                    if none {
                        Listed {
                            twin_from: from,
                            twin_to: to,
                            consumers: Ok(Vec::new()),
                        }
                    } else {
                        this.list(from, to).await
                    }
                }
            })
            .buffer_unordered(LIST_CONCURRENCY)
            .collect()
            .await;
        let now = now_ms();
        let mut summary = Vec::new();
        for l in listed {
            summary.push(self.apply(&store, l, now, store_error.as_deref()).await);
        }
        summary.sort_by(|a, b| a.stream.cmp(&b.stream));
        if summary.iter().any(|s| s.error.is_some()) {
            // The store may have gone (a wiped region): check it again next round.
            self.store_ready = false;
        }
        summary
    }

    /// Creates the store and loads what it holds, once each (retried next round on failure).
    async fn prepare(&mut self, store: &PositionStore) -> Result<(), ConsumersError> {
        if !self.store_ready {
            if store.ensure().await? {
                // A new (or lost and remade) store holds nothing: everything is written again.
                self.known = Some(BTreeMap::new());
            }
            self.store_ready = true;
        }
        if self.known.is_none() {
            let mut known = KnownPositions::new();
            for p in store.load(None).await? {
                let confirmed_ms = p.read_at_ms;
                known.entry(p.stream.clone()).or_default().insert(
                    p.consumer.clone(),
                    Known {
                        position: p,
                        confirmed_ms,
                        config_text: None,
                    },
                );
            }
            self.known = Some(known);
        }
        Ok(())
    }

    /// The writer's streams that have any consumer, from one listing of its streams; `None`
    /// when that listing fails (then every stream's consumers are listed).
    ///
    /// NB: listing every stream's consumers, a few at a time across the WAN, took about 11 s a
    /// round at 1,000 streams on the transatlantic lab, so the positions a failover recreated
    /// were that old; one listing of the streams costs two round trips at any size.
    async fn with_consumers(&self, writer: &Region) -> Option<HashSet<String>> {
        let list = self
            .regions
            .get(writer)?
            .js
            .stream_list_probed()
            .await
            .ok()?;
        Some(
            list.into_iter()
                .filter(|s| s.state.consumer_count > 0)
                .map(|s| s.config.name().to_owned())
                .collect(),
        )
    }

    async fn list(&self, from: Side, to: Side) -> Listed {
        let consumers = match self.regions.get(&from.region) {
            None => Err(ConsumersError::UnknownRegion {
                region: from.region.clone(),
            }),
            Some(c) => {
                c.js.consumer_list::<ListedConsumer>(&from.stream)
                    .await
                    .map_err(|source| ConsumersError::Api {
                        region: from.region.clone(),
                        what: from.stream.clone(),
                        source: Box::new(source),
                    })
            }
        };
        Listed {
            twin_from: from,
            twin_to: to,
            consumers,
        }
    }

    async fn apply(
        &mut self,
        store: &PositionStore,
        l: Listed,
        now: i64,
        store_error: Option<&str>,
    ) -> StreamSummary {
        let stream = l.twin_to.stream.clone();
        let mut summary = StreamSummary {
            stream: stream.clone(),
            region: l.twin_to.region.to_string(),
            read_from: format!("{}/{}", l.twin_from.region, l.twin_from.stream),
            consumers: 0,
            oldest_position_age_seconds: None,
            redelivery_at_risk: 0,
            error: store_error.map(str::to_owned),
        };
        let consumers = &self.cfg.consumers;
        let mut errors = Vec::new();
        if let (Some(known), Ok(list), None) = (self.known.as_mut(), &l.consumers, store_error) {
            let known = known.entry(stream.clone()).or_default();
            let mut read = BTreeSet::new();
            let mut changed = Vec::new();
            for c in list {
                let head = c.head();
                if !(head.durable && consumers.admits(&c.name)) {
                    continue;
                }
                read.insert(c.name.as_str());
                if let Some(k) = known.get_mut(&c.name) {
                    summary.redelivery_at_risk += head.floor.saturating_sub(k.position.ack_floor);
                    if k.stands(head.floor, &c.config) {
                        // Unchanged: confirmed as it stands, nothing written.
                        k.confirmed_ms = now;
                        continue;
                    }
                }
                match c.config_map() {
                    Ok(config) => changed.push((
                        Position {
                            stream: stream.clone(),
                            consumer: c.name.clone(),
                            config,
                            ack_floor: head.floor,
                            delivered: c.delivered.stream_seq,
                            ack_pending: c.num_ack_pending,
                            redelivered: c.num_redelivered,
                            pending: c.num_pending,
                            read_at_ms: now,
                        },
                        c.config.clone(),
                    )),
                    Err(e) => errors.push(format!("{stream}/{}: config unreadable: {e}", c.name)),
                }
            }
            let results: Vec<(Position, Box<RawValue>, Result<(), ConsumersError>)> =
                futures::stream::iter(changed)
                    .map(|(p, text)| async move {
                        let r = store.put(&p).await;
                        (p, text, r)
                    })
                    .buffer_unordered(PUT_CONCURRENCY)
                    .collect()
                    .await;
            for (p, text, r) in results {
                match r {
                    Ok(()) => {
                        known.insert(
                            p.consumer.clone(),
                            Known {
                                position: p,
                                confirmed_ms: now,
                                config_text: Some(text),
                            },
                        );
                    }
                    Err(e) => errors.push(crate::error_chain(&e)),
                }
            }
            let gone: Vec<String> = known
                .keys()
                .filter(|c| !read.contains(c.as_str()))
                .cloned()
                .collect();
            for c in gone {
                match store.remove(&stream, &c).await {
                    Ok(()) => {
                        known.remove(&c);
                    }
                    Err(e) => errors.push(crate::error_chain(&e)),
                }
            }
        }
        if let Err(e) = &l.consumers {
            errors.push(crate::error_chain(e));
        }
        if let Some(mine) = self.known.as_ref().and_then(|k| k.get(&stream)) {
            summary.consumers = u64::try_from(mine.len()).unwrap_or(u64::MAX);
            summary.oldest_position_age_seconds = mine
                .values()
                .map(|k| k.confirmed_ms)
                .min()
                .map(|oldest| (now - oldest).max(0) as f64 / 1000.0);
        }
        if !errors.is_empty() {
            summary.error = Some(errors.join("; "));
        }
        summary
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn loaded(floor: u64) -> Known {
        Known {
            position: Position {
                stream: "events".into(),
                consumer: "billing".into(),
                config: json!({"durable_name": "billing", "max_deliver": 5})
                    .as_object()
                    .unwrap()
                    .clone(),
                ack_floor: floor,
                delivered: floor,
                ack_pending: 0,
                redelivered: 0,
                pending: 0,
                read_at_ms: 1,
            },
            confirmed_ms: 1,
            config_text: None,
        }
    }

    fn text(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    #[test]
    fn a_position_loaded_from_the_store_stands_for_the_same_config_in_any_key_order() {
        let mut k = loaded(40);
        assert!(k.stands(40, &text(r#"{"max_deliver":5,"durable_name":"billing"}"#)));
        // Remembered as text from then on: the server's own order is what is compared.
        assert!(k.stands(40, &text(r#"{"max_deliver":5,"durable_name":"billing"}"#)));
    }

    #[test]
    fn a_moved_floor_or_a_changed_config_is_written_again() {
        let mut k = loaded(40);
        let same = text(r#"{"durable_name":"billing","max_deliver":5}"#);
        assert!(!k.stands(41, &same));
        assert!(k.stands(40, &same));
        assert!(!k.stands(40, &text(r#"{"durable_name":"billing","max_deliver":6}"#)));
        let mut fresh = loaded(40);
        assert!(!fresh.stands(40, &text(r#"{"durable_name":"billing"}"#)));
        assert!(fresh.config_text.is_none());
    }
}
