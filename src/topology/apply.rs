//! `apply`: make each region hold the expected streams, by creating or read-modify-writing them.
use std::{collections::BTreeMap, fmt};

use super::{
    expected::ExpectedStream,
    plan::{Drift, diff},
};
use crate::{
    model::{Region, StreamName},
    nats::{JsApi, JsError},
};

/// What `apply` did (or could not do) for one stream.
#[derive(Debug)]
pub enum Change {
    /// The stream was missing and has been created.
    Created {
        /// The region.
        region: Region,
        /// The stream.
        stream: StreamName,
    },
    /// Owned fields were set on the stream; every other field was written back unchanged.
    Updated {
        /// The region.
        region: Region,
        /// The stream.
        stream: StreamName,
        /// JSON keys of the fields changed.
        fields: Vec<String>,
    },
    /// A difference apply does not fix (it would need a delete, or the region is unknown):
    /// left for an operator.
    NeedsOperator(Drift),
    /// The server refused or did not answer; the next run retries (apply is level-triggered).
    Failed {
        /// The region.
        region: Region,
        /// The stream.
        stream: StreamName,
        /// What went wrong.
        error: JsError,
    },
}

impl Change {
    /// Whether the world was changed.
    pub fn is_change(&self) -> bool {
        matches!(self, Self::Created { .. } | Self::Updated { .. })
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Created { region, stream } => write!(f, "{region}/{stream}: created"),
            Self::Updated {
                region,
                stream,
                fields,
            } => write!(f, "{region}/{stream}: updated {}", fields.join(", ")),
            Self::NeedsOperator(drift) => write!(f, "{drift} [not changed]"),
            Self::Failed {
                region,
                stream,
                error,
            } => write!(f, "{region}/{stream}: failed: {error}"),
        }
    }
}

/// How long `apply_stream` retries a stream whose failure is transient: placement before every
/// peer of a just-started cluster has registered (10005, seen on 2.10.26 right after the meta
/// leader is elected), a meta-leader election, a timeout.
const TRANSIENT_RETRY: std::time::Duration = std::time::Duration::from_secs(20);

/// Makes one stream match: create it if missing, else set the drifted owned fields on the full
/// config just read and write it all back. Never deletes; never restores a fenced stream's
/// subjects or turns a promoted stream back into a mirror (plan reports those as state).
/// Transient failures are retried (every attempt is idempotent) for up to 20 s.
pub async fn apply_stream(expected: &ExpectedStream, js: &JsApi) -> Vec<Change> {
    let deadline = tokio::time::Instant::now() + TRANSIENT_RETRY;
    loop {
        let changes = apply_stream_once(expected, js).await;
        let transient = changes
            .iter()
            .any(|c| matches!(c, Change::Failed { error, .. } if error.is_retryable()));
        if !transient || tokio::time::Instant::now() >= deadline {
            return changes;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

async fn apply_stream_once(expected: &ExpectedStream, js: &JsApi) -> Vec<Change> {
    let region = expected.region.clone();
    let stream = expected.name.clone();
    let failed = |error| {
        vec![Change::Failed {
            region: region.clone(),
            stream: stream.clone(),
            error,
        }]
    };
    let current = match js.find_stream(stream.as_str()).await {
        Ok(current) => current,
        Err(error) => return failed(error),
    };
    let Some(current) = current else {
        return match js.stream_create(&expected.config).await {
            Ok(_) => vec![Change::Created { region, stream }],
            Err(error) => failed(error),
        };
    };

    let mut config = current.config;
    let mut fields = Vec::new();
    let mut changes = Vec::new();
    for drift in diff(expected, Some(&config)) {
        match drift {
            Drift::Field { field, want, .. } => {
                config.set(field.clone(), want);
                fields.push(field);
            }
            d if d.is_state() => {}
            d => changes.push(Change::NeedsOperator(d)),
        }
    }
    if !fields.is_empty() {
        match js.stream_update(&config).await {
            Ok(_) => changes.push(Change::Updated {
                region,
                stream,
                fields,
            }),
            Err(error) => changes.extend(failed(error)),
        }
    }
    changes
}

/// Makes every region hold the expected streams, one stream at a time in the order given
/// ([`super::expected::expected`] lists sources before mirrors). Idempotent: a second run right
/// after a successful one returns no [`Change::is_change`] entries. Streams natsdr does not
/// manage are never read or written.
pub async fn apply(expected: &[ExpectedStream], apis: &BTreeMap<Region, JsApi>) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut unknown: Vec<Region> = Vec::new();
    for e in expected {
        match apis.get(&e.region) {
            Some(js) => changes.extend(apply_stream(e, js).await),
            None if !unknown.contains(&e.region) => {
                unknown.push(e.region.clone());
                changes.push(Change::NeedsOperator(Drift::Unobserved {
                    region: e.region.clone(),
                }));
            }
            None => {}
        }
    }
    changes
}
