//! `Summary`: what the tracker knows, per stream, for `/v1/status`, `natsdr status` and metrics.
use serde::{Deserialize, Serialize};

/// Every tracked stream's figures after the tracker's last round.
pub type Summary = Vec<StreamSummary>;

/// One stream's tracked consumers, as the standby's watchdog holds them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamSummary {
    /// The stream a promotion would make writable (where the consumers would be recreated).
    pub stream: String,
    /// The region holding it and the positions.
    pub region: String,
    /// The stream the positions are read from, in the region taking writes.
    pub read_from: String,
    /// Durable consumers tracked.
    pub consumers: u64,
    /// Seconds since the oldest stored position was last confirmed against the writable side
    /// (None: nothing tracked yet). Grows while that side cannot be read.
    pub oldest_position_age_seconds: Option<f64>,
    /// Messages that a failover now would deliver again: over the consumers, the ack floor
    /// just read minus the floor stored before, i.e. acknowledged since the last stored sync.
    pub redelivery_at_risk: u64,
    /// Why the last round could not read or store this stream's consumers, if it could not.
    pub error: Option<String>,
}
