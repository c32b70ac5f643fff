//! Reading the client record from one authoritative server with no cache, for verification.
use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_net::NetError;
use hickory_net::proto::rr::{Name, RData, RecordType};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_resolver::Resolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};

use super::{ClientTarget, DnsError};

/// [`uncached_resolver`], its failure a [`DnsError`] naming the server.
pub(super) fn uncached(
    server: SocketAddr,
    timeout: Duration,
) -> Result<Resolver<TokioRuntimeProvider>, DnsError> {
    uncached_resolver(server, timeout).map_err(|source| DnsError::Transport { server, source })
}

/// A resolver that asks only `server` (UDP, then TCP) and caches nothing, so each lookup sees
/// the server's current data: a cached resolver returned the old value right after a swap.
/// Public because the lab's clients must see a swap the same way.
pub fn uncached_resolver(
    server: SocketAddr,
    timeout: Duration,
) -> Result<Resolver<TokioRuntimeProvider>, NetError> {
    let mut udp = ConnectionConfig::udp();
    udp.port = server.port();
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = server.port();
    let ns = NameServerConfig::new(server.ip(), true, vec![udp, tcp]);
    let mut options = ResolverOpts::default();
    options.cache_size = 0;
    options.attempts = 1;
    options.timeout = timeout;
    options.recursion_desired = false;
    let mut builder = Resolver::builder_with_config(
        ResolverConfig::from_name_servers(vec![ns]),
        TokioRuntimeProvider::new(),
    );
    *builder.options_mut() = options;
    builder.build()
}

/// What `resolver` answers for `name`, looking only at the record types `kind` is made of
/// (a CNAME for an alias, A and AAAA for addresses; all three for `None`).
pub(super) async fn resolve_target(
    resolver: &Resolver<TokioRuntimeProvider>,
    name: &Name,
    kind: Option<&ClientTarget>,
) -> Result<Option<ClientTarget>, NetError> {
    let types: &[RecordType] = match kind {
        Some(ClientTarget::Addresses(_)) => &[RecordType::A, RecordType::AAAA],
        Some(ClientTarget::Alias(_)) => &[RecordType::CNAME],
        None => &[RecordType::CNAME, RecordType::A, RecordType::AAAA],
    };
    let mut addrs = BTreeSet::new();
    let mut alias = None;
    for rtype in types {
        let lookup = match resolver.lookup(name.clone(), *rtype).await {
            Ok(lookup) => lookup,
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => continue,
            Err(e) => return Err(e),
        };
        for record in lookup.answers() {
            match &record.data {
                RData::A(v4) => {
                    addrs.insert(IpAddr::V4(v4.0));
                }
                RData::AAAA(v6) => {
                    addrs.insert(IpAddr::V6(v6.0));
                }
                RData::CNAME(c) => alias = Some(c.0.to_ascii()),
                _ => {}
            }
        }
    }
    Ok(match (alias, addrs.is_empty()) {
        (Some(alias), _) => Some(ClientTarget::Alias(alias)),
        (None, false) => Some(ClientTarget::Addresses(addrs)),
        (None, true) => None,
    })
}
