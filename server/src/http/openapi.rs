//! The OpenAPI 3.1 document of the service, served at `/openapi.json`,
//! generated from the handlers' annotations and the request types.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::common::json;
use super::{backtests, charging, fleet, jobs, outturn, plans, prices, service, sites, telemetry};
use crate::AppState;
use crate::error::responses::{BadRequest, Conflict, Forbidden, Invalid, NotFound, Unauthorized};
use crate::error::{FieldIssue, Problem};

/// The document.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Arbiter",
        description = "Plans a power-constrained site (EV charging, a grid battery, AI compute jobs) every interval against day-ahead prices, and publishes the plans to its controller. Every /v1 route takes a bearer API key; its role (controller, trader, analyst, admin) decides what it may do: see docs/service.md."
    ),
    components(
        responses(BadRequest, Unauthorized, Forbidden, NotFound, Conflict, Invalid),
        schemas(Problem, FieldIssue)
    ),
    modifiers(&Bearer),
    security(("bearer" = [])),
    tags(
        (name = "sites", description = "Site configurations (admin writes)"),
        (name = "fleet", description = "Every site at a glance; who the caller is"),
        (name = "prices", description = "Day-ahead prices per market, with revisions (trader writes)"),
        (name = "charging", description = "Metered charging load (controller writes)"),
        (name = "telemetry", description = "Battery energy, meter, running jobs (controller writes)"),
        (name = "jobs", description = "The compute job queue per site (controller writes)"),
        (name = "plans", description = "Plans: request, latest, history, stream"),
        (name = "backtests", description = "Backtests over stored data (analyst runs)"),
        (name = "service", description = "Health, metrics, clock, audit"),
    )
)]
pub struct ApiDoc;

/// The bearer-key security scheme.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The whole document: the common parts, then each resource's paths.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    for part in [
        service::Doc::openapi(),
        sites::Doc::openapi(),
        fleet::Doc::openapi(),
        prices::Doc::openapi(),
        charging::Doc::openapi(),
        telemetry::Doc::openapi(),
        jobs::Doc::openapi(),
        plans::Doc::openapi(),
        outturn::Doc::openapi(),
        backtests::Doc::openapi(),
    ] {
        document.merge(part);
    }
    document
}

/// The route of the document: `GET /openapi.json`, no key needed.
pub(crate) fn router() -> axum::Router<std::sync::Arc<AppState>> {
    axum::Router::new().route("/openapi.json", axum::routing::get(openapi_json))
}

/// The OpenAPI document (no key needed).
async fn openapi_json() -> axum::response::Response {
    json(axum::http::StatusCode::OK, document())
}

/// The document as JSON.
pub fn document() -> String {
    openapi().to_pretty_json().unwrap_or_default()
}
