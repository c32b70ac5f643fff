//! Taking one backup set: every configured stream snapshotted through the JetStream snapshot API
//! and streamed straight to the target, then the manifest (written last, only if all succeeded),
//! then retention.
use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::BackupError;
use super::manifest::{
    ConsumerEntry, FORMAT, MANIFEST, Manifest, SETS, Sample, StreamEntry, set_key,
};
use super::target::{Target, TargetError};
use crate::config::{Backup, BackupItem};
use crate::model::Region;
use crate::nats::{JsApi, StoredMessage};
use crate::topology::META_EPOCH;

/// Longest wait for the next snapshot chunk before the transfer counts as stalled.
const CHUNK_IDLE: Duration = Duration::from_secs(15);

/// Messages sampled per stream for drills to compare.
const SAMPLES: u64 = 16;

/// Pipe between the snapshot and the upload: the only buffer besides one S3 part.
const PIPE: usize = 256 * 1024;

/// One backup run: the configured streams, the regions' JetStream APIs, the target.
pub struct Taker<'a> {
    /// What to back up.
    pub backup: &'a Backup,
    /// Each region's JetStream API (application account).
    pub regions: &'a BTreeMap<Region, JsApi>,
    /// The opened target.
    pub target: &'a Target,
    /// Who takes it (the watchdog id), for the manifest.
    pub taken_by: &'a str,
}

/// The set id for a time: sortable, one per second.
pub fn set_id(t: OffsetDateTime) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// SHA-256 of a stored message's subject, headers and payload (decoded), lowercase hex.
pub fn message_hash(m: &StoredMessage) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let decode = |s: &Option<String>| {
        s.as_deref()
            .and_then(|s| b64.decode(s).ok())
            .unwrap_or_default()
    };
    let mut h = Sha256::new();
    h.update(m.subject.as_bytes());
    h.update([0]);
    h.update(decode(&m.hdrs));
    h.update([0]);
    h.update(decode(&m.data));
    crate::nats::snapshot::hex(&h.finalize())
}

/// The sequences sampled between `first` and `last`: both ends and evenly spaced between.
pub fn sample_seqs(first: u64, last: u64) -> Vec<u64> {
    if first == 0 || last < first {
        return Vec::new();
    }
    let span = last - first;
    let mut out: Vec<u64> = (0..SAMPLES)
        .map(|i| first + span * i / (SAMPLES - 1))
        .collect();
    out.dedup();
    out
}

impl Taker<'_> {
    fn js(&self, item: &BackupItem) -> Result<&JsApi, BackupError> {
        self.regions
            .get(&item.snapshot_region)
            .ok_or_else(|| BackupError::Api {
                stream: item.snapshot_stream.to_string(),
                source: crate::nats::JsError::NoResponders {
                    subject: format!("region {} not connected", item.snapshot_region),
                },
            })
    }

    /// Takes a set at `now`. On any failure the partial set is removed and no manifest is
    /// written, so it never lists as complete; if the removal fails too, the error says the set
    /// is left on the target ([`BackupError::LeftIncomplete`]).
    pub async fn take(&self, now: OffsetDateTime) -> Result<Manifest, BackupError> {
        let set = set_id(now);
        let mut streams = Vec::new();
        let mut epoch = 0;
        for item in &self.backup.items {
            match self.one(&set, item).await {
                Ok(entry) => {
                    epoch = epoch.max(
                        entry
                            .config
                            .metadata(META_EPOCH)
                            .and_then(|e| e.parse().ok())
                            .unwrap_or(0),
                    );
                    tracing::info!(set = %set, stream = %item.stream,
                        from = %format!("{}/{}", item.snapshot_region, item.snapshot_stream),
                        bytes = entry.bytes, messages = entry.messages, "backup: stream saved");
                    streams.push(entry);
                }
                Err(e) => {
                    let removed = self.target.delete_dir(&format!("{SETS}/{set}")).await;
                    // NB: with no stream saved there is nothing of this set to leave behind (a
                    // failed upload is aborted), so only then is a failed removal not news.
                    return match removed {
                        Err(cleanup) if !streams.is_empty() => {
                            tracing::warn!(set = %set, error = %crate::error_chain(&cleanup),
                                "backup: the failed set's objects could not be removed");
                            Err(BackupError::LeftIncomplete {
                                set,
                                saved: streams.len(),
                                cleanup: crate::error_chain(&cleanup),
                                source: Box::new(e),
                            })
                        }
                        _ => Err(e),
                    };
                }
            }
        }
        let manifest = Manifest {
            format: FORMAT,
            set: set.clone(),
            natsdr_version: env!("CARGO_PKG_VERSION").to_owned(),
            region: self.backup.target_region.to_string(),
            taken_by: self.taken_by.to_owned(),
            epoch,
            started_at: rfc3339(now),
            finished_at: rfc3339(OffsetDateTime::now_utc()),
            streams,
        };
        let body = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
        // Exclusive: two runs in the same second cannot overwrite each other's manifest.
        self.target
            .put_bytes(&set_key(&set, MANIFEST), body, true)
            .await?;
        self.prune(&set).await?;
        Ok(manifest)
    }

    async fn one(&self, set: &str, item: &BackupItem) -> Result<StreamEntry, BackupError> {
        let js = self.js(item)?;
        let name = item.snapshot_stream.as_str();
        let api = |source| BackupError::Api {
            stream: name.to_owned(),
            source,
        };
        let info = js.stream_info(name).await.map_err(api)?;
        let consumers = self.consumers(js, name, &info.config).await?;
        let object = format!("{name}.tar.s2");
        let key = set_key(set, &object);
        let (mut w, mut r) = tokio::io::duplex(PIPE);
        let snapshot = async move {
            let taken = js.stream_snapshot(name, &mut w, CHUNK_IDLE).await;
            drop(w);
            taken
        };
        let (taken, written) = tokio::join!(snapshot, self.target.put_stream(&key, &mut r));
        let taken = taken.map_err(|source| BackupError::Transfer {
            stream: name.to_owned(),
            source,
        })?;
        let written = written?;
        if written.bytes != taken.bytes || written.sha256 != taken.sha256 {
            return Err(BackupError::Torn {
                object: key,
                sent: taken.bytes,
                sent_sha: taken.sha256,
                written: written.bytes,
                written_sha: written.sha256,
            });
        }
        let mut samples = Vec::new();
        for seq in sample_seqs(taken.parsed.first_seq, taken.parsed.last_seq) {
            // NB: a message gone since the snapshot (limits, age) is simply not sampled.
            if let Some(m) = js.stream_msg_get(name, seq).await.map_err(api)? {
                samples.push(Sample {
                    seq,
                    sha256: message_hash(&m),
                });
            }
        }
        Ok(StreamEntry {
            stream: item.stream.to_string(),
            region: item.region.to_string(),
            snapshot_stream: name.to_owned(),
            snapshot_region: item.snapshot_region.to_string(),
            subjects: item.subjects.clone(),
            object,
            bytes: written.bytes,
            sha256: written.sha256,
            config: taken.config,
            state: taken.state,
            messages: taken.parsed.messages,
            stream_bytes: taken.parsed.bytes,
            first_seq: taken.parsed.first_seq,
            last_seq: taken.parsed.last_seq,
            consumers,
            samples,
        })
    }

    /// The stream's consumers and their replicas: one with fewer replicas than its stream may
    /// be left out of a snapshot silently, so it is marked for the drill to check.
    async fn consumers(
        &self,
        js: &JsApi,
        stream: &str,
        config: &crate::nats::StreamConfig,
    ) -> Result<Vec<ConsumerEntry>, BackupError> {
        let api = |source| BackupError::Api {
            stream: stream.to_owned(),
            source,
        };
        let stream_replicas = config
            .get("num_replicas")
            .and_then(Value::as_u64)
            .unwrap_or(1);
        let mut out = Vec::new();
        for name in js.consumer_names(stream).await.map_err(api)? {
            let info: Value = js
                .call(&format!("CONSUMER.INFO.{stream}.{name}"), Value::Null)
                .await
                .map_err(api)?;
            let replicas = info
                .pointer("/config/num_replicas")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            out.push(ConsumerEntry {
                name,
                replicas,
                at_risk: replicas != 0 && replicas < stream_replicas,
            });
        }
        Ok(out)
    }

    /// Keeps the newest `keep` complete sets; deletes older ones, and incomplete sets older than
    /// `current` (failed runs; a newer one may still be in progress).
    async fn prune(&self, current: &str) -> Result<(), TargetError> {
        let sets = self.target.list_dirs(SETS).await?;
        let mut complete = Vec::new();
        for s in &sets {
            match self.target.digest(&set_key(s, MANIFEST)).await {
                Ok(_) => complete.push(s.clone()),
                Err(TargetError::Missing { .. }) if s.as_str() < current => {
                    tracing::info!(set = %s, "backup: removing an incomplete set");
                    self.target.delete_dir(&format!("{SETS}/{s}")).await?;
                }
                Err(TargetError::Missing { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let keep = self.backup.keep.get() as usize;
        if complete.len() > keep {
            for s in &complete[..complete.len() - keep] {
                tracing::info!(set = %s, "backup: removing a set beyond retention");
                self.target.delete_dir(&format!("{SETS}/{s}")).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_ids_sort_by_time() {
        let a = set_id(OffsetDateTime::from_unix_timestamp(1_796_375_103).unwrap());
        let b = set_id(OffsetDateTime::from_unix_timestamp(1_796_378_400).unwrap());
        assert_eq!(a, "20261204T090503Z");
        assert!(a < b);
    }

    #[test]
    fn samples_cover_both_ends_without_repeats() {
        assert_eq!(sample_seqs(0, 0), Vec::<u64>::new());
        assert_eq!(sample_seqs(5, 5), vec![5]);
        let s = sample_seqs(1, 1000);
        assert_eq!(s.first(), Some(&1));
        assert_eq!(s.last(), Some(&1000));
        assert_eq!(s.len(), 16);
        let small = sample_seqs(3, 6);
        assert_eq!(small, vec![3, 4, 5, 6]);
    }
}
