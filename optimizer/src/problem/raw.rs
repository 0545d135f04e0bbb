//! The problem exactly as it is written in JSON, before any rule is checked.
//!
//! Every struct denies unknown fields: an unknown key is almost always a typo
//! (`soc_max_kw` for `soc_max_kwh`), and silently ignoring it would plan with a
//! default the user never meant. Optional fields are `Option` here; their
//! defaults are applied by [`RawProblem::validate`](super::RawProblem::validate).

use serde::{Deserialize, Serialize};

/// One site over one planning horizon, as written in the problem JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProblem {
    /// Free-form identifier, echoed in the plan.
    pub site_id: String,
    /// Start of the first interval, RFC 3339 (UTC).
    pub start: String,
    /// Interval length: 5, 10, 15, 20, 30 or 60 minutes.
    pub interval_minutes: u32,
    /// Day-ahead energy price of each interval, per MWh; its length sets the horizon.
    pub prices_per_mwh: Vec<f64>,
    /// Adders and demand charge; all zero when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tariff: Option<RawTariff>,
    /// Grid connection limits.
    pub grid: RawGrid,
    /// Battery; none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub battery: Option<RawBattery>,
    /// Expected EV charging load per interval, kW.
    pub ev_demand_kw: Vec<f64>,
    /// Other site load per interval, kW; zeros when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_load_kw: Option<Vec<f64>>,
    /// Cost of each MWh of load left unserved; 10 000 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unserved_penalty_per_mwh: Option<f64>,
    /// Soft minimum battery energies at interval boundaries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soc_targets: Option<Vec<RawSocTarget>>,
    /// Cost of each MWh short of a SoC target; 1 000 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soc_target_penalty_per_mwh: Option<f64>,
    /// Penalty for moving away from the previously published battery schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stability: Option<RawStability>,
    /// The compute container; required when there are jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute: Option<RawCompute>,
    /// Compute jobs to schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jobs: Option<Vec<RawJob>>,
}

/// A per-MWh adder: one number for every interval, or one per interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RawAdder {
    /// The same adder in every interval.
    Flat(f64),
    /// One adder per interval.
    PerInterval(Vec<f64>),
}

/// Tariff terms on top of the energy price.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTariff {
    /// Added to the price for imports, per MWh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_adder_per_mwh: Option<RawAdder>,
    /// Subtracted from the price for exports, per MWh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_adder_per_mwh: Option<RawAdder>,
    /// Charge per kW of the billing period's peak import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub demand_charge_per_kw: Option<f64>,
    /// Peak import already reached in the billing period, kW.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_so_far_kw: Option<f64>,
}

/// Grid connection limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGrid {
    /// Maximum import, kW (> 0).
    pub import_limit_kw: f64,
    /// Maximum export, kW (≥ 0; 0 forbids export).
    pub export_limit_kw: f64,
}

/// A stationary battery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBattery {
    /// Lowest allowed stored energy, kWh.
    pub soc_min_kwh: f64,
    /// Highest allowed stored energy, kWh.
    pub soc_max_kwh: f64,
    /// Stored energy at the start of the horizon, kWh.
    pub initial_soc_kwh: f64,
    /// Maximum charging power drawn from the site bus, kW.
    pub max_charge_kw: f64,
    /// Maximum discharging power delivered to the site bus, kW.
    pub max_discharge_kw: f64,
    /// Fraction of charged power that is stored, in (0, 1].
    pub charge_efficiency: f64,
    /// Fraction of withdrawn energy that reaches the bus, in (0, 1].
    pub discharge_efficiency: f64,
    /// Wear cost per MWh discharged; 0 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degradation_cost_per_mwh: Option<f64>,
    /// Value of each MWh left stored at the end of the horizon; 0 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminal_value_per_mwh: Option<f64>,
}

/// A soft minimum on the stored energy at one interval boundary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSocTarget {
    /// The boundary, RFC 3339; after `start`, at most the end of the horizon.
    pub at: String,
    /// Energy wanted at that instant, kWh.
    pub min_kwh: f64,
}

/// Penalty on deviating from the previously published battery schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStability {
    /// Cost per MWh of difference from the reference.
    pub penalty_per_mwh: f64,
    /// Net battery power of the previous plan (discharge positive), or null.
    pub reference_kw: Vec<Option<f64>>,
}

/// The compute container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCompute {
    /// Maximum IT power of all jobs together, kW.
    pub max_it_kw: f64,
    /// Power usage effectiveness: site power drawn per kW of IT power (≥ 1).
    pub pue: f64,
}

/// A compute job, told apart by its `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum RawJob {
    /// Can pause and resume, and runs at any power between its bounds.
    Preemptible(RawPreemptibleJob),
    /// Runs once, uninterrupted, at a fixed power.
    Block(RawBlockJob),
}

/// A job that can pause, resume and throttle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPreemptibleJob {
    /// Unique, non-empty id.
    pub id: String,
    /// IT energy the job still needs, kWh.
    pub energy_kwh: f64,
    /// Lowest IT power while running, kW (> 0).
    pub min_kw: f64,
    /// Highest IT power, kW.
    pub max_kw: f64,
    /// Earliest instant the job may draw power, RFC 3339.
    pub release: String,
    /// Instant by which the job must stop drawing power, RFC 3339.
    pub deadline: String,
    /// Value of each MWh of IT energy delivered; 0 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_per_mwh: Option<f64>,
    /// Cost of each MWh of `energy_kwh` not delivered; 0 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shortfall_penalty_per_mwh: Option<f64>,
    /// Cost of each start (an interval running after one that did not); 0 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_cost: Option<f64>,
    /// Whether the job ran in the interval just before `start`; false when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<bool>,
}

/// A job that runs once for a fixed duration at a fixed power.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBlockJob {
    /// Unique, non-empty id.
    pub id: String,
    /// IT power while running, kW.
    pub power_kw: f64,
    /// Run length, minutes; rounded up to whole intervals.
    pub duration_minutes: f64,
    /// Earliest instant the job may draw power, RFC 3339.
    pub release: String,
    /// Instant by which the job must stop drawing power, RFC 3339.
    pub deadline: String,
    /// Value of each MWh of IT energy delivered; 0 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_per_mwh: Option<f64>,
    /// Cost of each MWh not delivered (the whole run when it does not run); 0 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shortfall_penalty_per_mwh: Option<f64>,
}

impl RawJob {
    /// The job's id, whatever its kind.
    pub fn id(&self) -> &str {
        match self {
            RawJob::Preemptible(job) => &job.id,
            RawJob::Block(job) => &job.id,
        }
    }
}
