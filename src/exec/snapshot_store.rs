//! `SnapshotStore`: mirror snapshots kept on local disk, one slot per region, stream and epoch,
//! so a promotion that died between delete and restore can be finished from disk.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use crate::model::{Epoch, Region, StreamName};
use crate::nats::StreamConfig;
use crate::nats::snapshot::hex;

const DATA: &str = "snapshot.tar.s2";
const META: &str = "snapshot.json";
const EPOCH_PREFIX: &str = "epoch-";

/// A local-disk failure of the snapshot store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading, writing or renaming a file failed.
    #[error("{path}: I/O failed")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A slot's description could not be read or written as JSON.
    #[error("{path}: bad snapshot description")]
    Json {
        /// The description file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A complete slot's data does not match its description: it must never be restored.
    #[error("{path}: snapshot does not match its description ({why})")]
    Corrupt {
        /// The data file.
        path: PathBuf,
        /// What differs.
        why: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What a complete slot holds besides the data: enough to verify the data and to restore it.
/// Written last: a slot without it is incomplete and is never restored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// The region of the mirror.
    pub region: Region,
    /// The mirror's stream name.
    pub stream: StreamName,
    /// The epoch of the promotion that took it.
    pub epoch: Epoch,
    /// Size of the data file.
    pub bytes: u64,
    /// SHA-256 of the data file, lowercase hex.
    pub sha256: String,
    /// The mirror's first sequence in the snapshot.
    pub first_seq: u64,
    /// The mirror's last sequence in the snapshot.
    pub last_seq: u64,
    /// Messages in the snapshot.
    pub messages: u64,
    /// The durable consumers the snapshot holds (checked after the restore).
    pub consumers: Vec<String>,
    /// The mirror's config as it was: a resumed promotion edits it again for its own epoch.
    pub mirror_config: StreamConfig,
    /// The snapshot's state as the server sent it, sent back with the restore.
    pub state: Value,
}

/// A complete, verified slot.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// Its description.
    pub meta: SnapshotMeta,
    /// The data file.
    pub data: PathBuf,
}

/// Snapshots on disk under `<root>/<region>/<stream>/epoch-<N>/`: `snapshot.tar.s2` (the
/// server's snapshot, byte for byte) and `snapshot.json` ([`SnapshotMeta`]).
///
/// Invariants: a slot's description exists only once its data is complete, synced and checked
/// against the stream; [`SnapshotStore::latest`] returns only slots whose data still matches
/// its size and hash. It also hands out one lock per region and stream, so two promotions of
/// the same stream (a retry while the first still runs) never interleave.
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    root: PathBuf,
    locks: Arc<std::sync::Mutex<StreamLocks>>,
}

/// One async lock per region and stream.
type StreamLocks = BTreeMap<(Region, StreamName), Arc<tokio::sync::Mutex<()>>>;

impl SnapshotStore {
    /// A store under `root` (created when first written).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            locks: Arc::default(),
        }
    }

    /// `<OS temp dir>/natsdr-snapshots/<watchdog id>`: the default when nothing else is set.
    pub fn in_temp_dir(watchdog: &str) -> Self {
        Self::new(std::env::temp_dir().join("natsdr-snapshots").join(watchdog))
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Waits for, and holds, the lock of `stream` in `region`.
    pub async fn lock(
        &self,
        region: &Region,
        stream: &StreamName,
    ) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            // NB: poisoned only if a holder panicked while inserting; the map is still usable.
            let mut map = self
                .locks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            map.entry((region.clone(), stream.clone()))
                .or_default()
                .clone()
        };
        lock.lock_owned().await
    }

    fn stream_dir(&self, region: &Region, stream: &StreamName) -> PathBuf {
        self.root.join(region.to_string()).join(stream.as_str())
    }

    /// The slot directory of one promotion.
    pub fn slot(&self, region: &Region, stream: &StreamName, epoch: Epoch) -> PathBuf {
        self.stream_dir(region, stream)
            .join(format!("{EPOCH_PREFIX}{}", epoch.0))
    }

    /// Empties the slot and returns the path to write the data to. Any earlier description is
    /// removed first, so a crash while writing leaves an incomplete slot, never a wrong one.
    pub async fn begin(
        &self,
        region: &Region,
        stream: &StreamName,
        epoch: Epoch,
    ) -> Result<PathBuf, StoreError> {
        let slot = self.slot(region, stream, epoch);
        tokio::fs::create_dir_all(&slot).await.map_err(io(&slot))?;
        let meta = slot.join(META);
        match tokio::fs::remove_file(&meta).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(StoreError::Io {
                    path: meta,
                    source: e,
                });
            }
            Ok(()) | Err(_) => {}
        }
        Ok(slot.join(DATA))
    }

    /// Marks the slot complete: syncs the data, then writes the description atomically.
    pub async fn commit(&self, meta: &SnapshotMeta) -> Result<Stored, StoreError> {
        let slot = self.slot(&meta.region, &meta.stream, meta.epoch);
        let data = slot.join(DATA);
        sync_file(&data).await?;
        let tmp = slot.join(format!("{META}.tmp"));
        let text = serde_json::to_vec_pretty(meta).map_err(|source| StoreError::Json {
            path: tmp.clone(),
            source,
        })?;
        tokio::fs::write(&tmp, text).await.map_err(io(&tmp))?;
        sync_file(&tmp).await?;
        let path = slot.join(META);
        tokio::fs::rename(&tmp, &path).await.map_err(io(&path))?;
        // The rename is durable only once the directory is synced.
        sync_file(&slot).await?;
        Ok(Stored {
            meta: meta.clone(),
            data,
        })
    }

    /// The newest complete slot of `stream` in `region` at `epoch` or older, verified against
    /// its description. None when there is none; an error when the newest one is damaged (it
    /// must not be restored, and an older one would silently lose what it lacks).
    pub async fn latest(
        &self,
        region: &Region,
        stream: &StreamName,
        epoch: Epoch,
    ) -> Result<Option<Stored>, StoreError> {
        let dir = self.stream_dir(region, stream);
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(StoreError::Io {
                    path: dir,
                    source: e,
                });
            }
        };
        let mut epochs = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(io(&dir))? {
            let name = entry.file_name();
            let Some(n) = name
                .to_str()
                .and_then(|n| n.strip_prefix(EPOCH_PREFIX))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            if n <= epoch.0 && entry.path().join(META).is_file() {
                epochs.push(n);
            }
        }
        let Some(newest) = epochs.into_iter().max() else {
            return Ok(None);
        };
        let slot = self.slot(region, stream, Epoch(newest));
        let meta_path = slot.join(META);
        let text = tokio::fs::read(&meta_path).await.map_err(io(&meta_path))?;
        let meta: SnapshotMeta =
            serde_json::from_slice(&text).map_err(|source| StoreError::Json {
                path: meta_path,
                source,
            })?;
        let data = slot.join(DATA);
        let (bytes, sha256) = digest(&data).await?;
        if bytes != meta.bytes || sha256 != meta.sha256 {
            return Err(StoreError::Corrupt {
                path: data,
                why: format!(
                    "{bytes} bytes sha256 {sha256}, described as {} bytes sha256 {}",
                    meta.bytes, meta.sha256
                ),
            });
        }
        Ok(Some(Stored { meta, data }))
    }

    /// Removes a slot (done after a verified restore). A missing slot is not an error.
    pub async fn remove(
        &self,
        region: &Region,
        stream: &StreamName,
        epoch: Epoch,
    ) -> Result<(), StoreError> {
        let slot = self.slot(region, stream, epoch);
        match tokio::fs::remove_dir_all(&slot).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StoreError::Io {
                path: slot,
                source: e,
            }),
            Ok(()) | Err(_) => Ok(()),
        }
    }
}

async fn sync_file(path: &Path) -> Result<(), StoreError> {
    let f = tokio::fs::File::open(path).await.map_err(io(path))?;
    f.sync_all().await.map_err(io(path))
}

/// Size and SHA-256 of a file.
async fn digest(path: &Path) -> Result<(u64, String), StoreError> {
    let mut f = tokio::fs::File::open(path).await.map_err(io(path))?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = f.read(&mut buf).await.map_err(io(path))?;
        if n == 0 {
            return Ok((bytes, hex(&hash.finalize())));
        }
        hash.update(&buf[..n]);
        bytes += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn meta(epoch: u64, data: &[u8]) -> SnapshotMeta {
        SnapshotMeta {
            region: Region::new("eu-central-1").unwrap(),
            stream: StreamName::new("events-eu-mirror").unwrap(),
            epoch: Epoch(epoch),
            bytes: data.len() as u64,
            sha256: hex(&Sha256::digest(data)),
            first_seq: 1,
            last_seq: 9,
            messages: 9,
            consumers: vec!["worker".into()],
            mirror_config: StreamConfig::from_map(
                json!({"name": "events-eu-mirror"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
            state: json!({"last_seq": 9}),
        }
    }

    /// A store in a fresh folder (kept while the returned guard lives) holding one committed
    /// snapshot of `data` at `epoch`.
    async fn one_snapshot(
        epoch: u64,
        data: &[u8],
    ) -> (tempfile::TempDir, SnapshotStore, SnapshotMeta, Stored) {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::new(dir.path());
        let m = meta(epoch, data);
        let path = store.begin(&m.region, &m.stream, m.epoch).await.unwrap();
        tokio::fs::write(&path, data).await.unwrap();
        let stored = store.commit(&m).await.unwrap();
        (dir, store, m, stored)
    }

    #[tokio::test]
    async fn a_committed_snapshot_is_found_for_its_epoch_and_later_ones_but_not_earlier() {
        let (_dir, store, m, stored) = one_snapshot(3, b"tar bytes").await;
        let (r, s) = (&m.region, &m.stream);
        assert_eq!(
            store.latest(r, s, Epoch(3)).await.unwrap(),
            Some(stored.clone())
        );
        assert_eq!(store.latest(r, s, Epoch(4)).await.unwrap(), Some(stored));
        assert_eq!(store.latest(r, s, Epoch(2)).await.unwrap(), None);
        store.remove(r, s, Epoch(3)).await.unwrap();
        assert_eq!(store.latest(r, s, Epoch(3)).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_slot_whose_description_was_never_written_is_not_a_snapshot() {
        let (_dir, store, m, _) = one_snapshot(2, b"complete").await;
        // A retake at the same epoch that dies while writing: the old description is gone too.
        let path = store.begin(&m.region, &m.stream, m.epoch).await.unwrap();
        tokio::fs::write(&path, b"compl").await.unwrap();
        assert_eq!(
            store.latest(&m.region, &m.stream, Epoch(2)).await.unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn a_snapshot_changed_on_disk_is_refused_as_corrupt() {
        let (_dir, store, m, stored) = one_snapshot(2, b"the bytes").await;
        tokio::fs::write(&stored.data, b"the bytez").await.unwrap();
        assert!(matches!(
            store.latest(&m.region, &m.stream, Epoch(2)).await,
            Err(StoreError::Corrupt { .. })
        ));
    }
}
