//! `natsdr check-config` with the Route 53 providers: what each needs, and every refusal exits
//! 64 naming the key.
use std::path::PathBuf;
use std::process::{Command, Output};

const RFC2136: &str = r#"[dns]
provider = "rfc2136"
zone = "dr.example.com."
client_record = "nats.dr.example.com."          # what clients resolve; points at the active region's entry point
owner_record = "_natsdr-owner.dr.example.com."  # TXT "region=<r> epoch=<n>": the arbiter, claimed by compare-and-swap
ttl = "5s"                     # short: resolvers move clients within the RTO

[dns.rfc2136]
server = "10.0.0.53:53"
key_name = "natsdr-key"
key_algorithm = "hmac-sha256"
key_secret_file = "/var/run/secrets/natsdr/tsig-secret"
"#;

const ROUTE53: &str = r#"[dns]
provider = "route53"
zone = "dr.example.com."
client_record = "nats.dr.example.com."
owner_record = "_natsdr-owner.dr.example.com."
ttl = "5s"

[dns.route53]
hosted_zone_id = "/hostedzone/Z0123456789EXAMPLE"
set_identifier = "us-east-1"
name_servers = ["205.251.192.10", "205.251.197.20:53"]
"#;

const HEALTH: &str = r#"[dns]
provider = "route53-health"
zone = "dr.example.com."
client_record = "nats.dr.example.com."
owner_record = "_natsdr-owner.arbiter.example.net."
ttl = "30s"

[dns.rfc2136]
server = "192.0.2.53:53"
zone = "arbiter.example.net."
key_name = "natsdr-key"
key_secret_file = "/var/run/secrets/natsdr/tsig-secret"

[dns.route53]
name_servers = ["205.251.192.10:53"]
"#;

/// The shipped example with its `[dns]` section replaced by `dns`.
fn with_dns(dns: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/natsdr.example.toml");
    let example = std::fs::read_to_string(p).unwrap();
    assert!(
        example.contains(RFC2136),
        "test bug: the example's [dns] section changed"
    );
    let toml = example.replacen(RFC2136, dns, 1);
    if dns.contains("provider = \"route53\"") {
        // The control-plane provider needs steps long enough to wait for INSYNC (see below).
        return toml.replacen(STEP_5S, "step_timeout = \"15s\"", 1);
    }
    toml
}

const STEP_5S: &str = "step_timeout = \"5s\"";

#[test]
fn the_route53_provider_refuses_steps_too_short_to_wait_for_insync() {
    let toml = with_dns(ROUTE53).replacen("step_timeout = \"15s\"", STEP_5S, 1);
    assert!(
        toml.contains(STEP_5S),
        "test bug: no step_timeout to shorten"
    );
    let line = refused(&toml);
    assert!(
        line.contains("timing.step_timeout") && line.contains("INSYNC") && line.contains("12s"),
        "{line}"
    );
    // 12 s x 5 attempts covers Route 53's 60 s: accepted.
    let ok =
        check(&with_dns(ROUTE53).replacen("step_timeout = \"15s\"", "step_timeout = \"12s\"", 1));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // The data-plane provider makes no API call in a failover: the default is fine there.
    let ok = check(&with_dns(HEALTH));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

fn check(toml: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("natsdr.toml");
    std::fs::write(&path, toml).unwrap();
    Command::new(env!("CARGO_BIN_EXE_natsdr"))
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap()
}

fn refused(toml: &str) -> String {
    let out = check(toml);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(64), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr}");
    stderr
}

#[test]
fn both_route53_modes_are_accepted_and_printed() {
    for (dns, expect) in [
        (ROUTE53, "Z0123456789EXAMPLE"),
        (HEALTH, "arbiter.example.net."),
    ] {
        let out = check(&with_dns(dns));
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(expect), "{stdout}");
    }
}

#[test]
fn route53_without_a_hosted_zone_id_is_refused() {
    let toml =
        with_dns(&ROUTE53.replace("hosted_zone_id = \"/hostedzone/Z0123456789EXAMPLE\"\n", ""));
    assert!(refused(&toml).contains("dns.route53.hosted_zone_id"));
    let toml = with_dns(&ROUTE53.replace("Z0123456789EXAMPLE", "Z01 bad"));
    assert!(refused(&toml).contains("dns.route53.hosted_zone_id"));
}

#[test]
fn route53_without_its_section_is_refused() {
    let toml = with_dns(&ROUTE53[..ROUTE53.find("[dns.route53]").unwrap()]);
    assert!(refused(&toml).contains("dns.route53"));
}

#[test]
fn a_name_server_that_is_not_an_address_is_refused() {
    let toml = with_dns(&ROUTE53.replace("205.251.192.10\"", "ns-1.awsdns-1.com\""));
    assert!(refused(&toml).contains("dns.route53.name_servers"));
}

#[test]
fn data_plane_mode_needs_an_rfc2136_arbiter_and_the_name_servers() {
    let no_arbiter = HEALTH.replace(
        &HEALTH[HEALTH.find("[dns.rfc2136]").unwrap()..HEALTH.find("[dns.route53]").unwrap()],
        "",
    );
    assert!(refused(&with_dns(&no_arbiter)).contains("dns.rfc2136"));
    let no_servers = HEALTH.replace("name_servers = [\"205.251.192.10:53\"]\n", "");
    assert!(refused(&with_dns(&no_servers)).contains("dns.route53.name_servers"));
}

#[test]
fn data_plane_mode_keeps_the_owner_record_inside_the_arbiters_zone() {
    let toml = with_dns(&HEALTH.replace(
        "owner_record = \"_natsdr-owner.arbiter.example.net.\"",
        "owner_record = \"_natsdr-owner.dr.example.com.\"",
    ));
    assert!(refused(&toml).contains("dns.owner_record"));
    // The client record stays inside dns.zone as in every mode.
    let toml = with_dns(&HEALTH.replace(
        "client_record = \"nats.dr.example.com.\"",
        "client_record = \"nats.example.org.\"",
    ));
    assert!(refused(&toml).contains("dns.client_record"));
}

#[test]
fn an_arbiter_zone_is_refused_outside_data_plane_mode() {
    let toml = with_dns(&RFC2136.replace(
        "server = \"10.0.0.53:53\"",
        "server = \"10.0.0.53:53\"\nzone = \"dr.example.com.\"",
    ));
    assert!(refused(&toml).contains("dns.rfc2136.zone"));
}

#[test]
fn an_unknown_provider_names_all_three() {
    let toml = with_dns(&RFC2136.replace("provider = \"rfc2136\"", "provider = \"route54\""));
    let line = refused(&toml);
    assert!(line.contains("route53-health"), "{line}");
}
