//! The rule-built plan and the variables that follow from a schedule.
//!
//! The rule-built plan keeps the battery idle, runs no compute and lets the
//! grid serve the load up to the import limit (the rest is unserved). It
//! satisfies every rule of the model, so it is both the warm start handed to
//! the solver and the `fallback` plan when the solver finds nothing in time.

use std::collections::HashMap;

use super::compute::KindVars;
use super::{Model, Values, value, value_or_zero};
use crate::plan::{IntervalPlan, Plan};
use crate::problem::{Job, Problem};

/// The rule-built plan as a full assignment of the model's variables.
pub(crate) fn fallback(problem: &Problem, model: &Model) -> Values {
    let mut values = model.zero_values();
    if let (Some(battery), Some(spec)) = (&model.battery, &problem.battery) {
        for &soc in &battery.soc_kwh {
            values.insert(soc, spec.initial_soc_kwh);
        }
    }
    for t in 0..problem.intervals() {
        let load_kw = problem.site_load_kw(t);
        let import_kw = load_kw.min(model.grid.import_max_kw[t]);
        values.insert(model.grid.import_kw[t], import_kw);
        values.insert(model.loads.unserved_kw[t], load_kw - import_kw);
        if let Some(importing) = model.grid.importing[t] {
            values.insert(importing, 1.0);
        }
    }
    settle_dependents(problem, model, &mut values);
    values
}

/// Sets every variable that only measures the schedule to its least value:
/// the peak, SoC-target shortfalls and stability deviations. Each is then
/// exactly what the cost formula of the plan says.
pub(crate) fn settle_dependents(problem: &Problem, model: &Model, values: &mut Values) {
    if let Some(peak) = model.tariff.peak_kw {
        let highest = model
            .grid
            .import_kw
            .iter()
            .map(|&import| value(values, import))
            .fold(problem.peak_so_far_kw, f64::max);
        values.insert(peak, highest);
    }
    let Some(battery) = &model.battery else {
        return;
    };
    for (target, short) in problem.soc_targets.iter().zip(&model.targets.shortfall_kwh) {
        if let Some(short) = *short {
            let soc = value(values, battery.soc_kwh[target.boundary - 1]);
            values.insert(short, (target.min_kwh - soc).max(0.0));
        }
    }
    if let Some(stability) = &problem.stability {
        for (t, deviation) in model.stability.deviation_kw.iter().enumerate() {
            let (Some(deviation), Some(reference)) = (*deviation, stability.reference_kw[t]) else {
                continue;
            };
            let net = value(values, battery.discharge_kw[t]) - value(values, battery.charge_kw[t]);
            values.insert(deviation, (net - reference).abs());
        }
    }
}

/// Settles what is left of the power balance after binaries were snapped
/// (solver noise, far below a watt): a deficit is imported (or, past the
/// limit, left unserved); a surplus imports less, then exports.
pub(crate) fn settle_balance(problem: &Problem, model: &Model, values: &mut Values) {
    for t in 0..problem.intervals() {
        let residual = model.balance[t].eval_with(values);
        if residual == 0.0 {
            continue;
        }
        let import = model.grid.import_kw[t];
        let import_kw = value(values, import);
        if residual < 0.0 {
            let raised = (import_kw - residual).min(model.grid.import_max_kw[t]);
            values.insert(import, raised);
            let unserved = model.loads.unserved_kw[t];
            let left = -residual - (raised - import_kw);
            if left > 0.0 {
                values.insert(unserved, value(values, unserved) + left);
            }
        } else {
            let lowered = (import_kw - residual).max(0.0);
            values.insert(import, lowered);
            let left = residual - (import_kw - lowered);
            if let (true, Some(export)) = (left > 0.0, model.grid.export_kw[t]) {
                values.insert(export, value_or_zero(values, Some(export)) + left);
            }
        }
    }
}

/// A previous plan as an assignment of this model's variables, matched by
/// interval start time; intervals the plan does not cover keep the rule-built
/// values. The result need not be feasible (the battery may have drifted from
/// the plan): the solver keeps its on/off decisions and completes the rest.
pub(crate) fn from_plan(problem: &Problem, model: &Model, plan: &Plan) -> Values {
    let mut values = fallback(problem, model);
    let by_start: HashMap<_, _> = plan.intervals.iter().map(|i| (i.start, i)).collect();
    let planned: Vec<Option<&IntervalPlan>> = (0..problem.intervals())
        .map(|t| by_start.get(&problem.interval_start(t)).copied())
        .collect();
    for (t, interval) in planned.iter().enumerate() {
        let Some(interval) = interval else { continue };
        values.insert(model.grid.import_kw[t], interval.import_kw);
        if let Some(export) = model.grid.export_kw[t] {
            values.insert(export, interval.export_kw);
        }
        if let Some(importing) = model.grid.importing[t] {
            values.insert(importing, if interval.export_kw > 0.0 { 0.0 } else { 1.0 });
        }
        values.insert(model.loads.unserved_kw[t], interval.unserved_kw);
        if let Some(battery) = &model.battery {
            values.insert(battery.charge_kw[t], interval.charge_kw);
            values.insert(battery.discharge_kw[t], interval.discharge_kw);
            values.insert(battery.soc_kwh[t], interval.soc_kwh);
            if let Some(&charging) = battery.charging.get(t) {
                values.insert(charging, if interval.charge_kw > 0.0 { 1.0 } else { 0.0 });
            }
        }
    }
    let power = |job: &Job, t: usize| -> f64 {
        planned[t]
            .and_then(|i| i.jobs.get(&job.id))
            .copied()
            .unwrap_or(0.0)
    };
    for (job, vars) in problem.jobs.iter().zip(&model.compute.jobs) {
        match &vars.kind {
            KindVars::Preemptible { power_kw, on, .. } => {
                for (i, t) in vars.window.clone().enumerate() {
                    let x = power(job, t);
                    values.insert(power_kw[i], x);
                    values.insert(on[i], if x > 0.0 { 1.0 } else { 0.0 });
                }
            }
            KindVars::Block(starts) => {
                let chosen = starts
                    .intervals
                    .iter()
                    .position(|&t| power(job, t) > 0.0 && (t == 0 || power(job, t - 1) == 0.0));
                starts.assign(&mut values, chosen);
            }
        }
    }
    crate::model::compute::snap(problem, &model.compute, &mut values);
    settle_dependents(problem, model, &mut values);
    values
}

/// The LP relaxation's solution with every on/off decision rounded: a
/// preemptible job is on where [`round_preemptible`] says; a block starts
/// where its relaxed start is largest (if its starts add up to at least ½),
/// exclusivity binaries round at ½.
/// Continuous values stay as the LP left them; the solver completes them for
/// the rounded decisions.
pub(crate) fn round_relaxation(problem: &Problem, model: &Model, mut values: Values) -> Values {
    for (vars, job) in model.compute.jobs.iter().zip(&problem.jobs) {
        if let KindVars::Preemptible { power_kw, on, .. } = &vars.kind {
            let on_at = round_preemptible(problem, job, vars.window.start, power_kw, on, &values);
            for (&z, is_on) in on.iter().zip(on_at) {
                values.insert(z, if is_on { 1.0 } else { 0.0 });
            }
        }
        if let KindVars::Block(starts) = &vars.kind {
            let relaxed = starts.start_values(&values);
            let total: f64 = relaxed.iter().sum();
            let best = (0..relaxed.len()).max_by(|&a, &b| relaxed[a].total_cmp(&relaxed[b]));
            starts.assign(&mut values, best.filter(|_| total >= 0.5));
        }
    }
    crate::model::compute::snap(problem, &model.compute, &mut values);
    let binaries = model
        .grid
        .importing
        .iter()
        .flatten()
        .chain(model.battery.iter().flat_map(|b| &b.charging));
    for &binary in binaries {
        values.insert(
            binary,
            if value(&values, binary) >= 0.5 {
                1.0
            } else {
                0.0
            },
        );
    }
    values
}

/// Where a preemptible job is on in the rounded relaxation: wherever the
/// relaxation runs it, if its minimum there adds up to no more than its
/// energy. The solver then raises each of those intervals to at least the
/// minimum by moving energy between them, and the plan is usually within
/// the gap of the relaxation's bound: on the 300 problems of a fleet cycle,
/// relax-and-fix's MIP then took 16.3 s instead of 34.8 s with each
/// indicator rounded at ½ (33.3–34.0 s with no start at all), and its plans
/// cost about 105 less in all.
///
/// A job the relaxation spreads thinly cannot run everywhere it does: one
/// needing 10 kW on average with a 30 kW minimum draws 10 kW everywhere, its
/// indicators at a tenth. Rounded at ½ it would get nothing, its whole energy
/// short. So it is on where its indicator is at least ½ or it draws its
/// minimum, then where the relaxation has it draw most, until those
/// intervals can deliver (at full power) the energy the relaxation delivers,
/// skipping any whose minimum would take it past its energy.
fn round_preemptible(
    problem: &Problem,
    job: &Job,
    window_start: usize,
    power_kw: &[good_lp::Variable],
    on: &[good_lp::Variable],
    values: &Values,
) -> Vec<bool> {
    let h = problem.hours_per_interval();
    let range = |i: usize| job.power_range_at(window_start + i);
    let power = |i: usize| value(values, power_kw[i]);
    let relaxed_kwh: f64 = (0..on.len()).map(|i| h * power(i)).sum();
    let energy_kwh = job.target_energy_kwh(h);
    let support: Vec<bool> = (0..on.len()).map(|i| power(i) > SETTLED).collect();
    let support_least_kwh: f64 = (0..on.len())
        .filter(|&i| support[i])
        .map(|i| h * range(i).0)
        .sum();
    if support_least_kwh <= energy_kwh + SETTLED {
        return support;
    }
    let mut on_at: Vec<bool> = (0..on.len())
        .map(|i| value(values, on[i]) >= 0.5 || power(i) >= range(i).0 - SETTLED)
        .collect();
    let (mut reach_kwh, mut least_kwh) = (0.0, 0.0);
    for i in (0..on.len()).filter(|&i| on_at[i]) {
        reach_kwh += h * range(i).1;
        least_kwh += h * range(i).0;
    }
    let mut rest: Vec<usize> = (0..on.len()).filter(|&i| !on_at[i]).collect();
    rest.sort_by(|&a, &b| power(b).total_cmp(&power(a)));
    for i in rest {
        if reach_kwh >= relaxed_kwh - SETTLED || power(i) <= SETTLED {
            break;
        }
        let (least, most) = range(i);
        if least_kwh + h * least <= energy_kwh {
            on_at[i] = true;
            reach_kwh += h * most;
            least_kwh += h * least;
        }
    }
    on_at
}

/// Below this a relaxed binary counts as 0 (and above 1 minus this as 1),
/// and a relaxed job power as 0 kW.
const SETTLED: f64 = 1e-6;

/// The binaries whose value the LP relaxation settles, with that value, for
/// relax-and-fix ([`crate::solve`]): a preemptible job is off where it draws
/// nothing and on where it draws at least its minimum (its relaxed indicator
/// may be fractional either way: only the power says what the schedule
/// needs); every other binary is settled where its relaxed value is 0 or 1.
/// The binaries left free are the decisions the relaxation split.
pub(crate) fn settled_binaries(
    problem: &Problem,
    model: &Model,
    relaxed: &Values,
) -> Vec<(good_lp::Variable, f64)> {
    let integral = |var| {
        let v = value(relaxed, var);
        if v <= SETTLED {
            Some((var, 0.0))
        } else if v >= 1.0 - SETTLED {
            Some((var, 1.0))
        } else {
            None
        }
    };
    let mut settled = Vec::new();
    for (vars, job) in model.compute.jobs.iter().zip(&problem.jobs) {
        match &vars.kind {
            KindVars::Preemptible { power_kw, on, .. } => {
                let min_kw = match job.kind {
                    crate::problem::JobKind::Preemptible { min_kw, .. } => min_kw,
                    crate::problem::JobKind::Block { .. } => 0.0,
                };
                for (&x, &z) in power_kw.iter().zip(on) {
                    let power = value(relaxed, x);
                    if power <= SETTLED {
                        settled.push((z, 0.0));
                    } else if power >= min_kw - SETTLED {
                        settled.push((z, 1.0));
                    }
                }
            }
            // Cumulative starts are settled only where the relaxation has not
            // started the block yet: `S = 1` would force the block to run by
            // then, where one binary per start leaves "not at all" open
            // (corpus-1-017: with it, relax-and-fix's MIP was left a plan
            // 152% above the optimum and the search took 0.09 s, not 0.02).
            KindVars::Block(starts) if starts.cumulative => {
                settled.extend(
                    starts
                        .decisions
                        .iter()
                        .filter_map(|&s| integral(s))
                        .filter(|&(_, value)| value == 0.0),
                );
            }
            KindVars::Block(starts) => {
                settled.extend(starts.decisions.iter().filter_map(|&s| integral(s)));
            }
        }
    }
    let exclusivity = model
        .grid
        .importing
        .iter()
        .flatten()
        .chain(model.battery.iter().flat_map(|b| &b.charging));
    settled.extend(exclusivity.filter_map(|&b| integral(b)));
    settled
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Formulation, build};

    /// Eight hours at one price; a job of 80 kWh at 20–50 kW due at the end:
    /// 10 kW on average, below its minimum.
    const THIN_JOB: &str = r#"{
        "site_id": "thin", "start": "2025-06-01T00:00:00Z", "interval_minutes": 60,
        "prices_per_mwh": [50, 50, 50, 50, 50, 50, 50, 50],
        "grid": {"import_limit_kw": 500, "export_limit_kw": 0},
        "ev_demand_kw": [0, 0, 0, 0, 0, 0, 0, 0],
        "compute": {"max_it_kw": 100, "pue": 1.0},
        "jobs": [{"id": "thin", "kind": "preemptible", "energy_kwh": 80, "min_kw": 20,
                  "max_kw": 50, "release": "2025-06-01T00:00:00Z",
                  "deadline": "2025-06-01T08:00:00Z", "value_per_mwh": 0,
                  "shortfall_penalty_per_mwh": 1000}]
    }"#;

    fn rounded_on(relaxed_kw: &[f64], indicator: &[f64]) -> Vec<bool> {
        let problem = Problem::from_json(THIN_JOB).expect("a valid problem");
        let model = build(&problem, Formulation::default(), false);
        let KindVars::Preemptible { power_kw, on, .. } = &model.compute.jobs[0].kind else {
            panic!("a preemptible job");
        };
        let mut relaxed = model.zero_values();
        for (i, (&x, &z)) in power_kw.iter().zip(on).enumerate() {
            relaxed.insert(x, relaxed_kw[i]);
            relaxed.insert(z, indicator[i]);
        }
        let rounded = round_relaxation(&problem, &model, relaxed);
        on.iter().map(|&z| value(&rounded, z) == 1.0).collect()
    }

    #[test]
    fn a_thinly_spread_job_is_on_where_it_draws_most_until_it_can_deliver_its_energy() {
        // Spread evenly: the first two hours can deliver 100 kWh ≥ 80.
        assert_eq!(
            rounded_on(&[10.0; 8], &[0.2; 8]),
            [true, true, false, false, false, false, false, false]
        );
        // Where it draws most first; an hour at its minimum counts as on.
        assert_eq!(
            rounded_on(
                &[0.0, 5.0, 30.0, 5.0, 20.0, 10.0, 10.0, 0.0],
                &[0.0, 0.1, 0.6, 0.1, 0.4, 0.2, 0.2, 0.0]
            ),
            [false, false, true, false, true, false, false, false]
        );
    }

    #[test]
    fn a_job_runs_wherever_the_relaxation_runs_it_when_its_minimum_there_fits_its_energy() {
        // Three hours at least 20 kW each take 60 of its 80 kWh: on in all
        // three, the 10 kW hour too (rounded at ½ it would be off).
        assert_eq!(
            rounded_on(
                &[0.0, 10.0, 0.0, 0.0, 0.0, 0.0, 35.0, 35.0],
                &[0.0, 0.2, 0.0, 0.0, 0.0, 0.0, 0.7, 0.7]
            ),
            [false, true, false, false, false, false, true, true]
        );
        // Hours the relaxation leaves idle stay off, even when it is short.
        assert_eq!(
            rounded_on(&[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 20.0], &[0.0; 8]),
            [false, false, false, false, false, false, false, true]
        );
    }
}
