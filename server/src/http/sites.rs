//! Site configurations: list, create, read, replace (admins write).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use serde::Serialize;

use arbiter_backtest::SiteConfig;
use arbiter_backtest::site::Site;

use super::common::{
    Allowed, ManageSites, Read, SiteFor, json_at, load_site, parse_json, reply, wants,
};
use crate::AppState;
use crate::auth::{Action, Caller};
use crate::error::responses::{BadRequest, Conflict, Forbidden, Invalid, NotFound, Unauthorized};
use crate::error::{ApiError, FieldIssue};
use crate::store::StoredSite;
use crate::store::millis;

/// The routes of this resource.
pub(crate) fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/sites", get(list_sites).post(create_site))
        .route("/v1/sites/{site}", get(get_site).put(put_site))
}

/// This resource's part of the OpenAPI document.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(paths(list_sites, create_site, get_site, put_site))]
pub(crate) struct Doc;

/// A stored site as answered (fields in alphabetical order, as always).
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct SiteView {
    /// The configuration (the site file's keys; docs/backtest.md).
    #[schema(value_type = Site)]
    config: serde_json::Value,
    /// The site's id.
    id: String,
    /// Incremented by every update, from 1.
    revision: i64,
    /// When it was last written.
    updated_at: String,
}

/// The sites a key may read.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct SiteList {
    /// By id.
    sites: Vec<SiteView>,
}

/// A stored site as answered; a configuration that cannot be read is an
/// error (logged), never answered as `null`.
fn site_view(stored: &StoredSite) -> Result<SiteView, ApiError> {
    let config = toml::from_str::<Site>(&stored.config)
        .map_err(|error| error.to_string())
        .and_then(|site| serde_json::to_value(site).map_err(|error| error.to_string()))
        .map_err(|error| ApiError::unreadable("site", format!("{}: {error}", stored.id)))?;
    Ok(SiteView {
        config,
        id: stored.id.clone(),
        revision: stored.revision,
        updated_at: millis(stored.updated_at),
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
        (status = 200, description = "Every site the key may read: id, revision, configuration", body = SiteList),
        (status = 401, response = Unauthorized),
    )
)]
async fn list_sites(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let sites = state.store.sites().await?;
    let sites = sites
        .iter()
        .filter(|site| caller.may(Action::ReadSite(&site.id)))
        .map(site_view)
        .collect::<Result<_, _>>()?;
    reply(StatusCode::OK, &SiteList { sites })
}

#[utoipa::path(
    post,
    path = "/v1/sites",
    tag = "sites",
    request_body(
        description = "The site configuration (the backtest's site file) as JSON; or, with Content-Type: application/toml, as TOML; see docs/backtest.md",
        content((Site = "application/json")),
    ),
    responses(
        (status = 201, description = "Stored, revision 1", body = SiteView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 422, response = Invalid),
    )
)]
async fn create_site(
    State(state): State<Arc<AppState>>,
    _: Allowed<ManageSites>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let config = parse_site(&headers, &body)?;
    let id = config.site.id.clone();
    let text =
        toml::to_string(&config.site).map_err(|error| ApiError::internal(error.to_string()))?;
    let stored = {
        let id = id.clone();
        state.store.insert_site(&id, &text).await?
    };
    let Some(stored) = stored else {
        return Err(ApiError::conflict(format!(
            "site {id} exists; PUT /v1/sites/{id} updates it"
        )));
    };
    Ok(json_at(
        StatusCode::CREATED,
        serde_json::to_string(&site_view(&stored)?)
            .map_err(|error| ApiError::internal(error.to_string()))?,
        &format!("/v1/sites/{id}"),
    ))
}

#[utoipa::path(
    put,
    path = "/v1/sites/{site}",
    tag = "sites",
    params(("site" = String, Path, description = "The site id")),
    request_body(
        description = "The site configuration as JSON; or, with Content-Type: application/toml, as TOML",
        content((Site = "application/json")),
    ),
    responses(
        (status = 200, description = "Stored as a new revision", body = SiteView),
        (status = 201, description = "Created", body = SiteView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = Invalid),
    )
)]
async fn put_site(
    State(state): State<Arc<AppState>>,
    Path(site): Path<String>,
    _: Allowed<ManageSites>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
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
    let stored = state.store.put_site(&site, &text).await?;
    let status = if stored.revision == 1 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    reply(status, &site_view(&stored)?)
}

#[utoipa::path(
    get,
    path = "/v1/sites/{site}",
    tag = "sites",
    params(("site" = String, Path, description = "The site id")),
    responses(
        (status = 200, description = "The site (TOML with Accept: application/toml)", content((SiteView = "application/json"), (String = "application/toml"))),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
async fn get_site(
    State(state): State<Arc<AppState>>,
    Path(site): Path<String>,
    _: SiteFor<Read>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
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
    reply(StatusCode::OK, &site_view(&stored)?)
}
