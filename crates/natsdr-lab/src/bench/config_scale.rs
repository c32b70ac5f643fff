//! The bench's config part: `natsdr check-config` (the real command, a child process) on
//! generated configs of N streams each mirrored in the other region, so the cost of loading and
//! validating a large deployment's config is a figure, and its growth with N visible.
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::stats::Summary;

/// The shipped example, whose regions, DNS, peers and API the generated configs keep.
const EXAMPLE: &str = include_str!("../../../../config/natsdr.example.toml");

/// `check-config` at one size.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ConfigCheck {
    /// Streams in the config (each with a mirror in the other region).
    pub streams: usize,
    /// Wall time of each run, ms.
    pub runs_ms: Vec<u64>,
    /// Median of `runs_ms`.
    pub median_ms: Option<u64>,
    /// What went wrong, if the command did not accept the config.
    pub error: Option<String>,
}

/// A config with `n` streams in the primary region, two subject filters each (one `*`, one
/// `>`), and a mirror of each in the standby region, on top of the example's settings.
pub fn generate(n: usize) -> String {
    use std::fmt::Write as _;
    let head = EXAMPLE
        .find("[[streams]]")
        .map_or(EXAMPLE, |i| &EXAMPLE[..i]);
    let mut s = String::with_capacity(head.len() + n * 200);
    s.push_str(head);
    for k in 0..n {
        let _ = write!(
            s,
            "[[streams]]\nname = \"gen{k}-us\"\nregion = \"us-east-1\"\nsubjects = [\"gen{k}.*\", \"gen{k}.x.>\"]\nreplicas = 3\nduplicate_window = \"2m\"\n\n"
        );
    }
    for k in 0..n {
        let _ = write!(
            s,
            "[[mirrors]]\nname = \"gen{k}-eu\"\nregion = \"eu-central-1\"\nsource = \"gen{k}-us\"\n\n"
        );
    }
    s
}

/// Runs `exe check-config` `runs` times on a generated config of `n` streams.
pub fn measure(exe: &Path, dir: &Path, n: usize, runs: usize) -> ConfigCheck {
    let mut c = ConfigCheck {
        streams: n,
        ..ConfigCheck::default()
    };
    let path = dir.join(format!("natsdr-{n}-streams.toml"));
    if let Err(e) = std::fs::write(&path, generate(n)) {
        c.error = Some(format!("{}: {e}", path.display()));
        return c;
    }
    for _ in 0..runs {
        let t = Instant::now();
        let out = std::process::Command::new(exe)
            .arg("check-config")
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .output();
        let took = t.elapsed();
        match out {
            Ok(o) if o.status.success() => c.runs_ms.push(ms(took)),
            Ok(o) => {
                c.error = Some(String::from_utf8_lossy(&o.stderr).trim().to_owned());
                break;
            }
            Err(e) => {
                c.error = Some(format!("{}: {e}", exe.display()));
                break;
            }
        }
    }
    let _ = std::fs::remove_file(&path);
    c.median_ms = Summary::of(&c.runs_ms).map(|s| s.median);
    c
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use natsdr::config::Config;

    #[test]
    fn a_generated_config_is_valid_and_has_what_it_says() {
        let text = generate(50);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("natsdr.toml");
        std::fs::write(&path, &text).unwrap();
        let raw = natsdr::config::load_raw(&path).unwrap();
        let cfg = Config::try_from(raw).unwrap();
        let generated = |name: &str| name.starts_with("gen");
        assert_eq!(
            cfg.streams
                .iter()
                .filter(|s| generated(s.name.as_str()))
                .count(),
            50
        );
        assert_eq!(
            cfg.mirrors
                .iter()
                .filter(|m| generated(m.name.as_str()))
                .count(),
            50
        );
    }
}
