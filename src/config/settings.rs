//! Typed settings: who this watchdog is, its timing, RPO budget, API, peers and DNS.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::secret::SecretRef;
use crate::model::{Region, StreamName};

/// What this process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Probes, votes and acts (claims, fences, promotes, swaps DNS).
    Watchdog,
    /// Probes and votes only: the third vantage point that tells "peer dead" from "link cut".
    Witness,
}

impl Role {
    /// Its spelling in the config, the status API and peers' reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Watchdog => "watchdog",
            Self::Witness => "witness",
        }
    }
}

/// What a watchdog does when no witness is configured and the two sites disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TwoSite {
    /// Detect and page, then wait for an operator: two sites alone cannot tell a dead primary
    /// from a cut link. The safe default.
    Manual,
    /// Fail over automatically, relying on the primary's self-fence lease to rule out
    /// split-brain. A long cut link then moves the primary even though it was healthy.
    Lease,
}

/// Who this process is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Watchdog {
    /// Unique id, shown in claims, the audit log and pages.
    pub id: String,
    /// The region it runs in (a witness: its own site, not one of the two regions).
    pub site: Region,
    /// Watchdog or witness.
    pub role: Role,
    /// When false, natsdr detects and pages but only an operator moves the primary.
    pub auto_failover: bool,
    /// When false, a region that fenced itself by its lease stays fenced until an operator's
    /// `ack`; when true it unfences itself once a majority has vouched for it for
    /// `timing.self_unfence_after` (see `Timing`).
    pub auto_unfence: bool,
    /// Policy without a witness.
    pub two_site: TwoSite,
    /// Where promotions on nats-server 2.10/2.11 keep mirror snapshots (absolute; created at
    /// start). `None`: `<OS temp dir>/natsdr-snapshots/<id>`.
    pub snapshot_dir: Option<PathBuf>,
}

/// Probe and failover timing. Invariants (checked at load): `probe_timeout < probe_interval`,
/// `self_fence_lease + 2.5 * probe_interval < failover_delay` (the old primary fences itself
/// strictly before the standby may promote), `self_fence_lease > 2 * probe_interval + 2 *
/// probe_timeout` (a healthy primary keeps its lease), `mirror_silence < failover_delay`,
/// `peer_stale_after >= 2 * probe_interval + cross_region_rtt`, `probe_timeout >= 2 *
/// cross_region_rtt` (a request to the far region over a fresh connection takes two round trips).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Timing {
    /// One probe round of both regions.
    pub probe_interval: Duration,
    /// Per request.
    pub probe_timeout: Duration,
    /// How long "primary down" must hold before a failover starts.
    pub failover_delay: Duration,
    /// A primary-region watchdog cut off from the majority this long fences its own region.
    pub self_fence_lease: Duration,
    /// A region that fenced itself by its lease unfences itself after a majority has vouched
    /// for it this long without a break (the arbiter still naming it, at most `flap_max`
    /// self-fences within `flap_window`; `watchdog.auto_unfence = false` turns this off).
    pub self_unfence_after: Duration,
    /// A mirror silent this long testifies that its source is gone.
    pub mirror_silence: Duration,
    /// A peer's report older than this counts as no report.
    pub peer_stale_after: Duration,
    /// How long one attempt of a failover step waits for its outcome before it is sent again.
    pub step_timeout: Duration,
    /// After a clock jump or a stall, observe only for this long.
    pub tilt_duration: Duration,
    /// Window for flap detection.
    pub flap_window: Duration,
    /// Down/up cycles within the window that hold the watchdog for an operator.
    pub flap_max: u32,
    /// The JSZ, HEALTHZ and LEAFZ probes (shown in status and metrics, not decided on) run
    /// every this many rounds; in between, their last answers are shown.
    pub depth_every: u32,
    /// The round trip between the regions (and to the witness) this deployment must work
    /// across: the timings are checked against it at load.
    pub cross_region_rtt: Duration,
}

/// What a failback does with the old primary's divergent tail (what it acked after the mirror's
/// last sequence). Either way the tail is first exported whole to the
/// `natsdr-divergent-<stream>-<epoch>` record stream in the current primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TailPolicy {
    /// Re-publish each message that carries a `Nats-Msg-Id` into the current primary (duplicates
    /// dropped); messages without an id are only kept.
    Republish,
    /// Re-publish nothing: every message stays in the record for an operator to review.
    Keep,
}

/// Failback settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failback {
    /// What becomes of the divergent tail.
    pub tail: TailPolicy,
    /// How long a failback waits for the reseeded mirrors to catch up before it stops and asks
    /// an operator (a repeated `failback` waits again; nothing is undone).
    pub reseed_timeout: Duration,
}

/// The data-loss guard: over either budget, no automatic failover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RpoBudget {
    /// Messages the standby may be behind.
    pub max_lag_messages: u64,
    /// Age of the oldest message the standby is missing.
    pub max_lag_seconds: Duration,
}

/// The HTTP API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Api {
    /// Listen address.
    pub listen: SocketAddr,
    /// Bearer tokens (one per line in a file); no token configured = commands refused.
    pub token: Option<SecretRef>,
    /// Whether reads (`/v1/status`, `/v1/observations`) need a token too.
    pub read_requires_token: bool,
    /// Where every command is appended as a JSON line (besides the logs).
    pub audit_log: Option<std::path::PathBuf>,
    /// When the audit file is rotated and how many old ones are kept.
    pub audit_rotation: AuditRotation,
    /// What one client may hold of the server.
    pub limits: ApiLimits,
    /// HTTPS instead of plain HTTP, with client certificates (mTLS) when a client CA is given.
    pub tls: Option<ApiTls>,
}

/// The API's TLS: its certificate chain and key (PEM, re-read when the files change, so a
/// rotated certificate is served without a restart), and the CA client certificates must be
/// signed by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiTls {
    /// The certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// Its private key.
    pub key_file: PathBuf,
    /// Client certificates must chain to this CA (mTLS); none: no client certificates asked.
    pub client_ca_file: Option<PathBuf>,
    /// With a client CA: refuse clients without a certificate (`required`, the default), or let
    /// them in while still refusing a certificate the CA did not sign (`optional`, e.g. for
    /// Route 53 health checks, which present none).
    pub client_cert_required: bool,
}

/// How this watchdog reaches its peers over HTTPS: which CA their certificates must chain to
/// (besides the system's roots), and the client certificate it presents (mTLS).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PeerTls {
    /// Extra CA (PEM) the peers' server certificates may chain to.
    pub ca_file: Option<PathBuf>,
    /// The client certificate chain and key (PEM) presented to peers.
    pub identity: Option<(PathBuf, PathBuf)>,
}

/// The audit file's rotation: past `max_bytes` it is renamed `<file>.1` (older ones shift up to
/// `<file>.<keep>`, the oldest deleted) and a new one is started, so it never fills the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AuditRotation {
    /// Size after which the file is rotated (`api.audit_log_max_size`).
    pub max_bytes: u64,
    /// Rotated files kept (`api.audit_log_keep`).
    pub keep: usize,
}

/// Bounds on what clients may hold of the API server, so a slow or hostile client never keeps
/// operators (or the peers' vote fetches) out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ApiLimits {
    /// A connection that has not sent a whole request head within this (idle keep-alive
    /// included) is closed.
    pub header_timeout: Duration,
    /// A request not answered within this gets 408 (bodies that trickle in included).
    pub request_timeout: Duration,
    /// Open connections beyond this are closed as soon as they are accepted.
    pub max_connections: usize,
    /// Requests handled at once beyond this get 503 at once.
    pub max_in_flight: usize,
    /// Largest request body, bytes; a larger one is refused (413) before it is read.
    pub max_body: usize,
}

/// Where transitions go: PagerDuty and chat webhooks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notify {
    /// Notifications queued per sink before the oldest is dropped.
    pub queue_capacity: std::num::NonZeroUsize,
    /// PagerDuty Events API v2.
    pub pagerduty: Option<PagerDutyConfig>,
    /// JSON webhooks.
    pub webhooks: Vec<WebhookConfig>,
}

/// PagerDuty Events API v2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PagerDutyConfig {
    /// The integration's routing key.
    pub routing_key: SecretRef,
    /// Events API URL (default: PagerDuty's public endpoint).
    pub events_url: String,
    /// Link shown in the incident.
    pub client_url: Option<String>,
}

/// A JSON webhook, optionally HMAC-signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookConfig {
    /// Name, for logs.
    pub name: String,
    /// URL (may hold a token: never logged).
    #[serde(skip)]
    pub url: String,
    /// HMAC-SHA256 key for `X-Natsdr-Signature`.
    pub secret: Option<SecretRef>,
}

/// Other vantage points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Peers {
    /// Other watchdogs' base URLs.
    pub watchdogs: Vec<String>,
    /// The witness's base URL.
    pub witness: Option<String>,
    /// Token sent to peers.
    pub token: Option<SecretRef>,
    /// TLS towards the peers.
    pub tls: PeerTls,
}

/// The DNS provider holding the arbiter and the client-facing record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DnsProvider {
    /// RFC 2136 dynamic updates, TSIG-signed, over TCP.
    Rfc2136(Rfc2136Server),
    /// Route 53's API (control plane): each claim and swap is one ChangeResourceRecordSets
    /// batch, an exact DELETE + CREATE compare-and-swap. The API lives in us-east-1.
    Route53(Route53Settings),
    /// Route 53's data plane: pre-created PRIMARY/SECONDARY failover records whose health
    /// checks read `GET /v1/dns-health/<region>`; natsdr moves traffic with no API call. The
    /// arbiter (the epoch's compare-and-swap) stays on an RFC 2136 server outside us-east-1.
    Route53Health {
        /// The arbiter's RFC 2136 server; its timeout also bounds each name server's answer.
        #[serde(flatten)]
        arbiter: Rfc2136Server,
        /// The zone on that server holding `dns.owner_record`.
        arbiter_zone: String,
        /// Route 53's authoritative servers for the client record (data plane: no API call).
        name_servers: Vec<SocketAddr>,
    },
}

/// An RFC 2136 server and the TSIG key natsdr signs its updates with (`[dns.rfc2136]`): the
/// whole provider, or only the arbiter in Route 53's data-plane mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rfc2136Server {
    /// The primary server.
    pub server: SocketAddr,
    /// TSIG key name.
    pub key_name: String,
    /// TSIG algorithm (hmac-sha256, hmac-sha384, hmac-sha512).
    pub key_algorithm: String,
    /// TSIG secret (base64).
    pub key_secret: SecretRef,
    /// Per request.
    pub timeout: Duration,
}

/// The Route 53 control-plane settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route53Settings {
    /// The hosted zone holding both records.
    pub hosted_zone_id: String,
    /// The API's signing region (Route 53 is global; its API is us-east-1).
    pub region: String,
    /// Another endpoint (a local emulator in tests).
    pub endpoint_url: Option<String>,
    /// The client record's SetIdentifier (weighted or failover records).
    pub set_identifier: Option<String>,
    /// Per API call.
    pub timeout: Duration,
    /// How long a write retries `Throttling` and `PriorRequestNotComplete`.
    pub retry_deadline: Duration,
    /// The authoritative servers to verify against; empty: the zone's delegation set.
    pub name_servers: Vec<SocketAddr>,
}

/// DNS: the arbiter and the client-facing record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dns {
    /// Provider.
    pub provider: DnsProvider,
    /// Zone (fully qualified).
    pub zone: String,
    /// The record clients resolve (fully qualified).
    pub client_record: String,
    /// The ownership TXT record (fully qualified).
    pub owner_record: String,
    /// TTL of both records.
    pub ttl: Duration,
}

/// Consumer continuity: which durable consumers the standby's watchdog tracks on the primary,
/// and how often, so a promotion recreates them where their applications left off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Consumers {
    /// How often the primary's consumers are read. A failover redelivers at most what was
    /// acknowledged during one interval (plus what was delivered and not yet acknowledged).
    pub sync_interval: Duration,
    /// Consumer names tracked (`*` matches any run of characters).
    pub include: Vec<crate::consumers::NamePattern>,
    /// Consumer names never tracked, even when included.
    pub exclude: Vec<crate::consumers::NamePattern>,
}

impl Consumers {
    /// Whether the consumer `name` is tracked.
    pub fn admits(&self, name: &str) -> bool {
        self.include.iter().any(|p| p.matches(name))
            && !self.exclude.iter().any(|p| p.matches(name))
    }
}

/// Where backup sets are written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupTarget {
    /// An S3 bucket (or an S3-compatible store at `endpoint_url`), with the standard AWS
    /// credential chain.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix, without leading or trailing slash (may be empty).
        prefix: String,
        /// Another endpoint than AWS's (an S3-compatible store).
        endpoint_url: Option<String>,
        /// Path-style addressing (`endpoint/bucket/key`), which most S3-compatible stores need.
        path_style: bool,
        /// The signing region.
        aws_region: String,
    },
    /// A local or mounted directory (absolute).
    Dir(PathBuf),
}

/// Which copy of a mirrored stream is snapshotted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupFrom {
    /// The standby's mirror, so the primary carries no backup load; unmirrored streams from
    /// their own region.
    Standby,
    /// Every stream from the region that takes its writes.
    Own,
}

/// One stream (or KV bucket's stream) in every backup set: which copy is snapshotted, and what
/// a restore makes of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupItem {
    /// The stream as configured (for a KV bucket: `KV_<bucket>`).
    pub stream: StreamName,
    /// The region that takes its writes.
    pub region: Region,
    /// The stream snapshotted: the stream itself, or its mirror in the standby.
    pub snapshot_stream: StreamName,
    /// The region of `snapshot_stream`.
    pub snapshot_region: Region,
    /// The subjects a restored copy listens on (a mirror's are its source's).
    pub subjects: Vec<String>,
    /// GDPR-only: its backups never leave its region.
    pub gdpr: bool,
}

/// Backups: what, where, how often, how many kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Backup {
    /// Where sets are written.
    pub target: BackupTarget,
    /// The region the target lives in (GDPR-only streams may only go to their own).
    pub target_region: Region,
    /// How often the watchdog (or a CronJob) takes a set; "no success within 1.5 intervals"
    /// is the alert.
    pub schedule: Duration,
    /// Sets kept; older ones are deleted after a successful run.
    pub keep: std::num::NonZeroU32,
    /// Which copy of mirrored streams is read.
    pub from: BackupFrom,
    /// The streams in every set.
    pub items: Vec<BackupItem>,
}
