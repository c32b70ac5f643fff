//! Consumer continuity: durable consumers are not mirrored, so the standby's watchdog reads the
//! primary's consumers (configuration and ack floor) into a store in its own region, and a
//! promotion recreates them on the promoted stream just after their last known ack floor.
//! A mirror keeps its origin's stream sequences, so a floor read on one side is valid on the
//! other as it is.
mod error;
mod info;
mod pattern;
mod position;
mod recreate;
mod store;
mod summary;
mod tracker;
mod twins;

pub use error::ConsumersError;
pub use info::ConsumerInfo;
pub use pattern::{NamePattern, PatternError};
pub use position::{Plan, Position, creation_config, merge, plan};
pub use recreate::{Recreated, Recreator};
pub use store::{PositionStore, STORE_STREAM};
pub use summary::{StreamSummary, Summary};
pub use tracker::Tracker;
pub use twins::{Side, Twin, twins};
