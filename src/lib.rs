//! natsdr: an autonomous disaster-recovery watchdog for NATS JetStream.
#![forbid(unsafe_code)]

pub mod cli;
pub mod model;
pub mod nats;
pub mod topology;
