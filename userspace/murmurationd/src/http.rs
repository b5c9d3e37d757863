//! The HTTP endpoint: `/metrics` (OpenMetrics text), `/status` (JSON
//! inventory, PTP and cleanup state) and `/healthz`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::Shared;
use crate::metrics::text004;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const TEXT_004: &str = "text/plain; version=0.0.4; charset=utf-8";

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .route("/healthz", get(healthz))
        .with_state(shared)
}

pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(shared))
        .with_graceful_shutdown(async move { cancel.cancelled().await })
        .await
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
