//! The bench's API part: the real standby watchdog's HTTP API under abuse. While 500 idle
//! connections are held open (half of them a request head that never ends, a slowloris) and
//! clients without a token push 10 MB command bodies, `/v1/status` is timed every 50 ms; the
//! watchdog's resident memory is sampled throughout. The figures: status latency (max and p99),
//! failed status requests, how many idle connections the server closed by itself, the peak
//! RSS, and what the oversized bodies got back.
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::report::TargetCheck;
use super::stats::Summary;
use crate::lab::{Lab, Site, WanProfile};

/// Idle connections held open against the API.
pub const IDLE_CONNECTIONS: usize = 500;
/// The declared size of each unauthenticated command body.
pub const BODY_BYTES: u64 = 10 * 1024 * 1024;
/// Unauthenticated oversized requests sent, one after another.
pub const BODIES: usize = 20;
/// How often `/v1/status` is asked.
const STATUS_EVERY: Duration = Duration::from_millis(50);
/// How long the abuse lasts: past the API's header timeout (10 s by default), so the server
/// must have closed the idle connections by the end.
const ABUSE_FOR: Duration = Duration::from_secs(15);
/// The target for status latency under abuse.
pub const STATUS_TARGET_MS: u64 = 100;
/// The target for the watchdog's resident memory under abuse.
pub const RSS_TARGET_MIB: u64 = 64;

/// What the API part measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ApiLoad {
    /// Idle connections opened.
    pub idle_connections: usize,
    /// Of those, closed by the server before the end (timeouts and the connection cap).
    pub closed_by_server: usize,
    /// `/v1/status` latency during the abuse, milliseconds.
    pub status_ms: Option<Summary>,
    /// Status requests that failed or timed out (2 s).
    pub status_failed: usize,
    /// The HTTP status each oversized unauthenticated body got (401 expected, unread).
    pub body_answers: Vec<u16>,
    /// Bytes of an oversized body the client could write before the answer came, at most:
    /// what the server read plus what the kernel's socket buffers took on its behalf.
    pub body_bytes_accepted_max: u64,
    /// The standby watchdog's resident memory before the abuse, KiB.
    pub rss_before_kib: Option<u64>,
    /// Its peak resident memory during the abuse, KiB.
    pub rss_peak_kib: Option<u64>,
    /// What stopped the measurement, if anything.
    pub error: Option<String>,
}

impl ApiLoad {
    /// Whether status answered within [`STATUS_TARGET_MS`] throughout, none failed, and memory
    /// stayed under [`RSS_TARGET_MIB`]; `None` when not measured.
    pub fn targets_met(&self) -> Option<bool> {
        let status = self.status_ms?;
        let rss = self.rss_peak_kib?;
        Some(
            status.max <= STATUS_TARGET_MS
                && self.status_failed == 0
                && rss < RSS_TARGET_MIB * 1024,
        )
    }
}

/// The API part's targets: status latency and the watchdog's memory under abuse.
pub fn targets(a: &ApiLoad) -> Vec<TargetCheck> {
    let what = format!(
        "under {IDLE_CONNECTIONS} idle connections and {} MiB unauthenticated bodies",
        BODY_BYTES / (1024 * 1024)
    );
    let latency = a.status_ms.map(|s| {
        (
            format!(
                "max {} ms, p95 {} ms over {} requests, {} failed",
                s.max, s.p95, s.n, a.status_failed
            ),
            s.max <= STATUS_TARGET_MS && a.status_failed == 0,
        )
    });
    let rss = a.rss_peak_kib.map(|kib| {
        (
            format!("{:.1} MiB peak", kib as f64 / 1024.0),
            kib < RSS_TARGET_MIB * 1024,
        )
    });
    [
        (
            format!("/v1/status latency {what}"),
            format!("every answer <= {STATUS_TARGET_MS} ms"),
            latency,
        ),
        (
            format!("standby watchdog's RSS {what}"),
            format!("< {RSS_TARGET_MIB} MiB"),
            rss,
        ),
    ]
    .into_iter()
    .map(|(what, target, measured)| {
        let (measured, met) = match measured {
            Some((m, met)) => (m, Some(met)),
            None => ("not measured".to_owned(), None),
        };
        TargetCheck {
            what,
            target,
            measured,
            met,
        }
    })
    .collect()
}

/// The API part of BENCHMARKS.md.
pub fn render(a: &ApiLoad) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(s, "\n## The API under abuse\n");
    let _ = writeln!(
        s,
        "The standby's real watchdog on the lab. For {} s, {IDLE_CONNECTIONS} TCP connections \
         stay open against its API (half of them a request head that never ends) while clients \
         without a token send {BODIES} commands declaring {} MiB bodies each, and `/v1/status` \
         is asked every {} ms. RSS is the watchdog's VmRSS sampled every 100 ms.\n",
        ABUSE_FOR.as_secs(),
        BODY_BYTES / (1024 * 1024),
        STATUS_EVERY.as_millis()
    );
    if let Some(e) = &a.error {
        let _ = writeln!(s, "Not measured: {e}\n");
        return s;
    }
    let ms = |f: fn(&Summary) -> u64| {
        a.status_ms
            .as_ref()
            .map_or("-".into(), |x| f(x).to_string())
    };
    let mib = |k: Option<u64>| k.map_or("-".into(), |k| format!("{:.1}", k as f64 / 1024.0));
    let answers: std::collections::BTreeMap<u16, usize> =
        a.body_answers.iter().fold(Default::default(), |mut m, c| {
            *m.entry(*c).or_default() += 1;
            m
        });
    let answers = answers
        .iter()
        .map(|(c, n)| format!("{n} x {c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(
        s,
        "| status median ms | p95 ms | max ms | failed | idle closed by the server | oversized bodies answered | body bytes written before the answer, max (socket buffers included) | RSS before MiB | RSS peak MiB |\n|---|---|---|---|---|---|---|---|---|"
    );
    let _ = writeln!(
        s,
        "| {} | {} | {} | {} | {} of {} | {answers} | {} | {} | {} |",
        ms(|x| x.median),
        ms(|x| x.p95),
        ms(|x| x.max),
        a.status_failed,
        a.closed_by_server,
        a.idle_connections,
        a.body_bytes_accepted_max,
        mib(a.rss_before_kib),
        mib(a.rss_peak_kib),
    );
    s
}

/// Runs the API part on a lab of its own; what fails is recorded in `error`.
pub async fn api_load(natsdr_exe: &std::path::Path, wan: WanProfile) -> ApiLoad {
    let mut a = ApiLoad {
        idle_connections: IDLE_CONNECTIONS,
        ..ApiLoad::default()
    };
    a.error = super::run::on_own_lab("api", natsdr_exe, wan, async |lab, _| {
        measure(natsdr_exe, lab, &mut a).await
    })
    .await
    .err();
    a
}

async fn measure(
    natsdr_exe: &std::path::Path,
    lab: &mut Lab,
    a: &mut ApiLoad,
) -> Result<(), String> {
    let (_cfg, _regions, dogs, _) = super::run::carried_lab(natsdr_exe, lab, 10).await?;
    let pid = dogs.pid(Site::Eu).ok_or("the EU watchdog is not running")?;
    let base = dogs.api(Site::Eu).to_owned();
    let addr = base
        .strip_prefix("http://")
        .ok_or_else(|| format!("the lab's API is not plain http: {base}"))?
        .trim_end_matches('/')
        .to_owned();
    a.rss_before_kib = Some(super::run::rss_kib(pid)?);

    let mut idle = Vec::with_capacity(IDLE_CONNECTIONS);
    for i in 0..IDLE_CONNECTIONS {
        let mut s = TcpStream::connect(&addr)
            .await
            .map_err(|e| format!("idle connection {i}: {e}"))?;
        if i % 2 == 0 {
            // A request head that never ends.
            let _ = s
                .write_all(b"GET /v1/status HTTP/1.1\r\nHost: natsdr\r\n")
                .await;
        }
        idle.push(s);
    }

    let stop = tokio::time::Instant::now() + ABUSE_FOR;
    let bodies = tokio::spawn(oversized_bodies(addr.clone(), stop));
    let rss = tokio::spawn(async move {
        let mut peak = 0;
        while tokio::time::Instant::now() < stop {
            if let Ok(kib) = super::run::rss_kib(pid) {
                peak = peak.max(kib);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        peak
    });
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| e.to_string())?;
    let mut latencies = Vec::new();
    while tokio::time::Instant::now() < stop {
        let t0 = tokio::time::Instant::now();
        match http.get(format!("{base}/v1/status")).send().await {
            Ok(r) if r.status().is_success() => {
                latencies.push(u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX));
            }
            _ => a.status_failed += 1,
        }
        tokio::time::sleep_until(t0 + STATUS_EVERY).await;
    }
    a.status_ms = Summary::of(&latencies);
    a.rss_peak_kib = Some(rss.await.map_err(|e| e.to_string())?);
    let (answers, accepted) = bodies.await.map_err(|e| e.to_string())?;
    a.body_answers = answers;
    a.body_bytes_accepted_max = accepted;

    // By now the header timeout has passed: a closed connection reads EOF (or an error) at once.
    for mut s in idle {
        let mut buf = [0_u8; 512];
        let closed = tokio::time::timeout(Duration::from_millis(200), async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return true,
                    Ok(_) => {}
                }
            }
        })
        .await
        .unwrap_or(false);
        if closed {
            a.closed_by_server += 1;
        }
    }
    Ok(())
}

/// Sends [`BODIES`] unauthenticated commands declaring [`BODY_BYTES`] each, writing the body as
/// fast as the server takes it until it answers; returns each answer's status (0: none) and
/// the most body bytes any one request got in before its answer.
async fn oversized_bodies(addr: String, stop: tokio::time::Instant) -> (Vec<u16>, u64) {
    let mut answers = Vec::new();
    let mut accepted_max = 0;
    for _ in 0..BODIES {
        if tokio::time::Instant::now() >= stop {
            break;
        }
        let Ok(s) = TcpStream::connect(&addr).await else {
            answers.push(0);
            continue;
        };
        let (mut rd, mut wr) = s.into_split();
        let head = format!(
            "POST /v1/pause HTTP/1.1\r\nHost: natsdr\r\nContent-Type: application/json\r\nContent-Length: {BODY_BYTES}\r\n\r\n"
        );
        let writer = tokio::spawn(async move {
            let mut sent = 0_u64;
            if wr.write_all(head.as_bytes()).await.is_err() {
                return sent;
            }
            let chunk = vec![b'x'; 64 * 1024];
            while sent < BODY_BYTES {
                if wr.write_all(&chunk).await.is_err() {
                    break;
                }
                sent += chunk.len() as u64;
            }
            sent
        });
        let mut reply = Vec::new();
        let mut buf = [0_u8; 1024];
        let status = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        reply.extend_from_slice(&buf[..n]);
                        if reply.windows(4).any(|w| w == b"\r\n\r\n") {
                            break;
                        }
                    }
                }
            }
            parse_status(&reply)
        })
        .await
        .unwrap_or(0);
        answers.push(status);
        writer.abort();
        if let Ok(sent) = writer.await {
            accepted_max = accepted_max.max(sent);
        }
    }
    (answers, accepted_max)
}

/// The status code of an HTTP/1.1 response head; 0 when there is none.
fn parse_status(head: &[u8]) -> u16 {
    std::str::from_utf8(head)
        .ok()
        .and_then(|h| h.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_head_gives_its_status_and_anything_else_gives_zero() {
        assert_eq!(parse_status(b"HTTP/1.1 401 Unauthorized\r\n\r\n"), 401);
        assert_eq!(parse_status(b""), 0);
        assert_eq!(parse_status(b"garbage"), 0);
    }

    #[test]
    fn the_targets_hold_only_when_every_figure_is_within_its_bound() {
        let ok = ApiLoad {
            status_ms: Summary::of(&[3, 5, 100]),
            rss_peak_kib: Some(40 * 1024),
            ..ApiLoad::default()
        };
        assert_eq!(ok.targets_met(), Some(true));
        let slow = ApiLoad {
            status_ms: Summary::of(&[3, 101]),
            ..ok.clone()
        };
        assert_eq!(slow.targets_met(), Some(false));
        let failed = ApiLoad {
            status_failed: 1,
            ..ok.clone()
        };
        assert_eq!(failed.targets_met(), Some(false));
        let fat = ApiLoad {
            rss_peak_kib: Some(64 * 1024),
            ..ok.clone()
        };
        assert_eq!(fat.targets_met(), Some(false));
        assert_eq!(ApiLoad::default().targets_met(), None);
    }
}
