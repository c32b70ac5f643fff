//! The bench's consumer part: what carrying durable consumers costs and what it redelivers.
//! Redeliveries come from the demo's reader (region losses and switchovers); the standby's CPU
//! is sampled on a lab with generated streams, without and then with a thousand durables; the
//! RTO cost of recreating consumers comes from region losses with idle durables added.
use std::time::Duration;

use super::report::{ConsumersCpu, median_f64};
use super::run::{clock_ticks, cpu_percent, cpu_ticks};
use crate::lab::{GENERATED_PREFIX, Lab, Site, WanProfile};

/// Streams of the CPU measurement.
pub const CPU_STREAMS: usize = 100;
/// Durable consumers per stream in the CPU measurement (1,000 in all).
pub const CPU_CONSUMERS_PER_STREAM: usize = 10;
/// CPU windows per measurement; the median is the figure.
pub const CPU_WINDOWS: usize = 5;
/// Length of one CPU window.
pub const CPU_WINDOW: Duration = Duration::from_secs(5);

/// Samples the standby's watchdog on a lab with [`CPU_STREAMS`] mirrored streams: first with
/// no consumer, then tracking [`CPU_CONSUMERS_PER_STREAM`] durables on each stream. What
/// fails is recorded in `error`, with whatever was measured before it.
pub async fn cpu(natsdr_exe: &std::path::Path, wan: WanProfile) -> ConsumersCpu {
    let mut c = ConsumersCpu {
        streams: CPU_STREAMS,
        consumers: CPU_STREAMS * CPU_CONSUMERS_PER_STREAM,
        window_s: CPU_WINDOW.as_secs(),
        ..ConsumersCpu::default()
    };
    c.error = super::run::on_own_lab("consumers", natsdr_exe, wan, async |lab, _| {
        measure(natsdr_exe, lab, &mut c).await
    })
    .await
    .err();
    c
}

async fn measure(
    natsdr_exe: &std::path::Path,
    lab: &mut Lab,
    c: &mut ConsumersCpu,
) -> Result<(), String> {
    let (cfg, regions, dogs, _) = super::run::carried_lab(natsdr_exe, lab, c.streams).await?;
    let pid = dogs.pid(Site::Eu).ok_or("the EU watchdog is not running")?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    c.baseline_samples = windows(pid).await?;
    c.baseline_percent = median_f64(&c.baseline_samples);

    let us = &regions[&cfg.regions[0].name].js;
    // NB: the lab numbers its generated streams from 1.
    for i in 1..=c.streams {
        let stream = format!("{GENERATED_PREFIX}{i:04}");
        for j in 0..CPU_CONSUMERS_PER_STREAM {
            let name = format!("c-{j:02}");
            let body = serde_json::json!({"stream_name": stream, "config": {
                "durable_name": name, "ack_policy": "explicit"}});
            us.call::<serde_json::Value>(&format!("CONSUMER.CREATE.{stream}.{name}"), body)
                .await
                .map_err(|e| format!("creating {stream}/{name}: {}", natsdr::error_chain(&e)))?;
        }
    }
    let want = u64::try_from(c.consumers).unwrap_or(u64::MAX);
    let tracked =
        |s: &natsdr::api::model::Status| s.consumers.iter().map(|x| x.consumers).sum::<u64>();
    dogs.wait_for(Site::Eu, Duration::from_secs(120), |s| tracked(s) >= want)
        .await
        .map_err(|s| {
            format!(
                "the EU watchdog tracked {} of {want} consumers",
                tracked(&s)
            )
        })?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    c.tracking_samples = windows(pid).await?;
    c.tracking_percent = median_f64(&c.tracking_samples);
    Ok(())
}

/// [`CPU_WINDOWS`] back-to-back CPU shares of `pid`, each over [`CPU_WINDOW`].
async fn windows(pid: u32) -> Result<Vec<f64>, String> {
    let hz = clock_ticks();
    let mut out = Vec::with_capacity(CPU_WINDOWS);
    for _ in 0..CPU_WINDOWS {
        let t0 = tokio::time::Instant::now();
        let ticks0 = cpu_ticks(pid)?;
        tokio::time::sleep(CPU_WINDOW).await;
        let ticks1 = cpu_ticks(pid)?;
        out.push(cpu_percent(ticks1.saturating_sub(ticks0), hz, t0.elapsed()));
    }
    Ok(out)
}
