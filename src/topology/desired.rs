//! The desired topology: the config's streams, mirrors and KV buckets plus each region's domain.
use crate::{
    config::{Config, KvSpec, MirrorSpec, StreamSpec},
    model::Region,
};

/// A region and its JetStream domain (needed for cross-domain mirrors' `external.api`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionDomain {
    /// The region.
    pub region: Region,
    /// Its JetStream domain.
    pub domain: String,
}

/// Everything natsdr manages, as checked config types. Built from a [`Config`], or by hand in
/// tests (then [`super::expected`] re-checks the cross-references the config would have).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    /// Regions with their JetStream domains.
    pub regions: Vec<RegionDomain>,
    /// Streams that take writes in their region (including GDPR-only ones).
    pub streams: Vec<StreamSpec>,
    /// Mirrors of those streams in the other region (limits already resolved against the source).
    pub mirrors: Vec<MirrorSpec>,
    /// KV buckets, each optionally mirrored under the same bucket name.
    pub kv: Vec<KvSpec>,
}

impl From<&Config> for Desired {
    fn from(config: &Config) -> Self {
        Self {
            regions: config
                .regions
                .iter()
                .map(|r| RegionDomain {
                    region: r.name.clone(),
                    domain: r.domain.clone(),
                })
                .collect(),
            streams: config.streams.clone(),
            mirrors: config.mirrors.clone(),
            kv: config.kv.clone(),
        }
    }
}
