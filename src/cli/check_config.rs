//! `natsdr check-config`: validate a config and print it as natsdr understands it.
use std::io::Write;
use std::path::Path;

use super::exit;
use crate::config::{self, Config};

/// Keys whose inline values are secrets.
const SECRET_KEYS: [&str; 5] = ["password", "token", "key_secret", "routing_key", "secret"];

pub fn run(path: &Path) -> u8 {
    let raw = match config::load_raw(path) {
        Ok(raw) => raw,
        Err(e) => return usage_error(path, &e),
    };
    let cfg = match Config::try_from(raw.clone()) {
        Ok(cfg) => cfg,
        Err(e) => return usage_error(path, &e),
    };
    let mut value = match toml::Value::try_from(&raw) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("natsdr: cannot render the config: {e}");
            return exit::FAILURE;
        }
    };
    redact(&mut value);
    // NB: a closed pipe (`| head`) is not an error worth a panic.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "# {}", summary(&cfg));
    let _ = write!(
        out,
        "{}",
        toml::to_string_pretty(&value).unwrap_or_default()
    );
    exit::OK
}

/// Prints one line naming the file, the key and the problem; returns EX_USAGE.
pub fn usage_error(path: &Path, e: &config::ConfigError) -> u8 {
    eprintln!("natsdr: config error in {}: {e}", path.display());
    exit::USAGE
}

fn summary(cfg: &Config) -> String {
    let role = cfg.watchdog.role.as_str();
    format!(
        "config ok: {role} {} at {}; regions {} ({}) and {} ({}); {} streams ({} GDPR-only), {} mirrors, {} KV buckets",
        cfg.watchdog.id,
        cfg.watchdog.site,
        cfg.regions[0].name,
        cfg.regions[0].home.as_str(),
        cfg.regions[1].name,
        cfg.regions[1].home.as_str(),
        cfg.streams.len(),
        cfg.streams.iter().filter(|s| s.gdpr).count(),
        cfg.mirrors.len(),
        cfg.kv.len(),
    )
}

fn redact(v: &mut toml::Value) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t.iter_mut() {
                if SECRET_KEYS.contains(&k.as_str()) {
                    *v = toml::Value::String("<redacted>".into());
                } else {
                    redact(v);
                }
            }
        }
        toml::Value::Array(a) => a.iter_mut().for_each(redact),
        _ => {}
    }
}
