//! The desired topology as plain input: what streams, mirrors and KV buckets each region should hold.
//!
//! The config layer maps its typed config onto these structs; nothing here reads files.
use std::time::Duration;

use crate::model::{Region, StreamName};

/// How a stream drops messages (`retention`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Retention {
    /// Keep until a limit is reached.
    #[default]
    Limits,
    /// Keep while a consumer still needs it.
    Interest,
    /// Delete once acknowledged.
    WorkQueue,
}

impl Retention {
    /// The server's JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Limits => "limits",
            Self::Interest => "interest",
            Self::WorkQueue => "workqueue",
        }
    }
}

/// Where a stream stores messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Storage {
    /// On disk.
    #[default]
    File,
    /// In memory (lost when all replicas restart).
    Memory,
}

impl Storage {
    /// The server's JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Memory => "memory",
        }
    }
}

/// What happens at a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Discard {
    /// Drop the oldest messages.
    #[default]
    Old,
    /// Refuse new messages.
    New,
}

impl Discard {
    /// The server's JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Old => "old",
            Self::New => "new",
        }
    }
}

/// The limits natsdr owns on a stream. `None` means unlimited (or, for the duplicate window,
/// the server's default: 2 minutes, or `max_age` when that is shorter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Retention policy.
    pub retention: Retention,
    /// Storage type.
    pub storage: Storage,
    /// Oldest message kept.
    pub max_age: Option<Duration>,
    /// Largest total size in bytes.
    pub max_bytes: Option<u64>,
    /// Most messages kept.
    pub max_msgs: Option<u64>,
    /// Most messages kept per subject.
    pub max_msgs_per_subject: Option<u64>,
    /// Largest message accepted, in bytes.
    pub max_msg_size: Option<u32>,
    /// Replicas (1, 3 or 5 in practice).
    pub replicas: u8,
    /// Discard policy.
    pub discard: Discard,
    /// Window in which a repeated `Nats-Msg-Id` is dropped as a duplicate.
    pub duplicate_window: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            retention: Retention::Limits,
            storage: Storage::File,
            max_age: None,
            max_bytes: None,
            max_msgs: None,
            max_msgs_per_subject: None,
            max_msg_size: None,
            replicas: 1,
            discard: Discard::Old,
            duplicate_window: None,
        }
    }
}

/// Per-field overrides of a mirror's limits; unset fields follow the source's limits.
/// NB: an override can set a limit, not lift one the source has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitOverrides {
    /// Retention policy.
    pub retention: Option<Retention>,
    /// Storage type.
    pub storage: Option<Storage>,
    /// Oldest message kept.
    pub max_age: Option<Duration>,
    /// Largest total size in bytes.
    pub max_bytes: Option<u64>,
    /// Most messages kept.
    pub max_msgs: Option<u64>,
    /// Most messages kept per subject.
    pub max_msgs_per_subject: Option<u64>,
    /// Largest message accepted.
    pub max_msg_size: Option<u32>,
    /// Replicas.
    pub replicas: Option<u8>,
    /// Discard policy.
    pub discard: Option<Discard>,
    /// Duplicate window.
    pub duplicate_window: Option<Duration>,
}

impl LimitOverrides {
    /// The source's limits with these overrides applied.
    pub fn apply_to(&self, source: &Limits) -> Limits {
        Limits {
            retention: self.retention.unwrap_or(source.retention),
            storage: self.storage.unwrap_or(source.storage),
            max_age: self.max_age.or(source.max_age),
            max_bytes: self.max_bytes.or(source.max_bytes),
            max_msgs: self.max_msgs.or(source.max_msgs),
            max_msgs_per_subject: self.max_msgs_per_subject.or(source.max_msgs_per_subject),
            max_msg_size: self.max_msg_size.or(source.max_msg_size),
            replicas: self.replicas.unwrap_or(source.replicas),
            discard: self.discard.unwrap_or(source.discard),
            duplicate_window: self.duplicate_window.or(source.duplicate_window),
        }
    }
}

/// A region and its JetStream domain (needed for cross-domain mirrors' `external.api`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionDomain {
    /// The region.
    pub region: Region,
    /// Its JetStream domain.
    pub domain: String,
}

/// A plain stream that lives in one region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSpec {
    /// Stream name.
    pub name: StreamName,
    /// Region holding it.
    pub region: Region,
    /// Subjects it listens on.
    pub subjects: Vec<String>,
    /// Its limits.
    pub limits: Limits,
    /// GDPR-only: never mirrored out of its region, never touched by a failover.
    pub gdpr: bool,
}

/// A mirror of a stream in another region, promoted in place on failover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorSpec {
    /// The mirror stream's name.
    pub name: StreamName,
    /// Region holding the mirror.
    pub region: Region,
    /// The mirrored stream (a [`StreamSpec`] of the desired topology).
    pub source: StreamName,
    /// Limits that differ from the source's.
    pub overrides: LimitOverrides,
}

/// A KV bucket, stored as stream `KV_<bucket>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvSpec {
    /// Bucket name (the stream is `KV_<bucket>`).
    pub bucket: String,
    /// Region holding it.
    pub region: Region,
    /// Values kept per key (1-64).
    pub history: u8,
    /// Age after which values expire.
    pub ttl: Option<Duration>,
    /// Largest value accepted.
    pub max_value_size: Option<u32>,
    /// Largest bucket size.
    pub max_bytes: Option<u64>,
    /// Storage type.
    pub storage: Storage,
    /// Replicas.
    pub replicas: u8,
}

/// A mirror of a KV bucket in another region (`mirror_direct`: it serves reads while mirroring).
/// NB: give it the source's bucket name, so that after promotion clients find the same bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvMirrorSpec {
    /// Bucket name of the mirror (its stream is `KV_<bucket>`).
    pub bucket: String,
    /// Region holding the mirror.
    pub region: Region,
    /// The mirrored bucket (a [`KvSpec`] of the desired topology).
    pub source: String,
    /// Replicas, if different from the source's.
    pub replicas: Option<u8>,
}

/// Everything natsdr manages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    /// Regions with their JetStream domains.
    pub regions: Vec<RegionDomain>,
    /// Plain streams.
    pub streams: Vec<StreamSpec>,
    /// Stream mirrors.
    pub mirrors: Vec<MirrorSpec>,
    /// KV buckets.
    pub kv: Vec<KvSpec>,
    /// KV bucket mirrors.
    pub kv_mirrors: Vec<KvMirrorSpec>,
}
