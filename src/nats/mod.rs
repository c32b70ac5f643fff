//! NATS access layer: connections per region and account, and raw JetStream / system API clients.
//!
//! Everything here speaks the server's JSON directly (not async-nats's typed JetStream API) so that
//! stream configs round-trip with every field intact and mirror details async-nats drops
//! (`error`, `external`, `active: -1`) stay visible. Every call carries its own timeout.

pub mod codes;
pub mod connect;
pub mod js_api;
pub mod js_error;
pub mod lease_record;
pub mod region;
pub mod snapshot;
pub mod stream_info;
pub mod sys_api;

pub use connect::{Account, Auth, ConnectError, ConnectSpec, connect};
pub use js_api::JsApi;
pub use js_error::JsError;
pub use lease_record::{LeaseRecord, LeaseRecordError, LeaseRecords};
pub use region::{RegionClients, Regions, connect_regions, wait_connected};
pub use snapshot::{SnapshotTaken, TransferError};
pub use stream_info::{
    AccountInfo, ClusterInfo, MirrorInfo, PeerInfo, ProbedStream, StoredMessage, StreamConfig,
    StreamInfo, StreamState,
};
pub use sys_api::{
    Healthz, Leaf, Leafz, MetaCluster, MetaReplica, ServerId, ServerPong, SysApi, SysError,
};
