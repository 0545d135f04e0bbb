//! Why a plan decided what it did: the duals of the linear program left when
//! the plan's on/off decisions are fixed.
//!
//! With every binary at its value in the plan, the model is a linear
//! program whose optimum is the plan (up to the MIP gap). Its duals price
//! each rule: the dual of interval `t`'s power balance is what one more kWh
//! of demand at the grid connection would cost there (the energy's marginal
//! value), and a limit binds where the variable sits at it and relaxing it
//! would lower the cost (a non-zero dual on its bound or on the on/off row
//! that carries it). A degenerate optimum has more than one set of duals;
//! the explanation gives the one HiGHS found, which is consistent with the
//! plan but need not be unique.

use std::collections::HashMap;

use good_lp::Variable;
use highs::HighsModelStatus;
use serde::{Deserialize, Serialize};

use crate::model::compute::KindVars;
use crate::model::{Formulation, Row, rules, value};
use crate::plan::Plan;
use crate::problem::{JobKind, Problem};

/// Why the plan is what it is, interval by interval and job by job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Explanation {
    /// One entry per interval, in the plan's order.
    pub intervals: Vec<IntervalWhy>,
    /// The jobs whose energy need or deadline binds, in the problem's order.
    pub jobs: Vec<JobWhy>,
}

/// What energy is worth in one interval and which limits bind there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct IntervalWhy {
    /// What one more MWh of demand at the grid connection would add to the
    /// plan's cost in this interval (money per MWh): the import price where
    /// the grid is the marginal supply, the export price where export is,
    /// and in between what stored energy or deferred compute is worth.
    pub energy_value_per_mwh: f64,
    /// The limits that bind, each with what relaxing it would save.
    pub binding: Vec<Binding>,
}

/// One binding limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Binding {
    /// Which limit.
    pub constraint: Limit,
    /// The job, for `job_max_power`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// What the plan would save per MWh the limit let through in this
    /// interval (power and energy limits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_per_mwh: Option<f64>,
    /// What the plan would save per kW the limit were higher (`month_peak`:
    /// the demand charge the peak costs, per kW).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_per_kw: Option<f64>,
}

/// The limits an explanation names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// Grid import at the connection's import limit.
    ImportLimit,
    /// Grid export at the connection's export limit.
    ExportLimit,
    /// Import at the billing month's peak, which a higher import would raise.
    MonthPeak,
    /// The battery full (at `soc_max_kwh`) at the interval's end.
    BatteryFull,
    /// The battery empty (at `soc_min_kwh`) at the interval's end.
    BatteryEmpty,
    /// Charging at the battery's most power.
    BatteryChargePower,
    /// Discharging at the battery's most power.
    BatteryDischargePower,
    /// The compute container at its IT capacity.
    ComputeCapacity,
    /// A job at its most power.
    JobMaxPower,
}

/// A job whose energy need or deadline binds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct JobWhy {
    /// The job.
    pub id: String,
    /// What binds it.
    pub binding: JobLimit,
    /// `energy_need`: what one more MWh of need would save the plan;
    /// `deadline` and `cost`: what a MWh of the job is worth (its value plus
    /// the shortfall penalty), money per MWh.
    pub value_per_mwh: f64,
}

/// What binds a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum JobLimit {
    /// It is served in full.
    EnergyNeed,
    /// It falls short of its need although its energy is worth more than
    /// it costs somewhere in its window: its window ends (the deadline)
    /// before the power and capacity left could serve it.
    Deadline,
    /// It falls short of its need because running more would cost at least
    /// what its energy is worth (its value plus the shortfall penalty) in
    /// every interval of its window: the prices, the month's peak or other
    /// limits, not the deadline, hold it back.
    Cost,
}

/// Below this a dual is zero (money per kW and interval, or per kWh).
const DUAL_NOISE: f64 = 1e-7;
/// How close to a limit a value binds, kW or kWh.
const AT_LIMIT: f64 = 1e-6;

/// The explanation of `plan`, a plan of `problem`, or `None` when the
/// fixed linear program cannot be solved within `seconds`.
///
/// The model is built anew with the problem's own bounds (not the tightened
/// ones the search uses, which would price a limit the data implies, e.g.
/// import capped at the interval's most consumption, as if it were the
/// connection's), and the plan's on/off decisions are read from its
/// schedule.
pub(crate) fn explain(
    problem: &Problem,
    formulation: Formulation,
    exclusive_charge: bool,
    plan: &Plan,
    seconds: f64,
    threads: Option<u32>,
) -> Option<Explanation> {
    let formulation = Formulation {
        tight_bounds: false,
        ..formulation
    };
    let model = &crate::model::build(problem, formulation, exclusive_charge);
    let values = rules::from_plan(problem, model, plan);
    let fixings: Vec<(Variable, f64)> = model
        .columns
        .iter()
        .zip(&model.integer)
        .filter(|&(_, &integer)| integer)
        .map(|(&var, _)| (var, value(&values, var).round()))
        .collect();
    let mut highs = crate::solve::highs_model(model, &fixings).ok()?;
    highs.try_set_option("solve_relaxation", true).ok()?;
    highs.try_set_option("time_limit", seconds.max(0.0)).ok()?;
    if let Some(threads) = threads {
        highs
            .try_set_option("threads", i32::try_from(threads).unwrap_or(i32::MAX))
            .ok()?;
    }
    let solved = highs.try_solve().ok()?;
    if solved.status() != HighsModelStatus::Optimal {
        return None;
    }
    let solution = solved.get_solution();
    let (columns, column_duals, row_duals) = (
        solution.columns(),
        solution.dual_columns(),
        solution.dual_rows(),
    );
    if columns.len() != model.columns.len()
        || row_duals.len() != model.constraints.len() + fixings.len()
    {
        return None;
    }
    let index: HashMap<Variable, usize> = model
        .columns
        .iter()
        .enumerate()
        .map(|(i, &var)| (var, i))
        .collect();
    // A variable's dual on its upper limit: its reduced cost plus the duals
    // of the on/off rows that carry that limit.
    let mut limit_duals: Vec<f64> = column_duals.to_vec();
    let mut balance = vec![0.0; problem.intervals()];
    let mut capacity = vec![0.0; problem.intervals()];
    let mut peak = vec![0.0; problem.intervals()];
    let mut job_energy = vec![0.0; problem.jobs.len()];
    for (row, &dual) in model.rows.iter().zip(row_duals) {
        match *row {
            Row::Other => {}
            Row::Balance(t) => balance[t] = dual,
            Row::Bound(var) => {
                if let Some(&i) = index.get(&var) {
                    limit_duals[i] += dual;
                }
            }
            Row::ComputeCapacity(t) => capacity[t] = dual,
            Row::JobEnergy(j) => job_energy[j] = dual,
            Row::Peak(t) => peak[t] = dual,
        }
    }
    let h = problem.hours_per_interval();
    let per_mwh = |dual: f64| dual.abs() * 1000.0 / h;
    // The variable's value and its dual at a limit, if it sits at `limit`
    // and the dual is not noise.
    let at_limit = |var: Variable, limit: f64| -> Option<f64> {
        let &i = index.get(&var)?;
        let dual = limit_duals[i];
        (columns[i] >= limit - AT_LIMIT && dual.abs() > DUAL_NOISE).then_some(dual)
    };
    let limit = |constraint, dual: f64| Binding {
        constraint,
        job: None,
        value_per_mwh: Some(per_mwh(dual)),
        value_per_kw: None,
    };
    let mut intervals: Vec<IntervalWhy> = (0..problem.intervals())
        .map(|t| IntervalWhy {
            // HiGHS's row dual is the cost's rate of change with the row's
            // level; one more kW of demand is met by one more of supply.
            energy_value_per_mwh: balance[t] * 1000.0 / h,
            binding: Vec::new(),
        })
        .collect();
    for (t, why) in intervals.iter_mut().enumerate() {
        let binding = &mut why.binding;
        if let Some(dual) = at_limit(model.grid.import_kw[t], problem.import_limit_kw) {
            binding.push(limit(Limit::ImportLimit, dual));
        }
        if let Some(dual) =
            model.grid.export_kw[t].and_then(|export| at_limit(export, problem.export_limit_kw))
        {
            binding.push(limit(Limit::ExportLimit, dual));
        }
        if peak[t].abs() > DUAL_NOISE {
            binding.push(Binding {
                constraint: Limit::MonthPeak,
                job: None,
                value_per_mwh: None,
                value_per_kw: Some(peak[t].abs()),
            });
        }
        if let (Some(vars), Some(spec)) = (&model.battery, &problem.battery) {
            if let Some(dual) = at_limit(vars.charge_kw[t], spec.max_charge_kw) {
                binding.push(limit(Limit::BatteryChargePower, dual));
            }
            if let Some(dual) = at_limit(vars.discharge_kw[t], spec.max_discharge_kw) {
                binding.push(limit(Limit::BatteryDischargePower, dual));
            }
            if let Some(&i) = index.get(&vars.soc_kwh[t]) {
                let dual = column_duals[i];
                if dual.abs() > DUAL_NOISE {
                    let (kind, at) = if columns[i] >= spec.soc_max_kwh - AT_LIMIT {
                        (Limit::BatteryFull, true)
                    } else {
                        (
                            Limit::BatteryEmpty,
                            columns[i] <= spec.soc_min_kwh + AT_LIMIT,
                        )
                    };
                    if at {
                        // Per kWh stored: the same per MWh whatever the
                        // interval's length.
                        binding.push(Binding {
                            constraint: kind,
                            job: None,
                            value_per_mwh: Some(dual.abs() * 1000.0),
                            value_per_kw: None,
                        });
                    }
                }
            }
        }
        if capacity[t].abs() > DUAL_NOISE {
            binding.push(limit(Limit::ComputeCapacity, capacity[t]));
        }
    }
    let pue = problem.compute.as_ref().map_or(1.0, |compute| compute.pue);
    let mut jobs = Vec::new();
    for (j, (job, vars)) in problem.jobs.iter().zip(&model.compute.jobs).enumerate() {
        if let (JobKind::Preemptible { .. }, KindVars::Preemptible { power_kw, .. }) =
            (&job.kind, &vars.kind)
        {
            for (t, &power) in vars.window.clone().zip(power_kw) {
                // Its most in the interval: `f_jt · max_kw`.
                if let Some(dual) = at_limit(power, job.power_range_at(t).1) {
                    intervals[t].binding.push(Binding {
                        job: Some(job.id.clone()),
                        ..limit(Limit::JobMaxPower, dual)
                    });
                }
            }
        }
        let short = plan
            .jobs
            .get(j)
            .map_or(0.0, |summary| summary.shortfall_kwh);
        if short > AT_LIMIT {
            // Short of its need: the deadline binds if its energy is worth
            // more than it would cost somewhere in its window (it would run
            // longer if it could), else the prices do.
            let worth = job.value_per_mwh + job.shortfall_penalty_per_mwh;
            let cheapest = vars
                .window
                .clone()
                .map(|t| intervals[t].energy_value_per_mwh * pue)
                .fold(f64::INFINITY, f64::min);
            jobs.push(JobWhy {
                id: job.id.clone(),
                binding: if worth > cheapest + 1e-6 {
                    JobLimit::Deadline
                } else {
                    JobLimit::Cost
                },
                value_per_mwh: worth,
            });
        } else if job_energy[j].abs() > DUAL_NOISE {
            jobs.push(JobWhy {
                id: job.id.clone(),
                binding: JobLimit::EnergyNeed,
                value_per_mwh: job_energy[j].abs() * 1000.0,
            });
        }
    }
    Some(Explanation { intervals, jobs })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SolveOptions, solve};

    fn explained(json: &str) -> (Plan, Explanation) {
        let problem = Problem::from_json(json).expect("a valid problem");
        let plan = solve(
            &problem,
            &SolveOptions {
                explain: true,
                ..SolveOptions::default()
            },
        )
        .published(&problem);
        let explain = plan.explain.clone().expect("explained");
        (plan, explain)
    }

    fn names(why: &IntervalWhy) -> Vec<(Limit, Option<f64>, Option<f64>)> {
        why.binding
            .iter()
            .map(|binding| {
                (
                    binding.constraint,
                    binding.value_per_mwh,
                    binding.value_per_kw,
                )
            })
            .collect()
    }

    /// Charge at 31 (as fast as the battery takes it) and at 60 (until it is
    /// full), discharge at 142 and where the import limit cannot serve the
    /// 04:00 demand.
    #[test]
    fn the_battery_case_prices_energy_and_names_the_limits() {
        let (plan, explain) = explained(WHY);
        let charge: Vec<f64> = plan.intervals.iter().map(|i| i.charge_kw).collect();
        assert_eq!(charge, [50.0, 40.0, 0.0, 0.0]);
        let values: Vec<f64> = explain
            .intervals
            .iter()
            .map(|why| why.energy_value_per_mwh)
            .collect();
        // The import price where the grid serves one more kWh; 142 at
        // 04:00, where import is at its limit: one more kWh there comes from
        // the battery, and 03:00 imports it instead.
        assert_eq!(values, [31.0, 60.0, 142.0, 142.0]);
        assert_eq!(
            names(&explain.intervals[0]),
            [(Limit::BatteryChargePower, Some(29.0), None)]
        );
        assert_eq!(
            names(&explain.intervals[1]),
            [(Limit::BatteryFull, Some(82.0), None)]
        );
        assert_eq!(names(&explain.intervals[2]), []);
        assert_eq!(
            names(&explain.intervals[3]),
            [
                (Limit::ImportLimit, Some(22.0), None),
                (Limit::BatteryEmpty, Some(142.0), None)
            ]
        );
        assert!(explain.jobs.is_empty());
    }

    const WHY: &str = include_str!("../../fixtures/problems/why.json");
    const PEAK: &str = r#"{"site_id": "peak", "start": "2025-06-01T00:00:00Z", "interval_minutes": 60,
        "prices_per_mwh": [20, 20],
        "grid": {"import_limit_kw": 200, "export_limit_kw": 0},
        "tariff": {"demand_charge_per_kw": 5, "peak_so_far_kw": 0},
        "ev_demand_kw": [40, 10]}"#;
    const JOB: &str = r#"{"site_id": "job", "start": "2025-06-01T00:00:00Z", "interval_minutes": 60,
        "prices_per_mwh": [20, 20, 20],
        "grid": {"import_limit_kw": 200, "export_limit_kw": 0},
        "ev_demand_kw": [0, 0, 0],
        "compute": {"max_it_kw": 100, "pue": 1.0},
        "jobs": [{"id": "train", "kind": "preemptible", "energy_kwh": 100, "min_kw": 10,
                  "max_kw": 40, "release": "2025-06-01T00:00:00Z",
                  "deadline": "2025-06-01T02:00:00Z", "value_per_mwh": 200,
                  "shortfall_penalty_per_mwh": 0}]}"#;

    /// The energy value is what the cost does when the demand moves: half a
    /// kW more or less in one interval, solved again, changes the optimal
    /// cost by the value times the energy (these cases are not degenerate,
    /// so both directions agree).
    #[test]
    fn the_energy_value_is_the_cost_of_one_more_kwh_solved_again() {
        for json in [WHY, PEAK, JOB] {
            let (_, explain) = explained(json);
            let exact = |demand: &serde_json::Value| {
                let problem = Problem::from_json(&demand.to_string()).expect("valid");
                solve(&problem, &SolveOptions::default()).objective
            };
            let base: serde_json::Value = serde_json::from_str(json).expect("JSON");
            let cost = exact(&base);
            for (t, why) in explain.intervals.iter().enumerate() {
                for delta in [0.5, -0.5] {
                    let mut moved = base.clone();
                    let ev = &mut moved["ev_demand_kw"][t];
                    let kw = ev.as_f64().expect("a number") + delta;
                    if kw < 0.0 {
                        continue;
                    }
                    *ev = serde_json::json!(kw);
                    // Hourly intervals: delta kW is delta kWh.
                    let per_mwh = (exact(&moved) - cost) / (delta / 1000.0);
                    assert!(
                        (per_mwh - why.energy_value_per_mwh).abs() < 1e-3,
                        "{t} {delta}: {per_mwh} against {}",
                        why.energy_value_per_mwh
                    );
                }
            }
        }
    }

    /// A demand charge of 5 per kW: the first hour sets the month's peak.
    #[test]
    fn the_month_peak_binds_where_import_sets_it() {
        let (_, explain) = explained(PEAK);
        // One more kWh at 00:00 raises the peak by 1 kW: 20 + 5,000 per MWh.
        assert_eq!(explain.intervals[0].energy_value_per_mwh, 5020.0);
        assert_eq!(
            names(&explain.intervals[0]),
            [(Limit::MonthPeak, None, Some(5.0))]
        );
        assert_eq!(explain.intervals[1].energy_value_per_mwh, 20.0);
        assert_eq!(names(&explain.intervals[1]), []);
    }

    /// A job worth 200 per MWh that needs 100 kWh in two hours at 40 kW
    /// at most: its deadline binds, and so does its power.
    #[test]
    fn a_job_short_of_its_need_by_its_deadline() {
        let (plan, explain) = explained(JOB);
        assert_eq!(plan.jobs[0].shortfall_kwh, 20.0);
        assert_eq!(
            explain.jobs,
            [JobWhy {
                id: "train".to_owned(),
                binding: JobLimit::Deadline,
                value_per_mwh: 200.0,
            }]
        );
        for t in 0..2 {
            assert_eq!(explain.intervals[t].energy_value_per_mwh, 20.0);
            assert_eq!(
                explain.intervals[t].binding,
                [Binding {
                    constraint: Limit::JobMaxPower,
                    job: Some("train".to_owned()),
                    value_per_mwh: Some(180.0),
                    value_per_kw: None,
                }]
            );
        }
        assert_eq!(names(&explain.intervals[2]), []);
    }
}
