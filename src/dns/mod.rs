//! DNS as the arbiter of ownership (epochs by compare-and-swap) and as the client cutover.
mod arbiter;
mod client_record;
mod error;
mod memory;
mod ownership;
mod rfc2136;

pub use arbiter::{Arbiter, ClaimResult};
pub use client_record::{ClientRecord, ClientTarget, SwapResult};
pub use error::DnsError;
pub use memory::{Fault, MemoryDns};
pub use ownership::{Ownership, OwnershipParseError};
pub use rfc2136::{KeyAlgorithm, Rfc2136, Rfc2136Config};

/// The RFC 2136 settings of a loaded config (the TSIG secret is read now). Errors name what is
/// missing or unreadable.
pub fn rfc2136_config(cfg: &crate::config::Config) -> Result<Rfc2136Config, String> {
    let dns = cfg
        .dns
        .as_ref()
        .ok_or("no [dns] section: a watchdog needs the arbiter")?;
    let crate::config::DnsProvider::Rfc2136 {
        server,
        key_name,
        key_algorithm,
        key_secret,
        timeout,
    } = &dns.provider;
    Ok(Rfc2136Config {
        server: *server,
        zone: dns.zone.clone(),
        key_name: key_name.clone(),
        key_secret: key_secret
            .resolve()
            .map_err(|e| e.to_string())?
            .expose()
            .to_owned(),
        algorithm: key_algorithm
            .parse::<KeyAlgorithm>()
            .map_err(|e| e.to_string())?,
        owner_record_name: dns.owner_record.clone(),
        client_record_name: dns.client_record.clone(),
        ttl: dns.ttl,
        timeout: *timeout,
    })
}
