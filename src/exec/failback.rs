//! Failback's executors on the real servers: capture an old primary's divergent tail (export it
//! to a record stream in the current primary, re-publish what is missing there by message id)
//! and rebuild streams as mirrors of their twins. Idempotent, epoch-guarded, and serialised in
//! this process, so a step resent while a slow one is still running waits and then finds the
//! work done.
use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use serde_json::json;

use super::edit::{self, Refusal};
use super::error::ExecError;
use super::nats_executor::{NatsExecutor, summary};
use super::tail::{self, Header};
use crate::config::{Config, TailPolicy};
use crate::core::{CaptureResult, StepResult, TailCount};
use crate::model::{Epoch, Region, StreamName};
use crate::nats::{JsApi, RegionClients, StoredMessage, StreamConfig, StreamInfo};
use crate::topology::{Desired, ExpectedStream, StreamKind, expected};

/// Captures divergent tails and rebuilds streams as mirrors (failback).
pub trait Reseeder: Send + Sync + 'static {
    /// For each of `streams` in `region` (the old primary): the messages after the last
    /// sequence it shares with its twin in `into` are exported to the record
    /// `natsdr-divergent-<stream>-<epoch>` in `into`, and those with a message id the twin
    /// lacks are re-published into it. Changes nothing in `region`. A repeat returns the
    /// counts the record holds.
    fn capture_tail(
        &self,
        region: &Region,
        into: &Region,
        epoch: Epoch,
        streams: &[StreamName],
    ) -> impl Future<Output = CaptureResult> + Send;

    /// Rebuilds each of `streams` in `region` as a mirror of its configured twin in `source`
    /// (deleted and created again: a stream cannot become a mirror in place). Refuses a stream
    /// that still takes writes, one stamped with an epoch newer than `epoch`, and one holding
    /// messages after the common sequence that no complete record of `epoch` holds.
    fn reseed(
        &self,
        region: &Region,
        source: &Region,
        epoch: Epoch,
        streams: &[StreamName],
    ) -> impl Future<Output = StepResult> + Send;
}

/// How many message reads run at once while scanning a stream.
const READS_IN_FLIGHT: usize = 32;
/// How long one re-publish waits for its acknowledgement.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);
/// How many publishes of a tail await their acknowledgements at once.
const PUBLISHES_IN_FLIGHT: usize = 256;

/// One process-wide lock: failback steps never run concurrently (a resent step waits).
fn serial() -> &'static tokio::sync::Mutex<()> {
    static LOCK: OnceLock<tokio::sync::Mutex<()>> = OnceLock::new();
    LOCK.get_or_init(|| tokio::sync::Mutex::new(()))
}

/// A stream and the config's twin of it in the other region.
struct Pair {
    /// What the config says about the stream in its own region.
    mine: ExpectedStream,
    /// Its twin.
    twin: ExpectedStream,
}

impl Pair {
    /// The twin as `other`'s servers hold it (`twin_js`). Its absence is an error: every
    /// failback step on `region`'s stream compares with it or copies from it.
    async fn find_twin(
        &self,
        twin_js: &JsApi,
        region: &Region,
        other: &Region,
    ) -> Result<StreamInfo, ExecError> {
        let twin_name = self.twin.name.as_str();
        twin_js
            .find_stream(twin_name)
            .await
            .map_err(ExecError::api(other, twin_name))?
            .ok_or_else(|| ExecError::MissingTwin {
                region: region.clone(),
                stream: self.mine.name.clone(),
                twin: twin_name.to_owned(),
            })
    }
}

/// The configured twin of `stream` (in `region`) in `other`: a source's mirror there, or a
/// mirror's source there; a KV bucket's twin has the same name.
fn pair(
    all: &[ExpectedStream],
    region: &Region,
    stream: &StreamName,
    other: &Region,
) -> Result<Pair, ExecError> {
    let no_twin = || ExecError::NoTwin {
        region: region.clone(),
        stream: stream.clone(),
        other: other.clone(),
    };
    let mine = ExpectedStream::find(all, region, stream).ok_or_else(no_twin)?;
    let twin = all.iter().find(|e| {
        &e.region == other
            && match (&mine.kind, &e.kind) {
                (
                    StreamKind::Stream,
                    StreamKind::Mirror {
                        source,
                        source_region,
                    },
                ) => source == stream && source_region == region,
                (
                    StreamKind::Mirror {
                        source,
                        source_region,
                    },
                    StreamKind::Stream,
                ) => *source == e.name && source_region == other,
                (StreamKind::Kv { .. }, StreamKind::KvMirror { .. })
                | (StreamKind::KvMirror { .. }, StreamKind::Kv { .. }) => e.name == *stream,
                _ => false,
            }
    });
    Ok(Pair {
        mine: mine.clone(),
        twin: twin.ok_or_else(no_twin)?.clone(),
    })
}

/// The config that makes `p.mine` a mirror of `p.twin` (in `source_domain`): the home mirror's
/// config where the config has one; else the stream's own config, without subjects or a
/// duplicate window (a mirror has neither), mirroring the twin. Stamped with `epoch`.
fn mirror_config(p: &Pair, source_domain: &str, epoch: Epoch) -> StreamConfig {
    let mut cfg = match p.mine.kind {
        StreamKind::Mirror { .. } | StreamKind::KvMirror { .. } => p.mine.config.clone(),
        StreamKind::Stream | StreamKind::Kv { .. } => {
            let mut map = p.mine.config.clone().into_map();
            map.remove("subjects");
            map.remove("duplicate_window");
            map.insert(
                "mirror".into(),
                json!({"name": p.twin.name.as_str(),
                       "external": {"api": format!("$JS.{source_domain}.API")}}),
            );
            if matches!(p.mine.kind, StreamKind::Kv { .. }) {
                map.insert("mirror_direct".into(), json!(true));
            }
            StreamConfig::from_map(map)
        }
    };
    cfg.set_metadata(crate::topology::META_EPOCH, epoch.to_string());
    cfg
}

/// One message to publish: subject, headers, payload.
type Outgoing = (String, Vec<Header>, Vec<u8>);

/// Publishes `msgs` in order on one connection (so a stream stores them in that order), with up
/// to `PUBLISHES_IN_FLIGHT` acknowledgements awaited at once, and returns per message whether
/// the stream dropped it as a duplicate of a message id it holds. An acknowledgement from any
/// stream but `stream` is an error. One round trip per message
/// would cost a tail of 15,000 messages minutes across regions.
async fn publish_all(
    js: &JsApi,
    region: &Region,
    stream: &str,
    msgs: impl IntoIterator<Item = Outgoing>,
) -> Result<Vec<bool>, ExecError> {
    type Ack =
        <async_nats::jetstream::context::PublishAckFuture as std::future::IntoFuture>::IntoFuture;
    let ctx = async_nats::jetstream::context::ContextBuilder::new()
        .timeout(PUBLISH_TIMEOUT)
        .build(js.client().clone());
    let failed = |subject: &str, error: String| ExecError::Publish {
        region: region.clone(),
        subject: subject.to_owned(),
        error,
    };
    let settle = |(subject, ack): (String, Ack)| async move {
        match ack.await {
            Ok(a) if a.stream == stream => Ok(a.duplicate),
            Ok(a) => Err(failed(
                &subject,
                format!("stored in stream {}, not {stream}", a.stream),
            )),
            Err(e) => Err(failed(&subject, e.to_string())),
        }
    };
    let mut pending: std::collections::VecDeque<(String, Ack)> = Default::default();
    let mut out = Vec::new();
    for (subject, headers, payload) in msgs {
        if pending.len() >= PUBLISHES_IN_FLIGHT
            && let Some(oldest) = pending.pop_front()
        {
            out.push(settle(oldest).await?);
        }
        let mut map = async_nats::HeaderMap::new();
        for (k, v) in &headers {
            map.append(k.as_str(), v.as_str());
        }
        let ack = ctx
            .publish_with_headers(subject.clone(), map, payload.into())
            .await
            .map_err(|e| failed(&subject, e.to_string()))?;
        pending.push_back((subject, std::future::IntoFuture::into_future(ack)));
    }
    for p in pending {
        out.push(settle(p).await?);
    }
    Ok(out)
}

impl NatsExecutor {
    fn clients(&self, region: &Region) -> Result<&RegionClients, ExecError> {
        self.parts()
            .1
            .get(region)
            .ok_or_else(|| ExecError::UnknownRegion {
                region: region.clone(),
            })
    }

    fn domain(&self, region: &Region) -> Result<String, ExecError> {
        self.parts()
            .0
            .region(region)
            .map(|r| r.domain.clone())
            .ok_or_else(|| ExecError::UnknownRegion {
                region: region.clone(),
            })
    }

    /// Every stream of the action with its twin; refuses the whole action if one is GDPR-only
    /// or has no twin, before anything is touched.
    fn pairs(
        &self,
        region: &Region,
        other: &Region,
        streams: &[StreamName],
    ) -> Result<Vec<Pair>, ExecError> {
        let cfg: &Config = self.parts().0;
        if let Some(s) = streams.iter().find(|n| {
            cfg.streams
                .iter()
                .any(|s| s.gdpr && &s.name == *n && &s.region == region)
        }) {
            return Err(ExecError::Gdpr {
                region: region.clone(),
                stream: s.clone(),
            });
        }
        let all = expected(&Desired::from(cfg)).map_err(|source| ExecError::Topology { source })?;
        streams
            .iter()
            .map(|s| pair(&all, region, s, other))
            .collect()
    }
}

/// How one sequence compares in a stream and its twin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// Both hold it, and it is one message.
    Same,
    /// Both hold it, and they differ: each region took its own message there.
    Differ,
    /// One of the two does not hold it (deleted, or past its last sequence).
    Missing,
}

/// The highest sequence in `[floor, top]` where `probe` finds the same message in both streams,
/// or `floor - 1` when there is none (what lies below either stream's first sequence is gone
/// and counts as shared; `top` itself when `top < floor`). The shared messages form a prefix (a
/// mirror copies its source in order with the source's sequences and times, and a message
/// each region took on its own has its own time), so a binary search finds the last one in
/// O(log n) probes; only a run of missing sequences is walked down one by one. A linear walk
/// from the top cost two reads per sequence of divergence: minutes for a tail of thousands
/// of messages across regions.
async fn last_shared<E, Fut>(
    floor: u64,
    top: u64,
    mut probe: impl FnMut(u64) -> Fut,
) -> Result<u64, E>
where
    Fut: Future<Output = Result<Probe, E>>,
{
    let floor = floor.max(1);
    if top < floor {
        return Ok(top);
    }
    // Every sequence in [floor, lo] is shared or missing; none in (hi, top] is shared.
    let (mut best, mut lo, mut hi) = (floor - 1, floor - 1, top);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        let mut seq = mid;
        let found = loop {
            if seq == lo {
                break None;
            }
            match probe(seq).await? {
                Probe::Missing => seq -= 1,
                p => break Some((seq, p)),
            }
        };
        match found {
            Some((seq, Probe::Same)) => (best, lo) = (seq, seq),
            Some((seq, _)) => hi = seq - 1,
            None => lo = mid,
        }
    }
    Ok(best)
}

/// The last sequence `mine` (in `region`) shares with `twin` (in `other`), by `last_shared`
/// between the higher of the two first sequences and the lower of the two last ones.
async fn common_seq(
    js: &JsApi,
    region: &Region,
    mine: &StreamInfo,
    twin_js: &JsApi,
    other: &Region,
    twin: &StreamInfo,
) -> Result<u64, ExecError> {
    let floor = mine.state.first_seq.max(twin.state.first_seq);
    let top = mine.state.last_seq.min(twin.state.last_seq);
    last_shared(floor, top, |seq| async move {
        let (a, b) = tokio::try_join!(
            async {
                js.stream_msg_get(mine.config.name(), seq)
                    .await
                    .map_err(ExecError::api(region, mine.config.name()))
            },
            async {
                twin_js
                    .stream_msg_get(twin.config.name(), seq)
                    .await
                    .map_err(ExecError::api(other, twin.config.name()))
            },
        )?;
        Ok(match (&a, &b) {
            (Some(a), Some(b)) if tail::same_message(a, b) => Probe::Same,
            (Some(_), Some(_)) => Probe::Differ,
            _ => Probe::Missing,
        })
    })
    .await
}

/// The messages of `stream` from `first` to `last` that exist, in order.
async fn read_range(
    js: &JsApi,
    region: &Region,
    stream: &str,
    first: u64,
    last: u64,
) -> Result<Vec<StoredMessage>, ExecError> {
    let got: Vec<Option<StoredMessage>> = futures::stream::iter(first..=last)
        .map(|seq| async move { js.stream_msg_get(stream, seq).await })
        .buffered(READS_IN_FLIGHT)
        .map_err(ExecError::api(region, stream))
        .try_collect()
        .await?;
    Ok(got.into_iter().flatten().collect())
}

/// The counts a finished record holds, if it is finished.
fn recorded(cfg: &StreamConfig, stream: &StreamName) -> Option<TailCount> {
    cfg.metadata(tail::META_DONE)?;
    let n = |k| cfg.metadata(k).and_then(|v| v.parse().ok()).unwrap_or(0);
    Some(TailCount {
        stream: stream.clone(),
        common_seq: n(tail::META_COMMON),
        captured: n(tail::META_CAPTURED),
        recovered: n(tail::META_RECOVERED),
        duplicates: n(tail::META_DUPLICATES),
        kept: n(tail::META_KEPT),
    })
}

impl NatsExecutor {
    async fn capture_one(
        &self,
        region: &Region,
        into: &Region,
        epoch: Epoch,
        p: &Pair,
    ) -> Result<TailCount, ExecError> {
        let (js, twin_js) = (&self.step_js(region)?, &self.step_js(into)?);
        let stream = &p.mine.name;
        let record = tail::record_name(stream, epoch);
        if let Some(r) = twin_js
            .find_stream(&record)
            .await
            .map_err(ExecError::api(into, &record))?
            && let Some(done) = recorded(&r.config, stream)
        {
            return Ok(done);
        }
        let zero = |common| TailCount {
            stream: stream.clone(),
            common_seq: common,
            captured: 0,
            recovered: 0,
            duplicates: 0,
            kept: 0,
        };
        let Some(mine) = js
            .find_stream(stream.as_str())
            .await
            .map_err(ExecError::api(region, stream.as_str()))?
        else {
            return Ok(zero(0));
        };
        if mine.config.mirror().is_some() {
            // Already reseeded: its tail was captured before (or it never had one).
            return Ok(zero(mine.state.last_seq));
        }
        let twin_name = p.twin.name.as_str();
        let twin = p.find_twin(twin_js, region, into).await?;
        let common = common_seq(js, region, &mine, twin_js, into, &twin).await?;
        if mine.state.last_seq <= common {
            return Ok(zero(common));
        }
        let tail_msgs =
            read_range(js, region, stream.as_str(), common + 1, mine.state.last_seq).await?;
        // A fresh record each attempt: an interrupted export is redone whole.
        if twin_js
            .find_stream(&record)
            .await
            .map_err(ExecError::api(into, &record))?
            .is_some()
        {
            twin_js
                .stream_delete(&record)
                .await
                .map_err(ExecError::api(into, &record))?;
        }
        let replicas = twin
            .config
            .get("num_replicas")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(1);
        let record_cfg = tail::record_config(stream, epoch, replicas, common);
        twin_js
            .stream_create(&record_cfg)
            .await
            .map_err(ExecError::api(into, &record))?;
        let record_subject = record_cfg.subjects().first().cloned().unwrap_or_default();
        let exports: Vec<Outgoing> = tail_msgs
            .iter()
            .map(|m| {
                let mut h = tail::without_preconditions(tail::headers(m));
                h.push((tail::ORIGINAL_STREAM.into(), stream.to_string()));
                h.push((tail::ORIGINAL_SUBJECT.into(), m.subject.clone()));
                h.push((tail::ORIGINAL_SEQ.into(), m.seq.to_string()));
                h.push((tail::ORIGINAL_TIME.into(), m.time.to_string()));
                (record_subject.clone(), h, tail::payload(m))
            })
            .collect();
        publish_all(twin_js, into, &record, exports).await?;
        let mut count = zero(common);
        count.captured = u64::try_from(tail_msgs.len()).unwrap_or(u64::MAX);
        if self.parts().0.failback.tail == TailPolicy::Keep {
            // The operator reviews the record and re-publishes what should be.
            count.kept = count.captured;
            return Self::finish_record(twin_js, into, &record, record_cfg, count).await;
        }
        // What the twin already holds since the common sequence, by message id: a publisher
        // that saw no ack from the old primary sent it again to the new one.
        let since = read_range(twin_js, into, twin_name, common + 1, twin.state.last_seq).await?;
        let present: std::collections::BTreeSet<String> = since
            .iter()
            .filter_map(|m| tail::msg_id(&tail::headers(m)).map(str::to_owned))
            .collect();
        let twin_subjects = twin.config.subjects();
        let mut missing = Vec::new();
        for m in &tail_msgs {
            let h = tail::headers(m);
            let Some(id) = tail::msg_id(&h).map(str::to_owned) else {
                count.kept += 1;
                continue;
            };
            if present.contains(&id) {
                count.duplicates += 1;
                continue;
            }
            // Only a subject the twin takes is re-published (in one account no two streams
            // share a subject, so it lands in the twin; the acknowledgement says so). No
            // `Nats-Expected-Stream` header: a 2.10 mirror cannot store a message carrying one
            // for another stream and stalls on it, reporting no lag and no error (tests/nats_api.rs).
            if !twin_subjects
                .iter()
                .any(|f| tail::subject_matches(f, &m.subject))
            {
                count.kept += 1;
                continue;
            }
            missing.push((
                m.subject.clone(),
                tail::without_preconditions(h),
                tail::payload(m),
            ));
        }
        for duplicate in publish_all(twin_js, into, twin_name, missing).await? {
            if duplicate {
                count.duplicates += 1;
            } else {
                count.recovered += 1;
            }
        }
        Self::finish_record(twin_js, into, &record, record_cfg, count).await
    }

    /// Marks `record` done with the tail's counts, so a repeated capture returns them as is.
    async fn finish_record(
        twin_js: &JsApi,
        into: &Region,
        record: &str,
        mut record_cfg: StreamConfig,
        count: TailCount,
    ) -> Result<TailCount, ExecError> {
        for (k, v) in [
            (tail::META_CAPTURED, count.captured),
            (tail::META_RECOVERED, count.recovered),
            (tail::META_DUPLICATES, count.duplicates),
            (tail::META_KEPT, count.kept),
        ] {
            record_cfg.set_metadata(k, v.to_string());
        }
        record_cfg.set_metadata(tail::META_DONE, "true");
        twin_js
            .stream_update(&record_cfg)
            .await
            .map_err(ExecError::api(into, record))?;
        tracing::info!(%record, %into, common = count.common_seq,
            captured = count.captured, recovered = count.recovered,
            duplicates = count.duplicates, kept = count.kept,
            "failback: divergent tail captured");
        Ok(count)
    }

    async fn reseed_one(
        &self,
        region: &Region,
        source: &Region,
        epoch: Epoch,
        p: &Pair,
    ) -> Result<(), ExecError> {
        let (js, twin_js) = (&self.step_js(region)?, &self.step_js(source)?);
        let stream = &p.mine.name;
        let twin_name = p.twin.name.as_str();
        let target = mirror_config(p, &self.domain(source)?, epoch);
        let Some(mine) = js
            .find_stream(stream.as_str())
            .await
            .map_err(ExecError::api(region, stream.as_str()))?
        else {
            js.stream_create(&target)
                .await
                .map_err(ExecError::api(region, stream.as_str()))?;
            return Ok(());
        };
        let refused = ExecError::refused(region, stream);
        if let Some(stamp) = edit::stamp(&mine.config)
            && stamp > epoch
        {
            return Err(refused(Refusal::NewerEpoch { stamp, epoch }));
        }
        if mine
            .config
            .mirror()
            .and_then(|m| m.get("name"))
            .and_then(|n| n.as_str())
            == Some(twin_name)
        {
            return Ok(());
        }
        if !edit::is_fenced(&mine.config) {
            return Err(ExecError::StillWritable {
                region: region.clone(),
                stream: stream.clone(),
            });
        }
        let twin = p.find_twin(twin_js, region, source).await?;
        // Never lose data quietly: what only this stream holds must be in a finished record.
        let common = common_seq(js, region, &mine, twin_js, source, &twin).await?;
        if mine.state.last_seq > common {
            let record = tail::record_name(stream, epoch);
            let done = twin_js
                .find_stream(&record)
                .await
                .map_err(ExecError::api(source, &record))?
                .filter(|r| recorded(&r.config, stream).is_some());
            if done.is_none() {
                return Err(ExecError::Uncaptured {
                    region: region.clone(),
                    stream: stream.clone(),
                    common,
                    messages: mine.state.last_seq - common,
                });
            }
        }
        js.stream_delete(stream.as_str())
            .await
            .map_err(ExecError::api(region, stream.as_str()))?;
        js.stream_create(&target)
            .await
            .map_err(ExecError::api(region, stream.as_str()))?;
        tracing::info!(%region, %stream, %epoch, twin = twin_name, %source, "failback: rebuilt as a mirror");
        Ok(())
    }
}

/// Whether a failback step's failures may pass on a retry, and what they were.
///
/// NB: a failback step retries every JetStream API failure, final codes included, where the
/// other executors follow `JsError::is_retryable`; the rule is kept as it was, explicit here.
fn verdict(errors: &[ExecError]) -> (bool, String) {
    let retryable = errors
        .iter()
        .all(|e| matches!(e, ExecError::Api { .. }) || e.is_retryable());
    (retryable, summary(errors))
}

impl NatsExecutor {
    /// `region`'s JetStream API bounded by the step timeout, not the probe timeout: failback
    /// creates streams (a new raft group each) and reads whole tails, which a loaded 2.10
    /// cluster answered in over 400 ms, once often enough to count the step failed for good.
    fn step_js(&self, region: &Region) -> Result<crate::nats::JsApi, ExecError> {
        Ok(self
            .clients(region)?
            .js
            .with_timeout(self.config.timing.step_timeout))
    }

    /// Runs `step` on each stream of a failback action paired with its twin in `other`, one
    /// stream after another and one action at a time in this process: every stream's result,
    /// or the verdict on all that failed (a stream's failure does not stop the others).
    async fn each_pair<T, F>(
        &self,
        region: &Region,
        other: &Region,
        streams: &[StreamName],
        step: impl Fn(Pair) -> F,
    ) -> Result<Vec<T>, (bool, String)>
    where
        F: Future<Output = Result<T, ExecError>>,
    {
        let _one_at_a_time = serial().lock().await;
        let pairs = self
            .pairs(region, other, streams)
            .map_err(|e| verdict(&[e]))?;
        let mut done = Vec::new();
        let mut errors = Vec::new();
        for p in pairs {
            match step(p).await {
                Ok(t) => done.push(t),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(done)
        } else {
            Err(verdict(&errors))
        }
    }
}

impl Reseeder for NatsExecutor {
    async fn capture_tail(
        &self,
        region: &Region,
        into: &Region,
        epoch: Epoch,
        streams: &[StreamName],
    ) -> CaptureResult {
        let capture = |p| async move { self.capture_one(region, into, epoch, &p).await };
        match self.each_pair(region, into, streams, capture).await {
            Ok(tail) => CaptureResult::Done { tail },
            Err((retryable, error)) => CaptureResult::Failed { retryable, error },
        }
    }

    async fn reseed(
        &self,
        region: &Region,
        source: &Region,
        epoch: Epoch,
        streams: &[StreamName],
    ) -> StepResult {
        let reseed = |p| async move { self.reseed_one(region, source, epoch, &p).await };
        match self.each_pair(region, source, streams, reseed).await {
            Ok(_) => StepResult::Done,
            Err((retryable, error)) => StepResult::Failed { retryable, error },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// What a linear walk down from `top` finds: the first shared sequence, else `floor - 1`.
    fn linear(world: &BTreeMap<u64, Probe>, floor: u64, top: u64) -> u64 {
        let floor = floor.max(1);
        (floor..=top)
            .rev()
            .find(|s| world.get(s) == Some(&Probe::Same))
            .unwrap_or(top.min(floor - 1))
    }

    fn search(world: &BTreeMap<u64, Probe>, floor: u64, top: u64) -> (u64, usize) {
        let probes = std::cell::Cell::new(0);
        let got = futures::executor::block_on(last_shared::<(), _>(floor, top, |seq| {
            probes.set(probes.get() + 1);
            assert!(
                (floor.max(1)..=top).contains(&seq),
                "probed {seq} outside [{floor}, {top}]"
            );
            let p = world.get(&seq).copied().unwrap_or(Probe::Missing);
            async move { Ok(p) }
        }))
        .unwrap();
        (got, probes.get())
    }

    #[test]
    fn the_last_shared_sequence_is_what_a_linear_walk_finds_with_or_without_holes() {
        // Every world of up to 9 sequences: a shared prefix up to `common`, then divergence;
        // any sequence may be missing on one side (a bit of `holes`).
        for floor in [0, 1, 3] {
            for top in 0..9u64 {
                for common in 0..=top {
                    for holes in 0u32..(1 << 9) {
                        let world: BTreeMap<u64, Probe> = (floor.max(1)..=top)
                            .map(|s| {
                                let p = if holes & (1 << s) != 0 {
                                    Probe::Missing
                                } else if s <= common {
                                    Probe::Same
                                } else {
                                    Probe::Differ
                                };
                                (s, p)
                            })
                            .collect();
                        assert_eq!(
                            search(&world, floor, top).0,
                            linear(&world, floor, top),
                            "floor {floor} top {top} common {common} holes {holes:b}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_long_divergence_is_found_in_a_logarithmic_number_of_probes() {
        // 10,000 shared messages, then 20,000 that differ (a tail and the new primary's writes).
        let world: BTreeMap<u64, Probe> = (1..=30_000)
            .map(|s| {
                (
                    s,
                    if s <= 10_000 {
                        Probe::Same
                    } else {
                        Probe::Differ
                    },
                )
            })
            .collect();
        let (got, probes) = search(&world, 1, 30_000);
        assert_eq!(got, 10_000);
        assert!(probes <= 16, "{probes} probes");
    }

    fn region(s: &str) -> Region {
        Region::new(s).unwrap()
    }

    fn exp(at: &str, name: &str, kind: StreamKind, cfg: serde_json::Value) -> ExpectedStream {
        ExpectedStream {
            region: region(at),
            name: StreamName::new(name).unwrap(),
            kind,
            gdpr: false,
            config: StreamConfig::from_map(cfg.as_object().unwrap().clone()),
        }
    }

    fn topology() -> Vec<ExpectedStream> {
        vec![
            exp(
                "us-east-1",
                "events-us",
                StreamKind::Stream,
                json!({"name": "events-us", "subjects": ["events.*"], "duplicate_window": 120, "num_replicas": 3}),
            ),
            exp(
                "eu-central-1",
                "events-eu-mirror",
                StreamKind::Mirror {
                    source: StreamName::new("events-us").unwrap(),
                    source_region: region("us-east-1"),
                },
                json!({"name": "events-eu-mirror", "num_replicas": 3,
                       "mirror": {"name": "events-us", "external": {"api": "$JS.us-east-1.API"}}}),
            ),
        ]
    }

    /// The pair of `stream` in `home` with its twin in `other`, in the test topology.
    fn pair_in(home: &str, stream: &str, other: &str) -> Result<Pair, ExecError> {
        let stream = StreamName::new(stream).unwrap();
        pair(&topology(), &region(home), &stream, &region(other))
    }

    #[test]
    fn a_source_and_its_mirror_are_twins_both_ways() {
        let p = pair_in("us-east-1", "events-us", "eu-central-1").unwrap();
        assert_eq!(p.twin.name.as_str(), "events-eu-mirror");
        let back = pair_in("eu-central-1", "events-eu-mirror", "us-east-1").unwrap();
        assert_eq!(back.twin.name.as_str(), "events-us");
        assert!(pair_in("us-east-1", "other", "eu-central-1").is_err());
    }

    #[test]
    fn a_reseeded_source_mirrors_its_twin_without_subjects_or_dedupe_window() {
        let p = pair_in("us-east-1", "events-us", "eu-central-1").unwrap();
        let cfg = mirror_config(&p, "eu-central-1", Epoch(2));
        assert!(cfg.subjects().is_empty());
        assert!(cfg.get("duplicate_window").is_none());
        assert_eq!(
            cfg.get("mirror"),
            Some(&json!({"name": "events-eu-mirror", "external": {"api": "$JS.eu-central-1.API"}}))
        );
        assert_eq!(cfg.get("num_replicas"), Some(&json!(3)));
        assert_eq!(cfg.metadata(crate::topology::META_EPOCH), Some("2"));
    }

    #[test]
    fn a_restored_home_mirror_gets_the_configured_mirror_back() {
        let p = pair_in("eu-central-1", "events-eu-mirror", "us-east-1").unwrap();
        let cfg = mirror_config(&p, "us-east-1", Epoch(3));
        assert_eq!(
            cfg.get("mirror"),
            Some(&json!({"name": "events-us", "external": {"api": "$JS.us-east-1.API"}}))
        );
    }
}
