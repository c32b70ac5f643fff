//! Alerts, dashboard and runbooks, checked with the real tools: promtool checks the rules and runs
//! their unit tests, the PrometheusRule is the plain rules file, every alert links an existing
//! runbook, and every metric the alerts and the dashboard read is one natsdr or the NATS exporter
//! really exports (the exporter's /varz-derived names re-derived from a live nats-server).
mod deploy_common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use deploy_common::{nats_server, object, read, render, repo, run_ok, tool, yaml_objects};
use natsdr_lab::testkit::free_port;
use serde_json::Value;

const RULES: &str = "deploy/prometheus/natsdr.rules.yaml";
const RULE_TESTS: &str = "deploy/prometheus/tests/natsdr.rules.test.yaml";
const DASHBOARD: &str = "deploy/grafana/nats-jetstream-dr.json";
const EXPORTER_METRICS: &str = "deploy/prometheus/nats-exporter-metrics.txt";

fn promtool() -> Command {
    Command::new(tool("promtool", "NATSDR_PROMTOOL"))
}

/// The plain rules file as JSON (wrapped as an object so kubectl can convert it offline).
fn plain_rules() -> Value {
    let mut wrapped =
        String::from("apiVersion: v1\nkind: RulesFile\nmetadata:\n  name: rules\nspec:\n");
    for line in read(RULES).lines() {
        wrapped.push_str("  ");
        wrapped.push_str(line);
        wrapped.push('\n');
    }
    yaml_objects(wrapped.as_bytes()).remove(0)["spec"].clone()
}

fn rules() -> Vec<Value> {
    plain_rules()["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().clone())
        .collect()
}

fn dashboard() -> Value {
    serde_json::from_str(&read(DASHBOARD)).unwrap()
}

/// Every panel, rows' nested panels included.
fn panels(d: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        out.push(p.clone());
        if let Some(nested) = p["panels"].as_array() {
            out.extend(nested.iter().cloned());
        }
    }
    out
}

/// natsdr's metric names: the first column of docs/metrics.md's table.
fn natsdr_metrics() -> BTreeSet<String> {
    let names: BTreeSet<String> = read("docs/metrics.md")
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_owned)
        .collect();
    assert!(
        names.contains("natsdr_state"),
        "docs/metrics.md's table moved? {names:?}"
    );
    names
}

fn exporter_metrics() -> BTreeSet<String> {
    read(EXPORTER_METRICS)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// Whether `name` is exported: natsdr's histograms also expose _bucket, _sum and _count, and
/// Prometheus adds `up` to every target.
fn is_exported(name: &str, natsdr: &BTreeSet<String>, exporter: &BTreeSet<String>) -> bool {
    let base = ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name);
    name == "up" || exporter.contains(name) || natsdr.contains(name) || natsdr.contains(base)
}

#[test]
fn the_rules_pass_promtool_check() {
    run_ok(promtool().args(["check", "rules"]).arg(repo().join(RULES)));
}

#[test]
fn every_alert_fires_on_its_sample_series_and_stays_quiet_on_the_others() {
    let out = run_ok(
        promtool()
            .args(["test", "rules"])
            .arg(repo().join(RULE_TESTS)),
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("SUCCESS"));
}

#[test]
fn every_alert_has_a_unit_test_that_expects_it_to_fire() {
    let tests = read(RULE_TESTS);
    for rule in rules() {
        let alert = rule["alert"].as_str().unwrap();
        assert!(
            tests.contains(&format!(
                "alertname: {alert}\n        exp_alerts:\n          - exp_labels"
            )),
            "{alert}: no promtool test expects it to fire"
        );
        assert!(
            tests.contains(&format!("alertname: {alert}\n        exp_alerts: []")),
            "{alert}: no promtool test expects it to stay quiet"
        );
    }
}

#[test]
fn the_prometheusrule_is_the_plain_rules_file() {
    let base = render("deploy/natsdr/base");
    let rule = object(&base, "PrometheusRule", "natsdr");
    assert_eq!(
        rule["spec"],
        plain_rules(),
        "run deploy/prometheus/render-prometheusrule.sh"
    );
}

#[test]
fn every_alert_links_an_existing_runbook_that_names_it() {
    for rule in rules() {
        let alert = rule["alert"].as_str().unwrap();
        let url = rule["annotations"]["runbook_url"]
            .as_str()
            .unwrap_or_else(|| panic!("{alert}: no runbook_url"));
        let file = url
            .split_once("/runbooks/")
            .map(|(_, f)| format!("runbooks/{f}"))
            .unwrap_or_else(|| panic!("{alert}: {url} is not under runbooks/"));
        let page = read(&file);
        assert!(page.contains(alert), "{file} does not mention {alert}");
        assert!(
            rule["labels"]["severity"].is_string(),
            "{alert}: no severity"
        );
        assert!(
            rule["annotations"]["summary"].is_string(),
            "{alert}: no summary"
        );
    }
}

#[test]
fn every_metric_the_alerts_and_the_dashboard_read_is_exported() {
    let natsdr = natsdr_metrics();
    let exporter = exporter_metrics();
    let mut used: Vec<(String, String)> = Vec::new();
    for rule in rules() {
        let alert = rule["alert"].as_str().unwrap().to_owned();
        for m in metric_names(rule["expr"].as_str().unwrap()) {
            used.push((alert.clone(), m));
        }
    }
    let d = dashboard();
    for p in panels(&d) {
        for t in p["targets"].as_array().into_iter().flatten() {
            for m in metric_names(t["expr"].as_str().unwrap()) {
                used.push((p["title"].as_str().unwrap().to_owned(), m));
            }
        }
    }
    for a in d["annotations"]["list"].as_array().unwrap() {
        for m in metric_names(a["expr"].as_str().unwrap()) {
            used.push(("annotation".into(), m));
        }
    }
    assert!(used.len() > 20, "the extraction found too little: {used:?}");
    let missing: Vec<_> = used
        .iter()
        .filter(|(_, m)| !is_exported(m, &natsdr, &exporter))
        .collect();
    assert!(
        missing.is_empty(),
        "not exported by natsdr nor the NATS exporter: {missing:?}"
    );
}

#[test]
fn metric_name_extraction_skips_functions_labels_ranges_and_grouping() {
    let names = metric_names(
        r#"histogram_quantile(0.9, sum by (phase, le) (rate(a_bucket{job="x", le=~"1e3"}[5m]))) / on (phase) group_left b or absent(up{job="natsdr"}) unless max without (x) (c) > 1e3 and d offset 5m"#,
    );
    let expected: BTreeSet<String> = ["a_bucket", "b", "up", "c", "d"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(names, expected);
}

#[test]
fn the_dashboard_has_the_seeds_six_panels_and_natsdrs_own() {
    let d = dashboard();
    assert_eq!(
        d["uid"], "nats-jetstream-dr",
        "the seed's URL /d/nats-jetstream-dr keeps working"
    );
    let titles: Vec<String> = panels(&d)
        .iter()
        .map(|p| p["title"].as_str().unwrap().to_owned())
        .collect();
    for wanted in [
        "Cluster Health",
        "Mirror Lag",
        "Message Rate",
        "Consumer Lag",
        "Storage Usage",
        "Memory",
        "CPU",
        "natsdr state timeline",
        "Epoch",
        "Failover phase durations",
    ] {
        assert!(
            titles.iter().any(|t| t.starts_with(wanted)),
            "no panel {wanted:?} in {titles:?}"
        );
    }
    let mut ids = BTreeSet::new();
    for p in panels(&d) {
        assert!(
            ids.insert(p["id"].as_u64().unwrap()),
            "duplicate panel id {}",
            p["id"]
        );
        if p["type"] != "row" {
            assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
            assert!(
                !p["targets"].as_array().unwrap().is_empty(),
                "{}",
                p["title"]
            );
        }
    }
    let exprs: String = panels(&d)
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t["expr"].as_str().unwrap().to_owned())
        .collect();
    for m in [
        "natsdr_state",
        "natsdr_epoch",
        "natsdr_failover_phase_duration_seconds",
        "natsdr_mirror_lag_seconds",
    ] {
        assert!(exprs.contains(m), "the dashboard does not show {m}");
    }
}

#[test]
fn the_dashboard_configmap_is_labelled_for_grafanas_sidecar() {
    let objects = render("deploy/grafana");
    let cm = object(&objects, "ConfigMap", "nats-jetstream-dr-dashboard");
    assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
    let embedded: Value =
        serde_json::from_str(cm["data"]["nats-jetstream-dr.json"].as_str().unwrap()).unwrap();
    assert_eq!(embedded, dashboard());
}

/// A nats-server with JetStream and monitoring on free loopback ports, killed on drop.
struct Server {
    child: Child,
    http_port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_nats() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let (port, http_port) = (free_port(), free_port());
    let conf = dir.path().join("s.conf");
    std::fs::write(
        &conf,
        format!(
            "server_name: varz\nlisten: 127.0.0.1:{port}\nhttp: 127.0.0.1:{http_port}\n\
             jetstream {{ store_dir: {:?}, domain: us-east-1 }}\n",
            dir.path().join("js")
        ),
    )
    .unwrap();
    let child = Command::new(nats_server())
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Server {
        child,
        http_port,
        _dir: dir,
    }
}

/// GET /varz over plain HTTP/1.0, retried while the server starts (bounded: 10 s).
fn varz(port: u16) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            s.write_all(b"GET /varz HTTP/1.0\r\nHost: localhost\r\n\r\n")
                .unwrap();
            let mut body = String::new();
            s.read_to_string(&mut body).unwrap();
            if let Some((_, json)) = body.split_once("\r\n\r\n") {
                return serde_json::from_str(json).unwrap();
            }
        }
        assert!(
            Instant::now() < deadline,
            "nats-server's /varz did not answer"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// prometheus-nats-exporter's naming rule (collector/collector.go, objectToMetrics and fqName):
/// one gauge per numeric field, nested objects flattened with "_", a few label-like strings too.
fn exporter_varz_names(v: &Value, path: &[String], out: &mut BTreeSet<String>) {
    const SKIP: [&str; 9] = [
        "leaf",
        "trusted_operators_claim",
        "cluster_tls_timeout",
        "cluster_cluster_port",
        "cluster_auth_timeout",
        "gateway_port",
        "gateway_auth_timeout",
        "gateway_tls_timeout",
        "gateway_connect_retries",
    ];
    const LABELS: [&str; 8] = [
        "server_id",
        "server_name",
        "version",
        "domain",
        "leader",
        "name",
        "start",
        "config_load_time",
    ];
    for (k, v) in v.as_object().unwrap() {
        let mut p = path.to_vec();
        p.push(k.clone());
        // fqName: "/" becomes "_", then runs of "_" collapse ("/varz" -> "http_req_stats_varz").
        let mut fqn = p.join("_").replace('/', "_").trim_matches('_').to_owned();
        while fqn.contains("__") {
            fqn = fqn.replace("__", "_");
        }
        if SKIP.contains(&fqn.as_str()) {
            continue;
        }
        match v {
            Value::Number(_) => {
                out.insert(format!("gnatsd_varz_{fqn}"));
            }
            Value::String(_) if LABELS.contains(&k.as_str()) => {
                out.insert(format!("gnatsd_varz_{fqn}"));
            }
            Value::Object(_) => exporter_varz_names(v, &p, out),
            _ => {}
        }
    }
}

#[test]
fn the_listed_varz_metrics_are_what_the_exporter_derives_from_a_live_nats_server() {
    let server = start_nats();
    let mut live = BTreeSet::new();
    exporter_varz_names(&varz(server.http_port), &[], &mut live);
    let listed: BTreeSet<String> = exporter_metrics()
        .into_iter()
        .filter(|m| m.starts_with("gnatsd_varz_"))
        .collect();
    let stale: Vec<_> = listed.difference(&live).collect();
    assert!(
        stale.is_empty(),
        "listed but not derived from this nats-server's /varz: {stale:?}"
    );
    for used in [
        "gnatsd_varz_in_msgs",
        "gnatsd_varz_out_msgs",
        "gnatsd_varz_mem",
        "gnatsd_varz_cpu",
        "gnatsd_varz_jetstream_stats_storage",
    ] {
        assert!(
            live.contains(used),
            "{used} not derived from the live /varz"
        );
    }
}

#[test]
fn every_procedure_has_a_runbook_with_symptoms_commands_and_verification() {
    for page in [
        "automatic-failover",
        "planned-switchover",
        "failback",
        "split-brain-suspicion",
        "pause-for-maintenance",
        "break-glass-failover",
        "watchdog-down",
        "dns-pending",
        "mirror-stalled",
        "route53-data-plane",
    ] {
        let text = read(format!("runbooks/{page}.md"));
        for section in ["## Symptoms", "## Verify"] {
            assert!(
                text.contains(section),
                "runbooks/{page}.md has no {section:?}"
            );
        }
        assert!(
            text.contains("natsdr "),
            "runbooks/{page}.md shows no natsdr command"
        );
    }
    // The index lists every page.
    let index = read("runbooks/README.md");
    for entry in std::fs::read_dir(repo().join("runbooks")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name != "README.md" {
            assert!(
                index.contains(&format!("({name})")),
                "runbooks/README.md does not link {name}"
            );
        }
    }
}

#[test]
fn runbook_commands_use_only_natsdrs_subcommands() {
    const SUBCOMMANDS: [&str; 14] = [
        "run",
        "backup",
        "status",
        "pause",
        "resume",
        "switchover",
        "failover",
        "failback",
        "ack",
        "lint",
        "plan",
        "apply",
        "check-config",
        "demo",
    ];
    for entry in std::fs::read_dir(repo().join("runbooks")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut in_code = false;
        for line in text.lines() {
            if line.starts_with("```") {
                in_code = !in_code;
                continue;
            }
            if let Some(rest) = line
                .trim_start()
                .strip_prefix("natsdr ")
                .filter(|_| in_code)
            {
                let sub = rest.split_whitespace().next().unwrap_or_default();
                assert!(
                    SUBCOMMANDS.contains(&sub),
                    "{}: unknown subcommand in {line:?}",
                    path.display()
                );
            }
        }
    }
}

/// PromQL words that are not metric names.
const PROMQL_WORDS: [&str; 12] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
];

/// The metric names a PromQL expression reads: identifiers outside label matchers, strings,
/// ranges and grouping clauses that are not functions or keywords. Good enough for the
/// expressions in this repository; not a PromQL parser.
fn metric_names(expr: &str) -> BTreeSet<String> {
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
                while i + 1 < chars.len()
                    && (chars[i + 1].is_alphanumeric() || "_{}".contains(chars[i + 1]))
                {
                    i += 1;
                }
            }
            _ if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i + 1 < chars.len()
                    && (chars[i + 1].is_ascii_alphanumeric() || "_:".contains(chars[i + 1]))
                {
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

/// `/metrics` as a running watchdog serves it parses with Prometheus's own checker
/// (`promtool check metrics`), with values set the way a failover sets them.
#[test]
fn the_exposition_passes_promtool_check_metrics() {
    let regions = ["us-east-1".to_owned(), "eu-central-1".to_owned()];
    let mirrors = ["events-eu-mirror".to_owned()];
    let peers = ["http://127.0.0.1:1".to_owned()];
    let (registry, m) = natsdr::telemetry::Metrics::new(&regions, &mirrors, &peers);
    m.set_state("failing_over");
    m.set_epoch(2, Some("eu-central-1"));
    m.set_region("us-east-1", false, 0, 3, false, true);
    m.set_mirror("events-eu-mirror", 12, 0.4, f64::NAN);
    m.transition("suspect", "failing_over");
    m.phase("claim", 0.002);
    m.dns_op("claim", "ok");
    m.notification("pagerduty", "sent");
    let text = natsdr::telemetry::metrics::encode(&registry);

    let mut child = Command::new(tool("promtool", "NATSDR_PROMTOOL"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // NB: natsdr serves OpenMetrics, where a counter's HELP names the family (`natsdr_commands`);
    // promtool 2.42 lints with the classic text rules and wants it on `natsdr_commands_total`.
    // That one finding is the format difference; anything else (a parse error, a bad name or
    // unit) fails the test.
    let findings: Vec<&str> = report
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.contains("_total no help text"))
        .collect();
    assert!(
        findings.is_empty(),
        "promtool findings:\n{report}\n---\n{text}"
    );
    let counters = text
        .lines()
        .filter(|l| l.starts_with("# TYPE ") && l.ends_with(" counter"))
        .count();
    assert!(counters >= 5, "the exposition has its counters:\n{text}");
}

#[test]
fn the_dashboard_filters_by_site_region_and_stream_and_links_each_alerts_runbook() {
    let d = dashboard();
    let vars: Vec<String> = d["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_owned())
        .collect();
    let exprs: Vec<String> = panels(&d)
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t["expr"].as_str().unwrap().to_owned())
        .collect();
    for var in ["site", "region", "stream"] {
        assert!(
            vars.iter().any(|v| v == var),
            "no ${var} variable: {vars:?}"
        );
        assert!(
            exprs.iter().any(|e| e.contains(&format!("=~\"${var}\""))),
            "no panel filters by ${var}"
        );
    }
    // Every natsdr series carries the watchdog's site: every natsdr query honours the filter.
    for e in exprs.iter().filter(|e| e.contains("natsdr_")) {
        assert!(e.contains("site=~\"$site\""), "not filtered by site: {e}");
    }
    // Each runbook link points at a page that exists.
    let mut linked = BTreeSet::new();
    for p in panels(&d) {
        for link in p["links"].as_array().cloned().unwrap_or_default() {
            let url = link["url"].as_str().unwrap();
            let page = url.split_once("/runbooks/").unwrap().1;
            assert!(
                repo().join("runbooks").join(page).is_file(),
                "{}: {url} is no runbook",
                p["title"]
            );
            linked.insert(page.to_owned());
        }
    }
    // The alerts about what the dashboard shows are one click away.
    for rule in rules() {
        let alert = rule["alert"].as_str().unwrap();
        let page = rule["annotations"]["runbook_url"]
            .as_str()
            .unwrap()
            .split_once("/runbooks/")
            .unwrap()
            .1;
        let shown = metric_names(rule["expr"].as_str().unwrap())
            .iter()
            .any(|m| exprs.iter().any(|e| e.contains(m.as_str())));
        if shown {
            assert!(
                linked.contains(page),
                "{alert}: the panel showing its metric links no {page}"
            );
        }
    }
    // The mirror-lag panel turns red where NATSMirrorLagHigh fires.
    let lag = panels(&d)
        .into_iter()
        .find(|p| p["title"] == "Mirror Lag")
        .unwrap();
    let steps = lag["fieldConfig"]["defaults"]["thresholds"]["steps"]
        .as_array()
        .unwrap()
        .clone();
    let red = steps.iter().find(|s| s["color"] == "red").unwrap();
    let rule = rules()
        .into_iter()
        .find(|r| r["alert"] == "NATSMirrorLagHigh")
        .unwrap();
    let fires_over: f64 = rule["expr"]
        .as_str()
        .unwrap()
        .rsplit_once('>')
        .unwrap()
        .1
        .trim()
        .parse()
        .unwrap();
    assert_eq!(red["value"].as_f64(), Some(fires_over));
}
