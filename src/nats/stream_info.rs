//! Typed views of JetStream API replies; stream configs stay raw JSON so nothing is ever dropped.
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// A stream's config exactly as the server returned it (or as natsdr will send it).
///
/// Kept as a JSON object, not a struct: STREAM.UPDATE replaces the whole config, so a
/// read-modify-write must send back every field, including ones this build of natsdr has never
/// heard of (newer servers add fields; 2.12+ refuses unknown ones, so natsdr must not invent any).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StreamConfig(Map<String, Value>);

impl StreamConfig {
    /// Wraps a JSON object.
    pub fn from_map(map: Map<String, Value>) -> Self {
        Self(map)
    }

    /// The JSON object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// The JSON object, owned.
    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }

    /// One field.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// Sets one field, leaving all others as they are.
    pub fn set(&mut self, key: impl Into<String>, value: Value) {
        self.0.insert(key.into(), value);
    }

    /// The stream's name (`""` if the config has none).
    pub fn name(&self) -> &str {
        self.0.get("name").and_then(Value::as_str).unwrap_or("")
    }

    /// The subjects the stream listens on (empty for a mirror).
    pub fn subjects(&self) -> Vec<String> {
        self.0
            .get("subjects")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The `mirror` block, if the stream is a mirror.
    pub fn mirror(&self) -> Option<&Map<String, Value>> {
        self.0.get("mirror").and_then(Value::as_object)
    }

    /// One metadata entry.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.0.get("metadata")?.as_object()?.get(key)?.as_str()
    }

    /// Sets one metadata entry, keeping every other entry (2.11+ keeps its own `_nats.*` keys
    /// there: replacing the whole map would drop them).
    pub fn set_metadata(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let entry = self
            .0
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        if let Value::Object(meta) = entry {
            meta.insert(key.into(), Value::String(value.into()));
        }
    }
}

/// The `state` block of STREAM.INFO.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct StreamState {
    /// Messages stored.
    #[serde(default)]
    pub messages: u64,
    /// Bytes stored.
    #[serde(default)]
    pub bytes: u64,
    /// Sequence of the oldest stored message.
    #[serde(default)]
    pub first_seq: u64,
    /// Sequence of the newest stored message (mirrors keep their source's sequences).
    #[serde(default)]
    pub last_seq: u64,
    /// Time of the oldest stored message; None when the stream is empty.
    #[serde(default, deserialize_with = "nats_time")]
    pub first_ts: Option<OffsetDateTime>,
    /// Time of the newest stored message; None when the stream is empty.
    #[serde(default, deserialize_with = "nats_time")]
    pub last_ts: Option<OffsetDateTime>,
    /// Consumers on the stream.
    #[serde(default)]
    pub consumer_count: u64,
}

/// The `mirror` block of a mirror's STREAM.INFO, read raw because async-nats's `SourceInfo`
/// has no `error` or `external` and turns `active: -1` into nothing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MirrorInfo {
    /// The source stream's name.
    pub name: String,
    /// `external.api` of the source, e.g. `$JS.us-east-1.API`; None for a same-domain source.
    #[serde(default, rename = "external", deserialize_with = "external_api")]
    pub external_api: Option<String>,
    /// Messages behind the source as last reported. NB: freezes when the source dies and
    /// understates under load; compare sequences for the real gap.
    #[serde(default)]
    pub lag: u64,
    /// Time since the mirror last heard from its source; None = never since this server
    /// started (`-1`). Cycles 0..~1 s when healthy, grows when the source is gone.
    #[serde(default, deserialize_with = "active_age")]
    pub active: Option<Duration>,
    /// The last API error talking to the source (e.g. 10059 when the source was deleted);
    /// appears only 12-24 s after the problem.
    #[serde(default)]
    pub error: Option<ApiErrorBody>,
}

/// An API error as embedded in replies (`{"code", "err_code", "description"}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiErrorBody {
    /// HTTP-like status.
    #[serde(default)]
    pub code: u16,
    /// JetStream error code.
    #[serde(default)]
    pub err_code: u32,
    /// The server's description.
    #[serde(default)]
    pub description: String,
}

/// One replica of a clustered stream (or the meta group), as reported by its leader.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PeerInfo {
    /// Server name.
    pub name: String,
    /// Whether the leader considers it caught up. NB: stays true for ~10 s after the peer dies.
    #[serde(default)]
    pub current: bool,
    /// Time since the leader last heard from it.
    #[serde(default, deserialize_with = "age")]
    pub active: Duration,
    /// Whether the leader marked it offline (rarely set in practice).
    #[serde(default)]
    pub offline: bool,
    /// Operations behind the leader.
    #[serde(default)]
    pub lag: u64,
}

/// The `cluster` block of STREAM.INFO.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct ClusterInfo {
    /// Cluster name.
    #[serde(default)]
    pub name: Option<String>,
    /// The stream leader's server name, if there is one.
    #[serde(default)]
    pub leader: Option<String>,
    /// The other replicas.
    #[serde(default)]
    pub replicas: Vec<PeerInfo>,
}

/// STREAM.INFO (also each entry of STREAM.LIST).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StreamInfo {
    /// The full config, raw.
    pub config: StreamConfig,
    /// Counters and sequences.
    #[serde(default)]
    pub state: StreamState,
    /// Mirror status, for a mirror.
    #[serde(default)]
    pub mirror: Option<MirrorInfo>,
    /// Replica placement and health, for a clustered stream.
    #[serde(default)]
    pub cluster: Option<ClusterInfo>,
}

/// A STREAM.LIST entry as a probe reads it, every round: the config keeps only `name`,
/// `subjects`, `mirror` and `metadata`, and the cluster block is dropped.
///
/// NB: decoding skips every other field without building it: a full config is some forty JSON
/// values allocated per stream, twice a second for every stream of both regions, which was most
/// of a watchdog's CPU and memory at 1,000 streams. Never write such a config back (a
/// STREAM.UPDATE replaces the whole config): read the stream again for that.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbedStream(pub StreamInfo);

impl<'de> Deserialize<'de> for ProbedStream {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// The config fields a probe reads; serde skips the others unbuilt.
        #[derive(Deserialize)]
        struct Config {
            #[serde(default)]
            name: Option<Value>,
            #[serde(default)]
            subjects: Option<Value>,
            #[serde(default)]
            mirror: Option<Value>,
            #[serde(default)]
            metadata: Option<Value>,
        }
        #[derive(Deserialize)]
        struct Entry {
            config: Config,
            #[serde(default)]
            state: StreamState,
            #[serde(default)]
            mirror: Option<MirrorInfo>,
        }
        let e = Entry::deserialize(d)?;
        let c = e.config;
        let config = [
            ("name", c.name),
            ("subjects", c.subjects),
            ("mirror", c.mirror),
            ("metadata", c.metadata),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_owned(), v.filter(|v| !v.is_null())?)))
        .collect();
        Ok(Self(StreamInfo {
            config: StreamConfig(config),
            state: e.state,
            mirror: e.mirror,
            cluster: None,
        }))
    }
}

/// A message read with STREAM.MSG.GET.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StoredMessage {
    /// Subject it was published on.
    pub subject: String,
    /// Its sequence in the stream.
    pub seq: u64,
    /// When the stream stored it (for a mirror: when the source did).
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// Payload, base64 as the server sends it.
    #[serde(default)]
    pub data: Option<String>,
    /// Headers block, base64 as the server sends it.
    #[serde(default)]
    pub hdrs: Option<String>,
}

/// `$JS.API.INFO`: the account's JetStream view.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AccountInfo {
    /// The JetStream domain answering (None without a domain).
    #[serde(default)]
    pub domain: Option<String>,
    /// Streams in the account.
    #[serde(default)]
    pub streams: u64,
    /// Consumers in the account.
    #[serde(default)]
    pub consumers: u64,
    /// API level: None on 2.10, 1 on 2.11, 3 on 2.12, 5 on 2.15. In-place promotion needs 2.12 (level 3).
    #[serde(default, rename = "api", deserialize_with = "api_level")]
    pub api_level: Option<u32>,
}

/// NATS sends the zero `time.Time` (year 1) for "never"; map it to None.
fn nats_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<OffsetDateTime>, D::Error> {
    let raw = Option::<String>::deserialize(d)?;
    let Some(raw) = raw else { return Ok(None) };
    let t = OffsetDateTime::parse(&raw, &time::format_description::well_known::Rfc3339)
        .map_err(serde::de::Error::custom)?;
    Ok((t.year() > 1).then_some(t))
}

/// The server sends `null` for an empty list in some replies (leafz, meta replicas, list
/// pages): read it as empty.
pub(super) fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

fn external_api<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(v.and_then(|v| v.get("api").and_then(Value::as_str).map(str::to_owned)))
}

fn active_age<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let ns = i64::deserialize(d)?;
    Ok(u64::try_from(ns).ok().map(Duration::from_nanos))
}

fn age<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let ns = i64::deserialize(d)?;
    Ok(Duration::from_nanos(u64::try_from(ns).unwrap_or(0)))
}

fn api_level<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(v.and_then(|v| v.get("level").and_then(Value::as_u64))
        .and_then(|l| u32::try_from(l).ok()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_probed_listing_entry_keeps_what_the_probe_reads_and_drops_the_rest() {
        let full = serde_json::json!({
            "config": {"name": "M", "subjects": null, "retention": "limits", "max_msgs": -1,
                "mirror": {"name": "S", "external": {"api": "$JS.us-east-1.API"}},
                "metadata": {"natsdr.epoch": "3"}, "placement": {"tags": ["x"]}},
            "state": {"messages": 5, "first_seq": 1, "last_seq": 5, "consumer_count": 2},
            "mirror": {"name": "S", "external": {"api": "$JS.us-east-1.API"}, "lag": 0, "active": 5},
            "cluster": {"name": "eu", "leader": "n1"}
        });
        let probed: ProbedStream = serde_json::from_value(full.clone()).unwrap();
        let whole: StreamInfo = serde_json::from_value(full).unwrap();
        let p = probed.0;
        assert_eq!(p.config.name(), "M");
        assert_eq!(p.config.mirror(), whole.config.mirror());
        assert_eq!(p.config.metadata("natsdr.epoch"), Some("3"));
        assert_eq!(p.config.subjects(), Vec::<String>::new());
        let mut keys: Vec<&String> = p.config.as_map().keys().collect();
        keys.sort();
        assert_eq!(keys, ["metadata", "mirror", "name"]);
        assert_eq!((p.state, p.mirror), (whole.state, whole.mirror));
        assert_eq!(p.cluster, None);
    }

    #[test]
    fn a_mirror_that_never_reached_its_source_has_no_active_age() {
        let info: StreamInfo = serde_json::from_value(json!({
            "config": {"name": "M", "mirror": {"name": "S", "external": {"api": "$JS.us.API"}}, "x_future": 1},
            "state": {"messages": 0, "last_seq": 0, "last_ts": "0001-01-01T00:00:00Z"},
            "mirror": {"name": "S", "external": {"api": "$JS.us.API", "deliver": ""}, "lag": 0, "active": -1,
                        "error": {"code": 404, "err_code": 10059, "description": "stream not found"}}
        }))
        .unwrap();
        let m = info.mirror.unwrap();
        assert_eq!(m.active, None);
        assert_eq!(m.external_api.as_deref(), Some("$JS.us.API"));
        assert_eq!(m.error.unwrap().err_code, 10059);
        assert_eq!(info.state.last_ts, None);
        assert_eq!(
            info.config.get("x_future"),
            Some(&json!(1)),
            "unknown fields survive"
        );
    }

    #[test]
    fn active_ages_are_nanoseconds() {
        let m: MirrorInfo =
            serde_json::from_value(json!({"name": "S", "lag": 3, "active": 1_500_000_000i64}))
                .unwrap();
        assert_eq!(m.active, Some(Duration::from_millis(1500)));
        assert_eq!(m.external_api, None);
    }

    #[test]
    fn setting_metadata_keeps_the_servers_own_keys() {
        let mut c = StreamConfig::from_map(
            json!({"name": "S", "metadata": {"_nats.req.level": "0"}})
                .as_object()
                .unwrap()
                .clone(),
        );
        c.set_metadata("natsdr.epoch", "4");
        assert_eq!(c.metadata("_nats.req.level"), Some("0"));
        assert_eq!(c.metadata("natsdr.epoch"), Some("4"));
    }

    #[test]
    fn account_info_reads_the_api_level_when_present() {
        let a: AccountInfo = serde_json::from_value(
            json!({"domain": "eu", "streams": 2, "api": {"level": 3, "total": 9}}),
        )
        .unwrap();
        assert_eq!(a.api_level, Some(3));
        let old: AccountInfo =
            serde_json::from_value(json!({"streams": 0, "api": {"total": 1}})).unwrap();
        assert_eq!(old.api_level, None);
    }
}
