//! Network profiles: the latency the lab puts between places that are far apart in a real
//! deployment, as a baseline under the faults.

use serde::{Deserialize, Serialize};

use super::faults::PathFault;
use super::names::{NetPath, fixed_name};

/// How far apart the lab's regions (and the witness, in a third place) are. Applies to every
/// path that crosses between places: the leafnode, each watchdog's connections to the region it
/// is not in (both regions for the witness), and every watchdog-to-watchdog link. Not to a
/// watchdog's own region, and not to the client entry points: the load generator sits beside the
/// primary.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum WanProfile {
    /// Everything on one LAN: no added delay (the lab as it always was).
    #[default]
    Lan,
    /// us-east-1 to eu-central-1: 45 ms each way (about 90 ms round trip), +-5 ms jitter.
    Transatlantic,
    /// Farther apart than any region pair of the reference topologies: 100 ms each way, +-15 ms jitter.
    Far,
}

impl WanProfile {
    /// Every profile, nearest first.
    pub const ALL: [Self; 3] = [Self::Lan, Self::Transatlantic, Self::Far];

    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Lan => "lan",
            Self::Transatlantic => "transatlantic",
            Self::Far => "far",
        }
    }

    /// What every cross-place path carries: its one-way delay and jitter.
    pub fn cross_place(self) -> PathFault {
        let (latency_ms, jitter_ms) = match self {
            Self::Lan => (0, 0),
            Self::Transatlantic => (45, 5),
            Self::Far => (100, 15),
        };
        PathFault {
            latency_ms,
            jitter_ms,
            ..PathFault::default()
        }
    }

    /// The baseline of `path` under this profile: [`Self::cross_place`] on paths between
    /// places, nothing on the others.
    pub fn baseline(self, path: NetPath) -> PathFault {
        if crosses_places(path) {
            self.cross_place()
        } else {
            PathFault::default()
        }
    }
}

/// True for a path between two places: the leafnode, a watchdog's view of a region it does not
/// live in (the witness lives in neither), any watchdog-to-watchdog link. False for a watchdog's
/// own region and the client entry points.
pub fn crosses_places(path: NetPath) -> bool {
    match path {
        NetPath::Leaf | NetPath::Peer { .. } => true,
        NetPath::Client(_) => false,
        NetPath::Watchdog { from, to } => from != to.site(),
    }
}

fixed_name!(
    WanProfile,
    "network profile",
    name,
    "lan, transatlantic, far"
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::names::{LabRegion, Site};

    #[test]
    fn a_profile_slows_every_path_between_places_and_no_other() {
        let slowed: Vec<String> = NetPath::all()
            .into_iter()
            .filter(|p| !WanProfile::Transatlantic.baseline(*p).is_healthy())
            .map(|p| p.to_string())
            .collect();
        assert_eq!(
            slowed,
            [
                "leaf",
                "wd:us->eu-central-1",
                "wd:eu->us-east-1",
                "wd:witness->us-east-1",
                "wd:witness->eu-central-1",
                "peer:us->eu",
                "peer:us->witness",
                "peer:eu->us",
                "peer:eu->witness",
                "peer:witness->us",
                "peer:witness->eu",
            ]
        );
        let own = NetPath::Watchdog {
            from: Site::Us,
            to: LabRegion::Us,
        };
        assert!(WanProfile::Far.baseline(own).is_healthy());
        assert!(
            WanProfile::Far
                .baseline(NetPath::Client(LabRegion::Us))
                .is_healthy()
        );
        assert!(
            NetPath::all()
                .into_iter()
                .all(|p| WanProfile::Lan.baseline(p).is_healthy())
        );
    }

    #[test]
    fn profiles_carry_the_seeds_geography() {
        let t = WanProfile::Transatlantic.baseline(NetPath::Leaf);
        assert_eq!((t.latency_ms, t.jitter_ms), (45, 5));
        let f = WanProfile::Far.baseline(NetPath::Leaf);
        assert_eq!((f.latency_ms, f.jitter_ms), (100, 15));
    }

    #[test]
    fn profile_names_parse_back_and_unknown_ones_list_the_valid_names() {
        for p in WanProfile::ALL {
            assert_eq!(p.name().parse(), Ok(p));
            assert_eq!(
                serde_json::to_string(&p).expect("serialises"),
                format!("\"{p}\"")
            );
        }
        let e = "moon".parse::<WanProfile>().expect_err("unknown");
        assert!(e.to_string().contains("lan, transatlantic, far"), "{e}");
    }
}
