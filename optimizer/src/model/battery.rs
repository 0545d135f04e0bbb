//! Battery: charge `bc_t`, discharge `bd_t` (kW, on the site bus) and stored
//! energy `e_t` (kWh, at the end of interval `t − 1`, t = 1..T).
//!
//! - Energy: `e_{t+1} = e_t + h · (charge_eff · bc_t − bd_t / discharge_eff)`,
//!   `e_0 = initial_soc_kwh`, `soc_min ≤ e_t ≤ soc_max`.
//! - Bounds: `bc_t ≤ max_charge_kw`, `bd_t ≤ max_discharge_kw`.
//! - Balance share: `+ bd_t − bc_t`.
//! - Costs: `degradation = Σ_t h/1000 · degradation · bd_t`,
//!   `terminal_value = terminal_value_per_mwh · e_T / 1000`.
//! - Never both in one interval: binary `b_t` with `bc_t ≤ max_charge · b_t`,
//!   `bd_t ≤ max_discharge · (1 − b_t)`.
//!
//! Charging and discharging at once only burns energy in the round trip: same
//! net power, less stored. [`binaries_redundant`] says when no optimum needs
//! that, so the binaries can be left out:
//!
//! - both efficiencies are 1: nothing burns, and netting `bc` and `bd` against
//!   each other keeps every energy and lowers degradation; or
//! - the terminal value is ≥ 0 and every import price is at least the
//!   stability penalty of its interval (0 where no reference applies). Take
//!   the latest interval `t` with both flows. Replace them by the single flow
//!   with the same stored energy; the site then absorbs less power, and import
//!   (which is at least the net absorption, since unserved load never exceeds
//!   the load) falls by as much, at a price ≥ 0. Where import is too small for
//!   that, import drops to 0 and the battery keeps more energy instead; later
//!   intervals then hold more energy, and the first later charges are cut by
//!   that excess (each cut lowers an import at a price ≥ 0) until no energy
//!   exceeds `soc_max`. Every step moves the net battery power of an interval
//!   by exactly the import it saves there, so the stability deviation grows
//!   by at most that import, priced at most as high as the import was.
//!   Energies only rise, so SoC targets and the terminal value only gain; peak
//!   import only falls. Repeat for earlier intervals.
//!
//! A solver may still return a degenerate optimum that charges and discharges
//! at once where that costs nothing (a zero import price); the solve then
//! detects it and solves again with the binaries ([`crate::solve`]).

use good_lp::{Expression, Variable};

use super::{Balance, Builder, Formulation, Part, Values, grid, value};
use crate::costs::Costs;
use crate::problem::{Battery, Problem};

/// Battery variables, one per interval.
pub(crate) struct Vars {
    pub charge_kw: Vec<Variable>,
    pub discharge_kw: Vec<Variable>,
    /// `e_1 … e_T`: energy at the end of each interval.
    pub soc_kwh: Vec<Variable>,
    /// Whether the model holds the charge/discharge binaries.
    pub exclusive: bool,
    /// `b_t` (1: charging allowed), when the model holds them.
    pub charging: Vec<Variable>,
}

/// Adds the battery's variables, energy balance, costs and balance share.
#[allow(clippy::too_many_arguments)]
pub(crate) fn add(
    builder: &mut Builder,
    problem: &Problem,
    spec: &Battery,
    formulation: Formulation,
    force_exclusive: bool,
    costs: &mut Costs<Expression>,
    balance: &mut Balance,
) -> Vars {
    let h = problem.hours_per_interval();
    let intervals = problem.intervals();
    let exclusive = force_exclusive
        || !formulation.drop_redundant_binaries
        || !binaries_redundant(problem, spec);
    let (charge_max_kw, discharge_max_kw) = if formulation.tight_bounds {
        // One interval can at most fill or empty the usable range.
        let range_kwh = spec.soc_max_kwh - spec.soc_min_kwh;
        (
            spec.max_charge_kw
                .min(range_kwh / (h * spec.charge_efficiency)),
            spec.max_discharge_kw
                .min(range_kwh * spec.discharge_efficiency / h),
        )
    } else {
        (spec.max_charge_kw, spec.max_discharge_kw)
    };
    let mut vars = Vars {
        charge_kw: Vec::with_capacity(intervals),
        discharge_kw: Vec::with_capacity(intervals),
        soc_kwh: Vec::with_capacity(intervals),
        exclusive,
        charging: Vec::new(),
    };
    let mut previous: Expression = spec.initial_soc_kwh.into();
    for t in 0..intervals {
        builder.tag(Part::Battery, 0, Some(t));
        let charge = builder.continuous(0.0, charge_max_kw);
        let discharge = builder.continuous(0.0, discharge_max_kw);
        let soc = builder.continuous(spec.soc_min_kwh, spec.soc_max_kwh);
        let mut next = previous;
        next.add_mul(h * spec.charge_efficiency, charge);
        next.add_mul(-h / spec.discharge_efficiency, discharge);
        builder.constrain((next - soc).eq(0.0));
        if exclusive {
            let charging = builder.either((charge, charge_max_kw), (discharge, discharge_max_kw));
            vars.charging.push(charging);
        }
        costs
            .degradation
            .add_mul(h / 1000.0 * spec.degradation_cost_per_mwh, discharge);
        balance[t] += discharge;
        balance[t] -= charge;
        vars.charge_kw.push(charge);
        vars.discharge_kw.push(discharge);
        vars.soc_kwh.push(soc);
        previous = soc.into();
    }
    if let Some(&last) = vars.soc_kwh.last() {
        costs
            .terminal_value
            .add_mul(spec.terminal_value_per_mwh / 1000.0, last);
    }
    vars
}

/// Whether no optimum needs to charge and discharge in the same interval
/// (the argument is in the module documentation).
pub(crate) fn binaries_redundant(problem: &Problem, spec: &Battery) -> bool {
    if spec.max_charge_kw == 0.0 || spec.max_discharge_kw == 0.0 {
        return true;
    }
    if spec.charge_efficiency == 1.0 && spec.discharge_efficiency == 1.0 {
        return true;
    }
    let stability_penalty = |t: usize| match &problem.stability {
        Some(stability) if stability.reference_kw.get(t).is_some_and(Option::is_some) => {
            stability.penalty_per_mwh
        }
        _ => 0.0,
    };
    spec.terminal_value_per_mwh >= 0.0
        && problem
            .import_price_per_mwh
            .iter()
            .enumerate()
            .all(|(t, &price)| price >= stability_penalty(t))
}

/// Below this, a flow that overlaps the opposite one is solver noise, kW.
pub(crate) const OVERLAP_NOISE_KW: f64 = 1e-6;

/// Removes charge and discharge in the same interval where that is exact and
/// costs nothing: the pair becomes the single flow that stores the same
/// energy (so every `e_t` stays), and the site absorbs less power, which it
/// imports less (the first step of the argument in the module documentation).
/// Where import is too small for that in a model without binaries, the
/// overlap is left and this returns `true`: only a model with binaries can
/// remove it. In a model with binaries an overlap is integrality noise, and
/// what import cannot absorb is left to the balance settlement.
pub(crate) fn net_overlaps(
    vars: &Vars,
    spec: &Battery,
    grid: &grid::Vars,
    values: &mut Values,
) -> bool {
    let mut left = false;
    for t in 0..vars.charge_kw.len() {
        let (charge, discharge) = (vars.charge_kw[t], vars.discharge_kw[t]);
        let (charge_kw, discharge_kw) = (value(values, charge), value(values, discharge));
        let both = charge_kw.min(discharge_kw);
        if both <= 0.0 {
            continue;
        }
        let stored_kw =
            spec.charge_efficiency * charge_kw - discharge_kw / spec.discharge_efficiency;
        let (single_charge, single_discharge) = if stored_kw >= 0.0 {
            (stored_kw / spec.charge_efficiency, 0.0)
        } else {
            (0.0, -stored_kw * spec.discharge_efficiency)
        };
        let less_absorbed_kw = (charge_kw - discharge_kw) - (single_charge - single_discharge);
        let import_kw = value(values, grid.import_kw[t]);
        if import_kw < less_absorbed_kw && !vars.exclusive && both > OVERLAP_NOISE_KW {
            left = true;
            continue;
        }
        values.insert(charge, single_charge);
        values.insert(discharge, single_discharge);
        values.insert(grid.import_kw[t], (import_kw - less_absorbed_kw).max(0.0));
    }
    left
}
