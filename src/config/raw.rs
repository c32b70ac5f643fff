//! The config as written: serde structs that mirror the TOML, with defaults, before any rule is
//! checked. `Config::try_from` turns this into typed values.
use serde::{Deserialize, Serialize};

use super::units::Quantity;

/// The whole file, after environment overrides are merged in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Who this process is.
    pub watchdog: RawWatchdog,
    /// Probe and failover timing.
    #[serde(default)]
    pub timing: RawTiming,
    /// The data-loss guard.
    #[serde(default)]
    pub rpo: RawRpo,
    /// The HTTP API.
    #[serde(default)]
    pub api: RawApi,
    /// Other watchdogs and the witness.
    #[serde(default)]
    pub peers: RawPeers,
    /// The arbiter and the client-facing record.
    pub dns: Option<RawDns>,
    /// Exactly two regions.
    #[serde(default)]
    pub regions: Vec<RawRegion>,
    /// Streams natsdr manages (sources, and region-local GDPR streams).
    #[serde(default)]
    pub streams: Vec<RawStream>,
    /// Mirrors of streams in the other region.
    #[serde(default)]
    pub mirrors: Vec<RawMirror>,
    /// KV buckets, optionally mirrored into the other region.
    #[serde(default)]
    pub kv: Vec<RawKv>,
    /// Where transitions are paged and posted.
    #[serde(default)]
    pub notify: RawNotify,
    /// What a failback does with the old primary's divergent tail, and how long it waits.
    #[serde(default)]
    pub failback: RawFailback,
    /// Which durable consumers follow their streams across a move, and how often they are read.
    #[serde(default)]
    pub consumers: RawConsumers,
    /// Verified backups of the managed streams and KV buckets.
    pub backup: Option<RawBackup>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawFailback {
    pub tail: String,
    pub reseed_timeout: Quantity,
}

impl Default for RawFailback {
    fn default() -> Self {
        Self {
            tail: "republish".into(),
            reseed_timeout: "30m".into(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawNotify {
    pub queue_capacity: Option<usize>,
    pub pagerduty: Option<RawPagerDuty>,
    pub webhooks: Vec<RawWebhook>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPagerDuty {
    pub routing_key: Option<String>,
    pub routing_key_file: Option<String>,
    pub routing_key_env: Option<String>,
    pub events_url: Option<String>,
    pub client_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    pub name: String,
    pub url: String,
    pub secret: Option<String>,
    pub secret_file: Option<String>,
    pub secret_env: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWatchdog {
    pub id: String,
    pub region: String,
    #[serde(default = "default_role")]
    pub role: String,
    #[serde(default = "yes")]
    pub auto_failover: bool,
    #[serde(default = "yes")]
    pub auto_unfence: bool,
    #[serde(default = "default_two_site")]
    pub two_site: String,
    pub snapshot_dir: Option<String>,
}

fn default_role() -> String {
    "watchdog".into()
}
fn default_two_site() -> String {
    "manual".into()
}
fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTiming {
    pub probe_interval: Quantity,
    pub probe_timeout: Quantity,
    pub failover_delay: Quantity,
    pub self_fence_lease: Quantity,
    /// Default: one probe interval.
    pub self_unfence_after: Option<Quantity>,
    pub mirror_silence: Quantity,
    pub peer_stale_after: Quantity,
    pub step_timeout: Quantity,
    pub tilt_duration: Quantity,
    pub flap_window: Quantity,
    pub flap_max: u32,
    pub depth_every: u32,
    pub cross_region_rtt: Quantity,
}

impl Default for RawTiming {
    fn default() -> Self {
        Self {
            probe_interval: "500ms".into(),
            probe_timeout: "400ms".into(),
            failover_delay: "4500ms".into(),
            self_fence_lease: "2500ms".into(),
            self_unfence_after: None,
            mirror_silence: "3s".into(),
            peer_stale_after: "3s".into(),
            step_timeout: "5s".into(),
            tilt_duration: "10s".into(),
            flap_window: "1h".into(),
            flap_max: 3,
            depth_every: 4,
            cross_region_rtt: "100ms".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRpo {
    pub max_lag_messages: u64,
    pub max_lag_seconds: Quantity,
}

impl Default for RawRpo {
    fn default() -> Self {
        Self {
            max_lag_messages: 10_000,
            max_lag_seconds: "10s".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawApi {
    pub listen: String,
    pub token: Option<String>,
    pub token_file: Option<String>,
    pub token_env: Option<String>,
    pub read_requires_token: bool,
    pub audit_log: Option<String>,
    pub audit_log_max_size: Quantity,
    pub audit_log_keep: usize,
    pub header_timeout: Quantity,
    pub request_timeout: Quantity,
    pub max_connections: usize,
    pub max_in_flight: usize,
    pub max_body: Quantity,
    pub tls: Option<RawApiTls>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApiTls {
    pub cert_file: String,
    pub key_file: String,
    pub client_ca_file: Option<String>,
    pub client_auth: Option<String>,
}

impl Default for RawApi {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:8080".into(),
            token: None,
            token_file: None,
            token_env: None,
            read_requires_token: false,
            audit_log: None,
            audit_log_max_size: "64MiB".into(),
            audit_log_keep: 5,
            header_timeout: "10s".into(),
            request_timeout: "30s".into(),
            max_connections: 1024,
            max_in_flight: 64,
            max_body: "64KiB".into(),
            tls: None,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawPeers {
    pub watchdogs: Vec<String>,
    pub witness: Option<String>,
    pub ca_file: Option<String>,
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub allow_plain_http: bool,
    pub token: Option<String>,
    pub token_file: Option<String>,
    pub token_env: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDns {
    pub provider: String,
    pub zone: String,
    pub client_record: String,
    pub owner_record: String,
    #[serde(default = "default_ttl")]
    pub ttl: Quantity,
    pub rfc2136: Option<RawRfc2136>,
    pub route53: Option<RawRoute53>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute53 {
    pub hosted_zone_id: Option<String>,
    #[serde(default = "default_aws_region")]
    pub region: String,
    pub endpoint_url: Option<String>,
    pub set_identifier: Option<String>,
    #[serde(default = "default_dns_timeout")]
    pub timeout: Quantity,
    #[serde(default = "default_retry_deadline")]
    pub retry_deadline: Quantity,
    #[serde(default)]
    pub name_servers: Vec<String>,
}

fn default_aws_region() -> String {
    "us-east-1".into()
}
fn default_retry_deadline() -> Quantity {
    "4s".into()
}

fn default_ttl() -> Quantity {
    "30s".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRfc2136 {
    pub server: String,
    pub zone: Option<String>,
    pub key_name: String,
    #[serde(default = "default_algorithm")]
    pub key_algorithm: String,
    pub key_secret: Option<String>,
    pub key_secret_file: Option<String>,
    pub key_secret_env: Option<String>,
    #[serde(default = "default_dns_timeout")]
    pub timeout: Quantity,
}

fn default_algorithm() -> String {
    "hmac-sha256".into()
}
fn default_dns_timeout() -> Quantity {
    "2s".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRegion {
    pub name: String,
    pub home: String,
    pub domain: String,
    #[serde(default = "three")]
    pub cluster_size: u8,
    pub client_urls: Vec<String>,
    pub entry_point: String,
    #[serde(default)]
    pub system: RawAuth,
    #[serde(default)]
    pub app: RawAuth,
    pub tls: Option<RawTls>,
}

fn three() -> u8 {
    3
}

/// One of: user + password, token, creds file, nkey seed; or nothing.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    pub user: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<String>,
    pub password_env: Option<String>,
    pub token: Option<String>,
    pub token_file: Option<String>,
    pub token_env: Option<String>,
    pub creds_file: Option<String>,
    pub nkey_seed_file: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub ca_file: Option<String>,
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStream {
    pub name: String,
    pub region: String,
    #[serde(default)]
    pub gdpr: bool,
    pub subjects: Vec<String>,
    #[serde(default = "default_retention")]
    pub retention: String,
    #[serde(default = "default_storage")]
    pub storage: String,
    #[serde(default = "default_discard")]
    pub discard: String,
    pub max_age: Option<Quantity>,
    pub max_bytes: Option<Quantity>,
    pub max_msgs: Option<u64>,
    pub max_msgs_per_subject: Option<u64>,
    pub max_msg_size: Option<Quantity>,
    #[serde(default = "three")]
    pub replicas: u8,
    pub duplicate_window: Option<Quantity>,
}

fn default_retention() -> String {
    "limits".into()
}
fn default_storage() -> String {
    "file".into()
}
fn default_discard() -> String {
    "old".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMirror {
    pub name: String,
    pub region: String,
    pub source: String,
    pub replicas: Option<u8>,
    pub max_age: Option<Quantity>,
    pub max_bytes: Option<Quantity>,
    pub max_msgs: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKv {
    pub bucket: String,
    pub region: String,
    pub mirror_region: Option<String>,
    #[serde(default = "one")]
    pub history: u8,
    pub ttl: Option<Quantity>,
    #[serde(default = "three")]
    pub replicas: u8,
    pub max_value_size: Option<Quantity>,
    pub max_bytes: Option<Quantity>,
    #[serde(default = "default_storage")]
    pub storage: String,
}

fn one() -> u8 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConsumers {
    pub sync_interval: Quantity,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

impl Default for RawConsumers {
    fn default() -> Self {
        Self {
            sync_interval: "1s".into(),
            include: vec!["*".into()],
            exclude: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBackup {
    pub target: String,
    pub region: String,
    #[serde(default = "default_backup_schedule")]
    pub schedule: Quantity,
    pub include: Option<Vec<String>>,
    #[serde(default = "default_backup_keep")]
    pub keep: u32,
    #[serde(default = "default_backup_from")]
    pub from: String,
    pub endpoint_url: Option<String>,
    #[serde(default)]
    pub path_style: bool,
    pub aws_region: Option<String>,
}

fn default_backup_schedule() -> Quantity {
    "6h".into()
}
fn default_backup_keep() -> u32 {
    7
}
fn default_backup_from() -> String {
    "standby".into()
}
