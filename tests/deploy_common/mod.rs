//! Shared by the deploy tests: find the pinned tools, render kustomize overlays to JSON, and pull
//! metric names out of PromQL.
use std::collections::BTreeSet;
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
    cmd.env("KUBECONFIG", "/dev/null").env("HOME", "/nonexistent");
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
            let hashed = n.strip_prefix(name).and_then(|rest| rest.strip_prefix('-')).is_some_and(
                |h| h.len() == 10 && h.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
            );
            o["kind"] == kind && (n == name || hashed)
        })
        .collect();
    assert_eq!(found.len(), 1, "expected one {kind} {name}, found {found:?}");
    found[0]
}

/// Every container and init container of a workload's pod template.
pub fn containers(workload: &Value) -> Vec<&Value> {
    let spec = &workload["spec"]["template"]["spec"];
    ["initContainers", "containers"]
        .iter()
        .filter_map(|k| spec[k].as_array())
        .flatten()
        .collect()
}

/// Reads a repository file as text.
pub fn read(path: impl AsRef<Path>) -> String {
    let p = repo().join(path);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// PromQL words that are not metric names.
const PROMQL_WORDS: [&str; 12] = [
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
    "offset", "inf",
];

/// The metric names a PromQL expression reads: identifiers outside label matchers, strings,
/// ranges and grouping clauses that are not functions or keywords. Good enough for the
/// expressions in this repository; not a PromQL parser.
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let (mut i, mut depth_braces, mut depth_brackets) = (0, 0, 0);
    let mut skip_group = false; // inside `by (...)`, `on (...)`...
    let mut last_word = String::new();
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => {
                i += 1;
                while i < chars.len() && chars[i] != c {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
            }
            '{' => depth_braces += 1,
            '}' => depth_braces -= 1,
            '[' => depth_brackets += 1,
            ']' => depth_brackets -= 1,
            '(' if PROMQL_WORDS[..6].contains(&last_word.as_str()) => skip_group = true,
            ')' if skip_group => skip_group = false,
            '$' => {
                // Grafana variables ($__range, ${datasource}).
                while i + 1 < chars.len() && (chars[i + 1].is_alphanumeric() || "_{}".contains(chars[i + 1])) {
                    i += 1;
                }
            }
            _ if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i + 1 < chars.len() && (chars[i + 1].is_ascii_alphanumeric() || "_:".contains(chars[i + 1])) {
                    i += 1;
                }
                let prev = start.checked_sub(1).map(|p| chars[p]);
                let word: String = chars[start..=i].iter().collect();
                let in_number = prev.is_some_and(|p| p.is_ascii_digit() || p == '.');
                let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
                let is_call = next == Some(&'(');
                let followed_by_grouping = {
                    let rest: String = chars[i + 1..].iter().collect();
                    let rest = rest.trim_start();
                    rest.starts_with("by") || rest.starts_with("without")
                };
                if depth_braces == 0
                    && depth_brackets == 0
                    && !skip_group
                    && !in_number
                    && !is_call
                    && !followed_by_grouping
                    && !PROMQL_WORDS.contains(&word.to_ascii_lowercase().as_str())
                {
                    names.insert(word.clone());
                }
                last_word = word;
                i += 1;
                continue;
            }
            _ => {}
        }
        if !c.is_whitespace() {
            last_word.clear();
        }
        i += 1;
    }
    names
}
