//! The demo reader's books: every message its durable consumer delivered and every ack the
//! server confirmed, and what they prove about a consumer carried across a move.
use std::collections::{BTreeMap, BTreeSet};

use time::OffsetDateTime;

/// One message as the reader saw it: the writer's id, the stream that delivered it (or
/// confirmed its ack), and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The message's `Nats-Msg-Id`, as the demo's writer set it.
    pub id: String,
    /// The stream the reader was bound to.
    pub stream: String,
    /// When it was delivered, or when the server confirmed its ack.
    pub at: OffsetDateTime,
}

/// Everything the demo's durable reader was delivered and got acked, in arrival order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deliveries {
    /// Every delivery, redeliveries included.
    pub received: Vec<Seen>,
    /// Every ack the server confirmed.
    pub acked: Vec<Seen>,
}

impl Deliveries {
    /// Distinct message ids delivered at least once.
    pub fn received_ids(&self) -> BTreeSet<&str> {
        self.received.iter().map(|s| s.id.as_str()).collect()
    }

    /// Messages delivered more than once (counted once each, however often they came back).
    pub fn redelivered(&self) -> u64 {
        let mut times: BTreeMap<&str, u64> = BTreeMap::new();
        for s in &self.received {
            *times.entry(s.id.as_str()).or_default() += 1;
        }
        count(times.values().filter(|n| **n > 1).count())
    }

    /// Messages the writer got acked and the final primary's stream holds, that the reader was
    /// never delivered. Acked messages lost with a region are not counted here: no consumer
    /// can be delivered what no stream holds (the report's `acked_lost` counts them).
    pub fn never_delivered<'a>(
        &self,
        acked_by_server: impl IntoIterator<Item = &'a str>,
        stored: &BTreeSet<String>,
    ) -> u64 {
        let got = self.received_ids();
        count(
            acked_by_server
                .into_iter()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .filter(|id| stored.contains(*id) && !got.contains(id))
                .count(),
        )
    }

    /// Distinct ids whose ack `stream` confirmed at or after `since`: after a region loss, what
    /// the position last stored before the fault may not cover yet.
    pub fn acked_since(&self, stream: &str, since: OffsetDateTime) -> u64 {
        count(
            self.acked
                .iter()
                .filter(|s| s.stream == stream && s.at >= since)
                .map(|s| s.id.as_str())
                .collect::<BTreeSet<_>>()
                .len(),
        )
    }

    /// Of `ids` (what a stream took), those the reader had not got acked before `at`: at a
    /// planned move, the most the final floor read after the fence can still leave out.
    pub fn unacked_before<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a str>,
        at: OffsetDateTime,
    ) -> u64 {
        let done: BTreeSet<&str> = self
            .acked
            .iter()
            .filter(|s| s.at < at)
            .map(|s| s.id.as_str())
            .collect();
        count(
            ids.into_iter()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .filter(|id| !done.contains(id))
                .count(),
        )
    }
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::fixtures::{at, seen};

    fn stored(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_message_delivered_three_times_is_one_redelivered_message() {
        let d = Deliveries {
            received: vec![
                seen("a", "us", 0),
                seen("b", "us", 1),
                seen("a", "eu", 5),
                seen("a", "eu", 9),
            ],
            acked: Vec::new(),
        };
        assert_eq!(d.redelivered(), 1);
    }

    #[test]
    fn an_acked_stored_message_never_delivered_counts_and_one_lost_with_the_region_does_not() {
        let d = Deliveries {
            received: vec![seen("a", "us", 0)],
            acked: Vec::new(),
        };
        let acked = ["a", "b", "c", "b"];
        assert_eq!(d.never_delivered(acked, &stored(&["a", "b"])), 1);
        assert_eq!(d.never_delivered(acked, &stored(&["a", "b", "c"])), 2);
    }

    #[test]
    fn acks_since_a_time_count_only_that_streams_distinct_ids() {
        let d = Deliveries {
            received: Vec::new(),
            acked: vec![
                seen("a", "us", 0),
                seen("b", "us", 10),
                seen("b", "us", 11),
                seen("c", "eu", 12),
                seen("d", "us", 20),
            ],
        };
        assert_eq!(d.acked_since("us", at(10)), 2);
        assert_eq!(d.acked_since("eu", at(0)), 1);
    }

    #[test]
    fn what_was_not_acked_before_a_move_is_what_it_may_deliver_again() {
        let d = Deliveries {
            received: Vec::new(),
            acked: vec![seen("a", "us", 0), seen("b", "us", 10), seen("c", "us", 30)],
        };
        assert_eq!(d.unacked_before(["a", "b", "c", "d"], at(20)), 2);
    }
}
