//! From the desired topology to the JetStream stream configs each region should hold (pure).
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::desired::Desired;
use crate::{
    config::{Discard, KvSpec, Limits, Retention, Storage},
    model::{Region, StreamName},
    nats::StreamConfig,
};

/// What a managed stream is for; decides which fields are compared and how a failover shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamKind {
    /// A plain stream.
    Stream,
    /// A mirror of `source` in `source_region`.
    Mirror {
        /// The mirrored stream.
        source: StreamName,
        /// Its region.
        source_region: Region,
    },
    /// A KV bucket's stream.
    Kv {
        /// The bucket.
        bucket: String,
    },
    /// A mirror of a KV bucket's stream.
    KvMirror {
        /// The mirror's bucket.
        bucket: String,
        /// The mirrored bucket.
        source_bucket: String,
        /// Its region.
        source_region: Region,
    },
}

/// One stream as it should exist.
///
/// `config` holds exactly the fields natsdr owns (plus `name`), every one explicit, so a field
/// changed by hand is noticed even when the desired value is the server's default.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedStream {
    /// Region it belongs in.
    pub region: Region,
    /// Stream name.
    pub name: StreamName,
    /// What it is.
    pub kind: StreamKind,
    /// GDPR-only: never mirrored out, never touched by a failover.
    pub gdpr: bool,
    /// The owned fields.
    pub config: StreamConfig,
}

impl ExpectedStream {
    /// The one named `name` in `region`, among `all`.
    pub fn find<'a>(all: &'a [Self], region: &Region, name: &StreamName) -> Option<&'a Self> {
        all.iter().find(|e| &e.region == region && &e.name == name)
    }
}

/// Why the desired topology cannot be turned into stream configs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    /// A stream or mirror names a region without a domain entry.
    #[error("{stream}: region {region} is not configured")]
    UnknownRegion {
        /// The stream.
        stream: String,
        /// The unknown region.
        region: Region,
    },
    /// A mirror's source is not a stream (or bucket) of the desired topology.
    #[error("mirror {mirror}: source {source_name} is not a configured stream or bucket")]
    UnknownSource {
        /// The mirror.
        mirror: String,
        /// The missing source.
        source_name: String,
    },
    /// A mirror would copy a GDPR-only stream out of its region.
    #[error(
        "mirror {mirror} in {region} would copy GDPR-only stream {source_name} out of its region"
    )]
    GdprMirrored {
        /// The mirror.
        mirror: String,
        /// The mirror's region.
        region: Region,
        /// The GDPR-only source.
        source_name: String,
    },
    /// Two entries name the same stream in the same region.
    #[error("{stream} is configured twice in {region}")]
    Duplicate {
        /// The stream.
        stream: String,
        /// The region.
        region: Region,
    },
}

/// Everything natsdr owns on a stream besides its subjects or mirror block.
struct Owned<'a> {
    retention: Retention,
    storage: Storage,
    discard: Discard,
    limits: &'a Limits,
    replicas: u8,
    duplicate_window: Option<Duration>,
}

fn retention_str(r: Retention) -> &'static str {
    match r {
        Retention::Limits => "limits",
        Retention::Interest => "interest",
        Retention::WorkQueue => "workqueue",
    }
}

fn storage_str(s: Storage) -> &'static str {
    match s {
        Storage::File => "file",
        Storage::Memory => "memory",
    }
}

fn discard_str(d: Discard) -> &'static str {
    match d {
        Discard::Old => "old",
        Discard::New => "new",
    }
}

/// The server's default duplicate window: 2 minutes, or `max_age` when that is shorter (the
/// server refuses a window longer than `max_age`).
fn duplicate_window(owned: &Owned<'_>) -> Duration {
    let default = Duration::from_secs(120);
    owned
        .duplicate_window
        .unwrap_or(match owned.limits.max_age {
            Some(age) if !age.is_zero() && age < default => age,
            _ => default,
        })
}

fn nanos(d: Duration) -> Value {
    json!(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A limit as the server spells it: -1 = unlimited.
fn limit(v: Option<u64>) -> Value {
    v.map_or(json!(-1), |n| json!(i64::try_from(n).unwrap_or(i64::MAX)))
}

/// The owned fields as JSON, all explicit.
fn owned_fields(owned: &Owned<'_>) -> Map<String, Value> {
    let l = owned.limits;
    let mut m = Map::new();
    m.insert("retention".into(), json!(retention_str(owned.retention)));
    m.insert("storage".into(), json!(storage_str(owned.storage)));
    m.insert("max_age".into(), nanos(l.max_age.unwrap_or_default()));
    m.insert("max_bytes".into(), limit(l.max_bytes));
    m.insert("max_msgs".into(), limit(l.max_msgs));
    m.insert("max_msgs_per_subject".into(), limit(l.max_msgs_per_subject));
    m.insert("max_msg_size".into(), limit(l.max_msg_size));
    m.insert("num_replicas".into(), json!(owned.replicas));
    m.insert("discard".into(), json!(discard_str(owned.discard)));
    m.insert("duplicate_window".into(), nanos(duplicate_window(owned)));
    m
}

/// A KV bucket's stream fields, following the NATS clients' conventions (nats.go
/// `CreateKeyValue`): history as per-subject limit, discard new, rollups, no deletes, direct get.
fn kv_fields(kv: &KvSpec) -> Map<String, Value> {
    let limits = Limits {
        max_age: kv.ttl,
        max_bytes: kv.max_bytes,
        max_msgs: None,
        max_msgs_per_subject: Some(u64::from(kv.history)),
        max_msg_size: kv.max_value_size,
    };
    let mut m = owned_fields(&Owned {
        retention: Retention::Limits,
        storage: kv.storage,
        discard: Discard::New,
        limits: &limits,
        replicas: kv.replicas,
        duplicate_window: None,
    });
    m.insert("allow_rollup_hdrs".into(), json!(true));
    m.insert("deny_delete".into(), json!(true));
    m.insert("allow_direct".into(), json!(true));
    m
}

fn mirror_block(source: &str, source_domain: &str) -> Value {
    json!({ "name": source, "external": { "api": format!("$JS.{source_domain}.API") } })
}

/// Turns the desired topology into the stream configs every region should hold: plain streams
/// and buckets first, then mirrors (so that applying in order creates sources before mirrors).
pub fn expected(desired: &Desired) -> Result<Vec<ExpectedStream>, TopologyError> {
    let domain_of = |stream: &str, region: &Region| {
        desired
            .regions
            .iter()
            .find(|r| &r.region == region)
            .map(|r| r.domain.clone())
            .ok_or_else(|| TopologyError::UnknownRegion {
                stream: stream.to_owned(),
                region: region.clone(),
            })
    };
    let mut out = Vec::new();

    for s in &desired.streams {
        domain_of(s.name.as_str(), &s.region)?;
        let mut m = owned_fields(&Owned {
            retention: s.retention,
            storage: s.storage,
            discard: s.discard,
            limits: &s.limits,
            replicas: s.replicas,
            duplicate_window: s.duplicate_window,
        });
        m.insert("name".into(), json!(s.name.as_str()));
        m.insert("subjects".into(), json!(s.subjects));
        out.push(ExpectedStream {
            region: s.region.clone(),
            name: s.name.clone(),
            kind: StreamKind::Stream,
            gdpr: s.gdpr,
            config: StreamConfig::from_map(m),
        });
    }

    for kv in &desired.kv {
        domain_of(&kv.bucket, &kv.region)?;
        let name = kv.stream_name();
        let mut m = kv_fields(kv);
        m.insert("name".into(), json!(name.as_str()));
        m.insert("subjects".into(), json!([format!("$KV.{}.>", kv.bucket)]));
        out.push(ExpectedStream {
            region: kv.region.clone(),
            name,
            kind: StreamKind::Kv {
                bucket: kv.bucket.clone(),
            },
            gdpr: false,
            config: StreamConfig::from_map(m),
        });
    }

    for mirror in &desired.mirrors {
        domain_of(mirror.name.as_str(), &mirror.region)?;
        let source = desired
            .streams
            .iter()
            .find(|s| s.name == mirror.source && s.region == mirror.source_region)
            .ok_or_else(|| TopologyError::UnknownSource {
                mirror: mirror.name.to_string(),
                source_name: mirror.source.to_string(),
            })?;
        if source.gdpr && source.region != mirror.region {
            return Err(TopologyError::GdprMirrored {
                mirror: mirror.name.to_string(),
                region: mirror.region.clone(),
                source_name: source.name.to_string(),
            });
        }
        let source_domain = domain_of(source.name.as_str(), &source.region)?;
        // Retention, storage, discard and dupe window follow the source; limits and replicas
        // come resolved (source's unless overridden) from the config.
        let mut m = owned_fields(&Owned {
            retention: source.retention,
            storage: source.storage,
            discard: source.discard,
            limits: &mirror.limits,
            replicas: mirror.replicas,
            duplicate_window: source.duplicate_window,
        });
        // NB: a mirror does not deduplicate (it copies its source's sequence), and clustered
        // servers drop its duplicate_window (seen on 2.15.1 with R3): owning it would be drift
        // forever. The promoter sets the window when the mirror becomes a stream.
        m.remove("duplicate_window");
        m.insert("name".into(), json!(mirror.name.as_str()));
        m.insert(
            "mirror".into(),
            mirror_block(source.name.as_str(), &source_domain),
        );
        out.push(ExpectedStream {
            region: mirror.region.clone(),
            name: mirror.name.clone(),
            kind: StreamKind::Mirror {
                source: source.name.clone(),
                source_region: source.region.clone(),
            },
            gdpr: false,
            config: StreamConfig::from_map(m),
        });
    }

    for kv in &desired.kv {
        let Some(mirror_region) = &kv.mirror_region else {
            continue;
        };
        domain_of(&kv.bucket, mirror_region)?;
        let source_domain = domain_of(&kv.bucket, &kv.region)?;
        let name = kv.stream_name();
        let mut m = kv_fields(kv);
        m.insert("name".into(), json!(name.as_str()));
        m.remove("duplicate_window"); // as for stream mirrors, see above
        m.insert("mirror".into(), mirror_block(name.as_str(), &source_domain));
        m.insert("mirror_direct".into(), json!(true));
        out.push(ExpectedStream {
            region: mirror_region.clone(),
            name,
            kind: StreamKind::KvMirror {
                bucket: kv.bucket.clone(),
                source_bucket: kv.bucket.clone(),
                source_region: kv.region.clone(),
            },
            gdpr: false,
            config: StreamConfig::from_map(m),
        });
    }

    for (i, a) in out.iter().enumerate() {
        if out[..i]
            .iter()
            .any(|b| b.region == a.region && b.name == a.name)
        {
            return Err(TopologyError::Duplicate {
                stream: a.name.to_string(),
                region: a.region.clone(),
            });
        }
    }
    Ok(out)
}
