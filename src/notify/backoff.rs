//! Exponential backoff between delivery attempts.
use std::time::Duration;

use super::NotifyError;

/// Doubling delays from `min` up to `max`. No jitter: each sink has a single sender (one
/// watchdog), so there is no herd to spread out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    min: Duration,
    max: Duration,
}

impl Backoff {
    /// Builds a backoff; refuses a zero `min` (a hot loop) and `min > max`.
    pub fn try_new(min: Duration, max: Duration) -> Result<Self, NotifyError> {
        if min.is_zero() {
            return Err(NotifyError::BadPolicy("backoff min must be above zero"));
        }
        if min > max {
            return Err(NotifyError::BadPolicy("backoff min must not exceed max"));
        }
        Ok(Self { min, max })
    }

    /// The wait before retry number `retry` (0 = the first retry): `min * 2^retry`, capped at `max`.
    pub fn delay(&self, retry: u32) -> Duration {
        self.min
            .checked_mul(2u32.saturating_pow(retry))
            .map_or(self.max, |d| d.min(self.max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_from_min_and_stop_growing_at_max() {
        let b = Backoff::try_new(Duration::from_millis(100), Duration::from_secs(1)).unwrap();
        let got: Vec<_> = (0..6).map(|r| b.delay(r).as_millis()).collect();
        assert_eq!(got, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn a_backoff_refuses_zero_min_and_min_above_max() {
        assert!(Backoff::try_new(Duration::ZERO, Duration::from_secs(1)).is_err());
        assert!(Backoff::try_new(Duration::from_secs(2), Duration::from_secs(1)).is_err());
    }
}
