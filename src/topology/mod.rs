//! Topology: the streams, mirrors and KV buckets natsdr manages; `plan` (pure diff) and `apply`.
//!
//! desired (config) → [`expected`] (owned fields of every stream config) → [`plan`] against
//! what the servers hold → [`apply`] fixes what it safely can. natsdr owns only the fields it
//! configures; everything else in a stream config is left as the server has it.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::Config;
use crate::model::Region;
use crate::nats::{JsApi, RegionClients};

pub mod apply;
pub mod desired;
pub mod expected;
pub mod leaf;
pub mod observe;
pub mod plan;

pub use apply::{Change, apply, apply_stream};
pub use desired::{Desired, RegionDomain};
pub use expected::{ExpectedStream, StreamKind, TopologyError, expected};
pub use leaf::{leaf_deny, leaf_deny_raw};
pub use observe::{observe, observe_region};
pub use plan::{
    Actual, Drift, FENCE_PREFIX, META_EPOCH, META_ORIGIN, META_ROLE, META_SUBJECTS, ROLE_FENCED,
    ROLE_PROMOTED, ROLE_SOURCE, diff, plan,
};

/// Per JetStream API request.
const API_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects to both regions' application accounts, failing fast when one is unreachable:
/// plan and apply are operator commands, not the watchdog.
pub async fn connect_js(cfg: &Config) -> Result<BTreeMap<Region, JsApi>, String> {
    let mut apis = BTreeMap::new();
    for r in &cfg.regions {
        let clients = RegionClients::for_region(r, "natsdr-cli", API_TIMEOUT)
            .await
            .map_err(|e| format!("{}: {}", r.name, crate::error_chain(&e)))?;
        apis.insert(r.name.clone(), clients.js);
    }
    Ok(apis)
}

/// Applies `cfg`'s topology; returns what changed (or could not be).
pub async fn apply_config(cfg: &Config) -> Result<Vec<Change>, String> {
    let apis = connect_js(cfg).await?;
    let exp = expected(&Desired::from(cfg)).map_err(|e| e.to_string())?;
    Ok(apply(&exp, &apis).await)
}
