//! Topology: the streams, mirrors and KV buckets natsdr manages; `plan` (pure diff) and `apply`.
//!
//! desired (config) → [`expected`] (owned fields of every stream config) → [`plan`] against
//! what the servers hold → [`apply`] fixes what it safely can. natsdr owns only the fields it
//! configures; everything else in a stream config is left as the server has it.

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
