//! The fleet at a glance (every site the key may read, one row each) and
//! who the caller is (what the dashboard shows them).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Serialize;

use arbiter_backtest::SiteConfig;

use super::common::reply;
use crate::AppState;
use crate::auth::{Action, Caller};
use crate::error::ApiError;
use crate::error::responses::Unauthorized;
use crate::fleet::{FleetSite, Measured, PlanFacts, month_start, summarize};
use crate::store::seconds;

/// The routes of this resource.
pub(crate) fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/fleet", get(fleet))
        .route("/v1/whoami", get(whoami))
}

/// This resource's part of the OpenAPI document.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(paths(fleet, whoami))]
pub(crate) struct Doc;

/// The fleet (fields in alphabetical order, as always).
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Fleet {
    /// The service's clock when the summary was made.
    now: DateTime<Utc>,
    /// Every site the key may read, by id.
    sites: Vec<FleetSite>,
}

/// The caller's key (fields in alphabetical order, as always).
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Whoami {
    /// The key's public id.
    key_id: String,
    /// What the role may do besides reading: `operate` (its sites'
    /// data and plans), `upload_prices`, `run_backtests`, `manage_sites`.
    may: Vec<&'static str>,
    /// `controller`, `trader`, `analyst` or `admin`.
    role: &'static str,
    /// The sites a controller acts for (empty for other roles, which read
    /// every site).
    sites: Vec<String>,
}

#[utoipa::path(
    get,
    path = "/v1/fleet",
    tag = "fleet",
    responses(
        (status = 200, description = "Every site the key may read with its latest plan's status, age and warnings, the battery now, the month's peak against the plan's, the energy cost planned for the rest of the local day, and what needs a look", body = Fleet),
        (status = 401, response = Unauthorized),
    )
)]
async fn fleet(State(state): State<Arc<AppState>>, caller: Caller) -> Result<Response, ApiError> {
    let now = state.clock.now();
    // Each readable site with the start of its billing month.
    let configs = state
        .store
        .sites()
        .await?
        .iter()
        .filter(|site| caller.may(Action::ReadSite(&site.id)))
        .map(|site| {
            let config = SiteConfig::from_toml(&site.id, &site.config)
                .map_err(|error| ApiError::unreadable("site", format!("{}: {error}", site.id)))?;
            let month = seconds(month_start(&config, now));
            Ok((config, month))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let batteries = state.store.latest_batteries().await?;
    // One query per billing month start (sites in one zone share it).
    let mut peaks: HashMap<&str, HashMap<String, f64>> = HashMap::new();
    for month in configs
        .iter()
        .map(|(_, month)| month.as_str())
        .collect::<BTreeSet<_>>()
    {
        peaks.insert(month, state.store.peaks_since(month).await?);
    }
    let mut sites = Vec::with_capacity(configs.len());
    for (config, month) in &configs {
        let id = &config.site.id;
        // A plan another replica announced is read once, here.
        let published = if state.latest.unread(id) {
            super::plans::latest(&state, id).await?
        } else {
            state.latest.get(id)
        };
        let plan = published.as_deref().map(|p| PlanFacts {
            version: p.version,
            created_at: p.created_at,
            start: p.start,
            outline: &p.outline,
        });
        let measured = Measured {
            battery: batteries
                .get(id)
                .and_then(|(at, kwh)| Some((at.parse::<DateTime<Utc>>().ok()?, *kwh))),
            month_peak_kw: peaks
                .get(month.as_str())
                .and_then(|peaks| peaks.get(id))
                .copied(),
        };
        sites.push(summarize(config, plan, measured, now));
    }
    reply(StatusCode::OK, &Fleet { now, sites })
}

#[utoipa::path(
    get,
    path = "/v1/whoami",
    tag = "fleet",
    responses(
        (status = 200, description = "The caller's role, its sites and what it may do", body = Whoami),
        (status = 401, response = Unauthorized),
    )
)]
async fn whoami(caller: Caller) -> Result<Response, ApiError> {
    let site = caller.sites.first().map(String::as_str).unwrap_or_default();
    let may = [
        ("operate", Action::OperateSite(site)),
        ("upload_prices", Action::UploadPrices),
        ("run_backtests", Action::RunBacktests),
        ("manage_sites", Action::ManageSites),
    ]
    .into_iter()
    .filter(|(_, action)| caller.may(*action))
    .map(|(name, _)| name)
    .collect();
    reply(
        StatusCode::OK,
        &Whoami {
            key_id: caller.key_id.clone(),
            may,
            role: caller.role.name(),
            sites: caller.sites.clone(),
        },
    )
}
