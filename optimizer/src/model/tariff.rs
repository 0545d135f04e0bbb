//! Demand charge on the billing period's peak import `P` (kW).
//!
//! - `P ≥ gi_t` for every t, `P ≥ peak_so_far_kw`.
//! - Cost: `demand_charge = demand_charge_per_kw · (P − peak_so_far_kw)`; the
//!   `peak_so_far_kw` part is a constant (an offset for the solver).
//!
//! Without a demand charge `P` has no effect, so it is left out. Rows for
//! intervals whose import can never pass `peak_so_far_kw` are redundant and
//! left out too.

use good_lp::{Expression, Variable};

use super::{Builder, Part, Row, grid};
use crate::costs::Costs;
use crate::problem::Problem;

/// The peak variable, when a demand charge applies.
pub(crate) struct Vars {
    pub peak_kw: Option<Variable>,
}

/// Adds the peak, its rows and the demand charge.
pub(crate) fn add(
    builder: &mut Builder,
    problem: &Problem,
    grid: &grid::Vars,
    costs: &mut Costs<Expression>,
) -> Vars {
    let charge = problem.demand_charge_per_kw;
    if charge == 0.0 {
        return Vars { peak_kw: None };
    }
    let floor_kw = problem.peak_so_far_kw;
    let ceiling_kw = grid.import_max_kw.iter().copied().fold(floor_kw, f64::max);
    builder.tag(Part::Peak, 0, None);
    let peak = builder.continuous(floor_kw, ceiling_kw);
    for (t, (&import, &import_max_kw)) in grid.import_kw.iter().zip(&grid.import_max_kw).enumerate()
    {
        if import_max_kw > floor_kw {
            builder.tag(Part::Peak, 0, Some(t));
            builder.constrain_as((peak - import).geq(0.0), Row::Peak(t));
        }
    }
    costs.demand_charge.add_mul(charge, peak);
    costs.demand_charge -= charge * floor_kw;
    Vars {
        peak_kw: Some(peak),
    }
}
