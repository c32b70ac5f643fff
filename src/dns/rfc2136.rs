//! The arbiter and the client record on a DNS server that takes RFC 2136 updates (e.g. BIND).
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use base64::Engine as _;
use futures::StreamExt as _;
use hickory_net::client::Client;
use hickory_net::proto::op::{
    DnsRequest, DnsResponse, Message, OpCode, Query, ResponseCode, UpdateMessage as _,
};
use hickory_net::proto::rr::rdata::{A, AAAA, CNAME, TXT, tsig::TsigAlgorithm};
use hickory_net::proto::rr::{DNSClass, Name, RData, Record, RecordType, TSigner};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::tcp::TcpClientStream;
use hickory_net::xfer::{DnsHandle as _, DnsMultiplexer};
use hickory_net::{DnsError as HickoryDnsError, NetError};

use super::wait::{self, Deadline, Seen};
use super::{
    Arbiter, ClaimResult, ClientRecord, ClientTarget, DnsError, Ownership, Settled, SwapResult,
    authoritative, read_back, settled,
};
use crate::config::Secret;

/// A TSIG algorithm BIND and hickory both support.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyAlgorithm {
    /// `hmac-sha256`, what `tsig-keygen` produces by default.
    #[default]
    HmacSha256,
    /// `hmac-sha384`.
    HmacSha384,
    /// `hmac-sha512`.
    HmacSha512,
}

impl FromStr for KeyAlgorithm {
    type Err = DnsError;

    /// Parses the names `tsig-keygen -a` and named.conf use (`hmac-sha256`, ...).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "hmac-sha256" => Ok(Self::HmacSha256),
            "hmac-sha384" => Ok(Self::HmacSha384),
            "hmac-sha512" => Ok(Self::HmacSha512),
            other => Err(DnsError::Config {
                field: "algorithm",
                reason: format!("{other:?} is not hmac-sha256, hmac-sha384 or hmac-sha512"),
            }),
        }
    }
}

impl From<KeyAlgorithm> for TsigAlgorithm {
    fn from(a: KeyAlgorithm) -> Self {
        match a {
            KeyAlgorithm::HmacSha256 => Self::HmacSha256,
            KeyAlgorithm::HmacSha384 => Self::HmacSha384,
            KeyAlgorithm::HmacSha512 => Self::HmacSha512,
        }
    }
}

/// Everything needed to talk RFC 2136 to one authoritative server, as plain values (the
/// top-level config maps onto it). Names may be given with or without the trailing dot, and
/// are always absolute. Its `Debug` shows everything but the secret.
#[derive(Clone, Debug)]
pub struct Rfc2136Config {
    /// The primary authoritative server that accepts updates (TCP and UDP).
    pub server: SocketAddr,
    /// The zone holding both records, e.g. `dr.test`.
    pub zone: String,
    /// The TSIG key's name, as named.conf spells it (e.g. `dr-key`).
    pub key_name: String,
    /// The TSIG secret, base64 as in named.conf.
    pub key_secret: Secret,
    /// The TSIG algorithm.
    pub algorithm: KeyAlgorithm,
    /// The arbiter's TXT record, e.g. `_natsdr-owner.dr.test`.
    pub owner_record_name: String,
    /// The client-facing record, e.g. `nats.dr.test`.
    pub client_record_name: String,
    /// TTL of the records we write; whole seconds.
    pub ttl: Duration,
    /// Bound on each exchange with the server (connect, send, answer). A claim or swap is one
    /// exchange, plus up to three read-back queries run concurrently when it fails, so it
    /// returns within twice this.
    pub timeout: Duration,
}

/// The RFC 2136 implementation of [`Arbiter`] and [`ClientRecord`].
///
/// Every write is one TSIG-signed UPDATE over TCP whose prerequisites pin the exact current
/// value ("RRset exists, value dependent"), so it is an atomic compare-and-swap on the server.
/// TCP because a UDP retransmit can make an applied update look failed. Each operation opens
/// its own connection: failover writes are rare, and a fresh connection cannot be stale.
#[derive(Clone)]
pub struct Rfc2136 {
    server: SocketAddr,
    zone: Name,
    owner: Name,
    client: Name,
    ttl: u32,
    timeout: Duration,
    signer: TSigner,
}

impl std::fmt::Debug for Rfc2136 {
    // NB: by hand so that the TSIG secret never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rfc2136")
            .field("server", &self.server)
            .field("zone", &self.zone)
            .field("owner", &self.owner)
            .field("client", &self.client)
            .field("key", self.signer.signer_name())
            .finish_non_exhaustive()
    }
}

/// What happened to an update that the server answered.
enum Update {
    /// Prerequisites held; the whole update was applied.
    Applied,
    /// A prerequisite failed; nothing was applied.
    PrerequisiteFailed,
}

fn absolute_name(field: &'static str, s: &str) -> Result<Name, DnsError> {
    let fqdn = if s.ends_with('.') {
        s.to_owned()
    } else {
        format!("{s}.")
    };
    Name::from_ascii(&fqdn).map_err(|e| DnsError::Config {
        field,
        reason: format!("{s:?}: {e}"),
    })
}

fn config_error(field: &'static str, reason: impl Into<String>) -> DnsError {
    DnsError::Config {
        field,
        reason: reason.into(),
    }
}

impl Rfc2136 {
    /// Checks the configuration (names inside the zone, a decodable key, sane timings) and
    /// builds the client. Does not touch the network.
    pub fn new(config: &Rfc2136Config) -> Result<Self, DnsError> {
        let zone = absolute_name("zone", &config.zone)?;
        let owner = absolute_name("owner_record_name", &config.owner_record_name)?;
        let client = absolute_name("client_record_name", &config.client_record_name)?;
        for (field, name) in [
            ("owner_record_name", &owner),
            ("client_record_name", &client),
        ] {
            if !zone.zone_of(name) {
                return Err(config_error(
                    field,
                    format!("{name} is not inside zone {zone}"),
                ));
            }
        }
        if owner == client {
            return Err(config_error(
                "owner_record_name",
                "must differ from client_record_name",
            ));
        }
        let key = base64::engine::general_purpose::STANDARD
            .decode(config.key_secret.expose().trim())
            .map_err(|e| config_error("key_secret", format!("not base64: {e}")))?;
        if key.is_empty() {
            return Err(config_error("key_secret", "is empty"));
        }
        let key_name = absolute_name("key_name", &config.key_name)?;
        let signer = TSigner::new(key, config.algorithm.into(), key_name, 300)
            .map_err(|e| config_error("algorithm", e.to_string()))?;
        let ttl = u32::try_from(config.ttl.as_secs())
            .ok()
            .filter(|t| *t <= i32::MAX as u32)
            .ok_or_else(|| config_error("ttl", "too large"))?;
        if config.timeout.is_zero() {
            return Err(config_error("timeout", "must be positive"));
        }
        Ok(Self {
            server: config.server,
            zone,
            owner,
            client,
            ttl,
            timeout: config.timeout,
            signer,
        })
    }

    /// Sends one message on a fresh TCP connection and returns the first answer, all within
    /// `self.timeout`. Updates are TSIG-signed and their answers verified.
    ///
    /// NB: we sign and verify here rather than in hickory's multiplexer, because a server that
    /// rejects our key answers NOTAUTH with an unsigned TSIG (error BADSIG/BADKEY/BADTIME);
    /// hickory's verifier turns that into an opaque error, and we want to report the reason.
    async fn exchange(&self, mut message: Message) -> Result<DnsResponse, DnsError> {
        let server = self.server;
        let verifier = if self.signer.should_sign_message(&message) {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            message
                .finalize(&self.signer, now)
                .map_err(|e| config_error("key_secret", format!("cannot sign: {e}")))?
        } else {
            None
        };
        let attempt = async {
            let (connect, handle) = TcpClientStream::new(
                server,
                None,
                Some(self.timeout),
                TokioRuntimeProvider::new(),
            );
            let stream = connect.await?;
            let multiplexer = DnsMultiplexer::new(stream, handle).with_timeout(self.timeout);
            let (client, background) = Client::<TokioRuntimeProvider>::from_sender(multiplexer);
            // The background task ends by itself once `client` is dropped.
            tokio::spawn(background);
            client
                .send(DnsRequest::from(message))
                .next()
                .await
                .unwrap_or(Err(NetError::Timeout))
        };
        let response = match tokio::time::timeout(self.timeout, attempt).await {
            Err(_) | Ok(Err(NetError::Timeout)) => {
                return Err(DnsError::Timeout {
                    server,
                    after: self.timeout,
                });
            }
            Ok(Ok(response)) => response,
            // A negative answer may surface as an error; the caller reads its rcode.
            Ok(Err(NetError::Dns(HickoryDnsError::NoRecordsFound(no_records)))) => {
                return Err(classify_rcode(server, no_records.response_code));
            }
            Ok(Err(NetError::Dns(HickoryDnsError::ResponseCode(rcode)))) => {
                return Err(classify_rcode(server, rcode));
            }
            Ok(Err(source @ NetError::Proto(_))) => {
                return Err(DnsError::BadResponse { server, source });
            }
            Ok(Err(source)) => return Err(DnsError::Transport { server, source }),
        };
        let Some(mut verifier) = verifier else {
            return Ok(response);
        };
        // The server did not accept our signature, so it could not sign its answer either.
        // Trusting this unsigned refusal can only make us stop, never act.
        let tsig_error = response.signature.as_ref().and_then(|tsig| tsig.data.error);
        if let Some(tsig_error) = tsig_error {
            return Err(classify_rcode(
                server,
                <ResponseCode as From<u16>>::from(tsig_error.into()),
            ));
        }
        match verifier.verify(response.as_buffer()) {
            Ok(verified) => Ok(verified),
            // Likewise an unverifiable error answer can only make us read back or stand down;
            // only a success must be authentic.
            Err(_) if response.response_code != ResponseCode::NoError => {
                Err(classify_rcode(server, response.response_code))
            }
            Err(e) => Err(DnsError::BadResponse {
                server,
                source: NetError::from(e),
            }),
        }
    }

    /// The records of one type at `name`, straight from the authority. An absent name or type
    /// is an empty list.
    async fn query(&self, name: &Name, rtype: RecordType) -> Result<Vec<Record>, DnsError> {
        let mut message = Message::query();
        message.metadata.recursion_desired = false;
        message.add_query(Query::query(name.clone(), rtype));
        let response = match self.exchange(message).await {
            Ok(response) => response,
            Err(DnsError::Rcode {
                rcode: ResponseCode::NXDomain,
                ..
            }) => return Ok(vec![]),
            Err(e) => return Err(e),
        };
        match response.response_code {
            ResponseCode::NoError | ResponseCode::NXDomain => Ok(response
                .answers
                .iter()
                .filter(|r| r.record_type() == rtype && r.name == *name)
                .cloned()
                .collect()),
            rcode => Err(classify_rcode(self.server, rcode)),
        }
    }

    /// Sends one UPDATE for our zone with these prerequisites and changes.
    async fn update(
        &self,
        prerequisites: Vec<Record>,
        changes: Vec<Record>,
    ) -> Result<Update, DnsError> {
        let mut message = Message::query();
        message.metadata.op_code = OpCode::Update;
        message.metadata.recursion_desired = false;
        let mut zone = Query::query(self.zone.clone(), RecordType::SOA);
        zone.set_query_class(DNSClass::IN);
        message.add_zone(zone);
        message.add_pre_requisites(prerequisites);
        message.add_updates(changes);
        let rcode = match self.exchange(message).await {
            Ok(response) => response.response_code,
            Err(DnsError::Rcode { rcode, .. }) => rcode,
            Err(e) => return Err(e),
        };
        match rcode {
            ResponseCode::NoError => Ok(Update::Applied),
            ResponseCode::NXRRSet
            | ResponseCode::YXRRSet
            | ResponseCode::NXDomain
            | ResponseCode::YXDomain => Ok(Update::PrerequisiteFailed),
            rcode => Err(classify_rcode(self.server, rcode)),
        }
    }

    /// "RRset exists (value dependent)": this exact record must be there (TTL ignored).
    fn exists(name: &Name, data: RData) -> Record {
        Record::from_rdata(name.clone(), 0, data)
    }

    /// "RRset does not exist": no record of this type at `name`.
    fn absent(name: &Name, rtype: RecordType) -> Record {
        let mut r = Record::update0(name.clone(), 0, rtype);
        r.dns_class = DNSClass::NONE;
        r
    }

    /// "Delete an RRset": remove every record of this type at `name`.
    fn delete_all(name: &Name, rtype: RecordType) -> Record {
        let mut r = Record::update0(name.clone(), 0, rtype);
        r.dns_class = DNSClass::ANY;
        r
    }

    fn txt(ownership: &Ownership) -> RData {
        RData::TXT(TXT::new(vec![ownership.to_txt()]))
    }

    /// The records that make up `target`, without name or TTL.
    fn target_rdata(target: &ClientTarget) -> Result<Vec<RData>, DnsError> {
        match target {
            ClientTarget::Addresses(addrs) if addrs.is_empty() => {
                Err(DnsError::InvalidTarget("no addresses".into()))
            }
            ClientTarget::Addresses(addrs) => Ok(addrs
                .iter()
                .map(|ip| match ip {
                    IpAddr::V4(v4) => RData::A(A(*v4)),
                    IpAddr::V6(v6) => RData::AAAA(AAAA(*v6)),
                })
                .collect()),
            ClientTarget::Alias(alias) => {
                let name = absolute_name("alias", alias)
                    .map_err(|e| DnsError::InvalidTarget(e.to_string()))?;
                Ok(vec![RData::CNAME(CNAME(name))])
            }
        }
    }

    async fn read_owner(&self) -> Result<Option<Ownership>, DnsError> {
        let records = self.query(&self.owner, RecordType::TXT).await?;
        let texts: Vec<String> = records
            .iter()
            .filter_map(|r| match &r.data {
                RData::TXT(txt) => Some(
                    txt.txt_data
                        .iter()
                        .map(|s| String::from_utf8_lossy(s))
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect();
        Ownership::from_txt_record(&self.owner.to_string(), &texts)
    }

    async fn read_client(&self) -> Result<Option<ClientTarget>, DnsError> {
        let (a, aaaa, cname) = futures::try_join!(
            self.query(&self.client, RecordType::A),
            self.query(&self.client, RecordType::AAAA),
            self.query(&self.client, RecordType::CNAME),
        )?;
        let addrs: std::collections::BTreeSet<IpAddr> = a
            .iter()
            .chain(&aaaa)
            .filter_map(|r| match &r.data {
                RData::A(v4) => Some(IpAddr::V4(v4.0)),
                RData::AAAA(v6) => Some(IpAddr::V6(v6.0)),
                _ => None,
            })
            .collect();
        let aliases: Vec<String> = cname
            .iter()
            .filter_map(|r| match &r.data {
                RData::CNAME(c) => Some(c.0.to_ascii()),
                _ => None,
            })
            .collect();
        match (addrs.is_empty(), aliases.as_slice()) {
            (true, []) => Ok(None),
            (false, []) => Ok(Some(ClientTarget::Addresses(addrs))),
            (true, [alias]) => Ok(Some(ClientTarget::Alias(alias.clone()))),
            _ => Err(DnsError::MalformedClientRecord {
                name: self.client.to_string(),
                found: format!("addresses {addrs:?}, aliases {aliases:?}"),
            }),
        }
    }
}

/// Maps a response code to the error callers act on.
fn classify_rcode(server: SocketAddr, rcode: ResponseCode) -> DnsError {
    match rcode {
        ResponseCode::NotAuth
        | ResponseCode::Refused
        | ResponseCode::BADSIG
        | ResponseCode::BADKEY
        | ResponseCode::BADTIME => DnsError::NotAuthorized { server, rcode },
        rcode => DnsError::Rcode { server, rcode },
    }
}

/// What a compare-and-swap update came to: `done` when it was applied, else what the record's
/// read-back (`read`, awaited only then) settles. An update that failed on the way may have
/// landed before the connection broke: if the read-back shows `wanted`, it did; unreadable or
/// still `expected`, the outcome stays unknown and the caller retries.
async fn settle<R: Settled>(
    update: Result<Update, DnsError>,
    done: R,
    read: impl Future<Output = Result<Option<R::Value>, DnsError>>,
    expected: Option<&R::Value>,
    wanted: &R::Value,
) -> Result<R, DnsError> {
    match update {
        Ok(Update::Applied) => Ok(done),
        Ok(Update::PrerequisiteFailed) => Ok(settled(read.await?, wanted)),
        Err(e) if e.is_retryable() => read
            .await
            .ok()
            .and_then(|current| read_back(current, expected, wanted))
            .ok_or(e),
        Err(e) => Err(e),
    }
}

impl Arbiter for Rfc2136 {
    async fn read(&self) -> Result<Option<Ownership>, DnsError> {
        self.read_owner().await
    }

    async fn claim(&self, expected: &Ownership, new: &Ownership) -> Result<ClaimResult, DnsError> {
        expected.must_precede(new)?;
        let prerequisites = vec![Self::exists(&self.owner, Self::txt(expected))];
        let changes = vec![
            Self::delete_all(&self.owner, RecordType::TXT),
            Record::from_rdata(self.owner.clone(), self.ttl, Self::txt(new)),
        ];
        let update = self.update(prerequisites, changes).await;
        settle(
            update,
            ClaimResult::Won,
            self.read_owner(),
            Some(expected),
            new,
        )
        .await
    }
}

impl ClientRecord for Rfc2136 {
    async fn read(&self) -> Result<Option<ClientTarget>, DnsError> {
        self.read_client().await
    }

    async fn swap(
        &self,
        from: Option<&ClientTarget>,
        to: &ClientTarget,
    ) -> Result<SwapResult, DnsError> {
        let name = &self.client;
        let new = Self::target_rdata(to)?;
        let old = from
            .map(Self::target_rdata)
            .transpose()?
            .unwrap_or_default();
        // Pin the whole address view of the name: every record in `from` must be there, and
        // any address or alias type `from` does not mention must be absent.
        let mut prerequisites: Vec<Record> = old
            .iter()
            .map(|data| Self::exists(name, data.clone()))
            .collect();
        for rtype in [RecordType::A, RecordType::AAAA, RecordType::CNAME] {
            if !old.iter().any(|data| data.record_type() == rtype) {
                prerequisites.push(Self::absent(name, rtype));
            }
        }
        let mut changes: Vec<Record> = [RecordType::A, RecordType::AAAA, RecordType::CNAME]
            .into_iter()
            .map(|rtype| Self::delete_all(name, rtype))
            .collect();
        changes.extend(
            new.into_iter()
                .map(|data| Record::from_rdata(name.clone(), self.ttl, data)),
        );
        let update = self.update(prerequisites, changes).await;
        settle(update, SwapResult::Swapped, self.read_client(), from, to).await
    }

    async fn verify(
        &self,
        expected: &ClientTarget,
        within: Duration,
    ) -> Result<Duration, DnsError> {
        let resolver = authoritative::uncached(self.server, self.timeout)?;
        let (name, want) = (self.client.to_string(), expected.to_string());
        let deadline = Deadline::from_now(within, &name, &want);
        let (resolver, client) = (&resolver, &self.client);
        wait::until_seen(deadline, Duration::from_millis(20), move || async move {
            let read = authoritative::resolve_target(resolver, client, Some(expected)).await;
            Ok(Seen::target(read, expected))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Rfc2136Config {
        Rfc2136Config {
            server: "127.0.0.1:53".parse().unwrap(),
            zone: "dr.test".into(),
            key_name: "dr-key".into(),
            key_secret: Secret::new("c2VjcmV0"),
            algorithm: KeyAlgorithm::HmacSha256,
            owner_record_name: "_natsdr-owner.dr.test".into(),
            client_record_name: "nats.dr.test.".into(),
            ttl: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
        }
    }

    /// The field `Rfc2136::new` names when refusing the valid config changed by `edit`.
    fn refused_field(edit: impl FnOnce(&mut Rfc2136Config)) -> &'static str {
        let mut c = config();
        edit(&mut c);
        match Rfc2136::new(&c) {
            Err(DnsError::Config { field, .. }) => field,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_config_builds_without_touching_the_network() {
        assert!(Rfc2136::new(&config()).is_ok());
    }

    #[test]
    fn records_outside_the_zone_are_refused() {
        let outside = refused_field(|c| c.client_record_name = "nats.example.com".into());
        assert_eq!(outside, "client_record_name");
        let suffixed = refused_field(|c| c.owner_record_name = "dr.test.evil".into());
        assert_eq!(suffixed, "owner_record_name");
    }

    #[test]
    fn the_owner_and_client_records_must_be_different_names() {
        let same = refused_field(|c| c.owner_record_name = "nats.dr.test".into());
        assert_eq!(same, "owner_record_name");
    }

    #[test]
    fn a_secret_that_is_not_base64_is_refused() {
        let field = refused_field(|c| c.key_secret = Secret::new("not base64!"));
        assert_eq!(field, "key_secret");
    }

    #[test]
    fn a_zero_timeout_is_refused_because_nothing_could_ever_succeed() {
        assert_eq!(refused_field(|c| c.timeout = Duration::ZERO), "timeout");
    }

    #[test]
    fn algorithms_parse_as_named_conf_spells_them() {
        assert_eq!(
            "HMAC-SHA512".parse::<KeyAlgorithm>().unwrap(),
            KeyAlgorithm::HmacSha512
        );
        assert!("hmac-md5".parse::<KeyAlgorithm>().is_err());
    }

    #[test]
    fn the_debug_output_never_shows_the_secret() {
        let dns = Rfc2136::new(&config()).unwrap();
        assert!(!format!("{dns:?}").contains("c2VjcmV0"));
        assert!(!format!("{:?}", config()).contains("c2VjcmV0"));
    }
}
