//! The arbiter and the client record in a Route 53 hosted zone (control-plane mode).
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_route53::Client;
use aws_sdk_route53::config::retry::RetryConfig;
use aws_sdk_route53::config::timeout::TimeoutConfig;
use aws_sdk_route53::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord, ResourceRecordSet, RrType,
};
use hickory_net::proto::rr::Name;
use tokio::time::Instant;

use super::client_record::canonical;
use super::wait::{self, Deadline, Seen};
use super::{
    Arbiter, ClaimResult, ClientRecord, ClientTarget, DnsError, Ownership, Settled, SwapResult,
    authoritative, read_back, settled,
};

/// Everything needed to compare-and-swap two records of one Route 53 hosted zone.
#[derive(Debug, Clone)]
pub struct Route53Config {
    /// The hosted zone's id (`Z0123456789EXAMPLE`), with or without `/hostedzone/`.
    pub hosted_zone_id: String,
    /// The arbiter's TXT record, e.g. `_natsdr-owner.dr.example.com`.
    pub owner_record_name: String,
    /// The client-facing record, e.g. `nats.dr.example.com`.
    pub client_record_name: String,
    /// The client record's `SetIdentifier` when it is a weighted or failover record: natsdr
    /// swaps only that variant and keeps its routing fields (weight, failover role, health
    /// check). It must exist before the first swap.
    pub set_identifier: Option<String>,
    /// TTL of the records we create; whole seconds.
    pub ttl: Duration,
    /// Bound on one API call (one attempt).
    pub timeout: Duration,
    /// How long a write keeps retrying `Throttling`, `PriorRequestNotComplete` and transport
    /// failures before it gives up with a retryable error (the next step attempt goes on).
    pub retry_deadline: Duration,
    /// The authoritative servers `verify` asks; empty: the zone's delegation set, looked up
    /// with `GetHostedZone` and resolved on port 53.
    pub name_servers: Vec<SocketAddr>,
}

/// The Route 53 implementation of [`Arbiter`] and [`ClientRecord`].
///
/// Every write is ONE `ChangeResourceRecordSets` batch that DELETEs the exact live record set
/// (name, type, TTL, every value, SetIdentifier and routing fields, as just read) and CREATEs
/// the new one. Route 53 applies a batch all or nothing and rejects a DELETE that does not
/// match exactly, so the batch is an atomic compare-and-swap. Never UPSERT: it is
/// unconditional. A rejected batch (`InvalidChangeBatch`) is read back: our target already
/// there means an earlier attempt landed.
#[derive(Debug, Clone)]
pub struct Route53 {
    client: Client,
    zone_id: String,
    owner: String,
    client_name: String,
    client_dns_name: Name,
    set_identifier: Option<String>,
    ttl: i64,
    timeout: Duration,
    retry_deadline: Duration,
    name_servers: Vec<SocketAddr>,
    /// The id of the last change we submitted, which `verify` waits on until INSYNC.
    last_change: Arc<Mutex<Option<String>>>,
}

/// Why one API call failed, as the retry loop sees it.
enum Failure {
    /// `InvalidChangeBatch`: a DELETE did not match (we lost, or an earlier attempt landed).
    Rejected(DnsError),
    /// Worth retrying within the deadline: throttling, a concurrent change, the network.
    Transient(DnsError),
    /// Retrying cannot help (access denied, no such zone, invalid input).
    Fatal(DnsError),
}

fn config_error(field: &'static str, reason: impl Into<String>) -> DnsError {
    DnsError::Config {
        field,
        reason: reason.into(),
    }
}

/// Classifies an SDK error: `retryable_codes` are the service codes worth retrying.
fn classify<E, R>(operation: &'static str, err: SdkError<E, R>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = err.code().map(str::to_owned);
    let message = err.message().unwrap_or_default().to_owned();
    let transport = matches!(
        err,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
    );
    let retryable = transport
        || matches!(
            code.as_deref(),
            Some(
                "Throttling"
                    | "ThrottlingException"
                    | "PriorRequestNotComplete"
                    | "ServiceUnavailable"
                    | "InternalFailure"
            )
        );
    let rejected = code.as_deref() == Some("InvalidChangeBatch");
    let e = DnsError::Route53 {
        operation,
        code: code.unwrap_or_else(|| "transport".into()),
        message,
        retryable,
        source: Box::new(err),
    };
    if rejected {
        Failure::Rejected(e)
    } else if retryable {
        Failure::Transient(e)
    } else {
        Failure::Fatal(e)
    }
}

/// The strings of one TXT value as Route 53 shows it (`"a" "b"`), unquoted and joined.
fn unquote_txt(value: &str) -> String {
    let mut out = String::new();
    let mut chars = value.chars();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' => out.extend(chars.next()),
            c if quoted => out.push(c),
            _ => {}
        }
    }
    out
}

impl Route53 {
    /// Checks the configuration and builds the client on `sdk` (credentials, region, endpoint
    /// override). Does not touch the network. The SDK's own retries are off: the retry loop
    /// here bounds them by `retry_deadline` and reads back after each rejected batch.
    pub fn new(config: &Route53Config, sdk: &SdkConfig) -> Result<Self, DnsError> {
        let zone_id = config
            .hosted_zone_id
            .trim_start_matches("/hostedzone/")
            .to_owned();
        if zone_id.is_empty() || !zone_id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(config_error(
                "hosted_zone_id",
                format!("{:?} is not a hosted zone id", config.hosted_zone_id),
            ));
        }
        let owner = canonical(&config.owner_record_name);
        let client_name = canonical(&config.client_record_name);
        if owner == client_name {
            return Err(config_error(
                "owner_record_name",
                "must differ from client_record_name",
            ));
        }
        let client_dns_name = Name::from_ascii(&client_name)
            .map_err(|e| config_error("client_record_name", e.to_string()))?;
        let ttl = i64::try_from(config.ttl.as_secs())
            .ok()
            .filter(|t| *t <= i64::from(i32::MAX))
            .ok_or_else(|| config_error("ttl", "too large"))?;
        if config.timeout.is_zero() {
            return Err(config_error("timeout", "must be positive"));
        }
        if config.set_identifier.as_deref().is_some_and(str::is_empty) {
            return Err(config_error("set_identifier", "is empty"));
        }
        let service = aws_sdk_route53::config::Builder::from(sdk)
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(config.timeout)
                    .build(),
            )
            .build();
        Ok(Self {
            client: Client::from_conf(service),
            zone_id,
            owner,
            client_name,
            client_dns_name,
            set_identifier: config.set_identifier.clone(),
            ttl,
            timeout: config.timeout,
            retry_deadline: config.retry_deadline,
            name_servers: config.name_servers.clone(),
            last_change: Arc::new(Mutex::new(None)),
        })
    }

    /// The id of the last change this client submitted (shared by clones), for waiting on it.
    pub fn last_change(&self) -> Option<String> {
        self.last_change
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Polls `GetChange` until the change is INSYNC (every Route 53 authoritative server has
    /// it), at most `within`; returns how long that took.
    pub async fn wait_insync(
        &self,
        change_id: &str,
        within: Duration,
    ) -> Result<Duration, DnsError> {
        let name = format!("change {change_id}");
        let deadline = Deadline::from_now(within, &name, "INSYNC");
        wait::until_seen(deadline, Duration::from_millis(100), move || async move {
            let status = self
                .client
                .get_change()
                .id(change_id)
                .send()
                .await
                .map_err(|e| match classify("GetChange", e) {
                    Failure::Rejected(e) | Failure::Transient(e) | Failure::Fatal(e) => e,
                });
            Ok(match status {
                Ok(out) => match out.change_info().map(|c| c.status()) {
                    Some(ChangeStatus::Insync) => Seen::Expected,
                    Some(other) => Seen::Other(other.as_str().to_owned()),
                    None => Seen::Other("no change info".to_owned()),
                },
                Err(e) if e.is_retryable() => Seen::Other(e.to_string()),
                Err(e) => return Err(e),
            })
        })
        .await
    }

    /// Every record set at `name` (of any type) with our SetIdentifier when `variant`.
    async fn record_sets(
        &self,
        name: &str,
        variant: bool,
    ) -> Result<Vec<ResourceRecordSet>, DnsError> {
        let mut found = Vec::new();
        let mut start: Option<(String, Option<RrType>, Option<String>)> =
            Some((name.to_owned(), None, None));
        while let Some((start_name, start_type, start_id)) = start.take() {
            let out = self
                .client
                .list_resource_record_sets()
                .hosted_zone_id(&self.zone_id)
                .start_record_name(start_name)
                .set_start_record_type(start_type)
                .set_start_record_identifier(start_id)
                .max_items(20)
                .send()
                .await
                .map_err(|e| match classify("ListResourceRecordSets", e) {
                    Failure::Rejected(e) | Failure::Transient(e) | Failure::Fatal(e) => e,
                })?;
            let mut past_name = false;
            for rs in out.resource_record_sets() {
                if canonical(rs.name()) != name {
                    past_name = true;
                    continue;
                }
                let wanted_id = if variant {
                    self.set_identifier.as_deref()
                } else {
                    None
                };
                if rs.set_identifier() == wanted_id {
                    found.push(rs.clone());
                }
            }
            if out.is_truncated() && !past_name {
                start = out.next_record_name().map(|n| {
                    (
                        n.to_owned(),
                        out.next_record_type().cloned(),
                        out.next_record_identifier().map(str::to_owned),
                    )
                });
            }
        }
        Ok(found)
    }

    /// The live ownership TXT record set, if any.
    async fn owner_set(&self) -> Result<Option<ResourceRecordSet>, DnsError> {
        Ok(self
            .record_sets(&self.owner, false)
            .await?
            .into_iter()
            .find(|rs| *rs.r#type() == RrType::Txt))
    }

    fn parse_owner(&self, set: Option<&ResourceRecordSet>) -> Result<Option<Ownership>, DnsError> {
        let Some(set) = set else {
            return Ok(None);
        };
        let texts: Vec<String> = set
            .resource_records()
            .iter()
            .map(|r| unquote_txt(r.value()))
            .collect();
        Ownership::from_txt_record(&self.owner, &texts)
    }

    async fn read_owner(&self) -> Result<Option<Ownership>, DnsError> {
        let set = self.owner_set().await?;
        self.parse_owner(set.as_ref())
    }

    /// The live A, AAAA and CNAME record sets of the client record (our variant).
    async fn client_sets(&self) -> Result<Vec<ResourceRecordSet>, DnsError> {
        Ok(self
            .record_sets(&self.client_name, true)
            .await?
            .into_iter()
            .filter(|rs| matches!(rs.r#type(), RrType::A | RrType::Aaaa | RrType::Cname))
            .collect())
    }

    fn parse_client(&self, sets: &[ResourceRecordSet]) -> Result<Option<ClientTarget>, DnsError> {
        let mut addrs = std::collections::BTreeSet::new();
        let mut aliases = Vec::new();
        let malformed = |found: String| DnsError::MalformedClientRecord {
            name: self.client_name.clone(),
            found,
        };
        for rs in sets {
            if rs.alias_target().is_some() {
                return Err(malformed(format!(
                    "an alias record of type {}",
                    rs.r#type()
                )));
            }
            for r in rs.resource_records() {
                match rs.r#type() {
                    RrType::Cname => aliases.push(r.value().to_owned()),
                    _ => {
                        let ip: IpAddr = r
                            .value()
                            .parse()
                            .map_err(|_| malformed(format!("address {:?}", r.value())))?;
                        addrs.insert(ip);
                    }
                }
            }
        }
        match (addrs.is_empty(), aliases.as_slice()) {
            (true, []) => Ok(None),
            (false, []) => Ok(Some(ClientTarget::Addresses(addrs))),
            (true, [alias]) => Ok(Some(ClientTarget::Alias(alias.clone()))),
            _ => Err(malformed(format!(
                "addresses {addrs:?}, aliases {aliases:?}"
            ))),
        }
    }

    async fn read_client(&self) -> Result<Option<ClientTarget>, DnsError> {
        let sets = self.client_sets().await?;
        self.parse_client(&sets)
    }

    fn change(action: ChangeAction, set: ResourceRecordSet) -> Result<Change, DnsError> {
        Change::builder()
            .action(action)
            .resource_record_set(set)
            .build()
            .map_err(|e| config_error("change", e.to_string()))
    }

    /// A record set named `name` of `rtype` holding `values`, with the routing fields
    /// (SetIdentifier, weight, failover role, health check...) of `like` when given.
    fn record_set(
        &self,
        name: &str,
        rtype: RrType,
        values: &[String],
        like: Option<&ResourceRecordSet>,
    ) -> Result<ResourceRecordSet, DnsError> {
        let records = values
            .iter()
            .map(|v| ResourceRecord::builder().value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| DnsError::InvalidTarget(e.to_string()))?;
        let mut b = ResourceRecordSet::builder()
            .name(name)
            .r#type(rtype)
            .ttl(self.ttl)
            .set_resource_records(Some(records));
        if let Some(l) = like {
            b = b
                .set_set_identifier(l.set_identifier().map(str::to_owned))
                .set_weight(l.weight())
                .set_region(l.region().cloned())
                .set_geo_location(l.geo_location().cloned())
                .set_failover(l.failover().cloned())
                .set_multi_value_answer(l.multi_value_answer())
                .set_health_check_id(l.health_check_id().map(str::to_owned))
                .set_cidr_routing_config(l.cidr_routing_config().cloned())
                .set_geo_proximity_location(l.geo_proximity_location().cloned());
        }
        b.build().map_err(|e| config_error("record", e.to_string()))
    }

    /// Submits one batch, retrying transient failures until `retry_deadline`. `Ok(true)`: the
    /// batch was applied; `Ok(false)`: rejected (a DELETE did not match: read back to know
    /// why); `Err`: the outcome is unknown (transient until the deadline) or the call is
    /// refused for good.
    async fn submit(&self, changes: Vec<Change>) -> Result<bool, DnsError> {
        let batch = ChangeBatch::builder()
            .set_changes(Some(changes))
            .comment("natsdr compare-and-swap")
            .build()
            .map_err(|e| config_error("change_batch", e.to_string()))?;
        let started = Instant::now();
        let mut backoff = Duration::from_millis(100);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let sent = self
                .client
                .change_resource_record_sets()
                .hosted_zone_id(&self.zone_id)
                .change_batch(batch.clone())
                .send()
                .await;
            match sent {
                Ok(out) => {
                    let id = out.change_info().map(|c| c.id().to_owned());
                    *self
                        .last_change
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = id;
                    return Ok(true);
                }
                Err(e) => match classify("ChangeResourceRecordSets", e) {
                    Failure::Rejected(e) => {
                        tracing::debug!(error = %e, attempt, "route 53 batch rejected");
                        return Ok(false);
                    }
                    Failure::Fatal(e) => return Err(e),
                    Failure::Transient(e) => {
                        // NB: sleep only if the next attempt still starts before the deadline.
                        if started.elapsed() + backoff >= self.retry_deadline {
                            return Err(e);
                        }
                        tracing::info!(error = %e, attempt, ?backoff, "route 53 busy, retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(2));
                    }
                },
            }
        }
    }

    /// After a rejected or unknown claim or swap, from the record's read-back (`read`): done if
    /// it holds `wanted`, lost if it holds anything else but `expected`. Still `expected`: the
    /// write failed for another reason (`failure`, or a batch rejected for something other than
    /// the DELETE).
    fn after<R: Settled>(
        read: Result<Option<R::Value>, DnsError>,
        expected: Option<&R::Value>,
        wanted: &R::Value,
        failure: Option<DnsError>,
    ) -> Result<R, DnsError> {
        match read {
            Ok(current) => read_back(current, expected, wanted)
                .ok_or_else(|| failure.unwrap_or_else(Self::rejected_unchanged)),
            Err(e) => Err(failure.unwrap_or(e)),
        }
    }

    /// A batch rejected while the record still holds what we expected: not a lost race but a
    /// batch Route 53 refuses (a name outside the zone, a bad value). A human must look.
    fn rejected_unchanged() -> DnsError {
        DnsError::Route53 {
            operation: "ChangeResourceRecordSets",
            code: "InvalidChangeBatch".into(),
            message: "rejected although the record still holds the expected value".into(),
            retryable: false,
            source: "batch rejected".into(),
        }
    }

    /// The record sets that make up `target`: (type, values).
    fn target_values(target: &ClientTarget) -> Result<Vec<(RrType, Vec<String>)>, DnsError> {
        match target {
            ClientTarget::Addresses(addrs) if addrs.is_empty() => {
                Err(DnsError::InvalidTarget("no addresses".into()))
            }
            ClientTarget::Addresses(addrs) => {
                let (v4, v6): (Vec<&IpAddr>, Vec<&IpAddr>) =
                    addrs.iter().partition(|a| a.is_ipv4());
                let mut sets = Vec::new();
                for (rtype, list) in [(RrType::A, v4), (RrType::Aaaa, v6)] {
                    if !list.is_empty() {
                        sets.push((rtype, list.iter().map(ToString::to_string).collect()));
                    }
                }
                Ok(sets)
            }
            ClientTarget::Alias(alias) => {
                let name = Name::from_ascii(alias)
                    .map_err(|e| DnsError::InvalidTarget(format!("{alias:?}: {e}")))?;
                Ok(vec![(RrType::Cname, vec![canonical(&name.to_ascii())])])
            }
        }
    }

    /// The servers `verify` asks: the configured ones, else the zone's delegation set.
    async fn authoritative_servers(&self) -> Result<Vec<SocketAddr>, DnsError> {
        if !self.name_servers.is_empty() {
            return Ok(self.name_servers.clone());
        }
        let zone = self
            .client
            .get_hosted_zone()
            .id(&self.zone_id)
            .send()
            .await
            .map_err(|e| match classify("GetHostedZone", e) {
                Failure::Rejected(e) | Failure::Transient(e) | Failure::Fatal(e) => e,
            })?;
        let names = zone
            .delegation_set()
            .map(|d| d.name_servers().to_vec())
            .unwrap_or_default();
        let mut servers = Vec::new();
        for ns in &names {
            if let Ok(found) = tokio::net::lookup_host((ns.trim_end_matches('.'), 53)).await {
                servers.extend(found.take(1));
            }
        }
        if servers.is_empty() {
            return Err(config_error(
                "name_servers",
                format!(
                    "none of the zone's name servers {names:?} resolves: configure name_servers"
                ),
            ));
        }
        Ok(servers)
    }
}

impl Arbiter for Route53 {
    async fn read(&self) -> Result<Option<Ownership>, DnsError> {
        self.read_owner().await
    }

    async fn claim(&self, expected: &Ownership, new: &Ownership) -> Result<ClaimResult, DnsError> {
        expected.must_precede(new)?;
        let live = self.owner_set().await?;
        let current = self.parse_owner(live.as_ref())?;
        let Some(live) = live.filter(|_| current.as_ref() == Some(expected)) else {
            return Ok(settled(current, new));
        };
        let quoted = format!("\"{}\"", new.to_txt());
        let changes = vec![
            Self::change(ChangeAction::Delete, live)?,
            Self::change(
                ChangeAction::Create,
                self.record_set(&self.owner, RrType::Txt, &[quoted], None)?,
            )?,
        ];
        match self.submit(changes).await {
            Ok(true) => Ok(ClaimResult::Won),
            Ok(false) => Self::after(self.read_owner().await, Some(expected), new, None),
            Err(e) if e.is_retryable() => {
                Self::after(self.read_owner().await, Some(expected), new, Some(e))
            }
            Err(e) => Err(e),
        }
    }
}

impl ClientRecord for Route53 {
    async fn read(&self) -> Result<Option<ClientTarget>, DnsError> {
        self.read_client().await
    }

    async fn swap(
        &self,
        from: Option<&ClientTarget>,
        to: &ClientTarget,
    ) -> Result<SwapResult, DnsError> {
        let new = Self::target_values(to)?;
        let live = self.client_sets().await?;
        let current = self.parse_client(&live)?;
        if current.as_ref() != from {
            return Ok(settled(current, to));
        }
        if self.set_identifier.is_some() && live.is_empty() {
            return Err(config_error(
                "set_identifier",
                format!(
                    "{} has no record with SetIdentifier {:?}: create it first (its routing \
                     policy is not natsdr's to choose)",
                    self.client_name,
                    self.set_identifier.as_deref().unwrap_or_default()
                ),
            ));
        }
        let like = live.first().cloned();
        let mut changes = live
            .into_iter()
            .map(|set| Self::change(ChangeAction::Delete, set))
            .collect::<Result<Vec<_>, _>>()?;
        for (rtype, values) in new {
            let set = self.record_set(&self.client_name, rtype, &values, like.as_ref())?;
            changes.push(Self::change(ChangeAction::Create, set)?);
        }
        match self.submit(changes).await {
            Ok(true) => Ok(SwapResult::Swapped),
            Ok(false) => Self::after(self.read_client().await, from, to, None),
            Err(e) if e.is_retryable() => Self::after(self.read_client().await, from, to, Some(e)),
            Err(e) => Err(e),
        }
    }

    /// Waits for our last change to be INSYNC, then asks every authoritative server (no cache)
    /// until all answer `expected`; logs each phase's duration. Both phases share `within`.
    async fn verify(
        &self,
        expected: &ClientTarget,
        within: Duration,
    ) -> Result<Duration, DnsError> {
        let started = Instant::now();
        let insync = match self.last_change() {
            Some(id) => Some(self.wait_insync(&id, within).await?),
            None => None,
        };
        let servers = self.authoritative_servers().await?;
        let resolvers = servers
            .iter()
            .map(|s| authoritative::uncached(*s, self.timeout))
            .collect::<Result<Vec<_>, _>>()?;
        let dns_started = Instant::now();
        let want = expected.to_string();
        let deadline = Deadline {
            started,
            within,
            name: &self.client_name,
            expected: &want,
        };
        let (servers, resolvers, client) = (&servers, &resolvers, &self.client_dns_name);
        let total = wait::until_seen(deadline, Duration::from_millis(100), move || async move {
            for (server, resolver) in servers.iter().zip(resolvers) {
                let read = authoritative::resolve_target(resolver, client, Some(expected)).await;
                if let Seen::Other(seen) = Seen::target(read, expected) {
                    return Ok(Seen::Other(format!("{server}: {seen}")));
                }
            }
            Ok(Seen::Expected)
        })
        .await?;
        tracing::info!(
            insync_ms = insync.map(|d| d.as_millis()),
            visible_ms = dns_started.elapsed().as_millis(),
            total_ms = total.as_millis(),
            servers = servers.len(),
            "route 53 change verified on the authoritative servers"
        );
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txt_values_are_unquoted_and_their_strings_joined() {
        assert_eq!(
            unquote_txt("\"region=us-east-1 epoch=3\""),
            "region=us-east-1 epoch=3"
        );
        assert_eq!(unquote_txt("\"region=a \" \"epoch=1\""), "region=a epoch=1");
        assert_eq!(unquote_txt(r#""say \"hi\"""#), "say \"hi\"");
    }

    #[test]
    fn names_compare_in_lower_case_with_the_trailing_dot() {
        assert_eq!(canonical("Nats.DR.example.com"), "nats.dr.example.com.");
        assert_eq!(canonical("nats.dr.example.com."), "nats.dr.example.com.");
    }

    #[test]
    fn addresses_become_one_a_and_one_aaaa_record_set() {
        let t = ClientTarget::addresses(["127.0.0.2".parse().unwrap(), "::1".parse().unwrap()]);
        assert_eq!(
            Route53::target_values(&t).unwrap(),
            vec![
                (RrType::A, vec!["127.0.0.2".to_owned()]),
                (RrType::Aaaa, vec!["::1".to_owned()])
            ]
        );
        assert!(Route53::target_values(&ClientTarget::addresses([])).is_err());
        assert_eq!(
            Route53::target_values(&ClientTarget::Alias("eu.Example.com".into())).unwrap(),
            vec![(RrType::Cname, vec!["eu.example.com.".to_owned()])]
        );
    }
}
