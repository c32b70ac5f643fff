//! Stream snapshot and restore over the JetStream API: the chunked, acknowledged transfers that
//! let a mirror become a writable stream on servers that cannot promote it in place (before 2.12).
//!
//! The protocol, as nats-server implements it (`jsStreamSnapshotRequest`, `streamSnapshot`,
//! `jsStreamRestoreRequest`, `processStreamRestore`):
//! - snapshot: `STREAM.SNAPSHOT.<s>` `{deliver_subject, no_consumers}` answers `{config, state}`,
//!   then the stream leader publishes the s2-compressed tar in chunks to the deliver subject, each
//!   with a reply subject to ack (flow control), and ends with an empty message whose status is
//!   204 (complete) or 408 (aborted: no interest or no acks).
//! - restore: `STREAM.RESTORE.<s>` `{config, state}` answers `{deliver_subject}`; every chunk sent
//!   there as a request is answered with an empty ack; an empty request ends the upload and is
//!   answered, once the server has unpacked and started the stream, with the STREAM.CREATE reply.
//!   The server gives up on an upload idle for 5 s.
use std::time::Duration;

use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{JsApi, JsError, StreamConfig, StreamInfo, StreamState, js_api::decode_reply};

/// Upload chunk size: the server's own snapshot chunk size, well under the default 1 MiB
/// max payload.
const CHUNK: usize = 128 * 1024;

/// A failed snapshot or restore transfer.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// A JetStream API call of the transfer failed (the request, a chunk, or the final reply).
    #[error("JetStream call failed")]
    Api(#[source] JsError),
    /// The deliver subject could not be subscribed to.
    #[error("cannot subscribe to the snapshot's deliver subject")]
    Subscribe(#[source] async_nats::SubscribeError),
    /// The snapshot's acks could not be published.
    #[error("cannot ack a snapshot chunk")]
    Ack(#[source] async_nats::PublishError),
    /// Writing the snapshot or reading it back failed locally.
    #[error("local I/O during the transfer")]
    Io(#[source] std::io::Error),
    /// The server ended the snapshot with an error status instead of 204.
    #[error("the server aborted the snapshot: status {status} {description}")]
    Aborted {
        /// The status of the final message (408: no interest, or no flow-control acks).
        status: u16,
        /// Its description.
        description: String,
    },
    /// No chunk arrived for this long: the stream leader died or moved mid-transfer.
    #[error("no snapshot chunk for {after:?}")]
    Stalled {
        /// The idle time that expired.
        after: Duration,
    },
    /// The server refused an uploaded chunk (its reply was not the empty ack).
    #[error("the server refused a restore chunk: {reply}")]
    ChunkRefused {
        /// The reply, as text.
        reply: String,
    },
}

impl TransferError {
    /// Whether the whole transfer may succeed if started again: API failures that are
    /// transient, stalls and aborts (a leader change); not local I/O, not a refused chunk.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Api(e) => e.is_retryable(),
            Self::Subscribe(_) | Self::Ack(_) | Self::Aborted { .. } | Self::Stalled { .. } => true,
            Self::Io(_) | Self::ChunkRefused { .. } => false,
        }
    }
}

/// What a finished snapshot transfer delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotTaken {
    /// The stream's config when the snapshot was taken.
    pub config: StreamConfig,
    /// The snapshot's state as the server sent it (raw: a restore sends it back unchanged).
    pub state: Value,
    /// The same state, typed (sequences to verify against).
    pub parsed: StreamState,
    /// Bytes written.
    pub bytes: u64,
    /// Chunks received.
    pub chunks: u64,
    /// SHA-256 of the bytes written, lowercase hex.
    pub sha256: String,
}

#[derive(Deserialize)]
struct SnapshotReply {
    config: StreamConfig,
    state: Value,
}

#[derive(Deserialize)]
struct RestoreReply {
    deliver_subject: String,
}

/// Lowercase hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl JsApi {
    /// Snapshots `stream` (messages and consumers) into `out`, acking every chunk. Returns only
    /// once the server said the snapshot is complete (status 204); `idle` bounds the wait for
    /// each chunk. NB: `out` holds a partial snapshot after an error: never use it then.
    pub async fn stream_snapshot<W: AsyncWrite + Unpin>(
        &self,
        stream: &str,
        out: &mut W,
        idle: Duration,
    ) -> Result<SnapshotTaken, TransferError> {
        let client = self.client();
        let deliver = client.new_inbox();
        // Subscribed before asking, so no chunk can arrive before anyone listens.
        let mut chunks = client
            .subscribe(deliver.clone())
            .await
            .map_err(TransferError::Subscribe)?;
        let reply: SnapshotReply = self
            .call(
                &format!("STREAM.SNAPSHOT.{stream}"),
                json!({ "deliver_subject": deliver, "no_consumers": false }),
            )
            .await
            .map_err(TransferError::Api)?;
        let parsed: StreamState = serde_json::from_value(reply.state.clone()).map_err(|e| {
            TransferError::Api(JsError::Decode {
                subject: self.subject(&format!("STREAM.SNAPSHOT.{stream}")),
                source: e,
            })
        })?;
        let mut hash = Sha256::new();
        let (mut bytes, mut count) = (0u64, 0u64);
        loop {
            let msg = tokio::time::timeout(idle, chunks.next())
                .await
                .map_err(|_| TransferError::Stalled { after: idle })?
                .ok_or(TransferError::Stalled { after: idle })?;
            if msg.payload.is_empty() {
                // The end: 204 when complete, 408 when the server gave up; no status at all
                // when the snapshot fit in one unacked chunk.
                match msg.status.map(u16::from) {
                    None | Some(204) => break,
                    Some(status) => {
                        return Err(TransferError::Aborted {
                            status,
                            description: msg.description.unwrap_or_default(),
                        });
                    }
                }
            }
            out.write_all(&msg.payload)
                .await
                .map_err(TransferError::Io)?;
            hash.update(&msg.payload);
            bytes += msg.payload.len() as u64;
            count += 1;
            if let Some(ack) = msg.reply {
                client
                    .publish(ack, bytes::Bytes::new())
                    .await
                    .map_err(TransferError::Ack)?;
            }
        }
        out.flush().await.map_err(TransferError::Io)?;
        Ok(SnapshotTaken {
            config: reply.config,
            state: reply.state,
            parsed,
            bytes,
            chunks: count,
            sha256: hex(&hash.finalize()),
        })
    }

    /// Restores a stream named by `config` from a snapshot read from `input`, with `config` as
    /// its new identity (the snapshot's own config is replaced) and `state` as the snapshot
    /// reported it. The stream must not exist. `finish` bounds the wait for the server to unpack
    /// and start the stream after the last chunk. Returns the restored stream's info.
    pub async fn stream_restore<R: AsyncRead + Unpin>(
        &self,
        config: &StreamConfig,
        state: &Value,
        input: &mut R,
        finish: Duration,
    ) -> Result<StreamInfo, TransferError> {
        let reply: RestoreReply = self
            .call(
                &format!("STREAM.RESTORE.{}", config.name()),
                json!({ "config": config, "state": state }),
            )
            .await
            .map_err(TransferError::Api)?;
        let deliver = reply.deliver_subject;
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = read_full(input, &mut buf).await?;
            if n == 0 {
                break;
            }
            let ack = self
                .request(
                    deliver.clone(),
                    bytes::Bytes::copy_from_slice(&buf[..n]),
                    self.timeout(),
                )
                .await
                .map_err(TransferError::Api)?;
            if !ack.payload.is_empty() {
                // A failure is answered on the chunk that hit it: an API error or `-ERR '...'`.
                if let Err(e @ JsError::Api { .. }) =
                    decode_reply::<Value>(deliver.clone(), &ack.payload)
                {
                    return Err(TransferError::Api(e));
                }
                return Err(TransferError::ChunkRefused {
                    reply: String::from_utf8_lossy(&ack.payload).into_owned(),
                });
            }
        }
        let done = self
            .request(deliver.clone(), bytes::Bytes::new(), finish)
            .await
            .map_err(TransferError::Api)?;
        decode_reply(deliver, &done.payload).map_err(TransferError::Api)
    }
}

/// Fills `buf` as far as `input` allows; 0 only at the end.
async fn read_full<R: AsyncRead + Unpin>(
    input: &mut R,
    buf: &mut [u8],
) -> Result<usize, TransferError> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = input
            .read(&mut buf[filled..])
            .await
            .map_err(TransferError::Io)?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_spells_every_byte_as_two_lowercase_digits() {
        assert_eq!(hex(&[0x00, 0x0f, 0xab, 0xff]), "000fabff");
    }

    #[test]
    fn local_io_and_refused_chunks_are_final_but_stalls_are_retryable() {
        assert!(
            TransferError::Stalled {
                after: Duration::from_secs(1)
            }
            .is_retryable()
        );
        assert!(!TransferError::Io(std::io::Error::other("disk full")).is_retryable());
        assert!(
            !TransferError::ChunkRefused {
                reply: "-ERR".into()
            }
            .is_retryable()
        );
    }
}
