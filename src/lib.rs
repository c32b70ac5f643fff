//! natsdr: an autonomous disaster-recovery watchdog for NATS JetStream.
#![forbid(unsafe_code)]

pub mod api;
pub mod backup;
pub mod bench;
pub mod chaos;
pub mod cli;
pub mod config;
pub mod consumers;
pub mod core;
pub mod demo;
pub mod dns;
pub mod driver;
pub mod exec;
pub mod lab;
pub mod lint;
pub mod model;
pub mod nats;
pub mod notify;
pub mod probe;
pub mod telemetry;
pub mod testkit;
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
