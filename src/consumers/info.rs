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
}
