//! Shared by the `check-config` tests: run the binary on a config, and check that it is
//! accepted or refused with exit 64 and one line naming the key.
// Each test crate that includes this module uses a different subset of it.
#![allow(dead_code)]
use std::path::PathBuf;
use std::process::{Command, Output};

/// A shipped example config (`config/<name>`).
pub fn example(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("config")
        .join(name);
    std::fs::read_to_string(p).unwrap()
}

/// The main shipped example with `section` (a TOML table) appended.
pub fn example_with(section: &str) -> String {
    format!("{}\n{section}\n", example("natsdr.example.toml"))
}

/// Runs `natsdr check-config` on `toml` with the environment variables `env`.
pub fn check(toml: &str, env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("natsdr.toml");
    std::fs::write(&path, toml).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_natsdr"));
    cmd.arg("check-config").arg(&path);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Runs a broken config and returns its single stderr line, after checking the exit code.
pub fn refused(toml: &str, env: &[(&str, &str)]) -> String {
    let out = check(toml, env);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(64), "stderr: {stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "one clear line expected, got: {stderr}"
    );
    stderr
}

/// Runs a config that must be accepted, and returns what it prints.
pub fn check_ok(toml: &str, env: &[(&str, &str)]) -> String {
    let out = check(toml, env);
    assert_eq!(
        out.status.code(),
        Some(0),
        "refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a broken config and checks that its one line names each of `words`.
pub fn refused_naming(toml: &str, env: &[(&str, &str)], words: &[&str]) {
    let line = refused(toml, env);
    for word in words {
        assert!(line.contains(word), "{word:?} not in {line}");
    }
}

/// The main shipped example with the first `from` replaced by `to`.
pub fn edited(from: &str, to: &str) -> String {
    replace(&example("natsdr.example.toml"), from, to)
}

/// `toml` with the first `from` replaced by `to`, which must be there.
pub fn replace(toml: &str, from: &str, to: &str) -> String {
    assert!(toml.contains(from), "test bug: {from:?} not in the example");
    toml.replacen(from, to, 1)
}
