//! When netd may deliver each chunk of a proxied connection: latency, jitter, loss stalls and a
//! bandwidth cap, as pure arithmetic over instants (netd reads the clock, this never does).
use std::time::Duration;

use tokio::time::Instant;

use super::faults::PathFault;
use super::rng::SplitMix64;

/// How long a chunk "lost" on a path is held on top of its delay: TCP's minimum retransmission
/// timeout (RFC 6298 allows 1 s; Linux uses 200 ms), after which the segment and everything
/// behind it arrive.
pub const RETRANSMISSION_TIMEOUT: Duration = Duration::from_millis(200);

/// The sending side of a path's link in one direction, shared by every connection of the path:
/// when it is free to start serialising the next chunk under a bandwidth cap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Link {
    free_at: Option<Instant>,
}

/// One direction of one connection: draws its jitter and losses from its own seeded generator
/// and remembers when its previous chunk was due, so that bytes never overtake each other.
#[derive(Debug, Clone)]
pub struct Pacer {
    rng: SplitMix64,
    last_due: Option<Instant>,
}

impl Pacer {
    /// A pacer whose draws depend on `seed` alone.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: SplitMix64::new(seed),
            last_due: None,
        }
    }

    /// When a chunk of `len` bytes read at `now` may be written, under `fault`, through `link`:
    /// it first waits for the link (a capped path serialises `len * 8 / bandwidth_kbps` ms per
    /// chunk), then travels `latency_ms` plus a uniform draw in `[-jitter_ms, +jitter_ms]` (never
    /// below zero), plus [`RETRANSMISSION_TIMEOUT`] with probability `loss_pct`; and it is never
    /// due before the connection's previous chunk.
    pub fn due(&mut self, now: Instant, len: usize, fault: &PathFault, link: &mut Link) -> Instant {
        let bits = u64::try_from(len).unwrap_or(u64::MAX).saturating_mul(8);
        // kbps = bits per millisecond: bits * 1000 / kbps microseconds on the wire; no cap, no wire.
        let departs = match bits.saturating_mul(1000).checked_div(fault.bandwidth_kbps) {
            None => now,
            Some(wire_us) => {
                let start = link.free_at.map_or(now, |free| free.max(now));
                let departs = start + Duration::from_micros(wire_us);
                link.free_at = Some(departs);
                departs
            }
        };
        let latency_us = fault.latency_ms.saturating_mul(1000);
        let jitter_us = fault.jitter_ms.saturating_mul(1000);
        let delay_us = if jitter_us == 0 {
            latency_us
        } else {
            // A draw in 0..=2j, shifted to -j..=+j, clamped at no delay at all.
            (latency_us + self.rng.between(0, 2 * jitter_us)).saturating_sub(jitter_us)
        };
        let mut due = departs + Duration::from_micros(delay_us);
        if fault.loss_pct > 0 && self.rng.between(0, 99) < u64::from(fault.loss_pct) {
            due += RETRANSMISSION_TIMEOUT;
        }
        if let Some(last) = self.last_due {
            due = due.max(last);
        }
        self.last_due = Some(due);
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(latency_ms: u64, jitter_ms: u64) -> PathFault {
        PathFault {
            latency_ms,
            jitter_ms,
            ..PathFault::default()
        }
    }

    /// A pacer seeded with `seed` on a fresh link, and the instant its first chunk is read.
    fn start(seed: u64) -> (Instant, Pacer, Link) {
        (Instant::now(), Pacer::new(seed), Link::default())
    }

    /// A 45 ms path that loses `loss_pct` percent of its chunks.
    fn lossy(loss_pct: u8) -> PathFault {
        PathFault {
            loss_pct,
            ..fault(45, 0)
        }
    }

    #[test]
    fn a_healthy_path_delivers_at_once() {
        let (t0, mut p, mut link) = start(1);
        assert_eq!(p.due(t0, 1000, &PathFault::default(), &mut link), t0);
    }

    #[test]
    fn jitter_stays_within_its_bounds_and_does_vary() {
        let (t0, mut p, mut link) = start(7);
        let f = fault(45, 5);
        let mut delays = Vec::new();
        for i in 0..1000 {
            // One chunk a second: the order rule never binds, so each delay is the draw itself.
            let now = t0 + Duration::from_secs(i);
            delays.push(p.due(now, 100, &f, &mut link) - now);
        }
        let (min, max) = (delays.iter().min().unwrap(), delays.iter().max().unwrap());
        assert!(*min >= Duration::from_millis(40), "{min:?}");
        assert!(*max <= Duration::from_millis(50), "{max:?}");
        assert!(
            *min < Duration::from_millis(42),
            "jitter never went low: {min:?}"
        );
        assert!(
            *max > Duration::from_millis(48),
            "jitter never went high: {max:?}"
        );
    }

    #[test]
    fn jitter_larger_than_the_latency_never_schedules_a_chunk_in_the_past() {
        let (t0, mut p, mut link) = start(3);
        for i in 0..200 {
            let now = t0 + Duration::from_secs(i);
            assert!(p.due(now, 10, &fault(2, 10), &mut link) >= now);
        }
    }

    #[test]
    fn jitter_never_reorders_a_connections_chunks() {
        let (t0, mut p, mut link) = start(11);
        let f = fault(100, 15);
        let mut last = t0;
        for i in 0..1000 {
            // Chunks read 1 ms apart with +-15 ms of jitter: unordered draws are certain.
            let due = p.due(t0 + Duration::from_millis(i), 100, &f, &mut link);
            assert!(due >= last, "chunk {i} due before its predecessor");
            last = due;
        }
    }

    #[test]
    fn the_same_seed_draws_the_same_delays() {
        let t0 = Instant::now();
        let run = |seed| {
            let mut p = Pacer::new(seed);
            let mut link = Link::default();
            let f = PathFault {
                loss_pct: 10,
                ..fault(45, 5)
            };
            (0..50)
                .map(|i| p.due(t0 + Duration::from_secs(i), 10, &f, &mut link))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
    }

    #[test]
    fn a_lost_chunk_is_held_one_retransmission_timeout() {
        let t0 = Instant::now();
        let mut link = Link::default();
        let all = lossy(100);
        let mut p = Pacer::new(1);
        assert_eq!(
            p.due(t0, 10, &all, &mut link) - t0,
            Duration::from_millis(45) + RETRANSMISSION_TIMEOUT
        );
        let some = lossy(30);
        let mut p = Pacer::new(2);
        let held = (0..1000)
            .filter(|i| {
                let now = t0 + Duration::from_secs(*i);
                p.due(now, 10, &some, &mut link) - now > Duration::from_millis(45)
            })
            .count();
        assert!((200..400).contains(&held), "{held} of 1000 held at 30 %");
    }

    #[test]
    fn a_capped_link_paces_chunks_at_its_rate() {
        let t0 = Instant::now();
        let mut link = Link::default();
        let capped = PathFault {
            bandwidth_kbps: 100,
            ..fault(45, 0)
        };
        // Ten 1250-byte chunks read at once: 10 kbit each is 100 ms on a 100 kbps link.
        let mut p = Pacer::new(1);
        let dues: Vec<Duration> = (0..10)
            .map(|_| p.due(t0, 1250, &capped, &mut link) - t0)
            .collect();
        assert_eq!(dues[0], Duration::from_millis(145));
        assert_eq!(dues[9], Duration::from_millis(1045));
        // Another connection of the same path shares the link and queues behind them.
        let mut other = Pacer::new(2);
        assert_eq!(
            other.due(t0, 1250, &capped, &mut link) - t0,
            Duration::from_millis(1145)
        );
        // An idle link does not bank credit: a chunk read later starts at once.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(
            other.due(later, 1250, &capped, &mut link) - later,
            Duration::from_millis(145)
        );
    }
}
