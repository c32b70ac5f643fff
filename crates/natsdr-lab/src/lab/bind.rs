//! A real BIND `named` serving one dynamic zone, for tests and the local lab.
use std::fs;
use std::io::{self, Read as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use natsdr::config::Secret;
use natsdr::dns::{KeyAlgorithm, Rfc2136Config};

/// How long `named` may take to load the zone and answer.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How long `named` may take to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Why the lab's BIND could not be started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// `named` is not installed (set `NATSDR_NAMED` or put it on `PATH`; Debian: `bind9`).
    #[error("cannot find `named` ({0}); install bind9 or set NATSDR_NAMED to its path")]
    NamedNotFound(String),
    /// Writing the configuration, zone or key failed.
    #[error("cannot write {path}")]
    Write {
        /// The file we tried to write.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// No randomness for the TSIG secret.
    #[error("cannot read /dev/urandom for the TSIG secret")]
    Random(#[source] io::Error),
    /// No free local port could be found.
    #[error("cannot find a free port on 127.0.0.1")]
    NoPort(#[source] io::Error),
    /// `named` could not be started.
    #[error("cannot run {named}")]
    Spawn {
        /// The binary we ran.
        named: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// `named` exited or never answered; the log tail says why.
    #[error("named did not come up on {addr}: {log_tail}")]
    NotReady {
        /// Where it should have listened.
        addr: SocketAddr,
        /// The last lines of its log.
        log_tail: String,
    },
    /// Signalling the process failed (other than because it is already gone).
    #[error("cannot signal named (pid {pid})")]
    Signal {
        /// The process id.
        pid: u32,
        /// The underlying error.
        #[source]
        source: nix::Error,
    },
}

/// The zone the lab's BIND serves: one client-facing address record and the arbiter's TXT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneSpec {
    /// The zone's apex, e.g. `dr.test` (no trailing dot).
    pub zone: String,
    /// The TSIG key name allowed to update the zone.
    pub key_name: String,
    /// Label of the client-facing record inside the zone, e.g. `nats`.
    pub client_label: String,
    /// Its initial address (A or AAAA by family).
    pub client_addr: IpAddr,
    /// Label of the ownership TXT record, e.g. `_natsdr-owner`.
    pub owner_label: String,
    /// Its initial text, e.g. `region=us-east-1 epoch=1`; `None` leaves it out.
    pub owner_txt: Option<String>,
    /// TTL of every record, in seconds (small, so lab clients follow a cutover quickly).
    pub ttl_secs: u32,
}

impl Default for ZoneSpec {
    /// `dr.test` with `nats A 127.1.0.1` and `_natsdr-owner TXT "region=us-east-1 epoch=1"`.
    fn default() -> Self {
        Self {
            zone: "dr.test".into(),
            key_name: "dr-key".into(),
            client_label: "nats".into(),
            client_addr: IpAddr::V4(Ipv4Addr::new(127, 1, 0, 1)),
            owner_label: "_natsdr-owner".into(),
            owner_txt: Some("region=us-east-1 epoch=1".into()),
            ttl_secs: 1,
        }
    }
}

impl ZoneSpec {
    /// Fully qualified name of the client record (no trailing dot).
    pub fn client_name(&self) -> String {
        format!("{}.{}", self.client_label, self.zone)
    }

    /// Fully qualified name of the ownership record (no trailing dot).
    pub fn owner_name(&self) -> String {
        format!("{}.{}", self.owner_label, self.zone)
    }
}

/// Where a running lab BIND listens and how to update it. Serialisable so a lab that outlives
/// the command can record it and stop it later by pid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindInfo {
    /// Process id of `named`.
    pub pid: u32,
    /// Address it answers on, TCP and UDP.
    pub addr: SocketAddr,
    /// The zone it serves and how.
    pub spec: ZoneSpec,
    /// The TSIG secret (base64), hmac-sha256.
    pub key_secret: String,
    /// Its working directory (configuration, zone, journal, log).
    pub dir: PathBuf,
}

impl BindInfo {
    /// An RFC 2136 configuration that updates this server's zone.
    pub fn rfc2136_config(&self, timeout: Duration) -> Rfc2136Config {
        Rfc2136Config {
            server: self.addr,
            zone: self.spec.zone.clone(),
            key_name: self.spec.key_name.clone(),
            key_secret: Secret::new(self.key_secret.clone()),
            algorithm: KeyAlgorithm::HmacSha256,
            owner_record_name: self.spec.owner_name(),
            client_record_name: self.spec.client_name(),
            ttl: Duration::from_secs(u64::from(self.spec.ttl_secs)),
            timeout,
        }
    }

    /// Stops a detached `named` by pid: SIGTERM, then SIGKILL after a grace period. Already
    /// gone is fine. NB: a pid can be reused after the process exits; the lab should only pass
    /// pids it recorded itself, recently.
    pub fn stop(&self) -> Result<(), BindError> {
        stop_pid(self.pid)
    }
}

/// A `named` child process that is killed when this value is dropped, so no server outlives a
/// test, even one that panics.
#[derive(Debug)]
pub struct BindServer {
    child: Option<Child>,
    info: BindInfo,
}

impl BindServer {
    /// Writes a configuration for `spec` into `dir` (which must exist), starts `named` on a
    /// free 127.0.0.1 port and waits until it answers on TCP and has loaded the zone.
    pub fn start(dir: &Path, spec: &ZoneSpec) -> Result<Self, BindError> {
        Self::launch_with_retries(dir, spec, false)
    }

    /// Starts `named` like [`BindServer::start`], but in its own process group (so a
    /// terminal's Ctrl-C aimed at the lab command does not reach it), and lets it run on after
    /// this process exits. Stop it with [`BindInfo::stop`].
    pub fn spawn(dir: &Path, spec: &ZoneSpec) -> Result<BindInfo, BindError> {
        let mut server = Self::launch_with_retries(dir, spec, true)?;
        // NB: dropping a `Child` neither kills nor waits for it; once we exit, init reaps it.
        server.child = None;
        Ok(server.info.clone())
    }

    fn launch_with_retries(dir: &Path, spec: &ZoneSpec, detached: bool) -> Result<Self, BindError> {
        let named = find_named()?;
        let secret = generate_secret()?;
        // NB: the free port is only probed, so another process may take it before named binds
        // it; a few attempts make that race harmless.
        let mut last_error = None;
        for _ in 0..3 {
            let port = free_port()?;
            let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
            write_config(dir, spec, &secret, port)?;
            match launch(&named, dir, &spec.zone, addr, detached) {
                Ok(child) => {
                    let info = BindInfo {
                        pid: child.id(),
                        addr,
                        spec: spec.clone(),
                        key_secret: secret,
                        dir: dir.to_owned(),
                    };
                    return Ok(Self {
                        child: Some(child),
                        info,
                    });
                }
                Err(e @ BindError::NotReady { .. }) if port_was_taken(dir) => {
                    last_error = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_error.expect("three attempts were made"))
    }

    /// Where it listens, TCP and UDP.
    pub fn addr(&self) -> SocketAddr {
        self.info.addr
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.info.pid
    }

    /// The zone it serves.
    pub fn zone(&self) -> &str {
        &self.info.spec.zone
    }

    /// The TSIG key's name.
    pub fn key_name(&self) -> &str {
        &self.info.spec.key_name
    }

    /// The TSIG key's secret (base64, hmac-sha256).
    pub fn key_secret(&self) -> &str {
        &self.info.key_secret
    }

    /// Everything about it, e.g. to build an [`Rfc2136Config`].
    pub fn info(&self) -> &BindInfo {
        &self.info
    }

    /// Stops it now (SIGTERM, then SIGKILL after a grace period) and waits for it to exit, so
    /// tests can see what clients do when the server is gone.
    pub fn stop(&mut self) -> Result<(), BindError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let result = stop_pid(child.id());
        // Reap it so no zombie is left behind.
        let _ = child.wait();
        result
    }
}

impl Drop for BindServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // NB: in Drop nobody can act on an error; SIGKILL cannot fail on our own child.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `NATSDR_NAMED`, else `named` on `PATH`, else the Debian location `/usr/sbin/named`
/// (often not on a non-root user's `PATH`).
fn find_named() -> Result<PathBuf, BindError> {
    if let Some(path) = std::env::var_os("NATSDR_NAMED") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(BindError::NamedNotFound(format!(
                "NATSDR_NAMED={} does not exist",
                path.display()
            )))
        };
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("named"))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| BindError::NamedNotFound("not on PATH nor in /usr/sbin".into()))
}

/// 32 random bytes from the kernel, base64, as `tsig-keygen -a hmac-sha256` makes.
fn generate_secret() -> Result<String, BindError> {
    let mut bytes = [0u8; 32];
    fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .map_err(BindError::Random)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// A port that is free for both TCP and UDP on 127.0.0.1 right now.
fn free_port() -> Result<u16, BindError> {
    for _ in 0..20 {
        let tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(BindError::NoPort)?;
        let port = tcp.local_addr().map_err(BindError::NoPort)?.port();
        if UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(port);
        }
    }
    Err(BindError::NoPort(io::Error::new(
        io::ErrorKind::AddrInUse,
        "no port free for TCP and UDP",
    )))
}

fn write_file(path: PathBuf, contents: &str) -> Result<(), BindError> {
    fs::write(&path, contents).map_err(|source| BindError::Write { path, source })
}

fn write_config(dir: &Path, spec: &ZoneSpec, secret: &str, port: u16) -> Result<(), BindError> {
    let d = dir.display();
    let zone = &spec.zone;
    let key = &spec.key_name;
    // NB: every path named would default to /var or /run lives in `dir`, so named runs as any
    // user; without `-u` it also keeps running as root instead of switching to user `bind`.
    let conf = format!(
        r#"key "{key}" {{ algorithm hmac-sha256; secret "{secret}"; }};
options {{
    directory "{d}";
    pid-file "{d}/named.pid";
    session-keyfile "{d}/session.key";
    managed-keys-directory "{d}";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    notify no;
}};
controls {{ }};
zone "{zone}" {{
    type primary;
    file "{d}/{zone}.zone";
    allow-update {{ key "{key}"; }};
}};
"#
    );
    let ttl = spec.ttl_secs;
    let client_type = if spec.client_addr.is_ipv4() {
        "A"
    } else {
        "AAAA"
    };
    let mut zone_text = format!(
        "$TTL {ttl}\n\
         @ IN SOA ns.{zone}. hostmaster.{zone}. 1 60 60 600 {ttl}\n\
         @ IN NS ns.{zone}.\n\
         ns IN A 127.0.0.1\n\
         {} IN {client_type} {}\n",
        spec.client_label, spec.client_addr
    );
    if let Some(txt) = &spec.owner_txt {
        zone_text.push_str(&format!("{} IN TXT \"{txt}\"\n", spec.owner_label));
    }
    // A journal from an earlier run would replay stale updates over the fresh zone file.
    let _ = fs::remove_file(dir.join(format!("{zone}.zone.jnl")));
    write_file(dir.join(format!("{zone}.zone")), &zone_text)?;
    write_file(dir.join("named.conf"), &conf)
}

/// Runs `named -g` with its log in `dir/named.log` and waits until it has loaded `zone` and
/// accepts TCP connections.
/// Attached (not `detached`), it stays in our process group, so a Ctrl-C that kills a test
/// run without unwinding (and so without `Drop`) kills it too.
fn launch(
    named: &Path,
    dir: &Path,
    zone: &str,
    addr: SocketAddr,
    detached: bool,
) -> Result<Child, BindError> {
    let log_path = dir.join("named.log");
    let log = fs::File::create(&log_path).map_err(|source| BindError::Write {
        path: log_path.clone(),
        source,
    })?;
    let log_err = log.try_clone().map_err(|source| BindError::Write {
        path: log_path.clone(),
        source,
    })?;
    let mut command = Command::new(named);
    if detached {
        command.process_group(0);
    }
    let mut child = command
        .arg("-g")
        .arg("-c")
        .arg(dir.join("named.conf"))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(|source| BindError::Spawn {
            named: named.to_owned(),
            source,
        })?;
    // NB: a zone with errors is skipped, not fatal, so wait for this zone's own line.
    let loaded_line = format!("zone {zone}/IN: loaded serial");
    let deadline = std::time::Instant::now() + START_TIMEOUT;
    let not_ready = |child: &mut Child| {
        let _ = child.kill();
        let _ = child.wait();
        let log = fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(8).collect();
        BindError::NotReady {
            addr,
            log_tail: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        }
    };
    loop {
        if matches!(child.try_wait(), Ok(Some(_)) | Err(_)) {
            return Err(not_ready(&mut child));
        }
        let log = fs::read_to_string(&log_path).unwrap_or_default();
        // A line ending in `running` ends start-up (an earlier `running as: named ...` does
        // not): without our zone's line by then, it will never load.
        let started = log.lines().any(|line| line.ends_with(" running"));
        // NB: a named that keeps running without its socket leaves the port to someone else.
        if log_shows_port_taken(&log) {
            return Err(not_ready(&mut child));
        }
        match (started, log.contains(&loaded_line)) {
            (true, false) => return Err(not_ready(&mut child)),
            (true, true)
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() =>
            {
                return Ok(child);
            }
            _ => {}
        }
        if std::time::Instant::now() >= deadline {
            return Err(not_ready(&mut child));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether the last launch in `dir` failed because its port was taken meanwhile.
fn port_was_taken(dir: &Path) -> bool {
    fs::read_to_string(dir.join("named.log")).is_ok_and(|log| log_shows_port_taken(&log))
}

/// BIND 9.18 logs `creating IPv4 interface lo failed` and exits with `unable to listen on any
/// configured interfaces` when the port is taken (found by experiment); older versions said
/// `address in use` and kept running.
fn log_shows_port_taken(log: &str) -> bool {
    log.contains("unable to listen on any configured interfaces") || log.contains("address in use")
}

/// SIGTERM, wait up to [`STOP_GRACE`], then SIGKILL. A process that is already gone is fine.
fn stop_pid(pid: u32) -> Result<(), BindError> {
    let raw = i32::try_from(pid).map_err(|_| BindError::Signal {
        pid,
        source: nix::Error::EINVAL,
    })?;
    let target = Pid::from_raw(raw);
    match kill(target, Signal::SIGTERM) {
        Err(nix::Error::ESRCH) => return Ok(()),
        Err(source) => return Err(BindError::Signal { pid, source }),
        Ok(()) => {}
    }
    let deadline = std::time::Instant::now() + STOP_GRACE;
    while std::time::Instant::now() < deadline {
        if !alive(target) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    match kill(target, Signal::SIGKILL) {
        Ok(()) | Err(nix::Error::ESRCH) => Ok(()),
        Err(source) => Err(BindError::Signal { pid, source }),
    }
}

/// Whether `pid` still runs. A zombie (exited, not yet reaped by its parent) counts as gone.
fn alive(pid: Pid) -> bool {
    if kill(pid, None).is_err() {
        return false;
    }
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The state is the first field after the parenthesised command name.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    !matches!(state, Some("Z" | "X") | None)
}
