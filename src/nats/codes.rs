//! JetStream API error codes (`err_code`) natsdr reacts to, named as in nats-server's errors.json.

/// `JSClusterNoPeersErr`: no suitable peers for placement (too few servers up for the replicas).
pub const CLUSTER_NO_PEERS: u32 = 10005;
/// `JSClusterNotActiveErr`: JetStream clustering is not active yet.
pub const CLUSTER_NOT_ACTIVE: u32 = 10006;
/// `JSClusterNotAvailErr`: "JetStream system temporarily unavailable" (no meta quorum).
pub const CLUSTER_NOT_AVAILABLE: u32 = 10008;
/// `JSInvalidJSONErr`: the request had a field the server does not know (2.12+ is strict).
pub const INVALID_JSON: u32 = 10025;
/// `JSNoMessageFoundErr`: STREAM.MSG.GET found no message at that sequence.
pub const NO_MESSAGE_FOUND: u32 = 10037;
/// `JSStreamInvalidConfigErr`: the config was refused (the description says why).
pub const STREAM_INVALID_CONFIG: u32 = 10052;
/// `JSStreamMirrorNotUpdatableErr`: a mirror's `mirror` block cannot change (before 2.12 it cannot be removed either).
pub const MIRROR_NOT_UPDATABLE: u32 = 10055;
/// `JSStreamNameExistErr`: a stream with that name already exists with a different config.
pub const STREAM_NAME_IN_USE: u32 = 10058;
/// `JSStreamNotFoundErr`: no such stream.
pub const STREAM_NOT_FOUND: u32 = 10059;
/// `JSConsumerNotFoundErr`: no consumer of that name on the stream.
pub const CONSUMER_NOT_FOUND: u32 = 10014;
/// `JSStreamSubjectOverlapErr`: the subjects overlap another stream's in the same domain.
pub const SUBJECT_OVERLAP: u32 = 10065;
/// `JSStreamNameExistRestoreFailedErr`: a restore names a stream that still exists.
pub const STREAM_NAME_IN_USE_RESTORE: u32 = 10130;
/// `JSStreamOfflineErr`: the stream's replicas cannot be reached right now.
pub const STREAM_OFFLINE: u32 = 10118;

/// Whether an API error code describes a passing condition (quorum, leadership, placement) rather
/// than a request that will fail the same way again.
pub fn is_transient(err_code: u32) -> bool {
    matches!(
        err_code,
        CLUSTER_NO_PEERS | CLUSTER_NOT_ACTIVE | CLUSTER_NOT_AVAILABLE | STREAM_OFFLINE
    )
}
