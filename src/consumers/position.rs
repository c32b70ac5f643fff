//! `Position`: a tracked consumer (its configuration and where it stands), and the rule that
//! places it on a promoted stream.
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::info::ConsumerInfo;

/// A durable consumer as last read on the writable side, keyed by the name its stream has in
/// the region that would be promoted (a mirror may be named differently from its source).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// The stream in the region that would be promoted.
    pub stream: String,
    /// The consumer's name (and durable name).
    pub consumer: String,
    /// Its configuration as the writable side holds it.
    pub config: Map<String, Value>,
    /// Stream sequence below which every message was acknowledged (inclusive).
    pub ack_floor: u64,
    /// Stream sequence of the last delivered message.
    #[serde(default)]
    pub delivered: u64,
    /// Delivered and not yet acknowledged.
    #[serde(default)]
    pub ack_pending: u64,
    /// Delivered more than once and not yet acknowledged.
    #[serde(default)]
    pub redelivered: u64,
    /// Not yet delivered.
    #[serde(default)]
    pub pending: u64,
    /// When it was read, Unix milliseconds (wall clock: it must mean something to another
    /// watchdog that loads it after a restart).
    pub read_at_ms: i64,
}

impl Position {
    /// The position of `info`, read at `read_at_ms`, filed under `stream` (the name in the
    /// region that would be promoted).
    pub fn from_info(stream: &str, info: ConsumerInfo, read_at_ms: i64) -> Self {
        let ack_floor = info.floor();
        Self {
            stream: stream.to_owned(),
            consumer: info.name,
            config: info.config,
            ack_floor,
            delivered: info.delivered.stream_seq,
            ack_pending: info.num_ack_pending,
            redelivered: info.num_redelivered,
            pending: info.num_pending,
            read_at_ms,
        }
    }
}

/// What a promotion does with one tracked consumer.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Absent on the promoted stream: create it with this config.
    Create(Map<String, Value>),
    /// Present and at or past the tracked floor: never moved backwards, left alone.
    Leave {
        /// Its floor on the promoted stream.
        floor: u64,
    },
    /// Present but behind the tracked floor (it would redeliver what was acknowledged):
    /// replaced by this config.
    Replace(Map<String, Value>),
}

/// The positioning rule: a consumer goes just after its last known ack floor; one already on
/// the promoted stream (a retry, or a server that keeps consumers created on the mirror) is
/// never moved backwards. NB: a floor past the promoted stream's `last_seq` (acknowledged on the
/// lost primary before the mirror had those messages) is lowered to it: the promoted stream's
/// next messages take those sequences, and a consumer placed beyond them would skip them.
pub fn plan(tracked: &Position, existing_floor: Option<u64>, last_seq: u64) -> Plan {
    let mut at = tracked.clone();
    at.ack_floor = at.ack_floor.min(last_seq);
    match existing_floor {
        None => Plan::Create(creation_config(&at)),
        Some(floor) if floor >= at.ack_floor => Plan::Leave { floor },
        Some(_) => Plan::Replace(creation_config(&at)),
    }
}

/// The tracked config, positioned at `ack_floor + 1` (`by_start_sequence`; the server then
/// reports the floor itself as the new consumer's ack floor). Every other field is kept,
/// except the `_nats.*` metadata the server writes itself.
pub fn creation_config(tracked: &Position) -> Map<String, Value> {
    let mut cfg = tracked.config.clone();
    cfg.insert("durable_name".into(), Value::from(tracked.consumer.clone()));
    cfg.insert("name".into(), Value::from(tracked.consumer.clone()));
    cfg.insert("deliver_policy".into(), Value::from("by_start_sequence"));
    cfg.insert("opt_start_seq".into(), Value::from(tracked.ack_floor + 1));
    cfg.remove("opt_start_time");
    if let Some(Value::Object(meta)) = cfg.get_mut("metadata") {
        meta.retain(|k, _| !k.starts_with("_nats."));
        if meta.is_empty() {
            cfg.remove("metadata");
        }
    }
    cfg
}

/// The positions to recreate: a fresh read (taken after a fence, in a planned switchover) is
/// authoritative for which consumers exist, and no floor ever goes back below a stored one.
/// Without a fresh read, the stored positions as they are.
pub fn merge(stored: Vec<Position>, fresh: Option<Vec<Position>>) -> Vec<Position> {
    let Some(fresh) = fresh else {
        return stored;
    };
    fresh
        .into_iter()
        .map(|mut p| {
            if let Some(s) = stored.iter().find(|s| s.consumer == p.consumer) {
                p.ack_floor = p.ack_floor.max(s.ack_floor);
            }
            p
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pos(floor: u64, config: Value) -> Position {
        Position {
            stream: "events".into(),
            consumer: "billing".into(),
            config: config.as_object().unwrap().clone(),
            ack_floor: floor,
            delivered: floor + 2,
            ack_pending: 2,
            redelivered: 0,
            pending: 10,
            read_at_ms: 1,
        }
    }

    #[test]
    fn a_consumer_is_recreated_just_after_its_ack_floor_with_the_rest_of_its_config_kept() {
        let p = pos(
            478,
            json!({
                "durable_name": "billing", "deliver_policy": "all", "ack_policy": "explicit",
                "ack_wait": 30_000_000_000u64, "max_deliver": 5, "max_ack_pending": 100,
                "filter_subjects": ["events.a", "events.b"], "backoff": [1_000_000_000u64, 5_000_000_000u64],
                "deliver_subject": "push.billing", "deliver_group": "workers",
                "metadata": {"team": "billing", "_nats.ver": "2.15.1", "_nats.level": "5"},
            }),
        );
        let cfg = creation_config(&p);
        assert_eq!(cfg["deliver_policy"], json!("by_start_sequence"));
        assert_eq!(cfg["opt_start_seq"], json!(479));
        assert_eq!(cfg["name"], json!("billing"));
        for key in [
            "ack_policy",
            "ack_wait",
            "max_deliver",
            "max_ack_pending",
            "filter_subjects",
            "backoff",
            "deliver_subject",
            "deliver_group",
        ] {
            assert_eq!(cfg[key], p.config[key], "{key} kept");
        }
        assert_eq!(cfg["metadata"], json!({"team": "billing"}));
    }

    #[test]
    fn a_start_time_gives_way_to_the_start_sequence_and_server_metadata_alone_is_dropped() {
        let p = pos(
            0,
            json!({"durable_name": "billing", "deliver_policy": "by_start_time",
                   "opt_start_time": "2026-01-01T00:00:00Z", "filter_subject": "events.a",
                   "metadata": {"_nats.req.level": "0"}}),
        );
        let cfg = creation_config(&p);
        assert_eq!(cfg["opt_start_seq"], json!(1));
        assert!(!cfg.contains_key("opt_start_time"));
        assert!(!cfg.contains_key("metadata"));
        assert_eq!(cfg["filter_subject"], json!("events.a"));
    }

    #[test]
    fn a_consumer_already_at_or_past_its_floor_is_never_moved_backwards() {
        let p = pos(100, json!({"durable_name": "billing"}));
        assert_eq!(plan(&p, Some(100), 500), Plan::Leave { floor: 100 });
        assert_eq!(plan(&p, Some(150), 500), Plan::Leave { floor: 150 });
        assert!(
            matches!(plan(&p, Some(40), 500), Plan::Replace(c) if c["opt_start_seq"] == json!(101))
        );
        assert!(matches!(plan(&p, None, 500), Plan::Create(c) if c["opt_start_seq"] == json!(101)));
    }

    #[test]
    fn a_floor_past_what_the_promoted_stream_holds_starts_at_its_next_message() {
        // Acknowledged up to 100 on the lost primary, the mirror had only 90: the promoted
        // stream's next publish is 91, and the consumer must get it.
        let p = pos(100, json!({"durable_name": "billing"}));
        assert!(matches!(plan(&p, None, 90), Plan::Create(c) if c["opt_start_seq"] == json!(91)));
        assert_eq!(plan(&p, Some(90), 90), Plan::Leave { floor: 90 });
    }

    #[test]
    fn a_fresh_read_decides_which_consumers_exist_but_never_lowers_a_floor() {
        let mut gone = pos(5, json!({"durable_name": "gone"}));
        gone.consumer = "gone".into();
        let stored = vec![pos(100, json!({})), gone];
        assert_eq!(merge(stored.clone(), None).len(), 2);
        let fresh = vec![pos(120, json!({})), pos(90, json!({}))];
        let merged = merge(stored, Some(fresh));
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].ack_floor, 120);
        assert_eq!(merged[1].ack_floor, 100);
        assert!(merged.iter().all(|p| p.consumer == "billing"));
    }
}
