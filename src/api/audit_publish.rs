//! Publishing audit records to NATS: `audit.natsdr.<command>` in the active region, stored
//! (publish-acked) when a stream captures the subject. Runs off the command's path.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::audit::AuditRecord;
use super::model::Status;
use crate::model::Region;
use crate::telemetry::Metrics;

/// Subject prefix: a `pause` is published on `audit.natsdr.pause`. A stream with the subject
/// `audit.natsdr.>` in each region keeps every command, whichever region was active.
pub const SUBJECT_PREFIX: &str = "audit.natsdr";

/// The subject a record of `command` is published on.
pub fn subject(command: &str) -> String {
    format!("{SUBJECT_PREFIX}.{command}")
}

/// Where a record ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// A stream captured it and acknowledged it (JetStream publish-ack).
    Stored,
    /// Published, but no stream captures the subject (NATS answered "no responders"): only
    /// live subscribers saw it.
    Unstored,
}

/// Why a record could not be published to a region.
#[derive(Debug, thiserror::Error)]
pub enum AuditPublishError {
    /// The record could not be encoded as JSON.
    #[error("cannot encode the audit record")]
    Encode(#[source] serde_json::Error),
    /// natsdr has no connection to that region (not a configured region).
    #[error("no connection to {0}")]
    NoClient(Region),
    /// The publish got no answer in time, or the connection failed.
    #[error("publishing to {region} failed")]
    Request {
        /// The region tried.
        region: Region,
        /// What NATS said.
        #[source]
        source: async_nats::RequestError,
    },
    /// Neither the stream's acknowledgement nor "no responders" came back in time.
    #[error("publishing to {region}: no answer within {after:?}")]
    Timeout {
        /// The region tried.
        region: Region,
        /// The bound it ran into.
        after: Duration,
    },
    /// A stream captured the subject but refused the record (e.g. it is full with
    /// `discard: new`, or it is sealed).
    #[error("the audit stream in {region} refused the record: {reply}")]
    Refused {
        /// The region tried.
        region: Region,
        /// The JetStream API's answer.
        reply: String,
    },
}

/// Publishes queued audit records, one at a time, in order. Each record goes to the region the
/// arbiter names active (per the latest status), and to the local region when the active one is
/// unknown or cannot be reached; a record that reaches neither is counted as failed and logged
/// (the audit file and the log still have it).
pub struct AuditPublisher {
    /// The application account's connection to each region.
    pub clients: BTreeMap<Region, async_nats::Client>,
    /// This watchdog's own region: the fallback.
    pub local: Region,
    /// The driver's status snapshots, for the active region.
    pub status: watch::Receiver<Arc<Status>>,
    /// Bound on one publish (the wait for the acknowledgement included).
    pub timeout: Duration,
    /// Where outcomes are counted (`natsdr_audit_records_total`).
    pub metrics: Metrics,
}

impl AuditPublisher {
    /// Publishes every record `rx` delivers until all senders are gone.
    pub async fn run(self, mut rx: mpsc::Receiver<AuditRecord>) {
        while let Some(rec) = rx.recv().await {
            match self.publish(&rec).await {
                Ok((region, how)) => {
                    tracing::debug!(%region, ?how, command = %rec.command, "audit record published");
                    self.metrics.audit_record(match how {
                        Published::Stored => "stored",
                        Published::Unstored => "published",
                    });
                }
                Err(e) => {
                    tracing::warn!(
                        command = %rec.command, who = %rec.who, error = %crate::error_chain(&e),
                        "audit record not published to NATS (the audit file and the log have it)"
                    );
                    self.metrics.audit_record("failed");
                }
            }
        }
    }

    /// The regions to try, in order: the active one, then the local one.
    fn targets(&self) -> Vec<Region> {
        let active = self.status.borrow().active_region.clone();
        let mut out: Vec<Region> = active.into_iter().collect();
        if !out.contains(&self.local) {
            out.push(self.local.clone());
        }
        out
    }

    /// Publishes one record; returns the region that took it and how. The last region's error
    /// is returned when none took it.
    pub async fn publish(
        &self,
        rec: &AuditRecord,
    ) -> Result<(Region, Published), AuditPublishError> {
        let payload: bytes::Bytes = serde_json::to_vec(rec)
            .map_err(AuditPublishError::Encode)?
            .into();
        let mut last = None;
        for region in self.targets() {
            match self
                .publish_to(&region, &rec.command, payload.clone())
                .await
            {
                Ok(how) => return Ok((region, how)),
                Err(e) => {
                    tracing::debug!(%region, error = %crate::error_chain(&e), "audit publish failed; trying the next region");
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| AuditPublishError::NoClient(self.local.clone())))
    }

    async fn publish_to(
        &self,
        region: &Region,
        command: &str,
        payload: bytes::Bytes,
    ) -> Result<Published, AuditPublishError> {
        let client = self
            .clients
            .get(region)
            .ok_or_else(|| AuditPublishError::NoClient(region.clone()))?;
        // NB: a request is a JetStream publish: a capturing stream answers with its ack, and with
        // no stream the server answers "no responders" at once: the message was still published.
        let answer = tokio::time::timeout(self.timeout, client.request(subject(command), payload));
        let reply = match answer.await {
            Err(_) => {
                return Err(AuditPublishError::Timeout {
                    region: region.clone(),
                    after: self.timeout,
                });
            }
            Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::NoResponders => {
                return Ok(Published::Unstored);
            }
            Ok(Err(source)) => {
                return Err(AuditPublishError::Request {
                    region: region.clone(),
                    source,
                });
            }
            Ok(Ok(reply)) => reply,
        };
        let ack: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap_or_default();
        if ack.get("stream").is_some() && ack.get("error").is_none() {
            Ok(Published::Stored)
        } else {
            Err(AuditPublishError::Refused {
                region: region.clone(),
                reply: String::from_utf8_lossy(&reply.payload)
                    .chars()
                    .take(300)
                    .collect(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publisher(active: Option<&str>, local: &str) -> AuditPublisher {
        let status = Status {
            active_region: active.map(|r| Region::new(r).unwrap()),
            ..Status::default()
        };
        let (_tx, rx) = watch::channel(Arc::new(status));
        AuditPublisher {
            clients: BTreeMap::new(),
            local: Region::new(local).unwrap(),
            status: rx,
            timeout: Duration::from_secs(1),
            metrics: Metrics::new(&[], &[], &[]).1,
        }
    }

    #[test]
    fn records_go_to_the_active_region_first_then_to_the_local_one() {
        let names = |p: &AuditPublisher| -> Vec<String> {
            p.targets().iter().map(ToString::to_string).collect()
        };
        assert_eq!(
            names(&publisher(Some("us-east-1"), "eu-central-1")),
            ["us-east-1", "eu-central-1"]
        );
        assert_eq!(
            names(&publisher(Some("eu-central-1"), "eu-central-1")),
            ["eu-central-1"]
        );
        assert_eq!(names(&publisher(None, "eu-central-1")), ["eu-central-1"]);
    }

    #[test]
    fn each_command_has_its_own_subject_under_audit_natsdr() {
        assert_eq!(subject("failover"), "audit.natsdr.failover");
    }
}
