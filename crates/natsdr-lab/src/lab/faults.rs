//! The fault table shared by the lab controller (writer) and netd (reader): `DIR/faults.json`
//! holds the wanted faults under a generation number; netd writes the generation it has put in
//! force to `DIR/netd.ack`, so a controller's `cut()` returns only once traffic really stops.
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::json_file::{self, JsonFileError};
use super::names::NetPath;
use super::wan::WanProfile;

/// The wanted faults, by path, on top of the lab's network profile. Paths not listed carry
/// their profile baseline only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Faults {
    /// Bumped by every change; netd acknowledges the generation it applied.
    pub generation: u64,
    /// The network profile chosen at `lab up`: every cross-place path's baseline.
    #[serde(default)]
    pub wan: WanProfile,
    /// Faults per path, added to the baseline; a path absent here carries its baseline only.
    pub paths: BTreeMap<NetPath, PathFault>,
}

/// What is wrong with one path. Every field defaults to "healthy", so a table written before a
/// field existed still reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PathFault {
    /// Blackholed: nothing is forwarded in either direction and nothing is closed (no RST, no
    /// FIN), as in a real partition. New connections are accepted and then hang.
    pub cut: bool,
    /// Added one-way delay per chunk of data, in milliseconds.
    pub latency_ms: u64,
    /// Each chunk's delay varies uniformly within `latency_ms` +- this many milliseconds (never
    /// reordering a connection's bytes: TCP delivers in order, so a late chunk holds back the
    /// ones behind it).
    pub jitter_ms: u64,
    /// Percent of chunks (0..=100) held one extra retransmission timeout, as TCP does after a
    /// lost segment: a loss on a TCP path is a stall, not a gap.
    pub loss_pct: u8,
    /// A bandwidth cap in kilobits per second (0: none): chunks are paced through a link shared
    /// by every connection of the path, as a leafnode's mirrors share one WAN link.
    pub bandwidth_kbps: u64,
}

impl PathFault {
    /// True when the path behaves normally.
    pub fn is_healthy(&self) -> bool {
        *self == Self::default()
    }

    /// This fault added on top of `baseline` (a network profile's latency, say): delays and
    /// jitter add up, losses add up (at most 100 %), the tighter bandwidth cap wins, and a cut
    /// in either cuts.
    pub fn on_top_of(self, baseline: Self) -> Self {
        let cap = match (self.bandwidth_kbps, baseline.bandwidth_kbps) {
            (0, b) | (b, 0) => b,
            (a, b) => a.min(b),
        };
        Self {
            cut: self.cut || baseline.cut,
            latency_ms: self.latency_ms.saturating_add(baseline.latency_ms),
            jitter_ms: self.jitter_ms.saturating_add(baseline.jitter_ms),
            loss_pct: self.loss_pct.saturating_add(baseline.loss_pct).min(100),
            bandwidth_kbps: cap,
        }
    }
}

impl fmt::Display for PathFault {
    /// `cut`, `+45ms +-5ms`, `2% loss`, `512 kbps`, joined by commas; `none` when healthy.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if self.cut {
            parts.push("cut".to_owned());
        }
        match (self.latency_ms, self.jitter_ms) {
            (0, 0) => {}
            (ms, 0) => parts.push(format!("+{ms}ms")),
            (ms, j) => parts.push(format!("+{ms}ms +-{j}ms")),
        }
        if self.loss_pct > 0 {
            parts.push(format!("{}% loss", self.loss_pct));
        }
        if self.bandwidth_kbps > 0 {
            parts.push(format!("{} kbps", self.bandwidth_kbps));
        }
        if parts.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// What the fault table is called when it cannot be read.
const WHAT: &str = "fault table";

impl Faults {
    /// `DIR/faults.json`.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("faults.json")
    }

    /// `DIR/netd.ack`: the last generation netd put in force.
    pub fn ack_path(dir: &Path) -> PathBuf {
        dir.join("netd.ack")
    }

    /// Reads the fault table; a missing file means no faults (generation 0).
    pub fn load(dir: &Path) -> Result<Self, JsonFileError> {
        match json_file::read(Self::path(dir), WHAT) {
            Err(e) if e.is_missing() => Ok(Self::default()),
            read => read,
        }
    }

    /// Writes the fault table atomically.
    pub fn save(&self, dir: &Path) -> Result<(), JsonFileError> {
        json_file::write(Self::path(dir), WHAT, self)
    }

    /// The fault on `path` (healthy if none), without the baseline.
    pub fn get(&self, path: NetPath) -> PathFault {
        self.paths.get(&path).copied().unwrap_or_default()
    }

    /// What netd puts in force on `path`: its fault on top of its profile baseline.
    pub fn effective(&self, path: NetPath) -> PathFault {
        self.get(path).on_top_of(self.wan.baseline(path))
    }

    /// Sets the fault on `path`, dropping healthy entries so the file lists only what is wrong.
    pub fn set(&mut self, path: NetPath, fault: PathFault) {
        if fault.is_healthy() {
            self.paths.remove(&path);
        } else {
            self.paths.insert(path, fault);
        }
    }

    /// The generation netd last acknowledged, if it has acknowledged any.
    pub fn acknowledged(dir: &Path) -> Option<u64> {
        std::fs::read_to_string(Self::ack_path(dir))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Records that netd put `generation` in force.
    pub fn acknowledge(dir: &Path, generation: u64) -> Result<(), JsonFileError> {
        let path = Self::ack_path(dir);
        super::process::write_atomic(&path, generation.to_string().as_bytes())
            .map_err(|source| JsonFileError::Io { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::names::LabRegion;

    #[test]
    fn healing_a_path_removes_it_from_the_table() {
        let mut f = Faults::default();
        f.set(
            NetPath::Leaf,
            PathFault {
                cut: true,
                ..PathFault::default()
            },
        );
        f.set(
            NetPath::Client(LabRegion::Us),
            PathFault {
                latency_ms: 50,
                ..PathFault::default()
            },
        );
        assert!(f.get(NetPath::Leaf).cut);
        f.set(NetPath::Leaf, PathFault::default());
        assert_eq!(
            f.paths.keys().copied().collect::<Vec<_>>(),
            vec![NetPath::Client(LabRegion::Us)]
        );
    }

    #[test]
    fn the_table_round_trips_through_its_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(
            Faults::load(dir.path()).expect("missing file is empty"),
            Faults::default()
        );
        let mut f = Faults {
            generation: 7,
            ..Faults::default()
        };
        f.set(
            NetPath::Leaf,
            PathFault {
                cut: true,
                latency_ms: 20,
                jitter_ms: 3,
                loss_pct: 1,
                bandwidth_kbps: 800,
            },
        );
        f.save(dir.path()).expect("save");
        assert_eq!(Faults::load(dir.path()).expect("load"), f);
        assert_eq!(Faults::acknowledged(dir.path()), None);
        Faults::acknowledge(dir.path(), 7).expect("ack");
        assert_eq!(Faults::acknowledged(dir.path()), Some(7));
    }

    #[test]
    fn a_table_written_before_jitter_loss_and_bandwidth_existed_still_reads() {
        let old = r#"{"generation": 3, "paths": {"leaf": {"cut": true, "latency_ms": 5}}}"#;
        let f: Faults = serde_json::from_str(old).expect("old table");
        assert_eq!(
            f.get(NetPath::Leaf),
            PathFault {
                cut: true,
                latency_ms: 5,
                ..PathFault::default()
            }
        );
    }

    #[test]
    fn healing_returns_a_path_to_its_profile_baseline_not_to_zero() {
        let mut f = Faults {
            wan: WanProfile::Transatlantic,
            ..Faults::default()
        };
        let slow = PathFault {
            latency_ms: 300,
            ..PathFault::default()
        };
        f.set(NetPath::Leaf, slow);
        assert_eq!(f.effective(NetPath::Leaf).latency_ms, 345);
        f.set(NetPath::Leaf, PathFault::default());
        assert_eq!(
            f.effective(NetPath::Leaf),
            WanProfile::Transatlantic.cross_place()
        );
        assert!(f.effective(NetPath::Client(LabRegion::Us)).is_healthy());
    }

    #[test]
    fn a_fault_adds_to_its_baseline() {
        let shaped = |latency_ms, jitter_ms, loss_pct, bandwidth_kbps| PathFault {
            latency_ms,
            jitter_ms,
            loss_pct,
            bandwidth_kbps,
            ..PathFault::default()
        };
        let baseline = shaped(45, 5, 60, 1000);
        let fault = shaped(100, 10, 60, 500);
        assert_eq!(
            fault.on_top_of(baseline),
            PathFault {
                cut: false,
                latency_ms: 145,
                jitter_ms: 15,
                loss_pct: 100,
                bandwidth_kbps: 500,
            }
        );
        assert_eq!(PathFault::default().on_top_of(baseline), baseline);
        assert!(
            PathFault {
                cut: true,
                ..PathFault::default()
            }
            .on_top_of(baseline)
            .cut
        );
        assert_eq!(baseline.to_string(), "+45ms +-5ms, 60% loss, 1000 kbps");
        assert_eq!(PathFault::default().to_string(), "none");
    }
}
