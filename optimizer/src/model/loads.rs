//! Site loads: EV charging and base load, served unless the grid and the
//! battery cannot, with unserved load `u_t` (kW) as the last resort.
//!
//! - Bounds: `0 ≤ u_t ≤ ev_t + base_t`.
//! - Balance share: `+ u_t − ev_t − base_t`.
//! - Cost: `unserved_penalty = Σ_t h/1000 · unserved_penalty_per_mwh · u_t`.

use good_lp::{Expression, Variable};

use super::{Balance, Builder, Part};
use crate::costs::Costs;
use crate::problem::Problem;

/// Unserved load, one variable per interval.
pub(crate) struct Vars {
    pub unserved_kw: Vec<Variable>,
}

/// Adds unserved load, its penalty and the loads' share of the balance.
pub(crate) fn add(
    builder: &mut Builder,
    problem: &Problem,
    costs: &mut Costs<Expression>,
    balance: &mut Balance,
) -> Vars {
    let h = problem.hours_per_interval();
    let mut unserved_kw = Vec::with_capacity(problem.intervals());
    for t in 0..problem.intervals() {
        builder.tag(Part::Loads, 0, Some(t));
        let load_kw = problem.site_load_kw(t);
        let unserved = builder.continuous(0.0, load_kw);
        costs
            .unserved_penalty
            .add_mul(h / 1000.0 * problem.unserved_penalty_per_mwh, unserved);
        balance[t] += unserved;
        balance[t] -= load_kw;
        unserved_kw.push(unserved);
    }
    Vars { unserved_kw }
}
