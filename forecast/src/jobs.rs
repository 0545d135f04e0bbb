//! Compute job queues: a CSV file of jobs, or a synthetic queue drawn from
//! documented distributions, both mapped onto the planner's two job kinds.
//!
//! **The CSV** has one job per row. Columns (header names exactly as here):
//!
//! | column | required | meaning |
//! |---|---|---|
//! | `id` | yes | unique, non-empty |
//! | `submit` | yes | when the job was submitted (UTC or with an offset); the earliest it may run |
//! | `kind` | no | `preemptible` (default: pauses, resumes, throttles) or `block` (runs once, uninterrupted, at `max_kw`) |
//! | `energy_kwh` | one of | IT energy the job needs, kWh |
//! | `gpu_hours`, `kw_per_gpu` | the two | instead of `energy_kwh`: energy = GPU-hours × kW per GPU |
//! | `min_kw`, `max_kw` | yes | IT power range while running, kW (`0 < min_kw ≤ max_kw`; a block job runs at `max_kw`) |
//! | `deadline` | one of | when the job must be done |
//! | `slack_factor` | the two | instead of `deadline`: `submit + slack_factor × energy / max_kw` (the fastest run time, stretched; ≥ 1) |
//! | `value_per_mwh` | no | value of each MWh delivered (default 0) |
//! | `shortfall_penalty_per_mwh` | no | cost of each MWh not delivered by the deadline (default 0) |
//!
//! A cell may be empty where its column is optional. Every bad row is
//! reported with its line; none is skipped silently.

use std::collections::HashSet;
use std::path::Path;

use chrono::{DateTime, TimeDelta, Utc};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Exp, LogNormal};

use crate::error::{IngestError, RowIssue};
use crate::table::{instant, number, optional_column, read_table, string_column};
use crate::timestamps::{TimeColumn, TimestampReader};

/// How a job may draw power.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum JobKind {
    /// Pauses, resumes and throttles between `min_kw` and `max_kw`.
    Preemptible {
        /// Lowest IT power while running, kW.
        min_kw: f64,
        /// Highest IT power, kW.
        max_kw: f64,
    },
    /// Runs once, uninterrupted, at `power_kw` for `energy_kwh / power_kw` hours.
    Block {
        /// IT power while running, kW.
        power_kw: f64,
    },
}

/// One queued job, in the planner's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedJob {
    /// Unique id.
    pub id: String,
    /// Submission time: the earliest the job may run.
    pub submit: DateTime<Utc>,
    /// By when it must be done.
    pub deadline: DateTime<Utc>,
    /// IT energy it needs, kWh.
    pub energy_kwh: f64,
    /// How it draws power.
    pub kind: JobKind,
    /// Value of each MWh delivered.
    pub value_per_mwh: f64,
    /// Cost of each MWh not delivered by the deadline.
    pub shortfall_penalty_per_mwh: f64,
}

impl QueuedJob {
    /// Highest IT power the job can draw, kW.
    pub fn max_kw(&self) -> f64 {
        match self.kind {
            JobKind::Preemptible { max_kw, .. } => max_kw,
            JobKind::Block { power_kw } => power_kw,
        }
    }

    /// The shortest time the job can take, hours.
    pub fn min_run_hours(&self) -> f64 {
        self.energy_kwh / self.max_kw()
    }
}

/// Reads a job queue CSV or Parquet file (see the module documentation).
pub fn read_jobs(path: impl AsRef<Path>) -> Result<Vec<QueuedJob>, IngestError> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let frame = read_table(path)?;
    let column = |column: &str| string_column(&frame, &name, column);
    let optional = |column: &str| optional_column(&frame, &name, column);
    let ids = column("id")?;
    let submits = column("submit")?;
    let max_kws = column("max_kw")?;
    let min_kws = column("min_kw")?;
    let kinds = optional("kind")?;
    let energies = optional("energy_kwh")?;
    let gpu_hours = optional("gpu_hours")?;
    let kw_per_gpu = optional("kw_per_gpu")?;
    let deadlines = optional("deadline")?;
    let slacks = optional("slack_factor")?;
    let values = optional("value_per_mwh")?;
    let penalties = optional("shortfall_penalty_per_mwh")?;

    let utc = TimeColumn::utc("submit");
    let mut reader = TimestampReader::new(&utc);
    let mut seen = HashSet::new();
    let mut jobs = Vec::with_capacity(ids.len());
    let mut issues = Vec::new();
    for i in 0..ids.len() {
        let cell = |cells: &Option<Vec<Option<String>>>| -> Option<String> {
            cells
                .as_ref()
                .and_then(|cells| cells[i].clone())
                .filter(|text| !text.trim().is_empty())
        };
        let row = JobRow {
            id: ids[i].clone().unwrap_or_default(),
            submit: submits[i].clone(),
            kind: cell(&kinds),
            energy_kwh: cell(&energies),
            gpu_hours: cell(&gpu_hours),
            kw_per_gpu: cell(&kw_per_gpu),
            min_kw: min_kws[i].clone(),
            max_kw: max_kws[i].clone(),
            deadline: cell(&deadlines),
            slack_factor: cell(&slacks),
            value_per_mwh: cell(&values),
            shortfall_penalty_per_mwh: cell(&penalties),
        };
        let line = i + 2;
        match row.parse(&mut reader) {
            Ok(job) if !seen.insert(job.id.clone()) => issues.push(RowIssue {
                line,
                reason: format!("id {:?} is used by an earlier row", job.id),
            }),
            Ok(job) => jobs.push(job),
            Err(reasons) => {
                issues.extend(reasons.into_iter().map(|reason| RowIssue { line, reason }))
            }
        }
    }
    if !issues.is_empty() {
        return Err(IngestError::Rows { path: name, issues });
    }
    Ok(jobs)
}

/// One row's cells, as text.
struct JobRow {
    id: String,
    submit: Option<String>,
    kind: Option<String>,
    energy_kwh: Option<String>,
    gpu_hours: Option<String>,
    kw_per_gpu: Option<String>,
    min_kw: Option<String>,
    max_kw: Option<String>,
    deadline: Option<String>,
    slack_factor: Option<String>,
    value_per_mwh: Option<String>,
    shortfall_penalty_per_mwh: Option<String>,
}

impl JobRow {
    /// The job, or every reason the row is not one.
    fn parse(&self, reader: &mut TimestampReader<'_>) -> Result<QueuedJob, Vec<String>> {
        let mut reasons = Vec::new();
        let mut check = |result: Result<f64, String>| match result {
            Ok(value) => Some(value),
            Err(reason) => {
                reasons.push(reason);
                None
            }
        };
        let id = self.id.trim();
        let positive = |cell: &Option<String>, column: &str| {
            number(cell.as_deref(), column).and_then(|value| {
                if value > 0.0 {
                    Ok(value)
                } else {
                    Err(format!("{column} ({value}) must be > 0"))
                }
            })
        };
        let at_least_zero = |cell: &Option<String>, column: &str| match cell {
            None => Ok(0.0),
            Some(_) => number(cell.as_deref(), column).and_then(|value| {
                if value >= 0.0 {
                    Ok(value)
                } else {
                    Err(format!("{column} ({value}) must be ≥ 0"))
                }
            }),
        };
        let max_kw = check(positive(&self.max_kw, "max_kw"));
        let min_kw = check(positive(&self.min_kw, "min_kw"));
        let energy_kwh = match (&self.energy_kwh, &self.gpu_hours, &self.kw_per_gpu) {
            (Some(_), None, None) => check(positive(&self.energy_kwh, "energy_kwh")),
            (None, Some(_), Some(_)) => {
                let hours = check(positive(&self.gpu_hours, "gpu_hours"));
                let kw = check(positive(&self.kw_per_gpu, "kw_per_gpu"));
                hours.zip(kw).map(|(hours, kw)| hours * kw)
            }
            _ => check(Err(
                "give energy_kwh, or gpu_hours and kw_per_gpu (not both)".to_owned(),
            )),
        };
        let value_per_mwh = check(at_least_zero(&self.value_per_mwh, "value_per_mwh"));
        let penalty = check(at_least_zero(
            &self.shortfall_penalty_per_mwh,
            "shortfall_penalty_per_mwh",
        ));
        let slack = match &self.slack_factor {
            None => None,
            Some(_) => check(
                number(self.slack_factor.as_deref(), "slack_factor").and_then(|slack| {
                    if slack >= 1.0 {
                        Ok(slack)
                    } else {
                        Err(format!("slack_factor ({slack}) must be ≥ 1"))
                    }
                }),
            ),
        };
        if id.is_empty() {
            reasons.push("id is missing".to_owned());
        }
        let submit = instant(reader, self.submit.as_deref(), "submit")
            .map_err(|reason| reasons.push(reason))
            .ok();
        let kind = match self.kind.as_deref().map(str::trim) {
            None | Some("preemptible") => min_kw
                .zip(max_kw)
                .map(|(min_kw, max_kw)| JobKind::Preemptible { min_kw, max_kw }),
            Some("block") => max_kw.map(|power_kw| JobKind::Block { power_kw }),
            Some(other) => {
                reasons.push(format!(
                    "kind ({other:?}) must be \"preemptible\" or \"block\""
                ));
                None
            }
        };
        if let (Some(min_kw), Some(max_kw)) = (min_kw, max_kw)
            && min_kw > max_kw
        {
            reasons.push(format!("min_kw ({min_kw}) must be ≤ max_kw ({max_kw})"));
        }
        let deadline = match (&self.deadline, slack) {
            (Some(text), None) if self.slack_factor.is_none() => {
                let deadline_column = TimeColumn::utc("deadline");
                TimestampReader::new(&deadline_column)
                    .read(text)
                    .map_err(|reason| reasons.push(reason))
                    .ok()
            }
            (None, Some(slack)) => {
                submit
                    .zip(energy_kwh)
                    .zip(max_kw)
                    .map(|((submit, energy_kwh), max_kw)| {
                        let seconds = (slack * energy_kwh / max_kw * 3600.0).ceil() as i64;
                        submit + TimeDelta::seconds(seconds)
                    })
            }
            (None, None) if self.slack_factor.is_none() => {
                reasons.push("give deadline or slack_factor".to_owned());
                None
            }
            (Some(_), _) => {
                reasons.push("give deadline or slack_factor, not both".to_owned());
                None
            }
            (None, None) => None, // slack_factor was given but bad: already reported
        };
        if let (Some(submit), Some(deadline)) = (submit, deadline)
            && deadline <= submit
        {
            reasons.push(format!(
                "deadline ({}) must be after submit ({})",
                deadline.to_rfc3339(),
                submit.to_rfc3339()
            ));
        }
        match (submit, deadline, energy_kwh, kind, value_per_mwh, penalty) {
            (
                Some(submit),
                Some(deadline),
                Some(energy_kwh),
                Some(kind),
                Some(value_per_mwh),
                Some(shortfall_penalty_per_mwh),
            ) if reasons.is_empty() => Ok(QueuedJob {
                id: id.to_owned(),
                submit,
                deadline,
                energy_kwh,
                kind,
                value_per_mwh,
                shortfall_penalty_per_mwh,
            }),
            _ => Err(reasons),
        }
    }
}

/// A synthetic job queue: documented distributions, drawn with a seed, so
/// that a backtest's queue is reproducible without any real trace.
///
/// The shapes come from public GPU cluster traces (the Alibaba 2023 trace
/// summarised in `fixtures/README.md`): durations are log-normal with a
/// p90/median ratio of about 12.6 (median 616 s, p90 7,764 s in the trace),
/// and arrivals are a Poisson process. The scale is set for a site: jobs
/// there are training and batch runs of whole GPU servers, so the default
/// median run is 2 h at full power rather than the trace's 10 minutes.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticQueue {
    /// Seed of the random draws.
    pub seed: u64,
    /// Mean arrivals per day (Poisson).
    pub jobs_per_day: f64,
    /// Median run time at full power, hours.
    pub median_hours: f64,
    /// Ratio of the 90th percentile run time to the median (log-normal spread).
    pub p90_over_median: f64,
    /// Longest run time at full power, hours (longer draws are capped).
    pub max_hours: f64,
    /// Full power of one job, kW: drawn uniformly from these sizes.
    pub sizes_kw: Vec<f64>,
    /// Lowest power as a share of full power (preemptible jobs).
    pub min_power_share: f64,
    /// Deadline slack factors (deadline = submit + slack × run time), drawn uniformly in this range.
    pub slack: (f64, f64),
    /// Share of jobs that are blocks (uninterrupted runs).
    pub block_share: f64,
    /// Value of each MWh delivered (when `gpu_hour_prices` is none).
    pub value_per_mwh: f64,
    /// What a GPU-hour of each job earns, drawn uniformly per job from this
    /// range (currency per GPU-hour, e.g. (1.5, 3.0) for rented H100s), at
    /// `kw_per_gpu`: a job's `value_per_mwh` is its price ÷ `kw_per_gpu` ×
    /// 1000. Drawn from a generator of its own, so a queue with values has
    /// the same jobs as one without.
    pub gpu_hour_prices: Option<(f64, f64)>,
    /// IT power of one GPU, kW, for `gpu_hour_prices` (default 0.7).
    pub kw_per_gpu: f64,
    /// Cost of each MWh not delivered by the deadline (default 10,000: a
    /// deadline binds as firmly as an EV driver's charge, whose default
    /// unserved penalty is the same).
    pub shortfall_penalty_per_mwh: f64,
}

impl Default for SyntheticQueue {
    /// About 60% of a 1 MW container's hours over a day, when `sizes_kw`
    /// averages 200 kW: 6 jobs a day × ~4.8 h mean × 200 kW ≈ 5.8 MWh.
    fn default() -> Self {
        SyntheticQueue {
            seed: 1,
            jobs_per_day: 6.0,
            median_hours: 2.0,
            p90_over_median: 12.6,
            max_hours: 24.0,
            sizes_kw: vec![100.0, 200.0, 300.0],
            min_power_share: 0.3,
            slack: (1.5, 4.0),
            block_share: 0.2,
            value_per_mwh: 0.0,
            gpu_hour_prices: None,
            kw_per_gpu: 0.7,
            shortfall_penalty_per_mwh: 10_000.0,
        }
    }
}

impl SyntheticQueue {
    /// The jobs submitted in `[from, to)`, in submission order, with ids
    /// `job-0001`, `job-0002`, …
    pub fn generate(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<QueuedJob> {
        // A named generator: the same seed gives the same queue in every build.
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(self.seed);
        let mut prices = Xoshiro256PlusPlus::seed_from_u64(self.seed ^ 0x6770_755f_7072_6963);
        let mut value = || match self.gpu_hour_prices {
            Some((low, high)) if high > low && self.kw_per_gpu > 0.0 => {
                prices.random_range(low..high) / self.kw_per_gpu * 1000.0
            }
            Some((low, _)) if self.kw_per_gpu > 0.0 => low / self.kw_per_gpu * 1000.0,
            _ => self.value_per_mwh,
        };
        let mut jobs = Vec::new();
        let (Ok(gaps), Ok(durations)) = (
            Exp::new(self.jobs_per_day.max(f64::MIN_POSITIVE) / 86_400.0),
            LogNormal::new(
                self.median_hours.max(f64::MIN_POSITIVE).ln(),
                self.p90_over_median.max(1.0).ln() / 1.281_551_565_5,
            ),
        ) else {
            return jobs;
        };
        if self.sizes_kw.is_empty() || self.jobs_per_day <= 0.0 {
            return jobs;
        }
        let mut at = from;
        loop {
            at += TimeDelta::seconds(gaps.sample(&mut rng).ceil() as i64);
            if at >= to {
                return jobs;
            }
            let hours: f64 = durations.sample(&mut rng).min(self.max_hours);
            let max_kw = self.sizes_kw[rng.random_range(0..self.sizes_kw.len())];
            let slack = if self.slack.1 > self.slack.0 {
                rng.random_range(self.slack.0..self.slack.1)
            } else {
                self.slack.0
            };
            let kind = if rng.random::<f64>() < self.block_share {
                JobKind::Block { power_kw: max_kw }
            } else {
                JobKind::Preemptible {
                    min_kw: max_kw * self.min_power_share,
                    max_kw,
                }
            };
            jobs.push(QueuedJob {
                id: format!("job-{:04}", jobs.len() + 1),
                submit: at,
                deadline: at + TimeDelta::seconds((slack * hours * 3600.0).ceil() as i64),
                energy_kwh: hours * max_kw,
                kind,
                value_per_mwh: value(),
                shortfall_penalty_per_mwh: self.shortfall_penalty_per_mwh,
            });
        }
    }
}
