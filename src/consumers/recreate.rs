//! `Recreator`: puts tracked consumers on a promoted stream, each just after its ack floor,
//! concurrently and within a time bound, one refusal never stopping the others.
use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Map, Value, json};

use super::error::ConsumersError;
use super::info::ConsumerInfo;
use super::position::{Plan, Position, plan};
use crate::model::Region;
use crate::nats::{JsApi, JsError, codes};

/// Fields dropped, one per attempt, when the target server rejects them as unknown (a newer
/// server's config recreated on an older one).
const MAX_DROPPED_FIELDS: usize = 8;

/// Recreates consumers on one region's promoted streams.
#[derive(Debug, Clone)]
pub struct Recreator<'a> {
    /// The promoted region.
    pub region: &'a Region,
    /// Its application account's JetStream API.
    pub js: &'a JsApi,
    /// Consumers handled at once.
    pub concurrency: usize,
    /// The whole recreation of one stream gives up after this: a failover never waits on it.
    pub budget: Duration,
}

/// What became of one stream's tracked consumers.
#[derive(Debug, Default)]
pub struct Recreated {
    /// Created just after their floor.
    pub created: Vec<String>,
    /// Already present at or past their floor: left alone.
    pub left: Vec<String>,
    /// Present but behind their floor: replaced.
    pub replaced: Vec<String>,
    /// Refused by the server (its error says why), or not reached within the budget.
    pub failed: Vec<ConsumersError>,
}

enum Outcome {
    Created,
    Left,
    Replaced,
}

impl Recreator<'_> {
    /// Recreates `positions` on `stream`. What the promoted stream already holds (its last
    /// sequence, its consumers and their floors) is read once for the stream, not once per
    /// consumer: on the RTO's path only the creations themselves remain per consumer.
    pub async fn recreate(&self, stream: &str, positions: Vec<Position>) -> Recreated {
        let total = positions.len();
        let mut out = Recreated::default();
        let deadline = tokio::time::Instant::now() + self.budget;
        let timed_out = |what: String| ConsumersError::TimedOut {
            region: self.region.clone(),
            what,
            after: self.budget,
        };
        let read = tokio::time::timeout_at(
            deadline,
            futures::future::join(
                self.js.stream_info(stream),
                self.js.consumer_list::<ConsumerInfo>(stream),
            ),
        )
        .await;
        let (info, listed) = match read {
            Ok(r) => r,
            Err(_) => {
                out.failed.push(timed_out(format!(
                    "{stream}: its consumers not listed, {total} consumers not recreated"
                )));
                return out;
            }
        };
        let last_seq = match info {
            Ok(info) => info.state.last_seq,
            Err(e) => {
                out.failed.push(self.api(stream.to_owned())(e));
                return out;
            }
        };
        let existing: HashMap<String, u64> = match listed {
            Ok(list) => list
                .into_iter()
                .map(|c| {
                    let floor = c.floor();
                    (c.name, floor)
                })
                .collect(),
            Err(e) => {
                out.failed
                    .push(self.api(format!("{stream}: its consumers"))(e));
                return out;
            }
        };
        let existing = &existing;
        // NB: a creation waits on the server's meta layer and, many at once, queues behind the
        // others: the per-request timeout (the probe timeout) would give up on creations still
        // under way, and lose those consumers. The budget bounds them all instead.
        let js = &self.js.with_timeout(self.budget);
        let mut work = futures::stream::iter(positions)
            .map(|p| async move {
                let floor = existing.get(&p.consumer).copied();
                let r = self.one(js, stream, &p, floor, last_seq).await;
                (p.consumer, r)
            })
            .buffer_unordered(self.concurrency.max(1));
        let mut done = 0;
        loop {
            match tokio::time::timeout_at(deadline, work.next()).await {
                Ok(Some((name, result))) => {
                    done += 1;
                    match result {
                        Ok(Outcome::Created) => out.created.push(name),
                        Ok(Outcome::Left) => out.left.push(name),
                        Ok(Outcome::Replaced) => out.replaced.push(name),
                        Err(e) => out.failed.push(e),
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    out.failed.push(timed_out(format!(
                        "{stream}: {} consumers not recreated",
                        total - done
                    )));
                    break;
                }
            }
        }
        out
    }

    fn api(&self, what: String) -> impl FnOnce(JsError) -> ConsumersError {
        let region = self.region.clone();
        move |source| ConsumersError::Api {
            region,
            what,
            source: Box::new(source),
        }
    }

    /// Places one consumer over `js`, `floor` being where the promoted stream's own consumer of that
    /// name stands (None: it has none).
    async fn one(
        &self,
        js: &JsApi,
        stream: &str,
        p: &Position,
        floor: Option<u64>,
        last_seq: u64,
    ) -> Result<Outcome, ConsumersError> {
        let name = &p.consumer;
        let what = || format!("{stream}/{name}");
        match plan(p, floor, last_seq) {
            Plan::Leave { floor } => {
                tracing::info!(region = %self.region, stream, consumer = %name, floor, tracked = p.ack_floor, "consumer already at or past its floor: left alone");
                Ok(Outcome::Left)
            }
            Plan::Create(cfg) => {
                self.create(js, stream, name, cfg).await?;
                tracing::info!(region = %self.region, stream, consumer = %name, floor = p.ack_floor, "consumer recreated after its ack floor");
                Ok(Outcome::Created)
            }
            Plan::Replace(cfg) => {
                let _: Value = js
                    .call(&format!("CONSUMER.DELETE.{stream}.{name}"), Value::Null)
                    .await
                    .map_err(self.api(what()))?;
                self.create(js, stream, name, cfg).await?;
                tracing::info!(region = %self.region, stream, consumer = %name, floor = p.ack_floor, behind = ?floor, "consumer behind its tracked floor: replaced");
                Ok(Outcome::Replaced)
            }
        }
    }

    /// CONSUMER.CREATE, dropping a field the server says it does not know and trying again.
    async fn create(
        &self,
        js: &JsApi,
        stream: &str,
        name: &str,
        mut cfg: Map<String, Value>,
    ) -> Result<(), ConsumersError> {
        let mut dropped = 0;
        loop {
            let body = json!({ "stream_name": stream, "config": Value::Object(cfg.clone()) });
            let reply: Result<Value, JsError> = js
                .call(&format!("CONSUMER.CREATE.{stream}.{name}"), body)
                .await;
            let err = match reply {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            let unknown = unknown_field(&err).filter(|f| cfg.contains_key(f));
            match unknown {
                Some(field) if dropped < MAX_DROPPED_FIELDS => {
                    tracing::info!(region = %self.region, stream, consumer = name, field, "target server does not know this consumer field: dropped");
                    cfg.remove(&field);
                    dropped += 1;
                }
                Some(_) | None => {
                    return Err(ConsumersError::Refused {
                        region: self.region.clone(),
                        stream: stream.to_owned(),
                        consumer: name.to_owned(),
                        source: Box::new(err),
                    });
                }
            }
        }
    }
}

/// The field a strict server (2.12+) names in `json: unknown field "x"`.
fn unknown_field(e: &JsError) -> Option<String> {
    let JsError::Api {
        err_code,
        description,
        ..
    } = e
    else {
        return None;
    };
    if *err_code != codes::INVALID_JSON {
        return None;
    }
    let rest = description.split("unknown field").nth(1)?;
    let field = rest.trim().trim_matches('"').split('"').next()?.trim();
    (!field.is_empty()).then(|| field.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(err_code: u32, description: &str) -> JsError {
        JsError::Api {
            subject: "s".into(),
            code: 400,
            err_code,
            description: description.into(),
        }
    }

    #[test]
    fn the_unknown_field_a_strict_server_names_is_found() {
        assert_eq!(
            unknown_field(&api(
                10025,
                "invalid JSON: json: unknown field \"priority_timeout\""
            )),
            Some("priority_timeout".into())
        );
        assert_eq!(
            unknown_field(&api(10025, "invalid JSON: unexpected end")),
            None
        );
        assert_eq!(unknown_field(&api(10012, "unknown field \"x\"")), None);
    }
}
