//! The HTTP routes. Every `/v1` route needs a bearer key; writes are
//! recorded in the audit table.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};

use super::jobs::{JobSpec, job_json};
use super::store::StoredJob;
use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use serde::Deserialize;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use arbiter_backtest::SiteConfig;
use arbiter_backtest::site::{Site, is_identifier};

use super::auth::{Action, Caller};
use super::error::responses::{BadRequest, Conflict, Forbidden, Invalid, NotFound, Unauthorized};
use super::error::{ApiError, FieldIssue};
use super::planning::{interval_start, plan_site};
use super::store::{StoredPrices, StoredResponse, StoredSite};
use super::{AppState, Published, blocking};

/// The service's routes.
pub fn router(state: Arc<AppState>) -> Router {
    let body_limit = state.config.max_body_bytes;
    let timeout = Duration::from_secs(state.config.request_timeout_seconds);
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(ready))
        .route("/metrics", get(super::metrics::render))
        .route("/openapi.json", get(openapi_json))
        .route("/v1/audit", get(audit_log))
        .route("/v1/clock", get(get_clock).post(advance_clock))
        .route("/v1/sites", get(list_sites).post(create_site))
        .route("/v1/sites/{site}", get(get_site).put(put_site))
        .route("/v1/markets/{market}/prices", get(get_prices))
        .route(
            "/v1/markets/{market}/prices/{day}",
            put(put_prices).get(get_price_revisions),
        )
        .route("/v1/sites/{site}/charging", put(put_charging))
        .route(
            "/v1/sites/{site}/charging/forecast",
            put(put_charging_forecast),
        )
        .route("/v1/sites/{site}/telemetry", post(post_telemetry))
        .route("/v1/sites/{site}/jobs", get(list_jobs).post(submit_job))
        .route(
            "/v1/sites/{site}/jobs/{job}",
            get(get_job).patch(update_job).delete(cancel_job),
        )
        .route("/v1/sites/{site}/plan", post(post_plan))
        .route("/v1/sites/{site}/plans", get(list_plans))
        .route("/v1/sites/{site}/plans/latest", get(latest_plan))
        .route("/v1/sites/{site}/plans/stream", get(stream_plans))
        .route("/v1/sites/{site}/plans/{version}", get(get_plan))
        .route(
            "/v1/backtests",
            get(super::backtests::list).post(super::backtests::submit),
        )
        .route("/v1/backtests/{id}", get(super::backtests::get))
        .route("/v1/backtests/{id}/ledger", get(super::backtests::ledger))
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            super::metrics::track,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .with_state(state)
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Caller, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::unauthenticated("send an API key: Authorization: Bearer <token>")
            })?
            .to_owned();
        let caller = match state.keys.cached(&token) {
            Some(caller) => caller,
            None => {
                let keys = Arc::clone(state);
                blocking(state, move |store| keys.keys.caller(store, &token)).await??
            }
        };
        caller.ok_or_else(|| ApiError::unauthenticated("the API key is unknown or revoked"))
    }
}

/// Refuses what the caller's role does not allow.
pub(super) fn allow(caller: &Caller, action: Action) -> Result<(), ApiError> {
    if caller.may(action) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "a {} key may not {}",
            caller.role.name(),
            match action {
                Action::ReadSite(site) => format!("read site {site}"),
                Action::ReadAll => "read this".to_owned(),
                Action::OperateSite(site) => format!("write data or request plans for site {site}"),
                Action::UploadPrices => "upload prices".to_owned(),
                Action::ManageSites => "manage sites or read the audit log".to_owned(),
                Action::RunBacktests => "run backtests".to_owned(),
            }
        )))
    }
}

/// Records a write (after it happened, with its status).
pub(super) async fn audit(
    state: &AppState,
    caller: &Caller,
    method: Method,
    path: String,
    status: StatusCode,
) {
    let key = caller.key_id.clone();
    let result = blocking(state, move |store| {
        store.audit(&key, method.as_str(), &path, status.as_u16())
    })
    .await;
    if !matches!(result, Ok(Ok(()))) {
        tracing::error!("the audit record could not be written");
    }
}

pub(super) fn json(status: StatusCode, body: impl Into<axum::body::Body>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.into(),
    )
        .into_response()
}

/// [`json`] with a `Location` header: where the created or accepted resource
/// is (left out if `location` is not a valid header value).
pub(super) fn json_at(status: StatusCode, body: String, location: &str) -> Response {
    let mut response = json(status, body);
    if let Ok(location) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// A JSON body: 400 when it is not JSON, 422 naming the field when a value
/// has the wrong type, is missing or is unknown.
pub(super) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data if path != "." => {
                ApiError::field(path, inner.to_string())
            }
            serde_json::error::Category::Data => ApiError::field("body", inner.to_string()),
            _ => ApiError::malformed(format!("the body is not JSON: {inner}")),
        }
    })
}

pub(super) fn wants(headers: &HeaderMap, media: &str) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains(media))
}

/// The OpenAPI document (no key needed).
async fn openapi_json() -> Response {
    json(StatusCode::OK, super::openapi::document())
}

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
    match blocking(&state, |store| store.ping()).await {
        Ok(Ok(())) => "ready\n".into_response(),
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
        (status = 200, description = "Every write, newest first: who (key id), what (method, path, status), when", body = serde_json::Value),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    )
)]
async fn audit_log(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Response, ApiError> {
    allow(&caller, Action::ManageSites)?;
    let entries = blocking(&state, |store| store.audit_log()).await??;
    let entries: Vec<_> = entries
        .into_iter()
        .map(|entry| serde_json::to_value(entry).unwrap_or_default())
        .collect();
    Ok(json(
        StatusCode::OK,
        serde_json::json!({ "entries": entries }).to_string(),
    ))
}

#[utoipa::path(
    get,
    path = "/v1/clock",
    tag = "service",
    responses(
        (status = 200, description = "The service's clock: now, and whether it is simulated", body = serde_json::Value),
        (status = 401, response = Unauthorized),
    )
)]
async fn get_clock(State(state): State<Arc<AppState>>, _caller: Caller) -> Response {
    clock_json(&state)
}

fn clock_json(state: &AppState) -> Response {
    json(
        StatusCode::OK,
        serde_json::json!({
            "now": state.clock.now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "simulated": state.clock.is_simulated(),
        })
        .to_string(),
    )
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
        (status = 200, description = "The simulated clock, moved on", body = serde_json::Value),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 422, response = Invalid),
    )
)]
async fn advance_clock(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    allow(&caller, Action::ManageSites)?;
    let advance: Advance = parse_json(&body)?;
    if !(1..=525_600).contains(&advance.minutes) {
        return Err(ApiError::field(
            "minutes",
            format!("({}) must be 1 to 525600", advance.minutes),
        ));
    }
    if !state.clock.advance(TimeDelta::minutes(advance.minutes)) {
        return Err(ApiError::conflict(
            "the service runs on the wall clock; only a simulated clock ([clock]) can be advanced",
        ));
    }
    audit(
        &state,
        &caller,
        Method::POST,
        "/v1/clock".to_owned(),
        StatusCode::OK,
    )
    .await;
    Ok(clock_json(&state))
}

// ---- sites ---------------------------------------------------------------

fn site_json(stored: &StoredSite) -> serde_json::Value {
    let config = toml::from_str::<Site>(&stored.config)
        .ok()
        .and_then(|site| serde_json::to_value(site).ok())
        .unwrap_or(serde_json::Value::Null);
    serde_json::json!({
        "id": stored.id,
        "revision": stored.revision,
        "updated_at": stored.updated_at,
        "config": config,
    })
}

/// Reads a site from JSON or TOML (by Content-Type) and checks every rule.
fn parse_site(headers: &HeaderMap, body: &[u8]) -> Result<SiteConfig, ApiError> {
    let text =
        std::str::from_utf8(body).map_err(|_| ApiError::malformed("the body is not UTF-8"))?;
    let toml_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.contains("toml"));
    let site: Site = if toml_body {
        toml::from_str(text)
            .map_err(|error| ApiError::malformed(error.to_string().trim_end().to_owned()))?
    } else {
        parse_json(text.as_bytes())?
    };
    site.check().map_err(|issues| {
        ApiError::invalid(
            issues
                .into_iter()
                .map(|issue| FieldIssue {
                    field: issue
                        .split([' ', ':'])
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                    message: issue,
                })
                .collect(),
        )
    })
}

#[utoipa::path(
    get,
    path = "/v1/sites",
    tag = "sites",
    responses(
        (status = 200, description = "Every site the key may read: id, revision, configuration", body = serde_json::Value),
        (status = 401, response = Unauthorized),
    )
)]
async fn list_sites(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let sites = blocking(&state, |store| store.sites()).await??;
    let visible: Vec<_> = sites
        .iter()
        .filter(|site| caller.may(Action::ReadSite(&site.id)))
        .map(site_json)
        .collect();
    Ok(json(
        StatusCode::OK,
        serde_json::json!({ "sites": visible }).to_string(),
    ))
}

#[utoipa::path(
    post,
    path = "/v1/sites",
    tag = "sites",
    request_body(
        description = "The site configuration (the backtest's site TOML, as JSON or TOML); see docs/backtest.md",
        content((serde_json::Value = "application/json"), (String = "application/toml")),
    ),
    responses(
        (status = 201, description = "Stored, revision 1", body = serde_json::Value),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 422, response = Invalid),
    )
)]
async fn create_site(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    allow(&caller, Action::ManageSites)?;
    let config = parse_site(&headers, &body)?;
    let id = config.site.id.clone();
    let text =
        toml::to_string(&config.site).map_err(|error| ApiError::internal(error.to_string()))?;
    let stored = {
        let id = id.clone();
        blocking(
            &state,
            move |store| -> Result<Option<StoredSite>, ApiError> {
                if store.site(&id)?.is_some() {
                    return Ok(None);
                }
                Ok(Some(store.put_site(&id, &text)?))
            },
        )
        .await??
    };
    let Some(stored) = stored else {
        return Err(ApiError::conflict(format!(
            "site {id} exists; PUT /v1/sites/{id} updates it"
        )));
    };
    audit(
        &state,
        &caller,
        Method::POST,
        "/v1/sites".to_owned(),
        StatusCode::CREATED,
    )
    .await;
    Ok(json_at(
        StatusCode::CREATED,
        site_json(&stored).to_string(),
        &format!("/v1/sites/{id}"),
    ))
}

#[utoipa::path(
    put,
    path = "/v1/sites/{site}",
    tag = "sites",
    params(("site" = String, Path, description = "The site id")),
    request_body(
        description = "The site configuration, as JSON or TOML",
        content((serde_json::Value = "application/json"), (String = "application/toml")),
    ),
    responses(
        (status = 200, description = "Stored as a new revision", body = serde_json::Value),
        (status = 201, description = "Created", body = serde_json::Value),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = Invalid),
    )
)]
async fn put_site(
    State(state): State<Arc<AppState>>,
    Path(site): Path<String>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    allow(&caller, Action::ManageSites)?;
    let config = parse_site(&headers, &body)?;
    if config.site.id != site {
        return Err(ApiError::field(
            "id",
            format!(
                "({:?}) must be the site in the path ({site})",
                config.site.id
            ),
        ));
    }
    let text =
        toml::to_string(&config.site).map_err(|error| ApiError::internal(error.to_string()))?;
    let stored = blocking(&state, move |store| store.put_site(&site, &text)).await??;
    let status = if stored.revision == 1 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    audit(
        &state,
        &caller,
        Method::PUT,
        format!("/v1/sites/{}", stored.id),
        status,
    )
    .await;
    Ok(json(status, site_json(&stored).to_string()))
}

pub(super) async fn load_site(
    state: &AppState,
    site: &str,
) -> Result<(StoredSite, SiteConfig), ApiError> {
    let id = site.to_owned();
    let stored = blocking(state, move |store| store.site(&id))
        .await??
        .ok_or_else(|| ApiError::not_found(format!("no site {site}")))?;
    let config = SiteConfig::from_toml(&format!("site {site}"), &stored.config)
        .map_err(|error| ApiError::internal(format!("the stored site is unreadable: {error}")))?;
    Ok((stored, config))
}

#[utoipa::path(
    get,
    path = "/v1/sites/{site}",
    tag = "sites",
    params(("site" = String, Path, description = "The site id")),
    responses(
        (status = 200, description = "The site (TOML with Accept: application/toml)", content((serde_json::Value = "application/json"), (String = "application/toml"))),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
async fn get_site(
    State(state): State<Arc<AppState>>,
    Path(site): Path<String>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    allow(&caller, Action::ReadSite(&site))?;
    let (stored, _) = load_site(&state, &site).await?;
    if wants(&headers, "toml") {
        return Ok((
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/toml"),
            )],
            stored.config,
        )
            .into_response());
    }
    Ok(json(StatusCode::OK, site_json(&stored).to_string()))
}

// ---- prices --------------------------------------------------------------

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

/// Whether the body is CSV (by its Content-Type).
fn is_csv(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|media| media.starts_with("text/csv"))
}

/// The rows of a CSV body with a header line; an unreadable row is named
/// by its line.
fn csv_rows<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<Vec<T>, ApiError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(body);
    let headers = reader
        .headers()
        .map_err(|error| ApiError::field("line 1", error.to_string()))?
        .clone();
    reader
        .deserialize()
        .map(|row| {
            row.map_err(|error| {
                let line = error.position().map_or(1, csv::Position::line);
                match error.kind() {
                    csv::ErrorKind::Deserialize { err, .. } => {
                        let column = err
                            .field()
                            .and_then(|i| headers.get(i as usize))
                            .map_or(String::new(), |name| format!(".{name}"));
                        ApiError::field(format!("line {line}{column}"), err.kind().to_string())
                    }
                    _ => ApiError::field(format!("line {line}"), error.to_string()),
                }
            })
        })
        .collect()
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

fn prices_json(p: &StoredPrices) -> serde_json::Value {
    serde_json::json!({
        "market": p.market, "day": p.day, "revision": p.revision, "currency": p.currency,
        "start": p.start, "interval_minutes": p.step_minutes, "prices_per_mwh": p.prices,
        "uploaded_at": p.uploaded_at, "uploaded_by": p.uploaded_by,
    })
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
        description = "One delivery day's prices: JSON, or CSV rows timestamp_utc,price_per_mwh with ?zone=&currency=",
        content((PriceDay = "application/json"), (String = "text/csv")),
    ),
    responses(
        (status = 201, description = "The day's first revision", body = serde_json::Value),
        (status = 200, description = "A new revision (a correction), or the same prices again (changed: false)", body = serde_json::Value),
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
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    allow(&caller, Action::UploadPrices)?;
    if !is_identifier(&market) {
        return Err(ApiError::field(
            "market",
            format!("({market:?}) must be 1 to 64 lowercase letters, digits, '-' or '_'"),
        ));
    }
    let date = NaiveDate::parse_from_str(&day, "%Y-%m-%d")
        .map_err(|_| ApiError::field("day", format!("({day:?}) must be a date, YYYY-MM-DD")))?;
    let upload: PriceDay = if is_csv(&headers) {
        price_day_from_csv(&body, query, date)?
    } else {
        parse_json(&body)?
    };
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
    let mut start = None;
    if let Ok(zone) = zone {
        let midnight = |d: NaiveDate| {
            d.and_hms_opt(0, 0, 0)
                .and_then(|m| zone.from_local_datetime(&m).earliest())
                .map(|t| t.with_timezone(&Utc))
        };
        if let (Some(from), Some(to)) = (midnight(date), midnight(date + TimeDelta::days(1))) {
            let expected = (to - from).num_minutes() / i64::from(upload.interval_minutes.max(1));
            if upload.prices_per_mwh.len() as i64 != expected && issues.is_empty() {
                issues.push(FieldIssue::new(
                    "prices_per_mwh",
                    format!(
                        "has {} values; {day} in {} has {expected} intervals of {} minutes",
                        upload.prices_per_mwh.len(),
                        upload.zone,
                        upload.interval_minutes
                    ),
                ));
            }
            start = Some(from);
        }
    }
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let new = StoredPrices {
        market: market.clone(),
        day: day.clone(),
        revision: 0,
        currency: upload.currency,
        start: start
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default(),
        step_minutes: i64::from(upload.interval_minutes),
        prices: upload.prices_per_mwh,
        uploaded_at: String::new(),
        uploaded_by: caller.key_id.clone(),
    };
    let (stored, changed) = blocking(&state, move |store| store.put_prices(&new)).await??;
    let status = if !changed {
        StatusCode::OK
    } else if stored.revision == 1 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    audit(
        &state,
        &caller,
        Method::PUT,
        format!("/v1/markets/{market}/prices/{day}"),
        status,
    )
    .await;
    let mut body = prices_json(&stored);
    body["changed"] = serde_json::json!(changed);
    Ok(json(status, body.to_string()))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct Range {
    from: Option<String>,
    to: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/markets/{market}/prices",
    tag = "prices",
    params(("market" = String, Path, description = "The market id"), Range),
    responses(
        (status = 200, description = "The latest revision of each day in the range (CSV with Accept: text/csv)", content((serde_json::Value = "application/json"), (String = "text/csv"))),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = Invalid),
    )
)]
async fn get_prices(
    State(state): State<Arc<AppState>>,
    Path(market): Path<String>,
    Query(range): Query<Range>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    allow(&caller, Action::ReadAll)?;
    let day = |field: &str, value: &Option<String>| -> Result<String, ApiError> {
        let value = value
            .as_deref()
            .ok_or_else(|| ApiError::field(field, "is required (YYYY-MM-DD)"))?;
        NaiveDate::parse_from_str(value, "%Y-%m-%d")
            .map(|d| d.to_string())
            .map_err(|_| ApiError::field(field, format!("({value:?}) must be a date, YYYY-MM-DD")))
    };
    let (from, to) = (day("from", &range.from)?, day("to", &range.to)?);
    let days = blocking(&state, move |store| {
        store.prices_between(&market, &from, &to)
    })
    .await??;
    if wants(&headers, "text/csv") {
        let mut csv = String::from("timestamp_utc,price_per_mwh,day,revision\n");
        for d in &days {
            let Ok(start) = DateTime::parse_from_rfc3339(&d.start) else {
                continue;
            };
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
    let days: Vec<_> = days.iter().map(prices_json).collect();
    Ok(json(
        StatusCode::OK,
        serde_json::json!({ "days": days }).to_string(),
    ))
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
        (status = 200, description = "Every revision of the day, oldest first", body = serde_json::Value),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
async fn get_price_revisions(
    State(state): State<Arc<AppState>>,
    Path((market, day)): Path<(String, String)>,
    caller: Caller,
) -> Result<Response, ApiError> {
    allow(&caller, Action::ReadAll)?;
    let (m, d) = (market.clone(), day.clone());
    let revisions = blocking(&state, move |store| store.price_revisions(&m, &d)).await??;
    if revisions.is_empty() {
        return Err(ApiError::not_found(format!(
            "no prices of {market} for {day}"
        )));
    }
    let revisions: Vec<_> = revisions.iter().map(prices_json).collect();
    Ok(json(
        StatusCode::OK,
        serde_json::json!({ "revisions": revisions }).to_string(),
    ))
}

// ---- charging and telemetry ----------------------------------------------

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

async fn store_telemetry(
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
    blocking(state, move |store| {
        store.put_telemetry(&id, &at, soc, meter, &body)
    })
    .await??;
    Ok(())
}

#[utoipa::path(
    post,
    path = "/v1/sites/{site}/telemetry",
    tag = "telemetry",
    params(("site" = String, Path, description = "The site id")),
    request_body = Telemetry,
    responses(
        (status = 201, description = "Stored", body = serde_json::Value),
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
    caller: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    allow(&caller, Action::OperateSite(&site))?;
    let (_, config) = load_site(&state, &site).await?;
    let telemetry: Telemetry = parse_json(&body)?;
    store_telemetry(&state, &site, &config, &telemetry).await?;
    audit(
        &state,
        &caller,
        Method::POST,
        format!("/v1/sites/{site}/telemetry"),
        StatusCode::CREATED,
    )
    .await;
    Ok(json(
        StatusCode::CREATED,
        serde_json::json!({ "stored": telemetry }).to_string(),
    ))
}

// ---- jobs ----------------------------------------------------------------

#[utoipa::path(
    post,
    path = "/v1/sites/{site}/jobs",
    tag = "jobs",
    params(("site" = String, Path, description = "The site id")),
    request_body = JobSpec,
    responses(
        (status = 201, description = "Queued", body = serde_json::Value),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 422, response = Invalid),
    )
)]
async fn submit_job(
    State(state): State<Arc<AppState>>,
    Path(site): Path<String>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    allow(&caller, Action::OperateSite(&site))?;
    let (_, config) = load_site(&state, &site).await?;
    let spec: JobSpec = parse_json(&body)?;
    let now = state.clock.now();
    let issues = spec.check(&config, now);
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let at = super::store::now();
    let job = StoredJob {
        site_id: site.clone(),
        id: spec.id.clone(),
        spec: serde_json::to_string(&spec).unwrap_or_default(),
        submitted_at: at.clone(),
        delivered_kwh: 0.0,
        status: "open".to_owned(),
        updated_at: at,
    };
    let inserted = {
        let job = job.clone();
        blocking(&state, move |store| store.insert_job(&job)).await??
    };
    if !inserted {
        return Err(ApiError::conflict(format!(
            "site {site} already has a job {}",
            spec.id
        )));
    }
    audit(
        &state,
        &caller,
        Method::POST,
        format!("/v1/sites/{site}/jobs"),
        StatusCode::CREATED,
    )
    .await;
    Ok(json_at(
        StatusCode::CREATED,
        job_json(&job, now).to_string(),
        &format!("/v1/sites/{site}/jobs/{}", spec.id),
    ))
}

#[utoipa::path(
    get,
    path = "/v1/sites/{site}/jobs",
    tag = "jobs",
    params(("site" = String, Path, description = "The site id")),
    responses(
        (status = 200, description = "The site's jobs with their status and delivered energy", body = serde_json::Value),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
async fn list_jobs(
    State(state): State<Arc<AppState>>,
    Path(site): Path<String>,
    caller: Caller,
) -> Result<Response, ApiError> {
    allow(&caller, Action::ReadSite(&site))?;
    load_site(&state, &site).await?;
    let id = site.clone();
    let jobs = blocking(&state, move |store| store.jobs(&id, false)).await??;
    let now = state.clock.now();
    let jobs: Vec<_> = jobs.iter().map(|job| job_json(job, now)).collect();
    Ok(json(
        StatusCode::OK,
        serde_json::json!({ "jobs": jobs }).to_string(),
    ))
}

async fn find_job(state: &AppState, site: &str, job: &str) -> Result<StoredJob, ApiError> {
    let (s, j) = (site.to_owned(), job.to_owned());
    blocking(state, move |store| store.job(&s, &j))
        .await??
        .ok_or_else(|| ApiError::not_found(format!("site {site} has no job {job}")))
}

#[utoipa::path(
    get,
    path = "/v1/sites/{site}/jobs/{job}",
    tag = "jobs",
    params(
        ("site" = String, Path, description = "The site id"),
        ("job" = String, Path, description = "The job id"),
    ),
    responses(
        (status = 200, description = "The job", body = serde_json::Value),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
async fn get_job(
    State(state): State<Arc<AppState>>,
    Path((site, job)): Path<(String, String)>,
    caller: Caller,
) -> Result<Response, ApiError> {
    allow(&caller, Action::ReadSite(&site))?;
    let stored = find_job(&state, &site, &job).await?;
    Ok(json(
        StatusCode::OK,
        job_json(&stored, state.clock.now()).to_string(),
    ))
}

/// A controller's progress report.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct JobProgress {
    /// IT energy delivered so far, kWh.
    delivered_kwh: f64,
}

#[utoipa::path(
    patch,
    path = "/v1/sites/{site}/jobs/{job}",
    tag = "jobs",
    params(
        ("site" = String, Path, description = "The site id"),
        ("job" = String, Path, description = "The job id"),
    ),
    request_body = JobProgress,
    responses(
        (status = 200, description = "Progress recorded (done once it reaches the job's energy)", body = serde_json::Value),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 422, response = Invalid),
    )
)]
async fn update_job(
    State(state): State<Arc<AppState>>,
    Path((site, job)): Path<(String, String)>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    allow(&caller, Action::OperateSite(&site))?;
    let stored = find_job(&state, &site, &job).await?;
    let progress: JobProgress = parse_json(&body)?;
    let spec: JobSpec = serde_json::from_str(&stored.spec)
        .map_err(|error| ApiError::internal(format!("the stored job is unreadable: {error}")))?;
    let delivered = progress.delivered_kwh;
    if !(delivered.is_finite()
        && delivered >= stored.delivered_kwh
        && delivered <= spec.energy_kwh + 1e-6)
    {
        return Err(ApiError::field(
            "delivered_kwh",
            format!(
                "({delivered}) must be between the energy already reported ({}) and the job's energy_kwh ({})",
                stored.delivered_kwh, spec.energy_kwh
            ),
        ));
    }
    if stored.status == "cancelled" {
        return Err(ApiError::conflict(format!("job {job} is cancelled")));
    }
    let status = if delivered >= spec.energy_kwh - 1e-6 {
        "done"
    } else {
        "open"
    };
    {
        let (s, j, status) = (site.clone(), job.clone(), status.to_owned());
        blocking(&state, move |store| {
            store.update_job(&s, &j, delivered, &status)
        })
        .await??;
    }
    audit(
        &state,
        &caller,
        Method::PATCH,
        format!("/v1/sites/{site}/jobs/{job}"),
        StatusCode::OK,
    )
    .await;
    let updated = find_job(&state, &site, &job).await?;
    Ok(json(
        StatusCode::OK,
        job_json(&updated, state.clock.now()).to_string(),
    ))
}

#[utoipa::path(
    delete,
    path = "/v1/sites/{site}/jobs/{job}",
    tag = "jobs",
    params(
        ("site" = String, Path, description = "The site id"),
        ("job" = String, Path, description = "The job id"),
    ),
    responses(
        (status = 200, description = "Cancelled", body = serde_json::Value),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    )
)]
async fn cancel_job(
    State(state): State<Arc<AppState>>,
    Path((site, job)): Path<(String, String)>,
    caller: Caller,
) -> Result<Response, ApiError> {
    allow(&caller, Action::OperateSite(&site))?;
    let stored = find_job(&state, &site, &job).await?;
    if stored.status == "done" {
        return Err(ApiError::conflict(format!("job {job} is done")));
    }
    {
        let (s, j, delivered) = (site.clone(), job.clone(), stored.delivered_kwh);
        blocking(&state, move |store| {
            store.update_job(&s, &j, delivered, "cancelled")
        })
        .await??;
    }
    audit(
        &state,
        &caller,
        Method::DELETE,
        format!("/v1/sites/{site}/jobs/{job}"),
        StatusCode::OK,
    )
    .await;
    let updated = find_job(&state, &site, &job).await?;
    Ok(json(
        StatusCode::OK,
        job_json(&updated, state.clock.now()).to_string(),
    ))
}

// ---- plans ---------------------------------------------------------------

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PlanRequest {
    /// Telemetry to store before planning.
    #[serde(default)]
    telemetry: Option<Telemetry>,
}

fn plan_response(status: StatusCode, published: &Published) -> Response {
    let mut response = json(status, published.body.clone());
    if let Ok(etag) = HeaderValue::from_str(&published.etag) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

#[utoipa::path(
    post,
    path = "/v1/sites/{site}/plan",
    tag = "plans",
    params(
        ("site" = String, Path, description = "The site id"),
        ("Idempotency-Key" = Option<String>, Header, description = "A replay with the same key and body returns the first response"),
    ),
    request_body(
        content = PlanRequest,
        description = "Optional telemetry to store first; an empty body plans from what is stored",
    ),
    responses(
        (status = 201, description = "A fresh plan, published", body = serde_json::Value, headers(("ETag" = String, description = "The plan's entity tag"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 422, response = Invalid),
    )
)]
async fn post_plan(
    State(state): State<Arc<AppState>>,
    Path(site): Path<String>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    allow(&caller, Action::OperateSite(&site))?;
    let idempotency = headers
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::to_owned))
        .transpose()
        .map_err(|_| ApiError::field("Idempotency-Key", "must be visible ASCII"))?;
    let request_text = String::from_utf8_lossy(&body).into_owned();
    // Held until the response is kept: a second request with the key while
    // the first is answered is refused rather than planned twice.
    let _reserved = match &idempotency {
        Some(key) => Some(
            Reservation::take(&state, &caller.key_id, key).ok_or_else(|| {
                ApiError::conflict(format!(
                    "a request with Idempotency-Key {key} is still being answered; retry when it is"
                ))
            })?,
        ),
        None => None,
    };
    if let Some(key) = &idempotency {
        let (key_id, k) = (caller.key_id.clone(), key.clone());
        if let Some(previous) = blocking(&state, move |store| store.response(&key_id, &k)).await?? {
            if previous.request != request_text {
                return Err(ApiError::conflict(format!(
                    "Idempotency-Key {key} was used with another body"
                )));
            }
            let status = StatusCode::from_u16(previous.status).unwrap_or(StatusCode::OK);
            let mut response = json(status, previous.body);
            response
                .headers_mut()
                .insert("idempotent-replay", HeaderValue::from_static("true"));
            return Ok(response);
        }
    }
    let (stored, config) = load_site(&state, &site).await?;
    let request: PlanRequest = if body.iter().all(u8::is_ascii_whitespace) {
        PlanRequest::default()
    } else {
        parse_json(&body)?
    };
    if let Some(telemetry) = &request.telemetry {
        store_telemetry(&state, &site, &config, telemetry).await?;
    }
    let at = interval_start(&config, state.clock.now());
    let published = plan_site(&state, config, stored.revision, at).await?;
    if let Some(key) = idempotency {
        let kept = StoredResponse {
            request: request_text,
            status: StatusCode::CREATED.as_u16(),
            body: String::from_utf8_lossy(&published.body).into_owned(),
        };
        let key_id = caller.key_id.clone();
        blocking(&state, move |store| {
            store.keep_response(&key_id, &key, &kept)
        })
        .await??;
    }
    audit(
        &state,
        &caller,
        Method::POST,
        format!("/v1/sites/{site}/plan"),
        StatusCode::CREATED,
    )
    .await;
    Ok(plan_response(StatusCode::CREATED, &published))
}

/// An idempotency key being answered, released when dropped (also when
/// the request fails or its client goes away).
struct Reservation<'a> {
    state: &'a AppState,
    key: (String, String),
}

impl<'a> Reservation<'a> {
    /// The key reserved, unless a request holds it.
    fn take(state: &'a AppState, key_id: &str, key: &str) -> Option<Reservation<'a>> {
        let key = (key_id.to_owned(), key.to_owned());
        // The lock is released before a reservation exists: its drop takes
        // the lock again.
        let fresh = state.idempotency.lock().ok()?.insert(key.clone());
        fresh.then(|| Reservation { state, key })
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if let Ok(mut held) = self.state.idempotency.lock() {
            held.remove(&self.key);
        }
    }
}

/// The site's latest plan from memory, loading it once from the store.
async fn latest(state: &AppState, site: &str) -> Result<Option<Arc<Published>>, ApiError> {
    if let Some(published) = state
        .latest
        .read()
        .ok()
        .and_then(|latest| latest.get(site).cloned())
    {
        return Ok(Some(published));
    }
    let id = site.to_owned();
    let Some(stored) = blocking(state, move |store| store.plan(&id, None)).await?? else {
        return Ok(None);
    };
    let published = Arc::new(Published::from_stored(stored));
    if let Ok(mut latest) = state.latest.write() {
        let entry = latest
            .entry(site.to_owned())
            .or_insert_with(|| Arc::clone(&published));
        if entry.version < published.version {
            *entry = Arc::clone(&published);
        }
    }
    Ok(Some(published))
}

#[utoipa::path(
    get,
    path = "/v1/sites/{site}/plans/latest",
    tag = "plans",
    params(
        ("site" = String, Path, description = "The site id"),
        ("If-None-Match" = Option<String>, Header, description = "The ETag of the plan the caller holds"),
    ),
    responses(
        (status = 200, description = "The latest plan", body = serde_json::Value, headers(("ETag" = String, description = "The plan's entity tag"))),
        (status = 304, description = "The caller's plan is the latest"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
async fn latest_plan(
    State(state): State<Arc<AppState>>,
    Path(site): Path<String>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    allow(&caller, Action::ReadSite(&site))?;
    let Some(published) = latest(&state, &site).await? else {
        load_site(&state, &site).await?;
        return Err(ApiError::not_found(format!("site {site} has no plan yet")));
    };
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|tag| tag.trim() == published.etag || tag.trim() == "*")
        });
    if matches {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(etag) = HeaderValue::from_str(&published.etag) {
            response.headers_mut().insert(header::ETAG, etag);
        }
        return Ok(response);
    }
    Ok(plan_response(StatusCode::OK, &published))
}

#[utoipa::path(
    get,
    path = "/v1/sites/{site}/plans/{version}",
    tag = "plans",
    params(
        ("site" = String, Path, description = "The site id"),
        ("version" = i64, Path, description = "The plan version"),
    ),
    responses(
        (status = 200, description = "That plan", body = serde_json::Value),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
async fn get_plan(
    State(state): State<Arc<AppState>>,
    Path((site, version)): Path<(String, String)>,
    caller: Caller,
) -> Result<Response, ApiError> {
    allow(&caller, Action::ReadSite(&site))?;
    let number: i64 = version.parse().map_err(|_| {
        ApiError::field(
            "version",
            format!("({version:?}) must be a whole number, or latest"),
        )
    })?;
    let id = site.clone();
    let stored = blocking(&state, move |store| store.plan(&id, Some(number)))
        .await??
        .ok_or_else(|| ApiError::not_found(format!("site {site} has no plan version {number}")))?;
    let published = Published::from_stored(stored);
    Ok(plan_response(StatusCode::OK, &published))
}

#[utoipa::path(
    get,
    path = "/v1/sites/{site}/plans",
    tag = "plans",
    params(("site" = String, Path, description = "The site id"), Range),
    responses(
        (status = 200, description = "Plans published in the range (CSV with Accept: text/csv: one row per plan interval)", content((serde_json::Value = "application/json"), (String = "text/csv"))),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Invalid),
    )
)]
async fn list_plans(
    State(state): State<Arc<AppState>>,
    Path(site): Path<String>,
    Query(range): Query<Range>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    allow(&caller, Action::ReadSite(&site))?;
    load_site(&state, &site).await?;
    let instant =
        |field: &str, value: &Option<String>, default: DateTime<Utc>| -> Result<String, ApiError> {
            match value {
                None => Ok(default.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                Some(text) => DateTime::parse_from_rfc3339(text)
                    .map(|t| {
                        t.with_timezone(&Utc)
                            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                    })
                    .map_err(|_| {
                        ApiError::field(field, format!("({text:?}) must be an RFC 3339 instant"))
                    }),
            }
        };
    // `created_at` is real time, also under a simulated clock.
    let now = Utc::now();
    let from = instant("from", &range.from, now - TimeDelta::days(1))?;
    let to = instant("to", &range.to, now + TimeDelta::days(1))?;
    let id = site.clone();
    let plans = blocking(&state, move |store| store.plans_between(&id, &from, &to)).await??;
    if wants(&headers, "text/csv") {
        let mut csv = String::from(
            "version,created_at,status,start,price_per_mwh,import_kw,export_kw,charge_kw,discharge_kw,soc_kwh,compute_it_kw\n",
        );
        for stored in &plans {
            let Ok(document) = serde_json::from_str::<serde_json::Value>(&stored.body) else {
                continue;
            };
            for interval in document["plan"]["intervals"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let f = |key: &str| interval[key].as_f64().unwrap_or(0.0);
                csv.push_str(&format!(
                    "{},{},{},{},{},{},{},{},{},{},{}\n",
                    stored.version,
                    stored.created_at,
                    stored.status,
                    interval["start"].as_str().unwrap_or_default(),
                    f("price_per_mwh"),
                    f("import_kw"),
                    f("export_kw"),
                    f("charge_kw"),
                    f("discharge_kw"),
                    f("soc_kwh"),
                    f("compute_it_kw"),
                ));
            }
        }
        return Ok((
            [(header::CONTENT_TYPE, HeaderValue::from_static("text/csv"))],
            csv,
        )
            .into_response());
    }
    let summaries: Vec<_> = plans
        .iter()
        .map(|p| {
            let document: serde_json::Value = serde_json::from_str(&p.body).unwrap_or_default();
            serde_json::json!({
                "version": p.version,
                "created_at": p.created_at,
                "status": p.status,
                "start": document["start"],
                "solve_seconds": document["plan"]["solve_seconds"],
            })
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        serde_json::json!({ "plans": summaries }).to_string(),
    ))
}

#[utoipa::path(
    get,
    path = "/v1/sites/{site}/plans/stream",
    tag = "plans",
    params(("site" = String, Path, description = "The site id")),
    responses(
        (status = 200, description = "Server-Sent Events: each newly published plan (event `plan`)", body = String, content_type = "text/event-stream"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
async fn stream_plans(
    State(state): State<Arc<AppState>>,
    Path(site): Path<String>,
    caller: Caller,
) -> Result<Response, ApiError> {
    allow(&caller, Action::ReadSite(&site))?;
    load_site(&state, &site).await?;
    let events = BroadcastStream::new(state.events.subscribe()).filter_map(move |published| {
        let published = published.ok()?;
        (published.site_id == site).then(|| {
            Ok::<_, std::convert::Infallible>(
                Event::default()
                    .event("plan")
                    .id(published.version.to_string())
                    .data(String::from_utf8_lossy(&published.body)),
            )
        })
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}
