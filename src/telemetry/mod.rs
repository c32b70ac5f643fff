//! Telemetry: Prometheus metrics (bounded labels only) and structured logs.
pub mod logging;
pub mod metrics;

pub use metrics::Metrics;
