//! Time as plain data: the core never reads a clock, the driver passes these in.
use std::ops::Add;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A point on the driver's monotonic axis, in milliseconds since an arbitrary origin
/// (the driver's start). Only differences mean anything.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Instant(pub u64);

impl Instant {
    /// Time elapsed from `earlier` to `self`; zero if `earlier` is in the future.
    pub fn since(self, earlier: Instant) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }

    /// `self - d`, clamped at the origin of the axis.
    #[must_use]
    pub fn minus(self, d: Duration) -> Instant {
        Instant(self.0.saturating_sub(millis(d)))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(millis(d)))
    }
}

/// Wall-clock time in milliseconds since the Unix epoch, as read by the driver for a probe round.
/// Compared against [`Instant`] only to detect clock jumps (TILT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WallTime(pub i64);

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A duration as people read it in reasons: seconds with one decimal ("6.0s").
pub(crate) fn secs(d: &Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}
