//! Human units in config: durations ("500ms", "7d") and sizes ("10GiB", "50GB").
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A duration or size as written in the config: text, or a bare number (refused for durations,
/// bytes for sizes). Environment overrides arrive as numbers when they look like one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Quantity {
    /// A bare number.
    Number(u64),
    /// Text with a unit.
    Text(String),
}

impl From<&str> for Quantity {
    fn from(s: &str) -> Self {
        Self::Text(s.to_owned())
    }
}

/// The longest duration any setting accepts: nothing natsdr times (a probe, a lease, a backup
/// schedule, a retention) is sensibly longer, and a typo's "100000000000000d" overflows the
/// clocks it is added to.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

/// Parses a humantime duration of at most [`MAX_DURATION`]. A bare number is refused: "3" could
/// mean seconds or milliseconds.
pub fn duration(q: &Quantity) -> Result<Duration, String> {
    match q {
        Quantity::Number(n) => Err(format!("{n} has no unit: write e.g. \"{n}s\" or \"{n}ms\"")),
        Quantity::Text(s) => {
            let d = humantime::parse_duration(s.trim())
                .map_err(|e| format!("invalid duration {s:?}: {e}"))?;
            if d > MAX_DURATION {
                return Err(format!("{s:?} is longer than the maximum, 366d"));
            }
            Ok(d)
        }
    }
}

/// Parses a size in bytes: a bare number, or a number with KiB/MiB/GiB/TiB (powers of 2) or
/// KB/MB/GB/TB (powers of 10), or B.
pub fn size(q: &Quantity) -> Result<u64, String> {
    let s = match q {
        Quantity::Number(n) => return Ok(*n),
        Quantity::Text(s) => s.trim(),
    };
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| {
        format!("invalid size {s:?}: expected a whole number and a unit, e.g. \"10GiB\"")
    })?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        other => {
            return Err(format!(
                "invalid size {s:?}: unknown unit {other:?} (use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("invalid size {s:?}: too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts that `parsed` was refused with a message saying `why`.
    fn assert_refused<T: std::fmt::Debug>(parsed: Result<T, String>, why: &str) {
        let e = parsed.unwrap_err();
        assert!(e.contains(why), "{e}");
    }

    #[test]
    fn durations_are_bounded_by_a_year_and_a_day() {
        assert_eq!(duration(&"366d".into()), Ok(MAX_DURATION));
        assert_refused(duration(&"367d".into()), "longer than the maximum");
        assert!(duration(&"100000000000000d".into()).is_err());
    }

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(duration(&"500ms".into()), Ok(Duration::from_millis(500)));
        assert_eq!(duration(&"7d".into()), Ok(Duration::from_secs(7 * 86_400)));
        assert_refused(duration(&Quantity::Number(3)), "no unit");
        assert_refused(duration(&"5 parsecs".into()), "invalid duration");
    }

    #[test]
    fn sizes_distinguish_binary_and_decimal_units() {
        assert_eq!(size(&"10GiB".into()), Ok(10 * (1 << 30)));
        assert_eq!(size(&"50GB".into()), Ok(50_000_000_000));
        assert_eq!(size(&Quantity::Number(42)), Ok(42));
        assert_refused(size(&"10 furlongs".into()), "unknown unit");
        assert_refused(size(&"99999999999TiB".into()), "too large");
    }
}
