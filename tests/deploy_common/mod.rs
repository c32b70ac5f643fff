//! Shared by the deploy tests: find the pinned tools, and render kustomize overlays to JSON.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A pinned tool from `.tools/` (installed by scripts/deploy-tools.sh), or the path in `env_var`.
/// Panics when it is missing: these tests must fail, never skip, on a machine without it.
pub fn tool(name: &str, env_var: &str) -> PathBuf {
    let path = std::env::var_os(env_var)
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".tools").join(name));
    assert!(
        path.is_file(),
        "{name} not found at {} (set {env_var}, or run scripts/deploy-tools.sh)",
        path.display()
    );
    path
}

/// The pinned nats-server, as the rest of the test suite finds it.
pub fn nats_server() -> PathBuf {
    let path = std::env::var_os("NATSDR_NATS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".tools/nats-server-default/nats-server"));
    assert!(
        path.is_file(),
        "nats-server not found at {} (set NATSDR_NATS_SERVER, or run scripts/deps.sh)",
        path.display()
    );
    path
}

/// Runs `cmd` and returns its output, panicking with stderr if it did not succeed.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn kubectl() -> Command {
    let mut cmd = Command::new(tool("kubectl", "NATSDR_KUBECTL"));
    // NB: nothing here may reach a cluster: no kubeconfig, no home directory.
    cmd.env("KUBECONFIG", "/dev/null")
        .env("HOME", "/nonexistent");
    cmd
}

/// Converts Kubernetes YAML (one or many documents) to JSON objects, offline. `kubectl label
/// --local` parses any kind without a cluster; the label it adds is removed again here.
pub fn yaml_objects(yaml: &[u8]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("objects.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = run_ok(
        kubectl()
            .args(["label", "--local", "-o", "json", "-f"])
            .arg(&file)
            .arg("natsdr.test/converted=yes"),
    );
    serde_json::Deserializer::from_slice(&out.stdout)
        .into_iter::<Value>()
        .map(|v| {
            let mut v = v.unwrap();
            let labels = v["metadata"]["labels"].as_object_mut().unwrap();
            labels.remove("natsdr.test/converted");
            if labels.is_empty() {
                v["metadata"].as_object_mut().unwrap().remove("labels");
            }
            v
        })
        .collect()
}

/// Renders a kustomization directory (relative to the repo) with `kubectl kustomize`.
pub fn render(dir: &str) -> Vec<Value> {
    let out = run_ok(kubectl().arg("kustomize").arg(repo().join(dir)));
    yaml_objects(&out.stdout)
}

/// The single object of `kind` named `name`, or `name` plus a kustomize hash suffix.
pub fn object<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    let found: Vec<&Value> = objects
        .iter()
        .filter(|o| {
            let n = o["metadata"]["name"].as_str().unwrap_or_default();
            let hashed = n
                .strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|h| {
                    h.len() == 10
                        && h.chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                });
            o["kind"] == kind && (n == name || hashed)
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {kind} {name}, found {found:?}"
    );
    found[0]
}

/// Reads a repository file as text.
pub fn read(path: impl AsRef<Path>) -> String {
    let p = repo().join(path);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}
