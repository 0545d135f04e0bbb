//! An independent plan checker: verifies every rule of the contract on a plan
//! and recomputes its objective from the schedule alone.
//!
//! It works from the raw problem (the JSON as written) and re-derives windows,
//! prices and energies itself, sharing no code with the model.

use arbiter_optimizer::{PUBLISHED_SLACK_KWH, Plan, RawAdder, RawJob, RawProblem};
use chrono::{DateTime, TimeDelta, Utc};

/// Relative tolerance of every comparison (plus the same, absolute).
const TOL: f64 = 1e-6;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= TOL * (1.0 + a.abs().max(b.abs()))
}

/// How far the plan's equalities may be off beyond [`TOL`]: nothing for the
/// optimizer's own numbers, a rounding unit or two for a published plan.
#[derive(Debug, Clone, Copy)]
pub struct Slack {
    /// kW or kWh: balance, SoC continuity, EV served, job summaries.
    pub kwh: f64,
    /// Money: each cost term and the objective.
    pub money: f64,
}

/// The solver's numbers: every equality to [`TOL`].
pub const EXACT: Slack = Slack {
    kwh: 0.0,
    money: 0.0,
};

/// A published plan (`Plan::published`): equalities to the documented slack,
/// costs to a rounding unit per term. Limits hold exactly either way.
pub const PUBLISHED: Slack = Slack {
    kwh: PUBLISHED_SLACK_KWH,
    money: 0.001,
};

fn near(a: f64, b: f64, slack: f64) -> bool {
    close(a, b) || (a - b).abs() <= slack
}

fn at_most(a: f64, b: f64) -> bool {
    a <= b + TOL * (1.0 + b.abs())
}

fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("a valid time")
        .with_timezone(&Utc)
}

fn adder(adder: Option<&RawAdder>, t: usize) -> f64 {
    match adder {
        None => 0.0,
        Some(RawAdder::Flat(value)) => *value,
        Some(RawAdder::PerInterval(values)) => values[t],
    }
}

/// What the checker found.
#[derive(Debug)]
pub struct Report {
    /// Every rule broken, in words; empty for a valid plan.
    pub violations: Vec<String>,
    /// The objective recomputed from the schedule.
    #[allow(dead_code)]
    pub objective: f64,
}

/// Checks `plan` against every rule of `problem` and recomputes its objective.
pub fn check(problem: &RawProblem, plan: &Plan) -> Report {
    check_with(problem, plan, EXACT)
}

/// [`check`] with the equalities allowed `slack`.
pub fn check_with(problem: &RawProblem, plan: &Plan, slack: Slack) -> Report {
    let mut bad = Vec::new();
    let t_len = problem.prices_per_mwh.len();
    let h = f64::from(problem.interval_minutes) / 60.0;
    let start = time(&problem.start);
    let step = TimeDelta::minutes(i64::from(problem.interval_minutes));
    let begin = |t: usize| start + step * t as i32;
    let tariff = problem.tariff.clone().unwrap_or_default();
    let base = problem
        .base_load_kw
        .clone()
        .unwrap_or_else(|| vec![0.0; t_len]);
    let jobs = problem.jobs.clone().unwrap_or_default();
    let (max_it, pue) = problem
        .compute
        .as_ref()
        .map_or((0.0, 1.0), |c| (c.max_it_kw, c.pue));
    let penalty = problem.unserved_penalty_per_mwh.unwrap_or(10_000.0);

    if plan.intervals.len() != t_len {
        bad.push(format!(
            "plan has {} intervals, expected {t_len}",
            plan.intervals.len()
        ));
        return Report {
            violations: bad,
            objective: f64::NAN,
        };
    }
    if plan.site_id != problem.site_id {
        bad.push("site_id differs".into());
    }

    let mut import = 0.0;
    let mut export = 0.0;
    let mut degradation = 0.0;
    let mut unserved = 0.0;
    let mut peak = tariff.peak_so_far_kw.unwrap_or(0.0);
    let mut compute_value = 0.0;
    let mut stability_penalty = 0.0;
    let mut soc = problem.battery.as_ref().map_or(0.0, |b| b.initial_soc_kwh);
    let mut socs = vec![soc];
    for (t, iv) in plan.intervals.iter().enumerate() {
        let at = |what: &str| format!("interval {t}: {what}");
        if iv.start != begin(t) {
            bad.push(at("start time"));
        }
        if iv.price_per_mwh != problem.prices_per_mwh[t] {
            bad.push(at("price"));
        }
        let load = problem.ev_demand_kw[t] + base[t];
        let values = [
            iv.import_kw,
            iv.export_kw,
            iv.charge_kw,
            iv.discharge_kw,
            iv.unserved_kw,
        ];
        if values.iter().any(|&v| v < -TOL) {
            bad.push(at("negative flow"));
        }
        if !at_most(iv.import_kw, problem.grid.import_limit_kw) {
            bad.push(at("import above limit"));
        }
        if !at_most(iv.export_kw, problem.grid.export_limit_kw) {
            bad.push(at("export above limit"));
        }
        if !at_most(iv.unserved_kw, load) {
            bad.push(at("unserved above load"));
        }
        if iv.import_kw.min(iv.export_kw) > TOL {
            bad.push(at("imports and exports at once"));
        }
        if iv.charge_kw.min(iv.discharge_kw) > TOL {
            bad.push(at("charges and discharges at once"));
        }
        let ev = problem.ev_demand_kw[t];
        if !near(iv.ev_served_kw, ev - iv.unserved_kw.min(ev), slack.kwh) {
            bad.push(at("ev_served_kw"));
        }

        // Compute: windows, kinds, capacity.
        let mut it_kw = 0.0;
        for job in &jobs {
            let (id, release, deadline, value) = match job {
                RawJob::Preemptible(j) => (&j.id, &j.release, &j.deadline, j.value_per_mwh),
                RawJob::Block(j) => (&j.id, &j.release, &j.deadline, j.value_per_mwh),
            };
            let Some(&x) = iv.jobs.get(id) else {
                bad.push(at(&format!("job {id} missing")));
                continue;
            };
            it_kw += x;
            compute_value += h / 1000.0 * value.unwrap_or(0.0) * x;
            // The share of the interval inside the window (contract v1.1):
            // a preemptible job may run in any part, a block in whole ones.
            let overlap = begin(t + 1).min(time(deadline)) - begin(t).max(time(release));
            let share = (overlap.num_nanoseconds().unwrap_or(0) as f64
                / (begin(t + 1) - begin(t)).num_nanoseconds().unwrap_or(1) as f64)
                .max(0.0);
            let inside = match job {
                RawJob::Preemptible(_) => share > 0.0,
                RawJob::Block(_) => share >= 1.0,
            };
            if !inside && x.abs() > TOL {
                bad.push(at(&format!("job {id} runs outside its window")));
            }
            match job {
                RawJob::Preemptible(j) => {
                    let (least, most) = (share * j.min_kw, share * j.max_kw);
                    let ok = x.abs() <= TOL || (at_most(least, x) && at_most(x, most));
                    if !ok {
                        bad.push(at(&format!(
                            "job {id} at {x} kW, outside 0 or [{least}, {most}] ({share} of the interval in its window)"
                        )));
                    }
                }
                RawJob::Block(j) => {
                    if !(x.abs() <= TOL || close(x, j.power_kw)) {
                        bad.push(at(&format!(
                            "block {id} at {x} kW, not 0 or {}",
                            j.power_kw
                        )));
                    }
                }
            }
        }
        if !close(iv.compute_it_kw, it_kw) {
            bad.push(at("compute_it_kw is not the sum of the jobs"));
        }
        if !at_most(it_kw, max_it) {
            bad.push(at("compute above max_it_kw"));
        }

        // Balance.
        let supply = iv.import_kw + iv.discharge_kw + iv.unserved_kw;
        let demand = iv.export_kw + iv.charge_kw + load + pue * it_kw;
        if !near(supply, demand, slack.kwh) {
            bad.push(at(&format!("balance: supply {supply} vs demand {demand}")));
        }

        // Battery.
        match &problem.battery {
            Some(b) => {
                if !at_most(iv.charge_kw, b.max_charge_kw)
                    || !at_most(iv.discharge_kw, b.max_discharge_kw)
                {
                    bad.push(at("battery power above its limit"));
                }
                soc += h
                    * (b.charge_efficiency * iv.charge_kw
                        - iv.discharge_kw / b.discharge_efficiency);
                if !near(soc, iv.soc_kwh, slack.kwh) {
                    bad.push(at(&format!(
                        "soc {} but the energy balance gives {soc}",
                        iv.soc_kwh
                    )));
                }
                soc = iv.soc_kwh;
                if !at_most(b.soc_min_kwh, soc) || !at_most(soc, b.soc_max_kwh) {
                    bad.push(at("soc outside its bounds"));
                }
                degradation +=
                    h / 1000.0 * b.degradation_cost_per_mwh.unwrap_or(0.0) * iv.discharge_kw;
            }
            None => {
                if iv.charge_kw != 0.0 || iv.discharge_kw != 0.0 || iv.soc_kwh != 0.0 {
                    bad.push(at("battery flows without a battery"));
                }
            }
        }
        socs.push(soc);
        if let Some(stability) = &problem.stability
            && let Some(reference) = stability.reference_kw[t]
        {
            let net = iv.discharge_kw - iv.charge_kw;
            stability_penalty += stability.penalty_per_mwh * h * (net - reference).abs() / 1000.0;
        }

        let ci = problem.prices_per_mwh[t] + adder(tariff.import_adder_per_mwh.as_ref(), t);
        let ce = problem.prices_per_mwh[t] - adder(tariff.export_adder_per_mwh.as_ref(), t);
        import += h / 1000.0 * ci * iv.import_kw;
        export += h / 1000.0 * ce * iv.export_kw;
        unserved += h / 1000.0 * penalty * iv.unserved_kw;
        peak = peak.max(iv.import_kw);
    }

    // Jobs over the horizon.
    let mut shortfall = 0.0;
    let mut start_costs = 0.0;
    for (j, job) in jobs.iter().enumerate() {
        let id = job.id();
        let power: Vec<f64> = plan
            .intervals
            .iter()
            .map(|iv| iv.jobs.get(id).copied().unwrap_or(0.0))
            .collect();
        let on: Vec<bool> = power.iter().map(|&x| x > TOL).collect();
        let delivered: f64 = power.iter().map(|x| h * x).sum();
        let (energy, pen, running, start_cost) = match job {
            RawJob::Preemptible(p) => {
                if !at_most(delivered, p.energy_kwh) {
                    bad.push(format!(
                        "job {id} gets {delivered} kWh, more than {}",
                        p.energy_kwh
                    ));
                }
                (
                    p.energy_kwh,
                    p.shortfall_penalty_per_mwh,
                    p.running.unwrap_or(false),
                    p.start_cost.unwrap_or(0.0),
                )
            }
            RawJob::Block(b) => {
                let run =
                    (b.duration_minutes / f64::from(problem.interval_minutes)).ceil() as usize;
                let first = on.iter().position(|&o| o);
                let count = on.iter().filter(|&&o| o).count();
                if let Some(first) = first {
                    let contiguous = on[first..].iter().take(run).all(|&o| o);
                    if count != run || !contiguous {
                        bad.push(format!(
                            "block {id} runs {count} intervals from {first}, not one run of {run}"
                        ));
                    }
                }
                (
                    b.power_kw * run as f64 * h,
                    b.shortfall_penalty_per_mwh,
                    false,
                    0.0,
                )
            }
        };
        let mut starts = 0;
        let mut previous = running;
        for &o in &on {
            starts += u32::from(o && !previous);
            previous = o;
        }
        if matches!(job, RawJob::Block(_)) {
            starts = u32::from(on.iter().any(|&o| o));
        }
        start_costs += start_cost * f64::from(starts);
        shortfall += pen.unwrap_or(0.0) * (energy - delivered) / 1000.0;
        match plan.jobs.get(j) {
            Some(summary) if summary.id == id => {
                if !near(summary.delivered_kwh, delivered, slack.kwh)
                    || !near(summary.shortfall_kwh, energy - delivered, slack.kwh)
                {
                    bad.push(format!(
                        "job {id}: summary energies disagree with the schedule"
                    ));
                }
                if summary.starts != starts {
                    bad.push(format!(
                        "job {id}: summary says {} starts, schedule has {starts}",
                        summary.starts
                    ));
                }
            }
            _ => bad.push(format!("job summary {j} is not {id}")),
        }
    }

    let mut soc_target_penalty = 0.0;
    for target in problem.soc_targets.iter().flatten() {
        let n = ((time(&target.at) - start).num_minutes() / i64::from(problem.interval_minutes))
            as usize;
        let pen = problem.soc_target_penalty_per_mwh.unwrap_or(1000.0);
        soc_target_penalty += pen * (target.min_kwh - socs[n]).max(0.0) / 1000.0;
    }
    let demand_charge =
        tariff.demand_charge_per_kw.unwrap_or(0.0) * (peak - tariff.peak_so_far_kw.unwrap_or(0.0));
    let terminal_value = problem.battery.as_ref().map_or(0.0, |b| {
        b.terminal_value_per_mwh.unwrap_or(0.0) * socs[t_len] / 1000.0
    });

    let terms = [
        ("import", import, plan.costs.import),
        ("export_revenue", export, plan.costs.export_revenue),
        ("degradation", degradation, plan.costs.degradation),
        ("unserved_penalty", unserved, plan.costs.unserved_penalty),
        ("demand_charge", demand_charge, plan.costs.demand_charge),
        ("compute_value", compute_value, plan.costs.compute_value),
        ("shortfall_penalty", shortfall, plan.costs.shortfall_penalty),
        ("start_costs", start_costs, plan.costs.start_costs),
        (
            "soc_target_penalty",
            soc_target_penalty,
            plan.costs.soc_target_penalty,
        ),
        (
            "stability_penalty",
            stability_penalty,
            plan.costs.stability_penalty,
        ),
        ("terminal_value", terminal_value, plan.costs.terminal_value),
    ];
    for (name, recomputed, reported) in terms {
        if !near(recomputed, reported, slack.money) {
            bad.push(format!(
                "costs.{name}: plan says {reported}, schedule gives {recomputed}"
            ));
        }
    }
    let objective = import - export + degradation + unserved + demand_charge - compute_value
        + shortfall
        + start_costs
        + soc_target_penalty
        + stability_penalty
        - terminal_value;
    if !near(objective, plan.objective, slack.money) {
        bad.push(format!(
            "objective: plan says {}, schedule gives {objective}",
            plan.objective
        ));
    }
    Report {
        violations: bad,
        objective,
    }
}
