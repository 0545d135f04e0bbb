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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arbiter_backtest::planner::{
    Snapshot, charging_model, choose_price_model, horizon_intervals, price_model_history_days,
    problem, solve_options,
};
use arbiter_backtest::{SiteConfig, published_until};
use arbiter_forecast::{Model, Series, resample};
use arbiter_optimizer::{POWER_DECIMALS, Plan, round_to, solve};
use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, TimeDelta, TimeZone, Utc};
use serde::Serialize;

use super::store::{Store, StoreError, StoredPrices};
use super::{AppState, Published, SOLVE_QUEUE_TIMEOUT};

/// The price model of each market, local day, interval and horizon:
/// chosen once a day on the stored prices before that day, by the rule the
/// backtest uses ([`choose_price_model`]).
pub type PriceModels = Mutex<HashMap<(String, NaiveDate, u32, usize), Model>>;

/// The price model for `market` on the market-local day of `at`, chosen on
/// the first plan of the day and kept for the rest of it.
fn price_model(
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
    let days = store.prices_between(
        market,
        &(day - TimeDelta::days(i64::from(price_model_history_days()))).to_string(),
        &(day - TimeDelta::days(1)).to_string(),
    )?;
    let model = match price_series(&days, minutes) {
        Some(history) => choose_price_model(config, &history, before),
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
}

/// Everything read from the store for one plan.
struct Gathered {
    config: SiteConfig,
    basis: Basis,
    warnings: Vec<String>,
    prices: Vec<f64>,
    ev: Vec<f64>,
    soc_kwh: f64,
    previous: Option<Plan>,
    /// Open jobs: the job, energy delivered so far, whether it is running.
    jobs: Vec<(arbiter_forecast::QueuedJob, f64, bool)>,
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
    /// The stored site and data make a problem the optimizer refuses.
    #[error("the site's problem is invalid: {0}")]
    Problem(String),
}

/// Runs `f` on the store off the async executor.
async fn on_store<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Store) -> T + Send + 'static,
) -> Result<T, PlanningError> {
    let store = Arc::clone(&state.store);
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|error| PlanningError::Worker(error.to_string()))
}

/// Plans `site_id` from `at` (an interval start), stores and publishes the
/// plan. The solve waits for one of the service's solver slots.
pub async fn plan_site(
    state: &Arc<AppState>,
    config: SiteConfig,
    site_revision: i64,
    at: DateTime<Utc>,
) -> Result<Arc<Published>, PlanningError> {
    let gathered = {
        let config = config.clone();
        let models = Arc::clone(state);
        let now = state.clock.now();
        on_store(state, move |store| {
            gather(store, &models.price_models, config, site_revision, at, now)
        })
        .await??
    };
    let permit = tokio::time::timeout(SOLVE_QUEUE_TIMEOUT, state.solves.acquire())
        .await
        .map_err(|_| PlanningError::Busy)?
        .map_err(|_| PlanningError::ShuttingDown)?;
    let (plan, gathered) = tokio::task::spawn_blocking(move || {
        let plan = solve_gathered(&gathered, at);
        (plan, gathered)
    })
    .await
    .map_err(|error| PlanningError::Worker(error.to_string()))?;
    drop(permit);
    let plan = plan?;
    state
        .metrics
        .plan_published(plan.status.as_str(), plan.solve_seconds);
    let site_id = config.site.id.clone();
    let status = plan.status.as_str().to_owned();
    let stored = on_store(state, move |store| {
        store.insert_plan(&site_id, &status, |version, created_at| {
            serde_json::to_string(&Document {
                site_id: &plan.site_id,
                version,
                created_at,
                start: rfc(at),
                basis: &gathered.basis,
                warnings: &gathered.warnings,
                plan: &plan,
            })
            .unwrap_or_default()
        })
    })
    .await??;
    let published = Arc::new(Published::from_stored(stored));
    if let Ok(mut latest) = state.latest.write() {
        latest.insert(published.site_id.clone(), Arc::clone(&published));
    }
    let _ = state.events.send(Arc::clone(&published));
    Ok(published)
}

fn solve_gathered(gathered: &Gathered, at: DateTime<Utc>) -> Result<Plan, PlanningError> {
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
    };
    let problem = problem(&gathered.config, &snapshot)
        .map_err(|error| PlanningError::Problem(error.to_string()))?;
    // Published (rounded, every rule kept): what controllers execute and the
    // next plan's stability reference and warm start.
    Ok(solve(
        &problem,
        &solve_options(&gathered.config, gathered.previous.as_ref()),
    )
    .published(&problem))
}

/// Reads what the plan at `at` is built from.
fn gather(
    store: &Store,
    models: &PriceModels,
    config: SiteConfig,
    site_revision: i64,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Gathered, PlanningError> {
    let site = &config.site;
    let id = site.id.as_str();
    let intervals = horizon_intervals(&config);
    let minutes = site.interval_minutes;
    let horizon_end = at + TimeDelta::minutes(i64::from(minutes) * intervals as i64);
    let mut warnings = Vec::new();

    // Prices: the latest revision of each published day, extended.
    let published = published_until(&config, at);
    let mut price_revisions = std::collections::BTreeMap::new();
    let mut chosen_model = None;
    let prices = match &site.market.id {
        None => {
            warnings
                .push("the site names no market (market.id): planned with zero prices".to_owned());
            vec![0.0; intervals]
        }
        Some(market) => {
            let model = price_model(models, store, &config, market, at)?;
            chosen_model = Some(model.name());
            let lookback = i64::from(model.lookback_days()) + 2;
            let local = |t: DateTime<Utc>| t.with_timezone(&config.market_zone).date_naive();
            let days = store.prices_between(
                market,
                &(local(at) - TimeDelta::days(lookback)).to_string(),
                &(local(published) - TimeDelta::days(1)).to_string(),
            )?;
            for day in &days {
                price_revisions.insert(day.day.clone(), day.revision);
            }
            match price_series(&days, minutes) {
                Some(known) if known.end() > at - TimeDelta::days(2) => {
                    let known = known.between(known.start, published);
                    if known.end() < published {
                        warnings.push(format!(
                            "prices of {market} are stored until {} only; forecast from there",
                            rfc(known.end())
                        ));
                    }
                    match arbiter_forecast::extend(&known, config.market_zone, horizon_end, &model)
                    {
                        Ok((extended, _)) => {
                            let first = extended.index_of(at).unwrap_or(0);
                            let mut values: Vec<f64> = extended
                                .values
                                .iter()
                                .skip(first)
                                .take(intervals)
                                .map(|v| if v.is_finite() { *v } else { 0.0 })
                                .collect();
                            values.resize(intervals, 0.0);
                            values
                        }
                        Err(error) => {
                            warnings.push(format!("prices of {market} could not be extended ({error}): planned with zero prices"));
                            vec![0.0; intervals]
                        }
                    }
                }
                _ => {
                    warnings.push(format!(
                        "no prices of {market} stored for the last two days: planned with zero prices"
                    ));
                    vec![0.0; intervals]
                }
            }
        }
    };

    // Charging: the metered load before `at`, forecast at the site's quantile.
    let model = charging_model();
    let since = at - TimeDelta::days(i64::from(model.lookback_days()) + 2);
    let readings = store.charging_since(id, &rfc(since))?;
    let history = load_series(&readings, since, at, minutes);
    let charging_until = readings
        .iter()
        .rev()
        .find(|(t, _)| t.as_str() < rfc(at).as_str())
        .map(|(t, _)| t.clone());
    let ev = match &history {
        Some(history) => model
            .forecast(
                history,
                config.zone,
                at,
                intervals,
                &[site.planning.charging_quantile],
            )
            .ok()
            .and_then(|mut forecast| forecast.values.pop())
            .map(|values| {
                values
                    .into_iter()
                    .map(|v| if v.is_finite() { v.max(0.0) } else { 0.0 })
                    .collect()
            }),
        None => None,
    };
    // The controller's own forecast, where it covers the horizon, replaces
    // the model's.
    // Sent by now (on the service's clock, so a replay sees what was sent).
    let sent_by = now.to_rfc3339_opts(SecondsFormat::Millis, true);
    let own = store.charging_forecast(id, &rfc(at), &rfc(horizon_end), &sent_by)?;
    let mut ev = match ev {
        Some(ev) => ev,
        None if own.len() < intervals => {
            warnings.push(
                "no metered charging load stored before the plan: planned with none".to_owned(),
            );
            vec![0.0; intervals]
        }
        None => vec![0.0; intervals],
    };
    let step = i64::from(minutes) * 60;
    let mut covered = 0;
    for (instant, kw, _) in &own {
        let Ok(instant) = DateTime::parse_from_rfc3339(instant) else {
            continue;
        };
        let offset = (instant.with_timezone(&Utc) - at).num_seconds();
        if offset >= 0
            && offset % step == 0
            && let Some(slot) = usize::try_from(offset / step)
                .ok()
                .and_then(|k| ev.get_mut(k))
        {
            *slot = *kw;
            covered += 1;
        }
    }
    let charging_forecast = ChargingForecast {
        controller_intervals: covered,
        model_intervals: intervals - covered.min(intervals),
        issued_at: own.iter().map(|(_, _, issued)| issued.clone()).max(),
    };
    if let Some(last) = &charging_until
        && let Ok(last) = DateTime::parse_from_rfc3339(last)
        && at - last.with_timezone(&Utc) > TimeDelta::hours(2)
    {
        warnings.push(format!(
            "the last charging reading is from {}; the forecast may be stale",
            rfc(last.with_timezone(&Utc))
        ));
    }

    // Battery energy and the billing month's peak.
    let soc = store.latest_soc(id)?;
    let soc_kwh = match (&soc, &site.battery) {
        (Some((_, kwh)), _) => *kwh,
        (None, Some(battery)) => {
            warnings.push(format!(
                "no battery energy reported: planned from the configured {} kWh",
                battery.initial_soc_kwh
            ));
            battery.initial_soc_kwh
        }
        (None, None) => 0.0,
    };
    let local = at.with_timezone(&config.zone);
    let month_start = NaiveDate::from_ymd_opt(local.year(), local.month(), 1)
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .and_then(|midnight| config.zone.from_local_datetime(&midnight).earliest())
        .map_or(at, |start| start.with_timezone(&Utc));
    // Every reading of the month so far, up to one stamped at the end of
    // the current interval (a meter reports the interval just ended).
    let month_peak_kw = store
        .peak_between(
            id,
            &rfc(month_start),
            &rfc(at + TimeDelta::minutes(i64::from(minutes)) + TimeDelta::seconds(1)),
        )?
        .unwrap_or(0.0)
        .max(0.0);

    let running = store.running_jobs(id)?;
    let jobs: Vec<_> = super::jobs::open_jobs(&store.jobs(id, true)?)
        .into_iter()
        .filter(|(job, _)| job.deadline > at)
        .map(|(job, delivered)| {
            let runs = running.contains(&job.id);
            (job, delivered, runs)
        })
        .collect();

    let previous = store.plan(id, None)?;
    let previous_version = previous.as_ref().map(|p| p.version);
    let previous = previous.and_then(|stored| {
        serde_json::from_str::<serde_json::Value>(&stored.body)
            .ok()
            .and_then(|mut document| serde_json::from_value::<Plan>(document["plan"].take()).ok())
    });

    Ok(Gathered {
        basis: Basis {
            site_revision,
            market: site.market.id.clone(),
            price_model: chosen_model,
            price_revisions,
            prices_published_until: site.market.id.as_ref().map(|_| rfc(published)),
            charging_until,
            charging_forecast,
            telemetry_at: soc.map(|(at, _)| at),
            month_peak_kw: round_to(month_peak_kw, POWER_DECIMALS),
            previous_version,
            jobs: jobs
                .iter()
                .map(|(job, delivered, _)| (job.id.clone(), round_to(*delivered, POWER_DECIMALS)))
                .collect(),
        },
        config,
        warnings,
        prices,
        ev,
        soc_kwh,
        previous,
        jobs,
    })
}

/// Stored price days as one series on the site's interval, when they are
/// contiguous up to the last (an earlier gap drops what precedes it).
pub(super) fn price_series(days: &[StoredPrices], minutes: u32) -> Option<Series> {
    let mut series: Option<Series> = None;
    for day in days {
        let start = DateTime::parse_from_rfc3339(&day.start)
            .ok()?
            .with_timezone(&Utc);
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
