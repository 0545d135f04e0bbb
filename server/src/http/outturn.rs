//! What ran against what was planned, per past interval of a site.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use super::common::{
    MAX_READ_BACK_DAYS, Range, Read, SiteFor, instant_range, load_site, reply, rfc,
};
use super::telemetry::Telemetry;
use crate::AppState;
use crate::error::ApiError;
use crate::error::responses::{Forbidden, Invalid, NotFound, Unauthorized};
use crate::outturn::{Outturn, OutturnInterval, OutturnTotals, PlanDocument, Report, compare};
use crate::store::millis;

/// The routes of this resource.
pub(crate) fn router() -> Router<Arc<AppState>> {
    Router::new().route("/v1/sites/{site}/outturn", get(get_outturn))
}

/// This resource's part of the OpenAPI document.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(get_outturn),
    components(schemas(OutturnInterval, OutturnTotals))
)]
pub(crate) struct Doc;

/// A site's past intervals, planned against reported (fields in
/// alphabetical order, as always).
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct SiteOutturn {
    /// The site's currency (of the costs).
    currency: String,
    /// The range's start (inclusive).
    from: DateTime<Utc>,
    /// Each interval, oldest first.
    intervals: Vec<OutturnInterval>,
    /// The site's interval, minutes.
    interval_minutes: u32,
    /// The site.
    site_id: String,
    /// The range's end (exclusive; the intervals end by the service's clock).
    to: DateTime<Utc>,
    /// Sums over the intervals with a meter reading.
    totals: OutturnTotals,
}

/// What ran against what was planned: for each site interval starting in
/// `from` ≤ t < `to` that has ended on the service's clock (default: the
/// day before it; at most 31 days), the plan in force (the newest version
/// whose start is at or before the interval) and the telemetry report that
/// closes the interval (the last one with start < `at` ≤ end): the
/// planned net import, battery power, compute and stored energy next to
/// the metered net import and the reported energy, the deviation, and what
/// it cost at the interval's prices with the tariff's adders.
#[utoipa::path(
    get,
    path = "/v1/sites/{site}/outturn",
    tag = "plans",
    params(("site" = String, Path, description = "The site id"), Range),
    responses(
        (status = 200, description = "The past intervals, oldest first", body = SiteOutturn),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Invalid),
    )
)]
async fn get_outturn(
    State(state): State<Arc<AppState>>,
    Path(site): Path<String>,
    Query(range): Query<Range>,
    _: SiteFor<Read>,
) -> Result<Response, ApiError> {
    let (_, config) = load_site(&state, &site).await?;
    let now = state.clock.now();
    let (from, to) = instant_range(&range, (now - TimeDelta::days(1), now), MAX_READ_BACK_DAYS)?;
    let step = TimeDelta::minutes(i64::from(config.site.interval_minutes.max(1)));
    let stored = state
        .store
        .plans_in_force(&site, &millis(from), &millis(to))
        .await?;
    let plans = stored
        .iter()
        .map(|plan| {
            serde_json::from_str::<PlanDocument>(&plan.body).map_err(|error| {
                ApiError::unreadable("plan", format!("{site} v{}: {error}", plan.version))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    // The report closing the last interval comes at its end (`at` ≤ end).
    let reports = state
        .store
        .telemetry_between(&site, &rfc(from), &rfc(to + step))
        .await?
        .iter()
        .map(|body| {
            serde_json::from_str::<Telemetry>(body)
                .map(|report| Report {
                    at: report.at,
                    soc_kwh: report.soc_kwh,
                    meter_kw: report.meter_kw,
                })
                .map_err(|error| {
                    ApiError::unreadable("telemetry report", format!("{site}: {error}"))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let Outturn { intervals, totals } = compare(&config, &plans, &reports, from, to, now);
    reply(
        StatusCode::OK,
        &SiteOutturn {
            currency: config.site.currency.clone(),
            from,
            intervals,
            interval_minutes: config.site.interval_minutes,
            site_id: site,
            to,
            totals,
        },
    )
}
