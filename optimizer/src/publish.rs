//! The plan as it leaves the process: every number rounded where its
//! precision ends, without breaking a rule of the plan.
//!
//! Inside, the optimizer keeps the solver's numbers exact; a published plan
//! carries power and energy to 0.001 kW / kWh and money to 0.0001, prices as
//! given. Rounding each number on its own would break the plan's equalities by
//! up to half a unit per term and could cross a limit, so the schedule is
//! rounded as a whole:
//!
//! - solver residues (|x| < 1e-9) are exact zeros, and no value is `-0`;
//! - a job's power is rounded to the nearest watt inside `[min_kw, max_kw]`
//!   scaled by the share of the interval in its window (`f_jt`; bounds that
//!   are not whole watts are rounded inwards); a block keeps its `power_kw`
//!   exactly; on/off as planned; where that
//!   would give a job more than its energy or the container more than its
//!   capacity, watts are taken back where rounding added the most;
//! - the stored energy is rounded, and the battery's power is taken from the
//!   rounded energy step, so SoC continuity holds to half a unit; a power
//!   that step would take past its limit is the limit, and the stored energy
//!   follows from it;
//! - grid import or export closes the balance; where it sits on its limit,
//!   or the exact plan has no grid flow, the battery takes the remainder
//!   (from below its minimum, by at most the slack, where only compute is
//!   left to serve and the roundings before drew more than the plan); no
//!   import passes the exact plan's peak, so rounding never raises a demand
//!   charge;
//! - every value is clamped into its limits, which are data as given;
//! - the costs and the job summaries are computed again from the rounded
//!   schedule, so the plan's numbers agree with each other.
//!
//! Every rule of the plan then holds on the published numbers: limits exactly,
//! equalities to within [`PUBLISHED_SLACK_KWH`].

use std::collections::BTreeMap;

use crate::costs::Costs;
use crate::plan::{IntervalPlan, JobSummary, Plan};
use crate::problem::{JobKind, Problem};

/// Decimal places of power (kW) and energy (kWh) in a published plan.
pub const POWER_DECIMALS: i32 = 3;
/// Decimal places of money in a published plan.
pub const MONEY_DECIMALS: i32 = 4;
/// How far an equality of the model (balance, SoC continuity, the job
/// summaries) may be off on a published plan's numbers, kW or kWh. The worst
/// case is SoC continuity where the battery takes a remainder at an energy
/// bound: the energy rounding that made the remainder (0.001), the power's
/// rounding over an hour at 80% efficiency (0.000625) and the energy's own
/// (0.0005); elsewhere it is half a unit.
pub const PUBLISHED_SLACK_KWH: f64 = 0.003;

/// Half a unit of the power grid, kW: a difference below it is rounding.
const HALF_UNIT_KW: f64 = 0.0005;

/// Below this a solver value is noise, published as 0.
const RESIDUE: f64 = 1e-9;

/// `x` rounded half away from zero to `decimals` places, with residues and
/// `-0` made an exact 0.
pub fn round_to(x: f64, decimals: i32) -> f64 {
    if x.abs() < RESIDUE {
        return 0.0;
    }
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale + 0.0
}

fn kw(x: f64) -> f64 {
    round_to(x, POWER_DECIMALS)
}

fn money(x: f64) -> f64 {
    round_to(x, MONEY_DECIMALS)
}

/// A non-negative `x` rounded down to the power grid (a value a hair below a
/// grid point, float noise, belongs to that point).
fn kw_down(x: f64) -> f64 {
    if x.abs() < RESIDUE {
        return 0.0;
    }
    let scale = 10f64.powi(POWER_DECIMALS);
    (x * scale + 1e-6).floor() / scale + 0.0
}

/// A non-negative `x` rounded up to the power grid (a value a hair above a
/// grid point belongs to that point).
fn kw_up(x: f64) -> f64 {
    if x.abs() < RESIDUE {
        return 0.0;
    }
    let scale = 10f64.powi(POWER_DECIMALS);
    (x * scale - 1e-6).ceil() / scale + 0.0
}

impl Plan {
    /// The plan as published: rounded where its precision ends, every rule
    /// kept (see the module documentation). `problem` is the problem the plan
    /// answers.
    pub fn published(&self, problem: &Problem) -> Plan {
        let h = problem.hours_per_interval();
        let powers = self.job_powers(problem);
        // The exact plan's peak: no published import may pass it, or rounding
        // would raise the demand charge the plan holds down. A plan that holds
        // the month's peak so far keeps it as given; a new peak is rounded up
        // to the watt (rounded down, a plan that holds its import flat at the
        // new peak would drain the battery by the difference every interval).
        let peak = self
            .intervals
            .iter()
            .map(|interval| interval.import_kw)
            .fold(f64::MIN, f64::max);
        let import_cap = if peak <= problem.peak_so_far_kw + 1e-6 {
            problem.peak_so_far_kw.max(0.0)
        } else {
            kw_up(peak)
        }
        .min(problem.import_limit_kw);
        let mut intervals = Vec::with_capacity(self.intervals.len());
        let mut soc = problem.battery.as_ref().map_or(0.0, |b| b.initial_soc_kwh);
        for (t, exact) in self.intervals.iter().enumerate() {
            let jobs: BTreeMap<String, f64> = problem
                .jobs
                .iter()
                .zip(&powers)
                .map(|(job, power)| (job.id.clone(), power[t]))
                .collect();
            // The jobs' sum, on the watt grid when every job is (a block's
            // power as given may carry more decimals).
            let sum: f64 = jobs.values().sum();
            let compute_it_kw = if (kw(sum) - sum).abs() < 1e-9 {
                kw(sum)
            } else {
                sum
            };
            let mut interval = IntervalPlan {
                start: exact.start,
                price_per_mwh: exact.price_per_mwh,
                import_kw: 0.0,
                export_kw: 0.0,
                charge_kw: 0.0,
                discharge_kw: 0.0,
                soc_kwh: 0.0,
                ev_served_kw: 0.0,
                unserved_kw: kw(exact.unserved_kw).clamp(0.0, problem.site_load_kw(t)),
                compute_it_kw,
                jobs,
            };
            if let Some(battery) = &problem.battery {
                let next = kw(exact.soc_kwh).clamp(battery.soc_min_kwh, battery.soc_max_kwh);
                let step = next - soc;
                if exact.charge_kw > 0.0 && exact.discharge_kw == 0.0 {
                    interval.charge_kw = kw(step / (h * battery.charge_efficiency))
                        .clamp(0.0, battery.max_charge_kw);
                } else if exact.discharge_kw > 0.0 && exact.charge_kw == 0.0 {
                    interval.discharge_kw = kw(-step * battery.discharge_efficiency / h)
                        .clamp(0.0, battery.max_discharge_kw);
                } else if exact.charge_kw > 0.0 || exact.discharge_kw > 0.0 {
                    interval.charge_kw = kw(exact.charge_kw).clamp(0.0, battery.max_charge_kw);
                    interval.discharge_kw =
                        kw(exact.discharge_kw).clamp(0.0, battery.max_discharge_kw);
                }
                // An idle battery keeps its energy (and any rounding carried
                // into it, which the next active interval takes back). A
                // power held at its limit moves the energy by what it gives,
                // not by the rounded step: the roundings before may have left
                // the battery more (or less) than the exact plan, and a
                // battery already discharging at its most cannot give it up
                // in this interval (an hour at 82% from 1,559.463 kWh, 3 Wh
                // above the exact plan, left 3.1 Wh where the plan has 0).
                let idle = interval.charge_kw == 0.0 && interval.discharge_kw == 0.0;
                let at_limit = interval.charge_kw == battery.max_charge_kw
                    || interval.discharge_kw == battery.max_discharge_kw;
                interval.soc_kwh = if idle {
                    soc
                } else if at_limit {
                    let stored = soc
                        + h * (battery.charge_efficiency * interval.charge_kw
                            - interval.discharge_kw / battery.discharge_efficiency);
                    kw(stored).clamp(battery.soc_min_kwh, battery.soc_max_kwh)
                } else {
                    next
                };
            }
            // A grid flow the exact plan does not have is not started by
            // rounding: its cap is 0 and the battery takes the remainder.
            let caps = (
                if exact.import_kw > 0.0 {
                    import_cap
                } else {
                    0.0
                },
                if exact.export_kw > 0.0 {
                    problem.export_limit_kw
                } else {
                    0.0
                },
            );
            close_balance(problem, t, caps, soc, &mut interval);
            soc = interval.soc_kwh;
            let ev = problem.ev_demand_kw[t];
            interval.ev_served_kw = kw(ev - interval.unserved_kw.min(ev)).clamp(0.0, ev);
            intervals.push(interval);
        }
        let jobs = summaries(problem, &powers);
        let costs = costs(problem, &intervals, &powers, &jobs);
        Plan {
            site_id: self.site_id.clone(),
            status: self.status,
            objective: money(costs.objective()),
            mip_gap: self.mip_gap.map(|gap| round_to(gap, 8)),
            solve_seconds: round_to(self.solve_seconds, 6),
            costs,
            intervals,
            jobs,
            note: self.note.clone(),
            explain: self.explain.as_ref().map(rounded_explanation),
        }
    }

    /// Every job's published power per interval, in the problem's order:
    /// the nearest watt inside `[min_kw, max_kw]` (a block's `power_kw` as
    /// given), then, where that gives a job more than its energy or the
    /// container more than its capacity, a watt taken back where rounding
    /// added the most, until both hold.
    fn job_powers(&self, problem: &Problem) -> Vec<Vec<f64>> {
        let h = problem.hours_per_interval();
        let exact: Vec<Vec<f64>> = problem
            .jobs
            .iter()
            .map(|job| {
                self.intervals
                    .iter()
                    .map(|interval| interval.jobs.get(&job.id).copied().unwrap_or(0.0))
                    .collect()
            })
            .collect();
        // A running preemptible job's range in an interval, to the watt
        // inside its bounds (`f_jt · min_kw` to `f_jt · max_kw`, which need
        // not be whole watts in an interval its window covers in part).
        let range = |job: &crate::problem::Job, t: usize| {
            let (least, most) = job.power_range_at(t);
            let (up, down) = (kw_up(least), kw_down(most));
            if up <= down {
                (up, down)
            } else {
                (least, most)
            }
        };
        let mut powers: Vec<Vec<f64>> = problem
            .jobs
            .iter()
            .zip(&exact)
            .map(|(job, exact)| {
                exact
                    .iter()
                    .enumerate()
                    .map(|(t, &x)| match job.kind {
                        _ if x < RESIDUE => 0.0,
                        JobKind::Preemptible { .. } => {
                            let (least, most) = range(job, t);
                            kw(x).clamp(least, most)
                        }
                        JobKind::Block { power_kw, .. } => power_kw,
                    })
                    .collect()
            })
            .collect();
        // A watt may come off a preemptible job's interval that runs and
        // stays at or above its minimum.
        let reducible = |job: &crate::problem::Job, t: usize, x: f64| match job.kind {
            JobKind::Preemptible { .. } => x > 0.0 && x - 0.001 >= range(job, t).0,
            JobKind::Block { .. } => false,
        };
        for (j, job) in problem.jobs.iter().enumerate() {
            let energy = job.target_energy_kwh(h);
            while powers[j].iter().sum::<f64>() * h > energy + 1e-9 {
                let most_added = (0..powers[j].len())
                    .filter(|&t| reducible(job, t, powers[j][t]))
                    .max_by(|&a, &b| {
                        (powers[j][a] - exact[j][a]).total_cmp(&(powers[j][b] - exact[j][b]))
                    });
                match most_added {
                    Some(t) => powers[j][t] = kw(powers[j][t] - 0.001),
                    None => break,
                }
            }
        }
        if let Some(compute) = &problem.compute {
            for t in 0..self.intervals.len() {
                while powers.iter().map(|p| p[t]).sum::<f64>() > compute.max_it_kw + 1e-9 {
                    let most_added = (0..powers.len())
                        .filter(|&j| reducible(&problem.jobs[j], t, powers[j][t]))
                        .max_by(|&a, &b| {
                            (powers[a][t] - exact[a][t]).total_cmp(&(powers[b][t] - exact[b][t]))
                        });
                    match most_added {
                        Some(j) => powers[j][t] = kw(powers[j][t] - 0.001),
                        None => break,
                    }
                }
            }
        }
        // Whatever could not be repaired a watt at a time is rounded down.
        for (j, job) in problem.jobs.iter().enumerate() {
            if let JobKind::Preemptible { .. } = job.kind {
                let over_energy =
                    powers[j].iter().sum::<f64>() * h > job.target_energy_kwh(h) + 1e-9;
                for t in 0..powers[j].len() {
                    let over_capacity = problem.compute.as_ref().is_some_and(|c| {
                        powers.iter().map(|p| p[t]).sum::<f64>() > c.max_it_kw + 1e-9
                    });
                    if (over_energy || over_capacity) && powers[j][t] > 0.0 {
                        let (least, most) = range(job, t);
                        powers[j][t] = kw_down(exact[j][t]).max(least).min(most);
                    }
                }
            }
        }
        powers
    }
}

/// Sets grid import or export so that the interval's balance closes on the
/// rounded values. Where the grid would pass its cap (for import the exact
/// plan's peak, for export the limit; 0 for a direction the exact plan does
/// not use in this interval), the remainder goes to load already unserved,
/// else to the battery (less charging or more discharging, within its power),
/// whose stored energy is then computed again from `soc_before` and clamped to
/// its bounds, so that SoC continuity holds to the energy's rounding. Each adjusted value is
/// rounded again and clamped to both of its bounds.
fn close_balance(
    problem: &Problem,
    t: usize,
    (import_cap, export_cap): (f64, f64),
    soc_before: f64,
    interval: &mut IntervalPlan,
) {
    let pue = problem.compute.as_ref().map_or(1.0, |c| c.pue);
    let load = problem.site_load_kw(t);
    let net = |i: &IntervalPlan| {
        i.charge_kw + load + pue * i.compute_it_kw - i.discharge_kw - i.unserved_kw
    };
    let needed = net(interval);
    // Supply the grid cannot give (> 0) or demand it cannot take (< 0).
    let mut excess = if needed > import_cap {
        needed - import_cap
    } else if -needed > export_cap {
        needed + export_cap
    } else {
        0.0
    };
    if excess > HALF_UNIT_KW && interval.unserved_kw > 0.0 {
        let before = interval.unserved_kw;
        interval.unserved_kw = kw(before + excess).clamp(0.0, load);
        excess -= interval.unserved_kw - before;
    }
    if excess.abs() > HALF_UNIT_KW
        && let Some(b) = &problem.battery
    {
        let h = problem.hours_per_interval();
        // Only the power limits bind here: the remainder comes from rounding
        // the stored energy, so giving the power back moves the energy by at
        // most that rounding, and the energy is clamped to its bounds below.
        if interval.charge_kw > 0.0 {
            interval.charge_kw = kw(interval.charge_kw - excess).clamp(0.0, b.max_charge_kw);
        } else if interval.discharge_kw > 0.0 {
            interval.discharge_kw =
                kw(interval.discharge_kw + excess).clamp(0.0, b.max_discharge_kw);
        }
        let stored = |i: &IntervalPlan| {
            soc_before
                + h * (b.charge_efficiency * i.charge_kw - i.discharge_kw / b.discharge_efficiency)
        };
        if interval.discharge_kw > 0.0 && stored(interval) < b.soc_min_kwh {
            // The energy the roundings before left is short of what the
            // discharge needs: discharge what is stored, and the load the
            // grid cannot carry either is unserved (a few watts).
            let asked = interval.discharge_kw;
            interval.discharge_kw =
                kw_down(((soc_before - b.soc_min_kwh) * b.discharge_efficiency / h).max(0.0))
                    .clamp(0.0, b.max_discharge_kw);
            let missing = asked - interval.discharge_kw;
            let unserved = kw_up(interval.unserved_kw + missing).clamp(0.0, load);
            // What no load can go without (compute, with the grid at its
            // limit) the battery still gives, from below its minimum by no
            // more than SoC continuity's slack: the roundings before drew
            // that much more than the exact plan did.
            let left = missing - (unserved - interval.unserved_kw);
            interval.unserved_kw = unserved;
            if left > HALF_UNIT_KW {
                let most = PUBLISHED_SLACK_KWH * b.discharge_efficiency / h;
                interval.discharge_kw =
                    kw_down(interval.discharge_kw + left.min(most)).clamp(0.0, b.max_discharge_kw);
            }
        }
        interval.soc_kwh = kw(stored(interval)).clamp(b.soc_min_kwh, b.soc_max_kwh);
    }
    let needed = net(interval);
    if needed >= 0.0 {
        // Only what nothing else could take passes the peak, up to the limit.
        let cap = if needed > import_cap + HALF_UNIT_KW {
            problem.import_limit_kw
        } else {
            import_cap
        };
        interval.import_kw = kw(needed).clamp(0.0, cap);
    } else {
        let cap = if -needed > export_cap + HALF_UNIT_KW {
            problem.export_limit_kw
        } else {
            export_cap
        };
        interval.export_kw = kw(-needed).clamp(0.0, cap);
    }
}

/// The job summaries of the published powers.
fn summaries(problem: &Problem, powers: &[Vec<f64>]) -> Vec<JobSummary> {
    let h = problem.hours_per_interval();
    problem
        .jobs
        .iter()
        .zip(powers)
        .map(|(job, power)| {
            let delivered: f64 = power.iter().map(|x| h * x).sum();
            JobSummary {
                id: job.id.clone(),
                delivered_kwh: kw(delivered),
                shortfall_kwh: kw((job.target_energy_kwh(h) - delivered).max(0.0)),
                starts: starts(job, power),
            }
        })
        .collect()
}

/// Runs that begin inside the horizon: a preemptible job starts where it draws
/// power after an interval without (before the horizon: `running`); a block
/// starts once if it runs at all.
fn starts(job: &crate::problem::Job, power: &[f64]) -> u32 {
    match job.kind {
        JobKind::Preemptible { running, .. } => {
            let mut previous = running;
            let mut starts = 0;
            for &x in power {
                starts += u32::from(x > 0.0 && !previous);
                previous = x > 0.0;
            }
            starts
        }
        JobKind::Block { .. } => u32::from(power.iter().any(|&x| x > 0.0)),
    }
}

/// Every term of the objective on the published schedule, rounded to money.
fn costs(
    problem: &Problem,
    intervals: &[IntervalPlan],
    powers: &[Vec<f64>],
    summaries: &[JobSummary],
) -> Costs {
    let h = problem.hours_per_interval();
    let per_mwh = h / 1000.0;
    let mut costs = Costs::default();
    let mut peak = problem.peak_so_far_kw;
    for (t, interval) in intervals.iter().enumerate() {
        costs.import += per_mwh * problem.import_price_per_mwh[t] * interval.import_kw;
        costs.export_revenue += per_mwh * problem.export_price_per_mwh[t] * interval.export_kw;
        costs.unserved_penalty += per_mwh * problem.unserved_penalty_per_mwh * interval.unserved_kw;
        peak = peak.max(interval.import_kw);
        if let Some(battery) = &problem.battery {
            costs.degradation += per_mwh * battery.degradation_cost_per_mwh * interval.discharge_kw;
        }
        if let Some(stability) = &problem.stability
            && let Some(reference) = stability.reference_kw[t]
        {
            let net = interval.discharge_kw - interval.charge_kw;
            costs.stability_penalty +=
                per_mwh * stability.penalty_per_mwh * (net - reference).abs();
        }
    }
    costs.demand_charge = problem.demand_charge_per_kw * (peak - problem.peak_so_far_kw);
    for ((job, power), summary) in problem.jobs.iter().zip(powers).zip(summaries) {
        let delivered: f64 = power.iter().map(|x| h * x).sum();
        costs.compute_value += job.value_per_mwh * delivered / 1000.0;
        costs.shortfall_penalty +=
            job.shortfall_penalty_per_mwh * (job.target_energy_kwh(h) - delivered) / 1000.0;
        if let JobKind::Preemptible { start_cost, .. } = job.kind {
            costs.start_costs += start_cost * f64::from(summary.starts);
        }
    }
    if let Some(battery) = &problem.battery {
        let soc_at = |n: usize| {
            if n == 0 {
                battery.initial_soc_kwh
            } else {
                intervals[n - 1].soc_kwh
            }
        };
        for target in &problem.soc_targets {
            costs.soc_target_penalty += problem.soc_target_penalty_per_mwh
                * (target.min_kwh - soc_at(target.boundary)).max(0.0)
                / 1000.0;
        }
        costs.terminal_value = battery.terminal_value_per_mwh * soc_at(intervals.len()) / 1000.0;
    }
    Costs {
        import: money(costs.import),
        export_revenue: money(costs.export_revenue),
        degradation: money(costs.degradation),
        unserved_penalty: money(costs.unserved_penalty),
        demand_charge: money(costs.demand_charge),
        compute_value: money(costs.compute_value),
        shortfall_penalty: money(costs.shortfall_penalty),
        start_costs: money(costs.start_costs),
        soc_target_penalty: money(costs.soc_target_penalty),
        stability_penalty: money(costs.stability_penalty),
        terminal_value: money(costs.terminal_value),
    }
}

/// Serializers for figures outside plans (KPIs, reports) that write a number
/// rounded where its precision ends: `#[serde(serialize_with =
/// "arbiter_optimizer::rounded::money")]`. The value in memory stays exact.
pub mod rounded {
    use std::collections::BTreeMap;

    use serde::Serializer;

    use super::{MONEY_DECIMALS, POWER_DECIMALS, round_to};

    /// kW, kWh (and counts of them, such as battery cycles): 0.001.
    pub fn energy<S: Serializer>(x: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(round_to(*x, POWER_DECIMALS))
    }

    /// Money: 0.0001.
    pub fn money<S: Serializer>(x: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(round_to(*x, MONEY_DECIMALS))
    }

    /// Seconds measured by a clock: 1 µs.
    pub fn seconds<S: Serializer>(x: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(round_to(*x, 6))
    }

    /// Money by key.
    pub fn money_by_key<S: Serializer>(
        map: &BTreeMap<String, f64>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_map(
            map.iter()
                .map(|(key, x)| (key, round_to(*x, MONEY_DECIMALS))),
        )
    }
}

/// An explanation with its values to the cent.
fn rounded_explanation(explain: &crate::Explanation) -> crate::Explanation {
    let mut explain = explain.clone();
    for interval in &mut explain.intervals {
        interval.energy_value_per_mwh = money(interval.energy_value_per_mwh);
        for binding in &mut interval.binding {
            binding.value_per_mwh = binding.value_per_mwh.map(money);
            binding.value_per_kw = binding.value_per_kw.map(money);
        }
    }
    for job in &mut explain.jobs {
        job.value_per_mwh = money(job.value_per_mwh);
    }
    explain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_makes_residues_and_negative_zero_exact_zeros() {
        assert_eq!(
            round_to(1.574_815_353_677_649_7e-15, 4).to_bits(),
            0f64.to_bits()
        );
        assert_eq!(round_to(-0.000_04, 3).to_bits(), 0f64.to_bits());
        assert_eq!(round_to(29.699_219_999_999_997, 4), 29.6992);
        assert_eq!(round_to(3_980.107_839_319_843, 3), 3_980.108);
        assert_eq!(round_to(-2.5e-4, 3).to_bits(), 0f64.to_bits());
    }

    #[test]
    fn rounding_down_and_up_keeps_grid_points() {
        assert_eq!(kw_down(60.123_9), 60.123);
        // 0.1 + 0.2 lands a hair above 0.3; 0.7 * 3 a hair below 2.1.
        assert_eq!(kw_down(0.1 + 0.2), 0.3);
        assert_eq!(kw_down(0.7 * 3.0), 2.1);
        assert_eq!(kw_down(140.399_6), 140.399);
        assert_eq!(kw_up(140.399_1), 140.4);
        assert_eq!(kw_up(0.7 * 3.0), 2.1);
        assert_eq!(kw_up(0.1 + 0.2), 0.3);
    }
}
