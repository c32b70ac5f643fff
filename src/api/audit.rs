//! The audit log: every command (who, when, what, outcome) as one JSON line, in a file and in
//! the logs, and queued for publishing to NATS (`audit.natsdr.<command>`, see `audit_publish`).
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::mpsc;

use crate::telemetry::Metrics;

/// One audited command.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    /// RFC 3339 time.
    pub at: String,
    /// The token's name ("anonymous" before a token was checked).
    pub who: String,
    /// The client's address as the connection saw it (a proxy's, behind one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<std::net::SocketAddr>,
    /// The command (pause, failover...).
    pub command: String,
    /// The operator's reason.
    pub reason: String,
    /// Dry run or not.
    pub dry_run: bool,
    /// Break-glass requested.
    pub allow_data_loss: bool,
    /// accepted, refused, unauthorized, bad_request, too_large, unavailable.
    pub outcome: String,
    /// What natsdr answered.
    pub message: String,
}

/// Where audit records go. Writing never fails or delays the command: a broken audit file is
/// logged, and a full publishing queue drops the NATS copy (logged and counted).
#[derive(Clone, Default)]
pub struct AuditLog {
    file: Option<Arc<Mutex<std::fs::File>>>,
    publish: Option<(mpsc::Sender<AuditRecord>, Metrics)>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("file", &self.file.is_some())
            .field("publish", &self.publish.is_some())
            .finish()
    }
}

impl AuditLog {
    /// Appends to `path` when given (created if missing).
    pub fn open(path: Option<&PathBuf>) -> std::io::Result<Self> {
        let file = path
            .map(|p| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
            })
            .transpose()?
            .map(|f| Arc::new(Mutex::new(f)));
        Ok(Self {
            file,
            publish: None,
        })
    }

    /// Also queues every record on `tx` for an
    /// [`AuditPublisher`](super::audit_publish::AuditPublisher); a record that finds the queue
    /// full (or closed) is dropped from NATS only, counted as `dropped` in `metrics`.
    #[must_use]
    pub fn with_publisher(mut self, tx: mpsc::Sender<AuditRecord>, metrics: Metrics) -> Self {
        self.publish = Some((tx, metrics));
        self
    }

    /// Records one command.
    pub fn record(&self, rec: &AuditRecord) {
        tracing::info!(
            target: "natsdr::audit",
            who = %rec.who, command = %rec.command, reason = %rec.reason, dry_run = rec.dry_run,
            allow_data_loss = rec.allow_data_loss, outcome = %rec.outcome, message = %rec.message,
            "operator command"
        );
        if let Some(f) = &self.file {
            let line = serde_json::to_string(rec).expect("audit records serialize");
            let mut f = f.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Err(e) = writeln!(f, "{line}") {
                tracing::error!(error = %e, "cannot write the audit log");
            }
        }
        if let Some((tx, metrics)) = &self.publish {
            // NB: never wait on NATS from the API; a full queue only loses the NATS copy.
            if let Err(e) = tx.try_send(rec.clone()) {
                let why = match e {
                    mpsc::error::TrySendError::Full(_) => "the publishing queue is full",
                    mpsc::error::TrySendError::Closed(_) => "the publisher has stopped",
                };
                tracing::warn!(
                    command = %rec.command, who = %rec.who,
                    "audit record not published to NATS: {why} (the audit file and the log have it)"
                );
                metrics.audit_record("dropped");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(command: &str) -> AuditRecord {
        AuditRecord {
            at: "2026-11-22T13:00:00Z".into(),
            who: "ops".into(),
            source: None,
            command: command.into(),
            reason: "drill".into(),
            dry_run: false,
            allow_data_loss: false,
            outcome: "accepted".into(),
            message: "paused".into(),
        }
    }

    fn dropped(registry: &prometheus_client::registry::Registry) -> String {
        crate::telemetry::metrics::encode(registry)
            .lines()
            .find(|l| l.starts_with("natsdr_audit_records_total{result=\"dropped\"}"))
            .unwrap()
            .to_owned()
    }

    #[test]
    fn a_full_publishing_queue_drops_and_counts_the_nats_copy_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let (registry, metrics) = Metrics::new(&[], &[], &[]);
        let (tx, mut rx) = mpsc::channel(1);
        let log = AuditLog::open(Some(&path))
            .unwrap()
            .with_publisher(tx, metrics);
        log.record(&record("pause"));
        log.record(&record("resume"));
        assert_eq!(
            dropped(&registry),
            "natsdr_audit_records_total{result=\"dropped\"} 1"
        );
        assert_eq!(rx.try_recv().unwrap().command, "pause");
        let lines = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            lines.lines().count(),
            2,
            "the file keeps every record: {lines}"
        );
    }
}
