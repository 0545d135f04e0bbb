//! Day-ahead prices per market and delivery day, with revisions (traders
//! write, JSON or CSV).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use arbiter_backtest::site::is_identifier;

use super::common::{
    Allowed, Range, ReadAll, UploadPrices, csv_rows, is_csv, parse_json, reply, wants,
};
use crate::AppState;
use crate::error::responses::{BadRequest, Forbidden, Invalid, NotFound, Unauthorized};
use crate::error::{ApiError, FieldIssue};
use crate::store::{NewPrices, StoredPrices, millis, seconds};

/// The routes of this resource.
pub(crate) fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/markets/{market}/prices", get(get_prices))
        .route(
            "/v1/markets/{market}/prices/{day}",
            put(put_prices).get(get_price_revisions),
        )
}

/// This resource's part of the OpenAPI document.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(paths(get_prices, put_prices, get_price_revisions))]
pub(crate) struct Doc;

/// One market day's prices as uploaded.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PriceDay {
    /// The market's IANA zone (its delivery days).
    zone: String,
    currency: String,
    interval_minutes: u32,
    /// One per interval of the local day (23 or 25 hours' worth on DST days).
    prices_per_mwh: Vec<f64>,
}

/// What a CSV upload of a day's prices adds to its rows.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PriceCsvQuery {
    zone: Option<String>,
    currency: Option<String>,
}

/// A day's prices from CSV rows `timestamp_utc,price_per_mwh` (one per
/// interval, from the local midnight of `day`); the zone and the currency
/// come from the query.
fn price_day_from_csv(
    body: &[u8],
    query: PriceCsvQuery,
    day: NaiveDate,
) -> Result<PriceDay, ApiError> {
    #[derive(Deserialize)]
    struct Row {
        timestamp_utc: DateTime<Utc>,
        price_per_mwh: f64,
    }
    let mut issues = Vec::new();
    if query.zone.is_none() {
        issues.push(FieldIssue::new(
            "zone",
            "a CSV upload names the market's IANA zone in the query: ?zone=…&currency=…",
        ));
    }
    if query.currency.is_none() {
        issues.push(FieldIssue::new(
            "currency",
            "a CSV upload names the currency in the query: ?zone=…&currency=…",
        ));
    }
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let rows: Vec<Row> = csv_rows(body)?;
    let zone = query.zone.unwrap_or_default();
    let interval = match rows.as_slice() {
        [first, second, ..] => (second.timestamp_utc - first.timestamp_utc).num_minutes(),
        _ => {
            return Err(ApiError::field(
                "body",
                "a day of prices has at least 2 rows: timestamp_utc,price_per_mwh",
            ));
        }
    };
    for (i, pair) in rows.windows(2).enumerate() {
        if (pair[1].timestamp_utc - pair[0].timestamp_utc).num_minutes() != interval {
            return Err(ApiError::field(
                format!("line {}", i + 3),
                format!(
                    "timestamp_utc ({}) must follow the line before by {interval} minutes, as the first two rows do",
                    pair[1].timestamp_utc.to_rfc3339()
                ),
            ));
        }
    }
    if let Ok(tz) = zone.parse::<chrono_tz::Tz>()
        && let Some(midnight) = day
            .and_hms_opt(0, 0, 0)
            .and_then(|m| tz.from_local_datetime(&m).earliest())
        && midnight.with_timezone(&Utc) != rows[0].timestamp_utc
    {
        return Err(ApiError::field(
            "line 2",
            format!(
                "timestamp_utc ({}) must be the start of {day} in {zone} ({})",
                rows[0].timestamp_utc.to_rfc3339(),
                midnight.with_timezone(&Utc).to_rfc3339()
            ),
        ));
    }
    Ok(PriceDay {
        zone,
        currency: query.currency.unwrap_or_default(),
        interval_minutes: u32::try_from(interval).unwrap_or(0),
        prices_per_mwh: rows.iter().map(|row| row.price_per_mwh).collect(),
    })
}

/// One revision of a market day's prices (fields in alphabetical order, as
/// the answers have always listed them).
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct PriceRevision {
    /// Currency of the prices.
    currency: String,
    /// The delivery day, local to the market (`YYYY-MM-DD`).
    day: String,
    /// Interval, minutes.
    interval_minutes: i64,
    /// The market.
    market: String,
    /// Prices per MWh, one per interval.
    prices_per_mwh: Vec<f64>,
    /// 1 for the first upload, +1 for each correction.
    revision: i64,
    /// UTC start of the first interval.
    start: String,
    /// When this revision was stored.
    uploaded_at: String,
    /// The key that uploaded it.
    uploaded_by: String,
}

impl From<&StoredPrices> for PriceRevision {
    fn from(p: &StoredPrices) -> PriceRevision {
        PriceRevision {
            currency: p.currency.clone(),
            day: p.day.clone(),
            interval_minutes: p.step_minutes,
            market: p.market.clone(),
            prices_per_mwh: p.prices.clone(),
            revision: p.revision,
            start: seconds(p.start),
            uploaded_at: millis(p.uploaded_at),
            uploaded_by: p.uploaded_by.clone(),
        }
    }
}

/// The answer to an upload: the day's latest revision, and whether the
/// upload made it (the same prices again change nothing).
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Uploaded {
    /// Whether this upload stored a new revision.
    changed: bool,
    /// The day's latest revision.
    #[serde(flatten)]
    revision: PriceRevision,
}

/// The latest revision of each day in a range.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct PriceDays {
    /// Oldest day first.
    days: Vec<PriceRevision>,
}

/// Every revision of one day.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct PriceRevisions {
    /// Oldest first.
    revisions: Vec<PriceRevision>,
}

/// The market and day of an upload's path: 422 naming `market` or `day`.
fn market_day(market: &str, day: &str) -> Result<NaiveDate, ApiError> {
    if !is_identifier(market) {
        return Err(ApiError::field(
            "market",
            format!("({market:?}) must be 1 to 64 lowercase letters, digits, '-' or '_'"),
        ));
    }
    NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .map_err(|_| ApiError::field("day", format!("({day:?}) must be a date, YYYY-MM-DD")))
}

/// Checks an upload of `date`'s prices (zone, interval, currency, every
/// price, one per interval of the local day) and returns the day's first
/// instant; every rule broken is named.
fn day_start(upload: &PriceDay, date: NaiveDate) -> Result<DateTime<Utc>, ApiError> {
    let mut issues = Vec::new();
    let zone = upload.zone.parse::<chrono_tz::Tz>();
    if zone.is_err() {
        issues.push(FieldIssue::new(
            "zone",
            format!("({:?}) is not an IANA time zone", upload.zone),
        ));
    }
    if ![15, 30, 60].contains(&upload.interval_minutes) {
        issues.push(FieldIssue::new(
            "interval_minutes",
            format!("({}) must be 15, 30 or 60", upload.interval_minutes),
        ));
    }
    if upload.currency.trim().is_empty() {
        issues.push(FieldIssue::new("currency", "must not be empty".to_owned()));
    }
    if let Some(i) = upload.prices_per_mwh.iter().position(|p| !p.is_finite()) {
        issues.push(FieldIssue::new(
            &format!("prices_per_mwh[{i}]"),
            "must be a finite number".to_owned(),
        ));
    }
    let Ok(zone) = zone else {
        return Err(ApiError::invalid(issues));
    };
    let midnight = |d: NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .and_then(|m| zone.from_local_datetime(&m).earliest())
            .map(|t| t.with_timezone(&Utc))
    };
    let (Some(from), Some(to)) = (midnight(date), midnight(date + TimeDelta::days(1))) else {
        issues.push(FieldIssue::new(
            "zone",
            format!("{date} or the day after has no midnight in {}", upload.zone),
        ));
        return Err(ApiError::invalid(issues));
    };
    let expected = (to - from).num_minutes() / i64::from(upload.interval_minutes.max(1));
    if upload.prices_per_mwh.len() as i64 != expected && issues.is_empty() {
        issues.push(FieldIssue::new(
            "prices_per_mwh",
            format!(
                "has {} values; {date} in {} has {expected} intervals of {} minutes",
                upload.prices_per_mwh.len(),
                upload.zone,
                upload.interval_minutes
            ),
        ));
    }
    if issues.is_empty() {
        Ok(from)
    } else {
        Err(ApiError::invalid(issues))
    }
}

#[utoipa::path(
    put,
    path = "/v1/markets/{market}/prices/{day}",
    tag = "prices",
    params(
        ("market" = String, Path, description = "The market id"),
        ("day" = String, Path, description = "The market-local delivery day, YYYY-MM-DD"),
        PriceCsvQuery,
    ),
    request_body(
        description = "One delivery day's prices as JSON; or, with Content-Type: text/csv, CSV rows timestamp_utc,price_per_mwh with ?zone=&currency=",
        content((PriceDay = "application/json")),
    ),
    responses(
        (status = 201, description = "The day's first revision", body = Uploaded),
        (status = 200, description = "A new revision (a correction), or the same prices again (changed: false)", body = Uploaded),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = Invalid),
    )
)]
async fn put_prices(
    State(state): State<Arc<AppState>>,
    Path((market, day)): Path<(String, String)>,
    Query(query): Query<PriceCsvQuery>,
    Allowed(caller, _): Allowed<UploadPrices>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let date = market_day(&market, &day)?;
    let upload: PriceDay = if is_csv(&headers) {
        price_day_from_csv(&body, query, date)?
    } else {
        parse_json(&body)?
    };
    let start = day_start(&upload, date)?;
    let new = NewPrices {
        market,
        day,
        currency: upload.currency,
        start,
        step_minutes: i64::from(upload.interval_minutes),
        prices: upload.prices_per_mwh,
        uploaded_by: caller.key_id,
    };
    let (stored, changed) = state.store.put_prices(&new).await?;
    let status = if !changed {
        StatusCode::OK
    } else if stored.revision == 1 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    reply(
        status,
        &Uploaded {
            changed,
            revision: PriceRevision::from(&stored),
        },
    )
}

#[utoipa::path(
    get,
    path = "/v1/markets/{market}/prices",
    tag = "prices",
    params(("market" = String, Path, description = "The market id"), Range),
    responses(
        (status = 200, description = "The latest revision of each day in the range (CSV with Accept: text/csv)", content((PriceDays = "application/json"), (String = "text/csv"))),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = Invalid),
    )
)]
async fn get_prices(
    State(state): State<Arc<AppState>>,
    Path(market): Path<String>,
    Query(range): Query<Range>,
    _: Allowed<ReadAll>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let day = |field: &str, value: &Option<String>| -> Result<String, ApiError> {
        let value = value
            .as_deref()
            .ok_or_else(|| ApiError::field(field, "is required (YYYY-MM-DD)"))?;
        NaiveDate::parse_from_str(value, "%Y-%m-%d")
            .map(|d| d.to_string())
            .map_err(|_| ApiError::field(field, format!("({value:?}) must be a date, YYYY-MM-DD")))
    };
    let (from, to) = (day("from", &range.from)?, day("to", &range.to)?);
    let days = state.store.prices_between(&market, &from, &to).await?;
    if wants(&headers, "text/csv") {
        let mut csv = String::from("timestamp_utc,price_per_mwh,day,revision\n");
        for d in &days {
            let start = d.start;
            for (i, price) in d.prices.iter().enumerate() {
                let at = start + TimeDelta::minutes(d.step_minutes * i as i64);
                csv.push_str(&format!(
                    "{},{price},{},{}\n",
                    at.with_timezone(&Utc)
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    d.day,
                    d.revision
                ));
            }
        }
        return Ok((
            [(header::CONTENT_TYPE, HeaderValue::from_static("text/csv"))],
            csv,
        )
            .into_response());
    }
    let days = days.iter().map(PriceRevision::from).collect();
    reply(StatusCode::OK, &PriceDays { days })
}

#[utoipa::path(
    get,
    path = "/v1/markets/{market}/prices/{day}",
    tag = "prices",
    params(
        ("market" = String, Path, description = "The market id"),
        ("day" = String, Path, description = "YYYY-MM-DD"),
    ),
    responses(
        (status = 200, description = "Every revision of the day, oldest first", body = PriceRevisions),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
async fn get_price_revisions(
    State(state): State<Arc<AppState>>,
    Path((market, day)): Path<(String, String)>,
    _: Allowed<ReadAll>,
) -> Result<Response, ApiError> {
    let (m, d) = (market.clone(), day.clone());
    let revisions = state.store.price_revisions(&m, &d).await?;
    if revisions.is_empty() {
        return Err(ApiError::not_found(format!(
            "no prices of {market} for {day}"
        )));
    }
    let revisions = revisions.iter().map(PriceRevision::from).collect();
    reply(StatusCode::OK, &PriceRevisions { revisions })
}
