//! `natsdr-lab bench`: the benchmark. RTO on region loss over many runs per timing and network
//! profile, isolations of the primary region that must not fail over, the write outages natsdr
//! itself causes, planned switchovers, one watchdog's footprint at 10..1,000 mirrored
//! streams, check-config on large configs, durable consumers carried across moves, and backup
//! and restore throughput to an S3-compatible server, written as `bench/results.json` and
//! BENCHMARKS.md.
//!
//! It reuses the demo for every failover (one fresh lab per run) and the lab, with generated
//! streams, for the footprint; the statistics and the report are pure ([`Summary`],
//! [`BenchReport`]).
pub mod api_load;
mod backup;
mod config_scale;
mod consumers;
mod openmetrics;
mod outage;
mod report;
mod run;
pub mod scale;
mod stats;

pub use config_scale::{ConfigCheck, generate as generate_config};
pub use openmetrics::sample;
pub use outage::{Fault, count_fences, isolation_paths, run_case};
pub use report::{
    BackupFigures, BenchReport, ConsumersBench, ConsumersCpu, Footprint, LossAtKill, Machine,
    OutageCase, Promoted, RtoProfile, ScaleRto, Switchover, TargetCheck, render_backup, target,
};
pub use run::{
    AVAILABILITY_ISOLATIONS_MS, BenchOptions, PROFILE_NAMES, Section, cpu_percent,
    parse_stat_ticks, parse_vm_hwm_kib, parse_vm_rss_kib, run, write,
};
pub use stats::Summary;

use std::path::PathBuf;

/// Why the bench could not run or write its report (a failed run is not an error: the report
/// records it).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// No nats-server to run the lab with.
    #[error("lab: {0}")]
    Lab(#[source] crate::lab::LabError),
    /// `nats-server --version` failed.
    #[error("demo: {0}")]
    Demo(#[source] crate::demo::DemoError),
    /// The report could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying failure.
        #[source]
        source: std::io::Error,
    },
}
