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
    Api, ApiLimits, ApiTls, AuditRotation, Backup, BackupFrom, BackupItem, BackupTarget, Consumers,
    Dns, DnsProvider, Failback, Notify, PagerDutyConfig, PeerTls, Peers, Rfc2136Server, Role,
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

/// Refuses a file TOML cannot be (not UTF-8) or that holds no setting, in words that say so,
/// before the parser reports a missing field of an empty document.
fn check_text(path: &Path, bytes: &[u8]) -> Result<(), ConfigError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let before = &bytes[..e.valid_up_to()];
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        let column = before.len()
            - before
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1)
            + 1;
        ConfigError::NotUtf8 {
            path: path.to_owned(),
            line,
            column,
        }
    })?;
    let settings = text
        .lines()
        .map(str::trim)
        .any(|l| !l.is_empty() && !l.starts_with('#'));
    if settings {
        Ok(())
    } else {
        Err(ConfigError::Empty {
            path: path.to_owned(),
        })
    }
}

/// Reads `path` and merges environment overrides, without checking rules. Only variables with
/// a double underscore (`NATSDR_TIMING__PROBE_INTERVAL`) are overrides: single-underscore
/// `NATSDR_*` variables belong to the command line (`NATSDR_CONFIG`, `NATSDR_API_URL`...).
pub fn load_raw(path: &Path) -> Result<RawConfig, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    check_text(path, &bytes)?;
    let env = Env::prefixed("NATSDR_")
        .filter(|k| k.as_str().contains("__"))
        .split("__");
    Ok(Figment::new()
        .merge(Toml::file(path))
        .merge(env)
        .extract()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_bytes(bytes: &[u8]) -> ConfigError {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("natsdr.toml");
        std::fs::write(&path, bytes).unwrap();
        Config::load(&path).unwrap_err()
    }

    #[test]
    fn an_empty_or_comment_only_file_says_it_is_empty() {
        for text in ["", "\n  \n", "# natsdr\n\n   # nothing yet\n"] {
            let e = load_bytes(text.as_bytes());
            assert!(matches!(e, ConfigError::Empty { .. }), "{text:?}: {e:?}");
            let msg = e.to_string();
            assert!(msg.contains("is empty"), "{msg}");
            assert!(msg.contains("[watchdog]"), "{msg}");
        }
    }

    #[test]
    fn a_file_that_is_not_utf8_names_the_line_and_column_of_the_bad_byte() {
        let e = load_bytes(b"[watchdog]\nid = \"caf\xe9\"\n");
        match &e {
            ConfigError::NotUtf8 { line, column, .. } => assert_eq!((*line, *column), (2, 10)),
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().contains("not UTF-8"), "{e}");
    }

    #[test]
    fn a_file_with_a_setting_gets_past_the_text_checks_to_the_parser() {
        let e = load_bytes(b"[watchdog]\nid = \"us\"\n");
        assert!(
            !matches!(e, ConfigError::Empty { .. } | ConfigError::NotUtf8 { .. }),
            "{e:?}"
        );
    }
}
