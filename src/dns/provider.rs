//! One factory that builds the arbiter and the client record for the configured provider.
use std::time::Duration;

use aws_config::BehaviorVersion;

use super::{
    Arbiter, ClaimResult, ClientRecord, ClientTarget, DnsError, Ownership, Rfc2136, Rfc2136Config,
    Route53, Route53Config, Route53Health, SwapResult,
};
use crate::config::{Config, DnsProvider};

/// The arbiter of whichever provider the config names.
#[derive(Debug, Clone)]
pub enum AnyArbiter {
    /// An RFC 2136 server (also the arbiter in Route 53 data-plane mode).
    Rfc2136(Rfc2136),
    /// A TXT record in a Route 53 hosted zone.
    Route53(Route53),
}

/// The client record of whichever provider the config names.
#[derive(Debug, Clone)]
pub enum AnyClientRecord {
    /// Swapped by RFC 2136 updates.
    Rfc2136(Rfc2136),
    /// Swapped by Route 53 change batches.
    Route53(Route53),
    /// Moved by Route 53's health checks; read only.
    Route53Health(Route53Health),
}

/// Builds the arbiter and the client record from a loaded config's `[dns]`: reads the TSIG
/// secret and, for Route 53, loads AWS credentials with the standard chain (environment, web
/// identity / IRSA, profile, container and instance metadata). Errors name what is missing or
/// wrong.
pub async fn from_config(cfg: &Config) -> Result<(AnyArbiter, AnyClientRecord), String> {
    let dns = cfg
        .dns
        .as_ref()
        .ok_or("no [dns] section: a watchdog needs the arbiter")?;
    let built = |e: DnsError| crate::error_chain(&e);
    match &dns.provider {
        DnsProvider::Rfc2136(_) => {
            let d = Rfc2136::new(&rfc2136_config(cfg)?).map_err(built)?;
            Ok((AnyArbiter::Rfc2136(d.clone()), AnyClientRecord::Rfc2136(d)))
        }
        DnsProvider::Route53(r) => {
            let mut loader = aws_config::defaults(BehaviorVersion::latest())
                .region(aws_config::Region::new(r.region.clone()));
            if let Some(url) = &r.endpoint_url {
                loader = loader.endpoint_url(url);
            }
            let sdk = loader.load().await;
            let d = Route53::new(
                &Route53Config {
                    hosted_zone_id: r.hosted_zone_id.clone(),
                    owner_record_name: dns.owner_record.clone(),
                    client_record_name: dns.client_record.clone(),
                    set_identifier: r.set_identifier.clone(),
                    ttl: dns.ttl,
                    timeout: r.timeout,
                    retry_deadline: r.retry_deadline,
                    name_servers: r.name_servers.clone(),
                },
                &sdk,
            )
            .map_err(built)?;
            Ok((AnyArbiter::Route53(d.clone()), AnyClientRecord::Route53(d)))
        }
        DnsProvider::Route53Health {
            arbiter: tsig,
            name_servers,
            ..
        } => {
            let arbiter = Rfc2136::new(&rfc2136_config(cfg)?).map_err(built)?;
            let client = Route53Health::new(&dns.client_record, name_servers.clone(), tsig.timeout)
                .map_err(built)?;
            Ok((
                AnyArbiter::Rfc2136(arbiter),
                AnyClientRecord::Route53Health(client),
            ))
        }
    }
}

/// The RFC 2136 settings of a loaded config (the TSIG secret is read now): the whole provider
/// for `rfc2136`, the arbiter for `route53-health`. Errors name what is missing or unreadable.
pub fn rfc2136_config(cfg: &Config) -> Result<Rfc2136Config, String> {
    let dns = cfg
        .dns
        .as_ref()
        .ok_or("no [dns] section: a watchdog needs the arbiter")?;
    let (tsig, zone, client) = match &dns.provider {
        DnsProvider::Rfc2136(tsig) => (tsig, &dns.zone, dns.client_record.clone()),
        // NB: in data-plane mode the RFC 2136 server holds only the arbiter; `Rfc2136` wants a
        // client record inside its zone, so it gets the zone's apex, which it never writes
        // (only the arbiter half of it is used).
        DnsProvider::Route53Health {
            arbiter,
            arbiter_zone,
            ..
        } => (arbiter, arbiter_zone, arbiter_zone.clone()),
        DnsProvider::Route53(_) => {
            return Err("dns.provider is \"route53\": there is no RFC 2136 server".into());
        }
    };
    Ok(Rfc2136Config {
        server: tsig.server,
        zone: zone.clone(),
        key_name: tsig.key_name.clone(),
        key_secret: tsig.key_secret.resolve().map_err(|e| e.to_string())?,
        algorithm: tsig
            .key_algorithm
            .parse()
            .map_err(|e: DnsError| e.to_string())?,
        owner_record_name: dns.owner_record.clone(),
        client_record_name: client,
        ttl: dns.ttl,
        timeout: tsig.timeout,
    })
}

impl Arbiter for AnyArbiter {
    async fn read(&self) -> Result<Option<Ownership>, DnsError> {
        match self {
            Self::Rfc2136(d) => Arbiter::read(d).await,
            Self::Route53(d) => Arbiter::read(d).await,
        }
    }

    async fn claim(&self, expected: &Ownership, new: &Ownership) -> Result<ClaimResult, DnsError> {
        match self {
            Self::Rfc2136(d) => d.claim(expected, new).await,
            Self::Route53(d) => d.claim(expected, new).await,
        }
    }
}

impl ClientRecord for AnyClientRecord {
    async fn read(&self) -> Result<Option<ClientTarget>, DnsError> {
        match self {
            Self::Rfc2136(d) => ClientRecord::read(d).await,
            Self::Route53(d) => ClientRecord::read(d).await,
            Self::Route53Health(d) => d.read().await,
        }
    }

    async fn swap(
        &self,
        from: Option<&ClientTarget>,
        to: &ClientTarget,
    ) -> Result<SwapResult, DnsError> {
        match self {
            Self::Rfc2136(d) => d.swap(from, to).await,
            Self::Route53(d) => d.swap(from, to).await,
            Self::Route53Health(d) => d.swap(from, to).await,
        }
    }

    async fn verify(
        &self,
        expected: &ClientTarget,
        within: Duration,
    ) -> Result<Duration, DnsError> {
        match self {
            Self::Rfc2136(d) => d.verify(expected, within).await,
            Self::Route53(d) => d.verify(expected, within).await,
            Self::Route53Health(d) => d.verify(expected, within).await,
        }
    }
}
