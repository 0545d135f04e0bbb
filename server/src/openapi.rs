//! The OpenAPI 3.1 document of the service, served at `/openapi.json`,
//! generated from the handlers' annotations and the request types.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::error::responses::{BadRequest, Conflict, Forbidden, Invalid, NotFound, Unauthorized};
use super::error::{FieldIssue, Problem};
use super::{backtests, metrics, routes};

/// The document.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Arbiter",
        description = "Plans a power-constrained site (EV charging, a grid battery, AI compute jobs) every interval against day-ahead prices, and publishes the plans to its controller. Every /v1 route takes a bearer API key; its role (controller, trader, analyst, admin) decides what it may do: see docs/service.md."
    ),
    paths(
        routes::healthz,
        routes::ready,
        metrics::render,
        routes::audit_log,
        routes::get_clock,
        routes::advance_clock,
        routes::list_sites,
        routes::create_site,
        routes::get_site,
        routes::put_site,
        routes::get_prices,
        routes::put_prices,
        routes::get_price_revisions,
        routes::put_charging,
        routes::put_charging_forecast,
        routes::post_telemetry,
        routes::list_jobs,
        routes::submit_job,
        routes::get_job,
        routes::update_job,
        routes::cancel_job,
        routes::post_plan,
        routes::list_plans,
        routes::latest_plan,
        routes::stream_plans,
        routes::get_plan,
        backtests::list,
        backtests::submit,
        backtests::get,
        backtests::ledger,
    ),
    components(
        responses(BadRequest, Unauthorized, Forbidden, NotFound, Conflict, Invalid),
        schemas(Problem, FieldIssue)
    ),
    modifiers(&Bearer),
    security(("bearer" = [])),
    tags(
        (name = "sites", description = "Site configurations (admin writes)"),
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

/// The document as JSON.
pub fn document() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}
