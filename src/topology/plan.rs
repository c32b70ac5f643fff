//! `plan`: compare expected stream configs with what the servers hold (pure), field by owned field.
use std::{collections::BTreeMap, fmt, time::Duration};

use serde_json::Value;

use super::expected::{ExpectedStream, StreamKind};
use crate::{
    model::{Region, StreamName},
    nats::StreamConfig,
};

/// Metadata key naming the role failover gave a stream ([`ROLE_PROMOTED`] or [`ROLE_FENCED`]).
pub const META_ROLE: &str = "natsdr.role";
/// Metadata key holding the epoch of the failover that last changed the stream.
pub const META_EPOCH: &str = "natsdr.epoch";
/// Role of a mirror promoted to a writable stream by a failover.
pub const ROLE_PROMOTED: &str = "promoted";
/// Role of a stream fenced (subjects parked) by a failover.
pub const ROLE_FENCED: &str = "fenced";
/// Prefix a fence puts in front of every subject.
pub const FENCE_PREFIX: &str = "fenced.";
/// Metadata key where a fence saves the stream's original subjects (a JSON array), so unfence
/// restores exactly what was there.
pub const META_SUBJECTS: &str = "natsdr.subjects";
/// Metadata key naming the source a promoted mirror was copying (kept through a later fence).
pub const META_ORIGIN: &str = "natsdr.origin";
/// Role an unfence gives back to a stream that was never promoted (a region's own source stream).
pub const ROLE_SOURCE: &str = "source";

/// What each region holds: stream name to its full config, as read from the server.
/// A region absent from the map could not be read.
pub type Actual = BTreeMap<Region, BTreeMap<String, StreamConfig>>;

/// One difference between the desired topology and a region, or a failover state worth showing.
#[derive(Debug, Clone, PartialEq)]
pub enum Drift {
    /// The region could not be read, so nothing is known about its streams.
    Unobserved {
        /// The region.
        region: Region,
    },
    /// The stream does not exist. `apply` creates it.
    Missing {
        /// The region.
        region: Region,
        /// The stream.
        stream: StreamName,
        /// What it should be.
        kind: StreamKind,
    },
    /// An owned field differs. `apply` sets it, leaving every other field alone.
    Field {
        /// The region.
        region: Region,
        /// The stream.
        stream: StreamName,
        /// JSON key of the field (`max_age`, `subjects`, `num_replicas`...).
        field: String,
        /// The desired value.
        want: Value,
        /// The value on the server (None when the server omits it).
        have: Option<Value>,
    },
    /// A plain stream where a mirror belongs, or the other way round, without a failover
    /// explaining it. Fixing it means deleting the stream, which natsdr never does.
    KindMismatch {
        /// The region.
        region: Region,
        /// The stream.
        stream: StreamName,
        /// Whether a mirror is wanted (else a plain stream).
        want_mirror: bool,
    },
    /// The mirror copies another source than configured; the server refuses to change a
    /// mirror's source (10055), so only an operator can fix it.
    MirrorSource {
        /// The region.
        region: Region,
        /// The stream.
        stream: StreamName,
        /// `name @ external.api` wanted.
        want: String,
        /// `name @ external.api` found.
        have: String,
    },
    /// State, not drift: a failover promoted this mirror into a writable stream. It stays so
    /// until failback; plan must not suggest recreating the mirror.
    Promoted {
        /// The region.
        region: Region,
        /// The stream.
        stream: StreamName,
        /// Epoch of the failover, from the stream's metadata.
        epoch: Option<String>,
    },
    /// State, not drift: a failover fenced this stream (subjects parked under `fenced.`). Its
    /// subjects must stay parked until failback; apply never restores them.
    Fenced {
        /// The region.
        region: Region,
        /// The stream.
        stream: StreamName,
        /// Epoch of the failover, from the stream's metadata.
        epoch: Option<String>,
    },
}

impl Drift {
    /// The region concerned.
    pub fn region(&self) -> &Region {
        match self {
            Self::Unobserved { region }
            | Self::Missing { region, .. }
            | Self::Field { region, .. }
            | Self::KindMismatch { region, .. }
            | Self::MirrorSource { region, .. }
            | Self::Promoted { region, .. }
            | Self::Fenced { region, .. } => region,
        }
    }

    /// Whether this reports a failover state (expected after a failover), not a difference.
    pub fn is_state(&self) -> bool {
        matches!(self, Self::Promoted { .. } | Self::Fenced { .. })
    }

    /// Whether `apply` fixes it (create a stream, set a field); the rest need an operator.
    pub fn is_fixable(&self) -> bool {
        matches!(self, Self::Missing { .. } | Self::Field { .. })
    }
}

/// How a field's value reads for people: durations as `7days`, `-1` as `unlimited`.
fn show(field: &str, v: Option<&Value>) -> String {
    let Some(v) = v else {
        return "unset".to_owned();
    };
    match (field, v.as_i64()) {
        ("max_age" | "duplicate_window", Some(0)) => "unlimited".to_owned(),
        ("max_age" | "duplicate_window", Some(ns)) => {
            humantime::format_duration(Duration::from_nanos(u64::try_from(ns).unwrap_or(0)))
                .to_string()
        }
        (_, Some(-1)) => "unlimited".to_owned(),
        _ => v.to_string(),
    }
}

fn kind_text(kind: &StreamKind) -> String {
    match kind {
        StreamKind::Stream => "stream".to_owned(),
        StreamKind::Mirror {
            source,
            source_region,
        } => format!("mirror of {source_region}/{source}"),
        StreamKind::Kv { bucket } => format!("KV bucket {bucket}"),
        StreamKind::KvMirror {
            bucket,
            source_bucket,
            source_region,
        } => {
            format!("KV bucket {bucket}, mirror of {source_region}/{source_bucket}")
        }
    }
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unobserved { region } => write!(
                f,
                "{region}: could not be read; its streams are not compared"
            ),
            Self::Missing {
                region,
                stream,
                kind,
            } => write!(f, "{region}/{stream}: missing ({})", kind_text(kind)),
            Self::Field {
                region,
                stream,
                field,
                want,
                have,
            } => write!(
                f,
                "{region}/{stream}: {field} is {}, want {}",
                show(field, have.as_ref()),
                show(field, Some(want))
            ),
            Self::KindMismatch {
                region,
                stream,
                want_mirror: true,
            } => write!(
                f,
                "{region}/{stream}: is a plain stream but should be a mirror (not promoted by natsdr; fix by hand, natsdr never deletes streams)"
            ),
            Self::KindMismatch {
                region,
                stream,
                want_mirror: false,
            } => write!(
                f,
                "{region}/{stream}: is a mirror but should be a plain stream (fix by hand, natsdr never deletes streams)"
            ),
            Self::MirrorSource {
                region,
                stream,
                want,
                have,
            } => write!(
                f,
                "{region}/{stream}: mirrors {have}, want {want} (a mirror's source cannot change; fix by hand)"
            ),
            Self::Promoted {
                region,
                stream,
                epoch,
            } => write!(
                f,
                "{region}/{stream}: promoted by failover (epoch {}); stays writable until failback",
                epoch.as_deref().unwrap_or("?")
            ),
            Self::Fenced {
                region,
                stream,
                epoch,
            } => write!(
                f,
                "{region}/{stream}: fenced by failover (epoch {}); subjects stay parked until failback",
                epoch.as_deref().unwrap_or("?")
            ),
        }
    }
}

/// The failover state a stream's config shows, if any.
enum FailoverState {
    Promoted,
    Fenced,
}

fn failover_state(actual: &StreamConfig) -> Option<FailoverState> {
    match actual.metadata(META_ROLE) {
        Some(ROLE_PROMOTED) => return Some(FailoverState::Promoted),
        Some(ROLE_FENCED) => return Some(FailoverState::Fenced),
        _ => {}
    }
    // NB: a fence without our metadata (by hand, or a crash between the two) is still a fence:
    // treating it as drift would let apply unfence a region and cause split-brain.
    let subjects = actual.subjects();
    (!subjects.is_empty() && subjects.iter().all(|s| s.starts_with(FENCE_PREFIX)))
        .then_some(FailoverState::Fenced)
}

fn mirror_ref(m: &serde_json::Map<String, Value>) -> String {
    let name = m.get("name").and_then(Value::as_str).unwrap_or("");
    match m
        .get("external")
        .and_then(|e| e.get("api"))
        .and_then(Value::as_str)
    {
        Some(api) if !api.is_empty() => format!("{name} @ {api}"),
        _ => name.to_owned(),
    }
}

/// The value a server omits a field for (Go's zero value, dropped by `omitempty`).
fn zero_like(want: &Value) -> Value {
    match want {
        Value::Bool(_) => Value::Bool(false),
        Value::Number(_) => Value::from(0),
        Value::String(_) => Value::String(String::new()),
        Value::Array(_) => Value::Array(Vec::new()),
        Value::Object(_) | Value::Null => Value::Null,
    }
}

fn same(field: &str, want: &Value, have: Option<&Value>) -> bool {
    let have = have.cloned().unwrap_or_else(|| zero_like(want));
    if field == "subjects" {
        let sorted = |v: &Value| {
            let mut s: Vec<String> = v
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            s.sort();
            s.dedup();
            s
        };
        return sorted(want) == sorted(&have);
    }
    match (want.as_i64(), have.as_i64()) {
        (Some(w), Some(h)) => w == h,
        _ => *want == have,
    }
}

/// The differences of one expected stream from what its region holds (`None` = absent).
pub fn diff(expected: &ExpectedStream, actual: Option<&StreamConfig>) -> Vec<Drift> {
    let region = &expected.region;
    let stream = &expected.name;
    let Some(actual) = actual else {
        return vec![Drift::Missing {
            region: region.clone(),
            stream: stream.clone(),
            kind: expected.kind.clone(),
        }];
    };
    let mut out = Vec::new();
    let epoch = || actual.metadata(META_EPOCH).map(str::to_owned);
    let state = failover_state(actual);
    match state {
        Some(FailoverState::Promoted) => {
            out.push(Drift::Promoted {
                region: region.clone(),
                stream: stream.clone(),
                epoch: epoch(),
            });
        }
        Some(FailoverState::Fenced) => {
            out.push(Drift::Fenced {
                region: region.clone(),
                stream: stream.clone(),
                epoch: epoch(),
            });
        }
        None => {}
    }

    match (expected.config.mirror(), actual.mirror()) {
        (Some(want), Some(have)) => {
            let (want, have) = (mirror_ref(want), mirror_ref(have));
            if want != have {
                out.push(Drift::MirrorSource {
                    region: region.clone(),
                    stream: stream.clone(),
                    want,
                    have,
                });
            }
        }
        // A promoted (or later fenced) former mirror has no mirror block: that is its state.
        (Some(_), None) if state.is_some() => {}
        (Some(_), None) => {
            out.push(Drift::KindMismatch {
                region: region.clone(),
                stream: stream.clone(),
                want_mirror: true,
            });
            return out;
        }
        (None, Some(_)) => {
            out.push(Drift::KindMismatch {
                region: region.clone(),
                stream: stream.clone(),
                want_mirror: false,
            });
            return out;
        }
        (None, None) => {}
    }

    for (field, want) in expected.config.as_map() {
        if matches!(field.as_str(), "name" | "mirror") || (field == "subjects" && state.is_some()) {
            continue;
        }
        let have = actual.get(field);
        if !same(field, want, have) {
            out.push(Drift::Field {
                region: region.clone(),
                stream: stream.clone(),
                field: field.clone(),
                want: want.clone(),
                have: have.cloned(),
            });
        }
    }
    out
}

/// Everything that differs between the expected streams and what the regions hold, in the
/// order of `expected`. Pure: reads nothing but its arguments. Streams natsdr does not manage
/// are ignored; regions missing from `actual` are reported once as [`Drift::Unobserved`].
pub fn plan(expected: &[ExpectedStream], actual: &Actual) -> Vec<Drift> {
    let mut out = Vec::new();
    let mut unobserved: Vec<&Region> = Vec::new();
    for e in expected {
        match actual.get(&e.region) {
            Some(streams) => out.extend(diff(e, streams.get(e.name.as_str()))),
            None if !unobserved.contains(&&e.region) => {
                unobserved.push(&e.region);
                out.push(Drift::Unobserved {
                    region: e.region.clone(),
                });
            }
            None => {}
        }
    }
    out
}
