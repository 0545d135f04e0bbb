//! Metered charging load and the controller's own charging forecast
//! (controllers write, JSON or CSV).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::put;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use arbiter_backtest::SiteConfig;

use super::common::{allow, audit, csv_rows, is_csv, json, load_site, parse_json};
use crate::auth::{Action, Caller};
use crate::error::responses::{BadRequest, Forbidden, Invalid, NotFound, Unauthorized};
use crate::error::{ApiError, FieldIssue};
use crate::{AppState, blocking};

/// The routes of this resource.
pub(crate) fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/sites/{site}/charging", put(put_charging))
        .route(
            "/v1/sites/{site}/charging/forecast",
            put(put_charging_forecast),
        )
}

/// This resource's part of the OpenAPI document.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(paths(put_charging, put_charging_forecast))]
pub(crate) struct Doc;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Reading {
    timestamp_utc: DateTime<Utc>,
    kw: f64,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Charging {
    readings: Vec<Reading>,
}

/// Charging readings (or forecast values) from a JSON or CSV body, each on
/// one of the site's interval starts and ≥ 0 kW.
fn charging_rows(
    config: &SiteConfig,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<(String, f64)>, ApiError> {
    // CSV: rows `timestamp_utc,kw`; reading i is on line i + 2.
    let csv = is_csv(headers);
    let name = |i: usize, column: &str| {
        if csv {
            format!("line {}.{column}", i + 2)
        } else {
            format!("readings[{i}].{column}")
        }
    };
    let upload: Charging = if csv {
        Charging {
            readings: csv_rows(body)?,
        }
    } else {
        parse_json(body)?
    };
    let step = i64::from(config.site.interval_minutes) * 60;
    let mut issues = Vec::new();
    for (i, reading) in upload.readings.iter().enumerate() {
        if !(reading.kw.is_finite() && reading.kw >= 0.0) {
            issues.push(FieldIssue {
                field: name(i, "kw"),
                message: format!("({}) must be a number ≥ 0", reading.kw),
            });
        }
        if reading.timestamp_utc.timestamp().rem_euclid(step) != 0 {
            issues.push(FieldIssue {
                field: name(i, "timestamp_utc"),
                message: format!(
                    "({}) must start one of the site's {}-minute intervals",
                    reading.timestamp_utc.to_rfc3339(),
                    config.site.interval_minutes
                ),
            });
        }
    }
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let rows: Vec<(String, f64)> = upload
        .readings
        .iter()
        .map(|r| {
            (
                r.timestamp_utc
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                r.kw,
            )
        })
        .collect();
    Ok(rows)
}

#[utoipa::path(
    put,
    path = "/v1/sites/{site}/charging",
    tag = "charging",
    params(("site" = String, Path, description = "The site id")),
    request_body(
        description = "Metered charging load: JSON, or CSV rows timestamp_utc,kw",
        content((Charging = "application/json"), (String = "text/csv")),
    ),
    responses(
        (status = 200, description = "Readings stored (a reading for a stored instant replaces it)", body = serde_json::Value),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Invalid),
    )
)]
async fn put_charging(
    State(state): State<Arc<AppState>>,
    Path(site): Path<String>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    allow(&caller, Action::OperateSite(&site))?;
    let (_, config) = load_site(&state, &site).await?;
    let rows = charging_rows(&config, &headers, &body)?;
    let id = site.clone();
    let written = blocking(&state, move |store| store.put_charging(&id, &rows)).await??;
    audit(
        &state,
        &caller,
        Method::PUT,
        format!("/v1/sites/{site}/charging"),
        StatusCode::OK,
    )
    .await;
    Ok(json(
        StatusCode::OK,
        serde_json::json!({ "stored": written }).to_string(),
    ))
}

/// A controller's own charging forecast: values for coming intervals (JSON
/// `{"readings": […]}` or CSV `timestamp_utc,kw`). Plans use them where
/// they cover the horizon, the model's forecast elsewhere.
#[utoipa::path(
    put,
    path = "/v1/sites/{site}/charging/forecast",
    tag = "charging",
    params(("site" = String, Path, description = "The site id")),
    request_body(
        description = "Forecast charging load per interval: JSON, or CSV rows timestamp_utc,kw",
        content((Charging = "application/json"), (String = "text/csv"))
    ),
    responses(
        (status = 200, description = "Values stored (a value for an instant already forecast replaces it)", body = serde_json::Value),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Invalid),
    )
)]
async fn put_charging_forecast(
    State(state): State<Arc<AppState>>,
    Path(site): Path<String>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    allow(&caller, Action::OperateSite(&site))?;
    let (_, config) = load_site(&state, &site).await?;
    let rows = charging_rows(&config, &headers, &body)?;
    let issued_at = state
        .clock
        .now()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let id = site.clone();
    let written = blocking(&state, move |store| {
        store.put_charging_forecast(&id, &rows, &issued_at)
    })
    .await??;
    audit(
        &state,
        &caller,
        Method::PUT,
        format!("/v1/sites/{site}/charging/forecast"),
        StatusCode::OK,
    )
    .await;
    Ok(json(
        StatusCode::OK,
        serde_json::json!({ "stored": written }).to_string(),
    ))
}
