//! The demo's client: publishes with JetStream acks through the client-facing DNS name at a
//! steady rate, re-resolving and reconnecting when the name moves, and keeps a [`Ledger`].
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hickory_net::NetError;
use hickory_net::proto::rr::{RData, RecordType};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_resolver::Resolver;
pub use natsdr::dns::uncached_resolver;
use time::OffsetDateTime;
use tokio::sync::watch;

use super::background::Background;
use super::ledger::{Ack, Ledger};

/// Where and how the load generator publishes.
#[derive(Debug, Clone)]
pub struct LoadTarget {
    /// The authoritative DNS server holding the client record.
    pub dns_server: SocketAddr,
    /// The client record, fully qualified (e.g. `nats.dr.test.`).
    pub name: String,
    /// The NATS client port behind every address the record may hold.
    pub port: u16,
    /// Application user.
    pub user: String,
    /// Its password.
    pub password: String,
    /// The subject published to (must belong to a mirrored stream).
    pub subject: String,
    /// Pause between two publishes.
    pub interval: Duration,
    /// How long one publish waits for its ack before it counts as failed.
    pub ack_timeout: Duration,
}

/// A running load generator. Its ledger can be read at any time; `stop` ends it (the publish
/// in flight finishes first).
pub type LoadGen = Background<Ledger>;

impl LoadGen {
    /// Starts publishing in a background task; fails only when no resolver can be built.
    pub fn start(target: LoadTarget) -> Result<Self, NetError> {
        Background::resolving(target, publish_loop)
    }
}

/// A JetStream publish ack (`{"stream":..,"seq":..}`) or its refusal (`{"error":..}`).
#[derive(Debug, serde::Deserialize)]
struct PubAck {
    stream: Option<String>,
    seq: Option<u64>,
}

async fn publish_loop(d: Dialer, ledger: Arc<Mutex<Ledger>>, mut stop: watch::Receiver<bool>) {
    let t = &d.target;
    let mut conn: Option<(IpAddr, async_nats::Client)> = None;
    let mut n: u64 = 0;
    let mut tick = tokio::time::interval(t.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !*stop.borrow() {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        if conn.is_none() {
            conn = d.connect().await;
            if conn.is_none() {
                continue;
            }
        }
        let Some((_, client)) = &conn else { continue };
        // NB: the id advances only once acked: a retry reuses it, so JetStream's dedupe window
        // keeps one copy and the ledger can tell a lost ack from a lost message.
        let id = format!("demo-{n:07}");
        ledger
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .sent(&id);
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", id.as_str());
        let reply = tokio::time::timeout(
            t.ack_timeout,
            client.request_with_headers(t.subject.clone(), headers, id.clone().into()),
        )
        .await;
        let ack = match reply {
            Ok(Ok(msg)) => serde_json::from_slice::<PubAck>(&msg.payload).ok(),
            Ok(Err(_)) | Err(_) => None,
        };
        match ack {
            Some(PubAck {
                stream: Some(stream),
                seq: Some(seq),
            }) => {
                ledger
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .acked(Ack {
                        id,
                        stream,
                        seq,
                        at: OffsetDateTime::now_utc(),
                    });
                n += 1;
            }
            _ => {
                // No ack: reconnect only when the name moved, or the client is gone.
                if let Some((ip, c)) = &conn
                    && d.should_reconnect(*ip, c).await
                {
                    conn = None;
                }
            }
        }
    }
}

/// A load target and the resolver that follows its name: what every demo client connects
/// through, so each one follows the client record the same way.
pub struct Dialer {
    /// Where and as whom to connect.
    pub target: LoadTarget,
    /// Asks the target's DNS server with no cache, so every look-up sees the record as it is.
    resolver: Resolver<TokioRuntimeProvider>,
}

impl Dialer {
    /// Builds the resolver for `target`'s DNS server; fails only when none can be built.
    pub fn new(target: LoadTarget) -> Result<Self, NetError> {
        let resolver = uncached_resolver(target.dns_server, target.ack_timeout)?;
        Ok(Self { target, resolver })
    }

    /// Connects to the address the name resolves to now, as the application user.
    pub async fn connect(&self) -> Option<(IpAddr, async_nats::Client)> {
        let t = &self.target;
        let ip = resolve(&self.resolver, &t.name).await?;
        let client =
            async_nats::ConnectOptions::with_user_and_password(t.user.clone(), t.password.clone())
                .connection_timeout(t.ack_timeout)
                .request_timeout(Some(t.ack_timeout))
                .connect(SocketAddr::new(ip, t.port).to_string())
                .await
                .ok()?;
        Some((ip, client))
    }

    /// Whether to drop a connection to `via` that went quiet or failed: the name resolves
    /// elsewhere now, or the client is down.
    pub async fn should_reconnect(&self, via: IpAddr, client: &async_nats::Client) -> bool {
        let now = resolve(&self.resolver, &self.target.name).await;
        now.is_some_and(|ip| ip != via)
            || client.connection_state() == async_nats::connection::State::Disconnected
    }
}

/// The first A record of `name`, asked of the authoritative server with no cache.
pub async fn resolve(resolver: &Resolver<TokioRuntimeProvider>, name: &str) -> Option<IpAddr> {
    let lookup = resolver.lookup(name, RecordType::A).await.ok()?;
    lookup.answers().iter().find_map(|r| match &r.data {
        RData::A(v4) => Some(IpAddr::V4(v4.0)),
        _ => None,
    })
}
