//! Promotion by snapshot -> delete -> restore, for servers that cannot drop a mirror's `mirror`
//! block in place (nats-server 2.10 and 2.11): sequences, timestamps and consumers are kept.
use std::time::Duration;

use tokio::time::{Instant, sleep};

use super::edit::{self, Edit, Takeover};
use super::error::ExecError;
use super::snapshot_store::{SnapshotMeta, SnapshotStore, Stored};
use crate::model::{Epoch, Region, StreamName};
use crate::nats::{JsApi, JsError, StreamInfo, TransferError, codes};

/// API level from which a mirror can be promoted in place (nats-server 2.12).
pub const IN_PLACE_API_LEVEL: u32 = 3;

/// How many times a snapshot is retaken when the mirror moved while it was taken.
const SNAPSHOT_ATTEMPTS: u32 = 3;

/// How a region's server promotes a mirror. The one place that decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromotionPath {
    /// 2.12+: one STREAM.UPDATE removing `mirror` and adding `subjects`.
    InPlace,
    /// 2.10/2.11: snapshot to local disk, delete, restore with the edited config.
    SnapshotRestore,
}

impl PromotionPath {
    /// The path for a server reporting `api_level` in `$JS.API.INFO` (none on 2.10, 1 on 2.11,
    /// 3 on 2.12).
    pub fn for_api_level(api_level: Option<u32>) -> Self {
        match api_level {
            Some(level) if level >= IN_PLACE_API_LEVEL => Self::InPlace,
            Some(_) | None => Self::SnapshotRestore,
        }
    }
}

/// One stream's promotion by restore: where, what, and the clients and store it uses.
pub struct Restore<'a> {
    /// The mirror's region.
    pub region: &'a Region,
    /// The mirror.
    pub stream: &'a StreamName,
    /// The promotion's epoch.
    pub epoch: Epoch,
    /// What it takes over from its source.
    pub takeover: &'a Takeover,
    /// The region's JetStream API, with a timeout long enough for a restore's replies.
    pub js: &'a JsApi,
    /// Where snapshots are kept.
    pub store: &'a SnapshotStore,
}

impl Restore<'_> {
    fn api(&self, source: JsError) -> ExecError {
        ExecError::api(self.region, self.stream.as_str())(source)
    }

    fn transfer(&self, source: TransferError) -> ExecError {
        ExecError::Transfer {
            region: self.region.clone(),
            stream: self.stream.clone(),
            source: Box::new(source),
        }
    }

    fn store_error(&self, source: super::snapshot_store::StoreError) -> ExecError {
        ExecError::Store {
            region: self.region.clone(),
            stream: self.stream.clone(),
            source: Box::new(source),
        }
    }

    fn mismatch(&self, what: String) -> ExecError {
        ExecError::RestoreMismatch {
            region: self.region.clone(),
            stream: self.stream.clone(),
            what,
        }
    }

    /// Promotes the mirror `info` (just read, still a mirror): snapshot to disk and verify,
    /// delete, restore, verify, then drop the snapshot.
    pub async fn promote(&self, info: &StreamInfo) -> Result<(), ExecError> {
        let stored = self.snapshot(info).await?;
        match self.js.stream_delete(self.stream.as_str()).await {
            Ok(()) => {}
            Err(e) if e.is_stream_not_found() => {}
            Err(e) => return Err(self.api(e)),
        }
        tracing::info!(region = %self.region, stream = %self.stream, epoch = %self.epoch,
            "promote: mirror deleted, restoring from the snapshot");
        self.restore(&stored).await
    }

    /// Finishes a promotion whose mirror is gone: restores the newest complete snapshot taken
    /// at this epoch or before. None when there is none (nothing to finish).
    pub async fn resume(&self) -> Result<Option<()>, ExecError> {
        let Some(stored) = self
            .store
            .latest(self.region, self.stream, self.epoch)
            .await
            .map_err(|e| self.store_error(e))?
        else {
            return Ok(None);
        };
        tracing::warn!(region = %self.region, stream = %self.stream, epoch = %self.epoch,
            snapshot_epoch = %stored.meta.epoch, last_seq = stored.meta.last_seq,
            "promote: mirror missing, finishing an interrupted promotion from its snapshot");
        self.restore(&stored).await.map(Some)
    }

    /// Takes a snapshot of the mirror into its slot and commits it only once the mirror is
    /// seen unchanged after it: the snapshot then holds every message the mirror has.
    pub async fn snapshot(&self, info: &StreamInfo) -> Result<Stored, ExecError> {
        let mut attempt = 1;
        loop {
            let path = self
                .store
                .begin(self.region, self.stream, self.epoch)
                .await
                .map_err(|e| self.store_error(e))?;
            let mut file = tokio::fs::File::create(&path)
                .await
                .map_err(|e| self.transfer(TransferError::Io(e)))?;
            let started = Instant::now();
            let taken = self
                .js
                .stream_snapshot(self.stream.as_str(), &mut file, self.js.timeout())
                .await
                .map_err(|e| self.transfer(e))?;
            drop(file);
            let after = self
                .js
                .stream_info(self.stream.as_str())
                .await
                .map_err(|e| self.api(e))?;
            let consumers = self
                .js
                .consumer_names(self.stream.as_str())
                .await
                .map_err(|e| self.api(e))?;
            let held = &taken.parsed;
            let moved = after.state.last_seq != held.last_seq
                || after.state.first_seq != held.first_seq
                || consumers.len() as u64 != held.consumer_count
                || after.config.mirror().is_none()
                || held.last_seq < info.state.last_seq;
            if !moved && taken.bytes > 0 {
                tracing::info!(region = %self.region, stream = %self.stream, epoch = %self.epoch,
                    bytes = taken.bytes, chunks = taken.chunks, last_seq = held.last_seq,
                    took_ms = started.elapsed().as_millis() as u64, "promote: snapshot taken");
                let meta = SnapshotMeta {
                    region: self.region.clone(),
                    stream: self.stream.clone(),
                    epoch: self.epoch,
                    bytes: taken.bytes,
                    sha256: taken.sha256,
                    first_seq: held.first_seq,
                    last_seq: held.last_seq,
                    messages: held.messages,
                    consumers,
                    mirror_config: after.config,
                    state: taken.state,
                };
                return self
                    .store
                    .commit(&meta)
                    .await
                    .map_err(|e| self.store_error(e));
            }
            if attempt >= SNAPSHOT_ATTEMPTS {
                return Err(ExecError::SnapshotMoved {
                    region: self.region.clone(),
                    stream: self.stream.clone(),
                    held: held.last_seq,
                    now: after.state.last_seq,
                });
            }
            tracing::info!(region = %self.region, stream = %self.stream, attempt,
                held = held.last_seq, now = after.state.last_seq,
                "promote: the mirror moved during its snapshot, taking it again");
            attempt += 1;
        }
    }

    /// Restores `stored` with its mirror config edited for this epoch, verifies sequences and
    /// consumers, and drops the slot. The mirror must not exist any more.
    pub async fn restore(&self, stored: &Stored) -> Result<(), ExecError> {
        let cfg = match edit::promote(&stored.meta.mirror_config, self.epoch, self.takeover) {
            Ok(Edit::Update(cfg)) => cfg,
            Ok(Edit::Unchanged) => {
                return Err(self.mismatch("the snapshot's config is not a mirror's".into()));
            }
            Err(source) => return Err(ExecError::refused(self.region, self.stream)(source)),
        };
        let started = Instant::now();
        let deadline = started + self.js.timeout();
        // A delete just answered may still be applied by the meta group: the name frees up soon.
        // Or an earlier attempt's restore, whose reply was lost, landed meanwhile: the stream
        // under the name is then this very promotion (promoted, stamped at this epoch).
        let restored = loop {
            let mut file = tokio::fs::File::open(&stored.data)
                .await
                .map_err(|e| self.transfer(TransferError::Io(e)))?;
            match self
                .js
                .stream_restore(&cfg, &stored.meta.state, &mut file, self.js.timeout() * 4)
                .await
            {
                Ok(info) => break info,
                Err(TransferError::Api(e))
                    if e.err_code() == Some(codes::STREAM_NAME_IN_USE_RESTORE) =>
                {
                    if let Some(info) = self.landed_earlier().await? {
                        tracing::info!(region = %self.region, stream = %self.stream,
                            epoch = %self.epoch, "promote: an earlier attempt's restore landed");
                        break info;
                    }
                    if Instant::now() >= deadline {
                        return Err(self.transfer(TransferError::Api(e)));
                    }
                    sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(self.transfer(e)),
            }
        };
        let meta = &stored.meta;
        if restored.state.last_seq != meta.last_seq || restored.state.first_seq != meta.first_seq {
            return Err(self.mismatch(format!(
                "restored sequences {}..={}, the snapshot held {}..={}",
                restored.state.first_seq, restored.state.last_seq, meta.first_seq, meta.last_seq
            )));
        }
        self.await_consumers(&meta.consumers).await?;
        tracing::info!(region = %self.region, stream = %self.stream, epoch = %self.epoch,
            last_seq = meta.last_seq, consumers = meta.consumers.len(),
            took_ms = started.elapsed().as_millis() as u64, "promote: mirror restored as a stream");
        // The snapshot is no longer needed; failing to drop it is only untidy.
        if let Err(e) = self
            .store
            .remove(self.region, self.stream, meta.epoch)
            .await
        {
            tracing::warn!(error = %crate::error_chain(&e), "promote: snapshot left on disk");
        }
        Ok(())
    }

    /// The stream under the name, if it is already this promotion's result: not a mirror,
    /// promoted and stamped at this epoch (an earlier attempt restored it).
    async fn landed_earlier(&self) -> Result<Option<StreamInfo>, ExecError> {
        let Some(info) = self
            .js
            .find_stream(self.stream.as_str())
            .await
            .map_err(|e| self.api(e))?
        else {
            return Ok(None);
        };
        let done = matches!(
            edit::promote(&info.config, self.epoch, self.takeover),
            Ok(Edit::Unchanged)
        );
        Ok(done.then_some(info))
    }

    /// Waits (up to the API timeout) until every consumer of the snapshot exists again: the
    /// server assigns restored consumers after it answers the restore.
    async fn await_consumers(&self, want: &[String]) -> Result<(), ExecError> {
        let deadline = Instant::now() + self.js.timeout();
        loop {
            let have = self
                .js
                .consumer_names(self.stream.as_str())
                .await
                .map_err(|e| self.api(e))?;
            let missing: Vec<&String> = want.iter().filter(|c| !have.contains(c)).collect();
            if missing.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(self.mismatch(format!("consumers {missing:?} not restored")));
            }
            sleep(Duration::from_millis(100)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_api_level_3_and_above_promotes_in_place() {
        assert_eq!(
            PromotionPath::for_api_level(None),
            PromotionPath::SnapshotRestore
        );
        assert_eq!(
            PromotionPath::for_api_level(Some(1)),
            PromotionPath::SnapshotRestore
        );
        assert_eq!(
            PromotionPath::for_api_level(Some(3)),
            PromotionPath::InPlace
        );
        assert_eq!(
            PromotionPath::for_api_level(Some(5)),
            PromotionPath::InPlace
        );
    }
}
