//! Grid connection: import `gi_t` and export `ge_t`, kW.
//!
//! - Bounds: `0 ≤ gi_t ≤ import_limit_kw`, `0 ≤ ge_t ≤ export_limit_kw`.
//! - Balance share: `+ gi_t − ge_t` (supply).
//! - Costs: `import = Σ_t h/1000 · ci_t · gi_t`, `export_revenue = Σ_t h/1000 · ce_t · ge_t`.
//! - Never both in one interval: binary `g_t` with `gi_t ≤ M_i · g_t`,
//!   `ge_t ≤ M_e · (1 − g_t)`.
//!
//! The binary is redundant where `ci_t ≥ ce_t` (import adder plus export adder
//! ≥ 0): lowering both `gi_t` and `ge_t` by `m = min(gi_t, ge_t)` keeps the
//! balance, lowers no bound and changes the cost by `m · (ce_t − ci_t) ≤ 0`,
//! and the peak only falls. So an optimum without simultaneous flows exists,
//! and [`net_flows`] turns any solution into one at no extra cost. The binary
//! stays where exporting pays more than importing costs.
//!
//! Tight bounds: with flows never simultaneous, import only feeds consumption,
//! so `gi_t ≤ load_t + max_charge + pue · (most IT power jobs can draw in t)`,
//! and export only comes from the battery (unserved load never exceeds the
//! load), so `ge_t ≤ max_discharge` (no export variables without a battery).

use good_lp::{Expression, Variable};

use super::{Balance, Builder, Formulation, Part, Values, value};
use crate::costs::Costs;
use crate::problem::Problem;

/// Grid variables, one per interval.
pub(crate) struct Vars {
    pub import_kw: Vec<Variable>,
    /// `None` where export is impossible.
    pub export_kw: Vec<Option<Variable>>,
    /// Upper bound of each import variable, kW.
    pub import_max_kw: Vec<f64>,
    /// Exclusivity binary `g_t` (1: importing allowed), where the model needs one.
    pub importing: Vec<Option<Variable>>,
}

/// Adds the grid variables, the exclusivity binaries where needed, the energy
/// costs and the grid's share of the balance.
pub(crate) fn add(
    builder: &mut Builder,
    problem: &Problem,
    formulation: Formulation,
    costs: &mut Costs<Expression>,
    balance: &mut Balance,
) -> Vars {
    let h = problem.hours_per_interval();
    let intervals = problem.intervals();
    let mut vars = Vars {
        import_kw: Vec::with_capacity(intervals),
        export_kw: Vec::with_capacity(intervals),
        import_max_kw: Vec::with_capacity(intervals),
        importing: Vec::with_capacity(intervals),
    };
    let export_max_kw = if formulation.tight_bounds {
        let discharge = problem.battery.as_ref().map_or(0.0, |b| b.max_discharge_kw);
        problem.export_limit_kw.min(discharge)
    } else {
        problem.export_limit_kw
    };
    for t in 0..intervals {
        builder.tag(Part::Grid, 0, Some(t));
        let import_max_kw = if formulation.tight_bounds {
            problem.import_limit_kw.min(max_consumption_kw(problem, t))
        } else {
            problem.import_limit_kw
        };
        let import = builder.continuous(0.0, import_max_kw);
        let export = (export_max_kw > 0.0).then(|| builder.continuous(0.0, export_max_kw));
        let ci = problem.import_price_per_mwh[t];
        let ce = problem.export_price_per_mwh[t];
        let mut importing = None;
        if let Some(export) = export {
            let redundant = formulation.drop_redundant_binaries && ci >= ce;
            if !redundant {
                importing = Some(builder.either((import, import_max_kw), (export, export_max_kw)));
            }
            costs.export_revenue.add_mul(h / 1000.0 * ce, export);
            balance[t] -= export;
        }
        costs.import.add_mul(h / 1000.0 * ci, import);
        balance[t] += import;
        vars.import_kw.push(import);
        vars.export_kw.push(export);
        vars.import_max_kw.push(import_max_kw);
        vars.importing.push(importing);
    }
    vars
}

/// Most power the site can consume in interval `t`, kW: its load, the
/// battery charging at full power and every job that may run at full power.
pub(crate) fn max_consumption_kw(problem: &Problem, t: usize) -> f64 {
    let charge = problem.battery.as_ref().map_or(0.0, |b| b.max_charge_kw);
    problem.site_load_kw(t) + charge + super::compute::max_site_kw(problem, t)
}

/// Removes simultaneous import and export: `gi, ge ← gi − m, ge − m` with
/// `m = min(gi, ge)`. Cost changes by `m · (ce − ci)`, never more than 0
/// where the model left out the binary.
pub(crate) fn net_flows(vars: &Vars, values: &mut Values) {
    for (&import, &export) in vars.import_kw.iter().zip(&vars.export_kw) {
        let Some(export) = export else { continue };
        let both = value(values, import).min(value(values, export));
        if both > 0.0 {
            values.insert(import, value(values, import) - both);
            values.insert(export, value(values, export) - both);
        }
    }
}
