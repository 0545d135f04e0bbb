//! Service endpoints: health, readiness, the OpenAPI document, the clock
//! and the audit log.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

use super::common::{Allowed, ManageSites, parse_json, reply};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::responses::{Conflict, Forbidden, Invalid, Unauthorized};
use crate::store::AuditEntry;

/// The routes of this resource.
pub(crate) fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(ready))
        .route("/metrics", get(crate::metrics::render))
        .route("/v1/audit", get(audit_log))
        .route("/v1/clock", get(get_clock).post(advance_clock))
}

/// This resource's part of the OpenAPI document.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(paths(
    healthz,
    ready,
    crate::metrics::render,
    audit_log,
    get_clock,
    advance_clock
))]
pub(crate) struct Doc;

/// Whether the process runs.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "service",
    security(()),
    responses((status = 200, description = "The process runs", body = String))
)]
async fn healthz() -> &'static str {
    "ok\n"
}

/// Whether the database answers.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "service",
    security(()),
    responses(
        (status = 200, description = "The database answers", body = String),
        (status = 503, description = "The database does not answer", body = String),
    )
)]
async fn ready(State(state): State<Arc<AppState>>) -> Response {
    match state.store.ping().await {
        Ok(()) => "ready\n".into_response(),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the database does not answer\n",
        )
            .into_response(),
    }
}

#[utoipa::path(
    get,
    path = "/v1/audit",
    tag = "service",
    responses(
        (status = 200, description = "Every write, newest first: who (key id), what (method, path, status), when", body = AuditLog),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    )
)]
async fn audit_log(
    State(state): State<Arc<AppState>>,
    _: Allowed<ManageSites>,
) -> Result<Response, ApiError> {
    let entries = state.store.audit_log().await?;
    reply(StatusCode::OK, &AuditLog { entries })
}

#[utoipa::path(
    get,
    path = "/v1/clock",
    tag = "service",
    responses(
        (status = 200, description = "The service's clock: now, and whether it is simulated", body = ClockNow),
        (status = 401, response = Unauthorized),
    )
)]
async fn get_clock(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
) -> Result<Response, ApiError> {
    clock_json(&state)
}

fn clock_json(state: &AppState) -> Result<Response, ApiError> {
    reply(
        StatusCode::OK,
        &ClockNow {
            now: state
                .clock
                .now()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            simulated: state.clock.is_simulated(),
        },
    )
}

/// The service's clock.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ClockNow {
    /// Now on the service's clock (RFC 3339, milliseconds).
    now: String,
    /// Whether the clock is simulated (`[clock]`) rather than the wall clock.
    simulated: bool,
}

/// The audit log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct AuditLog {
    /// Every write, newest first.
    entries: Vec<AuditEntry>,
}

/// Moves a simulated clock.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Advance {
    minutes: i64,
}

#[utoipa::path(
    post,
    path = "/v1/clock",
    tag = "service",
    request_body = Advance,
    responses(
        (status = 200, description = "The simulated clock, moved on", body = ClockNow),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 422, response = Invalid),
    )
)]
async fn advance_clock(
    State(state): State<Arc<AppState>>,
    _: Allowed<ManageSites>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let advance: Advance = parse_json(&body)?;
    if !(1..=525_600).contains(&advance.minutes) {
        return Err(ApiError::field(
            "minutes",
            format!("({}) must be 1 to 525600", advance.minutes),
        ));
    }
    let by = TimeDelta::minutes(advance.minutes);
    if state
        .shared_clock
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        // Every replica on the database moves with it.
        let shared = state.store.advance_shared_clock(by).await?;
        state.clock.adopt(shared.epoch, shared.advanced);
    } else if !state.clock.advance(by) {
        return Err(ApiError::conflict(
            "the service runs on the wall clock; only a simulated clock ([clock]) can be advanced",
        ));
    }
    clock_json(&state)
}
