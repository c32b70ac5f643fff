//! The demo's KV application, as the second seed's services use their buckets: compare-and-set
//! updates of assignments, heartbeats put every second into the bucket whose TTL expires them,
//! and worker registrations (create), all through the client-facing DNS name with async-nats's
//! KV client; and a second client watching the assignments that must end up with every key's
//! latest value after the move. [`KvLedger`] and [`KvWatch`] keep what they saw; [`check`]
//! reads the final primary back and fills the report's `kv` section.
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_nats::jetstream::kv::{CreateErrorKind, Store, UpdateErrorKind};
use futures::StreamExt as _;
use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::watch;

use super::background::Background;
use super::load::{Dialer, LoadTarget};
use natsdr::config::Config;
use natsdr::nats::JsApi;

/// Assignment keys the CAS writer cycles through.
const TASKS: u64 = 8;
/// Workers that put a heartbeat every second.
const WORKERS: u64 = 3;
/// Pause between two writer steps: a CAS update each step, a registration every 5th, the
/// heartbeats every 10th (once a second).
const STEP: Duration = Duration::from_millis(100);

/// The buckets the KV load uses, chosen from a config's mirrored buckets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvBuckets {
    /// Compare-and-set updates (`assignments_v1`): the first mirrored bucket without a TTL.
    pub cas: String,
    /// Heartbeats (`heartbeats`): the first mirrored bucket with a TTL, and that TTL.
    pub heartbeat: Option<(String, Duration)>,
    /// Registrations by create (`workers_v1`): another mirrored bucket without a TTL.
    pub registry: Option<String>,
}

impl KvBuckets {
    /// The buckets of `cfg` homed in the primary and mirrored in the standby; `None` when
    /// there is no such bucket without a TTL (nothing to compare-and-set).
    pub fn of(cfg: &Config) -> Option<Self> {
        let (primary, standby) = (&cfg.primary().name, &cfg.standby().name);
        let mirrored: Vec<_> = cfg
            .kv
            .iter()
            .filter(|k| &k.region == primary && k.mirror_region.as_ref() == Some(standby))
            .collect();
        let mut plain = mirrored.iter().filter(|k| k.ttl.is_none());
        let cas = plain.next()?.bucket.clone();
        Some(Self {
            cas,
            heartbeat: mirrored
                .iter()
                .find_map(|k| k.ttl.map(|ttl| (k.bucket.clone(), ttl))),
            registry: plain.next().map(|k| k.bucket.clone()),
        })
    }

    /// Every bucket used, CAS bucket first.
    pub fn names(&self) -> Vec<String> {
        let mut v = vec![self.cas.clone()];
        v.extend(self.heartbeat.iter().map(|(b, _)| b.clone()));
        v.extend(self.registry.iter().cloned());
        v
    }
}

/// One acknowledged KV write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvAck {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// The revision the server acked (the bucket stream's sequence).
    pub revision: u64,
    /// The value written.
    pub value: String,
    /// The entry point the client was connected to: which region acked.
    pub via: IpAddr,
    /// When the ack came.
    pub at: OffsetDateTime,
}

/// What the KV writer did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KvLedger {
    /// Every acked write, in ack order.
    pub acks: Vec<KvAck>,
    /// CAS updates (and creates) the server refused because the revision had moved on: the
    /// writer then reads the key again. Not errors: what CAS is for.
    pub conflicts: u64,
    /// Reads (on a new connection, before writing a key again) that found a key at a lower
    /// revision than one acked earlier: those acked writes are gone from the primary.
    pub rollbacks: Vec<Rollback>,
}

/// A key read back at a revision below one of its acked writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollback {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// The revision read (0: no such key).
    pub read: u64,
    /// When it was read.
    pub at: OffsetDateTime,
}

impl KvLedger {
    /// Notes that `key` of `bucket` was read at `read`: a rollback when an earlier ack was
    /// at a higher revision.
    fn read_back(&mut self, bucket: &str, key: &str, read: u64) {
        let acked = self
            .acks
            .iter()
            .filter(|a| a.bucket == bucket && a.key == key)
            .map(|a| a.revision)
            .max();
        if acked.is_some_and(|r| r > read) {
            self.rollbacks.push(Rollback {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                read,
                at: OffsetDateTime::now_utc(),
            });
        }
    }

    /// Whether a later read found `a`'s key below `a`'s revision.
    fn rolled_back(&self, a: &KvAck) -> bool {
        self.rollbacks
            .iter()
            .any(|r| r.bucket == a.bucket && r.key == a.key && a.revision > r.read && a.at < r.at)
    }
}

/// What the KV watcher saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KvWatch {
    /// Every entry delivered, in order: key, revision, value, entry point.
    pub seen: Vec<(String, u64, String, IpAddr)>,
    /// The entry points it watched through, in order (one per connection).
    pub connections: Vec<IpAddr>,
}

impl KvWatch {
    /// The last revision and value delivered per key.
    pub fn latest(&self) -> BTreeMap<String, (u64, String)> {
        let mut m = BTreeMap::new();
        for (k, r, v, _) in &self.seen {
            m.insert(k.clone(), (*r, v.clone()));
        }
        m
    }
}

/// A running KV writer.
pub type KvLoad = Background<KvLedger>;
/// A running KV watcher.
pub type KvWatcher = Background<KvWatch>;

/// Starts the writer; fails only when no resolver can be built.
pub fn start_load(t: LoadTarget, b: KvBuckets) -> Result<KvLoad, hickory_net::NetError> {
    Background::resolving(t, move |d, books, stop| write_loop(d, b, books, stop))
}

/// Starts the watcher on the CAS bucket; fails only when no resolver can be built.
pub fn start_watch(t: LoadTarget, bucket: String) -> Result<KvWatcher, hickory_net::NetError> {
    Background::resolving(t, move |d, books, stop| watch_loop(d, bucket, books, stop))
}

/// The buckets' stores on one connection.
struct Stores {
    via: IpAddr,
    client: async_nats::Client,
    cas: Store,
    heartbeat: Option<Store>,
    registry: Option<Store>,
}

/// Connects where the name points now and binds the buckets by name, as an application does:
/// `KV_<bucket>` must answer in whichever region is the primary.
async fn bind(d: &Dialer, b: &KvBuckets) -> Option<Stores> {
    let (via, client) = d.connect().await?;
    let js = async_nats::jetstream::new(client.clone());
    let store = |name: String| {
        let js = js.clone();
        async move {
            tokio::time::timeout(d.target.ack_timeout * 2, js.get_key_value(name))
                .await
                .ok()?
                .ok()
        }
    };
    let cas = store(b.cas.clone()).await?;
    let heartbeat = match &b.heartbeat {
        Some((name, _)) => Some(store(name.clone()).await?),
        None => None,
    };
    let registry = match &b.registry {
        Some(name) => Some(store(name.clone()).await?),
        None => None,
    };
    Some(Stores {
        via,
        client,
        cas,
        heartbeat,
        registry,
    })
}

/// The outcome of one write.
enum Wrote {
    /// Acked at this revision.
    Acked(u64),
    /// Refused: the key's revision is not the expected one (or it exists, for a create).
    Conflict,
    /// No answer, or an error other than a conflict.
    Failed,
}

async fn write_loop(
    d: Dialer,
    b: KvBuckets,
    books: Arc<Mutex<KvLedger>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut conn: Option<Stores> = None;
    // The revision each assignment key was last acked at (or read at) on this connection.
    let mut revisions: BTreeMap<String, u64> = BTreeMap::new();
    // Heartbeat keys read on this connection (once each, before the first put).
    let mut beats_read: std::collections::BTreeSet<String> = Default::default();
    let mut tick = tokio::time::interval(STEP);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u64 = 0;
    while !*stop.borrow() {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        if conn.is_none() {
            conn = bind(&d, &b).await;
            revisions.clear();
            beats_read.clear();
        }
        let Some(s) = &conn else { continue };
        n += 1;
        let limit = d.target.ack_timeout * 2;
        let record = |bucket: &str, key: String, revision: u64, value: String| {
            books
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .acks
                .push(KvAck {
                    bucket: bucket.to_owned(),
                    key,
                    revision,
                    value,
                    via: s.via,
                    at: OffsetDateTime::now_utc(),
                });
        };
        let read_back = |bucket: &str, key: &str, read: u64| {
            books
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .read_back(bucket, key, read);
        };
        let conflict = || {
            books
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .conflicts += 1;
        };
        let mut failed = false;

        // An assignment moves to a new owner, only if nobody changed it since it was read.
        let key = format!("task-{}", n % TASKS);
        let value = format!("owner-{n}");
        let expected = match revisions.get(&key) {
            Some(r) => Some(*r),
            None => match tokio::time::timeout(limit, s.cas.entry(key.clone())).await {
                Ok(Ok(e)) => {
                    let read = e.map_or(0, |e| e.revision);
                    read_back(&b.cas, &key, read);
                    Some(read)
                }
                Ok(Err(_)) | Err(_) => None,
            },
        };
        let wrote = match expected {
            None => Wrote::Failed,
            Some(0) => ended(
                tokio::time::timeout(limit, s.cas.create(key.clone(), value.clone().into())).await,
                CreateErrorKind::AlreadyExists,
            ),
            Some(r) => ended(
                tokio::time::timeout(limit, s.cas.update(key.clone(), value.clone().into(), r))
                    .await,
                UpdateErrorKind::WrongLastRevision,
            ),
        };
        match wrote {
            Wrote::Acked(r) => {
                revisions.insert(key.clone(), r);
                record(&b.cas, key, r, value);
            }
            Wrote::Conflict => {
                revisions.remove(&key);
                conflict();
            }
            Wrote::Failed => {
                revisions.remove(&key);
                failed = true;
            }
        }

        // A new worker registers itself, once.
        if let (Some(store), Some(bucket), true) = (&s.registry, &b.registry, n.is_multiple_of(5)) {
            let key = format!("worker-{n}");
            let value = format!("registered-{n}");
            match ended(
                tokio::time::timeout(limit, store.create(key.clone(), value.clone().into())).await,
                CreateErrorKind::AlreadyExists,
            ) {
                Wrote::Acked(r) => record(bucket, key, r, value),
                Wrote::Conflict => conflict(),
                Wrote::Failed => failed = true,
            }
        }

        // Every worker says it is alive, once a second.
        if let (Some(store), Some((bucket, _)), true) =
            (&s.heartbeat, &b.heartbeat, n.is_multiple_of(10))
        {
            for w in 0..WORKERS {
                let key = format!("worker-{w}");
                let value = format!("beat-{n}");
                if !beats_read.contains(&key) {
                    match tokio::time::timeout(limit, store.entry(key.clone())).await {
                        Ok(Ok(e)) => {
                            read_back(bucket, &key, e.map_or(0, |e| e.revision));
                            beats_read.insert(key.clone());
                        }
                        Ok(Err(_)) | Err(_) => {
                            failed = true;
                            continue;
                        }
                    }
                }
                match tokio::time::timeout(limit, store.put(key.clone(), value.clone().into()))
                    .await
                {
                    Ok(Ok(r)) => record(bucket, key, r, value),
                    Ok(Err(_)) | Err(_) => failed = true,
                }
            }
        }

        if failed && d.should_reconnect(s.via, &s.client).await {
            conn = None;
        }
    }
}

/// How a KV write ended: acked at a revision, refused because the key's revision was not the
/// expected one (`conflict`, the kind a compare-and-set reports), or failed (timed out or any
/// other error).
fn ended<K: Clone + std::fmt::Debug + std::fmt::Display + PartialEq>(
    r: Result<Result<u64, async_nats::error::Error<K>>, tokio::time::error::Elapsed>,
    conflict: K,
) -> Wrote {
    match r {
        Ok(Ok(rev)) => Wrote::Acked(rev),
        Ok(Err(e)) if e.kind() == conflict => Wrote::Conflict,
        Ok(Err(_)) | Err(_) => Wrote::Failed,
    }
}

async fn watch_loop(
    d: Dialer,
    bucket: String,
    books: Arc<Mutex<KvWatch>>,
    mut stop: watch::Receiver<bool>,
) {
    let only = KvBuckets {
        cas: bucket,
        heartbeat: None,
        registry: None,
    };
    while !*stop.borrow() {
        let Some(s) = bind(&d, &only).await else {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(200)) => continue,
                _ = stop.changed() => return,
            }
        };
        // NB: a new watch starts from every key's latest value (DeliverLastPerSubject), not
        // from the revision last seen: after a lossy failover the new primary reuses the
        // sequence numbers the old one had acked and lost, and resuming "after revision N"
        // would skip those writes.
        let Ok(Ok(mut entries)) =
            tokio::time::timeout(d.target.ack_timeout * 2, s.cas.watch_all()).await
        else {
            continue;
        };
        books
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .connections
            .push(s.via);
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                next = tokio::time::timeout(Duration::from_secs(1), entries.next()) => match next {
                    Ok(Some(Ok(e))) => books
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .seen
                        .push((
                            e.key,
                            e.revision,
                            String::from_utf8_lossy(&e.value).into_owned(),
                            s.via,
                        )),
                    Ok(Some(Err(_)) | None) => break,
                    Err(_) => {
                        if d.should_reconnect(s.via, &s.client).await {
                            break;
                        }
                    }
                },
            }
        }
    }
}

/// The report's `kv` section: what the KV application saw across the move.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KvReport {
    /// The buckets written: compare-and-set, heartbeats (TTL), registrations.
    pub buckets: Vec<String>,
    /// Writes acked (CAS updates, heartbeat puts, registrations).
    pub acked_updates: u64,
    /// CAS updates refused because the key had moved on (the writer read it again).
    pub cas_conflicts: u64,
    /// Acked writes the final primary does not hold: neither the acked value at its revision,
    /// nor a later revision of the key that replaced it within the bucket's history; or found
    /// gone by a later read of the key (below their revision). Heartbeats older than their TTL
    /// are left out (they expire by design).
    pub lost_acked_updates: u64,
    /// Revisions going backwards: an acked write (or a watched entry) at a revision at or
    /// below one acked (or shown) earlier for that key that is not lost, plus every write the
    /// old primary acked after the new primary's first ack.
    pub revision_regressions: u64,
    /// The KV mirrors' total lag in messages as the standby's watchdog saw it just before
    /// the fault: the most an unplanned failover may lose.
    pub lag_at_kill: Option<u64>,
    /// The watcher watched through another entry point after the move and got entries there.
    pub watch_resumed: bool,
    /// Assignment keys whose latest value in the final primary the watcher never got.
    pub watch_missed_latest: u64,
}

/// Where the final primary holds a key's write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    /// The message at the revision is this key with this value.
    Exactly,
    /// The revision is gone (trimmed by the bucket's history) and the key has a later one.
    Replaced,
    /// Neither: the write is lost (or its sequence was reused by another write).
    Lost,
}

/// The final primary's view of a bucket: its messages by sequence (read as needed) and each
/// key's latest revision.
struct Final {
    stream: async_nats::jetstream::stream::Stream,
    store: Store,
    latest: BTreeMap<String, Option<u64>>,
}

impl Final {
    async fn open(api: &JsApi, bucket: &str) -> Option<Self> {
        let js = async_nats::jetstream::new(api.client().clone());
        let stream = js.get_stream(format!("KV_{bucket}")).await.ok()?;
        let store = js.get_key_value(bucket).await.ok()?;
        Some(Self {
            stream,
            store,
            latest: BTreeMap::new(),
        })
    }

    async fn latest(&mut self, key: &str) -> Option<u64> {
        if let Some(r) = self.latest.get(key) {
            return *r;
        }
        let r = self
            .store
            .entry(key.to_owned())
            .await
            .ok()
            .flatten()
            .map(|e| e.revision);
        self.latest.insert(key.to_owned(), r);
        r
    }

    async fn held(&mut self, bucket: &str, key: &str, revision: u64, value: &str) -> Held {
        match self.stream.get_raw_message(revision).await {
            Ok(m) => {
                if m.subject.as_str() == format!("$KV.{bucket}.{key}") && m.payload == value {
                    Held::Exactly
                } else {
                    Held::Lost
                }
            }
            Err(_) => {
                if self.latest(key).await.is_some_and(|l| l > revision) {
                    Held::Replaced
                } else {
                    Held::Lost
                }
            }
        }
    }
}

/// Reads every acked write back from the final primary (`api`) and compares the watcher's
/// view with it. `old_primary` is the entry point of the region that was primary before the
/// fault, `new_primary` the other; `until` ends the window for acks of the old primary (a
/// failback makes it the primary again).
pub async fn check(
    api: &JsApi,
    buckets: &KvBuckets,
    ledger: &KvLedger,
    watched: &KvWatch,
    entries: (IpAddr, IpAddr),
    until: Option<OffsetDateTime>,
) -> KvReport {
    let (old_primary, new_primary) = entries;
    let mut finals = BTreeMap::new();
    for b in buckets.names() {
        if let Some(f) = Final::open(api, &b).await {
            finals.insert(b, f);
        }
    }
    let now = OffsetDateTime::now_utc();
    let expired = |a: &KvAck| match &buckets.heartbeat {
        Some((b, ttl)) if *b == a.bucket => {
            // A margin for the clock of the server expiring it.
            let ttl = time::Duration::try_from(*ttl).unwrap_or(time::Duration::ZERO);
            a.at < now - ttl + time::Duration::seconds(5)
        }
        _ => false,
    };
    let mut lost = 0;
    let mut regressions = 0;
    // Per (bucket, key): the highest revision acked so far that the final primary holds.
    let mut kept: BTreeMap<(String, String), u64> = BTreeMap::new();
    for a in &ledger.acks {
        let held = match finals.get_mut(&a.bucket) {
            Some(f) => f.held(&a.bucket, &a.key, a.revision, &a.value).await,
            None => Held::Lost,
        };
        // NB: a revision the final primary lacks may look replaced when the new primary reused
        // its sequence for another write that the bucket's history then trimmed; a read that
        // found the key below it tells the truth.
        let gone = held == Held::Lost || ledger.rolled_back(a);
        if gone && !expired(a) {
            lost += 1;
        }
        let k = (a.bucket.clone(), a.key.clone());
        if kept.get(&k).is_some_and(|r| a.revision <= *r) {
            regressions += 1;
        }
        if !gone {
            let r = kept.entry(k).or_default();
            *r = (*r).max(a.revision);
        }
    }
    // Split brain on KV: the old primary acking once the new one has.
    let first_new = ledger
        .acks
        .iter()
        .find(|a| a.via == new_primary)
        .map(|a| a.at);
    if let Some(first_new) = first_new {
        regressions += ledger
            .acks
            .iter()
            .filter(|a| a.via == old_primary && a.at > first_new && until.is_none_or(|u| a.at < u))
            .count();
    }
    // The watcher's revisions per key must only grow, among those the final primary holds.
    let mut watched_kept: BTreeMap<String, u64> = BTreeMap::new();
    if let Some(f) = finals.get_mut(&buckets.cas) {
        for (key, rev, value, _) in &watched.seen {
            if watched_kept.get(key).is_some_and(|r| rev < r) {
                regressions += 1;
            }
            let rolled_back = ledger
                .rollbacks
                .iter()
                .any(|r| r.bucket == buckets.cas && r.key == *key && *rev > r.read);
            if !rolled_back && f.held(&buckets.cas, key, *rev, value).await != Held::Lost {
                let r = watched_kept.entry(key.clone()).or_default();
                *r = (*r).max(*rev);
            }
        }
    }
    let mut missed = 0;
    let seen = watched.latest();
    if let Some(f) = finals.get_mut(&buckets.cas) {
        for t in 0..TASKS {
            let key = format!("task-{t}");
            if let Some(latest) = f.latest(&key).await
                && seen.get(&key).map(|(r, _)| *r) != Some(latest)
            {
                missed += 1;
            }
        }
    }
    let resumed = watched.connections.contains(&new_primary)
        && watched
            .seen
            .iter()
            .any(|(_, _, _, via)| *via == new_primary);
    KvReport {
        buckets: buckets.names(),
        acked_updates: count(ledger.acks.len()),
        cas_conflicts: ledger.conflicts,
        lost_acked_updates: lost,
        revision_regressions: count(regressions),
        lag_at_kill: None,
        watch_resumed: resumed,
        watch_missed_latest: missed,
    }
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../config/blue-green.example.toml"
        );
        Config::load(path.as_ref()).expect("the blue/green example loads")
    }

    #[test]
    fn the_blue_green_buckets_are_assignments_for_cas_heartbeats_and_workers() {
        let b = KvBuckets::of(&cfg()).expect("mirrored buckets");
        assert_eq!(b.cas, "assignments_v1");
        assert_eq!(
            b.heartbeat,
            Some(("heartbeats".to_owned(), Duration::from_secs(60)))
        );
        assert_eq!(b.registry.as_deref(), Some("workers_v1"));
        assert_eq!(b.names().len(), 3);
    }

    fn ack(key: &str, revision: u64, at: i64) -> KvAck {
        KvAck {
            bucket: "b".into(),
            key: key.into(),
            revision,
            value: format!("v{revision}"),
            via: "127.1.0.1".parse().expect("ip"),
            at: OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(at),
        }
    }

    #[test]
    fn a_key_read_below_an_acked_revision_rolls_back_exactly_the_acks_above_it() {
        let mut l = KvLedger {
            acks: vec![ack("k", 5, 1), ack("k", 7, 2), ack("other", 9, 3)],
            ..KvLedger::default()
        };
        l.read_back("b", "k", 7);
        assert!(l.rollbacks.is_empty(), "{l:?}");
        l.read_back("b", "k", 6);
        assert_eq!(l.rollbacks.len(), 1);
        assert!(!l.rolled_back(&l.acks[0].clone()));
        assert!(l.rolled_back(&l.acks[1].clone()));
        assert!(!l.rolled_back(&l.acks[2].clone()));
        // A write acked after the read is not rolled back by it.
        assert!(!l.rolled_back(&ack("k", 8, 4_000_000_000)));
    }

    #[test]
    fn the_watchers_latest_value_per_key_is_the_last_delivered() {
        let ip: IpAddr = "127.1.0.1".parse().expect("ip");
        let w = KvWatch {
            seen: vec![
                ("a".into(), 1, "x".into(), ip),
                ("b".into(), 2, "y".into(), ip),
                ("a".into(), 3, "z".into(), ip),
            ],
            connections: vec![ip],
        };
        assert_eq!(w.latest().get("a"), Some(&(3, "z".to_owned())));
        assert_eq!(w.latest().len(), 2);
    }
}
