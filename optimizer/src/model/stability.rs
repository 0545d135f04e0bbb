//! Stability against the previous plan: `d_t ≥ |bd_t − bc_t − reference_kw_t|`
//! (kW) for every t whose reference is not null.
//!
//! - Cost: `stability_penalty = penalty_per_mwh · Σ_t h · d_t / 1000`.
//!
//! Without a penalty (0) the term is always 0; no variables are made.

use good_lp::{Expression, Variable};

use super::{Builder, Part, battery};
use crate::costs::Costs;
use crate::problem::Problem;

/// `d_t` for each interval with a reference (and a penalty).
pub(crate) struct Vars {
    pub deviation_kw: Vec<Option<Variable>>,
}

/// Adds the deviation variables, their two rows each and the penalty.
pub(crate) fn add(
    builder: &mut Builder,
    problem: &Problem,
    battery: Option<&battery::Vars>,
    costs: &mut Costs<Expression>,
) -> Vars {
    let (Some(battery), Some(stability)) = (battery, problem.stability.as_ref()) else {
        return Vars {
            deviation_kw: Vec::new(),
        };
    };
    if stability.penalty_per_mwh == 0.0 {
        return Vars {
            deviation_kw: Vec::new(),
        };
    }
    let weight = stability.penalty_per_mwh * problem.hours_per_interval() / 1000.0;
    let mut deviation_kw = Vec::with_capacity(problem.intervals());
    for (t, reference) in stability.reference_kw.iter().enumerate() {
        let Some(reference) = *reference else {
            deviation_kw.push(None);
            continue;
        };
        builder.tag(Part::Stability, 0, Some(t));
        let deviation = builder.continuous(0.0, f64::INFINITY);
        let net = battery.discharge_kw[t] - battery.charge_kw[t];
        builder.constrain((deviation - net.clone()).geq(-reference));
        builder.constrain((deviation + net).geq(reference));
        costs.stability_penalty.add_mul(weight, deviation);
        deviation_kw.push(Some(deviation));
    }
    Vars { deviation_kw }
}
