//! The plan: the schedule of every interval, the cost breakdown and a summary
//! per job, read back from an assignment of the model's variables.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::costs::Costs;
use crate::model::compute::KindVars;
use crate::model::{Model, Values, value, value_or_zero};
use crate::problem::Problem;

/// How the plan was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The search closed the gap to the requested tolerance.
    Optimal,
    /// A time limit stopped the search with a feasible plan; `mip_gap` says how
    /// far from optimal it may be.
    Feasible,
    /// No solution in time: the safe rule-built plan (battery idle, compute
    /// off, the grid serves the load), which still satisfies every rule.
    Fallback,
}

impl Status {
    /// The status as written in the plan JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Optimal => "optimal",
            Status::Feasible => "feasible",
            Status::Fallback => "fallback",
        }
    }
}

/// The answer to a problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Plan {
    /// The problem's `site_id`.
    pub site_id: String,
    /// How the plan was found.
    pub status: Status,
    /// Total cost of the plan (money); the signed sum of `costs`.
    pub objective: f64,
    /// Relative distance to the best bound the search proved; `null` when no
    /// bound is known (a fallback plan, or a search stopped before proving one).
    pub mip_gap: Option<f64>,
    /// Wall time spent building and solving, seconds.
    pub solve_seconds: f64,
    /// The objective term by term.
    pub costs: Costs,
    /// The schedule, one entry per interval.
    pub intervals: Vec<IntervalPlan>,
    /// One summary per job, in the problem's order.
    pub jobs: Vec<JobSummary>,
    /// Why the plan is a fallback, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Why the plan decided what it did, when asked for
    /// ([`SolveOptions::explain`](crate::SolveOptions::explain)): what
    /// energy is worth in each interval and which limits bind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explain: Option<crate::Explanation>,
}

/// The schedule of one interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct IntervalPlan {
    /// Start of the interval.
    pub start: DateTime<Utc>,
    /// Day-ahead price, per MWh.
    pub price_per_mwh: f64,
    /// Grid import, kW.
    pub import_kw: f64,
    /// Grid export, kW.
    pub export_kw: f64,
    /// Battery charging power, kW.
    pub charge_kw: f64,
    /// Battery discharging power, kW.
    pub discharge_kw: f64,
    /// Stored energy at the **end** of the interval, kWh (0 without a battery).
    pub soc_kwh: f64,
    /// EV charging served, kW: `ev − min(unserved, ev)`.
    pub ev_served_kw: f64,
    /// Load not served, kW (EV charging first, then base load).
    pub unserved_kw: f64,
    /// IT power of all jobs, kW.
    pub compute_it_kw: f64,
    /// IT power of every job by id, kW (0 where idle).
    pub jobs: BTreeMap<String, f64>,
}

/// What one job gets over the horizon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct JobSummary {
    /// The job's id.
    pub id: String,
    /// IT energy delivered, kWh.
    pub delivered_kwh: f64,
    /// `E_j` minus the energy delivered, kWh.
    pub shortfall_kwh: f64,
    /// Number of starts (runs that begin inside the horizon).
    pub starts: u32,
}

/// Everything about a plan except how it was found.
pub(crate) struct Schedule {
    pub costs: Costs,
    pub intervals: Vec<IntervalPlan>,
    pub jobs: Vec<JobSummary>,
}

/// Reads the schedule, the job summaries and the cost breakdown from an
/// assignment of the model's variables.
pub(crate) fn read(problem: &Problem, model: &Model, values: &Values) -> Schedule {
    let h = problem.hours_per_interval();
    let mut intervals = Vec::with_capacity(problem.intervals());
    for t in 0..problem.intervals() {
        let (charge_kw, discharge_kw, soc_kwh) = match &model.battery {
            Some(battery) => (
                value(values, battery.charge_kw[t]),
                value(values, battery.discharge_kw[t]),
                value(values, battery.soc_kwh[t]),
            ),
            None => (0.0, 0.0, 0.0),
        };
        let unserved_kw = value(values, model.loads.unserved_kw[t]);
        let ev_kw = problem.ev_demand_kw[t];
        let mut jobs = BTreeMap::new();
        let mut compute_it_kw = 0.0;
        for (job, vars) in problem.jobs.iter().zip(&model.compute.jobs) {
            let power = vars.power_kw(values, t);
            compute_it_kw += power;
            jobs.insert(job.id.clone(), power);
        }
        intervals.push(IntervalPlan {
            start: problem.interval_start(t),
            price_per_mwh: problem.price_per_mwh[t],
            import_kw: value(values, model.grid.import_kw[t]),
            export_kw: value_or_zero(values, model.grid.export_kw[t]),
            charge_kw,
            discharge_kw,
            soc_kwh,
            ev_served_kw: ev_kw - unserved_kw.min(ev_kw),
            unserved_kw,
            compute_it_kw,
            jobs,
        });
    }
    let jobs = problem
        .jobs
        .iter()
        .zip(&model.compute.jobs)
        .map(|(job, vars)| {
            let delivered_kwh: f64 = vars
                .window
                .clone()
                .map(|t| h * vars.power_kw(values, t))
                .sum();
            let starts = match &vars.kind {
                KindVars::Preemptible {
                    power_kw, running, ..
                } => {
                    let mut previous = vars.window.start == 0 && *running;
                    let mut starts = 0;
                    for &x in power_kw {
                        let on = value(values, x) > 0.0;
                        starts += u32::from(on && !previous);
                        previous = on;
                    }
                    starts
                }
                KindVars::Block(starts) => starts
                    .start_values(values)
                    .iter()
                    .map(|&s| u32::from(s > 0.5))
                    .sum(),
            };
            JobSummary {
                id: job.id.clone(),
                delivered_kwh,
                shortfall_kwh: (job.target_energy_kwh(h) - delivered_kwh).max(0.0),
                starts,
            }
        })
        .collect();
    Schedule {
        costs: model.costs.eval(values),
        intervals,
        jobs,
    }
}
