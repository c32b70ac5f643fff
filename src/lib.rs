//! natsdr: an autonomous disaster-recovery watchdog for NATS JetStream.
#![forbid(unsafe_code)]

/// The decision core lives in its own crate (no I/O, no runtime); re-exported under its old path.
pub use natsdr_core as core;
pub use natsdr_core::model;

pub mod api;
pub mod app;
pub mod backup;
pub mod cli;
pub mod config;
pub mod consumers;
pub mod dns;
pub mod driver;
pub mod exec;
pub mod lint;
pub mod nats;
pub mod notify;
pub mod probe;
pub mod process;
pub mod telemetry;
pub mod topology;

/// Renders an error with its whole `source()` chain on one line ("a: b: c"), for people.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let msg = s.to_string();
        if !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        cur = s.source();
    }
    out
}
