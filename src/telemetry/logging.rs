//! Structured logs: JSON for machines or pretty for people, level from `RUST_LOG`.
use tracing_subscriber::EnvFilter;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per event (for log pipelines).
    Json,
    /// Human-readable lines.
    #[default]
    Pretty,
}

/// Installs the global subscriber once; later calls are no-ops (tests call it freely).
/// The level comes from `RUST_LOG` (default `info`). Logs go to stderr so command output on
/// stdout stays machine-readable.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // NB: try_init fails only when a subscriber is already set, which is fine.
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}
