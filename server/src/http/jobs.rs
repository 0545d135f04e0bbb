//! The compute job queue of each site (controllers write).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;

use crate::jobs::JobSpec;
use crate::store::StoredJob;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::common::{Operate, Read, SiteFor, json_at, load_site, parse_json, reply};
use crate::AppState;
use crate::error::ApiError;
use crate::error::responses::{BadRequest, Conflict, Forbidden, Invalid, NotFound, Unauthorized};
use crate::store::millis;

/// The routes of this resource.
pub(crate) fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/sites/{site}/jobs", get(list_jobs).post(submit_job))
        .route(
            "/v1/sites/{site}/jobs/{job}",
            get(get_job).patch(update_job).delete(cancel_job),
        )
}

/// This resource's part of the OpenAPI document.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(paths(list_jobs, submit_job, get_job, update_job, cancel_job))]
pub(crate) struct Doc;

/// A job as answered (fields in alphabetical order, as always).
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct JobView {
    /// IT energy delivered so far, kWh, as the controller reported.
    delivered_kwh: f64,
    /// The job's id, unique within its site.
    id: String,
    /// The job as submitted.
    #[schema(value_type = JobSpec)]
    spec: serde_json::Value,
    /// `open`, `done`, `cancelled`, or `expired` (open past its deadline).
    status: String,
    /// When it was submitted.
    submitted_at: String,
    /// When it last changed.
    updated_at: String,
}

/// A site's jobs.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct JobList {
    /// Every job of the site, as stored.
    jobs: Vec<JobView>,
}

/// A stored job as answered at `now`; an unreadable stored job is an error
/// (logged), never shown with a made-up spec.
fn job_view(job: &StoredJob, now: DateTime<Utc>) -> Result<JobView, ApiError> {
    let spec: serde_json::Value = serde_json::from_str(&job.spec).map_err(|error| {
        ApiError::unreadable("job", format!("{}/{}: {error}", job.site_id, job.id))
    })?;
    let overdue = spec["deadline"]
        .as_str()
        .and_then(|d| DateTime::parse_from_rfc3339(d).ok())
        .is_some_and(|d| d.with_timezone(&Utc) <= now);
    let status = match job.status.as_str() {
        "open" if overdue => "expired",
        other => other,
    };
    Ok(JobView {
        delivered_kwh: job.delivered_kwh,
        id: job.id.clone(),
        spec,
        status: status.to_owned(),
        submitted_at: millis(job.submitted_at),
        updated_at: millis(job.updated_at),
    })
}

#[utoipa::path(
    post,
    path = "/v1/sites/{site}/jobs",
    tag = "jobs",
    params(("site" = String, Path, description = "The site id")),
    request_body = JobSpec,
    responses(
        (status = 201, description = "Queued", body = JobView),
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
    _: SiteFor<Operate>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (_, config) = load_site(&state, &site).await?;
    let spec: JobSpec = parse_json(&body)?;
    let now = state.clock.now();
    let issues = spec.check(&config, now);
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let at = crate::store::now();
    let job = StoredJob {
        site_id: site.clone(),
        id: spec.id.clone(),
        spec: serde_json::to_string(&spec).unwrap_or_default(),
        submitted_at: at,
        delivered_kwh: 0.0,
        status: "open".to_owned(),
        updated_at: at,
    };
    let inserted = {
        let job = job.clone();
        state.store.insert_job(&job).await?
    };
    if !inserted {
        return Err(ApiError::conflict(format!(
            "site {site} already has a job {}",
            spec.id
        )));
    }
    let body = serde_json::to_string(&job_view(&job, now)?)
        .map_err(|error| ApiError::internal(error.to_string()))?;
    Ok(json_at(
        StatusCode::CREATED,
        body,
        &format!("/v1/sites/{site}/jobs/{}", spec.id),
    ))
}

#[utoipa::path(
    get,
    path = "/v1/sites/{site}/jobs",
    tag = "jobs",
    params(("site" = String, Path, description = "The site id")),
    responses(
        (status = 200, description = "The site's jobs with their status and delivered energy", body = JobList),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
async fn list_jobs(
    State(state): State<Arc<AppState>>,
    Path(site): Path<String>,
    _: SiteFor<Read>,
) -> Result<Response, ApiError> {
    load_site(&state, &site).await?;
    let id = site.clone();
    let jobs = state.store.jobs(&id, false).await?;
    let now = state.clock.now();
    let jobs = jobs
        .iter()
        .map(|job| job_view(job, now))
        .collect::<Result<_, _>>()?;
    reply(StatusCode::OK, &JobList { jobs })
}

async fn find_job(state: &AppState, site: &str, job: &str) -> Result<StoredJob, ApiError> {
    let (s, j) = (site.to_owned(), job.to_owned());
    state
        .store
        .job(&s, &j)
        .await?
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
        (status = 200, description = "The job", body = JobView),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
async fn get_job(
    State(state): State<Arc<AppState>>,
    Path((site, job)): Path<(String, String)>,
    _: SiteFor<Read>,
) -> Result<Response, ApiError> {
    let stored = find_job(&state, &site, &job).await?;
    reply(StatusCode::OK, &job_view(&stored, state.clock.now())?)
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
        (status = 200, description = "Progress recorded (done once it reaches the job's energy)", body = JobView),
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
    _: SiteFor<Operate>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let stored = find_job(&state, &site, &job).await?;
    let progress: JobProgress = parse_json(&body)?;
    let spec: JobSpec =
        serde_json::from_str(&stored.spec).map_err(|error| ApiError::unreadable("job", error))?;
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
        state.store.update_job(&s, &j, delivered, &status).await?;
    }
    let updated = find_job(&state, &site, &job).await?;
    reply(StatusCode::OK, &job_view(&updated, state.clock.now())?)
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
        (status = 200, description = "Cancelled", body = JobView),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    )
)]
async fn cancel_job(
    State(state): State<Arc<AppState>>,
    Path((site, job)): Path<(String, String)>,
    _: SiteFor<Operate>,
) -> Result<Response, ApiError> {
    let stored = find_job(&state, &site, &job).await?;
    if stored.status == "done" {
        return Err(ApiError::conflict(format!("job {job} is done")));
    }
    {
        let (s, j, delivered) = (site.clone(), job.clone(), stored.delivered_kwh);
        state
            .store
            .update_job(&s, &j, delivered, "cancelled")
            .await?;
    }
    let updated = find_job(&state, &site, &job).await?;
    reply(StatusCode::OK, &job_view(&updated, state.clock.now())?)
}
