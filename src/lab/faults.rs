//! The fault table shared by the lab controller (writer) and netd (reader): `DIR/faults.json`
//! holds the wanted faults under a generation number; netd writes the generation it has put in
//! force to `DIR/netd.ack`, so a controller's `cut()` returns only once traffic really stops.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::names::NetPath;

/// The wanted faults, by path. Paths not listed are healthy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Faults {
    /// Bumped by every change; netd acknowledges the generation it applied.
    pub generation: u64,
    /// Faults per path; a path absent here forwards normally.
    pub paths: BTreeMap<NetPath, PathFault>,
}

/// What is wrong with one path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathFault {
    /// Blackholed: nothing is forwarded in either direction and nothing is closed (no RST, no
    /// FIN), as in a real partition. New connections are accepted and then hang.
    pub cut: bool,
    /// Added one-way delay per chunk of data, in milliseconds.
    pub latency_ms: u64,
}

impl PathFault {
    /// The added one-way delay.
    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms)
    }

    /// True when the path behaves normally.
    pub fn is_healthy(&self) -> bool {
        *self == Self::default()
    }
}

/// Why the fault table could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FaultsError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying failure.
        #[source]
        source: std::io::Error,
    },
    /// The file holds something else than a fault table.
    #[error("{path} is not a fault table: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What serde refused.
        #[source]
        source: serde_json::Error,
    },
}

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
    pub fn load(dir: &Path) -> Result<Self, FaultsError> {
        let path = Self::path(dir);
        match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| FaultsError::Parse { path, source })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(FaultsError::Io { path, source }),
        }
    }

    /// Writes the fault table atomically.
    pub fn save(&self, dir: &Path) -> Result<(), FaultsError> {
        let path = Self::path(dir);
        let bytes = serde_json::to_vec_pretty(self).map_err(|source| FaultsError::Parse {
            path: path.clone(),
            source,
        })?;
        super::process::write_atomic(&path, &bytes)
            .map_err(|source| FaultsError::Io { path, source })
    }

    /// The fault on `path` (healthy if none).
    pub fn get(&self, path: NetPath) -> PathFault {
        self.paths.get(&path).copied().unwrap_or_default()
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
    pub fn acknowledge(dir: &Path, generation: u64) -> Result<(), FaultsError> {
        let path = Self::ack_path(dir);
        super::process::write_atomic(&path, generation.to_string().as_bytes())
            .map_err(|source| FaultsError::Io { path, source })
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
                latency_ms: 0,
            },
        );
        f.set(
            NetPath::Client(LabRegion::Us),
            PathFault {
                cut: false,
                latency_ms: 50,
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
            },
        );
        f.save(dir.path()).expect("save");
        assert_eq!(Faults::load(dir.path()).expect("load"), f);
        assert_eq!(Faults::acknowledged(dir.path()), None);
        Faults::acknowledge(dir.path(), 7).expect("ack");
        assert_eq!(Faults::acknowledged(dir.path()), Some(7));
    }
}
