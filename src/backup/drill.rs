//! A restore drill: the latest (or a named) set restored into a scratch server, then compared
//! with its manifest (counts, first and last sequences, sampled message hashes, consumers).
//! Pass or fail, like a rehearsal an operator would otherwise do by hand each quarter.
use super::error::BackupError;
use super::manifest::Manifest;
use super::restore::Restorer;
use super::take::message_hash;
use super::target::Target;
use crate::nats::JsApi;

/// One stream's drill result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrillCheck {
    /// The restored stream.
    pub stream: String,
    /// Every difference from the manifest; empty = passed.
    pub problems: Vec<String>,
    /// Sampled messages compared.
    pub samples: usize,
}

/// A drill against one scratch server.
pub struct Drill<'a> {
    /// The target holding the set.
    pub target: &'a Target,
    /// The scratch server's JetStream API.
    pub js: &'a JsApi,
    /// Leave the restored streams on the scratch server afterwards.
    pub keep: bool,
    /// Replace streams already on the scratch server (a previous drill's).
    pub replace: bool,
}

impl Drill<'_> {
    /// Restores every stream of `manifest` (one replica each) and compares. Err only when the
    /// drill could not run; a restored stream that differs is a failed check.
    pub async fn run(&self, manifest: &Manifest) -> Result<Vec<DrillCheck>, BackupError> {
        let entries = Restorer::select(manifest, None)?;
        let restorer = Restorer {
            target: self.target,
            js: self.js,
            replace: self.replace,
            replicas: Some(1),
        };
        let restored = restorer.restore(manifest, &entries).await?;
        let mut out = Vec::new();
        for (e, info) in entries.iter().zip(&restored) {
            let name = &e.snapshot_stream;
            let mut problems = Vec::new();
            let s = &info.state;
            for (what, want, got) in [
                ("messages", e.messages, s.messages),
                ("first sequence", e.first_seq, s.first_seq),
                ("last sequence", e.last_seq, s.last_seq),
            ] {
                if want != got {
                    problems.push(format!("{what}: manifest {want}, restored {got}"));
                }
            }
            for sample in &e.samples {
                let api = |source| BackupError::Api {
                    stream: name.clone(),
                    source,
                };
                match self
                    .js
                    .stream_msg_get(name, sample.seq)
                    .await
                    .map_err(api)?
                {
                    Some(m) if message_hash(&m) == sample.sha256 => {}
                    Some(_) => problems.push(format!("message {} differs", sample.seq)),
                    None => problems.push(format!("message {} missing", sample.seq)),
                }
            }
            let names = self
                .js
                .consumer_names(name)
                .await
                .map_err(|source| BackupError::Api {
                    stream: name.clone(),
                    source,
                })?;
            for c in &e.consumers {
                if !names.contains(&c.name) {
                    problems.push(format!(
                        "consumer {} missing{}",
                        c.name,
                        if c.at_risk {
                            " (it has fewer replicas than its stream: snapshots may leave such consumers out)"
                        } else {
                            ""
                        }
                    ));
                }
            }
            out.push(DrillCheck {
                stream: name.clone(),
                problems,
                samples: e.samples.len(),
            });
        }
        if !self.keep {
            for e in &entries {
                if let Err(err) = self.js.stream_delete(&e.snapshot_stream).await {
                    tracing::warn!(stream = %e.snapshot_stream, error = %crate::error_chain(&err),
                        "drill: cannot delete the restored stream from the scratch server");
                }
            }
        }
        Ok(out)
    }
}
