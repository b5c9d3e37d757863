//! The HTTP endpoint: `/metrics` (OpenMetrics text), `/status` (JSON
//! inventory, PTP and cleanup state) and `/healthz`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::Shared;
use crate::metrics::text004;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const TEXT_004: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `/metrics`, `/status`, `/healthz`, and the notification API when it is
/// on and has no listener of its own.
pub fn router(shared: Arc<Shared>) -> Router {
    let own_listener =
        shared.config.notifications.listen.is_some_and(|a| a != shared.config.http.listen);
    let notify = shared.notify.get().filter(|_| !own_listener).cloned();
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .route("/healthz", get(healthz))
        .with_state(shared);
    match notify {
        Some(hub) => app.merge(crate::notify::api::router(hub)),
        None => app,
    }
}

/// Serves until `cancel`, bounding what a client can hold: the headers of
/// each request within `header_timeout_seconds`, each connection at most
/// `connection_lifetime_seconds`, at most `max_connections` at once (more
/// are closed right after accept and counted). A client that sends half a
/// request or never closes costs one slot for a bounded time.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let app = router(shared.clone());
    serve_app(listener, app, shared, cancel).await
}

/// [`serve`] for any router, with the same limits.
pub async fn serve_app(
    listener: TcpListener,
    app: Router,
    shared: Arc<Shared>,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let limits = shared.config.http.clone();
    let slots = Arc::new(Semaphore::new(limits.max_connections.get()));
    let tracker = TaskTracker::new();
    loop {
        let stream = tokio::select! {
            () = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            shared.metrics.http_refused.inc();
            drop(stream);
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        let (cancel, limits) = (cancel.clone(), limits.clone());
        tracker.spawn(async move {
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout_seconds.get());
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                () = tokio::time::sleep(limits.connection_lifetime_seconds.get()) => {}
                () = cancel.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(1), conn).await;
                }
            }
            drop(slot);
        });
    }
    tracker.close();
    tracker.wait().await;
    Ok(())
}

/// OpenMetrics for clients that ask for it (Prometheus does), the 0.0.4
/// text format for everyone else.
async fn metrics(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let wants_om = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    match s.metrics.encode() {
        Ok(body) if wants_om => ([(header::CONTENT_TYPE, OPENMETRICS)], body).into_response(),
        Ok(body) => {
            ([(header::CONTENT_TYPE, TEXT_004)], text004::from_openmetrics(&body)).into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn status(State(s): State<Arc<Shared>>) -> Response {
    let body = serde_json::json!({
        "inventory": &*s.inventory.get(),
        "ptp": s.ptp_status(),
        "ptp_instances": s.ptp_instances().into_iter().collect::<std::collections::BTreeMap<_, _>>(),
        "os_clock": s.os_clock(),
        "cleanup": { "watched": s.stale_watched() },
    });
    axum::Json(body).into_response()
}

/// 200 `ok`, or 503 with one line per problem (see [`crate::health`]).
async fn healthz(State(s): State<Arc<Shared>>) -> Response {
    let problems = s.health_problems();
    if problems.is_empty() {
        return (StatusCode::OK, "ok\n").into_response();
    }
    (StatusCode::SERVICE_UNAVAILABLE, format!("{}\n", problems.join("\n"))).into_response()
}
