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
    /// The first sequence the mirror lacks (meaningful when `msgs > 0`).
    pub first_missing: u64,
    /// When this was read: the round that listed both regions.
    pub read_at: WallTime,
    /// The last message of the source read for this mirror's lag, and when it was stored. It
    /// dates the lag exactly while it is `first_missing`; a read still in flight from an earlier
    /// round dates an older message.
    pub dated: Option<(u64, WallTime)>,
    /// No earlier than this did the source store the first message the mirror lacks: the later
    /// of the mirror's last message and the source's first (messages are stored in time order).
    /// Bounds the lag's age when that message has not been read.
    pub missing_after: Option<WallTime>,
}

/// A mirror's lag in time at its reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LagAge {
    /// The age of the first missing message when the lag was read (zero when caught up).
    pub age: Duration,
    /// Whether `age` is an upper bound from `missing_after` rather than the message's own time.
    pub estimated: bool,
}

impl Measured {
    /// The lag in time at the reading: zero when caught up; else the age of the oldest missing
    /// message then, or its upper bound when that message has not been read.
    pub fn age(&self) -> Option<LagAge> {
        let age =
            |t: WallTime| Duration::from_millis(u64::try_from(self.read_at.0 - t.0).unwrap_or(0));
        if self.msgs == 0 {
            return Some(LagAge {
                age: Duration::ZERO,
                estimated: false,
            });
        }
        match (self.dated, self.missing_after) {
            (Some((seq, t)), _) if seq == self.first_missing => Some(LagAge {
                age: age(t),
                estimated: false,
            }),
            // NB: an older message's date bounds the age too, but the mirror's last message is
            // newer than any message it already holds: the tighter bound.
            (_, Some(t)) => Some(LagAge {
                age: age(t),
                estimated: true,
            }),
            (Some((seq, t)), None) if seq < self.first_missing => Some(LagAge {
                age: age(t),
                estimated: true,
            }),
            (Some(_) | None, None) => None,
        }
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

/// One round's listing of a mirror, as the lag book needs it.
#[derive(Debug, Clone, Copy)]
pub struct MirrorSeen<'a> {
    /// The mirror's region.
    pub region: &'a Region,
    /// The mirror.
    pub name: &'a StreamName,
    /// Its last sequence.
    pub last_seq: u64,
    /// When its source stored its last message (mirrors keep their source's timestamps).
    pub last_ts: Option<WallTime>,
}

/// The last measured lag of every mirror, kept across rounds by the prober.
#[derive(Debug, Clone, Default)]
pub struct LagBook {
    known: BTreeMap<(Region, StreamName), Measured>,
}

impl LagBook {
    /// Records this round's sequences of `mirror` and its source (read at `now`), if the source
    /// answered. Returns the read that dates the lag when the mirror is behind.
    pub fn observe(
        &mut self,
        mirror: MirrorSeen<'_>,
        source: Option<(&Region, &StreamInfo)>,
        now: WallTime,
    ) -> Option<Dating> {
        let (source_region, source) = source?;
        let key = (mirror.region.clone(), mirror.name.clone());
        let msgs = source.state.last_seq.saturating_sub(mirror.last_seq);
        let first_missing = (mirror.last_seq + 1).max(source.state.first_seq);
        let missing_after = mirror
            .last_ts
            .into_iter()
            .chain(source.state.first_ts.map(wall))
            .max();
        let dated = self.known.get(&key).and_then(|b| b.dated);
        self.known.insert(
            key.clone(),
            Measured {
                msgs,
                first_missing,
                read_at: now,
                dated,
                missing_after,
            },
        );
        let exact = dated.is_some_and(|(seq, _)| seq == first_missing);
        (msgs > 0 && !exact).then(|| Dating {
            mirror: key,
            region: source_region.clone(),
            stream: source.config.name().to_owned(),
            seq: first_missing,
        })
    }

    /// Records a reading from the mirror's side alone, for a round where its source could not be
    /// listed but the mirror is in contact with it: the server's own `lag` of the mirror (it
    /// understates under load and freezes when the source dies, so only while in contact), its
    /// age bounded by the mirror's last message.
    pub fn observe_mirror_side(&mut self, mirror: MirrorSeen<'_>, lag: u64, now: WallTime) {
        let key = (mirror.region.clone(), mirror.name.clone());
        let dated = self.known.get(&key).and_then(|b| b.dated);
        self.known.insert(
            key,
            Measured {
                msgs: lag,
                first_missing: mirror.last_seq + 1,
                read_at: now,
                dated,
                missing_after: mirror.last_ts,
            },
        );
    }

    /// Records when the source stored message `seq`, read for `mirror`'s lag.
    pub fn dated(&mut self, mirror: &(Region, StreamName), seq: u64, stored: WallTime) {
        if let Some(m) = self.known.get_mut(mirror) {
            m.dated = Some((seq, stored));
        }
    }

    /// The last measurement of a mirror, if it was ever measured.
    pub fn get(&self, region: &Region, mirror: &StreamName) -> Option<Measured> {
        self.known.get(&(region.clone(), mirror.clone())).copied()
    }
}

/// A server timestamp as wall-clock milliseconds.
pub fn wall(t: time::OffsetDateTime) -> WallTime {
    WallTime(i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX))
}

/// The core's view of a mirror: its own testimony plus the remembered lag, as of `now`.
pub fn mirror_view(
    info: Option<&MirrorInfo>,
    measured: Option<Measured>,
    source_last_seq: Option<u64>,
    now: WallTime,
) -> MirrorView {
    let age = measured.and_then(|m| m.age());
    MirrorView {
        active_age: info.and_then(|m| m.active),
        lag_msgs: measured.map(|m| m.msgs),
        lag_age: age.map(|a| a.age),
        lag_age_estimated: age.is_some_and(|a| a.estimated),
        lag_read_ago: measured
            .map(|m| Duration::from_millis(u64::try_from(now.0 - m.read_at.0).unwrap_or(0))),
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

    /// Mirror `M` in eu-central-1 of a source in us-east-1, and the book that measures it.
    struct Mirror {
        us: Region,
        eu: Region,
        m: StreamName,
        book: LagBook,
    }

    impl Mirror {
        fn new() -> Self {
            Self {
                us: region("us-east-1"),
                eu: region("eu-central-1"),
                m: StreamName::new("M").unwrap(),
                book: LagBook::default(),
            }
        }

        /// One round at `now` ms: the mirror's last message is `last_seq`, stored at `ts` ms; the
        /// source holds `first..=last`, or did not answer (`None`).
        fn observe(
            &mut self,
            (last_seq, ts): (u64, Option<i64>),
            source: Option<(u64, u64)>,
            now: i64,
        ) -> Option<Dating> {
            let source: Option<StreamInfo> = source.map(|(first, last)| {
                serde_json::from_value(json!({"config": {"name": "S"},
                    "state": {"first_seq": first, "last_seq": last}}))
                .unwrap()
            });
            let seen = MirrorSeen {
                region: &self.eu,
                name: &self.m,
                last_seq,
                last_ts: ts.map(WallTime),
            };
            let source = source.as_ref().map(|s| (&self.us, s));
            self.book.observe(seen, source, WallTime(now))
        }

        /// One round that finds the mirror behind its source: the read that dates the lag.
        fn behind(&mut self, seen: (u64, Option<i64>), source: (u64, u64), now: i64) -> Dating {
            self.observe(seen, Some(source), now)
                .expect("a mirror behind its source asks for a dating read")
        }

        /// The measured lag's age, and whether it is only estimated.
        fn age(&self) -> (Duration, bool) {
            let age = self.book.get(&self.eu, &self.m).unwrap().age().unwrap();
            (age.age, age.estimated)
        }

        /// The view the API shows at `now` ms.
        fn view(&self, source_last_seq: Option<u64>, now: i64) -> MirrorView {
            let measured = self.book.get(&self.eu, &self.m);
            mirror_view(None, measured, source_last_seq, WallTime(now))
        }
    }

    #[test]
    fn a_lagging_mirror_is_dated_by_the_first_message_it_lacks_and_the_lag_survives_the_source() {
        let mut mirror = Mirror::new();
        let dating = mirror.behind((10, Some(500)), (1, 15), 5_000);
        assert_eq!((dating.region.as_str(), dating.seq), ("us-east-1", 11));
        // Not read yet: bounded by the mirror's last message (stored at 500 ms).
        assert_eq!(mirror.age(), (Duration::from_millis(4_500), true));
        mirror
            .book
            .dated(&dating.mirror, dating.seq, WallTime(1_000));
        assert_eq!(mirror.age(), (Duration::from_secs(4), false));

        // The source is gone: the last reading stands as it was read; only its distance grows.
        assert_eq!(mirror.observe((10, Some(500)), None, 9_000), None);
        let v = mirror.view(None, 9_000);
        assert_eq!(v.lag_msgs, Some(5));
        assert_eq!(v.lag_age, Some(Duration::from_secs(4)));
        assert!(!v.lag_age_estimated);
        assert_eq!(v.lag_read_ago, Some(Duration::from_secs(4)));
    }

    #[test]
    fn a_date_read_for_a_message_the_mirror_has_since_received_does_not_date_the_lag() {
        let mut mirror = Mirror::new();
        let first = mirror.behind((10, Some(900)), (1, 20), 1_000);
        // The next round lists the mirror further on before the first read lands.
        let second = mirror.behind((15, Some(1_400)), (1, 22), 1_500);
        assert_eq!((first.seq, second.seq), (11, 16));
        mirror.book.dated(&first.mirror, first.seq, WallTime(950));
        assert_eq!(mirror.age(), (Duration::from_millis(100), true));
        mirror
            .book
            .dated(&second.mirror, second.seq, WallTime(1_450));
        assert_eq!(mirror.age(), (Duration::from_millis(50), false));
        // Dated exactly: the next round asks for no read while the mirror stays there.
        assert_eq!(
            mirror.observe((15, Some(1_400)), Some((1, 23)), 2_000),
            None
        );
    }

    #[test]
    fn a_caught_up_mirror_needs_no_read_and_has_no_lag() {
        let mut mirror = Mirror::new();
        assert_eq!(mirror.observe((15, Some(1)), Some((1, 15)), 1), None);
        let v = mirror.view(Some(15), 1);
        assert_eq!((v.lag_msgs, v.lag_age), (Some(0), Some(Duration::ZERO)));
        assert_eq!(v.lag_read_ago, Some(Duration::ZERO));
    }

    #[test]
    fn a_mirror_never_measured_has_unknown_lag_not_zero() {
        let v = Mirror::new().view(None, 1);
        assert_eq!((v.lag_msgs, v.lag_age, v.lag_read_ago), (None, None, None));
    }

    #[test]
    fn messages_the_source_already_dropped_are_skipped_when_dating() {
        let mut mirror = Mirror::new();
        let dating = mirror.behind((3, None), (50, 60), 1);
        assert_eq!(dating.seq, 50);
    }
}
