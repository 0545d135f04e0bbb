//! Arbiter's site plan optimizer: a pure function from a [`Problem`] to a
//! [`Plan`].
//!
//! A problem describes one site (grid connection, battery, EV and base load,
//! compute jobs, tariff) over one horizon; the optimizer builds the
//! mixed-integer program of the contract component by component
//! ([`Formulation`] documents the speed-ups), solves it with HiGHS and reads
//! the plan and its cost breakdown back. It does no IO: callers parse, store
//! and publish.
//!
//! ```
//! use arbiter_optimizer::{Problem, SolveOptions, Status, solve};
//!
//! // Buy 50 kWh at 10/MWh, sell it at 100/MWh, twice.
//! let problem = Problem::from_json(r#"{
//!     "site_id": "tiny", "start": "2025-06-01T00:00:00Z", "interval_minutes": 60,
//!     "prices_per_mwh": [10, 100, 10, 100],
//!     "grid": { "import_limit_kw": 100, "export_limit_kw": 100 },
//!     "battery": { "soc_min_kwh": 0, "soc_max_kwh": 50, "initial_soc_kwh": 0,
//!                  "max_charge_kw": 50, "max_discharge_kw": 50,
//!                  "charge_efficiency": 1, "discharge_efficiency": 1 },
//!     "ev_demand_kw": [0, 0, 0, 0]
//! }"#).expect("a valid problem");
//! let plan = solve(&problem, &SolveOptions::default());
//! assert_eq!(plan.status, Status::Optimal);
//! assert!((plan.objective - -9.0).abs() < 1e-6);
//! ```
#![deny(missing_docs)]

mod costs;
mod echo;
mod explain;
mod model;
mod plan;
mod problem;
mod publish;
mod solve;

pub use costs::Costs;
pub use echo::{ECHO_LIMIT, brief, quote};
pub use explain::{Binding, Explanation, IntervalWhy, JobLimit, JobWhy, Limit};
pub use model::Formulation;
pub use plan::{IntervalPlan, JobSummary, Plan, Status};
pub use problem::{
    DEFAULT_SOC_TARGET_PENALTY_PER_MWH, DEFAULT_UNSERVED_PENALTY_PER_MWH, INTERVAL_MINUTES, Issue,
    MAX_INTERVALS, Problem, RawAdder, RawBattery, RawBlockJob, RawCompute, RawGrid, RawJob,
    RawPreemptibleJob, RawProblem, RawSocTarget, RawStability, RawTariff, ValidationErrors,
};
pub use publish::{MONEY_DECIMALS, POWER_DECIMALS, PUBLISHED_SLACK_KWH, round_to, rounded};
pub use solve::{
    AFTER_RELAX_AND_FIX_SWITCHES, AUTO_RELAXATION_MAX_BINARIES, DEFAULT_MIP_GAP,
    DEFAULT_TIME_LIMIT, ModelSize, PART_BLOCK_SWITCHES_TO_CUMULATIVE, PRESENCE_NODES,
    RUN_CUT_ROUNDS, RelaxationBasis, SOLVER_LOG_VARIABLE, SolveOptions, SolveStats, TUNED_SWITCHES,
    WarmStart, build_model, solve, solve_with_stats,
};
