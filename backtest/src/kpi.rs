//! Key figures of a run, all computed from its ledger and job outcomes (so
//! they always add up to the ledger).

use std::collections::BTreeMap;

use arbiter_optimizer::rounded;
use chrono::Datelike;
use serde::Serialize;

use crate::simulate::Run;
use crate::site::SiteConfig;

/// A run's figures, in the site's currency; serialized rounded (money to
/// 0.0001, energy to 0.001 kWh, seconds to 1 µs), exact in memory.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Kpis {
    /// The strategy.
    pub strategy: String,
    /// Intervals simulated.
    pub intervals: usize,
    /// Net cost: energy + demand charges + degradation + deadline penalties
    /// − compute value.
    #[serde(serialize_with = "rounded::money")]
    pub net_cost: f64,
    /// Σ ledger `cost`: imports at the import price minus exports at the
    /// export price.
    #[serde(serialize_with = "rounded::money")]
    pub energy_cost: f64,
    /// Demand charges, by site-local billing month (`YYYY-MM`): the month's
    /// peak import × the charge per kW.
    #[serde(serialize_with = "rounded::money_by_key")]
    pub demand_charges: BTreeMap<String, f64>,
    /// Battery wear: MWh discharged × the degradation cost.
    #[serde(serialize_with = "rounded::money")]
    pub degradation_cost: f64,
    /// Value of the compute energy delivered.
    #[serde(serialize_with = "rounded::money")]
    pub compute_value: f64,
    /// Of `compute_value`, what jobs due after the period earned: work
    /// carried into the next period, which a strategy that waits for
    /// cheaper hours there has not done yet (compare strategies on the
    /// rest).
    #[serde(serialize_with = "rounded::money")]
    pub compute_value_not_due: f64,
    /// Penalties on the energy jobs due in the period still lacked at their deadline.
    #[serde(serialize_with = "rounded::money")]
    pub deadline_penalties: f64,
    /// IT energy delivered to jobs, kWh.
    #[serde(serialize_with = "rounded::energy")]
    pub compute_kwh: f64,
    /// GPU-hours delivered: the compute energy at [`KW_PER_GPU`] per GPU.
    #[serde(serialize_with = "rounded::energy")]
    pub gpu_hours: f64,
    /// Compute energy the strategy gave jobs that the site ran short of
    /// because charging took the connection, kWh.
    #[serde(serialize_with = "rounded::energy")]
    pub compute_throttled_kwh: f64,
    /// Jobs due in the period.
    pub jobs_due: usize,
    /// Of those, finished by their deadline.
    pub jobs_on_time: usize,
    /// EV energy not served, kWh.
    #[serde(serialize_with = "rounded::energy")]
    pub unserved_kwh: f64,
    /// Energy imported, kWh.
    #[serde(serialize_with = "rounded::energy")]
    pub import_kwh: f64,
    /// Energy exported, kWh.
    #[serde(serialize_with = "rounded::energy")]
    pub export_kwh: f64,
    /// Battery equivalent full cycles: energy discharged / usable capacity.
    #[serde(serialize_with = "rounded::energy")]
    pub battery_cycles: f64,
    /// Median solve time, seconds (0 when nothing was solved).
    #[serde(serialize_with = "rounded::seconds")]
    pub solve_p50_seconds: f64,
    /// 95th percentile solve time, seconds.
    #[serde(serialize_with = "rounded::seconds")]
    pub solve_p95_seconds: f64,
    /// Longest solve, seconds.
    #[serde(serialize_with = "rounded::seconds")]
    pub solve_max_seconds: f64,
    /// Plans by status.
    pub plans: BTreeMap<String, usize>,
    /// Wall-clock seconds of the run.
    #[serde(serialize_with = "rounded::seconds")]
    pub wall_seconds: f64,
    /// Whether the run was stopped before the end of the period.
    pub interrupted: bool,
}

/// IT power of one GPU at work, kW, for the GPU-hours KPI: an H100 SXM
/// module's 700 W TDP (the server around it is in the site's PUE).
pub const KW_PER_GPU: f64 = 0.7;

/// The figures of `run`.
pub fn kpis(config: &SiteConfig, run: &Run) -> Kpis {
    let site = &config.site;
    let hours = f64::from(site.interval_minutes) / 60.0;
    let mut peaks: BTreeMap<String, f64> = BTreeMap::new();
    for row in &run.rows {
        let local = row.timestamp_utc.with_timezone(&config.zone);
        let month = format!("{:04}-{:02}", local.year(), local.month());
        let peak = peaks.entry(month).or_default();
        *peak = peak.max(row.import_kw);
    }
    let demand_charges: BTreeMap<String, f64> = peaks
        .into_iter()
        .map(|(month, peak)| (month, peak * site.tariff.demand_charge_per_kw_month))
        .collect();
    let sum = |f: &dyn Fn(&crate::simulate::Row) -> f64| run.rows.iter().map(f).sum::<f64>();
    let energy_cost = sum(&|row| row.cost);
    let discharged_kwh = sum(&|row| row.discharge_kw) * hours;
    let (degradation_cost, battery_cycles) = match &site.battery {
        Some(b) => (
            discharged_kwh / 1000.0 * b.degradation_cost_per_mwh,
            if b.soc_max_kwh > b.soc_min_kwh {
                discharged_kwh / (b.soc_max_kwh - b.soc_min_kwh)
            } else {
                0.0
            },
        ),
        None => (0.0, 0.0),
    };
    let mut compute_value = 0.0;
    let mut compute_value_not_due = 0.0;
    let mut deadline_penalties = 0.0;
    let mut jobs_due = 0;
    let mut jobs_on_time = 0;
    for outcome in &run.jobs {
        // A block job due in the period that did not finish by its deadline
        // ran part of a run that must be whole: it earns nothing and owes
        // all its energy (the site still paid for what it drew).
        let broken = outcome.block && outcome.due_in_period && !outcome.on_time();
        let credited = if broken { 0.0 } else { outcome.delivered_kwh };
        let value = credited / 1000.0 * outcome.value_per_mwh;
        compute_value += value;
        if !outcome.due_in_period {
            compute_value_not_due += value;
        } else {
            jobs_due += 1;
            let on_time = outcome.on_time();
            if on_time {
                jobs_on_time += 1;
            } else {
                deadline_penalties += (outcome.energy_kwh - credited).max(0.0) / 1000.0
                    * outcome.shortfall_penalty_per_mwh;
            }
        }
    }
    // + 0.0: an empty sum is −0.0.
    let compute_kwh = run.jobs.iter().map(|job| job.delivered_kwh).sum::<f64>() + 0.0;
    let demand_total: f64 = demand_charges.values().sum();
    let mut solves = run.solve_seconds.clone();
    solves.sort_by(f64::total_cmp);
    let quantile = |q: f64| {
        if solves.is_empty() {
            0.0
        } else {
            solves[((solves.len() - 1) as f64 * q).round() as usize]
        }
    };
    Kpis {
        strategy: run.strategy.name().to_owned(),
        intervals: run.rows.len(),
        net_cost: energy_cost + demand_total + degradation_cost + deadline_penalties
            - compute_value,
        energy_cost,
        demand_charges,
        degradation_cost,
        compute_value,
        compute_value_not_due: compute_value_not_due + 0.0,
        deadline_penalties,
        compute_kwh,
        gpu_hours: compute_kwh / KW_PER_GPU,
        compute_throttled_kwh: run.compute_throttled_kwh + 0.0,
        jobs_due,
        jobs_on_time,
        unserved_kwh: sum(&|row| row.unserved_kw) * hours,
        import_kwh: sum(&|row| row.import_kw) * hours,
        export_kwh: sum(&|row| row.export_kw) * hours,
        battery_cycles,
        solve_p50_seconds: quantile(0.5),
        solve_p95_seconds: quantile(0.95),
        solve_max_seconds: solves.last().copied().unwrap_or(0.0),
        plans: run.statuses.clone(),
        wall_seconds: run.wall_seconds,
        interrupted: run.interrupted,
    }
}
