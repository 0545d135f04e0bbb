//! Backtests over the API: submit one, follow its progress, read its
//! report and ledger. The runner is [`crate::backtests`].

use crate::AppState;
use crate::auth::random_hex;
use crate::backtests::{BacktestRequest, Job, ProgressView, check, folder, inputs};
use crate::error::ApiError;
use crate::error::responses::{BadRequest, Conflict, Forbidden, Invalid, NotFound, Unauthorized};
use crate::http::common::{
    Allowed, ReadAll, RunBacktests, json_at, load_site, parse_json, reply, wants,
};
use crate::store::StoredBacktest;
use crate::store::millis;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The routes of backtests.
pub(crate) fn router() -> axum::Router<Arc<AppState>> {
    use axum::routing;
    axum::Router::new()
        .route("/v1/backtests", routing::get(list).post(submit))
        .route("/v1/backtests/{id}", routing::get(get))
        .route("/v1/backtests/{id}/ledger", routing::get(ledger))
}

/// Backtests' part of the OpenAPI document.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(paths(list, submit, get, ledger))]
pub(crate) struct Doc;

/// `POST /v1/backtests`.
#[utoipa::path(
    post,
    path = "/v1/backtests",
    operation_id = "submit_backtest",
    tag = "backtests",
    request_body = BacktestRequest,
    responses(
        (status = 202, description = "Accepted; runs in the background (Location: the backtest)", body = BacktestView, headers(("Location" = String, description = "/v1/backtests/{id}"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = Invalid),
    )
)]
pub async fn submit(
    State(state): State<Arc<AppState>>,
    Allowed(caller, _): Allowed<RunBacktests>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: BacktestRequest = parse_json(&body)?;
    let (_, config) =
        load_site(&state, &request.site)
            .await
            .map_err(|error| match error.status {
                StatusCode::NOT_FOUND => {
                    ApiError::field("site", format!("no site {} is stored", request.site))
                }
                _ => error,
            })?;
    let (from, to) = check(&config, &request)?;
    let inputs = inputs(&state.store, &config, &request, from, to).await?;
    let mut strategies = request.strategies.clone();
    strategies.sort();
    strategies.dedup();
    let id = format!("bt_{}", random_hex::<6>());
    let stored = StoredBacktest {
        id: id.clone(),
        created_at: crate::store::now(),
        key_id: caller.key_id.clone(),
        request: serde_json::to_string(&request)
            .map_err(|error| ApiError::internal(error.to_string()))?,
        status: "queued".to_owned(),
        started_at: None,
        finished_at: None,
        report: None,
        error: None,
        progress: None,
    };
    {
        let stored = stored.clone();
        state.store.insert_backtest(&stored, &state.replica).await?;
    }
    let intervals = ((to - from).num_minutes() / i64::from(config.site.interval_minutes)) as usize;
    state.backtests.start(
        &state,
        id.clone(),
        Job {
            config,
            inputs,
            from,
            to,
            strategies,
        },
        intervals,
    );
    Ok(json_at(
        StatusCode::ACCEPTED,
        serde_json::to_string(&document(&state, &stored)?)
            .map_err(|error| ApiError::internal(error.to_string()))?,
        &format!("/v1/backtests/{id}"),
    ))
}

/// A backtest as served: the request, the status, progress while it runs,
/// the report when it ends (fields in alphabetical order, as always).
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct BacktestView {
    /// When it was submitted.
    created_at: String,
    /// Why it failed, when it did.
    error: Option<String>,
    /// When it ended.
    finished_at: Option<String>,
    /// Its id.
    id: String,
    /// Where its ledger is, once it has a report.
    ledger: Option<String>,
    /// Progress while it is queued or runs.
    progress: Option<ProgressView>,
    /// The report, when it ends.
    #[schema(value_type = Option<arbiter_backtest::Report>)]
    report: Option<serde_json::Value>,
    /// The request as submitted.
    #[schema(value_type = BacktestRequest)]
    request: serde_json::Value,
    /// When it started running.
    started_at: Option<String>,
    /// `queued`, `running`, `done`, `interrupted` or `failed`.
    status: String,
}

/// A stored backtest as served; a stored request or report that cannot be
/// read is an error (logged), never shown as `null`.
fn document(state: &AppState, stored: &StoredBacktest) -> Result<BacktestView, ApiError> {
    let unreadable = |part: &'static str| {
        move |error: serde_json::Error| {
            ApiError::unreadable("backtest", format!("{} {part}: {error}", stored.id))
        }
    };
    let request = serde_json::from_str(&stored.request).map_err(unreadable("request"))?;
    let report: Option<serde_json::Value> = stored
        .report
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(unreadable("report"))?;
    // Live on the replica running it; as last reported (every few
    // seconds) on the others.
    let progress = match state.backtests.progress(&stored.id) {
        Some(progress) => Some(progress.view()),
        None if matches!(stored.status.as_str(), "queued" | "running") => stored
            .progress
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(unreadable("progress"))?,
        None => None,
    };
    Ok(BacktestView {
        created_at: millis(stored.created_at),
        error: stored.error.clone(),
        finished_at: stored.finished_at.map(millis),
        id: stored.id.clone(),
        ledger: report
            .is_some()
            .then(|| format!("/v1/backtests/{}/ledger", stored.id)),
        progress,
        report,
        request,
        started_at: stored.started_at.map(millis),
        status: stored.status.clone(),
    })
}

/// `GET /v1/backtests`: every backtest, newest first.
#[utoipa::path(
    get,
    path = "/v1/backtests",
    operation_id = "list_backtests",
    tag = "backtests",
    responses(
        (status = 200, description = "Every backtest, newest first", body = Vec<BacktestView>),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    )
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    _: Allowed<ReadAll>,
) -> Result<Response, ApiError> {
    let stored = state.store.backtests().await?;
    let documents = stored
        .iter()
        .map(|b| document(&state, b))
        .collect::<Result<Vec<_>, _>>()?;
    reply(StatusCode::OK, &documents)
}

async fn stored(state: &AppState, id: &str) -> Result<StoredBacktest, ApiError> {
    let key = id.to_owned();
    state
        .store
        .backtest(&key)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no backtest {id}")))
}

/// `GET /v1/backtests/{id}`.
#[utoipa::path(
    get,
    path = "/v1/backtests/{id}",
    operation_id = "get_backtest",
    tag = "backtests",
    params(("id" = String, Path, description = "The backtest id")),
    responses(
        (status = 200, description = "Status; progress while it runs (intervals done, strategy, ETA); the report when it ends", body = BacktestView),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    _: Allowed<ReadAll>,
) -> Result<Response, ApiError> {
    let stored = stored(&state, &id).await?;
    reply(StatusCode::OK, &document(&state, &stored)?)
}

/// The ledger's format.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LedgerQuery {
    /// `csv` or `parquet` [default: by the Accept header, else CSV].
    format: Option<String>,
}

/// `GET /v1/backtests/{id}/ledger`: one row per interval and strategy.
#[utoipa::path(
    get,
    path = "/v1/backtests/{id}/ledger",
    operation_id = "backtest_ledger",
    tag = "backtests",
    params(("id" = String, Path, description = "The backtest id"), LedgerQuery),
    responses(
        (status = 200, description = "One row per interval and strategy", content((String = "text/csv"), (Vec<u8> = "application/vnd.apache.parquet"))),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 422, response = Invalid),
    )
)]
pub async fn ledger(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(query): Query<LedgerQuery>,
    _: Allowed<ReadAll>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let parquet = match query.format.as_deref() {
        Some("parquet") => true,
        Some("csv") => false,
        Some(other) => {
            return Err(ApiError::field(
                "format",
                format!("{other:?} is not a ledger format; use csv or parquet"),
            ));
        }
        None => wants(&headers, "parquet"),
    };
    let stored = stored(&state, &id).await?;
    if stored.report.is_none() {
        return Err(ApiError::conflict(format!(
            "backtest {id} is {}; its ledger is written when it ends",
            stored.status
        )));
    }
    let (file, media) = if parquet {
        ("ledger.parquet", "application/vnd.apache.parquet")
    } else {
        ("ledger.csv", "text/csv")
    };
    // Kept in the database (any replica serves it); a backtest finished by
    // an earlier version has it in its runner's data folder only.
    let bytes = match state.store.backtest_file(&id, file).await? {
        Some(bytes) => bytes,
        None => tokio::fs::read(folder(&state, &id).join(file))
            .await
            .map_err(|error| ApiError::internal(format!("the ledger cannot be read: {error}")))?,
    };
    let disposition = format!("attachment; filename=\"{id}-{file}\"");
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(media)),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
            ),
        ],
        bytes,
    )
        .into_response())
}
