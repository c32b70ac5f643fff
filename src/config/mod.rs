//! Configuration: figment reads TOML plus `NATSDR_<SECTION>__<KEY>` overrides into a raw form;
//! `Config::try_from` checks every rule once and yields typed values.
mod error;
mod overlap;
mod policy;
pub mod raw;
mod region;
mod secret;
mod settings;
mod spec;
pub mod units;
mod validate;

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Serialize;

pub use error::ConfigError;
pub use policy::policy_params;
pub use raw::RawConfig;
pub use region::{Auth, EntryPoint, Home, RegionConfig, Tls};
pub use secret::{Secret, SecretError, SecretRef};
pub use settings::{
    Api, ApiLimits, ApiTls, Backup, BackupFrom, BackupItem, BackupTarget, Consumers, Dns,
    DnsProvider, Failback, Notify, PagerDutyConfig, PeerTls, Peers, Rfc2136Server, Role,
    Route53Settings, RpoBudget, TailPolicy, Timing, TwoSite, Watchdog, WebhookConfig,
};
pub use spec::{Discard, KvSpec, Limits, MirrorSpec, Retention, Storage, StreamSpec};

use crate::model::{Region, StreamName};

/// A checked configuration. Holding one means every rule in `validate` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Config {
    /// Who this process is.
    pub watchdog: Watchdog,
    /// Probe and failover timing.
    pub timing: Timing,
    /// The data-loss guard.
    pub rpo: RpoBudget,
    /// The HTTP API.
    pub api: Api,
    /// Other vantage points.
    pub peers: Peers,
    /// The arbiter and client-facing record; required to act.
    pub dns: Option<Dns>,
    /// The home primary, then the home standby.
    pub regions: [RegionConfig; 2],
    /// Streams that take writes in their region.
    pub streams: Vec<StreamSpec>,
    /// Mirrors of those streams in the other region.
    pub mirrors: Vec<MirrorSpec>,
    /// KV buckets.
    pub kv: Vec<KvSpec>,
    /// Where transitions are paged and posted.
    pub notify: Notify,
    /// What a failback does with the divergent tail, and how long it waits.
    pub failback: Failback,
    /// Which durable consumers follow their streams across a move.
    pub consumers: Consumers,
    /// Backups (`[backup]`); None: natsdr takes none.
    pub backup: Option<Backup>,
}

impl Config {
    /// Reads `path`, merges environment overrides, and checks every rule.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::try_from(load_raw(path)?)
    }

    /// The home primary region.
    pub fn primary(&self) -> &RegionConfig {
        &self.regions[0]
    }

    /// The home standby region.
    pub fn standby(&self) -> &RegionConfig {
        &self.regions[1]
    }

    /// A region by id.
    pub fn region(&self, name: &Region) -> Option<&RegionConfig> {
        self.regions.iter().find(|r| &r.name == name)
    }

    /// The other region than `name`.
    pub fn other_region(&self, name: &Region) -> Option<&RegionConfig> {
        self.regions.iter().find(|r| &r.name != name)
    }

    /// A configured stream by name and region.
    pub fn stream(&self, region: &Region, name: &StreamName) -> Option<&StreamSpec> {
        self.streams
            .iter()
            .find(|s| &s.region == region && &s.name == name)
    }
}

/// Reads `path` and merges environment overrides, without checking rules. Only variables with
/// a double underscore (`NATSDR_TIMING__PROBE_INTERVAL`) are overrides: single-underscore
/// `NATSDR_*` variables belong to the command line (`NATSDR_CONFIG`, `NATSDR_API_URL`...).
pub fn load_raw(path: &Path) -> Result<RawConfig, ConfigError> {
    if let Err(source) = std::fs::metadata(path) {
        return Err(ConfigError::Read {
            path: path.to_owned(),
            source,
        });
    }
    let env = Env::prefixed("NATSDR_")
        .filter(|k| k.as_str().contains("__"))
        .split("__");
    Ok(Figment::new()
        .merge(Toml::file(path))
        .merge(env)
        .extract()?)
}
