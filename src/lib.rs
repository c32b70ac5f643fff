//! natsdr: an autonomous disaster-recovery watchdog for NATS JetStream.
#![forbid(unsafe_code)]

pub mod api;
pub mod cli;
pub mod config;
pub mod dns;
pub mod lab;
pub mod lint;
pub mod model;
pub mod nats;
pub mod notify;
pub mod telemetry;
pub mod testkit;
pub mod topology;
