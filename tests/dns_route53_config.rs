//! `natsdr check-config` with the Route 53 providers: what each needs, and every refusal exits
//! 64 naming the key.
mod config_common;

use config_common::{check_ok, example};

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
    let example = example("natsdr.example.toml");
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
    refused(&toml, &["timing.step_timeout", "INSYNC", "12s"]);
    // 12 s x 5 attempts covers Route 53's 60 s: accepted.
    check_ok(
        &with_dns(ROUTE53).replacen("step_timeout = \"15s\"", "step_timeout = \"12s\"", 1),
        &[],
    );
    // The data-plane provider makes no API call in a failover: the default is fine there.
    check_ok(&with_dns(HEALTH), &[]);
}

/// Checks that the example with the `[dns]` section `dns`, its first `from` replaced by `to`,
/// is refused with one line naming each of `words`.
fn refused_after(dns: &str, from: &str, to: &str, words: &[&str]) {
    assert!(dns.contains(from), "test bug: {from:?} not in the section");
    refused(&with_dns(&dns.replace(from, to)), words);
}

/// Checks that `toml` is refused with one line naming each of `words`.
fn refused(toml: &str, words: &[&str]) {
    config_common::refused_naming(toml, &[], words);
}

#[test]
fn both_route53_modes_are_accepted_and_printed() {
    for (dns, expect) in [
        (ROUTE53, "Z0123456789EXAMPLE"),
        (HEALTH, "arbiter.example.net."),
    ] {
        let stdout = check_ok(&with_dns(dns), &[]);
        assert!(stdout.contains(expect), "{stdout}");
    }
}

#[test]
fn route53_without_a_hosted_zone_id_is_refused() {
    let toml =
        with_dns(&ROUTE53.replace("hosted_zone_id = \"/hostedzone/Z0123456789EXAMPLE\"\n", ""));
    refused(&toml, &["dns.route53.hosted_zone_id"]);
    refused_after(
        ROUTE53,
        "Z0123456789EXAMPLE",
        "Z01 bad",
        &["dns.route53.hosted_zone_id"],
    );
}

#[test]
fn route53_without_its_section_is_refused() {
    let toml = with_dns(&ROUTE53[..ROUTE53.find("[dns.route53]").unwrap()]);
    refused(&toml, &["dns.route53"]);
}

#[test]
fn a_name_server_that_is_not_an_address_is_refused() {
    refused_after(
        ROUTE53,
        "205.251.192.10\"",
        "ns-1.awsdns-1.com\"",
        &["dns.route53.name_servers"],
    );
}

#[test]
fn data_plane_mode_needs_an_rfc2136_arbiter_and_the_name_servers() {
    let no_arbiter = HEALTH.replace(
        &HEALTH[HEALTH.find("[dns.rfc2136]").unwrap()..HEALTH.find("[dns.route53]").unwrap()],
        "",
    );
    refused(&with_dns(&no_arbiter), &["dns.rfc2136"]);
    let no_servers = HEALTH.replace("name_servers = [\"205.251.192.10:53\"]\n", "");
    refused(&with_dns(&no_servers), &["dns.route53.name_servers"]);
}

#[test]
fn data_plane_mode_keeps_the_owner_record_inside_the_arbiters_zone() {
    refused_after(
        HEALTH,
        "owner_record = \"_natsdr-owner.arbiter.example.net.\"",
        "owner_record = \"_natsdr-owner.dr.example.com.\"",
        &["dns.owner_record"],
    );
    // The client record stays inside dns.zone as in every mode.
    refused_after(
        HEALTH,
        "client_record = \"nats.dr.example.com.\"",
        "client_record = \"nats.example.org.\"",
        &["dns.client_record"],
    );
}

#[test]
fn an_arbiter_zone_is_refused_outside_data_plane_mode() {
    refused_after(
        RFC2136,
        "server = \"10.0.0.53:53\"",
        "server = \"10.0.0.53:53\"\nzone = \"dr.example.com.\"",
        &["dns.rfc2136.zone"],
    );
}

#[test]
fn an_unknown_provider_names_all_three() {
    refused_after(
        RFC2136,
        "provider = \"rfc2136\"",
        "provider = \"route54\"",
        &["route53-health"],
    );
}
