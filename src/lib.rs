//! natsdr: an autonomous disaster-recovery watchdog for NATS JetStream.
#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod model;
pub mod notify;
pub mod testkit;
