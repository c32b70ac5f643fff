//! The HTTP API (axum): health, metrics, status and observations for reading; operator commands
//! that go to the state-owning driver task. The API never mutates state itself.
pub mod audit;
pub mod audit_publish;
pub mod auth;
pub mod model;
pub mod server;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use prometheus_client::registry::Registry;
use serde_json::json;
use tokio::sync::{mpsc, oneshot, watch};

use crate::model::Region;
use crate::telemetry::Metrics;
use audit::{AuditLog, AuditRecord};
use auth::{Grant, Tokens};
use model::{Command, CommandBody, CommandKind, CommandOutcome, Observations, Status};

/// A command on its way to the driver, with the channel for its answer.
#[derive(Debug)]
pub struct CommandRequest {
    /// The checked command.
    pub command: Command,
    /// Where the driver answers.
    pub reply: oneshot::Sender<CommandOutcome>,
}

/// Everything the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct ApiContext {
    /// Latest status, published by the driver.
    pub status: watch::Receiver<Arc<Status>>,
    /// Latest observations, published by the driver.
    pub observations: watch::Receiver<Arc<Observations>>,
    /// True once config is loaded and the first probe round is done.
    pub ready: watch::Receiver<bool>,
    /// Commands to the driver.
    pub commands: mpsc::Sender<CommandRequest>,
    /// The metrics registry.
    pub registry: Arc<Registry>,
    /// Metric handles (commands are counted here).
    pub metrics: Metrics,
    /// Accepted tokens.
    pub tokens: Arc<Tokens>,
    /// Whether reads need a token.
    pub read_requires_token: bool,
    /// Where commands are audited.
    pub audit: AuditLog,
    /// Configured regions (a command's `to` must be one).
    pub regions: Vec<Region>,
    /// What one client may hold of the server (`[api]`).
    pub limits: crate::config::ApiLimits,
    /// HTTPS (`[api.tls]`); none: plain HTTP.
    pub tls: Option<Arc<tls::TlsSource>>,
}

/// How long a command waits for the driver before answering 503.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// The router with every route.
pub fn router(ctx: ApiContext) -> Router {
    Router::new()
        .route("/livez", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/status", get(status))
        .route("/v1/observations", get(observations))
        .route("/v1/dns-health/{region}", get(dns_health))
        .route("/v1/{command}", post(command))
        .with_state(ctx)
}

/// Serves the API on `addr` until `shutdown` resolves.
pub async fn serve(
    addr: SocketAddr,
    ctx: ApiContext,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    serve_on(listener, ctx, shutdown).await
}

pub use server::serve_on;

/// A JSON error body: `{"error": "..."}`.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.0, Json(json!({ "error": self.1 }))).into_response();
        if self.0 == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// Checks the caller's token against what the route needs; returns the caller's name.
fn authorize(ctx: &ApiContext, headers: &HeaderMap, need: Grant) -> Result<String, ApiError> {
    if need == Grant::Read && !ctx.read_requires_token {
        return Ok("anonymous".into());
    }
    if ctx.tokens.is_empty() {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "no API token is configured on this watchdog (api.token_file): commands are disabled"
                .into(),
        ));
    }
    let Some(presented) = bearer(headers) else {
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "missing bearer token".into(),
        ));
    };
    match ctx.tokens.check(presented) {
        None => Err(ApiError(StatusCode::UNAUTHORIZED, "invalid token".into())),
        Some((_, Grant::Read)) if need == Grant::Admin => Err(ApiError(
            StatusCode::FORBIDDEN,
            "this token may read but not send commands".into(),
        )),
        Some((name, _)) => Ok(name.to_owned()),
    }
}

async fn readyz(State(ctx): State<ApiContext>) -> Response {
    if *ctx.ready.borrow() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: first probe round not done\n",
        )
            .into_response()
    }
}

async fn metrics(State(ctx): State<ApiContext>) -> Response {
    let body = crate::telemetry::metrics::encode(&ctx.registry);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn status(State(ctx): State<ApiContext>, headers: HeaderMap) -> Response {
    match authorize(&ctx, &headers, Grant::Read) {
        Ok(_) => Json(ctx.status.borrow().as_ref().clone()).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn observations(State(ctx): State<ApiContext>, headers: HeaderMap) -> Response {
    match authorize(&ctx, &headers, Grant::Read) {
        Ok(_) => Json(ctx.observations.borrow().as_ref().clone()).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Route 53 health checks hit this: 200 only while `region` is the active, unfenced region per
/// the current epoch, so DNS failover records move traffic without any API call.
async fn dns_health(State(ctx): State<ApiContext>, Path(region): Path<String>) -> Response {
    let Ok(region) = Region::new(region) else {
        return ApiError(StatusCode::NOT_FOUND, "no such region".into()).into_response();
    };
    if !ctx.regions.contains(&region) {
        return ApiError(
            StatusCode::NOT_FOUND,
            format!("{region} is not a configured region"),
        )
        .into_response();
    }
    let s = ctx.status.borrow().clone();
    let fenced = s.regions.iter().any(|r| r.region == region && r.fenced);
    let active = s.active_region.as_ref() == Some(&region);
    let body = json!({ "region": region, "active": active, "fenced": fenced, "epoch": s.epoch });
    let code = if active && !fenced {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

fn kind(path: &str) -> Option<CommandKind> {
    Some(match path {
        "pause" => CommandKind::Pause,
        "resume" => CommandKind::Resume,
        "switchover" => CommandKind::Switchover,
        "failover" => CommandKind::Failover,
        "failback" => CommandKind::Failback,
        "ack" => CommandKind::Ack,
        _ => return None,
    })
}

async fn command(
    State(ctx): State<ApiContext>,
    Path(path): Path<String>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    body: Body,
) -> Response {
    let Some(kind) = kind(&path) else {
        return ApiError(StatusCode::NOT_FOUND, format!("no command {path:?}")).into_response();
    };
    let mut audit = AuditRecord {
        at: now_rfc3339(),
        who: "anonymous".into(),
        role: None,
        source: server::source(&extensions),
        command: kind.as_str().into(),
        reason: String::new(),
        dry_run: false,
        allow_data_loss: false,
        outcome: String::new(),
        message: String::new(),
        suppressed: 0,
    };
    let finish = |audit: &mut AuditRecord, outcome: &str, metric: &str, err: ApiError| {
        audit.outcome = outcome.into();
        audit.message = err.1.clone();
        ctx.audit.record(audit);
        ctx.metrics.command(kind.as_str(), metric);
        err.into_response()
    };
    match authorize(&ctx, &headers, Grant::Admin) {
        Ok(who) => {
            audit.who = who;
            audit.role = Some(Grant::Admin.as_str().into());
        }
        Err(e) => {
            // A valid token without the grant is still named, with its role.
            if let Some((name, grant)) = bearer(&headers).and_then(|p| ctx.tokens.check(p)) {
                audit.who = name.into();
                audit.role = Some(grant.as_str().into());
            }
            return finish(&mut audit, "unauthorized", "unauthorized", e);
        }
    }
    // Only now, with the token checked, is the body read, and never past the limit: a declared
    // length over it is refused unread, one that lies is cut off at the limit.
    let max = ctx.limits.max_body;
    let too_large = || {
        ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("a command body is at most {max} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > u64::try_from(max).unwrap_or(u64::MAX)) {
        return finish(&mut audit, "too_large", "refused", too_large());
    }
    let body = match axum::body::to_bytes(body, max)
        .await
        .map_err(axum::Error::into_inner)
    {
        Ok(b) => b,
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return finish(&mut audit, "too_large", "refused", too_large());
        }
        Err(_) => {
            let e = ApiError(
                StatusCode::BAD_REQUEST,
                "the request body could not be read".into(),
            );
            return finish(&mut audit, "bad_request", "refused", e);
        }
    };
    let command = match parse_command(kind, &body, &audit.who, &ctx.regions) {
        Ok(c) => c,
        Err(e) => return finish(&mut audit, "bad_request", "refused", e),
    };
    audit.reason = command.reason.clone();
    audit.dry_run = command.dry_run;
    audit.allow_data_loss = command.allow_data_loss;

    let (reply, answer) = oneshot::channel();
    let sent = ctx
        .commands
        .send_timeout(CommandRequest { command, reply }, COMMAND_TIMEOUT)
        .await;
    let outcome = match sent {
        Ok(()) => tokio::time::timeout(COMMAND_TIMEOUT, answer).await,
        Err(_) => {
            let e = ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                "the driver is not taking commands".into(),
            );
            return finish(&mut audit, "unavailable", "refused", e);
        }
    };
    let outcome = match outcome {
        Ok(Ok(o)) => o,
        _ => {
            let e = ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                "the driver did not answer in time".into(),
            );
            return finish(&mut audit, "unavailable", "refused", e);
        }
    };
    audit.outcome = if outcome.accepted {
        "accepted"
    } else {
        "refused"
    }
    .into();
    audit.message = outcome.message.clone();
    ctx.audit.record(&audit);
    ctx.metrics.command(
        kind.as_str(),
        if outcome.accepted {
            "accepted"
        } else {
            "refused"
        },
    );
    let code = match (outcome.accepted, outcome.dry_run) {
        (true, true) => StatusCode::OK,
        (true, false) => StatusCode::ACCEPTED,
        (false, _) => StatusCode::CONFLICT,
    };
    (code, Json(outcome)).into_response()
}

fn parse_command(
    kind: CommandKind,
    body: &[u8],
    who: &str,
    regions: &[Region],
) -> Result<Command, ApiError> {
    let bad = |m: String| ApiError(StatusCode::BAD_REQUEST, m);
    let body: CommandBody = if body.iter().all(u8::is_ascii_whitespace) {
        CommandBody::default()
    } else {
        serde_json::from_slice(body).map_err(|e| bad(format!("malformed body: {e}")))?
    };
    let reason = body
        .reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            bad("reason is required: say why (it goes to the audit log and the pages)".into())
        })?;
    if reason.len() > 1000 {
        return Err(bad("reason is longer than 1000 characters".into()));
    }
    if body.allow_data_loss && kind != CommandKind::Failover {
        return Err(bad(format!(
            "allow_data_loss applies to failover only, not {}",
            kind.as_str()
        )));
    }
    let to = match body.to {
        None => None,
        Some(_) if !matches!(kind, CommandKind::Switchover | CommandKind::Failover) => {
            return Err(bad(format!(
                "`to` applies to switchover and failover only, not {}",
                kind.as_str()
            )));
        }
        Some(t) => match Region::new(t.clone()) {
            Ok(r) if regions.contains(&r) => Some(r),
            _ => return Err(bad(format!("{t:?} is not a configured region"))),
        },
    };
    Ok(Command {
        kind,
        reason,
        by: who.to_owned(),
        dry_run: body.dry_run,
        allow_data_loss: body.allow_data_loss,
        to,
    })
}

/// Current UTC time in RFC 3339, for records people read.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
