//! The problem a site solves at a decision instant, built the same way in a
//! backtest and in the service, from what is known at that instant:
//!
//! - prices of the delivery days already published (the next day's appear
//!   at the market's local publication time), extended to the horizon by
//!   the price model ([`forecast_horizon`]);
//! - the charging forecast at the site's quantile, from actual load before
//!   the instant;
//! - the open jobs with the energy still owed: a job due after the horizon
//!   is offered at its value plus the horizon's median import price × PUE
//!   (it runs where energy is cheaper than that and waits otherwise), unless
//!   the time after the horizon cannot hold its work
//!   ([`owed_by_horizon_end`]): then what it owes is due at the horizon's
//!   end; a job
//!   due within it must meet its deadline wherever the site can
//!   ([`deadline_penalty`]), and a block job already running must run its
//!   remaining duration at once;
//! - the battery energy, the billing month's peak import so far, the peak
//!   reserve as soft SoC minimums (at the site's penalty per MWh short), and
//!   the previous plan (stability reference and warm start).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arbiter_forecast::{
    ForecastError, JobKind, Model, QueuedJob, Series, choose, extend, local_slot,
};
use arbiter_optimizer::{
    POWER_DECIMALS, Plan, Problem, RawAdder, RawBattery, RawBlockJob, RawCompute, RawGrid, RawJob,
    RawPreemptibleJob, RawProblem, RawSocTarget, RawStability, RawTariff, RelaxationBasis,
    SolveOptions, WarmStart, round_to,
};
use chrono::{DateTime, SecondsFormat, TimeDelta, TimeZone, Utc};

use crate::BacktestError;
use crate::site::{SiteConfig, TerminalPolicy, TerminalValue};

/// A job still open at the decision instant.
#[derive(Debug, Clone, Copy)]
pub struct OpenJob<'a> {
    /// The job as queued.
    pub job: &'a QueuedJob,
    /// Energy delivered to it so far, kWh.
    pub delivered_kwh: f64,
    /// Whether it ran in the interval just before the instant.
    pub running: bool,
}

/// What the planner knows at a decision instant.
#[derive(Debug, Clone)]
pub struct Snapshot<'a> {
    /// The decision instant: the first interval's start.
    pub at: DateTime<Utc>,
    /// Prices over the horizon, per MWh, one per interval.
    pub prices_per_mwh: Vec<f64>,
    /// EV charging expected over the horizon, kW, one per interval.
    pub ev_kw: Vec<f64>,
    /// The jobs known at `at` (finished, expired and empty ones are left
    /// out of the problem).
    pub jobs: Vec<OpenJob<'a>>,
    /// Stored energy, kWh.
    pub soc_kwh: f64,
    /// The billing month's peak import so far, kW.
    pub month_peak_kw: f64,
    /// The plan in force, if any: stability reference and warm start.
    pub previous: Option<&'a Plan>,
    /// The peak reserve sized from the metered charging before `at`
    /// ([`history_reserve`]); `None`: the site's fixed reserve.
    pub reserve: Option<ReserveHistory>,
    /// The export prices of the intervals that ended within the reserve's
    /// window before `at` ([`recent_export_prices`]): what the reserve was
    /// sold into is rebuilt over that window.
    pub recent_export_prices: Vec<RecentPrice>,
}

/// Intervals in the site's planning horizon.
pub fn horizon_intervals(config: &SiteConfig) -> usize {
    (config.site.planning.horizon_hours as usize * 60)
        / config.site.interval_minutes.max(1) as usize
}

/// The end of the delivery days whose prices are published at `at`.
pub fn published_until(config: &SiteConfig, at: DateTime<Utc>) -> DateTime<Utc> {
    let local = at.with_timezone(&config.market_zone);
    let days = if local.time() >= config.publish_time {
        2
    } else {
        1
    };
    let midnight = (local.date_naive() + TimeDelta::days(days)).and_time(chrono::NaiveTime::MIN);
    config
        .market_zone
        .from_local_datetime(&midnight)
        .earliest()
        .map_or(at + TimeDelta::days(days), |instant| {
            instant.with_timezone(&Utc)
        })
}

/// Days of metered charging before a backtest's period that its forecasts
/// learn from (the CLI and the service's backtests).
pub const CHARGING_HISTORY_DAYS: i64 = 91;

/// The model that forecasts the charging load, in backtests and live.
pub fn charging_model() -> Model {
    Model::Profile(arbiter_forecast::Profile::blend())
}

/// Days of forecasts the price model is chosen on.
pub const PRICE_MODEL_VALIDATION_DAYS: u32 = 14;

/// Days of prices before `before` that [`choose_price_model`] reads: the
/// validation days and the longest look-back among the candidates.
pub fn price_model_history_days() -> u32 {
    PRICE_MODEL_VALIDATION_DAYS
        + Model::price_candidates()
            .iter()
            .map(Model::lookback_days)
            .max()
            .unwrap_or(0)
        + 2
}

/// The price model that extends published prices: of
/// [`Model::price_candidates`], the one whose day-ahead forecasts over the
/// [`PRICE_MODEL_VALIDATION_DAYS`] days before `before` scored best
/// (pinball loss at the median and the 90th percentile), from prices known
/// then; with too little history, the one-day seasonal-naive model. The
/// backtest chooses once at the start of its period, the service once per
/// market and local day, on the same rule.
pub fn choose_price_model(config: &SiteConfig, prices: &Series, before: DateTime<Utc>) -> Model {
    let candidates = Model::price_candidates();
    choose(
        &candidates,
        prices,
        config.market_zone,
        before,
        PRICE_MODEL_VALIDATION_DAYS,
        horizon_intervals(config),
    )
    .ok()
    .and_then(|choice| candidates.get(choice.index).cloned())
    .unwrap_or(Model::SeasonalNaive { lag_days: 1 })
}

/// Prices and the charging forecast over the horizon from `at`: the
/// published prices (only the days the price model looks back over are
/// copied) extended by `price_model`, and `charging_model`'s forecast at the
/// site's charging quantile from the load before `at`.
pub fn forecast_horizon(
    config: &SiteConfig,
    prices: &Series,
    charging: &Series,
    price_model: &Model,
    charging_model: &Model,
    at: DateTime<Utc>,
) -> Result<Horizon, ForecastError> {
    let site = &config.site;
    let intervals = horizon_intervals(config);
    let horizon_end = at + TimeDelta::minutes(i64::from(site.interval_minutes) * intervals as i64);
    let lookback = TimeDelta::days(i64::from(price_model.lookback_days()) + 2);
    let known = prices.between(at - lookback, published_until(config, at));
    let (extended, _) = extend(&known, config.market_zone, horizon_end, price_model)?;
    let first = extended.index_of(at).unwrap_or(0);
    let prices = extended
        .values
        .get(first..first + intervals)
        .map(<[f64]>::to_vec)
        .unwrap_or_default();
    let ev = charging_model
        .forecast(
            charging,
            config.zone,
            at,
            intervals,
            &[site.planning.charging_quantile],
        )?
        .values
        .swap_remove(0);
    Ok(Horizon {
        prices_per_mwh: prices,
        ev_kw: ev,
        reserve: history_reserve(config, charging, at),
    })
}

/// A plan's forecast inputs: see [`forecast_horizon`].
#[derive(Debug, Clone, PartialEq)]
pub struct Horizon {
    /// Prices, per MWh, one per interval of the horizon.
    pub prices_per_mwh: Vec<f64>,
    /// Charging at the site's quantile, kW, one per interval.
    pub ev_kw: Vec<f64>,
    /// See [`Snapshot::reserve`].
    pub reserve: Option<ReserveHistory>,
}

/// The peak reserve sized from the site's metered charging before `at`
/// (with `planning.peak_reserve_days` above 0; `None` otherwise): over the
/// last `peak_reserve_days` days, each interval's charging above its typical
/// level (the median of its local time of day over those days), and of that
/// the most energy in any `peak_reserve_hours`. The peak guard needs that
/// much to hold the month's peak through the worst run of charging above
/// the usual seen lately; a month's peak is its worst interval, so the
/// reserve is sized for the worst, not the usual. Gaps count as no excess;
/// no reading at all gives 0.
///
/// Kept per day (the windows ending in each 24 hours before `at`), so that
/// the reserve can yield layer by layer to prices above what each layer is
/// likely to save ([`ReserveHistory::kept_kwh`]).
pub fn history_reserve(
    config: &SiteConfig,
    charging: &Series,
    at: DateTime<Utc>,
) -> Option<ReserveHistory> {
    let planning = &config.site.planning;
    if planning.peak_reserve_days == 0 {
        return None;
    }
    let days = i64::from(planning.peak_reserve_days);
    let recent = charging.between(at - TimeDelta::days(days), at);
    let step = recent.step_minutes.max(1);
    let slots_per_day = (24 * 60 / step).max(1) as usize;
    let slots: Vec<usize> = (0..recent.values.len())
        .map(|i| local_slot(recent.time(i), config.zone, step).slot % slots_per_day)
        .collect();
    let mut by_slot: Vec<Vec<f64>> = vec![Vec::new(); slots_per_day];
    for (&kw, &slot) in recent.values.iter().zip(&slots) {
        if kw.is_finite() {
            by_slot[slot].push(kw);
        }
    }
    let typical: Vec<f64> = by_slot
        .iter_mut()
        .map(|values| {
            values.sort_by(f64::total_cmp);
            match values.len() {
                0 => 0.0,
                n if n % 2 == 1 => values[n / 2],
                n => 0.5 * (values[n / 2 - 1] + values[n / 2]),
            }
        })
        .collect();
    let hours = f64::from(step) / 60.0;
    let excess: Vec<f64> = recent
        .values
        .iter()
        .zip(&slots)
        .map(|(&kw, &slot)| {
            if kw.is_finite() {
                (kw - typical[slot]).max(0.0) * hours
            } else {
                0.0
            }
        })
        .collect();
    let window = ((planning.peak_reserve_hours * 60.0 / f64::from(step)).round() as usize).max(1);
    let mut daily_kwh = vec![0.0_f64; excess.len().div_ceil(slots_per_day)];
    let mut sum = 0.0_f64;
    for (i, &kwh) in excess.iter().enumerate() {
        sum += kwh;
        if i >= window {
            sum -= excess[i - window];
        }
        let day = &mut daily_kwh[i / slots_per_day];
        *day = day.max(sum);
    }
    daily_kwh.sort_by(|a, b| b.total_cmp(a));
    Some(ReserveHistory { daily_kwh })
}

/// The peak reserve's history ([`history_reserve`]): for each of the last
/// `peak_reserve_days` days, the most energy charging ran above its typical
/// level in any `peak_reserve_hours` ending that day.
#[derive(Debug, Clone, PartialEq)]
pub struct ReserveHistory {
    /// Each day's most, kWh, largest first.
    pub daily_kwh: Vec<f64>,
}

impl ReserveHistory {
    /// The reserve: the worst day's excess (0 without readings).
    pub fn most_kwh(&self) -> f64 {
        self.daily_kwh.first().copied().unwrap_or(0.0)
    }

    /// The reserve kept when selling it pays `share` of what it would save
    /// if it were sure to be needed ([`reserve_worth_per_mwh`]): the energy
    /// above the excess that more than that share of the days reached is
    /// worth less than the sale, and is sold. A day in `n` of the history is
    /// a chance of 1/`n`: below that share (or with no share, NaN) the whole
    /// reserve is kept; at or above 1 none of it.
    pub fn kept_kwh(&self, share: f64) -> f64 {
        if share >= 1.0 {
            return 0.0;
        }
        let days = self.daily_kwh.len();
        let reached = (share.max(0.0) * days as f64).floor() as usize;
        self.daily_kwh.get(reached).copied().unwrap_or(0.0)
    }
}

/// A problem as the planner built it at `at`, checked against the contract.
pub fn validated(raw: RawProblem, at: DateTime<Utc>) -> Result<Problem, BacktestError> {
    raw.validate().map_err(|errors| BacktestError::Problem {
        at: at.to_rfc3339(),
        message: errors.to_string(),
    })
}

/// Set to a folder in the environment, the planner writes every problem it
/// solves there as `SITE-UNIXTIME.json` (the document `arbiter solve` and
/// the optimizer's `replay` example read): the service's plans and a
/// backtest's `mpc` plans (`perfect`'s as `SITE-UNIXTIME-perfect.json`), to
/// see where a slow plan's time goes.
pub const DUMP_VARIABLE: &str = "ARBITER_DUMP_PROBLEMS";

/// Writes `raw` into the folder [`DUMP_VARIABLE`] names, if it is set, its
/// name ending in `suffix`; a failure is logged, never the plan's.
pub fn dump_if_asked(raw: &RawProblem, at: DateTime<Utc>, suffix: &str) {
    let Some(folder) = std::env::var_os(DUMP_VARIABLE) else {
        return;
    };
    let folder = std::path::Path::new(&folder);
    let name = format!("{}-{}{suffix}.json", raw.site_id, at.timestamp());
    let path = folder.join(name);
    let written = std::fs::create_dir_all(folder)
        .map_err(|error| error.to_string())
        .and_then(|()| serde_json::to_vec_pretty(raw).map_err(|error| error.to_string()))
        .and_then(|bytes| std::fs::write(&path, bytes).map_err(|error| error.to_string()));
    if let Err(error) = written {
        tracing::warn!(path = %path.display(), %error, "problem not written");
    }
}

/// Set (to anything) in the environment, each plan's relaxation starts
/// from scratch instead of from the previous plan's basis (the service's
/// and the backtests' alike): what carrying it gains, measured.
pub const NO_CARRIED_BASIS_VARIABLE: &str = "ARBITER_NO_CARRIED_BASIS";

/// The basis a plan's relaxation starts from: the previous plan's, unless
/// [`NO_CARRIED_BASIS_VARIABLE`] is set.
pub fn carried_basis(previous: Option<&Arc<RelaxationBasis>>) -> Option<Arc<RelaxationBasis>> {
    if std::env::var_os(NO_CARRIED_BASIS_VARIABLE).is_some() {
        return None;
    }
    previous.cloned()
}

/// The site's problem for `snapshot`, the document `arbiter solve` reads
/// (written out for diagnosis by [`dump_if_asked`]; [`validated`] checks
/// it). Its horizon is as long as the snapshot's prices.
pub fn raw_problem(config: &SiteConfig, snapshot: &Snapshot) -> RawProblem {
    let site = &config.site;
    let at = snapshot.at;
    let step_minutes = i64::from(site.interval_minutes);
    let intervals = snapshot.prices_per_mwh.len();
    let horizon_end = at + TimeDelta::minutes(step_minutes * intervals as i64);
    let prices = &snapshot.prices_per_mwh;
    let mut sorted = prices.clone();
    sorted.sort_by(f64::total_cmp);
    let median_price = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
    let pue = site.compute.as_ref().map_or(1.0, |c| c.pue);
    let deferral_value = (median_price + site.tariff.import_adder_per_mwh) * pue;
    let hours = f64::from(site.interval_minutes) / 60.0;
    let keep_deadline = deadline_penalty(config, prices);
    // Windows as they are, to the nanosecond: a job may run in the part of
    // an interval inside its window (contract v1.1).
    let rfc = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::AutoSi, true);

    let owed = owed_by_horizon_end(config, snapshot, horizon_end);
    let mut jobs = Vec::new();
    for open in &snapshot.jobs {
        let job = open.job;
        let remaining = job.energy_kwh - open.delivered_kwh;
        if job.deadline <= at || remaining <= 1e-6 || site.compute.is_none() {
            continue;
        }
        let release = rfc(job.submit.max(at));
        let due_in_horizon = job.deadline <= horizon_end;
        // A job due later that cannot wait any longer: what it owes by the
        // horizon's end is planned as due then (and only that: the rest
        // waits for the next plan).
        if let Some(&owed) = owed.get(job.id.as_str())
            && !due_in_horizon
            && let JobKind::Preemptible { min_kw, max_kw } = job.kind
        {
            jobs.push(RawJob::Preemptible(RawPreemptibleJob {
                id: job.id.clone(),
                energy_kwh: owed,
                min_kw: finishing_min_kw(min_kw, max_kw, owed, hours),
                max_kw,
                release: release.clone(),
                deadline: rfc(horizon_end),
                value_per_mwh: Some(job.value_per_mwh),
                shortfall_penalty_per_mwh: Some(job.shortfall_penalty_per_mwh.max(keep_deadline)),
                start_cost: None,
                running: Some(open.running),
            }));
            continue;
        }
        let (value, penalty) = if due_in_horizon {
            (
                job.value_per_mwh,
                job.shortfall_penalty_per_mwh.max(keep_deadline),
            )
        } else {
            (job.value_per_mwh + deferral_value.max(0.0), 0.0)
        };
        let deadline = job.deadline.min(horizon_end);
        jobs.push(match job.kind {
            JobKind::Preemptible { min_kw, max_kw } => RawJob::Preemptible(RawPreemptibleJob {
                id: job.id.clone(),
                energy_kwh: remaining,
                min_kw: finishing_min_kw(min_kw, max_kw, remaining, hours),
                max_kw,
                release: release.clone(),
                deadline: rfc(deadline),
                value_per_mwh: Some(value),
                shortfall_penalty_per_mwh: Some(penalty),
                start_cost: None,
                running: Some(open.running),
            }),
            JobKind::Block { power_kw } => {
                let minutes = remaining / power_kw * 60.0;
                if open.delivered_kwh > 0.0 {
                    // Already running: the rest of the run, now.
                    let whole = (minutes / step_minutes as f64).ceil() as i64 * step_minutes;
                    RawJob::Block(RawBlockJob {
                        id: job.id.clone(),
                        power_kw,
                        duration_minutes: minutes,
                        release: rfc(at),
                        deadline: rfc(at + TimeDelta::minutes(whole)),
                        value_per_mwh: Some(value),
                        shortfall_penalty_per_mwh: Some(
                            job.shortfall_penalty_per_mwh.max(keep_deadline),
                        ),
                    })
                } else {
                    RawJob::Block(RawBlockJob {
                        id: job.id.clone(),
                        power_kw,
                        duration_minutes: minutes,
                        release,
                        deadline: rfc(deadline),
                        value_per_mwh: Some(value),
                        shortfall_penalty_per_mwh: Some(penalty),
                    })
                }
            }
        });
    }

    let battery = site.battery.as_ref().map(|b| RawBattery {
        soc_min_kwh: b.soc_min_kwh,
        soc_max_kwh: b.soc_max_kwh,
        initial_soc_kwh: snapshot.soc_kwh.clamp(b.soc_min_kwh, b.soc_max_kwh),
        max_charge_kw: b.max_charge_kw,
        max_discharge_kw: b.max_discharge_kw,
        charge_efficiency: b.charge_efficiency,
        discharge_efficiency: b.discharge_efficiency,
        degradation_cost_per_mwh: Some(b.degradation_cost_per_mwh),
        terminal_value_per_mwh: Some(match site.planning.terminal_value {
            TerminalValue::Policy(TerminalPolicy::MedianPrice) => {
                (median_price * b.discharge_efficiency).max(0.0)
            }
            TerminalValue::Policy(TerminalPolicy::None) => 0.0,
            TerminalValue::Fixed(value) => value,
        }),
    });
    let stability = match (snapshot.previous, &battery) {
        (Some(previous), Some(_)) if site.planning.stability_penalty_per_mwh > 0.0 => {
            let by_start: HashMap<_, _> = previous
                .intervals
                .iter()
                .map(|interval| (interval.start, interval.discharge_kw - interval.charge_kw))
                .collect();
            let reference = (0..intervals)
                .map(|t| {
                    by_start
                        .get(&(at + TimeDelta::minutes(step_minutes * t as i64)))
                        .copied()
                })
                .collect();
            Some(RawStability {
                penalty_per_mwh: site.planning.stability_penalty_per_mwh,
                reference_kw: reference,
            })
        }
        _ => None,
    };
    let reserve = reserve_targets(config, snapshot, intervals);
    RawProblem {
        site_id: site.id.clone(),
        start: rfc(at),
        interval_minutes: site.interval_minutes,
        prices_per_mwh: prices.clone(),
        tariff: Some(RawTariff {
            import_adder_per_mwh: Some(RawAdder::Flat(site.tariff.import_adder_per_mwh)),
            export_adder_per_mwh: Some(RawAdder::Flat(site.tariff.export_adder_per_mwh)),
            demand_charge_per_kw: Some(site.tariff.demand_charge_per_kw_month),
            peak_so_far_kw: Some(snapshot.month_peak_kw),
        }),
        grid: RawGrid {
            import_limit_kw: site.grid.import_limit_kw,
            export_limit_kw: site.grid.export_limit_kw,
        },
        battery,
        ev_demand_kw: snapshot.ev_kw.clone(),
        base_load_kw: None,
        unserved_penalty_per_mwh: None,
        soc_target_penalty_per_mwh: reserve
            .as_ref()
            .map(|_| site.planning.peak_reserve_penalty_per_mwh),
        soc_targets: reserve,
        stability,
        compute: site.compute.as_ref().map(|c| RawCompute {
            max_it_kw: c.max_it_kw,
            pue: c.pue,
        }),
        jobs: if jobs.is_empty() { None } else { Some(jobs) },
    }
}

/// Share of the container and of a job's power counted on after the
/// horizon for the work already queued: the rest is headroom for jobs not
/// yet submitted and for charging that throttles compute.
const AFTER_HORIZON_SHARE: f64 = 0.8;

/// The energy each preemptible job due after the horizon must get within
/// it so that the queued work can still finish by its deadlines: after the
/// horizon a job gets at most [`AFTER_HORIZON_SHARE`] of its most power,
/// and, earliest deadline first, all of them together at most that share of
/// the container. A plan that defers such work to cheap hours beyond its
/// horizon would otherwise leave too little time once the deadline comes
/// into view (CAISO 2023, jobs 1678–1689: four large jobs due within a day
/// of each other, each a few kWh to 2.6% short). Blocks run whole, and
/// are left to their own deadlines.
fn owed_by_horizon_end<'a>(
    config: &SiteConfig,
    snapshot: &Snapshot<'a>,
    horizon_end: DateTime<Utc>,
) -> HashMap<&'a str, f64> {
    let Some(compute) = &config.site.compute else {
        return HashMap::new();
    };
    let hours_after =
        |deadline: DateTime<Utc>| (deadline - horizon_end).num_seconds().max(0) as f64 / 3600.0;
    let mut later: Vec<(&'a QueuedJob, f64)> = snapshot
        .jobs
        .iter()
        .filter(|open| open.job.deadline > horizon_end)
        .filter(|open| matches!(open.job.kind, JobKind::Preemptible { .. }))
        .map(|open| {
            (
                open.job,
                (open.job.energy_kwh - open.delivered_kwh).max(0.0),
            )
        })
        .filter(|&(_, remaining)| remaining > 1e-6)
        .collect();
    later.sort_by_key(|(job, _)| job.deadline);
    let mut owed: HashMap<&'a str, f64> = HashMap::new();
    let (mut queued, mut assigned) = (0.0, 0.0);
    for &(job, remaining) in &later {
        let room = AFTER_HORIZON_SHARE * hours_after(job.deadline);
        // Its own power, then the container's, earliest deadline first.
        let own = (remaining - room * job.max_kw()).max(0.0);
        queued += remaining;
        let shared = (queued - room * compute.max_it_kw - assigned).max(0.0);
        let due = own.max(shared).min(remaining);
        if due > 1e-3 {
            owed.insert(job.id.as_str(), due);
            assigned += due;
        }
    }
    owed
}

/// The least power the planner gives a preemptible job with `remaining_kwh`
/// left: its own minimum, but never more than half of what it still needs
/// per interval (on the published watt grid, rounded down), so that its last
/// energy may be split over two intervals. A job whose work ends inside an
/// interval runs only part of it at its minimum; at a higher planned
/// minimum a job the container can give only part of its work in one
/// interval is left short: ERCOT 2023, job-0095, 28.9 kWh at 90 kW minimum
/// due at 21:55:08, of which the container held 25 kWh at 21:30; the last
/// 3.9 kWh would have had to run at 0.676 × 90 kW on average at 21:45,
/// 15 kWh, more than it needed, so the plan left it short.
fn finishing_min_kw(min_kw: f64, max_kw: f64, remaining_kwh: f64, hours: f64) -> f64 {
    min_kw
        .min((remaining_kwh / (2.0 * hours) * 1000.0).floor() / 1000.0)
        .max(1e-3)
        .min(max_kw)
}

/// The shortfall penalty, per MWh of IT energy, the planner gives a job due
/// within its horizon (or the job's own, if higher): twice the dearest way of
/// delivering that energy, which is in one interval at the horizon's highest
/// import price, raising the month's peak import by all of it. A plan then
/// misses a deadline only where the connection and the battery cannot meet
/// it, never to save energy cost or a demand charge; a job's own penalty,
/// often below a demand charge spread over one interval (12 per kW-month is
/// 48,000 per MWh in 15 minutes), would let it. The KPIs still count each
/// missed MWh at the job's own penalty.
pub fn deadline_penalty(config: &SiteConfig, prices_per_mwh: &[f64]) -> f64 {
    let site = &config.site;
    let pue = site.compute.as_ref().map_or(1.0, |c| c.pue);
    let hours = f64::from(site.interval_minutes) / 60.0;
    let dearest_price = prices_per_mwh.iter().copied().fold(0.0, f64::max)
        + site.tariff.import_adder_per_mwh.max(0.0);
    let peak_per_mwh = site.tariff.demand_charge_per_kw_month.max(0.0) * 1000.0 / hours;
    2.0 * pue * (dearest_price + peak_per_mwh)
}

/// The site's solver settings: its MIP gap and time limit, one HiGHS thread,
/// warm-started from the plan in force (or as the optimizer chooses). A plan
/// relax-and-fix finds without proving it is kept as found, with its gap to
/// the relaxation's bound: a full search after it improved such plans little
/// and took a quarter of the solving (CAISO April 2024, 860 plans replayed:
/// 59.4 s without it, 74.8 s with 0.3 s of it, the objectives' sum 0.01%
/// apart); the next hour's plan is made afresh anyway.
pub fn solve_options(config: &SiteConfig, previous: Option<&Plan>) -> SolveOptions {
    let planning = &config.site.planning;
    SolveOptions {
        mip_gap: planning.mip_gap,
        time_limit: Duration::from_secs_f64(planning.time_limit_seconds),
        threads: Some(1),
        warm_start: match previous {
            Some(previous) => WarmStart::Plan(Box::new(previous.clone())),
            None => WarmStart::Auto,
        },
        search_limit_from_incumbent: Some(Duration::ZERO),
        ..SolveOptions::default()
    }
}

/// The peak reserve as soft SoC minimums at the boundaries of the horizon:
/// energy kept back for the dispatch rule's peak guard, to discharge into
/// charging spikes that no forecast saw (none without a demand charge).
/// Sized from the site's charging history ([`history_reserve`]) or fixed
/// (`peak_reserve_kwh`); at most the battery's usable energy.
///
/// The reserve yields to prices above what it is likely to save. For each
/// boundary, the highest export price of the intervals that ended within
/// the reserve's window (`peak_reserve_hours`) before it, as a share of
/// [`reserve_worth_per_mwh`], is the chance at which a layer of the reserve
/// is worth less than the sale: the boundary keeps only the excess that
/// more than that share of the history's days reached
/// ([`ReserveHistory::kept_kwh`]; a fixed reserve is kept whole below its
/// worth and not at all from it). So the plan may sell the layers that only
/// the history's worst days needed into such an hour, and rebuild them over
/// the window the reserve is sized on, not at once at the dear prices that
/// often follow such an hour.
fn reserve_targets(
    config: &SiteConfig,
    snapshot: &Snapshot,
    intervals: usize,
) -> Option<Vec<RawSocTarget>> {
    let battery = config.site.battery.as_ref()?;
    let reserve = peak_reserve_kwh(
        config,
        snapshot.reserve.as_ref().map(ReserveHistory::most_kwh),
    )?;
    let step = TimeDelta::minutes(i64::from(config.site.interval_minutes));
    let worth_per_mwh = reserve_worth_per_mwh(config);
    let export_adder = config.site.tariff.export_adder_per_mwh;
    let window = reserve_window(config);
    // Every price that ended before the plan or within its horizon, by when
    // it ended, from `at`.
    let ended: Vec<(TimeDelta, f64)> = snapshot
        .recent_export_prices
        .iter()
        .map(|recent| (-recent.ended_before, recent.export_per_mwh))
        .chain(
            snapshot
                .prices_per_mwh
                .iter()
                .enumerate()
                .map(|(i, &price)| (step * (i as i32 + 1), price - export_adder)),
        )
        .collect();
    let targets: Vec<RawSocTarget> = (1..=intervals)
        .filter_map(|t| {
            let boundary = step * t as i32;
            let highest = ended
                .iter()
                .filter(|&&(end, _)| end <= boundary && boundary - end < window)
                .map(|&(_, price)| price)
                .fold(f64::NEG_INFINITY, f64::max);
            let share = highest / worth_per_mwh;
            let kept = match &snapshot.reserve {
                Some(history) => history.kept_kwh(share).min(reserve),
                None if share >= 1.0 => 0.0,
                None => reserve,
            };
            (kept > 1e-6).then(|| RawSocTarget {
                at: (snapshot.at + boundary).to_rfc3339_opts(SecondsFormat::Secs, true),
                min_kwh: round_to(battery.soc_min_kwh + kept, POWER_DECIMALS),
            })
        })
        .collect();
    Some(targets)
}

/// What a MWh of the peak reserve is worth, per MWh: the demand charge of
/// the power it holds down on average over the run of charging it is kept
/// for. The history reserve is the most energy charging ran above the usual
/// in any `peak_reserve_hours`, so a MWh of it holds the peak down by
/// 1/`peak_reserve_hours` MW on average over that window: the demand
/// charge per kW × 1000 / `peak_reserve_hours` (1,500 per MWh at 12 per kW
/// and 8 hours). Sold at an export price at least this high, the reserve
/// earns more than it is worth on average. (The last MWh of a short, high
/// spike can be worth more; the held-out ERCOT 2024 year, where four hours
/// reach the threshold, moved within a year run's noise.)
pub fn reserve_worth_per_mwh(config: &SiteConfig) -> f64 {
    let site = &config.site;
    site.tariff.demand_charge_per_kw_month.max(0.0) * 1000.0 / site.planning.peak_reserve_hours
}

/// The reserve's window, `peak_reserve_hours`.
fn reserve_window(config: &SiteConfig) -> TimeDelta {
    TimeDelta::minutes((config.site.planning.peak_reserve_hours * 60.0).round() as i64)
}

/// An export price of an interval before the plan ([`recent_export_prices`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecentPrice {
    /// How long before the plan the interval ended (0 while it runs).
    pub ended_before: TimeDelta,
    /// Its price less the export adder, per MWh.
    pub export_per_mwh: f64,
}

/// The export prices of the intervals of `prices` that ended less than the
/// reserve's window before `at` (or still run), for [`reserve_targets`]:
/// the reserve sold into them is rebuilt over that window.
pub fn recent_export_prices(
    config: &SiteConfig,
    prices: &Series,
    at: DateTime<Utc>,
) -> Vec<RecentPrice> {
    let window = reserve_window(config);
    let adder = config.site.tariff.export_adder_per_mwh;
    let recent = prices.between(at - window, at);
    let step = TimeDelta::minutes(i64::from(recent.step_minutes));
    (0..recent.values.len())
        .filter(|&i| recent.values[i].is_finite())
        .map(|i| RecentPrice {
            ended_before: (at - (recent.time(i) + step)).max(TimeDelta::zero()),
            export_per_mwh: recent.values[i] - adder,
        })
        .filter(|recent| recent.ended_before < window)
        .collect()
}

/// The energy above the battery's `soc_min_kwh` a plan keeps back at every
/// boundary for the peak guard, kWh: sized from the meter readings
/// (`from_history`, [`ReserveHistory::most_kwh`]) or fixed
/// (`peak_reserve_kwh`), at most the battery's usable energy, on the
/// published grid; `None` when there is none (no battery, no demand charge,
/// no history, or 0).
pub fn peak_reserve_kwh(config: &SiteConfig, from_history: Option<f64>) -> Option<f64> {
    let site = &config.site;
    let battery = site.battery.as_ref()?;
    if site.tariff.demand_charge_per_kw_month <= 0.0 {
        return None;
    }
    let reserve = if site.planning.peak_reserve_days > 0 {
        from_history?
    } else {
        site.planning.peak_reserve_kwh
    };
    let room = (battery.soc_max_kwh - battery.soc_min_kwh).max(0.0);
    let reserve = round_to(reserve.min(room), POWER_DECIMALS);
    (reserve > 1e-6).then_some(reserve)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn job(id: &str, energy_kwh: f64, max_kw: f64, deadline: &str) -> QueuedJob {
        QueuedJob {
            id: id.to_owned(),
            submit: utc("2024-10-24T00:00:00Z"),
            deadline: utc(deadline),
            energy_kwh,
            kind: JobKind::Preemptible {
                min_kw: 10.0,
                max_kw,
            },
            value_per_mwh: 0.0,
            shortfall_penalty_per_mwh: 1000.0,
        }
    }

    fn owed(jobs: &[QueuedJob], max_it_kw: f64) -> HashMap<String, f64> {
        let text = include_str!("../../fixtures/sites/demo.toml")
            .replace("max_it_kw = 1500", &format!("max_it_kw = {max_it_kw}"));
        let config = SiteConfig::from_toml("demo.toml", &text).unwrap();
        let snapshot = Snapshot {
            at: utc("2024-10-24T00:00:00Z"),
            prices_per_mwh: vec![0.0; 144],
            ev_kw: vec![0.0; 144],
            jobs: jobs
                .iter()
                .map(|job| OpenJob {
                    job,
                    delivered_kwh: 0.0,
                    running: false,
                })
                .collect(),
            soc_kwh: 0.0,
            month_peak_kw: 0.0,
            previous: None,
            reserve: None,
            recent_export_prices: Vec::new(),
        };
        // The horizon ends 36 h on, at 2024-10-25 12:00.
        owed_by_horizon_end(&config, &snapshot, utc("2024-10-25T12:00:00Z"))
            .into_iter()
            .map(|(id, kwh)| (id.to_owned(), (kwh * 1000.0).round() / 1000.0))
            .collect()
    }

    #[test]
    fn the_history_reserve_is_the_largest_excess_over_the_typical_day_in_its_window() {
        let text = include_str!("../../fixtures/sites/demo.toml")
            .replace("peak_reserve_days = 28", "peak_reserve_days = 3")
            .replace("peak_reserve_hours = 8", "peak_reserve_hours = 1");
        let config = SiteConfig::from_toml("demo.toml", &text).unwrap();
        // Midnight in Los Angeles (PDT, UTC−7).
        let start = utc("2024-10-01T07:00:00Z");
        let at = start + TimeDelta::days(3);
        // Three days at 100 kW; on the third, six intervals at 500 kW and a
        // gap; after `at`, 900 kW that must not count.
        let mut values = vec![100.0; 4 * 96];
        for v in &mut values[2 * 96 + 40..2 * 96 + 46] {
            *v = 500.0;
        }
        values[2 * 96 + 60] = f64::NAN;
        for v in &mut values[3 * 96..] {
            *v = 900.0;
        }
        let charging = Series {
            start,
            step_minutes: 15,
            values,
        };
        // Typical: the median of 100, 100, 500 is 100 at every time of day;
        // the spike is 400 kW above it, and one hour holds four intervals
        // of it: 4 × 400 × 0.25 = 400 kWh.
        let history = history_reserve(&config, &charging, at).unwrap();
        assert_eq!(history.most_kwh(), 400.0);
        // Per day, largest first: the other two days ran at the usual.
        assert_eq!(history.daily_kwh, [400.0, 0.0, 0.0]);
        // Two days of spikes at the same time: the typical level is 500 and
        // nothing exceeds it.
        let mut twice = charging.clone();
        for v in &mut twice.values[96 + 40..96 + 46] {
            *v = 500.0;
        }
        let twice = history_reserve(&config, &twice, at).unwrap();
        assert_eq!(twice.most_kwh(), 0.0);
        // Off: no history reserve (the fixed one applies).
        let off = SiteConfig::from_toml(
            "demo.toml",
            &text.replace("peak_reserve_days = 3", "peak_reserve_days = 0"),
        )
        .unwrap();
        assert_eq!(history_reserve(&off, &charging, at), None);
    }

    #[test]
    fn the_reserve_keeps_the_layers_more_days_needed_than_the_sale_pays_for() {
        let history = ReserveHistory {
            daily_kwh: vec![400.0, 300.0, 200.0, 100.0],
        };
        // Below one day in four, the whole reserve; a quarter pays for the
        // layer only the worst day needed, and so on; at its worth, none.
        assert_eq!(history.kept_kwh(-0.5), 400.0);
        assert_eq!(history.kept_kwh(0.2), 400.0);
        assert_eq!(history.kept_kwh(0.25), 300.0);
        assert_eq!(history.kept_kwh(0.6), 200.0);
        assert_eq!(history.kept_kwh(0.99), 100.0);
        assert_eq!(history.kept_kwh(1.0), 0.0);
        assert_eq!(history.kept_kwh(f64::NAN), 400.0);
        let empty = ReserveHistory {
            daily_kwh: Vec::new(),
        };
        assert_eq!(empty.kept_kwh(0.0), 0.0);
    }

    #[test]
    fn the_reserve_is_a_soft_minimum_at_every_boundary_capped_by_the_battery() {
        let config =
            SiteConfig::from_toml("demo.toml", include_str!("../../fixtures/sites/demo.toml"))
                .unwrap();
        let snapshot = |reserve_kwh: Option<f64>| Snapshot {
            at: utc("2024-10-01T00:00:00Z"),
            prices_per_mwh: vec![0.0; 4],
            ev_kw: vec![0.0; 4],
            jobs: Vec::new(),
            soc_kwh: 3900.0,
            month_peak_kw: 0.0,
            previous: None,
            reserve: reserve_kwh.map(|kwh| ReserveHistory {
                daily_kwh: vec![kwh],
            }),
            recent_export_prices: Vec::new(),
        };
        let targets = reserve_targets(&config, &snapshot(Some(1234.5)), 4).unwrap();
        assert_eq!(targets.len(), 4);
        assert_eq!(targets[0].at, "2024-10-01T00:15:00Z");
        assert_eq!(targets[3].at, "2024-10-01T01:00:00Z");
        assert!(targets.iter().all(|t| t.min_kwh == 390.0 + 1234.5));
        // At most the battery's usable energy (7,800 − 390).
        let full = reserve_targets(&config, &snapshot(Some(20_000.0)), 4).unwrap();
        assert_eq!(full[0].min_kwh, 7800.0);
        assert!(reserve_targets(&config, &snapshot(Some(0.0)), 4).is_none());
        // No history: no reserve; a fixed reserve applies everywhere.
        assert!(reserve_targets(&config, &snapshot(None), 4).is_none());
        let fixed = SiteConfig::from_toml(
            "demo.toml",
            &include_str!("../../fixtures/sites/demo.toml").replace(
                "peak_reserve_days = 28",
                "peak_reserve_days = 0\npeak_reserve_kwh = 500",
            ),
        )
        .unwrap();
        let everywhere = reserve_targets(&fixed, &snapshot(None), 4).unwrap();
        assert!(everywhere.iter().all(|t| t.min_kwh == 890.0));
    }

    #[test]
    fn the_reserve_yields_to_export_prices_above_its_worth() {
        let config =
            SiteConfig::from_toml("demo.toml", include_str!("../../fixtures/sites/demo.toml"))
                .unwrap();
        // 12 per kW-month over the reserve's 8 hours.
        assert_eq!(reserve_worth_per_mwh(&config), 1500.0);
        // 40 quarter hours; the export adder is 5, so 1,505 sells at 1,500.
        let mut prices = vec![100.0; 40];
        prices[1] = 1505.0;
        prices[2] = 1504.9;
        let snapshot =
            |prices: &[f64], daily_kwh: &[f64], sold: Option<(TimeDelta, f64)>| Snapshot {
                at: utc("2023-08-10T00:00:00Z"),
                prices_per_mwh: prices.to_vec(),
                ev_kw: vec![0.0; 40],
                jobs: Vec::new(),
                soc_kwh: 3900.0,
                month_peak_kw: 0.0,
                previous: None,
                reserve: Some(ReserveHistory {
                    daily_kwh: daily_kwh.to_vec(),
                }),
                recent_export_prices: sold
                    .map(|(ended_before, export_per_mwh)| RecentPrice {
                        ended_before,
                        export_per_mwh,
                    })
                    .into_iter()
                    .collect(),
            };
        // (boundary, reserve kept there) of every boundary with a target.
        let kept = |prices: &[f64], daily_kwh: &[f64], sold| -> Vec<(usize, f64)> {
            reserve_targets(&config, &snapshot(prices, daily_kwh, sold), 40)
                .unwrap()
                .iter()
                .map(|t| {
                    let at = DateTime::parse_from_rfc3339(&t.at).unwrap();
                    let minutes =
                        (at.with_timezone(&Utc) - utc("2023-08-10T00:00:00Z")).num_minutes();
                    ((minutes / 15) as usize, t.min_kwh - 390.0)
                })
                .collect()
        };
        let boundaries = |kept: Vec<(usize, f64)>| -> Vec<usize> {
            assert!(kept.iter().all(|&(_, kwh)| kwh == 2000.0), "{kept:?}");
            kept.iter().map(|&(boundary, _)| boundary).collect()
        };
        // One day of history: all or nothing. Interval 1 ends at boundary 2;
        // the 8 hours after it (boundaries 2 to 33) keep no reserve.
        assert_eq!(
            boundaries(kept(&prices, &[2000.0], None)),
            [1, 34, 35, 36, 37, 38, 39, 40]
        );
        // Sold 7 hours before the plan: its first 3 boundaries are in the
        // window too.
        let sold = Some((TimeDelta::hours(7), 1500.0));
        assert_eq!(
            boundaries(kept(&prices, &[2000.0], sold)),
            [34, 35, 36, 37, 38, 39, 40]
        );
        prices[1] = 100.0;
        assert_eq!(boundaries(kept(&prices, &[2000.0], sold))[..2], [4, 5]);
        assert_eq!(boundaries(kept(&prices, &[2000.0], None)).len(), 40);
        // Four days of history: an export price of half the worth (755 less
        // the adder) pays for the layers that fewer than two days in four
        // needed; the 8 hours after it keep the third largest day's 500.
        let history = [2000.0, 1000.0, 500.0, 0.0];
        let mut prices = vec![100.0; 40];
        prices[3] = 755.0;
        let layered = kept(&prices, &history, None);
        assert_eq!(layered.len(), 40);
        assert!(layered[..3].iter().all(|&(_, kwh)| kwh == 2000.0));
        assert!(layered[3..35].iter().all(|&(_, kwh)| kwh == 500.0));
        assert!(layered[35..].iter().all(|&(_, kwh)| kwh == 2000.0));
        // 95 of 1,500 is under one day in four: nothing is sold.
        let whole: Vec<(usize, f64)> = (1..=40).map(|b| (b, 2000.0)).collect();
        assert_eq!(kept(&[100.0; 40], &history, None), whole);
    }

    #[test]
    fn the_prices_the_reserve_was_sold_into_are_read_from_past_prices() {
        let config =
            SiteConfig::from_toml("demo.toml", include_str!("../../fixtures/sites/demo.toml"))
                .unwrap();
        let mut values = vec![50.0; 24];
        values[10] = 2000.0; // 10:00 to 11:00
        let prices = Series {
            start: utc("2023-08-10T00:00:00Z"),
            step_minutes: 60,
            values,
        };
        let recent = |at| recent_export_prices(&config, &prices, utc(at));
        // At 14:00, the hours that ended less than 8 hours before (06:00 to
        // 14:00), less the export adder of 5.
        let at_two = recent("2023-08-10T14:00:00Z");
        assert_eq!(at_two.len(), 8);
        assert_eq!(at_two[0].ended_before, TimeDelta::hours(7));
        assert_eq!(
            at_two[4],
            RecentPrice {
                ended_before: TimeDelta::hours(3),
                export_per_mwh: 1995.0
            }
        );
        // Still running: 0.
        let running = recent("2023-08-10T10:15:00Z");
        assert_eq!(running.last().unwrap().ended_before, TimeDelta::zero());
        assert_eq!(running.last().unwrap().export_per_mwh, 1995.0);
        // Before the data: nothing.
        assert!(recent("2023-08-09T12:00:00Z").is_empty());
    }

    #[test]
    fn a_job_near_its_end_may_split_its_last_energy_over_two_intervals() {
        // ERCOT 2023, job-0095: 28.938 kWh left, 90 to 300 kW, 15 minutes.
        assert_eq!(finishing_min_kw(90.0, 300.0, 28.938, 0.25), 57.876);
        // Plenty left: its own minimum.
        assert_eq!(finishing_min_kw(90.0, 300.0, 45.0, 0.25), 90.0);
        assert_eq!(finishing_min_kw(90.0, 300.0, 500.0, 0.25), 90.0);
        // Rounded down to the watt, never below a watt.
        assert_eq!(finishing_min_kw(90.0, 300.0, 0.0012345, 0.25), 0.002);
        assert_eq!(finishing_min_kw(90.0, 300.0, 0.0, 0.25), 0.001);
    }

    #[test]
    fn a_job_that_can_still_wait_owes_nothing_and_one_that_cannot_owes_the_difference() {
        // 7.2 MWh at up to 300 kW: 30 h after the horizon hold 0.8 × 30 ×
        // 300 = 7.2 MWh; 20 h hold 4.8, so 2.4 are owed within it.
        let relaxed = owed(&[job("a", 7200.0, 300.0, "2024-10-26T18:00:00Z")], 1500.0);
        assert!(relaxed.is_empty(), "{relaxed:?}");
        let tight = owed(&[job("a", 7200.0, 300.0, "2024-10-26T08:00:00Z")], 1500.0);
        assert_eq!(tight, HashMap::from([("a".to_owned(), 2400.0)]));
    }

    #[test]
    fn jobs_sharing_the_container_owe_what_it_cannot_take_after_the_horizon() {
        // A 500 kW container: by a's deadline (20 h after the horizon) it
        // takes 0.8 × 20 × 500 = 8 MWh, a's 5 MWh fit; by b's (24 h) 9.6
        // MWh, of a's and b's 13: b owes 3.4 (its own power would take 7.68
        // of its 8).
        let jobs = [
            job("a", 5000.0, 400.0, "2024-10-26T08:00:00Z"),
            job("b", 8000.0, 400.0, "2024-10-26T12:00:00Z"),
        ];
        assert_eq!(
            owed(&jobs, 500.0),
            HashMap::from([("b".to_owned(), 3400.0)])
        );
        // Due within the horizon, a job is planned to its deadline anyway.
        assert!(owed(&[job("c", 9000.0, 300.0, "2024-10-25T06:00:00Z")], 1500.0).is_empty());
    }
}
