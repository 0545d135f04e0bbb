//! Battery energy, the meter and running jobs, as a controller reports
//! them.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use arbiter_backtest::SiteConfig;

use super::common::{
    MAX_READ_BACK_DAYS, Operate, Range, Read, SiteFor, instant_range, json, load_site, parse_json,
    reply, rfc,
};
use crate::AppState;
use crate::error::responses::{BadRequest, Forbidden, Invalid, NotFound, Unauthorized};
use crate::error::{ApiError, FieldIssue};

/// The routes of this resource.
pub(crate) fn router() -> Router<Arc<AppState>> {
    Router::new().route(
        "/v1/sites/{site}/telemetry",
        post(post_telemetry).get(get_telemetry),
    )
}

/// This resource's part of the OpenAPI document.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(paths(post_telemetry, get_telemetry))]
pub(crate) struct Doc;

/// What a controller reports.
#[derive(Debug, Clone, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Telemetry {
    /// When it was measured.
    pub at: DateTime<Utc>,
    /// Stored battery energy, kWh.
    #[serde(default)]
    pub soc_kwh: Option<f64>,
    /// Grid import (negative: export) averaged over the interval before, kW.
    #[serde(default)]
    pub meter_kw: Option<f64>,
    /// Ids of the jobs running.
    #[serde(default)]
    pub running_jobs: Vec<String>,
}

pub(crate) async fn store_telemetry(
    state: &AppState,
    site: &str,
    config: &SiteConfig,
    telemetry: &Telemetry,
) -> Result<(), ApiError> {
    let mut issues = Vec::new();
    if let Some(soc) = telemetry.soc_kwh {
        let max = config.site.battery.as_ref().map_or(0.0, |b| b.soc_max_kwh);
        if !(soc.is_finite() && (0.0..=max + 1e-6).contains(&soc)) {
            issues.push(FieldIssue {
                field: "soc_kwh".to_owned(),
                message: format!("({soc}) must be between 0 and the battery's soc_max_kwh ({max})"),
            });
        }
    }
    if let Some(kw) = telemetry.meter_kw
        && !kw.is_finite()
    {
        issues.push(FieldIssue::new("meter_kw", "must be a finite number"));
    }
    if telemetry.at > state.clock.now() + TimeDelta::minutes(5) {
        issues.push(FieldIssue {
            field: "at".to_owned(),
            message: format!("({}) is in the future", telemetry.at.to_rfc3339()),
        });
    }
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let (id, at) = (
        site.to_owned(),
        telemetry
            .at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    );
    let body = serde_json::to_string(telemetry).unwrap_or_default();
    let (soc, meter) = (telemetry.soc_kwh, telemetry.meter_kw);
    state
        .store
        .put_telemetry(&id, &at, soc, meter, &body)
        .await?;
    Ok(())
}

#[utoipa::path(
    post,
    path = "/v1/sites/{site}/telemetry",
    tag = "telemetry",
    params(("site" = String, Path, description = "The site id")),
    request_body = Telemetry,
    responses(
        (status = 201, description = "Stored", body = StoredReport),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Invalid),
    )
)]
async fn post_telemetry(
    State(state): State<Arc<AppState>>,
    Path(site): Path<String>,
    _: SiteFor<Operate>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (_, config) = load_site(&state, &site).await?;
    let telemetry: Telemetry = parse_json(&body)?;
    store_telemetry(&state, &site, &config, &telemetry).await?;
    reply(StatusCode::CREATED, &StoredReport { stored: telemetry })
}

/// The answer to a report: the report as stored.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct StoredReport {
    /// The report.
    stored: Telemetry,
}

/// A site's telemetry reports over a range.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct TelemetryHistory {
    /// The site.
    site_id: String,
    /// The range's start (inclusive).
    from: String,
    /// The range's end (exclusive).
    to: String,
    /// The reports, oldest first, as the controller sent them.
    reports: Vec<Telemetry>,
}

/// The telemetry reports stored for a site (battery energy, meter, running
/// jobs), over `from` ≤ at < `to` (default: the day before the service's
/// clock; at most 31 days).
#[utoipa::path(
    get,
    path = "/v1/sites/{site}/telemetry",
    tag = "telemetry",
    params(("site" = String, Path, description = "The site id"), Range),
    responses(
        (status = 200, description = "The reports, oldest first", body = TelemetryHistory),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Invalid),
    )
)]
async fn get_telemetry(
    State(state): State<Arc<AppState>>,
    Path(site): Path<String>,
    Query(range): Query<Range>,
    _: SiteFor<Read>,
) -> Result<Response, ApiError> {
    load_site(&state, &site).await?;
    let now = state.clock.now();
    let (from, to) = instant_range(
        &range,
        (now - TimeDelta::days(1), now + TimeDelta::seconds(1)),
        MAX_READ_BACK_DAYS,
    )?;
    let (id, start, end) = (site.clone(), rfc(from), rfc(to));
    let stored = state.store.telemetry_between(&id, &start, &end).await?;
    let reports = stored
        .iter()
        .map(|body| serde_json::from_str::<Telemetry>(body))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| ApiError::unreadable("telemetry report", format!("{site}: {error}")))?;
    let history = TelemetryHistory {
        site_id: site,
        from: rfc(from),
        to: rfc(to),
        reports,
    };
    let body =
        serde_json::to_string(&history).map_err(|error| ApiError::internal(error.to_string()))?;
    Ok(json(StatusCode::OK, body))
}
