//! `natsdr check-config`: validate a config and print it as natsdr understands it.
use std::io::Write;
use std::path::Path;

use super::exit;
use crate::config::{self, Config};

/// Keys whose inline values are secrets.
const SECRET_KEYS: [&str; 5] = ["password", "token", "key_secret", "routing_key", "secret"];
/// Tables whose `url` is a secret: a webhook URL usually carries its token in the path or the
/// query (Slack, Teams, incident tools), so whoever reads it can post as natsdr.
const SECRET_URL_TABLES: [&str; 1] = ["webhooks"];

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
    redact(&mut value, "");
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

/// Replaces every secret in `v` with `<redacted>`: values of [`SECRET_KEYS`], the `url` of the
/// tables in [`SECRET_URL_TABLES`], and the password of any URL written `scheme://user:pass@host`.
/// `table` is the name of the table (or array of tables) `v` sits under.
fn redact(v: &mut toml::Value, table: &str) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t.iter_mut() {
                let secret_url = k == "url" && SECRET_URL_TABLES.contains(&table);
                if SECRET_KEYS.contains(&k.as_str()) || secret_url {
                    *v = toml::Value::String("<redacted>".into());
                } else {
                    redact(v, k);
                }
            }
        }
        toml::Value::Array(a) => a.iter_mut().for_each(|v| redact(v, table)),
        toml::Value::String(s) => {
            if let Some(clean) = without_url_password(s) {
                *s = clean;
            }
        }
        _ => {}
    }
}

/// `scheme://user:<redacted>@rest` for a URL with a password in it; `None` otherwise.
fn without_url_password(s: &str) -> Option<String> {
    let (scheme, rest) = s.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (user, _) = userinfo.split_once(':')?;
    Some(format!(
        "{scheme}://{user}:<redacted>{}",
        &rest[userinfo.len()..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_url_passwords_and_secret_keys_are_redacted_and_nothing_else() {
        let mut v: toml::Value = toml::from_str(
            r#"
            [notify.pagerduty]
            routing_key = "R0UTING"
            events_url = "https://events.pagerduty.com/v2/enqueue"
            [[notify.webhooks]]
            name = "chat"
            url = "https://hooks.example.com/services/T0KEN/B0T/S3CRET"
            [[notify.webhooks]]
            name = "ops"
            url = "https://ops.example.com/hook?token=QU3RY"
            [peers]
            watchdogs = ["https://admin:PASSW0RD@natsdr.eu.example:8080/v1"]
            witness = ["https://witness.example:8080"]
            "#,
        )
        .unwrap();
        redact(&mut v, "");
        let text = toml::to_string(&v).unwrap();
        for secret in ["R0UTING", "T0KEN", "S3CRET", "QU3RY", "PASSW0RD"] {
            assert!(!text.contains(secret), "{secret} shown:\n{text}");
        }
        for kept in [
            "https://events.pagerduty.com/v2/enqueue",
            "https://admin:<redacted>@natsdr.eu.example:8080/v1",
            "https://witness.example:8080",
            "name = \"chat\"",
        ] {
            assert!(text.contains(kept), "{kept} missing:\n{text}");
        }
    }

    #[test]
    fn a_url_without_a_password_is_left_alone() {
        assert_eq!(without_url_password("https://user@host/x"), None);
        assert_eq!(without_url_password("https://host/a:b@c"), None);
        assert_eq!(without_url_password("not a url"), None);
        assert_eq!(
            without_url_password("nats://u:p@h:4222").as_deref(),
            Some("nats://u:<redacted>@h:4222")
        );
    }
}
