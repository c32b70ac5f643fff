//! `ConsumerInfo`: what CONSUMER.LIST and CONSUMER.INFO say about one consumer, config kept raw.
use serde::Deserialize;
use serde_json::{Map, Value};

/// One consumer as the server reports it. The config stays raw JSON so that every field,
/// including ones this build does not know, is carried to the promoted stream.
#[derive(Debug, Clone, Deserialize)]
pub struct ConsumerInfo {
    /// The stream it reads.
    #[serde(default)]
    pub stream_name: String,
    /// Its name.
    pub name: String,
    /// Its configuration, as the server holds it.
    #[serde(default)]
    pub config: Map<String, Value>,
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
    /// The stream sequence below which every message is known acknowledged (inclusive): the
    /// ack floor once anything was acknowledged. NB: before that the server reports a floor
    /// of 0 even for a consumer that starts later in the stream; then the sequence before its
    /// first message stands in (`delivered` while nothing was delivered, else the start of a
    /// `by_start_sequence` consumer). Never above the true floor, so nothing is ever skipped.
    pub fn floor(&self) -> u64 {
        if self.ack_floor.consumer_seq > 0 {
            return self.ack_floor.stream_seq;
        }
        if self.delivered.consumer_seq == 0 {
            return self.delivered.stream_seq;
        }
        let by_start =
            self.config.get("deliver_policy").and_then(Value::as_str) == Some("by_start_sequence");
        match self.config.get("opt_start_seq").and_then(Value::as_u64) {
            Some(start) if by_start => start.saturating_sub(1),
            Some(_) | None => self.ack_floor.stream_seq,
        }
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

    fn info(ack: (u64, u64), delivered: (u64, u64), config: &str) -> ConsumerInfo {
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
        let i = info((40, 478), (45, 483), r#"{"durable_name":"billing"}"#);
        assert_eq!(i.floor(), 478);
    }

    #[test]
    fn a_consumer_that_acknowledged_nothing_yet_stands_before_its_first_message() {
        // Created at sequence 836: the server says floor 0, delivered 835.
        let fresh = info(
            (0, 0),
            (0, 835),
            r#"{"durable_name":"billing","deliver_policy":"by_start_sequence","opt_start_seq":836}"#,
        );
        assert_eq!(fresh.floor(), 835);
        // Some delivered, none acknowledged yet: the start sequence still holds.
        let busy = info(
            (0, 0),
            (3, 838),
            r#"{"durable_name":"billing","deliver_policy":"by_start_sequence","opt_start_seq":836}"#,
        );
        assert_eq!(busy.floor(), 835);
        // Unknown start: the server's floor, which skips nothing.
        let all = info(
            (0, 0),
            (3, 3),
            r#"{"durable_name":"billing","deliver_policy":"all"}"#,
        );
        assert_eq!(all.floor(), 0);
    }
}
