//! The audit log: every command (who, when, what, outcome) as one JSON line, in a file and in
//! the logs; the driver may also publish each record to NATS (`audit.natsdr.<command>`).
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::mpsc;

/// One audited command.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    /// RFC 3339 time.
    pub at: String,
    /// The token's name.
    pub who: String,
    /// The command (pause, failover...).
    pub command: String,
    /// The operator's reason.
    pub reason: String,
    /// Dry run or not.
    pub dry_run: bool,
    /// Break-glass requested.
    pub allow_data_loss: bool,
    /// accepted, refused, unauthorized, bad_request.
    pub outcome: String,
    /// What natsdr answered.
    pub message: String,
}

/// Where audit records go. Writing never fails the command: a broken audit file is logged.
#[derive(Debug, Clone, Default)]
pub struct AuditLog {
    file: Option<Arc<Mutex<std::fs::File>>>,
    publish: Option<mpsc::Sender<AuditRecord>>,
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

    /// Also hands every record to `tx` (the driver publishes them to the audit stream).
    #[must_use]
    pub fn with_publisher(mut self, tx: mpsc::Sender<AuditRecord>) -> Self {
        self.publish = Some(tx);
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
        if let Some(tx) = &self.publish {
            // NB: never wait on NATS from the API; a full queue only loses the NATS copy.
            let _ = tx.try_send(rec.clone());
        }
    }
}
