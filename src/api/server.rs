//! The API's HTTP server, bounded in what one client can hold of it: connections beyond
//! `api.max_connections` are closed when accepted, a connection that sends no whole request head
//! within `api.header_timeout` (idle keep-alive included) is closed, a request not answered
//! within `api.request_timeout` gets 408, requests beyond `api.max_in_flight` get 503 at once,
//! and bodies are refused before they are read (`api.max_body`, checked by the command handler
//! after the token). A flood of slow or idle clients therefore never keeps operators or the
//! peers' vote fetches out. Every error answer is a JSON body.
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::sync::Semaphore;
use tower::{BoxError, ServiceBuilder, ServiceExt as _};
use tower_http::timeout::TimeoutLayer;

use super::{ApiContext, ApiError, router};

/// How long open connections may finish their requests after shutdown begins.
const DRAIN: Duration = Duration::from_secs(5);

/// Serves the API on an already bound listener (tests bind port 0) until `shutdown` resolves,
/// within the context's limits.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    ctx: ApiContext,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = ctx.limits;
    let metrics = ctx.metrics.clone();
    let tls = ctx.tls.clone();
    let app = bounded(router(ctx), limits.max_in_flight, limits.request_timeout);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors or a connection reset before accept: the listener
                    // itself is fine; pause so a persistent error does not spin.
                    tracing::warn!(error = %e, "api: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            metrics.api_connection_refused();
            drop(stream);
            continue;
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(req.map(Body::new))
        });
        let http = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .clone();
        let watcher = graceful.watcher();
        let acceptor = tls.as_ref().map(|t| t.acceptor());
        tokio::spawn(async move {
            // A client that goes away, times out or fails its handshake ends its connection;
            // nothing to report beyond a debug line.
            match acceptor {
                None => {
                    let _ = watcher
                        .watch(http.serve_connection(TokioIo::new(stream), service))
                        .await;
                }
                Some(acceptor) => {
                    // The handshake is bounded like a request head.
                    match tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await
                    {
                        Ok(Ok(tls)) => {
                            let _ = watcher
                                .watch(http.serve_connection(TokioIo::new(tls), service))
                                .await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "api: TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(%peer, "api: TLS handshake timed out"),
                    }
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN) => {
            tracing::warn!("api: connections still open after {DRAIN:?} of shutdown; closing them");
        }
    }
    Ok(())
}

/// The router behind the request limits, every error answer made JSON.
fn bounded(app: Router, max_in_flight: usize, request_timeout: Duration) -> Router {
    app.layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(overloaded))
            .load_shed()
            .concurrency_limit(max_in_flight)
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                request_timeout,
            )),
    )
    .layer(axum::middleware::map_response(json_errors))
}

async fn overloaded(e: BoxError) -> Response {
    let msg = if e.is::<tower::load_shed::error::Overloaded>() {
        "too many requests in flight; retry shortly".to_owned()
    } else {
        format!("the request failed: {e}")
    };
    ApiError(StatusCode::SERVICE_UNAVAILABLE, msg).into_response()
}

/// An error answer that is not JSON yet (a layer's 408, axum's own 404/405/413) becomes
/// `{"error": "<reason>"}`, so clients parse one shape.
async fn json_errors(r: Response) -> Response {
    let status = r.status();
    let is_json = r
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return r;
    }
    let (parts, body) = r.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_owned();
    let reason = status.canonical_reason().unwrap_or("error").to_lowercase();
    let msg = if text.is_empty() {
        reason
    } else {
        format!("{reason}: {text}")
    };
    let mut out = ApiError(status, msg).into_response();
    for (k, v) in &parts.headers {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            out.headers_mut().insert(k, v.clone());
        }
    }
    out
}

/// The source address of a request, as the connection saw it.
pub fn source(req_ext: &axum::http::Extensions) -> Option<SocketAddr> {
    req_ext
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| *a)
}
