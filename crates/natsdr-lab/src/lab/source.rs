//! A lab built from an operator's natsdr config: its two regions (names, domains, cluster
//! sizes), its policy and its topology (streams, mirrors, KV buckets), with the lab's own
//! endpoints, DNS zone and secrets in place of the file's addresses.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The most nodes a lab region runs, whatever the file's `cluster_size`: three survive the loss
/// of one, which is all the lab's scenarios need, and six servers fit a laptop.
pub const MAX_NODES: usize = 3;
/// The largest `max_bytes` a lab stream or bucket keeps: every server's `max_file_store`
/// (4 GB) must hold every stream's reservation times its replicas.
pub const LAB_MAX_BYTES: u64 = 64 << 20;

/// Sections of the file the lab keeps as written (policy and topology). The others describe
/// where things live in production (watchdog identity, API, peers, DNS, regions' addresses,
/// notification receivers, backup stores) and are the lab's own.
const KEPT: [&str; 7] = [
    "timing",
    "rpo",
    "streams",
    "mirrors",
    "kv",
    "failback",
    "consumers",
];

/// Why a config file cannot be the source of a lab.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying failure.
        #[source]
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the TOML parser refused.
        #[source]
        source: toml::de::Error,
    },
    /// The file does not have the shape natsdr requires (`natsdr check-config` says more).
    #[error("{path}: {key}: {why}")]
    Shape {
        /// The file.
        path: PathBuf,
        /// The key at fault.
        key: String,
        /// What is wrong with it.
        why: String,
    },
}

/// One region of the source file, as the lab runs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRegion {
    /// The region's name: its NATS cluster name and what the watchdogs call it.
    pub name: String,
    /// Its JetStream domain.
    pub domain: String,
    /// Nodes the lab starts: the file's `cluster_size`, at most [`MAX_NODES`].
    pub nodes: usize,
}

/// What a lab takes from an operator's config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabSource {
    /// The file (absolute).
    pub file: PathBuf,
    /// The home primary, then the home standby.
    pub regions: [SourceRegion; 2],
    /// The kept sections ([`KEPT`]), as TOML, sizes scaled down to the lab's.
    pub kept: String,
    /// What the lab changed in the kept sections and why, one line each (shown by `lab up`).
    pub adjustments: Vec<String>,
}

impl LabSource {
    /// Reads `path` and keeps what a lab can run of it.
    pub fn load(path: &Path) -> Result<Self, SourceError> {
        let file = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        let text = std::fs::read_to_string(path).map_err(|source| SourceError::Read {
            path: file.clone(),
            source,
        })?;
        Self::parse(&file, &text)
    }

    /// [`LabSource::load`] of text already read from `file`.
    pub fn parse(file: &Path, text: &str) -> Result<Self, SourceError> {
        let shape = |key: &str, why: &str| SourceError::Shape {
            path: file.to_owned(),
            key: key.to_owned(),
            why: why.to_owned(),
        };
        let table: toml::Table = text.parse().map_err(|source| SourceError::Parse {
            path: file.to_owned(),
            source,
        })?;
        let regions = table
            .get("regions")
            .and_then(toml::Value::as_array)
            .ok_or_else(|| shape("regions", "two [[regions]] are required"))?;
        let region = |home: &str| -> Result<SourceRegion, SourceError> {
            let r = regions
                .iter()
                .filter_map(toml::Value::as_table)
                .find(|r| r.get("home").and_then(toml::Value::as_str) == Some(home))
                .ok_or_else(|| shape("regions.home", &format!("no region has home = {home:?}")))?;
            let name = r
                .get("name")
                .and_then(toml::Value::as_str)
                .ok_or_else(|| shape("regions.name", "missing"))?
                .to_owned();
            let domain = r
                .get("domain")
                .and_then(toml::Value::as_str)
                .map_or_else(|| name.clone(), str::to_owned);
            let size = r
                .get("cluster_size")
                .and_then(toml::Value::as_integer)
                .unwrap_or(3);
            let nodes = usize::try_from(size)
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| shape("regions.cluster_size", "must be at least 1"))?;
            Ok(SourceRegion {
                name,
                domain,
                nodes: nodes.min(MAX_NODES),
            })
        };
        let regions = [region("primary")?, region("standby")?];
        let mut adjustments = Vec::new();
        for r in &regions {
            adjustments.push(format!(
                "region {}: {} node(s), domain {}",
                r.name, r.nodes, r.domain
            ));
        }
        let mut kept = toml::Table::new();
        for key in KEPT {
            if let Some(v) = table.get(key) {
                kept.insert(key.to_owned(), v.clone());
            }
        }
        for (section, label) in [("streams", "name"), ("kv", "bucket")] {
            let Some(items) = kept.get_mut(section).and_then(toml::Value::as_array_mut) else {
                continue;
            };
            for item in items.iter_mut().filter_map(toml::Value::as_table_mut) {
                let name = item
                    .get(label)
                    .and_then(toml::Value::as_str)
                    .unwrap_or("?")
                    .to_owned();
                if let Some(note) = scale_max_bytes(item, section, &name) {
                    adjustments.push(note);
                }
            }
        }
        let kept = toml::to_string(&kept).map_err(|e| shape("(file)", &e.to_string()))?;
        Ok(Self {
            file: file.to_owned(),
            regions,
            kept,
            adjustments,
        })
    }

    /// The kept sections, parsed back.
    pub fn kept_table(&self) -> toml::Table {
        // NB: `kept` was written by `toml::to_string` from a table, so it parses.
        self.kept.parse().unwrap_or_default()
    }
}

/// Caps a stream's or bucket's `max_bytes` at [`LAB_MAX_BYTES`]; says so when it did.
fn scale_max_bytes(item: &mut toml::Table, section: &str, name: &str) -> Option<String> {
    let written = item.get("max_bytes")?;
    let q = match written {
        toml::Value::String(s) => natsdr::config::units::Quantity::Text(s.clone()),
        toml::Value::Integer(n) => natsdr::config::units::Quantity::Number(u64::try_from(*n).ok()?),
        _ => return None,
    };
    let bytes = natsdr::config::units::size(&q).ok()?;
    if bytes <= LAB_MAX_BYTES {
        return None;
    }
    let was = written.to_string();
    item.insert("max_bytes".into(), toml::Value::String("64MiB".into()));
    Some(format!(
        "{section} {name}: max_bytes {was} -> \"64MiB\" (each lab server stores at most 4 GB)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blue_green() -> LabSource {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../config/blue-green.example.toml"
        ));
        LabSource::load(path).expect("the blue/green example is a lab source")
    }

    #[test]
    fn the_blue_green_example_gives_blue_as_primary_and_green_as_standby_with_three_nodes_each() {
        let s = blue_green();
        assert_eq!(s.regions[0].name, "blue");
        assert_eq!(s.regions[0].domain, "blue");
        assert_eq!(s.regions[1].name, "green");
        assert_eq!(s.regions[1].nodes, 3);
    }

    #[test]
    fn sizes_beyond_the_labs_disk_are_scaled_down_and_said_so() {
        let s = blue_green();
        let kept = s.kept_table();
        let streams = kept["streams"].as_array().expect("streams");
        for st in streams {
            assert_eq!(st["max_bytes"].as_str(), Some("64MiB"), "{st}");
        }
        assert!(
            s.adjustments
                .iter()
                .any(|a| a.contains("events_v1") && a.contains("100GiB")),
            "{:?}",
            s.adjustments
        );
        assert_eq!(kept["kv"].as_array().map(Vec::len), Some(3));
        assert_eq!(kept["mirrors"].as_array().map(Vec::len), Some(3));
    }

    #[test]
    fn production_addresses_are_not_kept_but_policy_is() {
        let s = blue_green();
        let kept = s.kept_table();
        for gone in ["watchdog", "api", "peers", "dns", "regions"] {
            assert!(!kept.contains_key(gone), "{gone}");
        }
        assert_eq!(kept["rpo"]["max_lag_messages"].as_integer(), Some(10000));
    }

    #[test]
    fn a_file_without_a_standby_region_is_refused_naming_the_key() {
        let e = LabSource::parse(
            Path::new("x.toml"),
            "[[regions]]\nname = \"a\"\nhome = \"primary\"\n",
        )
        .expect_err("no standby");
        assert!(e.to_string().contains("regions.home"), "{e}");
    }

    #[test]
    fn a_cluster_larger_than_the_lab_runs_three_nodes() {
        let s = LabSource::parse(
            Path::new("x.toml"),
            "[[regions]]\nname = \"a\"\nhome = \"primary\"\ncluster_size = 5\n\
             [[regions]]\nname = \"b\"\nhome = \"standby\"\ncluster_size = 1\n",
        )
        .expect("parses");
        assert_eq!(s.regions[0].nodes, 3);
        assert_eq!(s.regions[1].nodes, 1);
        assert_eq!(s.regions[1].domain, "b");
    }
}
