//! Time for the core: a monotonic axis that starts at zero, and wall time for TILT detection.
use crate::core::{Instant, WallTime};

/// The driver's clock. The core never reads a clock; every `now` it sees comes from here.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: tokio::time::Instant,
}

impl Clock {
    /// A clock whose zero is now.
    pub fn start() -> Self {
        Self {
            origin: tokio::time::Instant::now(),
        }
    }

    /// Milliseconds since the clock started (monotonic; follows tokio's paused time in tests).
    pub fn now(&self) -> Instant {
        Instant(u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    /// Unix time in milliseconds.
    pub fn wall(&self) -> WallTime {
        let ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        WallTime(i64::try_from(ms).unwrap_or(i64::MAX))
    }
}
