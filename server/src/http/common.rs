//! Pieces every resource module shares: the caller extractor and the
//! role check, the audit record, JSON responses and request bodies, and the
//! site lookup every site-scoped route starts with.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use chrono::{DateTime, Utc};
use serde::Deserialize;

use arbiter_backtest::SiteConfig;

use crate::AppState;
use crate::auth::{Action, Caller};
use crate::error::ApiError;
use crate::store::StoredSite;

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
            None => state.keys.caller(&state.store, &token).await?,
        };
        let caller =
            caller.ok_or_else(|| ApiError::unauthenticated("the API key is unknown or revoked"))?;
        if let Some(slot) = parts.extensions.get::<super::audit::AuditSlot>() {
            slot.fill(&caller.key_id);
        }
        Ok(caller)
    }
}

/// What a route requires of every caller, whatever the site.
pub(crate) trait Requirement {
    /// The action checked.
    const ACTION: Action<'static>;
}

/// Any key may read it (traders, analysts, admins; not controllers).
#[derive(Debug)]
pub(crate) struct ReadAll;
/// Admins only: sites, the audit log, the clock.
#[derive(Debug)]
pub(crate) struct ManageSites;
/// Traders only.
#[derive(Debug)]
pub(crate) struct UploadPrices;
/// Analysts only.
#[derive(Debug)]
pub(crate) struct RunBacktests;

impl Requirement for ReadAll {
    const ACTION: Action<'static> = Action::ReadAll;
}
impl Requirement for ManageSites {
    const ACTION: Action<'static> = Action::ManageSites;
}
impl Requirement for UploadPrices {
    const ACTION: Action<'static> = Action::UploadPrices;
}
impl Requirement for RunBacktests {
    const ACTION: Action<'static> = Action::RunBacktests;
}

/// A caller whose role allows `R`: 401 without a valid key, 403 without the
/// right.
#[derive(Debug)]
pub(crate) struct Allowed<R>(pub(crate) Caller, pub(crate) std::marker::PhantomData<R>);

impl<R: Requirement + Send + Sync> FromRequestParts<Arc<AppState>> for Allowed<R> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        allow(&caller, R::ACTION)?;
        Ok(Allowed(caller, std::marker::PhantomData))
    }
}

/// What a route does with the site its path names.
pub(crate) trait SiteAccess {
    /// The action checked on `site`.
    fn action(site: &str) -> Action<'_>;
}

/// Reads the site: its controller, traders, analysts, admins.
#[derive(Debug)]
pub(crate) struct Read;
/// Writes the site's data or asks for its plans: its controller only.
#[derive(Debug)]
pub(crate) struct Operate;

impl SiteAccess for Read {
    fn action(site: &str) -> Action<'_> {
        Action::ReadSite(site)
    }
}
impl SiteAccess for Operate {
    fn action(site: &str) -> Action<'_> {
        Action::OperateSite(site)
    }
}

/// The one place site-scoped routes check their caller: the `{site}` of the
/// path and a caller whose role allows `A` on it (401 without a valid key,
/// 403 without the right). The site's existence (404) is checked after.
#[derive(Debug)]
pub(crate) struct SiteFor<A> {
    /// Who asks.
    pub(crate) caller: Caller,
    access: std::marker::PhantomData<A>,
}

impl<A: SiteAccess + Send + Sync> FromRequestParts<Arc<AppState>> for SiteFor<A> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let params =
            axum::extract::Path::<std::collections::HashMap<String, String>>::from_request_parts(
                parts, state,
            )
            .await
            .map_err(|_| ApiError::not_found("no such route"))?;
        let site = params
            .0
            .get("site")
            .cloned()
            .ok_or_else(|| ApiError::not_found("no such route"))?;
        allow(&caller, A::action(&site))?;
        Ok(SiteFor {
            caller,
            access: std::marker::PhantomData,
        })
    }
}

/// Refuses what the caller's role does not allow.
pub(crate) fn allow(caller: &Caller, action: Action) -> Result<(), ApiError> {
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

pub(crate) fn json(status: StatusCode, body: impl Into<axum::body::Body>) -> Response {
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

/// A typed body as JSON with `status`.
pub(crate) fn reply<T: serde::Serialize>(
    status: StatusCode,
    body: &T,
) -> Result<Response, ApiError> {
    let text =
        serde_json::to_string(body).map_err(|error| ApiError::internal(error.to_string()))?;
    Ok(json(status, text))
}

/// [`json`] with a `Location` header: where the created or accepted resource
/// is (left out if `location` is not a valid header value).
pub(crate) fn json_at(status: StatusCode, body: String, location: &str) -> Response {
    let mut response = json(status, body);
    if let Ok(location) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// A JSON body: 400 when it is not JSON, 422 naming the field when a value
/// has the wrong type, is missing or is unknown.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
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

pub(crate) fn wants(headers: &HeaderMap, media: &str) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains(media))
}

pub(crate) async fn load_site(
    state: &AppState,
    site: &str,
) -> Result<(StoredSite, SiteConfig), ApiError> {
    let id = site.to_owned();
    let stored = state
        .store
        .site(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no site {site}")))?;
    let config = SiteConfig::from_toml(&format!("site {site}"), &stored.config)
        .map_err(|error| ApiError::unreadable("site", format!("{site}: {error}")))?;
    Ok((stored, config))
}

/// Whether the body is CSV (by its Content-Type).
pub(crate) fn is_csv(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|media| media.starts_with("text/csv"))
}

/// The rows of a CSV body with a header line; an unreadable row is named
/// by its line.
pub(crate) fn csv_rows<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<Vec<T>, ApiError> {
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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Range {
    pub(crate) from: Option<String>,
    pub(crate) to: Option<String>,
}

/// The most a read-back of stored readings may span, days.
pub(crate) const MAX_READ_BACK_DAYS: i64 = 31;

/// The instants of `range`, each `default` when absent: 422 naming the field
/// when one is not an RFC 3339 instant, when `to` is not after `from`, or when
/// they are more than `max_days` apart.
pub(crate) fn instant_range(
    range: &Range,
    default: (DateTime<Utc>, DateTime<Utc>),
    max_days: i64,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let instant = |field: &str, value: &Option<String>, default| match value {
        None => Ok(default),
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|at| at.with_timezone(&Utc))
            .map_err(|_| {
                ApiError::field(
                    field,
                    format!(
                        "({}) must be an RFC 3339 instant, e.g. 2024-10-24T07:00:00Z",
                        arbiter_optimizer::quote(text)
                    ),
                )
            }),
    };
    let from = instant("from", &range.from, default.0)?;
    let to = instant("to", &range.to, default.1)?;
    if to <= from {
        return Err(ApiError::field(
            "to",
            format!("({}) must be after from ({})", rfc(to), rfc(from)),
        ));
    }
    if to - from > chrono::TimeDelta::days(max_days) {
        return Err(ApiError::field(
            "to",
            format!("must be at most {max_days} days after from"),
        ));
    }
    Ok((from, to))
}

/// An instant as the store writes readings: RFC 3339, whole seconds, `Z`.
pub(crate) fn rfc(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The answer to a write of readings or values: how many were stored.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Stored {
    /// Rows written (one replacing a stored one counts too).
    pub(crate) stored: usize,
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;
    use crate::auth::{Role, create_key};
    use crate::{AppState, ServeConfig};

    /// A router with one admin route and one route that operates a site, and
    /// a token per role (the controller's for site `a`), and the store's
    /// folder (removed when dropped).
    async fn router() -> (Router, [String; 3], tempfile::TempDir) {
        let (store, dir) = crate::store::temp_store("extract").await;
        let token = async |role, sites: &[&str]| {
            let sites: Vec<String> = sites.iter().map(|s| (*s).to_owned()).collect();
            create_key(&store, role, &sites).await.expect("key").1
        };
        let tokens = [
            token(Role::Admin, &[]).await,
            token(Role::Trader, &[]).await,
            token(Role::Controller, &["a"]).await,
        ];
        let state = Arc::new(AppState::new(store, ServeConfig::default()));
        let router = Router::new()
            .route("/admin", get(|_: Allowed<ManageSites>| async { "ok" }))
            .route(
                "/sites/{site}/data",
                get(|_: SiteFor<Operate>| async { "ok" }),
            )
            .with_state(state);
        (router, tokens, dir)
    }

    async fn status(router: &Router, path: &str, token: Option<&str>) -> u16 {
        let mut request = Request::get(path);
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let request = request.body(Body::empty()).expect("request");
        router
            .clone()
            .oneshot(request)
            .await
            .expect("an answer")
            .status()
            .as_u16()
    }

    #[tokio::test]
    async fn fixed_and_site_scoped_checks_answer_401_then_403() {
        let (router, [admin, trader, controller], _dir) = router().await;
        assert_eq!(status(&router, "/admin", None).await, 401);
        assert_eq!(status(&router, "/admin", Some("arb_unknown")).await, 401);
        assert_eq!(status(&router, "/admin", Some(&trader)).await, 403);
        assert_eq!(status(&router, "/admin", Some(&admin)).await, 200);
        assert_eq!(status(&router, "/sites/a/data", None).await, 401);
        assert_eq!(status(&router, "/sites/a/data", Some(&admin)).await, 403);
        assert_eq!(
            status(&router, "/sites/b/data", Some(&controller)).await,
            403
        );
        assert_eq!(
            status(&router, "/sites/a/data", Some(&controller)).await,
            200
        );
    }
}
