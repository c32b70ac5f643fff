//! The client record in Route 53's data-plane mode: health checks move it, natsdr only reads.
use std::net::SocketAddr;
use std::time::Duration;

use hickory_net::proto::rr::Name;

use super::wait::{self, Deadline, Seen};
use super::{ClientRecord, ClientTarget, DnsError, SwapResult, authoritative};

/// The client record as pre-created PRIMARY/SECONDARY failover records in Route 53, whose
/// health checks read natsdr's `GET /v1/dns-health/<region>`.
///
/// Nothing here calls Route 53's API (it lives in us-east-1 and may be down with it): a swap
/// is already done once the epoch has moved, because the health endpoints answer from the
/// epoch; reads and verification ask Route 53's authoritative servers (the global data plane)
/// with no cache.
#[derive(Debug, Clone)]
pub struct Route53Health {
    name: Name,
    servers: Vec<SocketAddr>,
    timeout: Duration,
}

impl Route53Health {
    /// The record `name`, read from `servers` (Route 53's name servers for its zone).
    pub fn new(name: &str, servers: Vec<SocketAddr>, timeout: Duration) -> Result<Self, DnsError> {
        let fqdn = if name.ends_with('.') {
            name.to_owned()
        } else {
            format!("{name}.")
        };
        let name = Name::from_ascii(&fqdn).map_err(|e| DnsError::Config {
            field: "client_record",
            reason: format!("{fqdn:?}: {e}"),
        })?;
        if servers.is_empty() {
            return Err(DnsError::Config {
                field: "name_servers",
                reason: "at least one of Route 53's name servers is needed".into(),
            });
        }
        if timeout.is_zero() {
            return Err(DnsError::Config {
                field: "timeout",
                reason: "must be positive".into(),
            });
        }
        Ok(Self {
            name,
            servers,
            timeout,
        })
    }

    /// What the first server that answers holds, for `kind`'s record types (all three when
    /// `None`).
    async fn lookup(&self, kind: Option<&ClientTarget>) -> Result<Option<ClientTarget>, DnsError> {
        let mut last = None;
        for server in &self.servers {
            let resolver = authoritative::uncached(*server, self.timeout)?;
            match authoritative::resolve_target(&resolver, &self.name, kind).await {
                Ok(found) => return Ok(found),
                Err(source) => {
                    last = Some(DnsError::Transport {
                        server: *server,
                        source,
                    });
                }
            }
        }
        Err(last.expect("at least one server (checked in new)"))
    }
}

impl ClientRecord for Route53Health {
    async fn read(&self) -> Result<Option<ClientTarget>, DnsError> {
        self.lookup(None).await
    }

    /// No API call: the health checks follow the epoch, which the claim has already moved.
    async fn swap(
        &self,
        _from: Option<&ClientTarget>,
        to: &ClientTarget,
    ) -> Result<SwapResult, DnsError> {
        tracing::info!(record = %self.name, %to, "data-plane mode: Route 53's health checks move the record");
        Ok(SwapResult::Swapped)
    }

    async fn verify(
        &self,
        expected: &ClientTarget,
        within: Duration,
    ) -> Result<Duration, DnsError> {
        let (name, want) = (self.name.to_string(), expected.to_string());
        let deadline = Deadline::from_now(within, &name, &want);
        wait::until_seen(deadline, Duration::from_millis(200), move || async move {
            Ok(Seen::target(self.lookup(Some(expected)).await, expected))
        })
        .await
    }
}
