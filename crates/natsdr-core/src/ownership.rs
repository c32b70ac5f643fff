//! The arbiter's ownership record: which region is active, under which epoch.
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::{Epoch, Region};

/// The record the arbiter holds. Who is active is never configuration: it is this record, observed.
/// It only changes by compare-and-swap to `(region, epoch + 1)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ownership {
    /// The region allowed to accept writes.
    pub region: Region,
    /// The fencing token of that ownership.
    pub epoch: Epoch,
}

impl Ownership {
    /// The record a successful claim by `region` writes over `self`.
    #[must_use]
    pub fn claimed_by(&self, region: &Region) -> Ownership {
        Ownership {
            region: region.clone(),
            epoch: self.epoch.next(),
        }
    }
}

impl fmt::Display for Ownership {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.region, self.epoch)
    }
}
