//! A backup set's manifest: what was snapshotted where and when, with what counts, consumers and
//! SHA-256 digests, so a set can be verified and a restore checked without trusting the target.
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::nats::StreamConfig;

/// The manifest format this binary writes and reads. A newer one is refused, never guessed at.
pub const FORMAT: u32 = 1;

/// The manifest's object name inside its set.
pub const MANIFEST: &str = "manifest.json";

/// The folder holding every set.
pub const SETS: &str = "sets";

/// A manifest that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Written by a newer natsdr, in a format this one does not know.
    #[error(
        "manifest format {found} is newer than this natsdr ({version}) understands (format {FORMAT}): use a newer natsdr"
    )]
    TooNew {
        /// The format found.
        found: u32,
        /// This binary's version.
        version: &'static str,
    },
    /// Not a manifest at all (truncated, corrupted, another file).
    #[error("not a readable manifest")]
    Malformed(#[source] serde_json::Error),
}

/// One consumer of a snapshotted stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerEntry {
    /// Durable name.
    pub name: String,
    /// Its replicas (0: the stream's).
    pub replicas: u64,
    /// Fewer replicas than its stream: the snapshot may leave it out silently.
    pub at_risk: bool,
}

/// One sampled message: its sequence and a hash of subject, headers and payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// Stream sequence.
    pub seq: u64,
    /// SHA-256 of `subject \0 headers \0 payload`, lowercase hex.
    pub sha256: String,
}

/// One stream in a set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamEntry {
    /// The configured stream (for a KV bucket, `KV_<bucket>`).
    pub stream: String,
    /// The region that takes its writes.
    pub region: String,
    /// The stream actually snapshotted (a restore recreates this name: the server cannot
    /// rename a snapshot).
    pub snapshot_stream: String,
    /// Where it was snapshotted.
    pub snapshot_region: String,
    /// The subjects a writable restore listens on.
    pub subjects: Vec<String>,
    /// The snapshot object, relative to the set.
    pub object: String,
    /// The object's size.
    pub bytes: u64,
    /// The object's SHA-256, lowercase hex.
    pub sha256: String,
    /// The stream's config at the snapshot.
    pub config: StreamConfig,
    /// The snapshot's state as the server sent it (a restore sends it back).
    pub state: Value,
    /// Messages in the snapshot.
    pub messages: u64,
    /// Bytes of messages in the snapshot.
    pub stream_bytes: u64,
    /// First sequence in the snapshot.
    pub first_seq: u64,
    /// Last sequence in the snapshot.
    pub last_seq: u64,
    /// Consumers on the snapshotted stream when it was taken.
    pub consumers: Vec<ConsumerEntry>,
    /// Sampled messages, for a drill to compare.
    pub samples: Vec<Sample>,
}

/// A set's manifest; written last, so a set without one is incomplete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version ([`FORMAT`]).
    pub format: u32,
    /// The set's id (its folder; sorts by time).
    pub set: String,
    /// The natsdr version that wrote it.
    pub natsdr_version: String,
    /// The target's region.
    pub region: String,
    /// Who took it (watchdog id).
    pub taken_by: String,
    /// The highest `natsdr.epoch` stamp among the snapshotted streams (0: none).
    pub epoch: u64,
    /// When the first snapshot started (RFC 3339).
    pub started_at: String,
    /// When the last one finished (RFC 3339).
    pub finished_at: String,
    /// The streams.
    pub streams: Vec<StreamEntry>,
}

#[derive(Deserialize)]
struct FormatOnly {
    format: u32,
}

impl Manifest {
    /// Parses a manifest, refusing a newer format by name before anything else is read.
    pub fn parse(bytes: &[u8]) -> Result<Self, ManifestError> {
        let head: FormatOnly = serde_json::from_slice(bytes).map_err(ManifestError::Malformed)?;
        if head.format > FORMAT {
            return Err(ManifestError::TooNew {
                found: head.format,
                version: env!("CARGO_PKG_VERSION"),
            });
        }
        serde_json::from_slice(bytes).map_err(ManifestError::Malformed)
    }

    /// The object key of `name` inside this set.
    pub fn key(&self, name: &str) -> String {
        set_key(&self.set, name)
    }
}

/// The key of `name` inside set `set`.
pub fn set_key(set: &str, name: &str) -> String {
    format!("{SETS}/{set}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_from_a_newer_format_is_refused_by_its_version() {
        let e = Manifest::parse(br#"{"format": 99, "whatever": true}"#).unwrap_err();
        assert!(matches!(e, ManifestError::TooNew { found: 99, .. }), "{e}");
        assert!(e.to_string().contains("newer"), "{e}");
    }

    #[test]
    fn a_truncated_manifest_is_malformed() {
        let e = Manifest::parse(br#"{"format": 1, "set": "#).unwrap_err();
        assert!(matches!(e, ManifestError::Malformed(_)), "{e}");
    }
}
