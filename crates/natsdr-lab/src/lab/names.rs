//! Names of the lab's regions, watchdog sites and fault-injectable network paths.
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A name that is not one of the lab's regions, sites or paths.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {name:?} (expected one of: {expected})")]
pub struct UnknownName {
    /// What kind of name was expected ("region", "site", "path").
    pub kind: &'static str,
    /// The refused input.
    pub name: String,
    /// The accepted spellings.
    pub expected: &'static str,
}

impl UnknownName {
    /// `name` refused as a `kind` of name, with the `expected` spellings.
    pub fn new(kind: &'static str, name: &str, expected: &'static str) -> Self {
        Self {
            kind,
            name: name.into(),
            expected,
        }
    }
}

/// A name with a fixed set of values (`ALL`): `Display` writes it as `$show` gives it, and
/// `FromStr` reads that or the `$alias` spelling, refusing anything else with the `$kind` of
/// name and the `$expected` spellings.
macro_rules! fixed_name {
    ($t:ty, $kind:literal, $show:ident $(| $alias:ident)?, $expected:literal) => {
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.$show())
            }
        }

        impl std::str::FromStr for $t {
            type Err = $crate::lab::names::UnknownName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .into_iter()
                    .find(|x| s == x.$show() $(|| s == x.$alias())?)
                    .ok_or_else(|| $crate::lab::names::UnknownName::new($kind, s, $expected))
            }
        }
    };
}
pub(crate) use fixed_name;

/// Serde reads and writes these names as the text `Display` writes and `FromStr` reads.
macro_rules! serde_as_text {
    ($($t:ty),*) => {$(
        impl TryFrom<String> for $t {
            type Error = UnknownName;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl From<$t> for String {
            fn from(x: $t) -> Self {
                x.to_string()
            }
        }
    )*};
}

serde_as_text!(LabRegion, Site, NetPath);

/// One of the lab's two regions, named after the reference topology's: `Us` holds the home
/// primary, `Eu` the home standby. A lab built from a config ([`crate::lab::LabSource`]) gives
/// them that file's names ([`crate::lab::LabManifest::region_name`]); paths and node targets
/// keep these short names (`client-us`, `wd:eu->us-east-1`) so fault scripts work on any lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum LabRegion {
    /// us-east-1, the home primary.
    Us,
    /// eu-central-1, the standby that mirrors the primary over leafnodes.
    Eu,
}

impl LabRegion {
    /// Both regions, primary first.
    pub const ALL: [Self; 2] = [Self::Us, Self::Eu];

    /// The region id, also its NATS cluster name and JetStream domain.
    pub fn name(self) -> &'static str {
        match self {
            Self::Us => "us-east-1",
            Self::Eu => "eu-central-1",
        }
    }

    /// The short form used in path names (`client-us`).
    pub fn short(self) -> &'static str {
        match self {
            Self::Us => "us",
            Self::Eu => "eu",
        }
    }

    /// The loopback address of the region's client entry point. Both regions use the same port,
    /// so the client-facing DNS record swaps a bare address, as behind production load balancers.
    pub fn entry_ip(self) -> Ipv4Addr {
        match self {
            Self::Us => Ipv4Addr::new(127, 1, 0, 1),
            Self::Eu => Ipv4Addr::new(127, 2, 0, 1),
        }
    }

    /// The watchdog site that lives in this region.
    pub fn site(self) -> Site {
        match self {
            Self::Us => Site::Us,
            Self::Eu => Site::Eu,
        }
    }
}

fixed_name!(
    LabRegion,
    "region",
    name | short,
    "us, eu, us-east-1, eu-central-1"
);

/// Where a watchdog runs: one per region plus a witness in a third place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Site {
    /// The watchdog in us-east-1.
    Us,
    /// The watchdog in eu-central-1.
    Eu,
    /// The witness: observes both regions and testifies, never acts.
    Witness,
}

impl Site {
    /// Every site, in a stable order.
    pub const ALL: [Self; 3] = [Self::Us, Self::Eu, Self::Witness];

    /// The short name used in path names and file names (`natsdr-us.toml`).
    pub fn short(self) -> &'static str {
        match self {
            Self::Us => "us",
            Self::Eu => "eu",
            Self::Witness => "witness",
        }
    }
}

fixed_name!(Site, "site", short, "us, eu, witness");

/// A network path the fault injector can cut or slow down. Every proxied connection belongs to
/// exactly one path, so "cut the link between the regions" and "cut the US watchdog from US" are
/// separate switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum NetPath {
    /// EU -> US leafnode traffic: the mirrors' only way to their sources. Written `leaf`.
    Leaf,
    /// A region's client entry point (`client-us`, `client-eu`).
    Client(LabRegion),
    /// A watchdog's connections to one region's nodes (`wd:us->eu-central-1`).
    Watchdog {
        /// The watchdog.
        from: Site,
        /// The region it probes.
        to: LabRegion,
    },
    /// One watchdog's HTTP requests to another's API (`peer:eu->witness`).
    Peer {
        /// The asking watchdog.
        from: Site,
        /// The answering watchdog.
        to: Site,
    },
}

impl NetPath {
    /// Every path of the lab, in a stable order.
    pub fn all() -> Vec<Self> {
        let mut paths = vec![
            Self::Leaf,
            Self::Client(LabRegion::Us),
            Self::Client(LabRegion::Eu),
        ];
        for from in Site::ALL {
            for to in LabRegion::ALL {
                paths.push(Self::Watchdog { from, to });
            }
        }
        for from in Site::ALL {
            for to in Site::ALL.into_iter().filter(|to| *to != from) {
                paths.push(Self::Peer { from, to });
            }
        }
        paths
    }
}

impl fmt::Display for NetPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Leaf => f.write_str("leaf"),
            Self::Client(r) => write!(f, "client-{}", r.short()),
            Self::Watchdog { from, to } => write!(f, "wd:{from}->{to}"),
            Self::Peer { from, to } => write!(f, "peer:{from}->{to}"),
        }
    }
}

/// The spellings of a path, named when one is refused.
const PATH_SPELLINGS: &str =
    "leaf, client-us, client-eu, wd:<us|eu|witness>-><region>, peer:<site>-><site>";

impl FromStr for NetPath {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownName::new("path", s, PATH_SPELLINGS);
        let pair = |rest: &str| {
            rest.split_once("->")
                .ok_or_else(unknown)
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
        };
        if s == "leaf" {
            Ok(Self::Leaf)
        } else if let Some(r) = s.strip_prefix("client-") {
            Ok(Self::Client(r.parse().map_err(|_| unknown())?))
        } else if let Some(rest) = s.strip_prefix("wd:") {
            let (from, to) = pair(rest)?;
            Ok(Self::Watchdog {
                from: from.parse().map_err(|_| unknown())?,
                to: to.parse().map_err(|_| unknown())?,
            })
        } else if let Some(rest) = s.strip_prefix("peer:") {
            let (from, to) = pair(rest)?;
            let (from, to): (Site, Site) = (
                from.parse().map_err(|_| unknown())?,
                to.parse().map_err(|_| unknown())?,
            );
            if from == to {
                return Err(unknown());
            }
            Ok(Self::Peer { from, to })
        } else {
            Err(unknown())
        }
    }
}

/// What `natsdr-lab lab kill|restart` acts on: one node (`us-east-1-0`, `us:0`) or every node of
/// a region (`us`, `eu-central-1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabTarget {
    /// Node `index` of a region.
    Node(LabRegion, usize),
    /// Every node of a region.
    Region(LabRegion),
}

impl fmt::Display for LabTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Node(r, i) => write!(f, "{r}-{i}"),
            Self::Region(r) => write!(f, "{r}"),
        }
    }
}

/// The spellings of a node or region, named when one is refused.
const TARGET_SPELLINGS: &str = "us, eu, us-east-1, eu-central-1, or a node: us-east-1-0..2, \
                                eu-central-1-0..2, us:0..2, eu:0..2";

impl FromStr for LabTarget {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownName::new("node or region", s, TARGET_SPELLINGS);
        if let Ok(region) = s.parse() {
            return Ok(Self::Region(region));
        }
        let (region, index) = s
            .split_once(':')
            .or_else(|| s.rsplit_once('-'))
            .ok_or_else(unknown)?;
        let region: LabRegion = region.parse().map_err(|_| unknown())?;
        let index: usize = index.parse().map_err(|_| unknown())?;
        if index >= crate::lab::NODES_PER_REGION {
            return Err(unknown());
        }
        Ok(Self::Node(region, index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_name_parses_back_to_the_same_path() {
        for path in NetPath::all() {
            assert_eq!(path.to_string().parse::<NetPath>(), Ok(path), "{path}");
        }
        assert_eq!(NetPath::all().len(), 3 + 6 + 6);
    }

    #[test]
    fn path_names_read_as_the_docs_write_them() {
        assert_eq!(
            NetPath::Watchdog {
                from: Site::Witness,
                to: LabRegion::Us
            }
            .to_string(),
            "wd:witness->us-east-1"
        );
        assert_eq!(
            "wd:eu->us".parse(),
            Ok(NetPath::Watchdog {
                from: Site::Eu,
                to: LabRegion::Us
            })
        );
        assert_eq!(NetPath::Client(LabRegion::Eu).to_string(), "client-eu");
        assert!("peer:us->us".parse::<NetPath>().is_err());
        assert!("cut-everything".parse::<NetPath>().is_err());
    }

    #[test]
    fn nodes_and_regions_are_named_either_way() {
        assert_eq!("us-east-1-0".parse(), Ok(LabTarget::Node(LabRegion::Us, 0)));
        assert_eq!("eu:2".parse(), Ok(LabTarget::Node(LabRegion::Eu, 2)));
        assert_eq!("us".parse(), Ok(LabTarget::Region(LabRegion::Us)));
        assert_eq!("eu-central-1".parse(), Ok(LabTarget::Region(LabRegion::Eu)));
        for bad in ["us:3", "us-east-1-9", "mars:0", "us-east-1-", "eu-", "0"] {
            let e = bad.parse::<LabTarget>().expect_err(bad);
            assert!(e.to_string().contains("us-east-1-0..2"), "{e}");
        }
        for t in [
            LabTarget::Node(LabRegion::Eu, 1),
            LabTarget::Region(LabRegion::Us),
        ] {
            assert_eq!(t.to_string().parse(), Ok(t));
        }
    }
}
