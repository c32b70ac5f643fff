//! The load generator's books: every message id sent and every ack, and what they prove.
use std::collections::{BTreeMap, BTreeSet};

use time::OffsetDateTime;

/// One JetStream ack: which stream stored the message, at which sequence, and when it came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The message's `Nats-Msg-Id`.
    pub id: String,
    /// The stream that stored it.
    pub stream: String,
    /// Its sequence in that stream.
    pub seq: u64,
    /// When the ack arrived (wall clock, to compare with the watchdogs' transition times).
    pub at: OffsetDateTime,
}

/// Everything the load generator sent and got acked. Ids are sent in order and retried
/// (same id, so JetStream's dedupe window keeps one copy) until acked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    /// Distinct message ids sent at least once.
    pub sent: BTreeSet<String>,
    /// Every ack received, in arrival order (a retried id may be acked twice: once as a duplicate).
    pub acks: Vec<Ack>,
}

impl Ledger {
    /// Records one attempt to send `id`.
    pub fn sent(&mut self, id: &str) {
        if !self.sent.contains(id) {
            self.sent.insert(id.to_owned());
        }
    }

    /// Records an ack.
    pub fn acked(&mut self, ack: Ack) {
        self.acks.push(ack);
    }

    /// Distinct ids acked by any stream.
    pub fn acked_ids(&self) -> BTreeSet<&str> {
        self.acks.iter().map(|a| a.id.as_str()).collect()
    }

    /// The first ack from `stream` at or after `since`.
    pub fn first_ack_from(&self, stream: &str, since: OffsetDateTime) -> Option<&Ack> {
        self.acks
            .iter()
            .filter(|a| a.stream == stream && a.at >= since)
            .min_by_key(|a| a.at)
    }

    /// The longest time without any ack from `since` on (to the last ack): what a client saw as
    /// an outage. Zero when fewer than one ack follows `since`.
    pub fn longest_ack_gap(&self, since: OffsetDateTime) -> time::Duration {
        let mut times: Vec<OffsetDateTime> = self.acks.iter().map(|a| a.at).collect();
        times.sort();
        let mut prev = since;
        let mut gap = time::Duration::ZERO;
        for t in times.into_iter().filter(|t| *t >= since) {
            gap = gap.max(t - prev);
            prev = t;
        }
        gap
    }

    /// Acked ids that the final primary's stream does not hold: data lost although the client
    /// was told it was safe.
    pub fn acked_lost(&self, final_stream_ids: &BTreeSet<String>) -> u64 {
        let lost = self
            .acked_ids()
            .into_iter()
            .filter(|id| !final_stream_ids.contains(*id))
            .count();
        u64::try_from(lost).unwrap_or(u64::MAX)
    }

    /// Writes both regions accepted for the same epoch (split brain): ids acked by both
    /// `old_stream` and `new_stream`, plus ids the old primary acked after the new one had
    /// acked its first write (from then on the old epoch is over, so any old-primary ack is a
    /// second writer). 0 is the only correct answer.
    pub fn dual_writes(&self, old_stream: &str, new_stream: &str) -> u64 {
        let mut by_id: BTreeMap<&str, (bool, bool)> = BTreeMap::new();
        for a in &self.acks {
            let e = by_id.entry(a.id.as_str()).or_default();
            e.0 |= a.stream == old_stream;
            e.1 |= a.stream == new_stream;
        }
        let first_new = self
            .acks
            .iter()
            .filter(|a| a.stream == new_stream)
            .map(|a| a.at)
            .min();
        let late_old: BTreeSet<&str> = match first_new {
            Some(t) => self
                .acks
                .iter()
                .filter(|a| a.stream == old_stream && a.at > t)
                .map(|a| a.id.as_str())
                .collect(),
            None => BTreeSet::new(),
        };
        let both = by_id
            .into_iter()
            .filter(|(id, (old, new))| (*old && *new) || late_old.contains(id))
            .count();
        u64::try_from(both).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::fixtures::{ack, at};

    /// A ledger that sent and got acked `(id, stream, seq, ms)` for each of `acks`.
    fn ledger(acks: &[(&str, &str, u64, i64)]) -> Ledger {
        let mut l = Ledger::default();
        for &(id, stream, seq, ms) in acks {
            l.sent(id);
            l.acked(ack(id, stream, seq, ms));
        }
        l
    }

    #[test]
    fn a_retried_id_is_counted_once_as_sent() {
        let mut l = Ledger::default();
        l.sent("a");
        l.sent("a");
        l.sent("b");
        assert_eq!(l.sent.len(), 2);
    }

    #[test]
    fn acked_ids_missing_from_the_final_stream_are_lost_and_unacked_ones_are_not() {
        let mut l = ledger(&[("a", "us", 1, 0), ("b", "us", 2, 10)]);
        l.sent("c");
        let kept: BTreeSet<String> = ["a".to_owned()].into();
        assert_eq!(l.acked_lost(&kept), 1);
    }

    #[test]
    fn a_clean_failover_has_no_dual_writes() {
        let l = ledger(&[("a", "us", 1, 0), ("b", "eu", 1, 100), ("c", "eu", 2, 110)]);
        assert_eq!(l.dual_writes("us", "eu"), 0);
    }

    #[test]
    fn an_old_primary_ack_after_the_new_primary_took_writes_is_a_dual_write() {
        let l = ledger(&[("a", "eu", 1, 100), ("b", "us", 9, 120)]);
        assert_eq!(l.dual_writes("us", "eu"), 1);
    }

    #[test]
    fn one_id_acked_by_both_regions_is_a_dual_write() {
        let l = ledger(&[("a", "us", 1, 100), ("a", "eu", 1, 90)]);
        assert_eq!(l.dual_writes("us", "eu"), 1);
    }

    #[test]
    fn the_longest_ack_gap_counts_from_the_fault_to_the_first_ack_after_it() {
        let l = ledger(&[("a", "us", 1, 0), ("b", "us", 2, 900), ("c", "eu", 1, 1000)]);
        assert_eq!(
            l.longest_ack_gap(at(100)),
            time::Duration::milliseconds(800)
        );
        assert_eq!(l.longest_ack_gap(at(2000)), time::Duration::ZERO);
    }

    #[test]
    fn the_first_ack_from_a_stream_ignores_acks_before_the_fault() {
        let l = ledger(&[("a", "eu", 1, 5), ("b", "eu", 2, 50), ("c", "eu", 3, 60)]);
        assert_eq!(
            l.first_ack_from("eu", at(10)).map(|a| a.id.as_str()),
            Some("b")
        );
        assert_eq!(l.first_ack_from("us", at(0)), None);
    }
}
