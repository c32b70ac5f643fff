//! The scale part's floor: what the simplest client (async-nats' JetStream API, no natsdr)
//! takes for the same reads and promotions natsdr does, on the same lab and the same number of
//! fresh mirrors, so the report can put natsdr's figure next to the server's.
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};

use natsdr::nats::JsApi;
use natsdr::topology::ExpectedStream;

/// Mirror deletions and creations in flight at once while a set is rebuilt (set-up, not timed).
const REBUILD_CONCURRENCY: usize = 64;
/// How long a rebuilt set may take to catch up with its sources.
const CATCH_UP: Duration = Duration::from_secs(300);
/// Per-request timeout of the plain client: long, so a slow server shows as time, not errors.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// One generated mirror: its config as the topology creates it, and its source's subjects
/// (what a promotion gives it).
#[derive(Debug, Clone)]
pub struct Generated {
    /// The mirror as `apply` creates it.
    pub mirror: ExpectedStream,
    /// The subjects its source listens on.
    pub subjects: Vec<String>,
}

/// How the plain client sends its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// One stream after the other: what a shell loop does.
    Sequential,
    /// Every stream's requests in flight at once.
    Concurrent,
}

/// Deletes every mirror of `set` that exists in the region `js` talks to and creates it again
/// as the topology would: a fresh mirror for the next promotion to promote.
pub async fn rebuild(js: &JsApi, set: &[Generated]) -> Result<(), String> {
    let js = js.with_timeout(REQUEST_TIMEOUT);
    futures::stream::iter(set)
        .map(|g| {
            let js = js.clone();
            async move {
                let name = g.mirror.name.as_str();
                match js.stream_delete(name).await {
                    Ok(()) => {}
                    Err(e) if e.is_stream_not_found() => {}
                    Err(e) => return Err(format!("deleting {name}: {}", natsdr::error_chain(&e))),
                }
                js.stream_create(&g.mirror.config)
                    .await
                    .map(drop)
                    .map_err(|e| format!("creating {name}: {}", natsdr::error_chain(&e)))
            }
        })
        .buffer_unordered(REBUILD_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await
        .map(drop)
}

/// Waits until every mirror of `set` (listed through `mirror_js`) holds its source's last
/// sequence (listed through `source_js`).
pub async fn caught_up(
    mirror_js: &JsApi,
    source_js: &JsApi,
    set: &[Generated],
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + CATCH_UP;
    let (mirror_js, source_js) = (
        mirror_js.with_timeout(REQUEST_TIMEOUT),
        source_js.with_timeout(REQUEST_TIMEOUT),
    );
    loop {
        let (mirrors, sources) = tokio::try_join!(mirror_js.stream_list(), source_js.stream_list())
            .map_err(|e| natsdr::error_chain(&e))?;
        let last_seqs = |list: &[natsdr::nats::StreamInfo]| {
            list.iter()
                .map(|s| (s.config.name().to_owned(), s.state.last_seq))
                .collect::<std::collections::HashMap<String, u64>>()
        };
        let (mirrors, sources) = (last_seqs(&mirrors), last_seqs(&sources));
        let behind = set
            .iter()
            .filter(|g| {
                let source = match &g.mirror.kind {
                    natsdr::topology::StreamKind::Mirror { source, .. } => source.as_str(),
                    _ => g.mirror.name.as_str(),
                };
                mirrors.get(g.mirror.name.as_str()) != sources.get(source)
            })
            .count();
        if behind == 0 {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "{behind} of {} rebuilt mirrors never caught up",
                set.len()
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// How many of `set` the server now holds promoted: no `mirror` block, and the source's
/// subjects. Read back with one listing, independent of what the promoting client believed.
pub async fn promoted(js: &JsApi, set: &[Generated]) -> Result<usize, String> {
    let list = js
        .with_timeout(REQUEST_TIMEOUT)
        .stream_list()
        .await
        .map_err(|e| natsdr::error_chain(&e))?;
    let by_name: std::collections::HashMap<&str, &natsdr::nats::StreamInfo> =
        list.iter().map(|s| (s.config.name(), s)).collect();
    Ok(set
        .iter()
        .filter(|g| {
            by_name
                .get(g.mirror.name.as_str())
                .is_some_and(|s| s.config.mirror().is_none() && s.config.subjects() == g.subjects)
        })
        .count())
}

/// How long a plain client's promotion took, and in the sequential loop how that splits
/// between the info reads and the updates (each a meta proposal).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timed {
    /// The whole loop.
    pub total: Duration,
    /// Sequential only: the info reads, summed.
    pub infos: Duration,
    /// Sequential only: the updates, summed.
    pub updates: Duration,
}

/// The plain client's promotion of every mirror of `set`: for each, read its info, drop
/// `mirror`, set the source's subjects, update. Returns how long it took; the first failure
/// ends it.
pub async fn promote(
    client: &async_nats::Client,
    set: &[Generated],
    pace: Pace,
) -> Result<Timed, String> {
    let js = context(client);
    let one = |g: &Generated| {
        let js = js.clone();
        let subjects = g.subjects.clone();
        let name = g.mirror.name.to_string();
        async move {
            let t0 = tokio::time::Instant::now();
            let mut stream = js
                .get_stream(&name)
                .await
                .map_err(|e| format!("info of {name}: {e}"))?;
            let mut config = stream
                .info()
                .await
                .map_err(|e| format!("info of {name}: {e}"))?
                .config
                .clone();
            let info = t0.elapsed();
            config.mirror = None;
            config.subjects = subjects;
            js.update_stream(config)
                .await
                .map_err(|e| format!("update of {name}: {e}"))?;
            Ok::<_, String>((info, t0.elapsed() - info))
        }
    };
    let mut timed = Timed::default();
    let t0 = tokio::time::Instant::now();
    match pace {
        Pace::Sequential => {
            for g in set {
                let (info, update) = one(g).await?;
                timed.infos += info;
                timed.updates += update;
            }
        }
        Pace::Concurrent => {
            futures::future::try_join_all(set.iter().map(one)).await?;
        }
    }
    timed.total = t0.elapsed();
    Ok(timed)
}

/// The plain client's read of every mirror of `set` (STREAM.INFO each, all in flight at once):
/// the reads a probe round needs for the mirrors' lag, done the simplest way.
pub async fn read_infos(
    client: &async_nats::Client,
    set: &[Generated],
) -> Result<Duration, String> {
    let js = context(client);
    let t0 = tokio::time::Instant::now();
    futures::future::try_join_all(set.iter().map(|g| {
        let js = js.clone();
        let name = g.mirror.name.to_string();
        async move {
            js.get_stream(&name)
                .await
                .map(drop)
                .map_err(|e| format!("info of {name}: {e}"))
        }
    }))
    .await?;
    Ok(t0.elapsed())
}

/// The plain client's paged STREAM.LIST of the whole account (what natsdr's probe sends).
/// Returns how long it took and how many streams it listed.
pub async fn list(client: &async_nats::Client) -> Result<(Duration, usize), String> {
    let js = context(client);
    let t0 = tokio::time::Instant::now();
    let n = js
        .streams()
        .try_fold(0_usize, |n, _| async move { Ok(n + 1) })
        .await
        .map_err(|e| format!("stream list: {e}"))?;
    Ok((t0.elapsed(), n))
}

fn context(client: &async_nats::Client) -> async_nats::jetstream::Context {
    let mut js = async_nats::jetstream::new(client.clone());
    js.set_timeout(REQUEST_TIMEOUT);
    js
}
