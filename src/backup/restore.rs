//! Restoring a set (or one stream of it) into a region or a scratch server through the
//! JetStream restore API: every object is verified against its manifest first, existing streams
//! are refused before anything is touched, and a failure part-way says what was restored.
use std::time::Duration;

use serde_json::Value;

use super::error::BackupError;
use super::manifest::{Manifest, StreamEntry};
use super::target::Target;
use super::verify::Verifier;
use crate::nats::{JsApi, StreamConfig, StreamInfo};
use crate::topology::{
    META_ORIGIN, META_ROLE, META_SUBJECTS, ROLE_FENCED, ROLE_PROMOTED, ROLE_SOURCE,
};

/// How long the server may take to unpack and start a restored stream after its last chunk.
const FINISH: Duration = Duration::from_secs(120);

/// Per restore call and chunk: the server writes each chunk to disk before it acks.
const CALL: Duration = Duration::from_secs(10);

/// Where and how a set is restored.
pub struct Restorer<'a> {
    /// The target holding the set.
    pub target: &'a Target,
    /// The JetStream API to restore into.
    pub js: &'a JsApi,
    /// Delete and restore streams that exist instead of refusing.
    pub replace: bool,
    /// Restore with this many replicas instead of the snapshot's (a one-node scratch server).
    pub replicas: Option<u8>,
}

/// The config a stream is restored with: writable on its configured subjects (a mirror's
/// `mirror` block goes and it is stamped as promoted from its source, as a failover would; a
/// fenced stream comes back unfenced), without placement (the target region's cluster has another
/// name), and with `replicas` when given.
pub fn restore_config(entry: &StreamEntry, replicas: Option<u8>) -> StreamConfig {
    let mut map = entry.config.clone().into_map();
    let was_mirror = map.remove("mirror").is_some();
    if !entry.subjects.is_empty() {
        map.insert("subjects".into(), Value::from(entry.subjects.clone()));
    }
    map.remove("placement");
    if let Some(Value::Object(meta)) = map.get_mut("metadata") {
        meta.remove(META_SUBJECTS);
    }
    if let Some(r) = replicas {
        map.insert("num_replicas".into(), Value::from(r));
    }
    let mut cfg = StreamConfig::from_map(map);
    if was_mirror {
        cfg.set_metadata(META_ORIGIN, entry.stream.clone());
    }
    if was_mirror || cfg.metadata(META_ROLE) == Some(ROLE_FENCED) {
        let role = if cfg.metadata(META_ORIGIN).is_some() {
            ROLE_PROMOTED
        } else {
            ROLE_SOURCE
        };
        cfg.set_metadata(META_ROLE, role);
    }
    cfg
}

impl Restorer<'_> {
    /// The entries `stream` selects (by configured or snapshotted name; None: all).
    pub fn select<'m>(
        manifest: &'m Manifest,
        stream: Option<&str>,
    ) -> Result<Vec<&'m StreamEntry>, BackupError> {
        let picked: Vec<&StreamEntry> = manifest
            .streams
            .iter()
            .filter(|e| stream.is_none_or(|s| e.stream == s || e.snapshot_stream == s))
            .collect();
        if picked.is_empty() {
            return Err(BackupError::StreamNotInSet {
                set: manifest.set.clone(),
                stream: stream.unwrap_or_default().to_owned(),
            });
        }
        Ok(picked)
    }

    /// Restores `entries` of `manifest`. Returns the restored streams' infos.
    pub async fn restore(
        &self,
        manifest: &Manifest,
        entries: &[&StreamEntry],
    ) -> Result<Vec<StreamInfo>, BackupError> {
        // 1. Every object intact, before the server is touched.
        let checks = Verifier {
            target: self.target,
        }
        .verify(manifest)
        .await?;
        for c in checks {
            let wanted = entries.iter().any(|e| manifest.key(&e.object) == c.object);
            if let (true, Some(problem)) = (wanted, c.problem) {
                return Err(problem);
            }
        }
        // 2. Nothing overwritten unless asked.
        let mut existing = Vec::new();
        for e in entries {
            let found = self
                .js
                .find_stream(&e.snapshot_stream)
                .await
                .map_err(|source| BackupError::Api {
                    stream: e.snapshot_stream.clone(),
                    source,
                })?;
            if found.is_some() {
                existing.push(e.snapshot_stream.clone());
            }
        }
        if !existing.is_empty() && !self.replace {
            return Err(BackupError::Exists { streams: existing });
        }
        // 3. One by one; a failure names what is done and what is not.
        let mut restored = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            match self
                .one(manifest, e, existing.contains(&e.snapshot_stream))
                .await
            {
                Ok(info) => {
                    tracing::info!(set = %manifest.set, stream = %e.snapshot_stream,
                        messages = info.state.messages, "restore: stream restored");
                    restored.push(info);
                }
                Err(source) => {
                    return Err(BackupError::Partial {
                        restored: restored
                            .iter()
                            .map(|i| i.config.name().to_owned())
                            .collect(),
                        failed: e.snapshot_stream.clone(),
                        not_restored: entries[i..]
                            .iter()
                            .map(|e| e.snapshot_stream.clone())
                            .collect(),
                        source: Box::new(source),
                    });
                }
            }
        }
        Ok(restored)
    }

    async fn one(
        &self,
        manifest: &Manifest,
        e: &StreamEntry,
        exists: bool,
    ) -> Result<StreamInfo, BackupError> {
        let api = |source| BackupError::Api {
            stream: e.snapshot_stream.clone(),
            source,
        };
        if exists {
            tracing::warn!(stream = %e.snapshot_stream, "restore: deleting the existing stream (--replace)");
            match self.js.stream_delete(&e.snapshot_stream).await {
                Ok(()) => {}
                Err(err) if err.is_stream_not_found() => {}
                Err(err) => return Err(api(err)),
            }
        }
        let mut reader = self.target.get(&manifest.key(&e.object)).await?;
        let js = self.js.with_timeout(CALL);
        js.stream_restore(
            &restore_config(e, self.replicas),
            &e.state,
            &mut reader,
            FINISH,
        )
        .await
        .map_err(|source| BackupError::Transfer {
            stream: e.snapshot_stream.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A stream entry of `events-us` whose snapshot came from its EU mirror.
    pub(super) fn entry(config: Value) -> StreamEntry {
        StreamEntry {
            stream: "events-us".into(),
            region: "us-east-1".into(),
            snapshot_stream: "events-eu-mirror".into(),
            snapshot_region: "eu-central-1".into(),
            subjects: vec!["events.*".into()],
            object: "events-eu-mirror.tar.s2".into(),
            bytes: 1,
            sha256: String::new(),
            config: serde_json::from_value(config).unwrap(),
            state: json!({}),
            messages: 0,
            stream_bytes: 0,
            first_seq: 0,
            last_seq: 0,
            consumers: vec![],
            samples: vec![],
        }
    }

    #[test]
    fn a_mirror_is_restored_writable_on_its_sources_subjects_without_placement() {
        let e = entry(json!({
            "name": "events-eu-mirror", "num_replicas": 3,
            "mirror": {"name": "events-us", "external": {"api": "$JS.US.API"}},
            "placement": {"cluster": "EU"}
        }));
        let cfg = restore_config(&e, Some(1));
        assert_eq!(cfg.name(), "events-eu-mirror");
        assert!(cfg.mirror().is_none());
        assert_eq!(cfg.subjects(), vec!["events.*".to_owned()]);
        assert!(cfg.get("placement").is_none());
        assert_eq!(cfg.get("num_replicas"), Some(&json!(1)));
        assert_eq!(cfg.metadata(META_ROLE), Some(ROLE_PROMOTED));
        assert_eq!(cfg.metadata(META_ORIGIN), Some("events-us"));
    }

    #[test]
    fn a_stream_keeps_its_subjects_and_replicas_and_gets_no_role() {
        let mut e =
            entry(json!({"name": "notifications-us", "subjects": ["push.*"], "num_replicas": 3}));
        e.subjects = vec!["push.*".into()];
        let cfg = restore_config(&e, None);
        assert_eq!(cfg.subjects(), vec!["push.*".to_owned()]);
        assert_eq!(cfg.metadata(META_ROLE), None);
        assert_eq!(cfg.get("num_replicas"), Some(&json!(3)));
    }
}

#[cfg(test)]
mod fenced_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_fenced_stream_comes_back_on_its_configured_subjects_as_a_source() {
        let mut e = super::tests::entry(json!({
            "name": "events-us", "subjects": ["fenced.events.*"],
            "metadata": {"natsdr.role": "fenced", "natsdr.subjects": "[\"events.*\"]"}
        }));
        e.snapshot_stream = "events-us".into();
        e.snapshot_region = "us-east-1".into();
        e.object = "events-us.tar.s2".into();
        let cfg = restore_config(&e, None);
        assert_eq!(cfg.subjects(), vec!["events.*".to_owned()]);
        assert_eq!(cfg.metadata(META_ROLE), Some(ROLE_SOURCE));
        assert_eq!(cfg.metadata(META_SUBJECTS), None);
    }
}
