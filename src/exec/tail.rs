//! The divergent tail's pure parts: the record's name and config, NATS header blocks, and how a
//! mirrored copy is told from a message only one region holds.
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use crate::model::{Epoch, StreamName};
use crate::nats::{StoredMessage, StreamConfig};

/// The header publishers deduplicate by; re-published tail messages keep it.
pub const MSG_ID: &str = "Nats-Msg-Id";
/// Record headers: where and when the old primary stored the message.
pub const ORIGINAL_STREAM: &str = "Natsdr-Original-Stream";
/// See [`ORIGINAL_STREAM`].
pub const ORIGINAL_SUBJECT: &str = "Natsdr-Original-Subject";
/// See [`ORIGINAL_STREAM`].
pub const ORIGINAL_SEQ: &str = "Natsdr-Original-Seq";
/// See [`ORIGINAL_STREAM`].
pub const ORIGINAL_TIME: &str = "Natsdr-Original-Time";

/// Record metadata: set once the tail is exported and every message handled, with the counts.
pub const META_DONE: &str = "divergent.done";
/// See [`META_DONE`].
pub const META_COMMON: &str = "divergent.common_seq";
/// See [`META_DONE`].
pub const META_CAPTURED: &str = "divergent.captured";
/// See [`META_DONE`].
pub const META_RECOVERED: &str = "divergent.recovered";
/// See [`META_DONE`].
pub const META_DUPLICATES: &str = "divergent.duplicates";
/// See [`META_DONE`].
pub const META_KEPT: &str = "divergent.kept";

/// The record of `stream`'s divergent tail after the failover to `epoch`, kept in the current
/// primary: `natsdr-divergent-<stream>-<epoch>`. NB: its metadata keys do not start with
/// `natsdr.`, so the probes never take it for one of natsdr's streams.
pub fn record_name(stream: &StreamName, epoch: Epoch) -> String {
    format!("natsdr-divergent-{stream}-{epoch}")
}

/// The record's config: its own subject (nothing else publishes there), file storage,
/// `replicas` copies, and where the tail came from.
pub fn record_config(
    stream: &StreamName,
    epoch: Epoch,
    replicas: u64,
    common: u64,
) -> StreamConfig {
    let name = record_name(stream, epoch);
    let map = json!({
        "name": name,
        "subjects": [format!("natsdr.divergent.{stream}.{epoch}")],
        "storage": "file",
        "retention": "limits",
        "num_replicas": replicas,
        "metadata": {
            "divergent.stream": stream.as_str(),
            "divergent.epoch": epoch.to_string(),
            META_COMMON: common.to_string(),
        },
    });
    StreamConfig::from_map(map.as_object().cloned().unwrap_or_default())
}

/// One header of a NATS header block.
pub type Header = (String, String);

/// The headers of a stored message (`hdrs`, base64 of `NATS/1.0\r\nKey: Value\r\n...`), in order.
/// A block that does not decode gives no headers: the message is then kept, never re-published
/// under a guessed identity.
pub fn headers(msg: &StoredMessage) -> Vec<Header> {
    let Some(raw) = msg.hdrs.as_deref().and_then(|h| STANDARD.decode(h).ok()) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&raw);
    text.split("\r\n")
        .skip(1) // the version line, possibly with an inline status
        .filter_map(|line| {
            let (k, v) = line.split_once(':')?;
            Some((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

/// `headers` without the original publish's preconditions (`Nats-Expected-*`: a KV client's
/// compare-and-set sends `Nats-Expected-Last-Subject-Sequence`, a create expects 0). They were
/// checked against the old primary when it stored the message; re-published into the record or
/// the twin they would be checked again, against another stream, and refused.
pub fn without_preconditions(headers: Vec<Header>) -> Vec<Header> {
    headers
        .into_iter()
        .filter(|(k, _)| {
            !k.get(..14)
                .is_some_and(|p| p.eq_ignore_ascii_case("Nats-Expected-"))
        })
        .collect()
}

/// The message id a publisher gave, if any.
pub fn msg_id(headers: &[Header]) -> Option<&str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(MSG_ID))
        .map(|(_, v)| v.as_str())
}

/// The payload of a stored message.
pub fn payload(msg: &StoredMessage) -> Vec<u8> {
    msg.data
        .as_deref()
        .and_then(|d| STANDARD.decode(d).ok())
        .unwrap_or_default()
}

/// Whether `a` and `b` (the same sequence in the two regions) are one message: a mirror keeps
/// its source's subject, payload, stored time and headers, while a message each region took
/// on its own has its own time. Except that a mirror drops the publish preconditions
/// (`Nats-Expected-*`, which natsdr's re-publish sets) from the headers it stores: those are
/// left out of the comparison (tests/nats_api.rs checks this on the real server).
pub fn same_message(a: &StoredMessage, b: &StoredMessage) -> bool {
    a.seq == b.seq
        && a.subject == b.subject
        && a.time == b.time
        && a.data == b.data
        && (a.hdrs == b.hdrs || stored_headers(a) == stored_headers(b))
}

/// The headers a mirror keeps of `msg`, sorted (order carries no meaning here).
fn stored_headers(msg: &StoredMessage) -> Vec<Header> {
    let mut h = headers(msg);
    h.retain(|(k, _)| {
        !k.get(..EXPECTED_PREFIX.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(EXPECTED_PREFIX))
    });
    h.sort_unstable();
    h
}

/// Whether `subject` is matched by the subject filter `filter` (`*` one token, `>` the rest).
pub fn subject_matches(filter: &str, subject: &str) -> bool {
    let mut f = filter.split('.');
    let mut s = subject.split('.');
    loop {
        match (f.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// The headers of publish preconditions, which the server checks and a mirror does not keep.
const EXPECTED_PREFIX: &str = "Nats-Expected-";

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(seq: u64, time: &str, hdrs: Option<&str>) -> StoredMessage {
        serde_json::from_value(json!({
            "subject": "events.demo", "seq": seq, "time": time,
            "data": STANDARD.encode("payload"),
            "hdrs": hdrs.map(|h| STANDARD.encode(h)),
        }))
        .unwrap()
    }

    #[test]
    fn a_kv_writes_compare_and_set_precondition_is_not_carried_into_a_republish() {
        let h = vec![
            ("Nats-Msg-Id".to_owned(), "a".to_owned()),
            (
                "Nats-Expected-Last-Subject-Sequence".to_owned(),
                "41".to_owned(),
            ),
            ("nats-expected-stream".to_owned(), "S".to_owned()),
            ("Nats-TTL".to_owned(), "60s".to_owned()),
        ];
        assert_eq!(
            without_preconditions(h),
            vec![
                ("Nats-Msg-Id".to_owned(), "a".to_owned()),
                ("Nats-TTL".to_owned(), "60s".to_owned())
            ]
        );
    }

    #[test]
    fn headers_are_read_in_order_and_the_message_id_is_found_whatever_its_case() {
        let m = stored(
            3,
            "2026-11-22T10:00:00.000000001Z",
            Some("NATS/1.0\r\nnats-msg-id: pub-1-42\r\nX-Trace: a:b\r\n\r\n"),
        );
        let h = headers(&m);
        assert_eq!(
            h,
            vec![
                ("nats-msg-id".to_owned(), "pub-1-42".to_owned()),
                ("X-Trace".to_owned(), "a:b".to_owned())
            ]
        );
        assert_eq!(msg_id(&h), Some("pub-1-42"));
        assert_eq!(payload(&m), b"payload");
    }

    #[test]
    fn subject_filters_match_by_token() {
        for (filter, subject, want) in [
            ("events.>", "events.demo", true),
            ("events.>", "events.a.b", true),
            ("events.>", "events", false),
            ("events.*", "events.demo", true),
            ("events.*", "events.a.b", false),
            ("events.demo", "events.demo", true),
            ("events.demo", "events.demox", false),
            ("*.demo", "audit.demo", true),
            (">", "anything.at.all", true),
            ("events.*.x", "events.a.y", false),
        ] {
            assert_eq!(
                subject_matches(filter, subject),
                want,
                "{filter} ~ {subject}"
            );
        }
    }

    #[test]
    fn a_message_without_headers_has_no_id_to_deduplicate_by() {
        let m = stored(3, "2026-11-22T10:00:00Z", None);
        assert_eq!(msg_id(&headers(&m)), None);
    }

    #[test]
    fn a_mirrored_copy_is_the_same_message_and_a_write_taken_by_each_region_is_not() {
        let us = stored(
            7,
            "2026-11-22T10:00:00.000000001Z",
            Some("NATS/1.0\r\nNats-Msg-Id: a\r\n\r\n"),
        );
        let copy = us.clone();
        let eu_own = stored(
            7,
            "2026-11-22T10:00:00.000000002Z",
            Some("NATS/1.0\r\nNats-Msg-Id: a\r\n\r\n"),
        );
        assert!(same_message(&us, &copy));
        assert!(!same_message(&us, &eu_own));
        // A re-published message as its source stored it, and as its mirror did.
        let source = stored(
            8,
            "2026-11-22T10:00:00.000000003Z",
            Some("NATS/1.0\r\nnats-expected-stream: S\r\nNats-Msg-Id: b\r\n\r\n"),
        );
        let mirrored = stored(
            8,
            "2026-11-22T10:00:00.000000003Z",
            Some("NATS/1.0\r\nNats-Msg-Id: b\r\n\r\n"),
        );
        assert!(same_message(&source, &mirrored));
        let other_id = stored(
            8,
            "2026-11-22T10:00:00.000000003Z",
            Some("NATS/1.0\r\nNats-Msg-Id: c\r\n\r\n"),
        );
        assert!(!same_message(&source, &other_id));
    }

    #[test]
    fn the_record_is_named_after_the_stream_and_the_epoch_and_has_a_subject_of_its_own() {
        let s = StreamName::new("events-us").unwrap();
        let cfg = record_config(&s, Epoch(2), 3, 41);
        assert_eq!(cfg.name(), "natsdr-divergent-events-us-2");
        assert_eq!(cfg.subjects(), vec!["natsdr.divergent.events-us.2"]);
        assert_eq!(cfg.metadata(META_COMMON), Some("41"));
        assert!(cfg.metadata(META_DONE).is_none());
    }
}
