//! The workspace's shape, checked with cargo itself: the decision core pulls in no runtime or
//! I/O crate, the daemon does not depend on the lab, the operator CLI offers no harness command,
//! and the Dockerfile's build context (its stub layer, then its sources) resolves as a workspace
//! with the committed lockfile.
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `cargo <args>` in `dir`, offline and with the lockfile as committed; its stdout.
fn cargo(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO"))
        .current_dir(dir)
        .args(args)
        .args(["--locked", "--offline"])
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The names of the packages `package` depends on at run time (build and dev dependencies left
/// out), from `cargo tree`.
fn runtime_dependencies(package: &str) -> Vec<String> {
    let tree = cargo(
        &repo(),
        &[
            "tree", "-p", package, "-e", "normal", "--prefix", "none", "--format", "{p}",
        ],
    );
    tree.lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_core_crate_depends_on_no_runtime_network_or_clock_crate() {
    let deps = runtime_dependencies("natsdr-core");
    assert!(deps.iter().any(|d| d == "natsdr-core"), "{deps:?}");
    for banned in [
        "tokio",
        "async-nats",
        "axum",
        "reqwest",
        "hyper",
        "hickory-proto",
        "aws-sdk-route53",
        "time",
        "natsdr",
    ] {
        assert!(
            !deps.iter().any(|d| d == banned),
            "natsdr-core depends on {banned}: {deps:?}"
        );
    }
}

#[test]
fn the_daemon_does_not_depend_on_the_lab() {
    let deps = runtime_dependencies("natsdr");
    assert!(deps.iter().any(|d| d == "natsdr-core"), "{deps:?}");
    assert!(deps.iter().any(|d| d == "tokio"), "{deps:?}");
    assert!(
        !deps.iter().any(|d| d == "natsdr-lab"),
        "the daemon pulls in the lab: {deps:?}"
    );
}

#[test]
fn the_operator_cli_offers_no_harness_command() {
    let out = Command::new(env!("CARGO_BIN_EXE_natsdr"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(commands.contains(&"run"), "{help}");
    assert!(commands.contains(&"status"), "{help}");
    for harness in ["lab", "demo", "bench", "chaos"] {
        assert!(
            !commands.contains(&harness),
            "`natsdr --help` lists {harness}: {commands:?}"
        );
    }
}

/// Copies `src` (a file or a directory) from the repository to `dst`.
fn copy(src: &Path, dst: &Path) {
    if src.is_dir() {
        std::fs::create_dir_all(dst).unwrap();
        for entry in std::fs::read_dir(src).unwrap() {
            let entry = entry.unwrap();
            copy(&entry.path(), &dst.join(entry.file_name()));
        }
    } else {
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(src, dst).unwrap();
    }
}

/// Replays the builder stage of the Dockerfile in a scratch directory: each `COPY` from the
/// build context, and each `RUN` with its `cargo build` replaced by `cargo metadata` (which
/// resolves the whole workspace against the lockfile, as the build must, without compiling).
#[test]
fn the_dockerfile_build_context_resolves_as_a_workspace_without_the_lab_sources() {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let builder: Vec<String> = {
        let joined = dockerfile.replace("\\\n", " ");
        joined
            .lines()
            .skip_while(|l| !l.starts_with("FROM rust:"))
            .skip(1)
            .take_while(|l| !l.starts_with("FROM "))
            .map(str::to_owned)
            .collect()
    };
    let ctx = tempfile::tempdir().unwrap();
    let dir = ctx.path();
    let mut builds = 0;
    for line in &builder {
        if let Some(rest) = line.strip_prefix("COPY ") {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let (dest, sources) = words.split_last().unwrap();
            for src in sources {
                let from = repo().join(src);
                let name = Path::new(src).file_name().unwrap();
                let to = if dest.ends_with('/') || sources.len() > 1 {
                    dir.join(dest).join(name)
                } else {
                    dir.join(dest)
                };
                copy(&from, &to);
            }
        } else if let Some(script) = line.strip_prefix("RUN ") {
            assert!(script.contains("cargo build --release --locked -p natsdr"));
            builds += 1;
            let script = script.replace(
                "cargo build --release --locked -p natsdr --bin natsdr",
                "cargo metadata --format-version 1 --locked --offline >/dev/null",
            );
            let script = script.replace(
                "cargo build --release --locked -p natsdr",
                "cargo metadata --format-version 1 --locked --offline >/dev/null",
            );
            let out = Command::new("bash")
                .arg("-ec")
                .arg(&script)
                .current_dir(dir)
                .env("PATH", path_with_cargo())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "RUN {script}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    assert_eq!(builds, 2, "a dependency layer and the build");
    // The daemon's package and its core are there; the lab is a manifest and stubs only.
    assert!(dir.join("src/cli/run.rs").is_file());
    assert!(dir.join("crates/natsdr-core/src/decide.rs").is_file());
    assert!(!dir.join("crates/natsdr-lab/src/lab").exists());
    let tree = cargo(
        dir,
        &["tree", "-p", "natsdr", "-e", "normal", "--prefix", "none"],
    );
    assert!(!tree.contains("natsdr-lab"), "{tree}");
}

/// `PATH` with the directory of the cargo that runs the tests first.
fn path_with_cargo() -> String {
    let cargo_dir = Path::new(env!("CARGO")).parent().unwrap().to_owned();
    format!(
        "{}:{}",
        cargo_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}
