//! The backup part of the bench: one stream filled on the lab, its raw JetStream snapshot timed
//! into nothing, then `natsdr backup run` and `natsdr backup restore` against a real
//! S3-compatible server (s3s-fs) timed as child processes, with their peak RSS.
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use super::report::BackupFigures;
use crate::lab::{Lab, WanProfile};
use crate::testkit::s3_server::{ACCESS_KEY, S3Server, SECRET_KEY};
use natsdr::config::Config;
use natsdr::nats::{JsApi, RegionClients, StreamConfig};

/// The stream the bench fills and backs up.
const STREAM: &str = "bench-backup";
/// The region it lives in (the lab's standby).
const REGION: &str = "eu-central-1";
/// The bucket on the S3 server.
const BUCKET: &str = "natsdr-bench";
/// Payload of each message: large, so the fill is quick, and under the 1 MiB default limit.
const MESSAGE: usize = 128 * 1024;
/// Publishes in flight while filling.
const IN_FLIGHT: usize = 32;

/// Fills a stream of `mib` MiB on a fresh lab and measures its backup and restore; what fails
/// is recorded in `error`, with whatever was measured before it.
pub async fn backup(natsdr_exe: &Path, wan: WanProfile, mib: u64) -> BackupFigures {
    let mut f = BackupFigures {
        store: s3s_fs_version(),
        ..BackupFigures::default()
    };
    f.error = super::run::on_own_lab("backup", natsdr_exe, wan, async |lab, dir| {
        measure(natsdr_exe, lab, dir, mib, &mut f).await
    })
    .await
    .err();
    f
}

fn s3s_fs_version() -> String {
    std::process::Command::new(crate::testkit::s3_server::executable())
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "s3s-fs".to_owned(), |v| v.trim().to_owned())
}

async fn measure(
    natsdr_exe: &Path,
    lab: &Lab,
    dir: &Path,
    mib: u64,
    f: &mut BackupFigures,
) -> Result<(), String> {
    let chain = |e: &dyn std::error::Error| natsdr::error_chain(e);
    let store = S3Server::start(dir).map_err(|e| chain(&e))?;
    store
        .client()
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .map_err(|e| format!("create bucket: {}", chain(&e)))?;
    let config = bench_config(&lab.manifest().natsdr_config, dir, &store.url())?;
    let cfg = Config::load(&config).map_err(|e| chain(&e))?;
    let region = cfg
        .regions
        .iter()
        .find(|r| r.name.as_str() == REGION)
        .ok_or("the lab has no EU region")?;
    let js = RegionClients::for_region(region, "natsdr-bench", Duration::from_secs(5))
        .await
        .map_err(|e| chain(&e))?
        .js;

    eprintln!("natsdr-lab bench: backup: filling {STREAM} with {mib} MiB");
    fill(&js, mib).await?;
    let info = js.stream_info(STREAM).await.map_err(|e| chain(&e))?;
    f.messages = info.state.messages;
    f.stream_bytes = info.state.bytes;

    let t0 = tokio::time::Instant::now();
    let taken = js
        .stream_snapshot(STREAM, &mut tokio::io::sink(), Duration::from_secs(30))
        .await
        .map_err(|e| format!("raw snapshot: {}", chain(&e)))?;
    f.snapshot_ms = Some(millis(t0.elapsed()));
    f.object_bytes = Some(taken.bytes);
    eprintln!(
        "  snapshot API: {} bytes in {} ms",
        taken.bytes,
        f.snapshot_ms.unwrap_or_default()
    );

    let run = child(natsdr_exe, &["run", "--config"], &config, dir, "run").await?;
    f.backup_ms = Some(run.ms);
    f.backup_peak_rss_kib = run.peak_rss_kib;
    eprintln!(
        "  backup run: {} ms, peak RSS {:?} KiB",
        run.ms, run.peak_rss_kib
    );

    let args = [
        "restore",
        "--region",
        REGION,
        "--replace",
        "--replicas",
        "1",
        "--config",
    ];
    let restore = child(natsdr_exe, &args, &config, dir, "restore").await?;
    f.restore_ms = Some(restore.ms);
    f.restore_peak_rss_kib = restore.peak_rss_kib;
    eprintln!(
        "  restore: {} ms, peak RSS {:?} KiB",
        restore.ms, restore.peak_rss_kib
    );
    let back = js.stream_info(STREAM).await.map_err(|e| chain(&e))?;
    if back.state.messages != f.messages {
        return Err(format!(
            "the restored stream holds {} messages, the original {}",
            back.state.messages, f.messages
        ));
    }
    Ok(())
}

/// The lab's operator config with its streams replaced by the bench's one stream and a
/// `[backup]` section for it on the S3 server, written into `dir`.
fn bench_config(lab_config: &Path, dir: &Path, endpoint: &str) -> Result<PathBuf, String> {
    let text = std::fs::read_to_string(lab_config)
        .map_err(|e| format!("{}: {e}", lab_config.display()))?;
    let mut doc: toml::Table = text
        .parse()
        .map_err(|e| format!("{}: {e}", lab_config.display()))?;
    doc.remove("mirrors");
    doc.remove("kv");
    let stream: toml::Table = toml::toml! {
        name = "bench-backup"
        region = "eu-central-1"
        gdpr = true
        subjects = ["bench.backup.>"]
        replicas = 1
    };
    doc.insert("streams".into(), toml::Value::Array(vec![stream.into()]));
    let mut backup: toml::Table = toml::toml! {
        target = "s3://natsdr-bench/backup"
        region = "eu-central-1"
        from = "own"
        path_style = true
        aws_region = "us-east-1"
        keep = 1
    };
    backup.insert("endpoint_url".into(), endpoint.into());
    doc.insert("backup".into(), backup.into());
    let path = dir.join("natsdr-backup.toml");
    let body = toml::to_string(&doc).map_err(|e| format!("bench config: {e}"))?;
    std::fs::write(&path, body).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// Creates the stream (R1, file) and publishes `mib` MiB of random payload with acks.
async fn fill(js: &JsApi, mib: u64) -> Result<(), String> {
    let cfg: StreamConfig = serde_json::from_value(serde_json::json!({
        "name": STREAM, "subjects": ["bench.backup.>"], "storage": "file", "num_replicas": 1
    }))
    .map_err(|e| format!("stream config: {e}"))?;
    js.stream_create(&cfg)
        .await
        .map_err(|e| format!("create {STREAM}: {}", natsdr::error_chain(&e)))?;
    let ctx = async_nats::jetstream::new(js.client().clone());
    let count = mib * 1024 * 1024 / MESSAGE as u64;
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
    let mut acks = std::collections::VecDeque::new();
    for i in 0..count {
        let mut payload = vec![0u8; MESSAGE];
        for chunk in payload.chunks_mut(8) {
            // xorshift64: incompressible enough that s2 cannot shrink the snapshot.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            chunk.copy_from_slice(&seed.to_le_bytes()[..chunk.len()]);
        }
        let ack = ctx
            .publish(format!("bench.backup.{}", i % 16), payload.into())
            .await
            .map_err(|e| format!("publish: {e}"))?;
        acks.push_back(ack);
        if acks.len() >= IN_FLIGHT
            && let Some(a) = acks.pop_front()
        {
            a.await.map_err(|e| format!("ack: {e}"))?;
        }
    }
    for a in acks {
        a.await.map_err(|e| format!("ack: {e}"))?;
    }
    Ok(())
}

/// A finished `natsdr backup` child: its wall time and its peak RSS.
struct Timed {
    ms: u64,
    peak_rss_kib: Option<u64>,
}

/// Runs `natsdr backup <args> <config>` with the S3 server's key, sampling its VmHWM every
/// 20 ms until it exits (the high-water mark only grows, so the last sample is the peak as of
/// 20 ms before the end). Its output goes to `<dir>/<name>.log`; a non-zero exit is an error
/// quoting it.
async fn child(
    natsdr_exe: &Path,
    args: &[&str],
    config: &Path,
    dir: &Path,
    name: &str,
) -> Result<Timed, String> {
    let log_path = dir.join(format!("{name}.log"));
    let log = std::fs::File::create(&log_path).map_err(|e| format!("{name}: {e}"))?;
    let err = log.try_clone().map_err(|e| format!("{name}: {e}"))?;
    let t0 = tokio::time::Instant::now();
    let mut c = tokio::process::Command::new(natsdr_exe)
        .arg("backup")
        .args(args)
        .arg(config)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env_remove("AWS_PROFILE")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("{name}: {e}"))?;
    let pid = c.id().ok_or_else(|| format!("{name}: exited at once"))?;
    let status_path = format!("/proc/{pid}/status");
    let mut peak = None;
    let status = loop {
        if let Some(kib) = std::fs::read_to_string(&status_path)
            .ok()
            .and_then(|t| super::run::parse_vm_hwm_kib(&t))
        {
            peak = Some(kib);
        }
        tokio::select! {
            s = c.wait() => break s.map_err(|e| format!("{name}: {e}"))?,
            () = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    };
    let ms = millis(t0.elapsed());
    if !status.success() {
        let out = std::fs::read_to_string(&log_path).unwrap_or_default();
        return Err(format!("natsdr backup {name}: {status}: {}", out.trim()));
    }
    Ok(Timed {
        ms,
        peak_rss_kib: peak,
    })
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
