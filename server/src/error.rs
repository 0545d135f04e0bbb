//! Errors as RFC 9457 problem details (`application/problem+json`): a
//! status, a title, a detail, and for invalid input every issue with the
//! field it names.

use arbiter_optimizer::brief;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::backtests::RequestError;
pub use super::issue::FieldIssue;
use super::planning::PlanningError;
use super::store::StoreError;

/// A failed request.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Short, the same for every error of its kind.
    pub title: &'static str,
    /// Stable and machine-readable: `malformed`, `invalid`,
    /// `unauthenticated`, `forbidden`, `not_found`, `conflict`, `internal`,
    /// `store`, `unreadable`, `solvers_busy`, `shutting_down`.
    pub code: &'static str,
    /// Seconds after which a retry may succeed (`Retry-After`).
    pub retry_after: Option<u32>,
    /// What exactly went wrong.
    pub detail: String,
    /// For invalid input: every issue found.
    pub errors: Vec<FieldIssue>,
}

/// The body of every error response (RFC 9457 problem details).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem<'a> {
    /// Always `about:blank`: the status and title say what it is.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Short, the same for every error of its kind.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// Stable and machine-readable, one per kind of error (see
    /// docs/service.md, "Errors").
    pub code: &'static str,
    /// What exactly went wrong.
    pub detail: &'a str,
    /// For invalid input (422): every field and the rule it breaks.
    #[serde(skip_serializing_if = "<[FieldIssue]>::is_empty")]
    pub errors: &'a [FieldIssue],
}

impl ApiError {
    fn new(
        status: StatusCode,
        title: &'static str,
        code: &'static str,
        detail: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            title,
            code,
            retry_after: None,
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    /// 400: the body cannot be read (not JSON/TOML/CSV, wrong types).
    pub fn malformed(detail: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed request",
            "malformed",
            detail,
        )
    }

    /// 422: readable, but breaking rules; every issue listed.
    pub fn invalid(errors: Vec<FieldIssue>) -> ApiError {
        let detail = errors
            .iter()
            .map(|issue| format!("{}: {}", issue.field, issue.message))
            .collect::<Vec<_>>()
            .join("; ");
        ApiError {
            errors,
            ..ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid input",
                "invalid",
                detail,
            )
        }
    }

    /// 422 for one field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::invalid(vec![FieldIssue {
            field: field.into(),
            message: message.into(),
        }])
    }

    /// 401: no valid key.
    pub fn unauthenticated(detail: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "unauthenticated",
            detail,
        )
    }

    /// 403: a valid key without the right.
    pub fn forbidden(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", "forbidden", detail)
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not found", "not_found", detail)
    }

    /// 409: the request contradicts what is stored.
    pub fn conflict(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", "conflict", detail)
    }

    /// 500: the service failed; nothing was changed. `detail` is logged,
    /// never answered: the client gets a generic message and the code.
    pub fn internal(detail: impl std::fmt::Display) -> ApiError {
        tracing::error!(%detail, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error",
            "internal",
            "the service failed; nothing was changed",
        )
    }

    /// 500: a stored `what` (a job, a plan…) cannot be read; `error` is
    /// logged with it.
    pub fn unreadable(what: &str, error: impl std::fmt::Display) -> ApiError {
        tracing::error!(%error, what, "stored data is unreadable");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error",
            "unreadable",
            format!("a stored {what} is unreadable"),
        )
    }

    /// 503 with `Retry-After`: try again in `seconds`.
    fn unavailable(code: &'static str, detail: &str, seconds: u32) -> ApiError {
        ApiError {
            retry_after: Some(seconds),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", code, detail)
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        if let StoreError::Unreadable(_) | StoreError::Json(_) = error {
            return ApiError::unreadable("record", error);
        }
        if error.is_unavailable() {
            tracing::warn!(%error, "the database is away");
            return ApiError::unavailable(
                "database_unavailable",
                "the database does not answer; nothing was changed; retry shortly",
                2,
            );
        }
        tracing::error!(%error, "store");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error",
            "store",
            "the database failed; nothing was changed",
        )
    }
}

impl From<PlanningError> for ApiError {
    fn from(error: PlanningError) -> ApiError {
        match error {
            PlanningError::Store(error) => error.into(),
            PlanningError::Busy => ApiError::unavailable("solvers_busy", &error.to_string(), 5),
            PlanningError::ShuttingDown => {
                ApiError::unavailable("shutting_down", &error.to_string(), 5)
            }
            PlanningError::Worker(_) | PlanningError::Problem(_) | PlanningError::Stored(_) => {
                ApiError::internal(error)
            }
        }
    }
}

impl From<RequestError> for ApiError {
    fn from(error: RequestError) -> ApiError {
        match error {
            RequestError::Field { field, message } => ApiError::field(field, message),
            RequestError::Unreadable { job, error } => {
                ApiError::unreadable("job", format!("{job}: {error}"))
            }
            RequestError::Store(error) => error.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        // Whatever a message quotes of the request (an id, a parser's view of
        // a value, a path parameter) is cut short here, where every error
        // leaves the service.
        let errors: Vec<FieldIssue> = self
            .errors
            .iter()
            .map(|issue| FieldIssue {
                field: brief(&issue.field),
                message: brief(&issue.message),
            })
            .collect();
        let body = serde_json::to_string(&Problem {
            kind: "about:blank",
            title: self.title,
            status: status.as_u16(),
            code: self.code,
            detail: &brief(&self.detail),
            errors: &errors,
        })
        .unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The error responses every route documents in `/openapi.json`: the
/// problem-details body with the status's meaning. Types for the document
/// only: nothing builds them.
#[expect(
    dead_code,
    reason = "documentation types: the field is the body's schema"
)]
pub mod responses {
    use super::Problem;

    /// The body is not JSON (or CSV, TOML).
    #[derive(Debug, utoipa::ToResponse)]
    #[response(content_type = "application/problem+json")]
    pub struct BadRequest(Problem<'static>);

    /// No valid key: missing, unknown or revoked.
    #[derive(Debug, utoipa::ToResponse)]
    #[response(content_type = "application/problem+json")]
    pub struct Unauthorized(Problem<'static>);

    /// The key's role may not do this.
    #[derive(Debug, utoipa::ToResponse)]
    #[response(content_type = "application/problem+json")]
    pub struct Forbidden(Problem<'static>);

    /// No such site, job, plan, backtest or day.
    #[derive(Debug, utoipa::ToResponse)]
    #[response(content_type = "application/problem+json")]
    pub struct NotFound(Problem<'static>);

    /// The request contradicts what is stored (or is still being answered).
    #[derive(Debug, utoipa::ToResponse)]
    #[response(content_type = "application/problem+json")]
    pub struct Conflict(Problem<'static>);

    /// Invalid input: every field named with the rule it breaks.
    #[derive(Debug, utoipa::ToResponse)]
    #[response(content_type = "application/problem+json")]
    pub struct Invalid(Problem<'static>);
}
