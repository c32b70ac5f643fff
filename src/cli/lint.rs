//! `natsdr lint`: print findings for a config.
use std::io::Write;
use std::path::Path;

use super::check_config::usage_error;
use super::exit;
use crate::config::Config;
use crate::lint::{Severity, lint};

pub fn run(path: &Path, strict: bool, json: bool) -> u8 {
    let cfg = match Config::load(path) {
        Ok(c) => c,
        Err(e) => return usage_error(path, &e),
    };
    let findings = lint(&cfg);
    let mut out = std::io::stdout().lock();
    if json {
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&findings).expect("findings serialize")
        );
    } else {
        for f in &findings {
            let _ = writeln!(out, "{f}");
        }
    }
    let warnings = findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .count();
    if strict && warnings > 0 {
        exit::DRIFT
    } else {
        exit::OK
    }
}
