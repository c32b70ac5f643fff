//! `Config::try_from(RawConfig)`: every rule a config must satisfy, each failure naming its key.
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::ConfigError;
use super::overlap::SubjectIndex;
use super::policy::{STEP_ATTEMPTS, policy_params};
use super::raw::{RawAuth, RawConfig, RawKv, RawMirror, RawRegion, RawStream};
use super::secret::SecretRef;
use super::units::{self, Quantity};
use super::{
    Api, ApiLimits, ApiTls, Auth, Config, Consumers, Discard, Dns, DnsProvider, EntryPoint,
    Failback, Home, KvSpec, Limits, MirrorSpec, PeerTls, Peers, RegionConfig, Retention,
    Rfc2136Server, Role, RpoBudget, Storage, StreamSpec, TailPolicy, Timing, Tls, TwoSite,
    Watchdog,
};
use crate::model::{Region, StreamName};

type Result<T> = std::result::Result<T, ConfigError>;

/// Parses every entry of a config list with `parse`, which gets the entry's index to name its
/// key (`streams[3].name`); the first refusal is the answer.
fn each<R, T>(raw: &[R], mut parse: impl FnMut(usize, &R) -> Result<T>) -> Result<Vec<T>> {
    raw.iter().enumerate().map(|(i, r)| parse(i, r)).collect()
}

fn dur(key: &str, q: &Quantity) -> Result<Duration> {
    units::duration(q).map_err(|p| ConfigError::invalid(key, p))
}

fn opt_dur(key: &str, q: &Option<Quantity>) -> Result<Option<Duration>> {
    q.as_ref().map(|q| dur(key, q)).transpose()
}

fn opt_size(key: &str, q: &Option<Quantity>) -> Result<Option<u64>> {
    q.as_ref()
        .map(|q| units::size(q).map_err(|p| ConfigError::invalid(key, p)))
        .transpose()
}

/// The API server's limits: a timeout under 100 ms would close connections a WAN peer is still
/// writing; zero connections, requests or body bytes would refuse everyone.
fn audit_rotation(raw: &super::raw::RawApi) -> Result<super::AuditRotation> {
    let max_bytes = units::size(&raw.audit_log_max_size)
        .map_err(|p| ConfigError::invalid("api.audit_log_max_size", p))?;
    if max_bytes < 4096 {
        return Err(ConfigError::invalid(
            "api.audit_log_max_size",
            format!("{max_bytes} bytes is less than 4KiB: a single record may not fit"),
        ));
    }
    if raw.audit_log_keep == 0 {
        return Err(ConfigError::invalid(
            "api.audit_log_keep",
            "must be at least 1 (the file rotated last is the only copy of its records)",
        ));
    }
    Ok(super::AuditRotation {
        max_bytes,
        keep: raw.audit_log_keep,
    })
}

fn api_limits(raw: &super::raw::RawApi) -> Result<ApiLimits> {
    let at_least = |key: &str, d: Duration, min: Duration| {
        if d < min {
            Err(ConfigError::invalid(
                key,
                format!("{d:?} is shorter than {min:?}"),
            ))
        } else {
            Ok(d)
        }
    };
    let positive = |key: &str, n: usize| {
        if n == 0 {
            Err(ConfigError::invalid(key, "must be at least 1".to_owned()))
        } else {
            Ok(n)
        }
    };
    let max_body =
        units::size(&raw.max_body).map_err(|p| ConfigError::invalid("api.max_body", p))?;
    Ok(ApiLimits {
        header_timeout: at_least(
            "api.header_timeout",
            dur("api.header_timeout", &raw.header_timeout)?,
            Duration::from_millis(100),
        )?,
        request_timeout: at_least(
            "api.request_timeout",
            dur("api.request_timeout", &raw.request_timeout)?,
            Duration::from_secs(1),
        )?,
        max_connections: positive("api.max_connections", raw.max_connections)?,
        max_in_flight: positive("api.max_in_flight", raw.max_in_flight)?,
        max_body: positive(
            "api.max_body",
            usize::try_from(max_body).unwrap_or(usize::MAX),
        )?,
    })
}

impl Default for ApiLimits {
    /// The limits a config without them gets (tests and tools that build an API by hand).
    fn default() -> Self {
        api_limits(&super::raw::RawApi::default()).expect("the default [api] limits are valid")
    }
}

/// The value whose config spelling `value` is, among `choices`; anything else is refused,
/// naming `key` and listing the spellings.
fn one_of<T: Copy>(key: impl Into<String>, value: &str, choices: &[(&str, T)]) -> Result<T> {
    if let Some((_, v)) = choices.iter().find(|(name, _)| *name == value) {
        return Ok(*v);
    }
    let names: Vec<String> = choices
        .iter()
        .map(|(name, _)| format!("{name:?}"))
        .collect();
    let (last, rest) = names.split_last().expect("at least one choice");
    Err(ConfigError::invalid(
        key,
        format!("{value:?}: expected {} or {last}", rest.join(", ")),
    ))
}

fn api_tls(raw: &super::raw::RawApiTls) -> Result<ApiTls> {
    let client_cert_required = one_of(
        "api.tls.client_auth",
        raw.client_auth.as_deref().unwrap_or("required"),
        &[("required", true), ("optional", false)],
    )?;
    if raw.client_auth.is_some() && raw.client_ca_file.is_none() {
        return Err(ConfigError::invalid(
            "api.tls.client_auth",
            "needs api.tls.client_ca_file (the CA client certificates are checked against)"
                .to_owned(),
        ));
    }
    Ok(ApiTls {
        cert_file: PathBuf::from(&raw.cert_file),
        key_file: PathBuf::from(&raw.key_file),
        client_ca_file: raw.client_ca_file.as_ref().map(PathBuf::from),
        client_cert_required,
    })
}

fn peer_tls(raw: &super::raw::RawPeers) -> Result<PeerTls> {
    let identity = match (&raw.cert_file, &raw.key_file) {
        (Some(c), Some(k)) => Some((PathBuf::from(c), PathBuf::from(k))),
        (None, None) => None,
        (Some(_), None) => {
            return Err(ConfigError::invalid(
                "peers.key_file",
                "missing: peers.cert_file needs its key".to_owned(),
            ));
        }
        (None, Some(_)) => {
            return Err(ConfigError::invalid(
                "peers.cert_file",
                "missing: peers.key_file needs its certificate".to_owned(),
            ));
        }
    };
    Ok(PeerTls {
        ca_file: raw.ca_file.as_ref().map(PathBuf::from),
        identity,
    })
}

fn region(key: &str, s: &str) -> Result<Region> {
    Region::new(s).map_err(|e| ConfigError::invalid(key, format!("{s:?} {e}")))
}

fn stream_name(key: &str, s: &str) -> Result<StreamName> {
    StreamName::new(s).map_err(|e| ConfigError::invalid(key, format!("{s:?} {e}")))
}

/// Exactly one of inline / file / env, or none.
fn secret(
    key: &str,
    inline: &Option<String>,
    file: &Option<String>,
    env: &Option<String>,
) -> Result<Option<SecretRef>> {
    match (inline, file, env) {
        (None, None, None) => Ok(None),
        (Some(s), None, None) => Ok(Some(SecretRef::Inline(s.clone()))),
        (None, Some(f), None) => Ok(Some(SecretRef::File(PathBuf::from(f)))),
        (None, None, Some(v)) => Ok(Some(SecretRef::Env(v.clone()))),
        _ => Err(ConfigError::invalid(
            key,
            "give only one of the inline value, *_file or *_env",
        )),
    }
}

fn replicas(key: &str, n: u8) -> Result<u8> {
    if (1..=5).contains(&n) {
        Ok(n)
    } else {
        Err(ConfigError::invalid(
            key,
            format!("{n} replicas: must be 1 to 5"),
        ))
    }
}

impl TryFrom<RawConfig> for Config {
    type Error = ConfigError;

    fn try_from(raw: RawConfig) -> Result<Self> {
        let regions = regions(&raw.regions)?;
        let names: Vec<&Region> = regions.iter().map(|r| &r.name).collect();

        let w = &raw.watchdog;
        if w.id.trim().is_empty() {
            return Err(ConfigError::invalid("watchdog.id", "must not be empty"));
        }
        let role = one_of(
            "watchdog.role",
            &w.role,
            &[("watchdog", Role::Watchdog), ("witness", Role::Witness)],
        )?;
        let site = region("watchdog.region", &w.region)?;
        if role == Role::Watchdog && !names.contains(&&site) {
            return Err(ConfigError::invalid(
                "watchdog.region",
                format!(
                    "{site} is not one of the configured regions ({}, {}); a watchdog runs in one of them",
                    names[0], names[1]
                ),
            ));
        }
        let two_site = one_of(
            "watchdog.two_site",
            &w.two_site,
            &[("manual", TwoSite::Manual), ("lease", TwoSite::Lease)],
        )?;
        let snapshot_dir = match &w.snapshot_dir {
            Some(d) if !Path::new(d).is_absolute() => {
                return Err(ConfigError::invalid(
                    "watchdog.snapshot_dir",
                    format!("{d:?}: must be an absolute path"),
                ));
            }
            d => d.as_ref().map(PathBuf::from),
        };
        let watchdog = Watchdog {
            id: w.id.clone(),
            site,
            role,
            auto_failover: w.auto_failover,
            auto_unfence: w.auto_unfence,
            two_site,
            snapshot_dir,
        };

        let timing = timing(&raw)?;
        let rpo = RpoBudget {
            max_lag_messages: raw.rpo.max_lag_messages,
            max_lag_seconds: dur("rpo.max_lag_seconds", &raw.rpo.max_lag_seconds)?,
        };

        let api = Api {
            listen: raw.api.listen.parse::<SocketAddr>().map_err(|e| {
                ConfigError::invalid("api.listen", format!("{:?}: {e}", raw.api.listen))
            })?,
            token: secret(
                "api.token",
                &raw.api.token,
                &raw.api.token_file,
                &raw.api.token_env,
            )?,
            read_requires_token: raw.api.read_requires_token,
            audit_log: raw.api.audit_log.as_ref().map(PathBuf::from),
            audit_rotation: audit_rotation(&raw.api)?,
            limits: api_limits(&raw.api)?,
            tls: raw.api.tls.as_ref().map(api_tls).transpose()?,
        };
        let notify = notify(&raw.notify)?;
        let failback = Failback {
            tail: one_of(
                "failback.tail",
                &raw.failback.tail,
                &[
                    ("republish", TailPolicy::Republish),
                    ("keep", TailPolicy::Keep),
                ],
            )?,
            reseed_timeout: dur("failback.reseed_timeout", &raw.failback.reseed_timeout)?,
        };
        if failback.reseed_timeout.is_zero() {
            return Err(ConfigError::invalid(
                "failback.reseed_timeout",
                "must be longer than zero",
            ));
        }
        let peers = Peers {
            watchdogs: raw.peers.watchdogs.clone(),
            witness: raw.peers.witness.clone(),
            token: secret(
                "peers.token",
                &raw.peers.token,
                &raw.peers.token_file,
                &raw.peers.token_env,
            )?,
            tls: peer_tls(&raw.peers)?,
        };
        for (i, u) in peers
            .watchdogs
            .iter()
            .chain(peers.witness.iter())
            .enumerate()
        {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(ConfigError::invalid(
                    format!("peers[{i}]"),
                    format!("{u:?}: expected an http:// or https:// URL"),
                ));
            }
            // NB: the token authorises reading the votes; over plain HTTP across regions anyone
            // on the path reads the token and can forge the votes.
            if u.starts_with("http://") && peers.token.is_some() && !raw.peers.allow_plain_http {
                return Err(ConfigError::invalid(
                    format!("peers[{i}]"),
                    format!(
                        "{u:?}: the peer token would cross the network in clear; use https:// \
                         (peers.ca_file, [api.tls] on the peer) or set peers.allow_plain_http = true"
                    ),
                ));
            }
        }

        let dns = raw.dns.as_ref().map(dns).transpose()?;
        if let Some(Dns {
            provider: DnsProvider::Route53(_),
            ..
        }) = &dns
        {
            route53_step_budget(&timing)?;
        }
        if role == Role::Watchdog && dns.is_none() {
            return Err(ConfigError::invalid(
                "dns",
                "missing: a watchdog needs the arbiter (the [dns] section) to claim epochs",
            ));
        }

        let streams = each(&raw.streams, |i, s| stream(i, s, &names))?;
        // NB: checked before mirrors resolve their sources, so a duplicate is named as such.
        unique(stream_names(&streams))?;
        let streams_by_name = by_name(&streams);
        let mirrors = each(&raw.mirrors, |i, m| mirror(i, m, &names, &streams_by_name))?;
        let kv = each(&raw.kv, |i, k| kv(i, k, &names))?;
        topology_rules(&streams, &mirrors, &kv)?;
        let backup = raw
            .backup
            .as_ref()
            .map(|b| backup(b, &streams, &mirrors, &kv))
            .transpose()?;

        let cfg = Config {
            watchdog,
            timing,
            rpo,
            api,
            peers,
            dns,
            regions,
            streams,
            mirrors,
            kv,
            notify,
            failback,
            consumers: consumers(&raw.consumers)?,
            backup,
        };
        // The decision core owns the timing rule that rules out split-brain (the old primary
        // fences itself strictly before the standby may promote); config defers to it.
        crate::core::Policy::try_new(policy_params(&cfg)).map_err(|e| {
            let key = match e {
                crate::core::PolicyError::UnsafeTiming { .. } => "timing.failover_delay",
                _ => "timing",
            };
            ConfigError::invalid(key, e.to_string())
        })?;
        Ok(cfg)
    }
}

fn notify(n: &super::raw::RawNotify) -> Result<super::Notify> {
    let url = |key: &str, u: &str| -> Result<String> {
        if u.starts_with("http://") || u.starts_with("https://") {
            Ok(u.to_owned())
        } else {
            Err(ConfigError::invalid(
                key,
                "expected an http:// or https:// URL",
            ))
        }
    };
    let pagerduty = match &n.pagerduty {
        None => None,
        Some(p) => Some(super::PagerDutyConfig {
            routing_key: secret(
                "notify.pagerduty.routing_key",
                &p.routing_key,
                &p.routing_key_file,
                &p.routing_key_env,
            )?
            .ok_or_else(|| {
                ConfigError::invalid(
                    "notify.pagerduty.routing_key",
                    "missing: give routing_key_file or routing_key_env",
                )
            })?,
            events_url: url(
                "notify.pagerduty.events_url",
                p.events_url
                    .as_deref()
                    .unwrap_or(crate::notify::pagerduty::DEFAULT_EVENTS_URL),
            )?,
            client_url: p.client_url.clone(),
        }),
    };
    let webhooks = each(&n.webhooks, |i, w| {
        Ok(super::WebhookConfig {
            name: w.name.clone(),
            url: url(&format!("notify.webhooks[{i}].url"), &w.url)?,
            secret: secret(
                &format!("notify.webhooks[{i}].secret"),
                &w.secret,
                &w.secret_file,
                &w.secret_env,
            )?,
        })
    })?;
    let queue_capacity = std::num::NonZeroUsize::new(n.queue_capacity.unwrap_or(256))
        .ok_or_else(|| ConfigError::invalid("notify.queue_capacity", "must be at least 1"))?;
    Ok(super::Notify {
        queue_capacity,
        pagerduty,
        webhooks,
    })
}

/// Route 53's documented bound on a change reaching every authoritative server.
const ROUTE53_INSYNC: Duration = Duration::from_secs(60);

/// With the Route 53 control-plane provider the claim and the swap wait for INSYNC: too short a
/// `step_timeout` turns an ordinary slow change into a Blocked failover.
fn route53_step_budget(timing: &Timing) -> Result<()> {
    let h = |d: Duration| humantime::format_duration(d).to_string();
    if timing.step_timeout * STEP_ATTEMPTS < ROUTE53_INSYNC {
        return Err(ConfigError::invalid(
            "timing.step_timeout",
            format!(
                "{} is too short for dns.provider \"route53\": a change is INSYNC within {}, \
                 and {STEP_ATTEMPTS} attempts of step_timeout must cover that (at least {}; 15s \
                 recommended)",
                h(timing.step_timeout),
                h(ROUTE53_INSYNC),
                h(ROUTE53_INSYNC / STEP_ATTEMPTS)
            ),
        ));
    }
    Ok(())
}

fn timing(raw: &RawConfig) -> Result<Timing> {
    let t = &raw.timing;
    let timing = Timing {
        probe_interval: dur("timing.probe_interval", &t.probe_interval)?,
        probe_timeout: dur("timing.probe_timeout", &t.probe_timeout)?,
        failover_delay: dur("timing.failover_delay", &t.failover_delay)?,
        self_fence_lease: dur("timing.self_fence_lease", &t.self_fence_lease)?,
        self_unfence_after: opt_dur("timing.self_unfence_after", &t.self_unfence_after)?
            .map_or_else(|| dur("timing.probe_interval", &t.probe_interval), Ok)?,
        mirror_silence: dur("timing.mirror_silence", &t.mirror_silence)?,
        peer_stale_after: dur("timing.peer_stale_after", &t.peer_stale_after)?,
        step_timeout: dur("timing.step_timeout", &t.step_timeout)?,
        tilt_duration: dur("timing.tilt_duration", &t.tilt_duration)?,
        flap_window: dur("timing.flap_window", &t.flap_window)?,
        flap_max: t.flap_max,
        depth_every: t.depth_every,
        cross_region_rtt: dur("timing.cross_region_rtt", &t.cross_region_rtt)?,
    };
    let h = |d: Duration| humantime::format_duration(d).to_string();
    if timing.probe_interval < Duration::from_millis(100) {
        return Err(ConfigError::invalid(
            "timing.probe_interval",
            "must be at least 100ms",
        ));
    }
    if timing.probe_timeout >= timing.probe_interval {
        return Err(ConfigError::invalid(
            "timing.probe_timeout",
            format!(
                "{} must be shorter than timing.probe_interval ({}) so a slow region never delays the next round",
                h(timing.probe_timeout),
                h(timing.probe_interval)
            ),
        ));
    }
    if timing.mirror_silence >= timing.failover_delay {
        return Err(ConfigError::invalid(
            "timing.mirror_silence",
            format!(
                "{} must be shorter than timing.failover_delay ({}): the mirror's testimony is part of the confirmation",
                h(timing.mirror_silence),
                h(timing.failover_delay)
            ),
        ));
    }
    // NB: probes of the far region run side by side and never chain round trips (the reads
    // that date a mirror's lag run in the background), so one request must fit the timeout: on a
    // fresh connection (a peer restarted, a region came back) that is two round trips.
    if timing.probe_timeout < 2 * timing.cross_region_rtt {
        return Err(ConfigError::invalid(
            "timing.probe_timeout",
            format!(
                "{} must be at least 2 x timing.cross_region_rtt ({}): a probe of the far region \
                 over a fresh connection takes two round trips",
                h(timing.probe_timeout),
                h(2 * timing.cross_region_rtt)
            ),
        ));
    }
    let stale = 2 * timing.probe_interval + timing.cross_region_rtt;
    if timing.peer_stale_after < stale {
        return Err(ConfigError::invalid(
            "timing.peer_stale_after",
            format!(
                "{} must be at least 2 x timing.probe_interval + timing.cross_region_rtt ({}), or \
                 a live peer's report, a round old and a round trip away, looks stale",
                h(timing.peer_stale_after),
                h(stale)
            ),
        ));
    }
    // A healthy primary's vouchers report at most one interval plus one round old, fetched
    // within one more round; one lost fetch adds an interval. A lease shorter than that fences a
    // healthy primary whenever the API is slow (a meta-leader election makes every call time out).
    let chain = 2 * timing.probe_interval + 2 * timing.probe_timeout;
    if timing.self_fence_lease <= chain {
        return Err(ConfigError::invalid(
            "timing.self_fence_lease",
            format!(
                "{} must be longer than 2 x timing.probe_interval + 2 x timing.probe_timeout ({}): \
                 a healthy primary whose vouchers' reports are one round late would fence itself",
                h(timing.self_fence_lease),
                h(chain)
            ),
        ));
    }
    if timing.step_timeout < timing.probe_timeout {
        return Err(ConfigError::invalid(
            "timing.step_timeout",
            "must be at least timing.probe_timeout",
        ));
    }
    if timing.depth_every == 0 {
        return Err(ConfigError::invalid(
            "timing.depth_every",
            "must be at least 1 (every round)",
        ));
    }
    if timing.self_unfence_after < timing.probe_interval {
        return Err(ConfigError::invalid(
            "timing.self_unfence_after",
            format!(
                "{} must be at least timing.probe_interval ({}): a self-fenced region unfences \
                 itself only after a majority has vouched for it in more than one round",
                h(timing.self_unfence_after),
                h(timing.probe_interval)
            ),
        ));
    }
    if timing.flap_max == 0 {
        return Err(ConfigError::invalid(
            "timing.flap_max",
            "must be at least 1",
        ));
    }
    Ok(timing)
}

fn regions(raw: &[RawRegion]) -> Result<[RegionConfig; 2]> {
    if raw.len() != 2 {
        return Err(ConfigError::invalid(
            "regions",
            format!(
                "{} configured: natsdr protects exactly two regions (a primary and a standby)",
                raw.len()
            ),
        ));
    }
    let mut out = each(raw, region_config)?;
    if out[0].name == out[1].name {
        return Err(ConfigError::invalid(
            "regions[1].name",
            format!("{} is configured twice", out[1].name),
        ));
    }
    if out[0].domain == out[1].domain {
        return Err(ConfigError::invalid(
            "regions[1].domain",
            format!(
                "{:?} is also regions[0]'s domain: each region needs its own JetStream domain for cross-region mirrors",
                out[1].domain
            ),
        ));
    }
    match (out[0].home, out[1].home) {
        (Home::Primary, Home::Standby) => {}
        (Home::Standby, Home::Primary) => out.swap(0, 1),
        _ => {
            return Err(ConfigError::invalid(
                "regions",
                "one region must have home = \"primary\" and the other home = \"standby\"",
            ));
        }
    }
    let standby = out.pop().expect("two regions");
    let primary = out.pop().expect("two regions");
    Ok([primary, standby])
}

fn region_config(i: usize, r: &RawRegion) -> Result<RegionConfig> {
    let k = |f: &str| format!("regions[{i}].{f}");
    let name = region(&k("name"), &r.name)?;
    let home = one_of(
        k("home"),
        &r.home,
        &[("primary", Home::Primary), ("standby", Home::Standby)],
    )?;
    if r.domain.is_empty() || r.domain.contains(['.', '*', '>', ' ']) {
        return Err(ConfigError::invalid(
            k("domain"),
            format!("{:?}: a JetStream domain is one non-empty token", r.domain),
        ));
    }
    if r.cluster_size == 0 {
        return Err(ConfigError::invalid(
            k("cluster_size"),
            "must be at least 1",
        ));
    }
    if r.client_urls.is_empty() {
        return Err(ConfigError::invalid(
            k("client_urls"),
            "must list at least one URL",
        ));
    }
    for u in &r.client_urls {
        if !u.contains("://") {
            return Err(ConfigError::invalid(
                k("client_urls"),
                format!("{u:?}: expected a URL such as nats://host:4222"),
            ));
        }
    }
    let entry_point = match r.entry_point.parse::<IpAddr>() {
        Ok(a) => EntryPoint::Address(a),
        Err(_) if is_dns_name(&r.entry_point) => EntryPoint::Name(r.entry_point.clone()),
        Err(_) => {
            return Err(ConfigError::invalid(
                k("entry_point"),
                format!("{:?}: expected an IP address or a host name", r.entry_point),
            ));
        }
    };
    let tls = match &r.tls {
        None => None,
        Some(t) => Some(Tls {
            ca_file: t.ca_file.as_ref().map(PathBuf::from),
            client_cert: match (&t.cert_file, &t.key_file) {
                (Some(c), Some(key)) => Some((PathBuf::from(c), PathBuf::from(key))),
                (None, None) => None,
                _ => {
                    return Err(ConfigError::invalid(
                        k("tls"),
                        "cert_file and key_file go together",
                    ));
                }
            },
        }),
    };
    Ok(RegionConfig {
        name,
        home,
        domain: r.domain.clone(),
        cluster_size: r.cluster_size,
        client_urls: r.client_urls.clone(),
        entry_point,
        system: auth(&k("system"), &r.system)?,
        app: auth(&k("app"), &r.app)?,
        tls,
    })
}

fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .filter(|l| !l.is_empty())
            .all(|l| l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        && s.chars().any(|c| c.is_ascii_alphabetic())
}

fn auth(key: &str, a: &RawAuth) -> Result<Auth> {
    let password = secret(key, &a.password, &a.password_file, &a.password_env)?;
    let token = secret(key, &a.token, &a.token_file, &a.token_env)?;
    let forms = [
        a.user.is_some() || password.is_some(),
        token.is_some(),
        a.creds_file.is_some(),
        a.nkey_seed_file.is_some(),
    ];
    if forms.iter().filter(|f| **f).count() > 1 {
        return Err(ConfigError::invalid(
            key,
            "give one way to authenticate: user + password, token, creds_file or nkey_seed_file",
        ));
    }
    Ok(
        match (&a.user, password, token, &a.creds_file, &a.nkey_seed_file) {
            (Some(user), Some(password), None, None, None) => Auth::UserPassword {
                user: user.clone(),
                password,
            },
            (Some(_), None, ..) => {
                return Err(ConfigError::invalid(
                    key,
                    "user without password (give password_file or password_env)",
                ));
            }
            (None, Some(_), ..) => {
                return Err(ConfigError::invalid(key, "password without user"));
            }
            (None, None, Some(t), None, None) => Auth::Token(t),
            (None, None, None, Some(c), None) => Auth::CredsFile(PathBuf::from(c)),
            (None, None, None, None, Some(n)) => Auth::NkeySeedFile(PathBuf::from(n)),
            _ => Auth::None,
        },
    )
}

fn dns(d: &super::raw::RawDns) -> Result<Dns> {
    let fqdn = |key: &str, s: &str| -> Result<String> {
        if !is_dns_name(s.trim_start_matches('_')) && !s.starts_with('_') {
            return Err(ConfigError::invalid(
                key,
                format!("{s:?} is not a DNS name"),
            ));
        }
        Ok(if s.ends_with('.') {
            s.to_owned()
        } else {
            format!("{s}.")
        })
    };
    let zone = fqdn("dns.zone", &d.zone)?;
    let client_record = fqdn("dns.client_record", &d.client_record)?;
    let owner_record = fqdn("dns.owner_record", &d.owner_record)?;
    let health = d.provider == "route53-health";
    // NB: in data-plane mode the owner record lives on the arbiter's RFC 2136 server, whose zone
    // may differ from the Route 53 zone; it is checked against that zone below.
    let records: &[(&str, &String)] = if health {
        &[("dns.client_record", &client_record)]
    } else {
        &[
            ("dns.client_record", &client_record),
            ("dns.owner_record", &owner_record),
        ]
    };
    for &(key, name) in records {
        if !inside(name, &zone) {
            return Err(ConfigError::invalid(
                key,
                format!("{name} is not inside the zone {zone}"),
            ));
        }
    }
    if client_record == owner_record {
        return Err(ConfigError::invalid(
            "dns.owner_record",
            "must differ from dns.client_record",
        ));
    }
    let provider = match d.provider.as_str() {
        "route53" => DnsProvider::Route53(route53(d)?),
        "route53-health" => {
            let arbiter = rfc2136(d)?;
            let arbiter_zone = match d.rfc2136.as_ref().and_then(|r| r.zone.as_deref()) {
                Some(z) => fqdn("dns.rfc2136.zone", z)?,
                None => zone.clone(),
            };
            if !inside(&owner_record, &arbiter_zone) {
                return Err(ConfigError::invalid(
                    "dns.owner_record",
                    format!("{owner_record} is not inside the arbiter's zone {arbiter_zone}"),
                ));
            }
            let r = route53(d)?;
            if r.name_servers.is_empty() {
                return Err(ConfigError::invalid(
                    "dns.route53.name_servers",
                    "missing: data-plane mode reads the client record from Route 53's \
                     authoritative servers (ip:port), never from the API",
                ));
            }
            DnsProvider::Route53Health {
                arbiter,
                arbiter_zone,
                name_servers: r.name_servers,
            }
        }
        "rfc2136" => DnsProvider::Rfc2136(rfc2136(d)?),
        other => {
            return Err(ConfigError::invalid(
                "dns.provider",
                format!("{other:?}: expected \"rfc2136\", \"route53\" or \"route53-health\""),
            ));
        }
    };
    Ok(Dns {
        provider,
        zone,
        client_record,
        owner_record,
        ttl: dur("dns.ttl", &d.ttl)?,
    })
}

fn inside(name: &str, zone: &str) -> bool {
    name == zone || name.ends_with(&format!(".{zone}"))
}

/// The `[dns.rfc2136]` section: server, key name, algorithm, secret, timeout.
fn rfc2136(d: &super::raw::RawDns) -> Result<Rfc2136Server> {
    let r = d.rfc2136.as_ref().ok_or_else(|| {
        ConfigError::invalid(
            "dns.rfc2136",
            format!(
                "missing: provider {:?} needs a [dns.rfc2136] section",
                d.provider
            ),
        )
    })?;
    if r.zone.is_some() && d.provider != "route53-health" {
        return Err(ConfigError::invalid(
            "dns.rfc2136.zone",
            "only for provider \"route53-health\" (the arbiter's own zone); here it is dns.zone",
        ));
    }
    let server = r.server.parse::<SocketAddr>().map_err(|e| {
        ConfigError::invalid(
            "dns.rfc2136.server",
            format!("{:?}: {e} (expected ip:port)", r.server),
        )
    })?;
    if !["hmac-sha256", "hmac-sha384", "hmac-sha512"].contains(&r.key_algorithm.as_str()) {
        return Err(ConfigError::invalid(
            "dns.rfc2136.key_algorithm",
            format!(
                "{:?}: expected hmac-sha256, hmac-sha384 or hmac-sha512",
                r.key_algorithm
            ),
        ));
    }
    let key_secret = secret(
        "dns.rfc2136.key_secret",
        &r.key_secret,
        &r.key_secret_file,
        &r.key_secret_env,
    )?
    .ok_or_else(|| {
        ConfigError::invalid(
            "dns.rfc2136.key_secret",
            "missing: give key_secret_file or key_secret_env",
        )
    })?;
    Ok(Rfc2136Server {
        server,
        key_name: r.key_name.clone(),
        key_algorithm: r.key_algorithm.clone(),
        key_secret,
        timeout: dur("dns.rfc2136.timeout", &r.timeout)?,
    })
}

/// The `[dns.route53]` section.
fn route53(d: &super::raw::RawDns) -> Result<super::Route53Settings> {
    let r = d.route53.as_ref().ok_or_else(|| {
        ConfigError::invalid(
            "dns.route53",
            format!(
                "missing: provider {:?} needs a [dns.route53] section",
                d.provider
            ),
        )
    })?;
    let hosted_zone_id = match (&r.hosted_zone_id, d.provider.as_str()) {
        (Some(id), _) => {
            let bare = id.trim_start_matches("/hostedzone/");
            if bare.is_empty() || !bare.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(ConfigError::invalid(
                    "dns.route53.hosted_zone_id",
                    format!("{id:?} is not a hosted zone id (Z0123456789EXAMPLE)"),
                ));
            }
            bare.to_owned()
        }
        (None, "route53") => {
            return Err(ConfigError::invalid(
                "dns.route53.hosted_zone_id",
                "missing: provider \"route53\" changes records through the API",
            ));
        }
        (None, _) => String::new(),
    };
    if let Some(url) = &r.endpoint_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(ConfigError::invalid(
            "dns.route53.endpoint_url",
            format!("{url:?} is not an http(s) URL"),
        ));
    }
    if r.set_identifier.as_deref().is_some_and(str::is_empty) {
        return Err(ConfigError::invalid(
            "dns.route53.set_identifier",
            "is empty: leave it out for a simple record",
        ));
    }
    let name_servers = r
        .name_servers
        .iter()
        .map(|s| {
            s.parse::<SocketAddr>()
                .or_else(|_| {
                    s.parse::<std::net::IpAddr>()
                        .map(|ip| SocketAddr::new(ip, 53))
                })
                .map_err(|_| {
                    ConfigError::invalid(
                        "dns.route53.name_servers",
                        format!("{s:?} is not an ip or ip:port"),
                    )
                })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(super::Route53Settings {
        hosted_zone_id,
        region: r.region.clone(),
        endpoint_url: r.endpoint_url.clone(),
        set_identifier: r.set_identifier.clone(),
        timeout: dur("dns.route53.timeout", &r.timeout)?,
        retry_deadline: dur("dns.route53.retry_deadline", &r.retry_deadline)?,
        name_servers,
    })
}

fn in_regions(key: &str, s: &str, names: &[&Region]) -> Result<Region> {
    let r = region(key, s)?;
    if !names.contains(&&r) {
        return Err(ConfigError::invalid(
            key,
            format!(
                "{r} is not a configured region ({}, {})",
                names[0], names[1]
            ),
        ));
    }
    Ok(r)
}

fn stream(i: usize, s: &RawStream, names: &[&Region]) -> Result<StreamSpec> {
    let k = |f: &str| format!("streams[{i}].{f}");
    let name = stream_name(&k("name"), &s.name)?;
    if s.subjects.is_empty() {
        return Err(ConfigError::invalid(
            k("subjects"),
            format!("{name} needs at least one subject"),
        ));
    }
    for subj in &s.subjects {
        let bad = subj.is_empty()
            || subj
                .split('.')
                .any(|t| t.is_empty() || (t.contains(['*', '>']) && t.len() > 1))
            || subj.split('.').rev().skip(1).any(|t| t == ">");
        if bad {
            return Err(ConfigError::invalid(
                k("subjects"),
                format!("{subj:?} is not a valid subject"),
            ));
        }
    }
    Ok(StreamSpec {
        name,
        region: in_regions(&k("region"), &s.region, names)?,
        gdpr: s.gdpr,
        subjects: s.subjects.clone(),
        retention: match s.retention.as_str() {
            "limits" => Retention::Limits,
            "interest" => Retention::Interest,
            "workqueue" => Retention::WorkQueue,
            o => {
                return Err(ConfigError::invalid(
                    k("retention"),
                    format!("{o:?}: expected limits, interest or workqueue"),
                ));
            }
        },
        storage: storage(&k("storage"), &s.storage)?,
        discard: match s.discard.as_str() {
            "old" => Discard::Old,
            "new" => Discard::New,
            o => {
                return Err(ConfigError::invalid(
                    k("discard"),
                    format!("{o:?}: expected old or new"),
                ));
            }
        },
        limits: Limits {
            max_age: opt_dur(&k("max_age"), &s.max_age)?,
            max_bytes: opt_size(&k("max_bytes"), &s.max_bytes)?,
            max_msgs: s.max_msgs,
            max_msgs_per_subject: s.max_msgs_per_subject,
            max_msg_size: opt_size(&k("max_msg_size"), &s.max_msg_size)?,
        },
        replicas: replicas(&k("replicas"), s.replicas)?,
        duplicate_window: opt_dur(&k("duplicate_window"), &s.duplicate_window)?,
    })
}

fn storage(key: &str, s: &str) -> Result<Storage> {
    match s {
        "file" => Ok(Storage::File),
        "memory" => Ok(Storage::Memory),
        o => Err(ConfigError::invalid(
            key,
            format!("{o:?}: expected file or memory"),
        )),
    }
}

/// The configured streams by name, in config order (a name may be used once per region).
type ByName<'a> = HashMap<&'a StreamName, Vec<&'a StreamSpec>>;

fn by_name(streams: &[StreamSpec]) -> ByName<'_> {
    let mut m: ByName<'_> = HashMap::with_capacity(streams.len());
    for s in streams {
        m.entry(&s.name).or_default().push(s);
    }
    m
}

fn mirror(i: usize, m: &RawMirror, names: &[&Region], streams: &ByName<'_>) -> Result<MirrorSpec> {
    let k = |f: &str| format!("mirrors[{i}].{f}");
    let name = stream_name(&k("name"), &m.name)?;
    let region = in_regions(&k("region"), &m.region, names)?;
    let source = stream_name(&k("source"), &m.source)?;
    // A KV bucket is its stream's name: a mirror of KV_<bucket> under another name would be
    // another, empty bucket to every KV client after a promotion.
    if let Some(bucket) = source.as_str().strip_prefix("KV_")
        && name != source
    {
        return Err(ConfigError::invalid(
            k("name"),
            format!(
                "{name} mirrors KV bucket {bucket:?}: a KV mirror must carry the bucket's name ({source}), or KV clients read an empty bucket after a promotion"
            ),
        ));
    }
    // NB: a mirror may carry its source's name: the regions are separate JetStream domains, and
    // clients that bind consumers by stream name keep working after a promotion (lint says so).
    let same_name = streams.get(&source).map_or(&[][..], Vec::as_slice);
    if source == name && !same_name.iter().any(|s| s.region != region) {
        return Err(ConfigError::invalid(
            k("source"),
            format!("mirror {name} points at itself"),
        ));
    }
    let src = same_name.first().ok_or_else(|| {
        ConfigError::invalid(
            k("source"),
            format!("{source} is not a configured stream (mirrors copy a stream listed under [[streams]])"),
        )
    })?;
    if src.gdpr {
        return Err(ConfigError::invalid(
            k("source"),
            format!(
                "{source} is GDPR-only (gdpr = true): it must never be mirrored out of {}",
                src.region
            ),
        ));
    }
    if src.region == region {
        return Err(ConfigError::invalid(
            k("region"),
            format!(
                "{name} is in {region}, the same region as its source {source}: a DR mirror belongs in the other region"
            ),
        ));
    }
    Ok(MirrorSpec {
        name,
        region,
        source,
        source_region: src.region.clone(),
        replicas: replicas(&k("replicas"), m.replicas.unwrap_or(src.replicas))?,
        limits: Limits {
            max_age: opt_dur(&k("max_age"), &m.max_age)?.or(src.limits.max_age),
            max_bytes: opt_size(&k("max_bytes"), &m.max_bytes)?.or(src.limits.max_bytes),
            max_msgs: m.max_msgs.or(src.limits.max_msgs),
            max_msgs_per_subject: src.limits.max_msgs_per_subject,
            max_msg_size: src.limits.max_msg_size,
        },
    })
}

fn kv(i: usize, k: &RawKv, names: &[&Region]) -> Result<KvSpec> {
    let key = |f: &str| format!("kv[{i}].{f}");
    if k.bucket.is_empty()
        || !k
            .bucket
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(ConfigError::invalid(
            key("bucket"),
            format!(
                "{:?}: bucket names are letters, digits, '_' and '-'",
                k.bucket
            ),
        ));
    }
    let region = in_regions(&key("region"), &k.region, names)?;
    let mirror_region = k
        .mirror_region
        .as_ref()
        .map(|m| in_regions(&key("mirror_region"), m, names))
        .transpose()?;
    if mirror_region.as_ref() == Some(&region) {
        return Err(ConfigError::invalid(
            key("mirror_region"),
            format!(
                "bucket {} would mirror into its own region {region}",
                k.bucket
            ),
        ));
    }
    if !(1..=64).contains(&k.history) {
        return Err(ConfigError::invalid(key("history"), "must be 1 to 64"));
    }
    Ok(KvSpec {
        bucket: k.bucket.clone(),
        region,
        mirror_region,
        history: k.history,
        ttl: opt_dur(&key("ttl"), &k.ttl)?.filter(|d| !d.is_zero()),
        replicas: replicas(&key("replicas"), k.replicas)?,
        max_value_size: opt_size(&key("max_value_size"), &k.max_value_size)?,
        max_bytes: opt_size(&key("max_bytes"), &k.max_bytes)?,
        storage: storage(&key("storage"), &k.storage)?,
    })
}

fn stream_names(streams: &[StreamSpec]) -> Vec<(Region, String, String)> {
    streams
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (
                s.region.clone(),
                s.name.to_string(),
                format!("streams[{i}].name"),
            )
        })
        .collect()
}

/// Refuses a (region, stream name) that appears twice; entries are (region, name, key).
fn unique(entries: Vec<(Region, String, String)>) -> Result<()> {
    let mut seen: HashMap<(Region, String), String> = HashMap::new();
    for (region, name, key) in entries {
        if let Some(first) = seen.insert((region.clone(), name.clone()), key.clone()) {
            return Err(ConfigError::invalid(
                key,
                format!("duplicate stream {name} in {region} (also at {first})"),
            ));
        }
    }
    Ok(())
}

/// Rules across entries: unique names per region, no overlapping subjects per region, now or
/// after a promotion (a promoted mirror takes its source's subjects).
fn topology_rules(streams: &[StreamSpec], mirrors: &[MirrorSpec], kv: &[KvSpec]) -> Result<()> {
    let mut names: Vec<(Region, String, String)> = stream_names(streams);
    for (i, m) in mirrors.iter().enumerate() {
        names.push((
            m.region.clone(),
            m.name.to_string(),
            format!("mirrors[{i}].name"),
        ));
    }
    let mut buckets = HashSet::new();
    for (i, k) in kv.iter().enumerate() {
        if !buckets.insert(&k.bucket) {
            return Err(ConfigError::invalid(
                format!("kv[{i}].bucket"),
                format!("duplicate bucket {}", k.bucket),
            ));
        }
        for r in std::iter::once(&k.region).chain(k.mirror_region.iter()) {
            names.push((
                r.clone(),
                k.stream_name().to_string(),
                format!("kv[{i}].bucket"),
            ));
        }
    }
    unique(names)?;
    let mut sources = HashSet::new();
    for (i, m) in mirrors.iter().enumerate() {
        if !sources.insert(&m.source) {
            return Err(ConfigError::invalid(
                format!("mirrors[{i}].source"),
                format!("{} is already mirrored by another entry", m.source),
            ));
        }
    }
    // Subjects each region will listen on: its own streams', plus (after a promotion) those of
    // the streams its mirrors copy.
    let mut listening: Vec<(Region, &str, String)> = Vec::new();
    for (i, s) in streams.iter().enumerate() {
        for subj in &s.subjects {
            listening.push((s.region.clone(), subj, format!("streams[{i}].subjects")));
        }
    }
    let by_name = by_name(streams);
    for (i, m) in mirrors.iter().enumerate() {
        let src = by_name
            .get(&m.source)
            .and_then(|s| s.first())
            .expect("checked in mirror()");
        for subj in &src.subjects {
            listening.push((
                m.region.clone(),
                subj,
                format!("mirrors[{i}] (after promotion)"),
            ));
        }
    }
    // The first entry (in config order) that overlaps an earlier one of another stream in the
    // same region is named, with the earliest such one.
    let mut seen: HashMap<&Region, SubjectIndex> = HashMap::new();
    for (b, y) in listening.iter().enumerate() {
        let index = seen.entry(&y.0).or_default();
        if let Some(a) = index.first_overlap(y.1, |a| listening[a].2 != y.2) {
            let x = &listening[a];
            return Err(ConfigError::invalid(
                y.2.clone(),
                format!(
                    "subject {:?} overlaps {:?} of {} in region {}: JetStream refuses overlapping streams (10065)",
                    y.1, x.1, x.2, x.0
                ),
            ));
        }
        index.insert(y.1, b);
    }
    Ok(())
}

/// The shortest and longest `consumers.sync_interval`: faster would load the primary for little
/// gain, slower would redeliver a minute's acknowledged messages after a failover.
const SYNC_INTERVAL_BOUNDS: (Duration, Duration) =
    (Duration::from_millis(100), Duration::from_secs(60));

fn consumers(raw: &super::raw::RawConsumers) -> Result<Consumers> {
    let sync_interval = dur("consumers.sync_interval", &raw.sync_interval)?;
    let (lo, hi) = SYNC_INTERVAL_BOUNDS;
    if sync_interval < lo || sync_interval > hi {
        return Err(ConfigError::invalid(
            "consumers.sync_interval",
            format!("{sync_interval:?}: must be between {lo:?} and {hi:?}"),
        ));
    }
    let patterns = |key: &str, list: &[String]| -> Result<Vec<crate::consumers::NamePattern>> {
        each(list, |i, p| {
            crate::consumers::NamePattern::new(p)
                .map_err(|e| ConfigError::invalid(format!("{key}[{i}]"), e.to_string()))
        })
    };
    Ok(Consumers {
        sync_interval,
        include: patterns("consumers.include", &raw.include)?,
        exclude: patterns("consumers.exclude", &raw.exclude)?,
    })
}

/// `[backup]`: the target parsed, the items resolved (which copy is read, what a restore makes
/// of it), and the GDPR rule: a GDPR-only stream's backups stay in its own region.
fn backup(
    b: &super::raw::RawBackup,
    streams: &[StreamSpec],
    mirrors: &[MirrorSpec],
    kv: &[KvSpec],
) -> Result<super::Backup> {
    use super::{BackupFrom, BackupItem, BackupTarget};
    let target_region = region("backup.region", &b.region)?;
    let target = if let Some(rest) = b.target.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() || !is_dns_name(bucket) {
            return Err(ConfigError::invalid(
                "backup.target",
                format!("{:?}: expected s3://<bucket>/<prefix>", b.target),
            ));
        }
        if let Some(u) = &b.endpoint_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err(ConfigError::invalid(
                "backup.endpoint_url",
                format!("{u:?}: expected an http:// or https:// URL"),
            ));
        }
        BackupTarget::S3 {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
            endpoint_url: b.endpoint_url.clone(),
            path_style: b.path_style,
            aws_region: b
                .aws_region
                .clone()
                .unwrap_or_else(|| target_region.as_str().to_owned()),
        }
    } else {
        let path = b.target.strip_prefix("dir://").unwrap_or(&b.target);
        if !Path::new(path).is_absolute() {
            return Err(ConfigError::invalid(
                "backup.target",
                format!(
                    "{:?}: expected s3://<bucket>/<prefix>, dir:///<absolute path> or an absolute directory",
                    b.target
                ),
            ));
        }
        if b.endpoint_url.is_some() || b.path_style || b.aws_region.is_some() {
            return Err(ConfigError::invalid(
                "backup.endpoint_url",
                "endpoint_url, path_style and aws_region apply to s3:// targets only",
            ));
        }
        BackupTarget::Dir(PathBuf::from(path))
    };
    let schedule = dur("backup.schedule", &b.schedule)?;
    if schedule < Duration::from_secs(60) {
        return Err(ConfigError::invalid(
            "backup.schedule",
            format!("{schedule:?}: at least one minute between sets"),
        ));
    }
    let keep = std::num::NonZeroU32::new(b.keep)
        .ok_or_else(|| ConfigError::invalid("backup.keep", "keep at least one set"))?;
    let from = one_of(
        "backup.from",
        &b.from,
        &[("standby", BackupFrom::Standby), ("own", BackupFrom::Own)],
    )?;
    let mut all: Vec<BackupItem> = streams
        .iter()
        .map(|s| {
            let mirror = mirrors
                .iter()
                .find(|m| m.source == s.name && m.source_region == s.region)
                .filter(|_| from == BackupFrom::Standby);
            BackupItem {
                stream: s.name.clone(),
                region: s.region.clone(),
                snapshot_stream: mirror.map_or_else(|| s.name.clone(), |m| m.name.clone()),
                snapshot_region: mirror.map_or_else(|| s.region.clone(), |m| m.region.clone()),
                subjects: s.subjects.clone(),
                gdpr: s.gdpr,
            }
        })
        .collect();
    all.extend(kv.iter().map(|k| {
        let read_in = match (from, &k.mirror_region) {
            (BackupFrom::Standby, Some(m)) => m.clone(),
            _ => k.region.clone(),
        };
        BackupItem {
            stream: k.stream_name(),
            region: k.region.clone(),
            snapshot_stream: k.stream_name(),
            snapshot_region: read_in,
            subjects: vec![format!("$KV.{}.>", k.bucket)],
            gdpr: false,
        }
    }));
    let (items, gdpr_key) = match &b.include {
        None => (all, "backup.region".to_owned()),
        Some(names) => {
            let mut picked = Vec::new();
            for (i, n) in names.iter().enumerate() {
                let key = format!("backup.include[{i}]");
                let Some(item) = all.iter().find(|it| it.stream.as_str() == n) else {
                    return Err(ConfigError::invalid(
                        key,
                        format!(
                            "{n:?} is not a configured stream (a KV bucket is included as KV_<bucket>)"
                        ),
                    ));
                };
                if let Some(it) = picked
                    .iter()
                    .find(|p: &&BackupItem| p.stream == item.stream)
                {
                    return Err(ConfigError::invalid(
                        key,
                        format!("{} is listed twice", it.stream),
                    ));
                }
                if item.gdpr && item.region != target_region {
                    return Err(gdpr_refusal(&key, item, &target_region));
                }
                picked.push(item.clone());
            }
            if picked.is_empty() {
                return Err(ConfigError::invalid(
                    "backup.include",
                    "empty: leave it out to back up every managed stream",
                ));
            }
            (picked, "backup.include".to_owned())
        }
    };
    if let Some(item) = items
        .iter()
        .find(|it| it.gdpr && it.region != target_region)
    {
        return Err(gdpr_refusal(&gdpr_key, item, &target_region));
    }
    Ok(super::Backup {
        target,
        target_region,
        schedule,
        keep,
        from,
        items,
    })
}

fn gdpr_refusal(key: &str, item: &super::BackupItem, target: &Region) -> ConfigError {
    ConfigError::invalid(
        key,
        format!(
            "GDPR-only stream {} ({}) would be backed up to a target in {target}: its data may \
             not leave its region; list the other streams in backup.include, or use a target in {}",
            item.stream, item.region, item.region
        ),
    )
}
