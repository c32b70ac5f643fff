//! The primary-region watchdog's lease, kept in its region beyond this process: read before the
//! first round (a predecessor's lease binds this process too), written after each vouch that
//! moves it on, and released on a graceful shutdown (when the peers are also told).
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::core::{Instant, Observation, RecordedVouch, State, WallTime};
use crate::nats::{LeaseRecord, LeaseRecords};

/// How old a lease record that could not be read counts as: old enough that it grants nothing
/// (the process then keeps a lease only from vouches it sees itself).
const UNREADABLE: Duration = Duration::from_secs(365 * 24 * 3600);

/// What the region holds, as far as this process knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    /// The record could not be read at start: assume the worst (a lease that ran out long ago).
    Unreadable,
    /// No watchdog ever recorded a lease here.
    Nothing,
    /// The record as read, or as this process last wrote it.
    Record(LeaseRecord),
}

/// Reads and writes the region's lease record for the driver.
#[derive(Debug)]
pub struct LeaseKeeper {
    records: LeaseRecords,
    known: Known,
    written: Option<Instant>,
    writing: Option<JoinHandle<()>>,
    timeout: Duration,
}

impl LeaseKeeper {
    /// Opens the record (creating its stream if needed) and reads it, each within `timeout`.
    pub async fn open(records: LeaseRecords, timeout: Duration) -> Self {
        let read = async {
            records.ensure().await?;
            records.read().await
        };
        let known = match tokio::time::timeout(timeout, read).await {
            Ok(Ok(Some(r))) => Known::Record(r),
            Ok(Ok(None)) => Known::Nothing,
            Ok(Err(e)) => {
                tracing::warn!(error = %crate::error_chain(&e), "lease record unreadable: no lease kept from it");
                Known::Unreadable
            }
            Err(_) => {
                tracing::warn!(
                    ?timeout,
                    "lease record not read in time: no lease kept from it"
                );
                Known::Unreadable
            }
        };
        tracing::info!(record = ?known, "lease record at start");
        Self {
            records,
            known,
            written: None,
            writing: None,
            timeout,
        }
    }

    /// The record as the core sees it in a round at `wall`.
    pub fn recorded(&self, wall: WallTime) -> Option<RecordedVouch> {
        match self.known {
            Known::Nothing => None,
            Known::Unreadable => Some(RecordedVouch {
                ago: UNREADABLE,
                released: false,
            }),
            Known::Record(r) => Some(RecordedVouch {
                ago: Duration::from_millis(u64::try_from(wall.0 - r.vouched_unix_ms).unwrap_or(0)),
                released: r.released,
            }),
        }
    }

    /// Records the state's latest vouch if it moved on since the last write (one write in flight
    /// at most; a failed write is only logged: this process's own memory holds the lease).
    pub fn vouched(&mut self, state: &State, obs: &Observation) {
        let Some(v) = state
            .vouched_at
            .filter(|v| self.written.is_none_or(|w| *v > w))
        else {
            return;
        };
        if self.writing.as_ref().is_some_and(|w| !w.is_finished()) {
            return;
        }
        let record = LeaseRecord {
            vouched_unix_ms: unix_ms(obs, v),
            released: false,
        };
        self.known = Known::Record(record);
        self.written = Some(v);
        let (records, timeout) = (self.records.clone(), self.timeout);
        self.writing = Some(tokio::spawn(async move {
            if let Err(e) = records.write(record, timeout).await {
                tracing::warn!(error = %crate::error_chain(&e), "lease record not written");
            }
        }));
    }

    /// Marks the lease released (graceful shutdown): a successor is not bound by it. Waits for
    /// the write, within the keeper's timeout.
    pub async fn release(&mut self, state: &State, obs: Option<&Observation>) {
        let vouched_unix_ms = match (state.vouched_at, obs, self.known) {
            (Some(v), Some(obs), _) => unix_ms(obs, v),
            (_, _, Known::Record(r)) => r.vouched_unix_ms,
            (_, _, Known::Nothing | Known::Unreadable) => 0,
        };
        let record = LeaseRecord {
            vouched_unix_ms,
            released: true,
        };
        if let Some(w) = self.writing.take() {
            let _ = tokio::time::timeout(self.timeout, w).await;
        }
        match self.records.write(record, self.timeout).await {
            Ok(()) => tracing::info!("lease record released"),
            Err(e) => {
                tracing::warn!(error = %crate::error_chain(&e), "lease record not released: a successor keeps its lease")
            }
        }
    }
}

/// The wall time (ms) of instant `v`, from the round `obs` that dates it.
fn unix_ms(obs: &Observation, v: Instant) -> i64 {
    let back = i64::try_from(obs.at.since(v).as_millis()).unwrap_or(i64::MAX);
    obs.wall.0.saturating_sub(back)
}
