//! The HTTP layer: one module per resource, each with its `router()`, its
//! request types and its part of the OpenAPI document (`Doc`); the pieces
//! they share in [`common`]. Every `/v1` route needs a bearer key; writes
//! are recorded in the audit table by one layer (`audit.rs`).

mod audit;
pub(crate) mod backtests;
pub(crate) mod charging;
pub(crate) mod common;
mod dashboard;
pub(crate) mod fleet;
pub(crate) mod jobs;
mod openapi;
pub(crate) mod outturn;
pub(crate) mod plans;
pub(crate) mod prices;
pub(crate) mod service;
pub(crate) mod sites;
pub(crate) mod telemetry;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;

use crate::AppState;
use crate::error::ApiError;

/// The service's routes: every resource's, with metrics, the body limit and
/// the request timeout.
pub fn router(state: Arc<AppState>) -> Router {
    let body_limit = state.config.max_body_bytes;
    let timeout = Duration::from_secs(state.config.request_timeout_seconds);
    Router::new()
        .merge(service::router())
        .merge(openapi::router())
        .merge(dashboard::router())
        .merge(sites::router())
        .merge(fleet::router())
        .merge(prices::router())
        .merge(charging::router())
        .merge(telemetry::router())
        .merge(jobs::router())
        .merge(plans::router())
        .merge(outturn::router())
        .merge(backtests::router())
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            audit::record,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            crate::metrics::track,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .with_state(state)
}
