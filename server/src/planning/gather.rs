//! What a plan is built from, read from the store: prices (published, then
//! forecast), the charging forecast, the battery's energy and the billing
//! month's peak, the open jobs, and the previous plan; with a warning for
//! whatever was missing or stale and what replaced it.

use std::collections::BTreeMap;
use std::sync::Arc;

use arbiter_backtest::planner::{
    RecentPrice, ReserveHistory, charging_model, history_reserve, horizon_intervals,
    peak_reserve_kwh, recent_export_prices,
};
use arbiter_backtest::{SiteConfig, published_until};
use arbiter_forecast::QueuedJob;
use arbiter_optimizer::{POWER_DECIMALS, Plan, round_to};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};

use super::{
    Basis, ChargingForecast, ChargingHistories, EvForecast, PlanningError, PriceModels,
    price_model, price_series, rfc,
};
use crate::store::{Store, TelemetryNow, running_jobs};
use crate::{AppState, Published};

/// Everything read from the store for one plan.
pub(super) struct Gathered {
    pub(super) config: SiteConfig,
    pub(super) basis: Basis,
    pub(super) warnings: Vec<String>,
    pub(super) prices: Vec<f64>,
    pub(super) ev: Vec<f64>,
    /// See [`arbiter_backtest::Snapshot::recent_export_prices`].
    pub(super) recent_export_prices: Vec<RecentPrice>,
    /// See [`arbiter_backtest::Snapshot::reserve`].
    pub(super) reserve: Option<ReserveHistory>,
    /// The model's charging forecast at the median and the 90th percentile
    /// (none without metered history), for those who read the plan.
    pub(super) ev_band: Option<EvForecast>,
    pub(super) soc_kwh: f64,
    pub(super) previous: Option<Plan>,
    /// Open jobs: the job, energy delivered so far, whether it is running.
    pub(super) jobs: Vec<(QueuedJob, f64, bool)>,
}

/// The horizon of a plan at `at`: its first instant, intervals and end.
struct Horizon {
    at: DateTime<Utc>,
    intervals: usize,
    minutes: u32,
    end: DateTime<Utc>,
}

/// Reads what the plan at `at` is built from.
pub(super) async fn gather(
    state: &AppState,
    latest: Option<Arc<Published>>,
    config: SiteConfig,
    site_revision: i64,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Gathered, PlanningError> {
    let intervals = horizon_intervals(&config);
    let minutes = config.site.interval_minutes;
    let horizon = Horizon {
        at,
        intervals,
        minutes,
        end: at + TimeDelta::minutes(i64::from(minutes) * intervals as i64),
    };
    let id = config.site.id.clone();
    let (store, models) = (&*state.store, &state.price_models);
    let mut warnings = Vec::new();
    let prices = prices(store, models, &config, &horizon, &mut warnings).await?;
    let charging = charging(
        store,
        &state.charging_histories,
        &config,
        &horizon,
        now,
        &mut warnings,
    )
    .await?;
    let telemetry = telemetry(store, &config, &horizon).await?;
    let battery = battery(&config, &telemetry, &mut warnings);
    let running = running_jobs(telemetry.latest.as_deref())?;
    let jobs = open_jobs(store, &id, at, &running).await?;
    let (previous_version, previous) = previous_plan(store, latest, &id, &mut warnings).await?;
    let published = published_until(&config, at);
    Ok(Gathered {
        basis: Basis {
            site_revision,
            market: config.site.market.id.clone(),
            price_model: prices.model,
            price_revisions: prices.revisions,
            prices_published_until: config.site.market.id.as_ref().map(|_| rfc(published)),
            charging_until: charging.until,
            charging_forecast: charging.forecast,
            telemetry_at: battery.reported_at,
            month_peak_kw: round_to(battery.month_peak_kw, POWER_DECIMALS),
            peak_reserve_kwh: peak_reserve_kwh(
                &config,
                charging.reserve.as_ref().map(ReserveHistory::most_kwh),
            ),
            previous_version,
            jobs: jobs
                .iter()
                .map(|(job, delivered, _)| (job.id.clone(), round_to(*delivered, POWER_DECIMALS)))
                .collect(),
        },
        config,
        warnings,
        prices: prices.values,
        recent_export_prices: prices.recent_export_prices,
        reserve: charging.reserve,
        ev: charging.values,
        ev_band: charging.band,
        soc_kwh: battery.soc_kwh,
        previous,
        jobs,
    })
}

/// The horizon's prices and where they came from.
struct Prices {
    values: Vec<f64>,
    /// See [`arbiter_backtest::Snapshot::recent_export_prices`].
    recent_export_prices: Vec<RecentPrice>,
    revisions: BTreeMap<String, i64>,
    model: Option<String>,
}

/// Prices: the latest revision of each published day, extended by the day's
/// price model; zero prices (with a warning) where there are none.
async fn prices(
    store: &Store,
    models: &PriceModels,
    config: &SiteConfig,
    horizon: &Horizon,
    warnings: &mut Vec<String>,
) -> Result<Prices, PlanningError> {
    let (site, at, intervals, minutes, horizon_end) = (
        &config.site,
        horizon.at,
        horizon.intervals,
        horizon.minutes,
        horizon.end,
    );
    let published = published_until(config, at);
    let mut price_revisions = BTreeMap::new();
    let mut chosen_model = None;
    let mut recent = Vec::new();
    let prices = match &site.market.id {
        None => {
            warnings
                .push("the site names no market (market.id): planned with zero prices".to_owned());
            vec![0.0; intervals]
        }
        Some(market) => {
            let model = price_model(models, store, config, market, at).await?;
            chosen_model = Some(model.name());
            let lookback = i64::from(model.lookback_days()) + 2;
            let local = |t: DateTime<Utc>| t.with_timezone(&config.market_zone).date_naive();
            let days = store
                .prices_between(
                    market,
                    &(local(at) - TimeDelta::days(lookback)).to_string(),
                    &(local(published) - TimeDelta::days(1)).to_string(),
                )
                .await?;
            for day in &days {
                price_revisions.insert(day.day.clone(), day.revision);
            }
            match price_series(&days, minutes) {
                Some(known) if known.end() > at - TimeDelta::days(2) => {
                    let known = known.between(known.start, published);
                    recent = recent_export_prices(config, &known, at);
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

    Ok(Prices {
        values: prices,
        recent_export_prices: recent,
        revisions: price_revisions,
        model: chosen_model,
    })
}

/// The horizon's charging load and where it came from.
struct Charging {
    values: Vec<f64>,
    reserve: Option<ReserveHistory>,
    band: Option<EvForecast>,
    until: Option<String>,
    forecast: ChargingForecast,
}

/// Charging: the metered load before `at`, forecast at the site's quantile;
/// the controller's own values, sent by `now`, where they cover the horizon.
async fn charging(
    store: &Store,
    histories: &ChargingHistories,
    config: &SiteConfig,
    horizon: &Horizon,
    now: DateTime<Utc>,
    warnings: &mut Vec<String>,
) -> Result<Charging, PlanningError> {
    let (site, at, intervals, minutes, horizon_end) = (
        &config.site,
        horizon.at,
        horizon.intervals,
        horizon.minutes,
        horizon.end,
    );
    let id = site.id.as_str();
    let model = charging_model();
    let since = at - TimeDelta::days(i64::from(model.lookback_days()) + 2);
    let read = histories.read(store, id, minutes, since, at).await?;
    let history = read.series;
    let charging_until = read.until.map(rfc);
    // The site's quantile is planned for; the median and the 90th
    // percentile are published beside it (one forecast gives all three).
    let quantiles = [site.planning.charging_quantile, 0.5, 0.9];
    let forecast = history.as_ref().and_then(|history| {
        model
            .forecast(history, config.zone, at, intervals, &quantiles)
            .ok()
    });
    let level = |wanted: f64| -> Option<Vec<f64>> {
        let forecast = forecast.as_ref()?;
        let k = forecast
            .levels
            .iter()
            .position(|&l| (l - wanted).abs() < 1e-9)?;
        Some(
            forecast
                .values
                .get(k)?
                .iter()
                .map(|&v| if v.is_finite() { v.max(0.0) } else { 0.0 })
                .collect(),
        )
    };
    let ev = level(site.planning.charging_quantile);
    let rounded = |v: Vec<f64>| {
        v.into_iter()
            .map(|kw| round_to(kw, POWER_DECIMALS))
            .collect()
    };
    let band = level(0.5).zip(level(0.9)).map(|(p50, p90)| EvForecast {
        p50_kw: rounded(p50),
        p90_kw: rounded(p90),
    });
    // The controller's own forecast, where it covers the horizon, replaces
    // the model's.
    // Sent by now (on the service's clock, so a replay sees what was sent).
    let sent_by = now.to_rfc3339_opts(SecondsFormat::Millis, true);
    let own = store
        .charging_forecast(id, &rfc(at), &rfc(horizon_end), &sent_by)
        .await?;
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

    let reserve = history
        .as_ref()
        .and_then(|history| history_reserve(config, history, at));
    Ok(Charging {
        values: ev,
        reserve,
        band,
        until: charging_until,
        forecast: charging_forecast,
    })
}

/// The battery's reported energy and the billing month's peak so far.
struct Battery {
    soc_kwh: f64,
    reported_at: Option<String>,
    month_peak_kw: f64,
}

/// The site's telemetry as a plan needs it: the latest battery energy,
/// the billing month's peak import so far (every reading of the month, up
/// to one stamped at the end of the current interval: a meter reports the
/// interval just ended) and the latest report, in one read.
async fn telemetry(
    store: &Store,
    config: &SiteConfig,
    horizon: &Horizon,
) -> Result<TelemetryNow, PlanningError> {
    let (at, minutes) = (horizon.at, horizon.minutes);
    let month_start = crate::fleet::month_start(config, at);
    Ok(store
        .telemetry_now(
            &config.site.id,
            &rfc(month_start),
            &rfc(at + TimeDelta::minutes(i64::from(minutes)) + TimeDelta::seconds(1)),
        )
        .await?)
}

/// Battery energy (the configured initial energy, with a warning, when none
/// was reported) and the billing month's peak import so far.
fn battery(config: &SiteConfig, telemetry: &TelemetryNow, warnings: &mut Vec<String>) -> Battery {
    let soc = telemetry.soc.clone();
    let soc_kwh = match (&soc, &config.site.battery) {
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
    Battery {
        soc_kwh,
        reported_at: soc.map(|(at, _)| at),
        month_peak_kw: telemetry.peak_kw.unwrap_or(0.0).max(0.0),
    }
}

/// The site's open jobs due after `at`: the job, the energy it has had, and
/// whether it is running.
async fn open_jobs(
    store: &Store,
    id: &str,
    at: DateTime<Utc>,
    running: &[String],
) -> Result<Vec<(QueuedJob, f64, bool)>, PlanningError> {
    let jobs: Vec<_> = crate::jobs::open_jobs(&store.jobs(id, true).await?)?
        .into_iter()
        .filter(|(job, _)| job.deadline > at)
        .map(|(job, delivered)| {
            let runs = running.contains(&job.id);
            (job, delivered, runs)
        })
        .collect();

    Ok(jobs)
}

/// The site's latest plan (stability reference and warm start) and its
/// version; one that cannot be read is left out with a warning.
async fn previous_plan(
    store: &Store,
    latest: Option<Arc<Published>>,
    id: &str,
    warnings: &mut Vec<String>,
) -> Result<(Option<i64>, Option<Plan>), PlanningError> {
    // The service's latest-plan cache (kept current on every replica),
    // else the store.
    let (version, body) = match latest {
        Some(published) => (published.version, published.body.to_vec()),
        None => match store.plan(id, None).await? {
            Some(stored) => (stored.version, stored.body.into_bytes()),
            None => return Ok((None, None)),
        },
    };
    let plan = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|mut document| serde_json::from_value::<Plan>(document["plan"].take()).ok());
    if plan.is_none() {
        tracing::error!(site = id, version, "the previous plan is unreadable");
        warnings.push(format!(
            "plan version {version} could not be read: planned without a stability reference or warm start",
        ));
    }
    Ok((Some(version), plan))
}
