//! Unit-test fixtures for the demo's and the chaos checker's records: instants given in
//! milliseconds after the epoch, acks and deliveries.
use time::OffsetDateTime;

use super::{Ack, Seen};

/// `ms` milliseconds after the Unix epoch.
pub(crate) fn at(ms: i64) -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH + time::Duration::milliseconds(ms)
}

/// `id` acked by `stream` at `seq`, `ms` after the epoch.
pub(crate) fn ack(id: &str, stream: &str, seq: u64, ms: i64) -> Ack {
    Ack {
        id: id.into(),
        stream: stream.into(),
        seq,
        at: at(ms),
    }
}

/// `id` delivered from `stream`, `ms` after the epoch.
pub(crate) fn seen(id: &str, stream: &str, ms: i64) -> Seen {
    Seen {
        id: id.into(),
        stream: stream.into(),
        at: at(ms),
    }
}
