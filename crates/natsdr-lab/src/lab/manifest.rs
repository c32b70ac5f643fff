//! `DIR/lab.json`: the machine-readable description of a running lab (every URL, port,
//! credential, pid and path), shared by `natsdr-lab lab`, the tests, the demo and netd.
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::json_file::{self, JsonFileError};
use super::names::{LabRegion, NetPath, Site};
use super::source::LabSource;

/// The file name of the manifest inside the lab directory.
pub const MANIFEST_FILE: &str = "lab.json";
/// What the manifest is called when it cannot be read.
const WHAT: &str = "lab manifest";

/// Everything about one lab. Pids are updated on every restart, so the file always names the
/// processes that `down` and the reaper must kill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabManifest {
    /// The lab directory (absolute): configs, stores, logs, secrets and this file.
    pub dir: PathBuf,
    /// When set, netd kills the whole lab as soon as this process is gone.
    pub owner_pid: Option<u32>,
    /// The nats-server binary every node runs.
    pub nats_server: PathBuf,
    /// The system account's user (`$SYS` probes). Never crosses the leafnode.
    pub system: Credentials,
    /// The application account's user (JetStream, streams, mirrors). The only account on the leafnode.
    pub app: Credentials,
    /// The port both regions' client entry points listen on (on their own loopback addresses).
    pub client_port: u16,
    /// The two regions, US first.
    pub regions: Vec<RegionInfo>,
    /// The fault-injecting proxy daemon.
    pub netd: ProcessInfo,
    /// Every proxied listener and where it forwards.
    pub routes: Vec<Route>,
    /// One entry per watchdog site: its API address and config file.
    pub watchdogs: Vec<WatchdogInfo>,
    /// The lab's authoritative DNS server, when BIND runs.
    pub dns: Option<DnsInfo>,
    /// The operator config: direct URLs, for `natsdr plan|apply|status --config`.
    pub natsdr_config: PathBuf,
    /// Generated US streams (`bench-0001`...), each mirrored in EU, that the configs carry on top
    /// of the example topology (see [`crate::lab::Lab::carry_streams`]); 0 for a plain lab.
    #[serde(default)]
    pub generated_streams: usize,
    /// The certificates of a lab whose watchdogs talk HTTPS with mutual TLS; `None`: plain HTTP.
    #[serde(default)]
    pub tls: Option<LabTls>,
    /// The operator's config file the lab's regions and topology come from; `None`: the
    /// two-region reference topology (us-east-1, eu-central-1).
    #[serde(default)]
    pub source: Option<LabSource>,
}

/// A TLS lab's PEM files: one CA, a certificate per watchdog (its API's, and the one it
/// presents to its peers), and one for the operator (the test harness's client).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabTls {
    /// The CA every certificate chains to, trusted by every watchdog and the operator.
    pub ca: PathBuf,
    /// Per site, its certificate and key.
    pub sites: BTreeMap<Site, CertFiles>,
    /// The operator's client certificate and key.
    pub operator: CertFiles,
}

/// A certificate and its key, PEM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertFiles {
    /// The certificate.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

impl LabManifest {
    /// `https` for a TLS lab, else `http`: the scheme of every watchdog API URL.
    pub fn api_scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// The name the configs and the watchdogs give the lab region `r` (`us-east-1`, or the
    /// source file's region, e.g. `blue`).
    pub fn region_name(&self, r: LabRegion) -> &str {
        self.regions
            .iter()
            .find(|i| i.region == r)
            .map_or_else(|| r.name(), |i| i.name.as_str())
    }
}

/// A user and its password; the password is also in `password_file`, which configs reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// The NATS user.
    pub user: String,
    /// The password, in clear: this is a throw-away lab.
    pub password: String,
    /// A file holding exactly the password (no newline).
    pub password_file: PathBuf,
}

/// One region: its nodes and its client entry point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionInfo {
    /// Which of the lab's two regions: `Us` holds the home primary, `Eu` the home standby.
    pub region: LabRegion,
    /// The region's name in the configs (and its NATS cluster name): `us-east-1`, or the source
    /// file's (e.g. `blue`).
    pub name: String,
    /// The JetStream domain.
    pub domain: String,
    /// The entry point's address: what the client-facing DNS record holds while this region is active.
    pub entry_ip: Ipv4Addr,
    /// `nats://<entry_ip>:<client_port>`, proxied to any live node of the region.
    pub entry_url: String,
    /// The nodes (three, or the source file's cluster size when smaller).
    pub nodes: Vec<NodeInfo>,
}

/// One nats-server process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// `server_name`, e.g. `us-east-1-0`.
    pub name: String,
    /// Client port on 127.0.0.1.
    pub client_port: u16,
    /// `nats://127.0.0.1:<client_port>`: direct, never cut.
    pub client_url: String,
    /// Cluster (route) port.
    pub cluster_port: u16,
    /// Leafnode listen port (US nodes only; EU nodes dial out through the `leaf` path).
    pub leaf_port: Option<u16>,
    /// HTTP monitoring port.
    pub http_port: u16,
    /// `http://127.0.0.1:<http_port>`.
    pub monitor_url: String,
    /// The server's config file; a restart reuses it.
    pub config: PathBuf,
    /// The JetStream store; a restart reuses it.
    pub store_dir: PathBuf,
    /// Where stdout and stderr go.
    pub log: PathBuf,
    /// The running process, if any.
    pub pid: Option<u32>,
}

/// A process started by the lab that is not a NATS node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// The running process, if any.
    pub pid: Option<u32>,
    /// Where stdout and stderr go.
    pub log: PathBuf,
}

/// One proxied listener: connections accepted on `listen` are forwarded to the first upstream
/// that accepts, and obey the faults set on `path`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Unique name, e.g. `wd:us->eu-central-1#2` (path, then the node it reaches).
    pub name: String,
    /// The path whose faults apply.
    pub path: NetPath,
    /// Where netd listens.
    pub listen: SocketAddr,
    /// Tried in order for every new connection.
    pub upstreams: Vec<SocketAddr>,
}

/// One watchdog site's place in the lab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchdogInfo {
    /// Which site.
    pub site: Site,
    /// The watchdog id in its config.
    pub id: String,
    /// Where its HTTP API must listen (reserved now, free until a watchdog runs).
    pub api_listen: SocketAddr,
    /// Its config file (`natsdr-<site>.toml`).
    pub config: PathBuf,
    /// Per region, the three node URLs it probes, through its `wd:` paths.
    pub region_urls: BTreeMap<LabRegion, Vec<String>>,
    /// Per other site, that watchdog's API base URL through the `peer:` path.
    pub peer_urls: BTreeMap<Site, String>,
}

/// The lab's authoritative DNS server (BIND) and what it serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsInfo {
    /// `127.0.0.1:<port>`, UDP and TCP.
    pub server: SocketAddr,
    /// The zone, with the trailing dot.
    pub zone: String,
    /// The client-facing A record.
    pub client_record: String,
    /// The TXT ownership record (the arbiter).
    pub owner_record: String,
    /// TSIG key name.
    pub key_name: String,
    /// TSIG algorithm, e.g. `hmac-sha256`.
    pub key_algorithm: String,
    /// File holding the base64 TSIG secret.
    pub key_secret_file: PathBuf,
    /// The BIND process.
    pub process: ProcessInfo,
}

impl LabManifest {
    /// The manifest path of the lab in `dir`.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(MANIFEST_FILE)
    }

    /// Reads `DIR/lab.json`.
    pub fn load(dir: &Path) -> Result<Self, JsonFileError> {
        json_file::read(Self::path(dir), WHAT)
    }

    /// Writes `DIR/lab.json` atomically.
    pub fn save(&self) -> Result<(), JsonFileError> {
        json_file::write(Self::path(&self.dir), WHAT, self)
    }

    /// The region's description.
    pub fn region(&self, region: LabRegion) -> &RegionInfo {
        self.regions
            .iter()
            .find(|r| r.region == region)
            .expect("a manifest always holds both regions")
    }

    /// The `i`-th node of `region`, if there is one.
    pub fn node(&self, region: LabRegion, i: usize) -> Option<&NodeInfo> {
        self.region(region).nodes.get(i)
    }

    /// The watchdog at `site`.
    pub fn watchdog(&self, site: Site) -> &WatchdogInfo {
        self.watchdogs
            .iter()
            .find(|w| w.site == site)
            .expect("a manifest always holds every site")
    }

    /// The proxied listeners of `path`.
    pub fn routes_of(&self, path: NetPath) -> impl Iterator<Item = &Route> {
        self.routes.iter().filter(move |r| r.path == path)
    }

    /// Every TCP port the lab uses or has promised (nodes, proxies, watchdog APIs).
    pub fn ports(&self) -> Vec<u16> {
        let nodes = self.regions.iter().flat_map(|r| &r.nodes).flat_map(|n| {
            [
                Some(n.client_port),
                Some(n.cluster_port),
                n.leaf_port,
                Some(n.http_port),
            ]
            .into_iter()
            .flatten()
        });
        let routes = self.routes.iter().map(|r| r.listen.port());
        let apis = self.watchdogs.iter().map(|w| w.api_listen.port());
        nodes
            .chain(routes)
            .chain(apis)
            .chain([self.client_port])
            .collect()
    }

    /// Every recorded pid with a readable name: nodes, netd and BIND.
    pub fn pids(&self) -> Vec<(String, u32)> {
        let nodes = self
            .regions
            .iter()
            .flat_map(|r| &r.nodes)
            .filter_map(|n| Some((n.name.clone(), n.pid?)));
        let netd = self.netd.pid.map(|p| ("netd".to_owned(), p));
        let dns = self
            .dns
            .as_ref()
            .and_then(|d| d.process.pid)
            .map(|p| ("named".to_owned(), p));
        nodes.chain(netd).chain(dns).collect()
    }
}
