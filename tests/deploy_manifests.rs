//! The Kubernetes manifests and the Dockerfile, checked with the real tools: every overlay
//! renders with `kubectl kustomize`, the rendered objects agree with each other and with natsdr
//! (probes, ports, config, images), the NATS config passes `nats-server -t`, and the Dockerfile
//! is clean under hadolint and agrees with Cargo.toml.
mod deploy_common;

use std::collections::BTreeSet;
use std::process::Command;

use deploy_common::{nats_server, object, read, render, repo, run_ok, tool};
use serde_json::Value;

const NATSDR_OVERLAYS: [&str; 3] = ["us-east-1", "eu-central-1", "witness"];
const NATS_OVERLAYS: [&str; 2] = ["us-east-1", "eu-central-1"];

/// Every container and init container of a workload's pod template.
fn containers(workload: &Value) -> Vec<&Value> {
    let spec = &workload["spec"]["template"]["spec"];
    ["initContainers", "containers"]
        .iter()
        .filter_map(|k| spec[k].as_array())
        .flatten()
        .collect()
}

fn natsdr(overlay: &str) -> Vec<Value> {
    render(&format!("deploy/natsdr/{overlay}"))
}

fn nats(overlay: &str) -> Vec<Value> {
    render(&format!("deploy/nats/{overlay}"))
}

fn every_render() -> Vec<(String, Vec<Value>)> {
    let mut all: Vec<(String, Vec<Value>)> = NATSDR_OVERLAYS
        .iter()
        .map(|o| (format!("natsdr/{o}"), natsdr(o)))
        .collect();
    all.extend(NATS_OVERLAYS.iter().map(|o| (format!("nats/{o}"), nats(o))));
    all.push(("grafana".into(), render("deploy/grafana")));
    all
}

fn workloads(objects: &[Value]) -> impl Iterator<Item = &Value> {
    objects.iter().filter(|o| {
        ["Deployment", "StatefulSet", "DaemonSet", "Job"].contains(&o["kind"].as_str().unwrap())
    })
}

/// The text of `file` in the ConfigMap `name`.
fn config_file<'a>(objects: &'a [Value], name: &str, file: &str) -> &'a str {
    object(objects, "ConfigMap", name)["data"][file]
        .as_str()
        .unwrap_or_else(|| panic!("ConfigMap {name} carries no {file}"))
}

/// The natsdr.toml an overlay's ConfigMap carries, parsed.
fn natsdr_config(objects: &[Value]) -> toml::Table {
    config_file(objects, "natsdr-config", "natsdr.toml")
        .parse()
        .unwrap()
}

/// A container port number by name.
fn port(container: &Value, name: &str) -> u64 {
    container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no port {name} in {container}"))["containerPort"]
        .as_u64()
        .unwrap()
}

#[test]
fn every_overlay_renders_and_names_a_namespace_for_every_namespaced_object() {
    for (name, objects) in every_render() {
        assert!(!objects.is_empty(), "{name} rendered nothing");
        for o in &objects {
            assert!(
                o["metadata"]["namespace"].is_string(),
                "{name}: {} {} has no namespace",
                o["kind"],
                o["metadata"]["name"]
            );
        }
    }
}

#[test]
fn natsdr_probes_ports_and_scrape_hit_the_routes_natsdr_serves() {
    for overlay in NATSDR_OVERLAYS {
        let objects = natsdr(overlay);
        let deploy = object(&objects, "Deployment", "natsdr");
        let c = &containers(deploy)[0];
        assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/livez", "{overlay}");
        assert_eq!(
            c["readinessProbe"]["httpGet"]["path"], "/readyz",
            "{overlay}"
        );
        for probe in ["livenessProbe", "readinessProbe"] {
            assert_eq!(c[probe]["httpGet"]["port"], "http", "{overlay} {probe}");
        }
        let http = port(c, "http");
        let listen = natsdr_config(&objects)["api"]["listen"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            listen.ends_with(&format!(":{http}")),
            "{overlay}: natsdr listens on {listen}, the container port is {http}"
        );
        let svc = object(&objects, "Service", "natsdr");
        assert_eq!(svc["spec"]["ports"][0]["targetPort"], "http", "{overlay}");
        assert_eq!(svc["spec"]["ports"][0]["port"], http, "{overlay}");
        let sm = object(&objects, "ServiceMonitor", "natsdr");
        assert_eq!(sm["spec"]["endpoints"][0]["port"], "http", "{overlay}");
        assert_eq!(sm["spec"]["endpoints"][0]["path"], "/metrics", "{overlay}");
        // The Service carries the region label the ServiceMonitor turns into `site`. Not into
        // `region`: natsdr's own series carry that label, and Prometheus would rename theirs.
        assert!(
            svc["metadata"]["labels"]["natsdr.io/region"].is_string(),
            "{overlay}"
        );
        let targets: Vec<&str> = sm["spec"]["endpoints"][0]["relabelings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["targetLabel"].as_str().unwrap())
            .collect();
        assert_eq!(targets, ["job", "site"], "{overlay}");
    }
}

#[test]
fn natsdr_runs_the_dockerfile_entry_point_with_the_mounted_config() {
    let dockerfile = read("Dockerfile");
    assert!(dockerfile.contains(r#"ENTRYPOINT ["/usr/local/bin/natsdr"]"#));
    assert!(dockerfile.contains(r#"CMD ["run", "--config", "/etc/natsdr/natsdr.toml"]"#));
    assert!(dockerfile.contains("EXPOSE 8080"));
    for overlay in NATSDR_OVERLAYS {
        let objects = natsdr(overlay);
        let deploy = object(&objects, "Deployment", "natsdr");
        let c = &containers(deploy)[0];
        assert_eq!(
            c["args"],
            serde_json::json!(["run", "--config", "/etc/natsdr/natsdr.toml"]),
            "{overlay}"
        );
        assert_eq!(port(c, "http"), 8080, "{overlay}");
        let mount = c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["mountPath"] == "/etc/natsdr")
            .unwrap();
        let volume = deploy["spec"]["template"]["spec"]["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == mount["name"])
            .unwrap();
        let cm_name = volume["configMap"]["name"].as_str().unwrap();
        let cm = object(&objects, "ConfigMap", "natsdr-config");
        assert_eq!(
            cm["metadata"]["name"], cm_name,
            "{overlay}: the hashed name is wired"
        );
        let image = c["image"].as_str().unwrap();
        assert!(
            image.ends_with(&format!(":{}", env!("CARGO_PKG_VERSION"))),
            "{overlay}: image {image} is not this crate's version"
        );
    }
}

#[test]
fn no_container_is_privileged_runs_as_root_or_writes_its_root_filesystem() {
    for (name, objects) in every_render() {
        for w in workloads(&objects) {
            let pod = &w["spec"]["template"]["spec"];
            let wname = &w["metadata"]["name"];
            assert_eq!(
                pod["securityContext"]["runAsNonRoot"], true,
                "{name} {wname}"
            );
            assert_eq!(pod["automountServiceAccountToken"], false, "{name} {wname}");
            assert_ne!(pod["hostNetwork"], true, "{name} {wname}");
            for c in containers(w) {
                let sc = &c["securityContext"];
                let cname = &c["name"];
                assert_ne!(sc["privileged"], true, "{name} {wname}/{cname}");
                assert_eq!(
                    sc["allowPrivilegeEscalation"], false,
                    "{name} {wname}/{cname}"
                );
                assert_eq!(sc["readOnlyRootFilesystem"], true, "{name} {wname}/{cname}");
                assert_eq!(
                    sc["capabilities"]["drop"],
                    serde_json::json!(["ALL"]),
                    "{name} {wname}/{cname}"
                );
                assert!(
                    sc["capabilities"]["add"].is_null(),
                    "{name} {wname}/{cname}"
                );
                let image = c["image"].as_str().unwrap();
                let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or_default();
                assert!(
                    !tag.is_empty() && tag != "latest" && !tag.contains('/'),
                    "{name} {wname}/{cname}: image {image} is not pinned"
                );
                assert!(
                    c["resources"]["requests"].is_object(),
                    "{name} {wname}/{cname}"
                );
                assert!(
                    c["resources"]["limits"]["memory"].is_string(),
                    "{name} {wname}/{cname}"
                );
            }
        }
    }
}

#[test]
fn natsdr_needs_no_kubernetes_api_access() {
    for overlay in NATSDR_OVERLAYS {
        let objects = natsdr(overlay);
        for o in &objects {
            let kind = o["kind"].as_str().unwrap();
            assert!(
                !["Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"].contains(&kind),
                "{overlay}: natsdr needs no RBAC, found {kind}"
            );
        }
        let sa = object(&objects, "ServiceAccount", "natsdr");
        assert_eq!(sa["automountServiceAccountToken"], false, "{overlay}");
        let deploy = object(&objects, "Deployment", "natsdr");
        assert_eq!(
            deploy["spec"]["template"]["spec"]["serviceAccountName"],
            "natsdr"
        );
        assert_eq!(
            deploy["spec"]["replicas"], 1,
            "{overlay}: one owner of the state"
        );
        assert_eq!(deploy["spec"]["strategy"]["type"], "Recreate", "{overlay}");
    }
}

#[test]
fn natsdr_network_policy_allows_exactly_its_egress_and_its_api() {
    for overlay in NATSDR_OVERLAYS {
        let objects = natsdr(overlay);
        let np = object(&objects, "NetworkPolicy", "natsdr");
        let deploy = object(&objects, "Deployment", "natsdr");
        assert_eq!(
            np["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"],
            deploy["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
        );
        let ports = |rules: &Value| -> BTreeSet<(String, u64)> {
            rules
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|r| r["ports"].as_array().unwrap())
                .map(|p| {
                    (
                        p["protocol"].as_str().unwrap().to_owned(),
                        p["port"].as_u64().unwrap(),
                    )
                })
                .collect()
        };
        let egress: BTreeSet<(String, u64)> = [
            ("TCP", 4222),
            ("TCP", 8080),
            ("UDP", 53),
            ("TCP", 53),
            ("TCP", 443),
        ]
        .iter()
        .map(|(p, n)| (p.to_string(), *n))
        .collect();
        assert_eq!(ports(&np["spec"]["egress"]), egress, "{overlay}");
        assert_eq!(
            ports(&np["spec"]["ingress"]),
            BTreeSet::from([("TCP".to_owned(), 8080)]),
            "{overlay}"
        );
    }
}

#[test]
fn each_overlay_config_is_valid_and_names_its_own_place() {
    // The tokens, passwords and keys; the TLS certificate, key and CA.
    let secret_mounts = ["/var/run/secrets/natsdr/", "/var/run/secrets/natsdr-tls/"];
    for (overlay, region, role) in [
        ("us-east-1", "us-east-1", "watchdog"),
        ("eu-central-1", "eu-central-1", "watchdog"),
        ("witness", "us-west-2", "witness"),
    ] {
        let objects = natsdr(overlay);
        let text = config_file(&objects, "natsdr-config", "natsdr.toml");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("natsdr.toml");
        std::fs::write(&path, text).unwrap();
        if let Err(e) = natsdr::config::Config::load(&path) {
            panic!("{overlay}: natsdr refuses its config: {e}");
        }
        let cfg: toml::Table = text.parse().unwrap();
        assert_eq!(
            cfg["watchdog"]["region"].as_str(),
            Some(region),
            "{overlay}"
        );
        assert_eq!(cfg["watchdog"]["role"].as_str(), Some(role), "{overlay}");
        let deploy = object(&objects, "Deployment", "natsdr");
        assert_eq!(
            deploy["spec"]["template"]["metadata"]["labels"]["natsdr.io/region"], region,
            "{overlay}: the pod's region label (alerts, dashboard) is the config's"
        );
        // Peers: never itself.
        let own = format!("natsdr.{region}.");
        for peer in cfg["peers"]["watchdogs"].as_array().unwrap() {
            assert!(
                !peer.as_str().unwrap().contains(&own),
                "{overlay} polls itself: {peer}"
            );
        }
        // Every secret file lives in a mounted Secret, and both Secrets are mounted.
        let mut files = Vec::new();
        collect_file_keys(&toml::Value::Table(cfg.clone()), &mut files);
        assert!(!files.is_empty());
        for f in &files {
            assert!(
                secret_mounts.iter().any(|m| f.starts_with(m)),
                "{overlay}: {f} is not in a Secret mount"
            );
        }
        assert!(
            files.iter().any(|f| f.starts_with(secret_mounts[1])),
            "{overlay}: no TLS files"
        );
        let mounts = containers(deploy)[0]["volumeMounts"].clone();
        for m in secret_mounts {
            assert!(
                mounts
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|v| v["mountPath"] == m.trim_end_matches('/')),
                "{overlay}: Secret not mounted at {m}"
            );
        }
        // Every peer is reached over HTTPS.
        for peer in cfg["peers"]["watchdogs"]
            .as_array()
            .unwrap()
            .iter()
            .chain(cfg["peers"].get("witness"))
        {
            assert!(
                peer.as_str().unwrap().starts_with("https://"),
                "{overlay}: {peer} in clear"
            );
        }
    }
}

fn collect_file_keys(v: &toml::Value, out: &mut Vec<String>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                if k.ends_with("_file") {
                    out.push(v.as_str().unwrap().to_owned());
                } else {
                    collect_file_keys(v, out);
                }
            }
        }
        toml::Value::Array(a) => a.iter().for_each(|v| collect_file_keys(v, out)),
        _ => {}
    }
}

#[test]
fn overlay_configs_agree_with_the_shipped_example_config() {
    let example: toml::Table = read("config/natsdr.example.toml").parse().unwrap();
    for overlay in NATSDR_OVERLAYS {
        let cfg = natsdr_config(&natsdr(overlay));
        for section in ["timing", "rpo", "api", "streams", "mirrors"] {
            assert_eq!(
                cfg.get(section),
                example.get(section),
                "{overlay}: [{section}]"
            );
        }
        if overlay == "witness" {
            assert!(cfg.get("dns").is_none(), "a witness never touches DNS");
        } else {
            assert_eq!(cfg.get("dns"), example.get("dns"), "{overlay}: [dns]");
        }
        let regions = |t: &toml::Table| -> Vec<Vec<Option<toml::Value>>> {
            t["regions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    [
                        "name",
                        "home",
                        "domain",
                        "cluster_size",
                        "client_urls",
                        "entry_point",
                    ]
                    .iter()
                    .map(|k| r.get(*k).cloned())
                    .collect()
                })
                .collect()
        };
        assert_eq!(regions(&cfg), regions(&example), "{overlay}: [[regions]]");
    }
}

#[test]
fn natsdr_reaches_each_region_through_its_nats_headless_service() {
    let example: toml::Table = read("config/natsdr.example.toml").parse().unwrap();
    for region in example["regions"].as_array().unwrap() {
        let name = region["name"].as_str().unwrap();
        let objects = nats(name);
        let svc = object(&objects, "Service", "nats");
        assert_eq!(svc["metadata"]["namespace"], name);
        assert_eq!(svc["spec"]["clusterIP"], "None");
        let sts = object(&objects, "StatefulSet", "nats");
        assert_eq!(sts["spec"]["serviceName"], "nats");
        let size = region["cluster_size"].as_integer().unwrap();
        assert_eq!(sts["spec"]["replicas"].as_i64(), Some(size), "{name}");
        let urls: Vec<String> = region["client_urls"].clone().try_into().unwrap();
        let expected: Vec<String> = (0..size)
            .map(|i| format!("nats://nats-{i}.nats.{name}.svc:4222"))
            .collect();
        assert_eq!(urls, expected, "{name}");
        let client = port(containers(sts)[0], "client");
        assert_eq!(client, 4222);
        assert_eq!(
            region["domain"].as_str(),
            Some(name),
            "domain = region = NATS_REGION label"
        );
    }
}

#[test]
fn nats_statefulsets_run_three_servers_with_volumes_and_the_exporter_sidecar() {
    for overlay in NATS_OVERLAYS {
        let objects = nats(overlay);
        let sts = object(&objects, "StatefulSet", "nats");
        assert_eq!(sts["spec"]["replicas"], 3);
        assert_eq!(
            sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"],
            "data"
        );
        let cs = containers(sts);
        let server = cs.iter().find(|c| c["name"] == "nats").unwrap();
        let exporter = cs.iter().find(|c| c["name"] == "exporter").unwrap();
        assert!(
            server["image"].as_str().unwrap().starts_with("nats:2.1"),
            "2.12+ for in-place promotion"
        );
        let args: Vec<String> = serde_json::from_value(exporter["args"].clone()).unwrap();
        for flag in ["-jsz=all", "-healthz", "-varz"] {
            assert!(
                args.iter().any(|a| a == flag),
                "{overlay}: exporter needs {flag} for the alerts"
            );
        }
        let monitor = port(server, "monitor");
        assert_eq!(args.last(), Some(&format!("http://localhost:{monitor}")));
        let pm = object(&objects, "PodMonitor", "nats");
        let scraped = pm["spec"]["podMetricsEndpoints"][0]["port"]
            .as_str()
            .unwrap();
        port(exporter, scraped);
        for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
            assert_eq!(
                server[probe]["httpGet"]["port"], "monitor",
                "{overlay} {probe}"
            );
        }
        assert_eq!(
            sts["spec"]["template"]["metadata"]["labels"]["natsdr.io/region"], overlay,
            "{overlay}: NATS_REGION comes from this label"
        );
        let pdb = object(&objects, "PodDisruptionBudget", "nats");
        assert_eq!(
            pdb["spec"]["maxUnavailable"], 1,
            "keep the quorum during drains"
        );
    }
}

/// Writes a region's rendered NATS config where the pod would see it and runs `nats-server -t`
/// with exactly the environment the StatefulSet gives the container (secrets as dummies).
fn nats_config_check(overlay: &str) -> std::process::Output {
    let objects = nats(overlay);
    let cm = object(&objects, "ConfigMap", "nats-config");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::create_dir(&config).unwrap();
    for (file, text) in cm["data"].as_object().unwrap() {
        std::fs::write(config.join(file), text.as_str().unwrap()).unwrap();
    }
    let sts = object(&objects, "StatefulSet", "nats");
    let server = containers(sts)
        .into_iter()
        .find(|c| c["name"] == "nats")
        .unwrap();
    for m in server["volumeMounts"].as_array().unwrap() {
        if m["mountPath"] == "/etc/nats/leaf-remote" {
            let leaf = dir.path().join("leaf-remote");
            std::fs::create_dir(&leaf).unwrap();
            std::fs::copy(
                repo().join("deploy/nats/eu-central-1/leaf-remote.example.conf"),
                leaf.join("remote.conf"),
            )
            .unwrap();
        }
    }
    let mut cmd = Command::new(nats_server());
    cmd.env_clear()
        .arg("-t")
        .arg("-c")
        .arg(config.join("nats.conf"));
    for e in server["env"].as_array().unwrap() {
        let name = e["name"].as_str().unwrap();
        let value = match name {
            "POD_NAME" => "nats-0".to_owned(),
            "NATS_REGION" => overlay.to_owned(),
            _ => format!("dummy-{}", name.to_lowercase()),
        };
        cmd.env(name, value);
    }
    // NB: `dir` (the config files) lives until after the command has run.
    cmd.output().unwrap()
}

#[test]
fn rendered_nats_configs_pass_nats_server_config_check_with_exactly_the_statefulset_env() {
    for overlay in NATS_OVERLAYS {
        let out = nats_config_check(overlay);
        assert!(
            out.status.success(),
            "{overlay}: nats-server -t refused the config:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_nats_region_label_is_what_nats_server_sees_as_domain() {
    for overlay in NATS_OVERLAYS {
        let objects = nats(overlay);
        let sts = object(&objects, "StatefulSet", "nats");
        let server = containers(sts)
            .into_iter()
            .find(|c| c["name"] == "nats")
            .unwrap();
        let env = server["env"].as_array().unwrap();
        let region = env.iter().find(|e| e["name"] == "NATS_REGION").unwrap();
        assert_eq!(
            region["valueFrom"]["fieldRef"]["fieldPath"],
            "metadata.labels['natsdr.io/region']"
        );
        let conf = config_file(&objects, "nats-config", "nats.conf");
        assert!(conf.contains("domain: $NATS_REGION"));
        assert!(
            conf.contains("no_advertise: true"),
            "clients must reconnect through the DNS name, never to learned pod addresses"
        );
        assert!(conf.contains("name: $NATS_REGION"));
    }
}

#[test]
fn eu_central_1_dials_the_us_east_1_leafnode_service_in_the_app_account() {
    let us = nats("us-east-1");
    let leaf_svc = object(&us, "Service", "nats-leaf");
    let svc_port = leaf_svc["spec"]["ports"][0]["port"].as_u64().unwrap();
    let us_conf = config_file(&us, "nats-config", "region.conf");
    assert!(us_conf.contains(&format!("listen: 0.0.0.0:{svc_port}")));
    assert!(us_conf.contains("account: APP"));
    let remote = read("deploy/nats/eu-central-1/leaf-remote.example.conf");
    let expected = format!(
        "@nats-leaf.{}.svc:{svc_port}\"",
        leaf_svc["metadata"]["namespace"].as_str().unwrap()
    );
    assert!(
        remote.contains(&expected),
        "remote must dial {expected}: {remote}"
    );
    assert!(
        remote.contains("account: APP"),
        "only APP crosses the leafnode"
    );
    let eu = nats("eu-central-1");
    let eu_conf = config_file(&eu, "nats-config", "region.conf");
    assert!(eu_conf.contains("include \"../leaf-remote/remote.conf\""));
    assert!(
        !eu_conf.contains("listen"),
        "the standby is a spoke, not a hub"
    );
}

#[test]
fn dockerfile_is_clean_under_hadolint() {
    run_ok(
        Command::new(tool("hadolint", "NATSDR_HADOLINT"))
            .arg("--failure-threshold")
            .arg("info")
            .arg(repo().join("Dockerfile")),
    );
}

#[test]
fn dockerfile_agrees_with_cargo_toml() {
    let dockerfile = read("Dockerfile");
    let cargo: toml::Table = read("Cargo.toml").parse().unwrap();
    let bins = cargo["bin"].as_array().unwrap();
    assert_eq!(bins.len(), 1);
    let bin = bins[0]["name"].as_str().unwrap();
    assert_eq!(bin, "natsdr");
    assert!(dockerfile.contains(&format!(
        "cargo build --release --locked -p natsdr --bin {bin}"
    )));
    // The image holds the daemon only: the lab's sources are not in the build context and no
    // build step names its package.
    assert!(!dockerfile.contains("COPY crates/natsdr-lab/src"));
    assert!(!dockerfile.contains("-p natsdr-lab"));
    // Every workspace member's manifest is copied (cargo reads them all to build one package).
    for member in cargo["workspace"]["members"].as_array().unwrap() {
        let member = member.as_str().unwrap();
        if member != "." {
            assert!(
                dockerfile.contains(&format!("COPY {member}/Cargo.toml ./{member}/")),
                "the manifest of workspace member {member} must be copied"
            );
        }
    }
    assert!(dockerfile.contains(&format!(
        "COPY --from=builder /src/target/release/{bin} /usr/local/bin/{bin}"
    )));
    // The stub sources of the dependency layer sit where Cargo.toml says the targets are.
    for target in [
        bins[0]["path"].as_str().unwrap(),
        cargo["lib"]["path"].as_str().unwrap(),
    ] {
        assert!(
            dockerfile.contains(target),
            "the dependency layer must stub {target}"
        );
        assert!(target.starts_with("src/"), "COPY src covers {target}");
    }
    // The image copies only Cargo.toml, Cargo.lock, build.rs and src/: a build script elsewhere
    // or an explicitly declared test, bench or example target would break its `cargo build`.
    assert!(
        cargo["package"].get("build").is_none(),
        "a build script other than build.rs must be copied by the Dockerfile"
    );
    if repo().join("build.rs").exists() {
        assert!(
            dockerfile.contains("COPY Cargo.toml Cargo.lock build.rs ./"),
            "build.rs must be copied with the manifests (the dependency layer runs it)"
        );
    }
    for kind in ["test", "bench", "example"] {
        assert!(
            cargo.get(kind).is_none(),
            "[[{kind}]] targets are declared: the Dockerfile's build needs their files"
        );
    }
    // The builder is at least the crate's MSRV.
    let msrv = cargo["workspace"]["package"]["rust-version"]
        .as_str()
        .unwrap();
    let builder = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("FROM rust:"))
        .and_then(|l| l.split('-').next())
        .unwrap();
    let version = |v: &str| -> Vec<u32> { v.split('.').map(|p| p.parse().unwrap()).collect() };
    assert!(
        version(builder) >= version(msrv),
        "builder rust:{builder} < rust-version {msrv}"
    );
    // Final stage: non-root, no shell-based healthcheck, natsdr as the entry point.
    let last_from = dockerfile.rfind("\nFROM ").unwrap();
    let final_stage = &dockerfile[last_from..];
    assert!(final_stage.contains("FROM gcr.io/distroless/cc-debian12:nonroot"));
    assert!(final_stage.contains("USER 65532:65532"));
    assert!(
        !dockerfile
            .lines()
            .any(|l| l.trim_start().starts_with("HEALTHCHECK"))
    );
    assert!(final_stage.contains(&format!("ENTRYPOINT [\"/usr/local/bin/{bin}\"]")));
    assert!(final_stage.contains("org.opencontainers.image.title=\"natsdr\""));
    // Every COPY source from the build context exists and passes .dockerignore's allow-list.
    let allowed: Vec<String> = read(".dockerignore")
        .lines()
        .filter_map(|l| l.strip_prefix('!'))
        .map(|l| l.trim_end_matches('/').to_owned())
        .collect();
    for line in dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from="))
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        for src in &words[1..words.len() - 1] {
            assert!(
                repo().join(src).exists(),
                "COPY {src}: not in the repository"
            );
            assert!(
                allowed.iter().any(|a| a == src),
                "COPY {src}: excluded by .dockerignore"
            );
        }
    }
}

#[test]
fn the_route53_component_adds_irsa_and_nothing_else() {
    // NB: kustomize refuses absolute paths to bases: reach the repository relatively.
    let dir = tempfile::tempdir().unwrap();
    let up = "../".repeat(dir.path().components().count() - 1);
    let base = format!(
        "{up}{}",
        repo()
            .join("deploy/natsdr")
            .display()
            .to_string()
            .trim_start_matches('/')
    );
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        format!("resources:\n  - {base}/us-east-1\ncomponents:\n  - {base}/components/route53\n"),
    )
    .unwrap();
    let out = run_ok(
        Command::new(tool("kubectl", "NATSDR_KUBECTL"))
            .env("KUBECONFIG", "/dev/null")
            .arg("kustomize")
            .arg(dir.path()),
    );
    let with = deploy_common::yaml_objects(&out.stdout);
    let without = natsdr("us-east-1");
    assert_eq!(with.len(), without.len());
    let sa = object(&with, "ServiceAccount", "natsdr");
    assert!(
        sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:iam::"),
    );
    assert_eq!(
        sa["automountServiceAccountToken"], false,
        "IRSA mounts its own token"
    );
    let policy: Value =
        serde_json::from_str(&read("deploy/route53/control-plane-iam-policy.json")).unwrap();
    let text = policy.to_string();
    assert!(
        !text.contains("UPSERT"),
        "the cutover is DELETE + CREATE only"
    );
    assert!(
        text.contains("route53:GetChange"),
        "natsdr waits for INSYNC"
    );
}

#[test]
fn the_route53_data_plane_example_asks_a_majority_of_natsdrs_about_each_region() {
    // Wrapped so kubectl converts it offline (the template uses long-form intrinsics only).
    let mut wrapped = String::from("apiVersion: v1\nkind: Template\nmetadata:\n  name: t\nspec:\n");
    for line in read("deploy/route53/data-plane.cfn.yaml").lines() {
        wrapped.push_str("  ");
        wrapped.push_str(line);
        wrapped.push('\n');
    }
    let cfn = deploy_common::yaml_objects(wrapped.as_bytes()).remove(0)["spec"].clone();
    let resources = cfn["Resources"].as_object().unwrap();
    let records: Vec<&Value> = resources
        .values()
        .filter(|r| r["Type"] == "AWS::Route53::RecordSet")
        .collect();
    let mut roles = BTreeSet::new();
    for record in records {
        let p = &record["Properties"];
        roles.insert((
            p["Failover"].as_str().unwrap().to_owned(),
            p["SetIdentifier"].as_str().unwrap().to_owned(),
        ));
        let calculated = &resources[p["HealthCheckId"]["Ref"].as_str().unwrap()]["Properties"]["HealthCheckConfig"];
        assert_eq!(calculated["Type"], "CALCULATED");
        assert_eq!(calculated["HealthThreshold"], 2);
        let children = calculated["ChildHealthChecks"].as_array().unwrap();
        assert_eq!(children.len(), 3, "both watchdogs and the witness");
        let region = p["SetIdentifier"].as_str().unwrap();
        let mut hosts = BTreeSet::new();
        for child in children {
            let c = &resources[child["Ref"].as_str().unwrap()]["Properties"]["HealthCheckConfig"];
            assert_eq!(c["ResourcePath"], format!("/v1/dns-health/{region}"));
            assert_eq!(c["Port"], 8080);
            hosts.insert(
                c["FullyQualifiedDomainName"]["Ref"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        assert_eq!(hosts.len(), 3, "{region}: three different vantage points");
    }
    assert_eq!(
        roles,
        BTreeSet::from([
            ("PRIMARY".to_owned(), "us-east-1".to_owned()),
            ("SECONDARY".to_owned(), "eu-central-1".to_owned())
        ])
    );
}

/// The quoted entries of `key: [ ... ]` in a NATS config text.
fn nats_list(text: &str, key: &str) -> Vec<String> {
    let start = text
        .find(&format!("{key}: ["))
        .unwrap_or_else(|| panic!("no {key} in {text}"));
    let body = &text[start..];
    let body = &body[..body.find(']').unwrap()];
    body.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_leaf_remote_denies_exactly_the_managed_subjects_both_ways() {
    let cfg = natsdr::config::Config::load(&repo().join("config/natsdr.example.toml")).unwrap();
    let mut expected = natsdr::topology::leaf_deny(&cfg);
    expected.sort();
    let remote = read("deploy/nats/eu-central-1/leaf-remote.example.conf");
    for key in ["deny_imports", "deny_exports"] {
        let mut got = nats_list(&remote, key);
        got.sort();
        assert_eq!(got, expected, "{key} in leaf-remote.example.conf");
    }
}

#[test]
fn each_watchdog_keeps_its_snapshots_on_a_writable_volume_not_the_read_only_root() {
    for overlay in ["us-east-1", "eu-central-1"] {
        let objects = natsdr(overlay);
        let dir = natsdr_config(&objects)["watchdog"]["snapshot_dir"]
            .as_str()
            .unwrap_or_else(|| panic!("{overlay}: watchdog.snapshot_dir unset (the default is under the read-only /tmp)"))
            .to_owned();
        let deployment = workloads(&objects).next().expect("the natsdr Deployment");
        let volumes = deployment["spec"]["template"]["spec"]["volumes"]
            .as_array()
            .unwrap();
        let natsdr_container = containers(deployment)
            .into_iter()
            .find(|c| c["name"] == "natsdr")
            .expect("the natsdr container");
        let writable = natsdr_container["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["readOnly"] != true)
            .filter(|m| {
                volumes
                    .iter()
                    .any(|v| v["name"] == m["name"] && v.get("emptyDir").is_some())
            })
            .filter_map(|m| m["mountPath"].as_str())
            .any(|p| dir.starts_with(&format!("{}/", p.trim_end_matches('/'))));
        assert!(writable, "{overlay}: {dir} is not on a writable volume");
    }
}
