//! Prometheus metrics at `/metrics`: requests and their durations by route,
//! solve durations, plans published by status and those started from a
//! carried relaxation basis, and each site's last-plan age.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::AppState;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SiteLabels {
    site: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn request_histogram() -> Histogram {
    // 0.1 ms to about 6.5 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
}

fn solve_histogram() -> Histogram {
    // 10 ms to about 80 s.
    Histogram::new(exponential_buckets(0.01, 2.0, 14))
}

/// The service's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Histograms<RouteLabels>,
    solves: Histogram,
    plans: Family<StatusLabels, Counter>,
    carried_bases: Counter,
    plan_age: Family<SiteLabels, Gauge<f64, AtomicU64>>,
    database: Histogram,
    /// Plans timed in `database`, and their database time in microseconds
    /// (for `arbiter bench cycle`).
    database_totals: (AtomicU64, AtomicU64),
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "arbiter_http_requests",
            "HTTP requests answered, by method, route and status",
            requests.clone(),
        );
        let durations = Histograms::<RouteLabels>::new_with_constructor(request_histogram);
        registry.register(
            "arbiter_http_request_duration_seconds",
            "Time to answer a request, by route",
            durations.clone(),
        );
        let solves = solve_histogram();
        registry.register(
            "arbiter_solve_duration_seconds",
            "Time to build and solve a plan",
            solves.clone(),
        );
        let plans = Family::<StatusLabels, Counter>::default();
        registry.register(
            "arbiter_plans_published",
            "Plans published, by solve status (optimal, feasible, fallback)",
            plans.clone(),
        );
        let carried_bases = Counter::default();
        registry.register(
            "arbiter_plans_from_carried_basis",
            "Plans whose LP relaxation started from the site's previous plan's basis, kept by this replica (the others started cold)",
            carried_bases.clone(),
        );
        let plan_age = Family::<SiteLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "arbiter_last_plan_age_seconds",
            "Seconds since each site's latest plan was published",
            plan_age.clone(),
        );
        let database = request_histogram();
        registry.register(
            "arbiter_plan_database_seconds",
            "Time a plan spends in the database: reading what it is built from and publishing itself",
            database.clone(),
        );
        Metrics {
            registry,
            requests,
            durations,
            solves,
            plans,
            carried_bases,
            plan_age,
            database,
            database_totals: Default::default(),
        }
    }
}

impl Metrics {
    /// Records the database time of one plan.
    pub fn plan_database(&self, seconds: f64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.database.observe(seconds);
        self.database_totals.0.fetch_add(1, Relaxed);
        self.database_totals
            .1
            .fetch_add((seconds * 1e6) as u64, Relaxed);
    }

    /// Plans timed so far and their database time in all, seconds.
    pub fn plan_database_totals(&self) -> (u64, f64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.database_totals.0.load(Relaxed),
            self.database_totals.1.load(Relaxed) as f64 / 1e6,
        )
    }

    /// Counts a published plan, its solve time and whether its relaxation
    /// started from a carried basis.
    pub fn plan_published(&self, status: &str, solve_seconds: f64, from_carried_basis: bool) {
        self.solves.observe(solve_seconds);
        if from_carried_basis {
            self.carried_bases.inc();
        }
        self.plans
            .get_or_create(&StatusLabels {
                status: status.to_owned(),
            })
            .inc();
    }
}

/// Times and counts every request by its route template.
pub async fn track(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let metrics = &state.metrics;
    metrics
        .durations
        .get_or_create(&RouteLabels {
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

/// `GET /metrics`, in the Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "service",
    security(()),
    responses(
        (status = 200, description = "Prometheus text format: request and solve-duration histograms, plans by status, last-plan age per site", body = String),
    )
)]
pub async fn render(State(state): State<Arc<AppState>>) -> Response {
    let now = state.clock.now();
    for (site, created_at) in state.latest.published_at() {
        let age = (now - created_at).num_milliseconds() as f64 / 1000.0;
        state
            .metrics
            .plan_age
            .get_or_create(&SiteLabels { site })
            .set(age.max(0.0));
    }
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, &state.metrics.registry).is_err() {
        return (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "metrics could not be encoded\n",
        )
            .into_response();
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
