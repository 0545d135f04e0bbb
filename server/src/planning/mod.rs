//! A live site's plan, built from what the service has stored exactly as
//! a backtest builds it ([`arbiter_backtest::planner`]): the market's
//! published prices extended by forecast, the charging forecast at the
//! site's quantile from the metered load, the last reported battery energy,
//! the billing month's peak so far from the meter readings, and the
//! previous plan as stability reference and warm start, and the open jobs
//! with the energy they still need.
//!
//! Missing or stale data never stops a plan: what is missing is replaced
//! (no prices: flat zero prices; no charging history: no charging; no
//! battery report: the configured initial energy) and the published plan
//! lists every such substitution in `warnings`. Its `basis` records the
//! versions of everything it was built from.

mod gather;
mod history;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arbiter_backtest::SiteConfig;
use arbiter_backtest::planner::{
    Snapshot, carried_basis, choose_price_model, dump_if_asked, horizon_intervals,
    price_model_history_days, raw_problem, solve_options, validated,
};
use arbiter_forecast::{Model, Series, resample};
use arbiter_optimizer::{Plan, RelaxationBasis, solve_with_stats};
use chrono::{DateTime, NaiveDate, SecondsFormat, TimeDelta, TimeZone, Utc};
use serde::Serialize;

use self::gather::{Gathered, gather};
pub use self::history::{ChargingHistories, History};
use super::store::{Claim, Store, StoreError, StoredPrices};
use super::{AppState, Published, SOLVE_QUEUE_TIMEOUT};

/// The price model of each market, local day, interval and horizon:
/// chosen once a day on the stored prices before that day, by the rule the
/// backtest uses ([`choose_price_model`]).
pub type PriceModels = Mutex<HashMap<(String, NaiveDate, u32, usize), Model>>;

/// Each site's last plan's relaxation basis, to start its next plan's
/// relaxation from (see [`arbiter_optimizer::SolveOptions::relaxation_basis`]).
/// Kept in memory by the replica that made the plan: a replica that did not
/// make a site's previous plan (or a restarted one) starts from scratch,
/// which changes nothing but the time the plan takes.
pub type RelaxationBases = Mutex<HashMap<String, Arc<RelaxationBasis>>>;

/// The price model for `market` on the market-local day of `at`, chosen on
/// the first plan of the day and kept for the rest of it.
async fn price_model(
    models: &PriceModels,
    store: &Store,
    config: &SiteConfig,
    market: &str,
    at: DateTime<Utc>,
) -> Result<Model, PlanningError> {
    let day = at.with_timezone(&config.market_zone).date_naive();
    let minutes = config.site.interval_minutes;
    let key = (market.to_owned(), day, minutes, horizon_intervals(config));
    if let Some(model) = models
        .lock()
        .ok()
        .and_then(|models| models.get(&key).cloned())
    {
        return Ok(model);
    }
    let before = day
        .and_hms_opt(0, 0, 0)
        .and_then(|midnight| config.market_zone.from_local_datetime(&midnight).earliest())
        .map_or(at, |midnight| midnight.with_timezone(&Utc));
    let days = store
        .prices_between(
            market,
            &(day - TimeDelta::days(i64::from(price_model_history_days()))).to_string(),
            &(day - TimeDelta::days(1)).to_string(),
        )
        .await?;
    let model = match price_series(&days, minutes) {
        // Choosing scores every candidate model on the history: off the
        // async executor.
        Some(history) => {
            let config = config.clone();
            tokio::task::spawn_blocking(move || choose_price_model(&config, &history, before))
                .await
                .map_err(|error| PlanningError::Worker(error.to_string()))?
        }
        None => Model::SeasonalNaive { lag_days: 1 },
    };
    if let Ok(mut models) = models.lock() {
        models.retain(|(_, kept, _, _), _| *kept >= day - TimeDelta::days(1));
        models.insert(key, model.clone());
    }
    Ok(model)
}

/// What a plan was built from.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Basis {
    /// The site configuration's revision.
    pub site_revision: i64,
    /// The market, and the revision of each delivery day's prices used.
    pub market: Option<String>,
    /// The model that extended the published prices to the horizon.
    pub price_model: Option<String>,
    /// `YYYY-MM-DD` → revision.
    pub price_revisions: std::collections::BTreeMap<String, i64>,
    /// Prices published up to this instant; later ones are forecast.
    pub prices_published_until: Option<String>,
    /// The last metered charging reading used.
    pub charging_until: Option<String>,
    /// Where the charging forecast came from.
    pub charging_forecast: ChargingForecast,
    /// The battery report used.
    pub telemetry_at: Option<String>,
    /// The billing month's peak import so far, kW.
    pub month_peak_kw: f64,
    /// The energy above the battery's minimum the plan keeps back at every
    /// boundary for charging spikes the forecast did not see, kWh (sized
    /// from the site's meter readings, or the site's fixed reserve); none
    /// without a battery, a demand charge or a reserve.
    pub peak_reserve_kwh: Option<f64>,
    /// The plan version used as stability reference and warm start.
    pub previous_version: Option<i64>,
    /// The open jobs planned, with the energy they had received.
    pub jobs: std::collections::BTreeMap<String, f64>,
}

/// The charging forecast a plan used: the controller's own values where it
/// sent them (`PUT …/charging/forecast`), the model's elsewhere.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ChargingForecast {
    /// Intervals of the horizon forecast by the controller.
    pub controller_intervals: usize,
    /// Intervals forecast by the model at the site's quantile.
    pub model_intervals: usize,
    /// When the newest controller value used was sent.
    pub issued_at: Option<String>,
}

/// The model's charging forecast over a plan's horizon at the median and
/// the 90th percentile, kW per interval (the plan itself is built on the
/// site's `charging_quantile`, and on the controller's own values where it
/// sent them).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EvForecast {
    /// The median.
    pub p50_kw: Vec<f64>,
    /// The 90th percentile.
    pub p90_kw: Vec<f64>,
}

/// The published document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = PlanDocument)]
pub struct Document<'a> {
    /// The site.
    pub site_id: &'a str,
    /// The plan's version.
    pub version: i64,
    /// When it was published.
    pub created_at: &'a str,
    /// The first interval's start.
    pub start: String,
    /// What it was built from.
    pub basis: &'a Basis,
    /// Data that was missing or stale, and what replaced it.
    pub warnings: &'a [String],
    /// The plan itself (the optimizer's plan format).
    pub plan: &'a Plan,
    /// The model's charging forecast, P50 and P90 (none without metered
    /// charging history).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ev_forecast: Option<&'a EvForecast>,
    /// Present (true) once the plan is past the service's
    /// `plan_retention_days`: `plan.intervals` then holds only the
    /// intervals it was in force for (until the next version's start); its
    /// costs and job summaries still describe the whole horizon it planned.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub trimmed: bool,
}

/// The start of the interval containing `now` on the site's grid.
pub fn interval_start(config: &SiteConfig, now: DateTime<Utc>) -> DateTime<Utc> {
    let step = i64::from(config.site.interval_minutes.max(1)) * 60;
    let seconds = now.timestamp();
    DateTime::from_timestamp(seconds - seconds.rem_euclid(step), 0).unwrap_or(now)
}

fn rfc(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Why a plan could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanningError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Every solver stayed busy for [`SOLVE_QUEUE_TIMEOUT`].
    #[error("every solver was busy for 60 s; try again")]
    Busy,
    /// The service is shutting down.
    #[error("the service is shutting down")]
    ShuttingDown,
    /// A worker thread failed (it panicked or was cancelled).
    #[error("a planning worker failed: {0}")]
    Worker(String),
    /// The plan just stored cannot be read back.
    #[error("the plan stored cannot be read back: {0}")]
    Stored(String),
    /// The stored site and data make a problem the optimizer refuses.
    #[error("the site's problem is invalid: {0}")]
    Problem(String),
}

/// Plans `site_id` from `at` (an interval start), stores and publishes the
/// plan. The solve waits for one of the service's solver slots.
pub async fn plan_site(
    state: &Arc<AppState>,
    config: SiteConfig,
    site_revision: i64,
    at: DateTime<Utc>,
    claim: Option<Claim>,
) -> Result<Arc<Published>, PlanningError> {
    let reading = std::time::Instant::now();
    let cached = state.latest.get(&config.site.id);
    let gathered = gather(
        state,
        cached,
        config.clone(),
        site_revision,
        at,
        state.clock.now(),
    )
    .await?;
    let read_seconds = reading.elapsed().as_secs_f64();
    let permit = tokio::time::timeout(SOLVE_QUEUE_TIMEOUT, state.solves.acquire())
        .await
        .map_err(|_| PlanningError::Busy)?
        .map_err(|_| PlanningError::ShuttingDown)?;
    let explain = state.config.explain_plans;
    let carried = state
        .relaxation_bases
        .lock()
        .ok()
        .and_then(|bases| carried_basis(bases.get(&config.site.id)));
    let (solved, gathered) = tokio::task::spawn_blocking(move || {
        let solved = solve_gathered(&gathered, at, explain, carried);
        (solved, gathered)
    })
    .await
    .map_err(|error| PlanningError::Worker(error.to_string()))?;
    drop(permit);
    let Solved {
        plan,
        basis,
        from_carried_basis,
    } = solved?;
    if let Ok(mut bases) = state.relaxation_bases.lock() {
        match basis {
            Some(basis) => bases.insert(config.site.id.clone(), basis),
            None => bases.remove(&config.site.id),
        };
    }
    state
        .metrics
        .plan_published(plan.status.as_str(), plan.solve_seconds, from_carried_basis);
    let site_id = config.site.id.clone();
    let status = plan.status.as_str().to_owned();
    let writing = std::time::Instant::now();
    let stored = state
        .store
        .insert_plan(
            &site_id,
            at,
            &status,
            claim.as_ref(),
            |version, created_at| {
                serde_json::to_string(&Document {
                    site_id: &plan.site_id,
                    version,
                    created_at,
                    start: rfc(at),
                    basis: &gathered.basis,
                    warnings: &gathered.warnings,
                    plan: &plan,
                    ev_forecast: gathered.ev_band.as_ref(),
                    trimmed: false,
                })
                .unwrap_or_default()
            },
        )
        .await?;
    state
        .metrics
        .plan_database(read_seconds + writing.elapsed().as_secs_f64());
    let published = Arc::new(Published::from_stored(stored).map_err(PlanningError::Stored)?);
    crate::replicas::adopt(state, Arc::clone(&published));
    Ok(published)
}

/// What solving a gathered site gives: the published plan, its relaxation's
/// basis for the next plan, and whether its own relaxation started from the
/// previous plan's.
struct Solved {
    plan: Plan,
    basis: Option<Arc<RelaxationBasis>>,
    from_carried_basis: bool,
}

/// Solves a gathered site, its relaxation started from `carried` (the
/// previous plan's basis).
fn solve_gathered(
    gathered: &Gathered,
    at: DateTime<Utc>,
    explain: bool,
    carried: Option<Arc<RelaxationBasis>>,
) -> Result<Solved, PlanningError> {
    let snapshot = Snapshot {
        at,
        prices_per_mwh: gathered.prices.clone(),
        ev_kw: gathered.ev.clone(),
        jobs: gathered
            .jobs
            .iter()
            .map(|(job, delivered_kwh, running)| arbiter_backtest::OpenJob {
                job,
                delivered_kwh: *delivered_kwh,
                running: *running,
            })
            .collect(),
        soc_kwh: gathered.soc_kwh,
        month_peak_kw: gathered.basis.month_peak_kw,
        previous: gathered.previous.as_ref(),
        // What the plan keeps back: the reserve its basis reports
        // (`peak_reserve_kwh`), less the layers recent prices sold.
        reserve: gathered.reserve.clone(),
        recent_export_prices: gathered.recent_export_prices.clone(),
    };
    let raw = raw_problem(&gathered.config, &snapshot);
    dump_if_asked(&raw, at, "");
    let problem = validated(raw, at).map_err(|error| PlanningError::Problem(error.to_string()))?;
    // Published (rounded, every rule kept): what controllers execute and the
    // next plan's stability reference and warm start.
    let options = arbiter_optimizer::SolveOptions {
        explain,
        relaxation_basis: carried,
        ..solve_options(&gathered.config, gathered.previous.as_ref())
    };
    let (plan, stats) = solve_with_stats(&problem, &options);
    Ok(Solved {
        plan: plan.published(&problem),
        basis: stats.relaxation_basis,
        from_carried_basis: stats.relaxation_basis_used,
    })
}

/// Stored price days as one series on the site's interval, when they are
/// contiguous up to the last (an earlier gap drops what precedes it).
pub(super) fn price_series(days: &[StoredPrices], minutes: u32) -> Option<Series> {
    let mut series: Option<Series> = None;
    for day in days {
        let start = day.start;
        let step = u32::try_from(day.step_minutes).ok()?;
        let (day_series, _) = resample(
            &Series {
                start,
                step_minutes: step,
                values: day.prices.clone(),
            },
            minutes,
        )
        .ok()?;
        series = match series {
            Some(mut joined) if joined.end() == day_series.start => {
                joined.values.extend(day_series.values);
                Some(joined)
            }
            _ => Some(day_series),
        };
    }
    series
}

/// Metered readings from `since` to `until` on the site's interval; missing
/// intervals are NaN (the models skip them). `None` without any reading.
pub(super) fn load_series(
    readings: &[(String, f64)],
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    minutes: u32,
) -> Option<Series> {
    let step = i64::from(minutes.max(1)) * 60;
    let start =
        DateTime::from_timestamp(since.timestamp() - since.timestamp().rem_euclid(step), 0)?;
    let count = usize::try_from((until - start).num_seconds() / step).ok()?;
    let mut values = vec![f64::NAN; count];
    let mut any = false;
    for (at, kw) in readings {
        let Ok(at) = DateTime::parse_from_rfc3339(at) else {
            continue;
        };
        let offset = (at.with_timezone(&Utc) - start).num_seconds();
        if offset < 0 || offset % step != 0 {
            continue;
        }
        if let Some(slot) = usize::try_from(offset / step)
            .ok()
            .and_then(|i| values.get_mut(i))
        {
            *slot = *kw;
            any = true;
        }
    }
    any.then_some(Series {
        start,
        step_minutes: minutes,
        values,
    })
}
