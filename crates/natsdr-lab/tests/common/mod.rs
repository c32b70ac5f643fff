//! Test fixtures: real single-node nats-server processes with JetStream, one per "region";
//! the real lab ([`lab`]); and one way to wait for a condition ([`wait_until`]).
//!
//! NB: the binary is required. A missing nats-server fails the test with a message saying how
//! to install it; it never skips.
#![allow(dead_code)] // Each integration test binary uses a different part of this shared fixture.

pub mod demo;
pub mod dns;
pub mod lab;
pub mod notify;
pub mod s3;

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use natsdr::{
    config::Secret,
    nats::{Auth, ConnectSpec, JsApi, SysApi},
};
use natsdr_lab::testkit::free_port;

/// Path of the nats-server binary: `NATSDR_NATS_SERVER`, else the project's `.tools` default.
pub fn nats_server_binary() -> PathBuf {
    let path = std::env::var_os("NATSDR_NATS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| natsdr_lab::repo_root().join(".tools/nats-server-default/nats-server"));
    assert!(
        path.is_file(),
        "nats-server not found at {} (run `make deps` / scripts/deps.sh, or set NATSDR_NATS_SERVER)",
        path.display()
    );
    path
}

/// A running nats-server; killed (and its store removed) on drop, also when the test panics.
pub struct Server {
    child: Child,
    dir: tempfile::TempDir,
    /// Client port on 127.0.0.1.
    pub port: u16,
    /// Leafnode listen port, if this server accepts leafnodes.
    pub leaf_port: Option<u16>,
    /// JetStream domain.
    pub domain: String,
    /// Index in its cluster (0 for a single server).
    pub index: usize,
}

/// How to start a server.
pub struct Opts<'a> {
    /// JetStream domain.
    pub domain: &'a str,
    /// Accept leafnode connections (the primary region's side).
    pub leaf_listen: bool,
    /// Connect the APP account as a leafnode to this port (the standby region's side).
    pub leaf_remote: Option<u16>,
}

impl Server {
    /// Starts a server with accounts SYS (sys/sys, the system account) and APP (app/app,
    /// JetStream), and waits until it accepts connections.
    pub fn start(opts: Opts<'_>) -> Self {
        Self::spawn(&opts, 0, free_port(), None)
    }

    /// Two single servers, domains `hub` and `spoke`, the spoke's APP account a leafnode of the
    /// hub's: the primary and the standby region in miniature.
    pub fn leafed_pair(hub: &str, spoke: &str) -> (Self, Self) {
        let hub = Self::start(Opts {
            domain: hub,
            leaf_listen: true,
            leaf_remote: None,
        });
        let spoke = Self::start(Opts {
            domain: spoke,
            leaf_listen: false,
            leaf_remote: hub.leaf_port,
        });
        (hub, spoke)
    }

    /// Starts node `index` of a cluster whose route ports are `routes` (this node listens on
    /// `routes[index]`).
    fn spawn(opts: &Opts<'_>, index: usize, port: u16, routes: Option<&[u16]>) -> Self {
        let bin = nats_server_binary();
        let dir = tempfile::tempdir().unwrap();
        let leaf_port = opts.leaf_listen.then(free_port);
        let mut conf = format!(
            "server_name: {domain}-{index}\nlisten: 127.0.0.1:{port}\n\
             jetstream {{ store_dir: \"{store}\", domain: {domain} }}\n\
             accounts {{\n  SYS {{ users [{{user: sys, password: sys}}] }}\n  APP {{ jetstream: enabled, users [{{user: app, password: app}}] }}\n}}\n\
             system_account: SYS\n",
            domain = opts.domain,
            store = dir.path().join("js").display(),
        );
        if let Some(lp) = leaf_port {
            conf.push_str(&format!("leafnodes {{ listen: 127.0.0.1:{lp} }}\n"));
        }
        if let Some(remote) = opts.leaf_remote {
            conf.push_str(&format!(
                "leafnodes {{ remotes [{{ urls: [\"nats-leaf://app:app@127.0.0.1:{remote}\"], account: APP }}] }}\n"
            ));
        }
        if let Some(routes) = routes {
            let urls: Vec<String> = routes
                .iter()
                .map(|p| format!("nats-route://127.0.0.1:{p}"))
                .collect();
            conf.push_str(&format!(
                "cluster {{ name: {}, listen: 127.0.0.1:{}, routes: [{}] }}\n",
                opts.domain,
                routes[index],
                urls.join(", ")
            ));
        }
        let conf_path = dir.path().join("server.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let child = Command::new(&bin)
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let server = Self {
            child,
            dir,
            port,
            leaf_port,
            domain: opts.domain.to_owned(),
            index,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not open port {port}: {}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Client URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// A connection spec for the application account.
    pub fn app_spec(&self) -> ConnectSpec {
        self.spec("app")
    }

    /// A connection spec for the system account.
    pub fn sys_spec(&self) -> ConnectSpec {
        self.spec("sys")
    }

    /// A connection spec for `user` (whose password is its name).
    fn spec(&self, user: &str) -> ConnectSpec {
        ConnectSpec::new(
            format!("test/{}/{user}", self.domain),
            vec![self.url()],
            Auth::UserPassword {
                user: user.into(),
                password: Secret::new(user),
            },
        )
    }

    /// A JetStream API client on the application account, waiting until JetStream answers.
    pub async fn js(&self) -> JsApi {
        let client = natsdr::nats::connect(&self.app_spec()).await.unwrap();
        let js = JsApi::new(client, Duration::from_secs(5));
        // NB: a readiness wait, not a speed check: a loaded 2-core machine has taken over 10 s.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while js.account_info().await.is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "JetStream not ready: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        js
    }

    /// A system API client.
    pub async fn sys(&self) -> SysApi {
        SysApi::new(natsdr::nats::connect(&self.sys_spec()).await.unwrap())
    }

    /// Server name (`<domain>-<index>`).
    pub fn name(&self) -> String {
        format!("{}-{}", self.domain, self.index)
    }

    /// Kills the process now (SIGKILL).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `check` every 100 ms until it holds; panics saying `what` did not happen within
/// `within`.
pub async fn wait_until<F, Fut>(within: Duration, what: impl std::fmt::Display, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {within:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A cluster of `n` servers in one domain (a region), all with JetStream.
pub struct Cluster {
    /// The nodes; node 0 is what [`Cluster::js`] and [`Cluster::sys`] connect to first.
    pub nodes: Vec<Server>,
}

impl Cluster {
    /// Starts `n` routed nodes and returns once they accept connections.
    pub fn start(domain: &str, n: usize) -> Self {
        let routes: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let opts = Opts {
            domain,
            leaf_listen: false,
            leaf_remote: None,
        };
        let nodes = (0..n)
            .map(|i| Server::spawn(&opts, i, free_port(), Some(&routes)))
            .collect();
        Self { nodes }
    }

    /// Every node's client URL.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(Server::url).collect()
    }

    /// A system API client that may use any node.
    pub async fn sys(&self) -> SysApi {
        let mut spec = self.nodes[0].sys_spec();
        spec.urls = self.urls();
        SysApi::new(natsdr::nats::connect(&spec).await.unwrap())
    }

    /// A JetStream API client that may use any node, once the meta group has a leader.
    pub async fn js(&self) -> JsApi {
        self.nodes[0].js().await
    }
}

/// Waits until `stream`'s last sequence is `want` (a mirror caught up, say), up to 30 s.
pub async fn wait_for_last_seq(js: &JsApi, stream: &str, want: u64) {
    wait_until(
        Duration::from_secs(30),
        format!("{stream} reaches sequence {want}"),
        || async {
            js.stream_info(stream)
                .await
                .is_ok_and(|i| i.state.last_seq == want)
        },
    )
    .await;
}

/// Checks that `source` in `a` and `copy` in `b` hold the same message (subject, payload and
/// stored time) at each of `seqs`.
pub async fn assert_same_messages(
    (a, source): (&JsApi, &str),
    (b, copy): (&JsApi, &str),
    seqs: impl IntoIterator<Item = u64>,
) {
    for seq in seqs {
        let x = a.stream_msg_get(source, seq).await.unwrap().unwrap();
        let y = b.stream_msg_get(copy, seq).await.unwrap().unwrap();
        assert_eq!(
            (x.subject, x.data, x.time),
            (y.subject, y.data, y.time),
            "seq {seq}"
        );
    }
}

/// Publishes `x` on `<prefix>0` .. `<prefix><n-1>`, one request at a time (each answered, by
/// a stream's ack when one captures it).
pub async fn request_each(js: &JsApi, prefix: &str, n: usize) {
    for i in 0..n {
        js.client()
            .request(format!("{prefix}{i}"), "x".into())
            .await
            .unwrap();
    }
}

/// The mirror block of `stream`'s info (it must be a mirror).
pub async fn mirror_info(js: &JsApi, stream: &str) -> natsdr::nats::MirrorInfo {
    js.stream_info(stream).await.unwrap().mirror.unwrap()
}
