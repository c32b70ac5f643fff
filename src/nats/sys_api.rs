//! `SysApi`: scatter-gather requests to `$SYS.REQ.SERVER.PING.*`, collecting replies for a window.
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::{Value, json};

use super::stream_info::{PeerInfo, null_as_empty};

/// A system-account client for one region. Needs a connection authenticated to the system
/// account: other accounts get no replies at all.
///
/// Every call listens for replies for at most its window and then returns what arrived: a
/// silent or partitioned region yields an empty answer, never a hang.
#[derive(Debug, Clone)]
pub struct SysApi {
    client: async_nats::Client,
}

/// Why a system request could not even be made (an empty answer is not an error).
#[derive(Debug, thiserror::Error)]
pub enum SysError {
    /// The reply subscription could not be created (connection closed).
    #[error("cannot subscribe for replies to {subject}")]
    Subscribe {
        /// The request subject.
        subject: String,
        /// The client library's error.
        #[source]
        source: async_nats::SubscribeError,
    },
    /// The request could not be published (connection closed or buffer full).
    #[error("cannot publish {subject}")]
    Publish {
        /// The request subject.
        subject: String,
        /// The client library's error.
        #[source]
        source: async_nats::PublishError,
    },
}

impl SysError {
    /// Every variant is a connection problem: the next round may succeed.
    pub fn is_retryable(&self) -> bool {
        true
    }
}

/// The `server` block every system reply carries.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ServerId {
    /// Server name (`server_name` in its config).
    pub name: String,
    /// Server id (the nkey).
    #[serde(default)]
    pub id: String,
    /// Cluster name.
    #[serde(default)]
    pub cluster: Option<String>,
    /// JetStream domain.
    #[serde(default)]
    pub domain: Option<String>,
    /// Server version, e.g. `2.12.1`.
    #[serde(default, rename = "ver")]
    pub version: String,
    /// Whether JetStream is enabled on it.
    #[serde(default)]
    pub jetstream: bool,
}

/// One server's answer to `$SYS.REQ.SERVER.PING` (STATSZ).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerPong {
    /// Who answered.
    pub server: ServerId,
    /// The meta leader this server believes in, if any.
    pub meta_leader: Option<String>,
    /// The meta group size this server knows.
    pub meta_cluster_size: Option<usize>,
}

/// The meta group as seen by its leader (`PING.JSZ {"leader_only":true}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaCluster {
    /// The answering server (the leader).
    pub server: ServerId,
    /// The meta leader's name.
    pub leader: Option<String>,
    /// Configured size of the meta group.
    pub cluster_size: usize,
    /// The other members with their `active` ages. NB: after peers die the leader keeps
    /// `current: true` for ~10 s and never sets `offline`; judge by `active`.
    pub replicas: Vec<MetaReplica>,
}

/// A member of the meta group.
pub type MetaReplica = PeerInfo;

/// One server's JetStream health (`PING.HEALTHZ {"js-meta-only":true}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healthz {
    /// Who answered.
    pub server: ServerId,
    /// 200 when healthy, 503 without meta quorum (after ~1.6 s on 2.15, ~7.8 s on 2.10).
    pub status_code: u16,
    /// The server's error text when unhealthy.
    pub error: Option<String>,
}

/// One server's leafnode connections (`PING.LEAFZ`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leafz {
    /// Who answered.
    pub server: ServerId,
    /// Its leafnode connections.
    pub leafs: Vec<Leaf>,
}

/// A leafnode connection.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Leaf {
    /// Remote server name.
    #[serde(default)]
    pub name: String,
    /// Local account bound to the leafnode.
    #[serde(default)]
    pub account: String,
    /// Remote address.
    #[serde(default)]
    pub ip: String,
    /// Remote port.
    #[serde(default)]
    pub port: u16,
    /// Round-trip time as the server prints it (e.g. `1.2ms`).
    #[serde(default)]
    pub rtt: String,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
struct Envelope<T> {
    server: ServerId,
    #[serde(default, alias = "statsz")]
    data: Option<T>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct Statsz {
    #[serde(default)]
    jetstream: Option<StatszJs>,
}

#[derive(Deserialize)]
struct StatszJs {
    #[serde(default)]
    meta: Option<MetaRaw>,
}

#[derive(Deserialize)]
struct MetaRaw {
    #[serde(default)]
    leader: Option<String>,
    #[serde(default)]
    cluster_size: usize,
    #[serde(default, deserialize_with = "null_as_empty")]
    replicas: Vec<PeerInfo>,
}

#[derive(Deserialize)]
struct Jsz {
    #[serde(default)]
    meta_cluster: Option<MetaRaw>,
}

#[derive(Deserialize)]
struct HealthzRaw {
    #[serde(default)]
    status_code: u16,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct LeafzRaw {
    #[serde(default, deserialize_with = "null_as_empty")]
    leafs: Vec<Leaf>,
}

impl SysApi {
    /// Wraps a system-account connection.
    pub fn new(client: async_nats::Client) -> Self {
        Self { client }
    }

    /// The underlying connection (e.g. to see which server it is attached to).
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// `$SYS.REQ.SERVER.PING`: one reply per reachable server. Listens for `window`, or until
    /// `expected` replies arrived. Fewer than a majority of the cluster = quorum lost.
    pub async fn ping(
        &self,
        window: Duration,
        expected: Option<usize>,
    ) -> Result<Vec<ServerPong>, SysError> {
        let replies: Vec<Envelope<Statsz>> = self
            .scatter("$SYS.REQ.SERVER.PING", Value::Null, window, expected)
            .await?;
        Ok(replies
            .into_iter()
            .map(|r| {
                let meta = r.data.and_then(|s| s.jetstream).and_then(|j| j.meta);
                ServerPong {
                    server: r.server,
                    meta_leader: meta.as_ref().and_then(|m| m.leader.clone()),
                    meta_cluster_size: meta.map(|m| m.cluster_size),
                }
            })
            .collect())
    }

    /// `$SYS.REQ.SERVER.PING.JSZ {"leader_only":true}`: the meta leader's view of the meta group,
    /// or None if no leader answered within `window`.
    pub async fn meta_cluster(&self, window: Duration) -> Result<Option<MetaCluster>, SysError> {
        let replies: Vec<Envelope<Jsz>> = self
            .scatter(
                "$SYS.REQ.SERVER.PING.JSZ",
                json!({"leader_only": true}),
                window,
                Some(1),
            )
            .await?;
        Ok(replies.into_iter().find_map(|r| {
            let meta = r.data?.meta_cluster?;
            Some(MetaCluster {
                server: r.server,
                leader: meta.leader,
                cluster_size: meta.cluster_size,
                replicas: meta.replicas,
            })
        }))
    }

    /// `$SYS.REQ.SERVER.PING.HEALTHZ {"js-meta-only":true}`: each reachable server's JetStream
    /// meta health.
    pub async fn healthz(
        &self,
        window: Duration,
        expected: Option<usize>,
    ) -> Result<Vec<Healthz>, SysError> {
        let replies: Vec<Envelope<HealthzRaw>> = self
            .scatter(
                "$SYS.REQ.SERVER.PING.HEALTHZ",
                json!({"js-meta-only": true}),
                window,
                expected,
            )
            .await?;
        Ok(replies
            .into_iter()
            .map(|r| {
                let err = r.error.as_ref().map(Value::to_string);
                match r.data {
                    Some(h) => Healthz {
                        server: r.server,
                        status_code: h.status_code,
                        error: h.error.or(err),
                    },
                    None => Healthz {
                        server: r.server,
                        status_code: 503,
                        error: err,
                    },
                }
            })
            .collect())
    }

    /// `$SYS.REQ.SERVER.PING.LEAFZ`: each reachable server's leafnode connections.
    pub async fn leafz(
        &self,
        window: Duration,
        expected: Option<usize>,
    ) -> Result<Vec<Leafz>, SysError> {
        let replies: Vec<Envelope<LeafzRaw>> = self
            .scatter("$SYS.REQ.SERVER.PING.LEAFZ", Value::Null, window, expected)
            .await?;
        Ok(replies
            .into_iter()
            .map(|r| Leafz {
                server: r.server,
                leafs: r.data.map(|d| d.leafs).unwrap_or_default(),
            })
            .collect())
    }

    /// Publishes one request with a private reply inbox and collects decodable replies until
    /// `window` ends or `expected` arrived. Replies that do not decode are logged and skipped:
    /// one odd server must not hide the others.
    async fn scatter<T: DeserializeOwned>(
        &self,
        subject: &str,
        body: Value,
        window: Duration,
        expected: Option<usize>,
    ) -> Result<Vec<T>, SysError> {
        let inbox = self.client.new_inbox();
        let mut sub = self
            .client
            .subscribe(inbox.clone())
            .await
            .map_err(|source| SysError::Subscribe {
                subject: subject.to_owned(),
                source,
            })?;
        let payload = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        self.client
            .publish_with_reply(subject.to_owned(), inbox, payload.into())
            .await
            .map_err(|source| SysError::Publish {
                subject: subject.to_owned(),
                source,
            })?;
        let deadline = tokio::time::Instant::now() + window;
        let mut replies = Vec::new();
        while expected.is_none_or(|n| replies.len() < n) {
            match tokio::time::timeout_at(deadline, sub.next()).await {
                Ok(Some(msg)) => match serde_json::from_slice::<T>(&msg.payload) {
                    Ok(r) => replies.push(r),
                    Err(e) => {
                        tracing::warn!(subject, error = %e, "undecodable system reply skipped")
                    }
                },
                Ok(None) | Err(_) => break,
            }
        }
        // Dropping the subscriber unsubscribes; late replies are discarded by the server.
        Ok(replies)
    }
}
