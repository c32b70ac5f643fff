//! The demo's consumer: an application's durable pull consumer, bound by subject through the
//! client-facing DNS name, acking everything it reads and following the name when it moves,
//! like the load generator does. Keeps [`Deliveries`].
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer};
use futures::StreamExt as _;
use hickory_net::NetError;
use time::OffsetDateTime;
use tokio::sync::watch;

use super::background::Background;
use super::deliveries::{Deliveries, Seen};
use super::load::{Dialer, LoadTarget};

/// The durable's name, as the application created it once on the first primary.
pub const DURABLE: &str = "demo-reader";
/// Its `max_ack_pending`: the most it may hold delivered and not acknowledged, so the most a
/// region loss can deliver again beyond the acks of the last sync interval.
pub const MAX_ACK_PENDING: i64 = 64;
/// Messages asked for per pull (well under `MAX_ACK_PENDING`).
const BATCH: usize = 16;

/// A running reader. Its books can be read at any time; `stop` ends it (the message in hand
/// is acked first).
pub type Reader = Background<Deliveries>;

impl Reader {
    /// Starts reading in a background task; fails only when no resolver can be built. The
    /// first bind creates the durable (the application deploying it); later binds only look
    /// it up, so a consumer found after a move is one the move carried.
    pub fn start(target: LoadTarget) -> Result<Self, NetError> {
        Background::resolving(target, read_loop)
    }
}

/// Where the reader is bound: the address it connected to and its consumer there.
struct Bound {
    ip: IpAddr,
    client: async_nats::Client,
    consumer: consumer::PullConsumer,
}

async fn read_loop(d: Dialer, books: Arc<Mutex<Deliveries>>, mut stop: watch::Receiver<bool>) {
    let mut bound: Option<Bound> = None;
    let mut created = false;
    while !*stop.borrow() {
        let Some(b) = &bound else {
            bound = bind(&d, !created).await;
            created |= bound.is_some();
            if bound.is_none() {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(100)) => {}
                    _ = stop.changed() => break,
                }
            }
            continue;
        };
        let got = read_batch(b, &d.target, &books).await;
        if got == 0 {
            // Nothing came (an idle or fenced stream, or a dead server): follow the name.
            if d.should_reconnect(b.ip, &b.client).await {
                bound = None;
            }
        }
    }
}

/// Connects where the name points now and binds the durable by subject.
async fn bind(d: &Dialer, create: bool) -> Option<Bound> {
    let t = &d.target;
    let (ip, client) = d.connect().await?;
    let js = jetstream::new(client.clone());
    let name = js.stream_by_subject(t.subject.as_str()).await.ok()?;
    let stream = js.get_stream(&name).await.ok()?;
    let consumer = if create {
        stream
            .get_or_create_consumer(
                DURABLE,
                consumer::pull::Config {
                    durable_name: Some(DURABLE.into()),
                    filter_subject: t.subject.clone(),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: Duration::from_secs(10),
                    max_ack_pending: MAX_ACK_PENDING,
                    ..Default::default()
                },
            )
            .await
            .ok()?
    } else {
        stream.get_consumer(DURABLE).await.ok()?
    };
    Some(Bound {
        ip,
        client,
        consumer,
    })
}

/// Pulls one batch and acks each message, recording deliveries and confirmed acks. Returns
/// how many messages came.
async fn read_batch(b: &Bound, t: &LoadTarget, books: &Mutex<Deliveries>) -> usize {
    let batch = b
        .consumer
        .fetch()
        .max_messages(BATCH)
        .expires(Duration::from_millis(300))
        .messages();
    let Ok(Ok(mut batch)) = tokio::time::timeout(t.ack_timeout * 2, batch).await else {
        return 0;
    };
    let mut got = 0;
    // NB: the server ends a pull at its expiry; the timeout only guards a dead connection.
    while let Ok(Some(Ok(m))) = tokio::time::timeout(t.ack_timeout * 2, batch.next()).await {
        got += 1;
        let id = m
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Msg-Id"))
            .map(|v| v.as_str().to_owned());
        let stream = m.info().map(|i| i.stream.to_owned()).unwrap_or_default();
        let Some(id) = id else { continue };
        books
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .received
            .push(Seen {
                id: id.clone(),
                stream: stream.clone(),
                at: OffsetDateTime::now_utc(),
            });
        if let Ok(Ok(())) =
            tokio::time::timeout(t.ack_timeout, m.double_ack_with(AckKind::Ack)).await
        {
            books
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .acked
                .push(Seen {
                    id,
                    stream,
                    at: OffsetDateTime::now_utc(),
                });
        }
    }
    got
}
