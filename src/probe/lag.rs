//! Mirror lag that survives the source's death: measured from both regions' sequences and
//! remembered, because the mirror's own `lag` freezes (and understates) when its source dies.
use std::collections::BTreeMap;
use std::time::Duration;

use crate::core::{MirrorView, WallTime};
use crate::model::{Region, StreamName};
use crate::nats::{MirrorInfo, StreamInfo};

/// A mirror's lag as last measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measured {
    /// Source last_seq minus mirror last_seq.
    pub msgs: u64,
    /// When the source stored the first message the mirror lacks; `None` if caught up, or if
    /// that message could not be read.
    pub oldest_missing: Option<WallTime>,
}

impl Measured {
    /// The lag in time at `now`: zero when caught up; else the age of the oldest missing
    /// message, which keeps growing while the source is gone (those messages only get older).
    pub fn age(&self, now: WallTime) -> Option<Duration> {
        if self.msgs == 0 {
            return Some(Duration::ZERO);
        }
        self.oldest_missing
            .map(|t| Duration::from_millis(u64::try_from(now.0 - t.0).unwrap_or(0)))
    }
}

/// Where a lagging mirror's oldest missing message is to be read: `seq` of `stream` in
/// `region` (the source's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dating {
    /// The mirror this dates, in its own region.
    pub mirror: (Region, StreamName),
    /// The source's region.
    pub region: Region,
    /// The source stream.
    pub stream: String,
    /// The first sequence the mirror lacks (or the source's first, if that one is gone).
    pub seq: u64,
}

/// The last measured lag of every mirror, kept across rounds by the prober.
#[derive(Debug, Clone, Default)]
pub struct LagBook {
    known: BTreeMap<(Region, StreamName), Measured>,
}

impl LagBook {
    /// Records this round's sequences of `mirror` (in `region`) and its source, if the source
    /// answered. Returns the read that dates the lag when the mirror is behind.
    pub fn observe(
        &mut self,
        region: &Region,
        mirror: &StreamName,
        mirror_last_seq: u64,
        source: Option<(&Region, &StreamInfo)>,
    ) -> Option<Dating> {
        let (source_region, source) = source?;
        let key = (region.clone(), mirror.clone());
        let msgs = source.state.last_seq.saturating_sub(mirror_last_seq);
        let before = self.known.get(&key).copied();
        // Until this round's read lands, the previous date stands if the mirror was already
        // behind: the first missing message then was at least as old as the one now.
        let oldest_missing = before
            .filter(|b| b.msgs > 0 && msgs > 0)
            .and_then(|b| b.oldest_missing);
        self.known.insert(
            key.clone(),
            Measured {
                msgs,
                oldest_missing,
            },
        );
        (msgs > 0).then(|| Dating {
            mirror: key,
            region: source_region.clone(),
            stream: source.config.name().to_owned(),
            seq: (mirror_last_seq + 1).max(source.state.first_seq),
        })
    }

    /// Records when the source stored the first message a mirror lacks.
    pub fn dated(&mut self, mirror: &(Region, StreamName), stored: WallTime) {
        if let Some(m) = self.known.get_mut(mirror) {
            m.oldest_missing = Some(stored);
        }
    }

    /// The last measurement of a mirror, if it was ever measured.
    pub fn get(&self, region: &Region, mirror: &StreamName) -> Option<Measured> {
        self.known.get(&(region.clone(), mirror.clone())).copied()
    }
}

/// The core's view of a mirror: its own testimony plus the remembered lag.
pub fn mirror_view(
    info: Option<&MirrorInfo>,
    measured: Option<Measured>,
    source_last_seq: Option<u64>,
    now: WallTime,
) -> MirrorView {
    MirrorView {
        active_age: info.and_then(|m| m.active),
        lag_msgs: measured.map(|m| m.msgs),
        lag_age: measured.and_then(|m| m.age(now)),
        source_last_seq,
        error: info
            .and_then(|m| m.error.as_ref())
            .map(|e| format!("{} ({})", e.description, e.err_code)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn region(s: &str) -> Region {
        Region::new(s).unwrap()
    }

    fn source(first: u64, last: u64) -> StreamInfo {
        serde_json::from_value(json!({"config": {"name": "S"},
            "state": {"first_seq": first, "last_seq": last}}))
        .unwrap()
    }

    #[test]
    fn a_lagging_mirror_is_dated_by_the_first_message_it_lacks_and_the_lag_survives_the_source() {
        let (us, eu) = (region("us-east-1"), region("eu-central-1"));
        let m = StreamName::new("M").unwrap();
        let mut book = LagBook::default();
        let dating = book
            .observe(&eu, &m, 10, Some((&us, &source(1, 15))))
            .unwrap();
        assert_eq!((dating.region.as_str(), dating.seq), ("us-east-1", 11));
        assert_eq!(book.get(&eu, &m).unwrap().age(WallTime(5_000)), None);
        book.dated(&dating.mirror, WallTime(1_000));
        assert_eq!(
            book.get(&eu, &m).unwrap().age(WallTime(5_000)),
            Some(Duration::from_secs(4))
        );

        // The source is gone: the last measurement stands, and its age keeps growing.
        assert_eq!(book.observe(&eu, &m, 10, None), None);
        let v = mirror_view(None, book.get(&eu, &m), None, WallTime(9_000));
        assert_eq!(v.lag_msgs, Some(5));
        assert_eq!(v.lag_age, Some(Duration::from_secs(8)));
    }

    #[test]
    fn a_caught_up_mirror_needs_no_read_and_has_no_lag() {
        let (us, eu) = (region("us-east-1"), region("eu-central-1"));
        let m = StreamName::new("M").unwrap();
        let mut book = LagBook::default();
        assert_eq!(book.observe(&eu, &m, 15, Some((&us, &source(1, 15)))), None);
        let v = mirror_view(None, book.get(&eu, &m), Some(15), WallTime(1));
        assert_eq!((v.lag_msgs, v.lag_age), (Some(0), Some(Duration::ZERO)));
    }

    #[test]
    fn a_mirror_never_measured_has_unknown_lag_not_zero() {
        let book = LagBook::default();
        let m = StreamName::new("M").unwrap();
        let v = mirror_view(
            None,
            book.get(&region("eu-central-1"), &m),
            None,
            WallTime(1),
        );
        assert_eq!((v.lag_msgs, v.lag_age), (None, None));
    }

    #[test]
    fn messages_the_source_already_dropped_are_skipped_when_dating() {
        let (us, eu) = (region("us-east-1"), region("eu-central-1"));
        let m = StreamName::new("M").unwrap();
        let mut book = LagBook::default();
        let dating = book
            .observe(&eu, &m, 3, Some((&us, &source(50, 60))))
            .unwrap();
        assert_eq!(dating.seq, 50);
    }
}
