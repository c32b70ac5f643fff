//! Order statistics of a handful of runs: median and p95 by nearest rank, no interpolation.
use serde::Serialize;

/// What a set of measurements (milliseconds, KiB...) says: how many, and their order statistics.
/// Runs on small, noisy machines: the median and p95 are what the report states, never a mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// How many values.
    pub n: usize,
    /// The lower median (the middle value; of two middles, the lower).
    pub median: u64,
    /// The nearest-rank 95th percentile: the smallest value that at least 95% of the values
    /// do not exceed (with 10 runs, the largest).
    pub p95: u64,
    /// The smallest value.
    pub min: u64,
    /// The largest value.
    pub max: u64,
}

impl Summary {
    /// The summary of `values` (any order); `None` when there are none.
    pub fn of(values: &[u64]) -> Option<Self> {
        let mut v = values.to_vec();
        v.sort_unstable();
        let n = v.len();
        let (first, last) = (*v.first()?, *v.last()?);
        Some(Self {
            n,
            median: v[(n - 1) / 2],
            p95: v[nearest_rank(n, 95) - 1],
            min: first,
            max: last,
        })
    }
}

/// The 1-based nearest rank of percentile `p` among `n` sorted values: ceil(p/100 * n), at
/// least 1.
fn nearest_rank(n: usize, p: usize) -> usize {
    (p * n).div_ceil(100).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_values_have_no_summary() {
        assert_eq!(Summary::of(&[]), None);
    }

    #[test]
    fn one_value_is_its_own_median_and_p95() {
        let s = Summary::of(&[7]).unwrap();
        assert_eq!((s.n, s.median, s.p95, s.min, s.max), (1, 7, 7, 7, 7));
    }

    #[test]
    fn the_median_of_an_even_count_is_the_lower_middle() {
        assert_eq!(Summary::of(&[4, 1, 3, 2]).unwrap().median, 2);
    }

    #[test]
    fn the_p95_of_ten_runs_is_the_worst_and_of_twenty_the_second_worst() {
        let ten: Vec<u64> = (1..=10).rev().collect();
        assert_eq!(Summary::of(&ten).unwrap().p95, 10);
        let twenty: Vec<u64> = (1..=20).collect();
        assert_eq!(Summary::of(&twenty).unwrap().p95, 19);
    }
}
