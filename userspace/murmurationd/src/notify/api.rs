//! The REST side under `/api/ocloudNotifications/v2`: `health`,
//! `publishers`, `subscriptions` (POST, GET list, GET/DELETE one, DELETE
//! all) and `{ResourceAddress}/CurrentState`. Status codes as the O-RAN API
//! defines them: 201 created, 204 deleted, 400 bad request or an endpoint
//! that refused the initial notification, 404 unknown id or resource (GNSS:
//! absent on this node), 409 a duplicate subscription; 507 past the bound.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

use super::store::{StoreError, Subscription};
use super::{Hub, Resource, deliver, event, store};

pub const BASE: &str = "/api/ocloudNotifications/v2";

pub fn router(hub: Arc<Hub>) -> Router {
    let v2 = Router::new()
        .route("/health", get(health))
        .route("/publishers", get(publishers))
        .route("/subscriptions", get(list).post(create).delete(delete_all))
        .route("/subscriptions/{id}", get(get_one).delete(delete_one))
        .route("/{*address}", get(current_state))
        .with_state(hub);
    Router::new().nest(BASE, v2)
}

fn error(code: StatusCode, message: impl std::fmt::Display) -> Response {
    (code, axum::Json(json!({"error": message.to_string()}))).into_response()
}

async fn health() -> Response {
    (StatusCode::OK, "OK").into_response()
}

/// One publisher per resource this node serves (the OpenShift extension).
async fn publishers(State(hub): State<Arc<Hub>>) -> Response {
    let list: Vec<_> = Resource::SERVED
        .into_iter()
        .map(|r| {
            let id = format!("publisher{}", r.path().replace('/', "-"));
            json!({
                "SubscriptionId": id,
                "EndpointUri": format!("{}{BASE}/dummy", hub.base_url),
                "ResourceAddress": hub.address(r),
                "UriLocation": format!("{}{BASE}/publishers/{id}", hub.base_url),
            })
        })
        .collect();
    axum::Json(list).into_response()
}

async fn list(State(hub): State<Arc<Hub>>) -> Response {
    axum::Json(hub.subscriptions()).into_response()
}

async fn get_one(State(hub): State<Arc<Hub>>, Path(id): Path<String>) -> Response {
    match hub.subscription(&id) {
        Some(s) => axum::Json(s).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no subscription {id}")),
    }
}

async fn delete_one(State(hub): State<Arc<Hub>>, Path(id): Path<String>) -> Response {
    match hub.remove(&id) {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => error(StatusCode::NOT_FOUND, format!("no subscription {id}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, crate::chain(&e)),
    }
}

async fn delete_all(State(hub): State<Arc<Hub>>) -> Response {
    match hub.remove_all() {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, crate::chain(&e)),
    }
}

/// The POST body: only these two fields count; others (`SubscriptionId`,
/// `UriLocation`) are the server's to fill.
#[derive(Debug, Deserialize)]
struct NewSubscription {
    #[serde(rename = "EndpointUri", default)]
    endpoint: String,
    #[serde(rename = "ResourceAddress", default)]
    address: String,
}

fn store_error(e: &StoreError) -> Response {
    let code = match e {
        StoreError::Duplicate { .. } => StatusCode::CONFLICT,
        StoreError::Full(_) => StatusCode::INSUFFICIENT_STORAGE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(code, crate::chain(e))
}

/// Validates, sends the initial notification (the endpoint must answer
/// 2xx, else 400 and nothing is stored), then commits and persists.
async fn create(State(hub): State<Arc<Hub>>, body: Bytes) -> Response {
    let req: NewSubscription = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("body: {e}")),
    };
    if req.endpoint.is_empty() || req.address.is_empty() {
        return error(StatusCode::BAD_REQUEST, "EndpointUri and ResourceAddress are required");
    }
    if let Err(e) = deliver::Endpoint::parse(&req.endpoint) {
        return error(StatusCode::BAD_REQUEST, format!("EndpointUri: {e}"));
    }
    let Some(resources) = store::resolve(&hub.node_prefix, &req.address) else {
        return error(StatusCode::NOT_FOUND, format!("no resource {} here", req.address));
    };
    let events: Vec<_> = resources.iter().filter_map(|r| hub.current(*r)).collect();
    if events.is_empty() {
        return error(StatusCode::NOT_FOUND, format!("no data for {}", req.address));
    }
    if let Err(e) = hub.check(&req.endpoint, &resources) {
        return store_error(&e);
    }
    for ev in &events {
        if let Err(e) = deliver::post(&req.endpoint, ev.to_string().as_bytes(), hub.timeout()).await
        {
            return error(StatusCode::BAD_REQUEST, format!("initial notification: {e}"));
        }
    }
    let id = event::uuid_v4();
    let sub = Subscription {
        uri_location: format!("{}{BASE}/subscriptions/{id}", hub.base_url),
        id,
        endpoint: req.endpoint,
        address: req.address,
    };
    match hub.add(sub.clone()) {
        Ok(()) => {
            (StatusCode::CREATED, [(header::LOCATION, sub.uri_location.clone())], axum::Json(sub))
                .into_response()
        }
        Err(e) => store_error(&e),
    }
}

/// `GET {ResourceAddress}/CurrentState`, answered without a subscription.
async fn current_state(State(hub): State<Arc<Hub>>, uri: Uri) -> Response {
    let path = uri.path().strip_prefix(BASE).unwrap_or(uri.path());
    let Some(address) = path.strip_suffix("/CurrentState") else {
        return error(StatusCode::NOT_FOUND, format!("no route {path}"));
    };
    let single = store::resolve(&hub.node_prefix, address).and_then(|rs| match rs.as_slice() {
        [r] => Some(*r),
        _ => None,
    });
    let Some(r) = single else {
        return error(StatusCode::NOT_FOUND, format!("no resource {address} here"));
    };
    match hub.current(r) {
        Some(ev) => axum::Json(ev).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("{address} has no state on this node")),
    }
}
