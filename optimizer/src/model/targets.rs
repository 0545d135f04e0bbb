//! Soft SoC targets: shortfall `w_k ≥ min_kwh_k − e_{n_k}`, `w_k ≥ 0` (kWh).
//!
//! - Cost: `soc_target_penalty = soc_target_penalty_per_mwh · Σ_k w_k / 1000`.
//!
//! A target at or below `soc_min_kwh` can never be missed; it gets no variable.
//! (Tight bound: `w_k ≤ min_kwh_k − soc_min_kwh`.)

use good_lp::{Expression, Variable};

use super::{Builder, Formulation, Part, battery};
use crate::costs::Costs;
use crate::problem::Problem;

/// One shortfall variable per target that can be missed.
pub(crate) struct Vars {
    pub shortfall_kwh: Vec<Option<Variable>>,
}

/// Adds the shortfall variables, their rows and the penalty.
pub(crate) fn add(
    builder: &mut Builder,
    problem: &Problem,
    battery: Option<&battery::Vars>,
    formulation: Formulation,
    costs: &mut Costs<Expression>,
) -> Vars {
    let (Some(battery), Some(spec)) = (battery, problem.battery.as_ref()) else {
        return Vars {
            shortfall_kwh: Vec::new(),
        };
    };
    let penalty = problem.soc_target_penalty_per_mwh / 1000.0;
    let mut shortfall_kwh = Vec::with_capacity(problem.soc_targets.len());
    for target in &problem.soc_targets {
        let most_kwh = target.min_kwh - spec.soc_min_kwh;
        if formulation.tight_bounds && most_kwh <= 0.0 {
            shortfall_kwh.push(None);
            continue;
        }
        let upper = if formulation.tight_bounds {
            most_kwh
        } else {
            f64::INFINITY
        };
        builder.tag(Part::Target, 0, Some(target.boundary));
        let short = builder.continuous(0.0, upper);
        let soc = battery.soc_kwh[target.boundary - 1];
        builder.constrain((short + soc).geq(target.min_kwh));
        costs.soc_target_penalty.add_mul(penalty, short);
        shortfall_kwh.push(Some(short));
    }
    Vars { shortfall_kwh }
}
