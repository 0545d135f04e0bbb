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
            KindVars::Block { starts } => {
                for &(t, start) in starts {
                    let begins = power(job, t) > 0.0 && (t == 0 || power(job, t - 1) == 0.0);
                    values.insert(start, if begins { 1.0 } else { 0.0 });
                }
            }
        }
    }
    crate::model::compute::snap(problem, &model.compute, &mut values);
    settle_dependents(problem, model, &mut values);
    values
}

/// The LP relaxation's solution with every on/off decision rounded: a
/// preemptible job is on where its relaxed on-indicator is at least ½, a block
/// starts where its relaxed start is largest (if its starts add up to at
/// least ½), exclusivity binaries round at ½. Continuous values stay as the
/// LP left them; the solver completes them for the rounded decisions.
pub(crate) fn round_relaxation(problem: &Problem, model: &Model, mut values: Values) -> Values {
    for vars in &model.compute.jobs {
        if let KindVars::Block { starts } = &vars.kind {
            let total: f64 = starts.iter().map(|&(_, s)| value(&values, s)).sum();
            let best = starts
                .iter()
                .map(|&(_, s)| s)
                .max_by(|&a, &b| value(&values, a).total_cmp(&value(&values, b)));
            for &(_, s) in starts {
                let chosen = total >= 0.5 && Some(s) == best;
                values.insert(s, if chosen { 1.0 } else { 0.0 });
            }
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
            KindVars::Block { starts } => {
                settled.extend(starts.iter().filter_map(|&(_, s)| integral(s)));
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
