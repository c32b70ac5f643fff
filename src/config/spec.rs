//! The topology natsdr manages: streams, mirrors and KV buckets as the config declares them.
use std::time::Duration;

use serde::Serialize;

use crate::model::{Region, StreamName};

/// A stream's retention policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Retention {
    /// Keep until limits.
    Limits,
    /// Keep while a consumer is interested.
    Interest,
    /// Delete once acked (mirrors cannot copy the deletes: `natsdr lint` warns).
    WorkQueue,
}

/// Where the stream keeps its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Storage {
    /// On disk.
    File,
    /// In memory.
    Memory,
}

/// What happens when a limit is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Discard {
    /// Drop the oldest messages.
    Old,
    /// Refuse new messages.
    New,
}

/// Size and age limits shared by streams and mirrors. `None` = unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Oldest message kept.
    pub max_age: Option<Duration>,
    /// Bytes kept.
    pub max_bytes: Option<u64>,
    /// Messages kept.
    pub max_msgs: Option<u64>,
    /// Messages kept per subject.
    pub max_msgs_per_subject: Option<u64>,
    /// Largest message accepted.
    pub max_msg_size: Option<u64>,
}

/// A stream that takes writes in its region: a primary's stream, or a GDPR-only one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamSpec {
    /// Stream name.
    pub name: StreamName,
    /// The region it lives in.
    pub region: Region,
    /// GDPR-only: never mirrored out of its region and never touched by a failover.
    pub gdpr: bool,
    /// Subjects it captures.
    pub subjects: Vec<String>,
    /// Retention policy.
    pub retention: Retention,
    /// Storage type.
    pub storage: Storage,
    /// Discard policy.
    pub discard: Discard,
    /// Limits.
    pub limits: Limits,
    /// Replicas (1-5).
    pub replicas: u8,
    /// Dedupe window for `Nats-Msg-Id`; failback re-publishes rely on it.
    pub duplicate_window: Option<Duration>,
}

/// A mirror, in the other region, of a configured stream. Promoted in place on failover: it
/// then takes its source's subjects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MirrorSpec {
    /// Mirror stream name.
    pub name: StreamName,
    /// The region it lives in (the source's other region).
    pub region: Region,
    /// The stream it mirrors.
    pub source: StreamName,
    /// The source's region.
    pub source_region: Region,
    /// Replicas (defaults to the source's).
    pub replicas: u8,
    /// Limits (each defaults to the source's).
    pub limits: Limits,
}

/// A KV bucket, optionally mirrored into the other region under the same bucket name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KvSpec {
    /// Bucket name (its stream is `KV_<bucket>`).
    pub bucket: String,
    /// The region it takes writes in.
    pub region: Region,
    /// Where its mirror lives, if it has one.
    pub mirror_region: Option<Region>,
    /// Values kept per key (1-64).
    pub history: u8,
    /// Age after which values expire.
    pub ttl: Option<Duration>,
    /// Replicas (1-5).
    pub replicas: u8,
    /// Largest value accepted.
    pub max_value_size: Option<u64>,
    /// Bytes kept.
    pub max_bytes: Option<u64>,
    /// Storage type.
    pub storage: Storage,
}

impl KvSpec {
    /// The stream that backs the bucket.
    pub fn stream_name(&self) -> StreamName {
        StreamName::new(format!("KV_{}", self.bucket)).expect("bucket names are validated")
    }
}
