//! The problem: parsed ([`RawProblem`]), then validated into a [`Problem`]
//! whose invariants every later stage relies on.
//!
//! A `Problem` can only be made by [`RawProblem::validate`] (or the
//! [`Problem::from_json`] shortcut), so code that holds one may assume, for
//! example, that every series has one value per interval, that job windows are
//! already index ranges inside the horizon, and that every number is finite.

mod raw;
mod validate;

use std::ops::Range;

use chrono::{DateTime, TimeDelta, Utc};

pub use raw::{
    RawAdder, RawBattery, RawBlockJob, RawCompute, RawGrid, RawJob, RawPreemptibleJob, RawProblem,
    RawSocTarget, RawStability, RawTariff,
};
pub use validate::{Issue, ValidationErrors};

/// Default cost of unserved load, per MWh.
pub const DEFAULT_UNSERVED_PENALTY_PER_MWH: f64 = 10_000.0;
/// Default cost of a SoC-target shortfall, per MWh.
pub const DEFAULT_SOC_TARGET_PENALTY_PER_MWH: f64 = 1_000.0;
/// Longest horizon accepted, in intervals (a week at 5 minutes).
pub const MAX_INTERVALS: usize = 2016;
/// Interval lengths accepted, in minutes.
pub const INTERVAL_MINUTES: [u32; 6] = [5, 10, 15, 20, 30, 60];

/// A validated planning problem for one site over one horizon.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub(crate) site_id: String,
    pub(crate) start: DateTime<Utc>,
    pub(crate) interval_minutes: u32,
    pub(crate) price_per_mwh: Vec<f64>,
    /// `ci_t = price_t + import_adder_t`.
    pub(crate) import_price_per_mwh: Vec<f64>,
    /// `ce_t = price_t − export_adder_t`.
    pub(crate) export_price_per_mwh: Vec<f64>,
    pub(crate) demand_charge_per_kw: f64,
    pub(crate) peak_so_far_kw: f64,
    pub(crate) import_limit_kw: f64,
    pub(crate) export_limit_kw: f64,
    pub(crate) battery: Option<Battery>,
    pub(crate) ev_demand_kw: Vec<f64>,
    pub(crate) base_load_kw: Vec<f64>,
    pub(crate) unserved_penalty_per_mwh: f64,
    pub(crate) soc_targets: Vec<SocTarget>,
    pub(crate) soc_target_penalty_per_mwh: f64,
    pub(crate) stability: Option<Stability>,
    pub(crate) compute: Option<Compute>,
    pub(crate) jobs: Vec<Job>,
}

/// Battery parameters (see [`RawBattery`] for their meaning).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Battery {
    pub soc_min_kwh: f64,
    pub soc_max_kwh: f64,
    pub initial_soc_kwh: f64,
    pub max_charge_kw: f64,
    pub max_discharge_kw: f64,
    pub charge_efficiency: f64,
    pub discharge_efficiency: f64,
    pub degradation_cost_per_mwh: f64,
    pub terminal_value_per_mwh: f64,
}

/// A SoC target, placed on the boundary that ends interval `boundary - 1`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SocTarget {
    /// `n_k`: the target applies to `e_{n_k}`, 1 ≤ n_k ≤ T.
    pub boundary: usize,
    pub min_kwh: f64,
}

/// Stability penalty against the previous plan's net battery power.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stability {
    pub penalty_per_mwh: f64,
    pub reference_kw: Vec<Option<f64>>,
}

/// The compute container.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Compute {
    pub max_it_kw: f64,
    pub pue: f64,
}

/// A compute job with its window already turned into interval indices.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Job {
    pub id: String,
    /// `W_j ∩ [0, T)`: intervals in which the job may draw power (may be
    /// empty): for a preemptible job every interval its window overlaps
    /// (contract v1.1), for a block only whole intervals inside it.
    pub window: Range<usize>,
    /// `f_jt` for each interval of `window`, in order: the share of the
    /// interval inside the job's window, in (0, 1]; 1 for a block.
    pub availability: Vec<f64>,
    pub value_per_mwh: f64,
    pub shortfall_penalty_per_mwh: f64,
    pub kind: JobKind,
}

/// What differs between the two kinds of job.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum JobKind {
    Preemptible {
        energy_kwh: f64,
        min_kw: f64,
        max_kw: f64,
        start_cost: f64,
        running: bool,
    },
    Block {
        power_kw: f64,
        /// `L = ceil(duration_minutes / interval_minutes)`.
        intervals: usize,
    },
}

impl Job {
    /// `f_jt`: the share of interval `t` inside the job's window (0 outside
    /// `window`).
    pub fn availability_at(&self, t: usize) -> f64 {
        if self.window.contains(&t) {
            self.availability
                .get(t - self.window.start)
                .copied()
                .unwrap_or(0.0)
        } else {
            0.0
        }
    }

    /// Least and most IT power while running in interval `t`, kW: `f_jt ·
    /// min_kw` to `f_jt · max_kw` for a preemptible job (its average power
    /// over the interval), `power_kw` for a block; `(0, 0)` outside the
    /// window.
    pub fn power_range_at(&self, t: usize) -> (f64, f64) {
        let f = self.availability_at(t);
        if f == 0.0 {
            return (0.0, 0.0);
        }
        match self.kind {
            JobKind::Preemptible { min_kw, max_kw, .. } => (f * min_kw, f * max_kw),
            JobKind::Block { power_kw, .. } => (power_kw, power_kw),
        }
    }

    /// `E_j`: the energy the shortfall penalty is measured against, kWh.
    pub fn target_energy_kwh(&self, hours_per_interval: f64) -> f64 {
        match self.kind {
            JobKind::Preemptible { energy_kwh, .. } => energy_kwh,
            JobKind::Block {
                power_kw,
                intervals,
            } => power_kw * intervals as f64 * hours_per_interval,
        }
    }
}

impl Problem {
    /// Parses and validates a problem JSON document.
    ///
    /// A document that is not JSON of the right shape gives one issue (serde
    /// stops at the first); a well-formed document gives every rule it breaks.
    pub fn from_json(json: &str) -> Result<Problem, ValidationErrors> {
        let mut deserializer = serde_json::Deserializer::from_str(json);
        let raw: RawProblem = serde_path_to_error::deserialize(&mut deserializer)
            .map_err(|error| ValidationErrors::from_parse(&error))?;
        raw.validate()
    }

    /// The site the problem is for.
    pub fn site_id(&self) -> &str {
        &self.site_id
    }

    /// Start of the first interval.
    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// Number of intervals `T`.
    pub fn intervals(&self) -> usize {
        self.price_per_mwh.len()
    }

    /// Interval length in minutes.
    pub fn interval_minutes(&self) -> u32 {
        self.interval_minutes
    }

    /// `h`: interval length in hours.
    pub fn hours_per_interval(&self) -> f64 {
        f64::from(self.interval_minutes) / 60.0
    }

    /// Start of interval `t` (`t = T` gives the end of the horizon).
    pub fn interval_start(&self, t: usize) -> DateTime<Utc> {
        self.start + TimeDelta::minutes(i64::from(self.interval_minutes) * t as i64)
    }

    /// EV plus base load of interval `t`, kW: the most that can be unserved.
    pub(crate) fn site_load_kw(&self, t: usize) -> f64 {
        self.ev_demand_kw[t] + self.base_load_kw[t]
    }
}
