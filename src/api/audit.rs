//! The audit log: every command (who, when, what, outcome) as one JSON line, in a file and in
//! the logs, and queued for publishing to NATS (`audit.natsdr.<command>`, see `audit_publish`).
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc;

use crate::config::AuditRotation;
use crate::telemetry::Metrics;

/// One audited command.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    /// RFC 3339 time.
    pub at: String,
    /// The token's name ("anonymous" when no valid token was presented).
    pub who: String,
    /// The presented token's role (`admin`, `read`); absent when no valid token was presented.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
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
    /// Attempts without a valid token that were counted but not recorded (over the sampling
    /// rate) since the previous record of one; on records of such attempts only.
    #[serde(skip_serializing_if = "is_zero")]
    pub suppressed: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Records of attempts without a valid token (scans, guessed tokens) kept per window; the rest
/// are counted (`natsdr_commands_total{result="unauthorized"}`) and summed up in the next record
/// kept, so spam cannot fill the file, the log or the NATS queue.
const UNAUTHENTICATED_PER_WINDOW: u32 = 10;
/// The sampling window for [`UNAUTHENTICATED_PER_WINDOW`].
const SAMPLING_WINDOW: Duration = Duration::from_secs(60);
/// Places in the NATS publishing queue that attempts without a valid token never take: a real
/// command's copy always finds room (and waits for it when even those are taken).
const RESERVED_FOR_COMMANDS: usize = 16;

/// Which unauthenticated attempts are recorded: the first few of each window.
#[derive(Debug)]
struct Sampler {
    window_start: Option<Instant>,
    kept: u32,
    suppressed: u64,
}

impl Sampler {
    /// `Some(n)`: record this attempt, noting `n` suppressed since the last one recorded;
    /// `None`: count it only.
    fn admit(&mut self, now: Instant) -> Option<u64> {
        let fresh = self
            .window_start
            .is_none_or(|start| now.duration_since(start) >= SAMPLING_WINDOW);
        if fresh {
            self.window_start = Some(now);
            self.kept = 0;
        }
        if self.kept < UNAUTHENTICATED_PER_WINDOW {
            self.kept += 1;
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}

/// Where audit records go. Writing never fails or delays the command: a broken audit file is
/// logged; a real command's NATS copy waits for room in the publishing queue, off the request;
/// attempts without a valid token are sampled, and their NATS copies dropped (counted) before
/// they could take the room kept for commands.
#[derive(Clone)]
pub struct AuditLog {
    file: Option<Arc<Mutex<AuditFile>>>,
    publish: Option<(mpsc::Sender<AuditRecord>, Metrics)>,
    sampler: Arc<Mutex<Sampler>>,
}

impl Default for AuditLog {
    fn default() -> Self {
        Self {
            file: None,
            publish: None,
            sampler: Arc::new(Mutex::new(Sampler {
                window_start: None,
                kept: 0,
                suppressed: 0,
            })),
        }
    }
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("file", &self.file.is_some())
            .field("publish", &self.publish.is_some())
            .finish()
    }
}

/// The audit file, its size so far, and when to rotate it.
#[derive(Debug)]
struct AuditFile {
    path: PathBuf,
    file: std::fs::File,
    size: u64,
    rotation: Option<AuditRotation>,
}

fn append(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

impl AuditFile {
    /// Appends one line, rotating first when it would take the file past its size.
    fn write_line(&mut self, line: &str) -> std::io::Result<()> {
        let len = line.len() as u64 + 1;
        if let Some(r) = self.rotation
            && self.size > 0
            && self.size + len > r.max_bytes
        {
            self.rotate(r.keep)?;
        }
        writeln!(self.file, "{line}")?;
        self.size += len;
        Ok(())
    }

    /// `<file>.<keep-1>` -> `<file>.<keep>` ... `<file>` -> `<file>.1`, then a new `<file>`.
    fn rotate(&mut self, keep: usize) -> std::io::Result<()> {
        let numbered = |n: usize| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{n}"));
            PathBuf::from(p)
        };
        for n in (1..keep).rev() {
            let from = numbered(n);
            if from.exists() {
                std::fs::rename(&from, numbered(n + 1))?;
            }
        }
        std::fs::rename(&self.path, numbered(1))?;
        self.file = append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

impl AuditLog {
    /// Appends to `path` when given (created if missing), never rotating it.
    pub fn open(path: Option<&PathBuf>) -> std::io::Result<Self> {
        let file = match path {
            None => None,
            Some(p) => {
                let file = append(p)?;
                let size = file.metadata()?.len();
                Some(Arc::new(Mutex::new(AuditFile {
                    path: p.clone(),
                    file,
                    size,
                    rotation: None,
                })))
            }
        };
        Ok(Self {
            file,
            ..Self::default()
        })
    }

    /// Rotates the file as `rotation` says (see [`AuditRotation`]).
    #[must_use]
    pub fn with_rotation(self, rotation: AuditRotation) -> Self {
        if let Some(f) = &self.file {
            f.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .rotation = Some(rotation);
        }
        self
    }

    /// Also queues every record on `tx` for an
    /// [`AuditPublisher`](super::audit_publish::AuditPublisher); a record that finds the queue
    /// full (or closed) is dropped from NATS only, counted as `dropped` in `metrics`.
    #[must_use]
    pub fn with_publisher(mut self, tx: mpsc::Sender<AuditRecord>, metrics: Metrics) -> Self {
        self.publish = Some((tx, metrics));
        self
    }

    /// Records one command, or one attempt at one.
    pub fn record(&self, rec: &AuditRecord) {
        let authenticated = rec.role.is_some();
        let mut rec = rec.clone();
        if !authenticated {
            let admitted = self
                .sampler
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .admit(Instant::now());
            match admitted {
                Some(suppressed) => rec.suppressed = suppressed,
                None => return,
            }
        }
        let rec = &rec;
        tracing::info!(
            target: "natsdr::audit",
            who = %rec.who, role = rec.role.as_deref().unwrap_or("-"), source = ?rec.source,
            suppressed = rec.suppressed, command = %rec.command, reason = %rec.reason, dry_run = rec.dry_run,
            allow_data_loss = rec.allow_data_loss, outcome = %rec.outcome, answer = %rec.message,
            "operator command"
        );
        if let Some(f) = &self.file {
            let line = serde_json::to_string(rec).expect("audit records serialize");
            let mut f = f.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Err(e) = f.write_line(&line) {
                tracing::error!(error = %e, "cannot write the audit log");
            }
        }
        if let Some((tx, metrics)) = &self.publish {
            // NB: never wait on NATS from the API. An attempt without a valid token leaves the
            // last places to commands; a command that finds the queue full waits off the request.
            let sent = if !authenticated && tx.capacity() <= RESERVED_FOR_COMMANDS {
                Err(mpsc::error::TrySendError::Full(rec.clone()))
            } else {
                tx.try_send(rec.clone())
            };
            let sent = match sent {
                Err(mpsc::error::TrySendError::Full(r)) if authenticated => {
                    match tokio::runtime::Handle::try_current() {
                        Ok(rt) => {
                            let tx = tx.clone();
                            rt.spawn(async move {
                                let _ = tx.send(r).await;
                            });
                            Ok(())
                        }
                        Err(_) => Err(mpsc::error::TrySendError::Full(r)),
                    }
                }
                other => other,
            };
            if let Err(e) = sent {
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
            role: Some("admin".into()),
            source: None,
            command: command.into(),
            reason: "drill".into(),
            dry_run: false,
            allow_data_loss: false,
            outcome: "accepted".into(),
            message: "paused".into(),
            suppressed: 0,
        }
    }

    fn attempt() -> AuditRecord {
        AuditRecord {
            who: "anonymous".into(),
            role: None,
            source: Some("192.0.2.7:40000".parse().unwrap()),
            outcome: "unauthorized".into(),
            message: "invalid token".into(),
            ..record("failover")
        }
    }

    fn dropped(registry: &prometheus_client::registry::Registry) -> String {
        crate::telemetry::metrics::encode(registry)
            .lines()
            .find(|l| l.starts_with("natsdr_audit_records_total{result=\"dropped\"}"))
            .unwrap()
            .to_owned()
    }

    fn file_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn a_commands_nats_copy_waits_for_room_and_is_never_dropped() {
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
            "natsdr_audit_records_total{result=\"dropped\"} 0"
        );
        assert_eq!(rx.recv().await.unwrap().command, "pause");
        assert_eq!(rx.recv().await.unwrap().command, "resume");
        assert_eq!(file_lines(&path).len(), 2, "the file keeps every record");
    }

    #[test]
    fn attempts_without_a_token_never_take_the_places_kept_for_commands() {
        let (registry, metrics) = Metrics::new(&[], &[], &[]);
        let (tx, mut rx) = mpsc::channel(RESERVED_FOR_COMMANDS + 2);
        let log = AuditLog::default().with_publisher(tx, metrics);
        for _ in 0..5 {
            log.record(&attempt());
        }
        // Two went to NATS; the other three would have eaten into the reserve.
        assert_eq!(
            dropped(&registry),
            "natsdr_audit_records_total{result=\"dropped\"} 3"
        );
        for _ in 0..RESERVED_FOR_COMMANDS {
            log.record(&record("ack"));
        }
        assert_eq!(
            dropped(&registry),
            "natsdr_audit_records_total{result=\"dropped\"} 3",
            "every command found a place"
        );
        let mut got = Vec::new();
        while let Ok(r) = rx.try_recv() {
            got.push(r.command);
        }
        assert_eq!(got.len(), 2 + RESERVED_FOR_COMMANDS);
    }

    #[test]
    fn a_flood_of_attempts_is_sampled_and_the_next_record_kept_says_how_many_were_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(Some(&path)).unwrap();
        for _ in 0..1_000 {
            log.record(&attempt());
        }
        log.record(&record("pause"));
        let lines = file_lines(&path);
        assert_eq!(lines.len(), UNAUTHENTICATED_PER_WINDOW as usize + 1);
        assert_eq!(lines[0]["source"], "192.0.2.7:40000");
        assert_eq!(lines[0]["outcome"], "unauthorized");
        assert!(lines[0].get("role").is_none());
        assert!(lines[0].get("suppressed").is_none());
        assert_eq!(lines.last().unwrap()["role"], "admin");
        // The window moves on: the first attempt of the next one carries the count.
        let mut sampler = log.sampler.lock().unwrap();
        let later = Instant::now() + SAMPLING_WINDOW;
        assert_eq!(
            sampler.admit(later),
            Some(1_000 - u64::from(UNAUTHENTICATED_PER_WINDOW))
        );
        assert_eq!(sampler.admit(later), Some(0));
    }

    #[test]
    fn the_file_rotates_past_its_size_and_keeps_the_newest_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let one = serde_json::to_string(&record("pause")).unwrap().len() as u64 + 1;
        let log = AuditLog::open(Some(&path))
            .unwrap()
            .with_rotation(AuditRotation {
                max_bytes: 3 * one,
                keep: 2,
            });
        // 10 records of the same size, 3 per file: files of 3, 3, 3 and 1 record; the oldest
        // full file is deleted, two are kept.
        for i in 0..10 {
            log.record(&AuditRecord {
                reason: format!("r{i}"),
                ..record("pause")
            });
        }
        let reasons = |p: &std::path::Path| -> Vec<String> {
            file_lines(p)
                .iter()
                .map(|v| v["reason"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(reasons(&path), ["r9"]);
        assert_eq!(
            reasons(&dir.path().join("audit.jsonl.1")),
            ["r6", "r7", "r8"]
        );
        assert_eq!(
            reasons(&dir.path().join("audit.jsonl.2")),
            ["r3", "r4", "r5"]
        );
        assert!(!dir.path().join("audit.jsonl.3").exists());
    }
}
