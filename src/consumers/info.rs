//! `Consumer`: what CONSUMER.LIST and CONSUMER.INFO say about one consumer; `ConsumerInfo` keeps
//! its config as a map, `ListedConsumer` (what the tracker reads every round) as text.
use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// One consumer as the server reports it, its config kept as `C`: a map when it is carried to
/// a promoted stream ([`ConsumerInfo`]), the server's own text when the tracker only compares it
/// ([`ListedConsumer`]).
#[derive(Debug, Clone, Deserialize)]
pub struct Consumer<C> {
    /// The stream it reads.
    #[serde(default)]
    pub stream_name: String,
    /// Its name.
    pub name: String,
    /// Its configuration, as the server holds it.
    pub config: C,
    /// The highest sequences below which every message is acknowledged.
    #[serde(default)]
    pub ack_floor: SequencePair,
    /// The last sequences delivered.
    #[serde(default)]
    pub delivered: SequencePair,
    /// Delivered and not yet acknowledged.
    #[serde(default)]
    pub num_ack_pending: u64,
    /// Delivered more than once and not yet acknowledged.
    #[serde(default)]
    pub num_redelivered: u64,
    /// Not yet delivered.
    #[serde(default)]
    pub num_pending: u64,
}

/// One consumer with its config as a map, so that every field, including ones this build does
/// not know, is carried to the promoted stream.
pub type ConsumerInfo = Consumer<Map<String, Value>>;

/// One consumer as CONSUMER.LIST reports it to the tracker, every `consumers.sync_interval` for
/// every tracked consumer. The config stays the server's own JSON text: compared as text with
/// the last one stored and parsed into a map only when it changed (building a map of every
/// consumer's config every round was most of what tracking cost the standby's CPU).
pub type ListedConsumer = Consumer<Box<RawValue>>;

/// A consumer sequence and the stream sequence it stands for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct SequencePair {
    /// The consumer's own count.
    #[serde(default)]
    pub consumer_seq: u64,
    /// The stream sequence: what survives a move, because a mirror keeps its origin's.
    #[serde(default)]
    pub stream_seq: u64,
}

impl ConsumerInfo {
    /// Whether it is durable. Ephemeral consumers (ordered consumers among them) die with their
    /// client's subscription: their clients recreate them wherever they reconnect, so they are
    /// never tracked.
    pub fn is_durable(&self) -> bool {
        self.config
            .get("durable_name")
            .and_then(Value::as_str)
            .is_some_and(|d| !d.is_empty())
    }
}

impl ConsumerInfo {
    /// The stream sequence below which every message is known acknowledged (inclusive): see
    /// [`floor_of`].
    pub fn floor(&self) -> u64 {
        let by_start =
            self.config.get("deliver_policy").and_then(Value::as_str) == Some("by_start_sequence");
        let start = self
            .config
            .get("opt_start_seq")
            .and_then(Value::as_u64)
            .filter(|_| by_start);
        floor_of(self.ack_floor, self.delivered, start)
    }
}

/// The stream sequence below which every message is known acknowledged (inclusive): the ack
/// floor once anything was acknowledged. NB: before that the server reports a floor of 0 even
/// for a consumer that starts later in the stream; then the sequence before its first message
/// stands in (`delivered` while nothing was delivered, else `start - 1` for a
/// `by_start_sequence` consumer starting at `start`). Never above the true floor, so nothing is
/// ever skipped.
fn floor_of(ack_floor: SequencePair, delivered: SequencePair, start: Option<u64>) -> u64 {
    if ack_floor.consumer_seq > 0 {
        return ack_floor.stream_seq;
    }
    if delivered.consumer_seq == 0 {
        return delivered.stream_seq;
    }
    match start {
        Some(start) => start.saturating_sub(1),
        None => ack_floor.stream_seq,
    }
}

/// The config fields read on every round; every other one is skipped unparsed.
#[derive(Default, Deserialize)]
struct ConfigHead<'a> {
    #[serde(default, borrow)]
    durable_name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    deliver_policy: Option<Cow<'a, str>>,
    #[serde(default)]
    opt_start_seq: Option<u64>,
}

/// What the tracker needs of a listed consumer's config on every round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Whether it is durable (see [`ConsumerInfo::is_durable`]).
    pub durable: bool,
    /// Its floor (see [`floor_of`]).
    pub floor: u64,
}

impl ListedConsumer {
    /// Whether it is durable and its floor, read from the config text without building it.
    /// A config that is not an object has no durable name: not durable.
    pub fn head(&self) -> Head {
        let h: ConfigHead<'_> = serde_json::from_str(self.config.get()).unwrap_or_default();
        let start = h
            .opt_start_seq
            .filter(|_| h.deliver_policy.as_deref() == Some("by_start_sequence"));
        Head {
            durable: h.durable_name.is_some_and(|d| !d.is_empty()),
            floor: floor_of(self.ack_floor, self.delivered, start),
        }
    }

    /// Its config as a map (what a [`super::Position`] keeps and a promotion recreates).
    pub fn config_map(&self) -> Result<Map<String, Value>, serde_json::Error> {
        serde_json::from_str(self.config.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_consumer_with_a_durable_name_is_durable_and_an_ordered_one_is_not() {
        let durable: ConsumerInfo = serde_json::from_str(
            r#"{"stream_name":"S","name":"billing","config":{"durable_name":"billing","ack_policy":"explicit"},
                "ack_floor":{"consumer_seq":3,"stream_seq":478},"num_ack_pending":2}"#,
        )
        .unwrap();
        assert!(durable.is_durable());
        assert_eq!(durable.ack_floor.stream_seq, 478);
        let ordered: ConsumerInfo = serde_json::from_str(
            r#"{"stream_name":"S","name":"x9Ad","config":{"name":"x9Ad","ack_policy":"none","max_deliver":1,"mem_storage":true}}"#,
        )
        .unwrap();
        assert!(!ordered.is_durable());
    }

    fn info<C: serde::de::DeserializeOwned>(
        ack: (u64, u64),
        delivered: (u64, u64),
        config: &str,
    ) -> Consumer<C> {
        serde_json::from_str(&format!(
            r#"{{"name":"billing","config":{config},
                "ack_floor":{{"consumer_seq":{},"stream_seq":{}}},
                "delivered":{{"consumer_seq":{},"stream_seq":{}}}}}"#,
            ack.0, ack.1, delivered.0, delivered.1
        ))
        .unwrap()
    }

    #[test]
    fn the_floor_is_the_ack_floor_once_anything_was_acknowledged() {
        let i: ConsumerInfo = info((40, 478), (45, 483), r#"{"durable_name":"billing"}"#);
        assert_eq!(i.floor(), 478);
    }

    #[test]
    fn a_consumer_that_acknowledged_nothing_yet_stands_before_its_first_message() {
        // Created at sequence 836: the server says floor 0, delivered 835.
        let fresh: ConsumerInfo = info(
            (0, 0),
            (0, 835),
            r#"{"durable_name":"billing","deliver_policy":"by_start_sequence","opt_start_seq":836}"#,
        );
        assert_eq!(fresh.floor(), 835);
        // Some delivered, none acknowledged yet: the start sequence still holds.
        let busy: ConsumerInfo = info(
            (0, 0),
            (3, 838),
            r#"{"durable_name":"billing","deliver_policy":"by_start_sequence","opt_start_seq":836}"#,
        );
        assert_eq!(busy.floor(), 835);
        // Unknown start: the server's floor, which skips nothing.
        let all: ConsumerInfo = info(
            (0, 0),
            (3, 3),
            r#"{"durable_name":"billing","deliver_policy":"all"}"#,
        );
        assert_eq!(all.floor(), 0);
    }

    #[test]
    fn a_listed_consumer_reads_the_same_floor_and_durability_as_a_fully_parsed_one() {
        let cases = [
            (
                (40, 478),
                (45, 483),
                r#"{"durable_name":"billing","metadata":{"a":"\u00e9"}}"#,
            ),
            (
                (0, 0),
                (0, 835),
                r#"{"durable_name":"billing","deliver_policy":"by_start_sequence","opt_start_seq":836}"#,
            ),
            (
                (0, 0),
                (3, 838),
                r#"{"durable_name":"b\"x","deliver_policy":"by_start_sequence","opt_start_seq":836}"#,
            ),
            (
                (0, 0),
                (3, 3),
                r#"{"deliver_policy":"all","opt_start_seq":9}"#,
            ),
            (
                (0, 0),
                (3, 3),
                r#"{"durable_name":"","deliver_policy":"by_start_sequence"}"#,
            ),
        ];
        for (ack, delivered, config) in cases {
            let full: ConsumerInfo = info(ack, delivered, config);
            let listed: ListedConsumer = info(ack, delivered, config);
            assert_eq!(
                listed.head(),
                Head {
                    durable: full.is_durable(),
                    floor: full.floor()
                },
                "{config}"
            );
            assert_eq!(listed.config_map().unwrap(), full.config, "{config}");
        }
    }
}
