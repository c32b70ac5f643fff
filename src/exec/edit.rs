//! The config edits behind fence, unfence and promote: pure functions from a stream config read
//! from the server to the config to write back (or "nothing to do"), epoch guard included.
use serde_json::{Value, json};

use crate::model::Epoch;
use crate::nats::StreamConfig;
use crate::topology::{FENCE_PREFIX, META_EPOCH, META_ROLE, ROLE_FENCED, ROLE_PROMOTED};

pub use crate::topology::{META_ORIGIN, META_SUBJECTS, ROLE_SOURCE};

/// What to do with one stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// The stream already is as asked (at this epoch or a newer one's compatible state).
    Unchanged,
    /// Write this full config back with STREAM.UPDATE.
    Update(StreamConfig),
}

/// Why an edit is refused. None of these goes away by retrying.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The stream carries a newer epoch: a later failover owns it, and this action is stale.
    #[error("stamped with epoch {stamp}, newer than {epoch}: a later failover owns it")]
    NewerEpoch {
        /// The stream's `natsdr.epoch`.
        stamp: Epoch,
        /// The epoch this action carries.
        epoch: Epoch,
    },
    /// Promotion asked for a stream that is neither a mirror nor already promoted.
    #[error("not a mirror (role {role:?}): only a mirror can be promoted")]
    NotAMirror {
        /// Its `natsdr.role`, if any.
        role: Option<String>,
    },
}

/// The `natsdr.epoch` stamp, if present and a number.
pub fn stamp(cfg: &StreamConfig) -> Option<Epoch> {
    cfg.metadata(META_EPOCH)?.parse().ok().map(Epoch)
}

/// Whether the stream's subjects are parked (by natsdr's metadata, or by the prefix alone: a
/// fence by hand, or one whose metadata write was lost, is still a fence).
pub fn is_fenced(cfg: &StreamConfig) -> bool {
    if cfg.metadata(META_ROLE) == Some(ROLE_FENCED) {
        return true;
    }
    let subjects = cfg.subjects();
    !subjects.is_empty() && subjects.iter().all(|s| s.starts_with(FENCE_PREFIX))
}

fn guard(cfg: &StreamConfig, epoch: Epoch) -> Result<(), Refusal> {
    match stamp(cfg) {
        Some(stamp) if stamp > epoch => Err(Refusal::NewerEpoch { stamp, epoch }),
        _ => Ok(()),
    }
}

fn remove_metadata(cfg: StreamConfig, key: &str) -> StreamConfig {
    let mut map = cfg.into_map();
    if let Some(Value::Object(meta)) = map.get_mut("metadata") {
        meta.remove(key);
    }
    StreamConfig::from_map(map)
}

/// Fences a stream at `epoch`: every subject `s` becomes `fenced.s`, the original list is saved
/// in [`META_SUBJECTS`], and the role and epoch are stamped. Already fenced: only an older stamp
/// is raised. A stream without subjects (a mirror, or a sourcing stream) takes no publishes, so
/// there is nothing to fence. NB: `natsdr.origin` is left alone so a fenced promoted stream
/// still says where it came from, and unfence can make it `promoted` again.
pub fn fence(cfg: &StreamConfig, epoch: Epoch) -> Result<Edit, Refusal> {
    guard(cfg, epoch)?;
    if is_fenced(cfg) {
        if stamp(cfg) == Some(epoch) {
            return Ok(Edit::Unchanged);
        }
        let mut next = cfg.clone();
        next.set_metadata(META_EPOCH, epoch.to_string());
        next.set_metadata(META_ROLE, ROLE_FENCED);
        return Ok(Edit::Update(next));
    }
    let subjects = cfg.subjects();
    if subjects.is_empty() {
        return Ok(Edit::Unchanged);
    }
    let parked: Vec<String> = subjects
        .iter()
        .map(|s| format!("{FENCE_PREFIX}{s}"))
        .collect();
    let mut next = cfg.clone();
    next.set("subjects", json!(parked));
    next.set_metadata(META_SUBJECTS, json!(subjects).to_string());
    next.set_metadata(META_ROLE, ROLE_FENCED);
    next.set_metadata(META_EPOCH, epoch.to_string());
    Ok(Edit::Update(next))
}

/// Undoes [`fence`] at `epoch`: the saved subjects come back (or, without a saved list, the
/// parked ones lose their prefix), the role returns to `promoted` (when `natsdr.origin` says the
/// stream was a promoted mirror) or `source`. A stream that is not fenced is left alone.
pub fn unfence(cfg: &StreamConfig, epoch: Epoch) -> Result<Edit, Refusal> {
    guard(cfg, epoch)?;
    if !is_fenced(cfg) {
        return Ok(Edit::Unchanged);
    }
    let saved: Option<Vec<String>> = cfg
        .metadata(META_SUBJECTS)
        .and_then(|s| serde_json::from_str(s).ok())
        .filter(|s: &Vec<String>| !s.is_empty());
    let subjects = saved.unwrap_or_else(|| {
        cfg.subjects()
            .iter()
            .map(|s| s.strip_prefix(FENCE_PREFIX).unwrap_or(s).to_owned())
            .collect()
    });
    let role = if cfg.metadata(META_ORIGIN).is_some() {
        ROLE_PROMOTED
    } else {
        ROLE_SOURCE
    };
    let mut next = remove_metadata(cfg.clone(), META_SUBJECTS);
    next.set("subjects", json!(subjects));
    next.set_metadata(META_ROLE, role);
    next.set_metadata(META_EPOCH, epoch.to_string());
    Ok(Edit::Update(next))
}

/// What a promoted mirror takes over from its source (from the config, not the source stream:
/// the source region is usually gone when this runs).
#[derive(Debug, Clone, PartialEq)]
pub struct Takeover {
    /// The source stream's name, stamped as `natsdr.origin`.
    pub origin: String,
    /// The source's subjects (`$KV.<bucket>.>` for a KV bucket).
    pub subjects: Vec<String>,
    /// The source's `duplicate_window` (nanoseconds, as the server spells it), if configured.
    pub duplicate_window: Option<Value>,
}

/// Promotes a mirror at `epoch`: the `mirror` block goes, the source's subjects and duplicate
/// window come in, and role, epoch and origin are stamped. Already promoted: only an older stamp
/// is raised. Anything else that is not a mirror (a plain or a fenced stream) is refused.
pub fn promote(cfg: &StreamConfig, epoch: Epoch, takeover: &Takeover) -> Result<Edit, Refusal> {
    guard(cfg, epoch)?;
    let role = cfg.metadata(META_ROLE);
    if cfg.mirror().is_none() {
        if role != Some(ROLE_PROMOTED) {
            return Err(Refusal::NotAMirror {
                role: role.map(str::to_owned),
            });
        }
        if stamp(cfg) == Some(epoch) {
            return Ok(Edit::Unchanged);
        }
        let mut next = cfg.clone();
        next.set_metadata(META_EPOCH, epoch.to_string());
        return Ok(Edit::Update(next));
    }
    let mut map = cfg.clone().into_map();
    map.remove("mirror");
    let mut next = StreamConfig::from_map(map);
    next.set("subjects", json!(takeover.subjects));
    if let Some(window) = &takeover.duplicate_window {
        next.set("duplicate_window", window.clone());
    }
    next.set_metadata(META_ROLE, ROLE_PROMOTED);
    next.set_metadata(META_EPOCH, epoch.to_string());
    next.set_metadata(META_ORIGIN, takeover.origin.clone());
    Ok(Edit::Update(next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(v: Value) -> StreamConfig {
        StreamConfig::from_map(v.as_object().expect("an object").clone())
    }

    fn updated(edit: Result<Edit, Refusal>) -> StreamConfig {
        match edit {
            Ok(Edit::Update(c)) => c,
            other => panic!("expected an update, got {other:?}"),
        }
    }

    fn source() -> StreamConfig {
        config(json!({
            "name": "events-us", "subjects": ["events.*", "buddy.*"], "max_age": 7,
            "metadata": {"_nats.level": "1"}
        }))
    }

    fn mirror() -> StreamConfig {
        config(json!({
            "name": "events-eu-mirror", "max_age": 7,
            "mirror": {"name": "events-us", "external": {"api": "$JS.us-east-1.API"}},
            "metadata": {"_nats.level": "1"}
        }))
    }

    fn takeover() -> Takeover {
        Takeover {
            origin: "events-us".into(),
            subjects: vec!["events.*".into(), "buddy.*".into()],
            duplicate_window: Some(json!(120_000_000_000u64)),
        }
    }

    #[test]
    fn a_fence_parks_every_subject_and_saves_the_originals_keeping_other_fields() {
        let fenced = updated(fence(&source(), Epoch(3)));
        assert_eq!(fenced.subjects(), vec!["fenced.events.*", "fenced.buddy.*"]);
        assert_eq!(fenced.metadata(META_ROLE), Some(ROLE_FENCED));
        assert_eq!(fenced.metadata(META_EPOCH), Some("3"));
        assert_eq!(
            fenced.metadata(META_SUBJECTS),
            Some(r#"["events.*","buddy.*"]"#)
        );
        assert_eq!(fenced.metadata("_nats.level"), Some("1"));
        assert_eq!(fenced.get("max_age"), Some(&json!(7)));
        assert!(is_fenced(&fenced));
    }

    #[test]
    fn fencing_twice_at_the_same_epoch_changes_nothing_and_a_newer_epoch_only_restamps() {
        let fenced = updated(fence(&source(), Epoch(3)));
        assert_eq!(fence(&fenced, Epoch(3)), Ok(Edit::Unchanged));
        let restamped = updated(fence(&fenced, Epoch(4)));
        assert_eq!(restamped.subjects(), fenced.subjects());
        assert_eq!(restamped.metadata(META_EPOCH), Some("4"));
        assert_eq!(
            restamped.metadata(META_SUBJECTS),
            fenced.metadata(META_SUBJECTS)
        );
    }

    #[test]
    fn every_edit_refuses_a_stream_stamped_with_a_newer_epoch() {
        let fenced = updated(fence(&source(), Epoch(5)));
        let newer = Err(Refusal::NewerEpoch {
            stamp: Epoch(5),
            epoch: Epoch(4),
        });
        assert_eq!(fence(&fenced, Epoch(4)), newer);
        assert_eq!(unfence(&fenced, Epoch(4)), newer);
        let promoted = updated(promote(&mirror(), Epoch(5), &takeover()));
        assert_eq!(promote(&promoted, Epoch(4), &takeover()), newer);
    }

    #[test]
    fn unfence_restores_the_saved_subjects_and_the_source_role() {
        let fenced = updated(fence(&source(), Epoch(3)));
        let back = updated(unfence(&fenced, Epoch(3)));
        assert_eq!(back.subjects(), source().subjects());
        assert_eq!(back.metadata(META_ROLE), Some(ROLE_SOURCE));
        assert_eq!(back.metadata(META_SUBJECTS), None);
        assert!(!is_fenced(&back));
        assert_eq!(unfence(&back, Epoch(3)), Ok(Edit::Unchanged));
    }

    #[test]
    fn unfence_without_saved_subjects_strips_the_prefix_of_a_fence_made_by_hand() {
        let by_hand = config(json!({"name": "S", "subjects": ["fenced.a.*", "fenced.b"]}));
        let back = updated(unfence(&by_hand, Epoch(1)));
        assert_eq!(back.subjects(), vec!["a.*", "b"]);
    }

    #[test]
    fn a_mirror_takes_no_publishes_so_fencing_it_is_a_no_op() {
        assert_eq!(fence(&mirror(), Epoch(2)), Ok(Edit::Unchanged));
    }

    #[test]
    fn promotion_drops_the_mirror_takes_the_source_subjects_and_stamps_the_origin() {
        let promoted = updated(promote(&mirror(), Epoch(2), &takeover()));
        assert!(promoted.mirror().is_none());
        assert_eq!(promoted.subjects(), vec!["events.*", "buddy.*"]);
        assert_eq!(
            promoted.get("duplicate_window"),
            Some(&json!(120_000_000_000u64))
        );
        assert_eq!(promoted.metadata(META_ROLE), Some(ROLE_PROMOTED));
        assert_eq!(promoted.metadata(META_ORIGIN), Some("events-us"));
        assert_eq!(promoted.metadata(META_EPOCH), Some("2"));
        assert_eq!(promoted.metadata("_nats.level"), Some("1"));
        assert_eq!(
            promote(&promoted, Epoch(2), &takeover()),
            Ok(Edit::Unchanged)
        );
    }

    #[test]
    fn a_fenced_promoted_stream_keeps_its_origin_and_unfences_back_to_promoted() {
        let promoted = updated(promote(&mirror(), Epoch(2), &takeover()));
        let fenced = updated(fence(&promoted, Epoch(3)));
        assert_eq!(fenced.metadata(META_ORIGIN), Some("events-us"));
        let back = updated(unfence(&fenced, Epoch(3)));
        assert_eq!(back.metadata(META_ROLE), Some(ROLE_PROMOTED));
        assert_eq!(back.subjects(), vec!["events.*", "buddy.*"]);
    }

    #[test]
    fn promotion_refuses_plain_and_fenced_streams() {
        assert_eq!(
            promote(&source(), Epoch(2), &takeover()),
            Err(Refusal::NotAMirror { role: None })
        );
        let fenced = updated(fence(&source(), Epoch(2)));
        assert_eq!(
            promote(&fenced, Epoch(2), &takeover()),
            Err(Refusal::NotAMirror {
                role: Some(ROLE_FENCED.into())
            })
        );
    }
}
