//! A site's compute job queue: what a controller submits, and how a stored
//! job becomes one the planner schedules.

use arbiter_backtest::SiteConfig;
use arbiter_forecast::{JobKind, QueuedJob};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::issue::FieldIssue;
use super::store::{StoreError, StoredJob};

/// Default cost of each MWh a job lacks at its deadline.
pub const DEFAULT_SHORTFALL_PENALTY_PER_MWH: f64 = 10_000.0;

/// A job as submitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// Unique within the site: 1 to 64 letters, digits, `.`, `_` or `-`.
    pub id: String,
    /// IT energy the job needs, kWh.
    pub energy_kwh: f64,
    /// By when it must be done.
    pub deadline: DateTime<Utc>,
    /// `preemptible` (pauses and throttles between `min_kw` and `max_kw`)
    /// or `block` (runs once, uninterrupted, at `power_kw`).
    pub kind: Kind,
    /// Preemptible: lowest IT power while running, kW (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kw: Option<f64>,
    /// Preemptible: highest IT power, kW.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_kw: Option<f64>,
    /// Block: IT power while running, kW.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_kw: Option<f64>,
    /// Value of each MWh delivered (default 0).
    #[serde(default)]
    pub value_per_mwh: f64,
    /// Cost of each MWh lacking at the deadline (default 10,000).
    #[serde(default = "default_penalty")]
    pub shortfall_penalty_per_mwh: f64,
}

fn default_penalty() -> f64 {
    DEFAULT_SHORTFALL_PENALTY_PER_MWH
}

/// How a job draws power.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Pauses, resumes and throttles.
    Preemptible,
    /// Runs once, uninterrupted.
    Block,
}

impl JobSpec {
    /// Every rule the job breaks at `now` on `config`'s site.
    pub fn check(&self, config: &SiteConfig, now: DateTime<Utc>) -> Vec<FieldIssue> {
        let mut issues = Vec::new();
        let mut rule = |ok: bool, field: &str, message: String| {
            if !ok {
                issues.push(FieldIssue::new(field, message));
            }
        };
        rule(
            (1..=64).contains(&self.id.len())
                && self
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
            "id",
            format!(
                "({}) must be 1 to 64 letters, digits, '.', '_' or '-'",
                arbiter_optimizer::quote(&self.id)
            ),
        );
        rule(
            self.energy_kwh.is_finite() && self.energy_kwh > 0.0,
            "energy_kwh",
            format!("({}) must be > 0", self.energy_kwh),
        );
        rule(
            self.deadline > now,
            "deadline",
            format!("({}) must be in the future", self.deadline.to_rfc3339()),
        );
        rule(
            self.value_per_mwh.is_finite(),
            "value_per_mwh",
            "must be a finite number".to_owned(),
        );
        rule(
            self.shortfall_penalty_per_mwh.is_finite() && self.shortfall_penalty_per_mwh >= 0.0,
            "shortfall_penalty_per_mwh",
            format!("({}) must be ≥ 0", self.shortfall_penalty_per_mwh),
        );
        let Some(compute) = &config.site.compute else {
            rule(
                false,
                "kind",
                format!("site {} has no compute ([compute])", config.site.id),
            );
            return issues;
        };
        let cap = compute.max_it_kw;
        let power = |value: Option<f64>| value.filter(|v| v.is_finite() && *v > 0.0 && *v <= cap);
        match self.kind {
            Kind::Preemptible => {
                rule(
                    power(self.max_kw).is_some(),
                    "max_kw",
                    format!(
                        "({}) is required for a preemptible job: > 0 and ≤ the site's compute.max_it_kw ({cap})",
                        show(self.max_kw)
                    ),
                );
                let min = self.min_kw.unwrap_or(0.0);
                rule(
                    min.is_finite() && min >= 0.0 && self.max_kw.is_none_or(|max| min <= max),
                    "min_kw",
                    format!("({min}) must be ≥ 0 and ≤ max_kw"),
                );
                rule(
                    self.power_kw.is_none(),
                    "power_kw",
                    "is for block jobs; a preemptible job has min_kw and max_kw".to_owned(),
                );
            }
            Kind::Block => {
                rule(
                    power(self.power_kw).is_some(),
                    "power_kw",
                    format!(
                        "({}) is required for a block job: > 0 and ≤ the site's compute.max_it_kw ({cap})",
                        show(self.power_kw)
                    ),
                );
                rule(
                    self.min_kw.is_none() && self.max_kw.is_none(),
                    "max_kw",
                    "min_kw and max_kw are for preemptible jobs; a block job has power_kw"
                        .to_owned(),
                );
            }
        }
        issues
    }

    /// A queued job (from a queue file or a synthetic queue) as submitted.
    pub fn from_queued(job: &QueuedJob) -> JobSpec {
        let (kind, min_kw, max_kw, power_kw) = match job.kind {
            JobKind::Preemptible { min_kw, max_kw } => {
                (Kind::Preemptible, Some(min_kw), Some(max_kw), None)
            }
            JobKind::Block { power_kw } => (Kind::Block, None, None, Some(power_kw)),
        };
        JobSpec {
            id: job.id.clone(),
            energy_kwh: job.energy_kwh,
            deadline: job.deadline,
            kind,
            min_kw,
            max_kw,
            power_kw,
            value_per_mwh: job.value_per_mwh,
            shortfall_penalty_per_mwh: job.shortfall_penalty_per_mwh,
        }
    }

    /// The job in the planner's terms, submitted at `submitted`.
    pub fn queued(&self, submitted: DateTime<Utc>) -> QueuedJob {
        QueuedJob {
            id: self.id.clone(),
            submit: submitted,
            deadline: self.deadline,
            energy_kwh: self.energy_kwh,
            kind: match self.kind {
                Kind::Preemptible => JobKind::Preemptible {
                    min_kw: self.min_kw.unwrap_or(0.0),
                    max_kw: self.max_kw.unwrap_or(0.0),
                },
                Kind::Block => JobKind::Block {
                    power_kw: self.power_kw.unwrap_or(0.0),
                },
            },
            value_per_mwh: self.value_per_mwh,
            shortfall_penalty_per_mwh: self.shortfall_penalty_per_mwh,
        }
    }
}

fn show(value: Option<f64>) -> String {
    value.map_or_else(|| "missing".to_owned(), |v| v.to_string())
}

/// The open jobs of a site as the planner sees them: (job, delivered kWh).
/// A stored job that cannot be read is an error, never left out unseen.
pub fn open_jobs(stored: &[StoredJob]) -> Result<Vec<(QueuedJob, f64)>, StoreError> {
    stored
        .iter()
        .filter(|job| job.status == "open")
        .map(|job| {
            let spec: JobSpec = serde_json::from_str(&job.spec).map_err(|error| {
                StoreError::Unreadable(format!("job {}/{}: {error}", job.site_id, job.id))
            })?;
            Ok((spec.queued(job.submitted_at), job.delivered_kwh))
        })
        .collect()
}
