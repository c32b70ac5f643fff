//! Backups on the watchdog's schedule: time is cut into slots of `backup.schedule`, and each
//! slot's set is taken by whichever watchdog first writes the slot's lease object on the target
//! (an exclusive write: `If-None-Match: *` on S3), so two running watchdogs never take the same
//! set twice and either one alone still takes every set.
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::catalog::Catalog;
use super::error::BackupError;
use super::manifest::Manifest;
use super::take::Taker;
use super::target::{Target, TargetError};
use crate::config::Backup;
use crate::model::Region;
use crate::nats::JsApi;

/// The folder of lease objects, one per slot.
const LEASES: &str = "leases";

/// The backup metrics a watchdog exports (no labels: one target per config).
#[derive(Debug, Clone, Default)]
pub struct BackupMetrics {
    /// Unix time the newest complete set on the target finished (whoever took it), as this
    /// watchdog last read it: every watchdog reports it, so the alert reads the max of all.
    pub last_success: Gauge,
    /// Seconds the last completed set took.
    pub last_duration: Gauge<f64, AtomicU64>,
    /// Bytes of snapshots in the last completed set.
    pub last_bytes: Gauge,
    /// Runs that failed.
    pub failures: Counter,
}

impl BackupMetrics {
    /// Registers the metrics in `registry` (the watchdog's `/metrics`).
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "natsdr_backup_last_success_timestamp_seconds",
            "Unix time the newest complete backup set on the target finished",
            m.last_success.clone(),
        );
        registry.register(
            "natsdr_backup_last_duration_seconds",
            "How long the last completed backup set took",
            m.last_duration.clone(),
        );
        registry.register(
            "natsdr_backup_last_bytes",
            "Snapshot bytes in the last completed backup set",
            m.last_bytes.clone(),
        );
        registry.register(
            "natsdr_backup_failures",
            "Backup runs that failed",
            m.failures.clone(),
        );
        m
    }
}

/// The slot `now` falls in: whole schedule intervals since the Unix epoch.
pub fn slot(now: OffsetDateTime, schedule: Duration) -> u64 {
    let secs = u64::try_from(now.unix_timestamp()).unwrap_or(0);
    secs / schedule.as_secs().max(1)
}

/// Takes sets on the schedule.
pub struct Scheduler {
    /// What to back up.
    pub backup: Backup,
    /// The opened target.
    pub target: Target,
    /// Each region's JetStream API.
    pub regions: BTreeMap<Region, JsApi>,
    /// This watchdog's id (written in the lease and the manifest).
    pub taken_by: String,
    /// Where results are counted.
    pub metrics: BackupMetrics,
}

impl Scheduler {
    /// Opens the target, registers the metrics in `registry` and spawns the schedule on the
    /// runtime (it ends with the process).
    pub async fn spawn(
        backup: Backup,
        regions: BTreeMap<Region, JsApi>,
        taken_by: String,
        registry: &mut Registry,
    ) -> tokio::task::JoinHandle<()> {
        let me = Self {
            target: Target::open(&backup.target).await,
            backup,
            regions,
            taken_by,
            metrics: BackupMetrics::register(registry),
        };
        tokio::spawn(me.run())
    }

    /// Takes slot `slot`'s set if this watchdog wins its lease. Ok(None): another watchdog has it.
    pub async fn run_slot(&self, slot: u64) -> Result<Option<Manifest>, BackupError> {
        let lease = format!("{LEASES}/{slot:012}");
        match self
            .target
            .put_bytes(&lease, self.taken_by.clone().into_bytes(), true)
            .await
        {
            Ok(()) => {}
            Err(TargetError::Exists { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        let started = tokio::time::Instant::now();
        let manifest = Taker {
            backup: &self.backup,
            regions: &self.regions,
            target: &self.target,
            taken_by: &self.taken_by,
        }
        .take(OffsetDateTime::now_utc())
        .await?;
        self.metrics
            .last_duration
            .set(started.elapsed().as_secs_f64());
        self.metrics.last_bytes.set(
            i64::try_from(manifest.streams.iter().map(|s| s.bytes).sum::<u64>())
                .unwrap_or(i64::MAX),
        );
        self.metrics
            .last_success
            .set(OffsetDateTime::now_utc().unix_timestamp());
        Ok(Some(manifest))
    }

    /// Reads the newest complete set's finish time from the target into `last_success`, so a
    /// watchdog that did not take it (or just started) reports it too.
    pub async fn refresh(&self) {
        let newest = Catalog {
            target: &self.target,
        }
        .pick(None)
        .await;
        if let Ok(m) = newest
            && let Ok(t) = OffsetDateTime::parse(&m.finished_at, &Rfc3339)
        {
            let t = t.unix_timestamp();
            if t > self.metrics.last_success.get() {
                self.metrics.last_success.set(t);
            }
        }
    }

    /// One scheduled attempt at slot `slot`: refreshes `last_success`, tries to take the set,
    /// logs the outcome, and counts a failure in `failures` (what the alert on failed backups
    /// reads). Returns whether it failed.
    pub async fn attempt(&self, slot: u64) -> bool {
        self.refresh().await;
        match self.run_slot(slot).await {
            Ok(Some(m)) => {
                tracing::info!(set = %m.set, streams = m.streams.len(), "backup: set complete");
                false
            }
            Ok(None) => {
                tracing::debug!(slot, "backup: another watchdog took this slot");
                false
            }
            Err(e) => {
                self.metrics.failures.inc();
                tracing::error!(slot, error = %crate::error_chain(&e), "backup: run failed (runbooks/backup-failed.md)");
                true
            }
        }
    }

    /// Runs forever: at the start of every slot, try to take its set. A failure is logged and
    /// counted; the next slot tries again.
    pub async fn run(self) {
        let every = self.backup.schedule;
        loop {
            let current = slot(OffsetDateTime::now_utc(), every);
            self.attempt(current).await;
            let next = (current + 1) * every.as_secs().max(1);
            let wait = next.saturating_sub(
                u64::try_from(OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(0),
            );
            tokio::time::sleep(Duration::from_secs(wait.max(1))).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_whole_intervals_so_every_watchdog_computes_the_same_one() {
        let six_hours = Duration::from_secs(6 * 3600);
        let a = OffsetDateTime::from_unix_timestamp(6 * 3600 * 10).unwrap();
        let b = OffsetDateTime::from_unix_timestamp(6 * 3600 * 11 - 1).unwrap();
        let c = OffsetDateTime::from_unix_timestamp(6 * 3600 * 11).unwrap();
        assert_eq!(slot(a, six_hours), 10);
        assert_eq!(slot(b, six_hours), 10);
        assert_eq!(slot(c, six_hours), 11);
    }
}
