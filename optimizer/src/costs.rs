//! The cost breakdown of a plan: one field per term of the objective.

use good_lp::{Expression, Solution};
use serde::{Deserialize, Serialize};

/// The terms of the objective, in money.
///
/// `T` is `f64` in a plan and an affine expression of the model's variables
/// while the model is built, so that the same terms give both the solver's
/// objective and the plan's breakdown.
///
/// `objective = import − export_revenue + degradation + unserved_penalty +
/// demand_charge − compute_value + shortfall_penalty + start_costs +
/// soc_target_penalty + stability_penalty − terminal_value`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Costs<T = f64> {
    /// Energy bought: `Σ_t h/1000 · ci_t · import_kw_t` (negative when prices are).
    #[cfg_attr(feature = "schema", schema(value_type = f64))]
    pub import: T,
    /// Energy sold: `Σ_t h/1000 · ce_t · export_kw_t` (negative when prices are).
    #[cfg_attr(feature = "schema", schema(value_type = f64))]
    pub export_revenue: T,
    /// Battery wear: `Σ_t h/1000 · degradation · discharge_kw_t`.
    #[cfg_attr(feature = "schema", schema(value_type = f64))]
    pub degradation: T,
    /// Load not served: `Σ_t h/1000 · unserved_penalty · unserved_kw_t`.
    #[cfg_attr(feature = "schema", schema(value_type = f64))]
    pub unserved_penalty: T,
    /// `demand_charge_per_kw · (peak − peak_so_far)`.
    #[cfg_attr(feature = "schema", schema(value_type = f64))]
    pub demand_charge: T,
    /// Value of compute delivered: `Σ_j Σ_t h/1000 · value_j · x_jt`.
    #[cfg_attr(feature = "schema", schema(value_type = f64))]
    pub compute_value: T,
    /// `Σ_j shortfall_penalty_j · (E_j − delivered_j) / 1000`.
    #[cfg_attr(feature = "schema", schema(value_type = f64))]
    pub shortfall_penalty: T,
    /// `Σ_j start_cost_j · starts_j`.
    #[cfg_attr(feature = "schema", schema(value_type = f64))]
    pub start_costs: T,
    /// `soc_target_penalty · Σ_k shortfall_k / 1000`.
    #[cfg_attr(feature = "schema", schema(value_type = f64))]
    pub soc_target_penalty: T,
    /// `stability.penalty · Σ_t h · |net_t − reference_t| / 1000`.
    #[cfg_attr(feature = "schema", schema(value_type = f64))]
    pub stability_penalty: T,
    /// `terminal_value · e_T / 1000`.
    #[cfg_attr(feature = "schema", schema(value_type = f64))]
    pub terminal_value: T,
}

impl Costs<f64> {
    /// The objective: the signed sum of the terms.
    pub fn objective(&self) -> f64 {
        self.import - self.export_revenue
            + self.degradation
            + self.unserved_penalty
            + self.demand_charge
            - self.compute_value
            + self.shortfall_penalty
            + self.start_costs
            + self.soc_target_penalty
            + self.stability_penalty
            - self.terminal_value
    }
}

impl Costs<Expression> {
    /// The objective as one affine expression (constant included).
    pub(crate) fn objective(&self) -> Expression {
        let mut objective = self.import.clone();
        objective -= self.export_revenue.clone();
        objective += self.degradation.clone();
        objective += self.unserved_penalty.clone();
        objective += self.demand_charge.clone();
        objective -= self.compute_value.clone();
        objective += self.shortfall_penalty.clone();
        objective += self.start_costs.clone();
        objective += self.soc_target_penalty.clone();
        objective += self.stability_penalty.clone();
        objective -= self.terminal_value.clone();
        objective
    }

    /// Every term evaluated on an assignment of the model's variables.
    pub(crate) fn eval(&self, values: &impl Solution) -> Costs<f64> {
        Costs {
            import: self.import.eval_with(values),
            export_revenue: self.export_revenue.eval_with(values),
            degradation: self.degradation.eval_with(values),
            unserved_penalty: self.unserved_penalty.eval_with(values),
            demand_charge: self.demand_charge.eval_with(values),
            compute_value: self.compute_value.eval_with(values),
            shortfall_penalty: self.shortfall_penalty.eval_with(values),
            start_costs: self.start_costs.eval_with(values),
            soc_target_penalty: self.soc_target_penalty.eval_with(values),
            stability_penalty: self.stability_penalty.eval_with(values),
            terminal_value: self.terminal_value.eval_with(values),
        }
    }
}
