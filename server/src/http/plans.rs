//! Plans: request one, the latest (with ETag), history, one version, and
//! the event stream of new plans.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use super::common::{Operate, Range, Read, SiteFor, json, load_site, parse_json, reply, wants};
use super::telemetry::{Telemetry, store_telemetry};
use crate::error::ApiError;
use crate::error::responses::{BadRequest, Conflict, Forbidden, Invalid, NotFound, Unauthorized};
use crate::planning::{Document, interval_start, plan_site};
use crate::store::millis;
use crate::store::{Reserved, Store, StoredResponse};
use crate::{AppState, Published};

/// The routes of this resource.
pub(crate) fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/sites/{site}/plan", post(post_plan))
        .route("/v1/sites/{site}/plans", get(list_plans))
        .route("/v1/sites/{site}/plans/latest", get(latest_plan))
        .route("/v1/sites/{site}/plans/stream", get(stream_plans))
        .route("/v1/sites/{site}/plans/{version}", get(get_plan))
}

/// This resource's part of the OpenAPI document.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(paths(post_plan, list_plans, latest_plan, stream_plans, get_plan))]
pub(crate) struct Doc;

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
        (status = 201, description = "A fresh plan, published", body = Document, headers(("ETag" = String, description = "The plan's entity tag"))),
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
    SiteFor { caller, .. }: SiteFor<Operate>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let idempotency = headers
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::to_owned))
        .transpose()
        .map_err(|_| ApiError::field("Idempotency-Key", "must be visible ASCII"))?;
    let request_text = String::from_utf8_lossy(&body).into_owned();
    // Held until the response is kept: a second request with the key while
    // the first is answered, on any replica, is refused rather than planned
    // twice.
    let mut reservation = None;
    if let Some(key) = &idempotency {
        let now = crate::store::now();
        let lease = now + chrono::TimeDelta::seconds(state.config.request_timeout_seconds as i64);
        let reserved = state
            .store
            .reserve_response(
                &caller.key_id,
                key,
                &request_text,
                &crate::store::millis(now),
                &crate::store::millis(lease),
            )
            .await?;
        match reserved {
            Reserved::Taken => {
                reservation = Some(Reservation {
                    store: Arc::clone(&state.store),
                    key_id: caller.key_id.clone(),
                    key: key.clone(),
                    kept: false,
                });
            }
            Reserved::Pending => {
                return Err(ApiError::conflict(format!(
                    "a request with Idempotency-Key {key} is still being answered; retry when it is"
                )));
            }
            Reserved::Answered(previous) => {
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
    let published = plan_site(&state, config, stored.revision, at, None).await?;
    if let Some(reservation) = &mut reservation {
        let kept = StoredResponse {
            request: request_text,
            status: StatusCode::CREATED.as_u16(),
            body: String::from_utf8_lossy(&published.body).into_owned(),
        };
        state
            .store
            .keep_response(&reservation.key_id, &reservation.key, &kept)
            .await?;
        reservation.kept = true;
    }
    Ok(plan_response(StatusCode::CREATED, &published))
}

/// An idempotency key being answered, released when dropped unless its
/// answer was kept (also when the request fails or its client goes away).
struct Reservation {
    store: Arc<Store>,
    key_id: String,
    key: String,
    kept: bool,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        let (store, key_id, key) = (
            Arc::clone(&self.store),
            self.key_id.clone(),
            self.key.clone(),
        );
        tokio::spawn(async move {
            if let Err(error) = store.release_response(&key_id, &key).await {
                tracing::error!(%error, "an idempotency key could not be released");
            }
        });
    }
}

/// The site's latest plan from memory, loading it once from the store.
pub(crate) async fn latest(
    state: &AppState,
    site: &str,
) -> Result<Option<Arc<Published>>, ApiError> {
    if let Some(published) = state.latest.get(site) {
        return Ok(Some(published));
    }
    let id = site.to_owned();
    let Some(stored) = state.store.plan(&id, None).await? else {
        return Ok(None);
    };
    let published = Arc::new(
        Published::from_stored(stored).map_err(|error| ApiError::unreadable("plan", error))?,
    );
    // Kept unless a newer plan was announced meanwhile (then the next
    // request reads that one).
    state.latest.adopt(Arc::clone(&published));
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
        (status = 200, description = "The latest plan", body = Document, headers(("ETag" = String, description = "The plan's entity tag"))),
        (status = 304, description = "The caller's plan is the latest"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
async fn latest_plan(
    State(state): State<Arc<AppState>>,
    Path(site): Path<String>,
    _: SiteFor<Read>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
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
        (status = 200, description = "That plan", body = Document),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
async fn get_plan(
    State(state): State<Arc<AppState>>,
    Path((site, version)): Path<(String, String)>,
    _: SiteFor<Read>,
) -> Result<Response, ApiError> {
    let number: i64 = version.parse().map_err(|_| {
        ApiError::field(
            "version",
            format!("({version:?}) must be a whole number, or latest"),
        )
    })?;
    let id = site.clone();
    let stored =
        state.store.plan(&id, Some(number)).await?.ok_or_else(|| {
            ApiError::not_found(format!("site {site} has no plan version {number}"))
        })?;
    let published =
        Published::from_stored(stored).map_err(|error| ApiError::unreadable("plan", error))?;
    Ok(plan_response(StatusCode::OK, &published))
}

#[utoipa::path(
    get,
    path = "/v1/sites/{site}/plans",
    tag = "plans",
    params(("site" = String, Path, description = "The site id"), Range),
    responses(
        (status = 200, description = "Plans published in the range (CSV with Accept: text/csv: one row per plan interval)", content((PlanList = "application/json"), (String = "text/csv"))),
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
    _: SiteFor<Read>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
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
    let plans = state.store.plans_between(&id, &from, &to).await?;
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
                    millis(stored.created_at),
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
    let plans = plans
        .iter()
        .map(|p| {
            #[derive(serde::Deserialize)]
            struct Stored {
                start: String,
                plan: Solved,
            }
            #[derive(serde::Deserialize)]
            struct Solved {
                solve_seconds: f64,
            }
            let stored: Stored = serde_json::from_str(&p.body).map_err(|error| {
                ApiError::unreadable("plan", format!("{} v{}: {error}", p.site_id, p.version))
            })?;
            Ok(PlanSummary {
                created_at: millis(p.created_at),
                solve_seconds: stored.plan.solve_seconds,
                start: stored.start,
                status: p.status.clone(),
                version: p.version,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    reply(StatusCode::OK, &PlanList { plans })
}

/// A published plan in a listing (fields in alphabetical order, as always).
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct PlanSummary {
    /// When it was published.
    created_at: String,
    /// Build and solve time, seconds.
    solve_seconds: f64,
    /// Its first interval's start.
    start: String,
    /// `optimal`, `feasible` or `fallback`.
    status: String,
    /// Its version.
    version: i64,
}

/// Plans published in a range.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct PlanList {
    /// Oldest first.
    plans: Vec<PlanSummary>,
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
    _: SiteFor<Read>,
) -> Result<Response, ApiError> {
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
