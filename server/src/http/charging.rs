//! Metered charging load and the controller's own charging forecast
//! (controllers write, JSON or CSV).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::put;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use arbiter_backtest::SiteConfig;
use arbiter_optimizer::{POWER_DECIMALS, round_to, rounded};

use super::common::{
    MAX_READ_BACK_DAYS, Operate, Range, Read, SiteFor, Stored, csv_rows, instant_range, is_csv,
    json, load_site, parse_json, reply, rfc, wants,
};
use crate::AppState;
use crate::error::responses::{BadRequest, Forbidden, Invalid, NotFound, Unauthorized};
use crate::error::{ApiError, FieldIssue};

/// The routes of this resource.
pub(crate) fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/v1/sites/{site}/charging",
            put(put_charging).get(get_charging),
        )
        .route(
            "/v1/sites/{site}/charging/forecast",
            put(put_charging_forecast),
        )
}

/// This resource's part of the OpenAPI document.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(paths(put_charging, put_charging_forecast, get_charging))]
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
        description = "Metered charging load as JSON; or, with Content-Type: text/csv, CSV rows timestamp_utc,kw under that header",
        content((Charging = "application/json")),
    ),
    responses(
        (status = 200, description = "Readings stored (a reading for a stored instant replaces it)", body = Stored),
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
    _: SiteFor<Operate>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (_, config) = load_site(&state, &site).await?;
    let rows = charging_rows(&config, &headers, &body)?;
    let id = site.clone();
    let written = state.store.put_charging(&id, &rows).await?;
    reply(StatusCode::OK, &Stored { stored: written })
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
        description = "Forecast charging load per interval as JSON; or, with Content-Type: text/csv, CSV rows timestamp_utc,kw under that header",
        content((Charging = "application/json"))
    ),
    responses(
        (status = 200, description = "Values stored (a value for an instant already forecast replaces it)", body = Stored),
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
    _: SiteFor<Operate>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (_, config) = load_site(&state, &site).await?;
    let rows = charging_rows(&config, &headers, &body)?;
    let issued_at = state
        .clock
        .now()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let id = site.clone();
    let written = state
        .store
        .put_charging_forecast(&id, &rows, &issued_at)
        .await?;
    reply(StatusCode::OK, &Stored { stored: written })
}

/// A metered charging reading.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct MeteredReading {
    /// The interval's start.
    timestamp_utc: String,
    /// Charging load averaged over the interval, kW.
    #[serde(serialize_with = "rounded::energy")]
    kw: f64,
}

/// A value of the controller's own charging forecast.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ForecastValue {
    /// The interval's start.
    timestamp_utc: String,
    /// Forecast charging load, kW.
    #[serde(serialize_with = "rounded::energy")]
    kw: f64,
    /// When the controller sent it.
    issued_at: String,
}

/// What a site's plans were built on for charging, over a range.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ChargingHistory {
    /// The site.
    site_id: String,
    /// The range's start (inclusive).
    from: String,
    /// The range's end (exclusive).
    to: String,
    /// Metered load, oldest first.
    readings: Vec<MeteredReading>,
    /// The controller's forecast values, oldest first (the newest value of
    /// each instant).
    forecast: Vec<ForecastValue>,
}

/// The metered charging load and the controller's forecast values stored for
/// a site, over `from` ≤ t < `to` (default: the day before and after the
/// service's clock; at most 31 days). CSV with `Accept: text/csv`: one row
/// per instant, `timestamp_utc,metered_kw,forecast_kw,forecast_issued_at`.
#[utoipa::path(
    get,
    path = "/v1/sites/{site}/charging",
    tag = "charging",
    params(("site" = String, Path, description = "The site id"), Range),
    responses(
        (status = 200, description = "Metered readings and forecast values", content((ChargingHistory = "application/json"), (String = "text/csv"))),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Invalid),
    )
)]
async fn get_charging(
    State(state): State<Arc<AppState>>,
    Path(site): Path<String>,
    Query(range): Query<Range>,
    _: SiteFor<Read>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    load_site(&state, &site).await?;
    let now = state.clock.now();
    let (from, to) = instant_range(
        &range,
        (now - TimeDelta::days(1), now + TimeDelta::days(1)),
        MAX_READ_BACK_DAYS,
    )?;
    let (id, start, end) = (site.clone(), rfc(from), rfc(to));
    let readings = state.store.charging_between(&id, &start, &end).await?;
    // Every value issued, however late: this is history, not a plan.
    let forecast = state
        .store
        .charging_forecast(&id, &start, &end, "9999")
        .await?;
    if wants(&headers, "text/csv") {
        return charging_csv(&readings, &forecast);
    }
    let history = ChargingHistory {
        site_id: site,
        from: rfc(from),
        to: rfc(to),
        readings: readings
            .into_iter()
            .map(|(timestamp_utc, kw)| MeteredReading { timestamp_utc, kw })
            .collect(),
        forecast: forecast
            .into_iter()
            .map(|(timestamp_utc, kw, issued_at)| ForecastValue {
                timestamp_utc,
                kw,
                issued_at,
            })
            .collect(),
    };
    let body =
        serde_json::to_string(&history).map_err(|error| ApiError::internal(error.to_string()))?;
    Ok(json(StatusCode::OK, body))
}

/// One row per instant with a reading or a forecast value.
fn charging_csv(
    readings: &[(String, f64)],
    forecast: &[(String, f64, String)],
) -> Result<Response, ApiError> {
    /// An instant's metered load and forecast value (with when it was sent).
    #[derive(Default)]
    struct Row<'a> {
        metered: Option<f64>,
        forecast: Option<(f64, &'a str)>,
    }
    let mut rows: std::collections::BTreeMap<&str, Row> = std::collections::BTreeMap::new();
    for (at, kw) in readings {
        rows.entry(at).or_default().metered = Some(*kw);
    }
    for (at, kw, issued_at) in forecast {
        rows.entry(at).or_default().forecast = Some((*kw, issued_at));
    }
    let failed = |error: &dyn std::fmt::Display| ApiError::internal(error.to_string());
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record([
        "timestamp_utc",
        "metered_kw",
        "forecast_kw",
        "forecast_issued_at",
    ])
    .map_err(|e| failed(&e))?;
    for (at, row) in rows {
        let kw = |kw: f64| round_to(kw, POWER_DECIMALS).to_string();
        let metered = row.metered.map(kw).unwrap_or_default();
        let (forecast, issued) = row
            .forecast
            .map(|(value, issued)| (kw(value), issued.to_owned()))
            .unwrap_or_default();
        out.write_record([at, &metered, &forecast, &issued])
            .map_err(|e| failed(&e))?;
    }
    let body = out.into_inner().map_err(|e| failed(&e))?;
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/csv"))],
        body,
    )
        .into_response())
}
