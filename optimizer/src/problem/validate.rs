//! Field rules of the problem, checked all at once.
//!
//! Each rule that fails adds one [`Issue`] whose message names the JSON path
//! and the rule, e.g. `jobs[2].min_kw (900) exceeds jobs[2].max_kw (600)`.
//! Validation never stops at the first issue, so a user fixes a file in one go.

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;

use chrono::{DateTime, Utc};

use super::{
    Battery, Compute, DEFAULT_SOC_TARGET_PENALTY_PER_MWH, DEFAULT_UNSERVED_PENALTY_PER_MWH,
    INTERVAL_MINUTES, Job, JobKind, MAX_INTERVALS, Problem, RawAdder, RawBattery, RawJob,
    RawProblem, SocTarget, Stability,
};

/// One broken rule: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// JSON path of the offending field, e.g. `jobs[2].min_kw` (empty for the whole document).
    pub path: String,
    /// The rule, in words, naming the path.
    pub message: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Every rule a problem breaks (never empty).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors {
    /// The issues, in the order of the fields in the document.
    pub issues: Vec<Issue>,
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.issues.len();
        write!(
            f,
            "invalid problem ({n} issue{}):",
            if n == 1 { "" } else { "s" }
        )?;
        for issue in &self.issues {
            write!(f, "\n  {issue}")?;
        }
        Ok(())
    }
}

impl ValidationErrors {
    /// A document that did not parse: one issue at the path where it failed.
    pub(crate) fn from_parse(error: &serde_path_to_error::Error<serde_json::Error>) -> Self {
        let path = error.path().to_string();
        let path = if path == "." { String::new() } else { path };
        // The parser quotes the offending value whole.
        let inner = crate::brief(&error.inner().to_string());
        let message = if path.is_empty() {
            format!("not a valid problem document: {inner}")
        } else {
            format!("{path}: {inner}")
        };
        ValidationErrors {
            issues: vec![Issue { path, message }],
        }
    }
}

/// Collects issues while the fields are checked.
#[derive(Default)]
struct Issues(Vec<Issue>);

impl Issues {
    fn push(&mut self, path: impl Into<String>, message: String) {
        self.0.push(Issue {
            path: path.into(),
            message,
        });
    }

    /// `path (value) must be RULE` unless `ok`.
    fn require(&mut self, ok: bool, path: &str, value: f64, rule: &str) {
        if !ok {
            self.push(path, format!("{path} ({value}) must be {rule}"));
        }
    }

    /// Checks that the number is finite, then `rule` if it is; returns whether both hold.
    fn number(&mut self, path: &str, value: f64, ok: impl Fn(f64) -> bool, rule: &str) -> bool {
        if !value.is_finite() {
            self.push(path, format!("{path} ({value}) must be a finite number"));
            return false;
        }
        self.require(ok(value), path, value, rule);
        ok(value)
    }

    /// Checks a series: its length (when `expected` is given) and each value.
    fn series(
        &mut self,
        path: &str,
        values: &[f64],
        expected: Option<usize>,
        ok: impl Fn(f64) -> bool,
        rule: &str,
    ) {
        if let Some(expected) = expected
            && values.len() != expected
        {
            self.push(
                path,
                format!(
                    "{path} has {} values, expected {expected} (one per price)",
                    values.len()
                ),
            );
        }
        for (i, &value) in values.iter().enumerate() {
            self.number(&format!("{path}[{i}]"), value, &ok, rule);
        }
    }

    /// Parses an RFC 3339 instant.
    fn instant(&mut self, path: &str, text: &str) -> Option<DateTime<Utc>> {
        match DateTime::parse_from_rfc3339(text) {
            Ok(instant) => Some(instant.with_timezone(&Utc)),
            Err(_) => {
                self.push(
                    path,
                    format!(
                        "{path} ({}) is not an RFC 3339 time such as 2025-06-01T00:00:00Z",
                        crate::quote(text)
                    ),
                );
                None
            }
        }
    }
}

fn non_negative(v: f64) -> bool {
    v >= 0.0
}

fn positive(v: f64) -> bool {
    v > 0.0
}

fn any(_: f64) -> bool {
    true
}

/// Nanoseconds from `from` to `to` (exact; an `i128` cannot overflow here).
fn nanos_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i128 {
    let delta = to - from;
    i128::from(delta.num_seconds()) * 1_000_000_000 + i128::from(delta.subsec_nanos())
}

impl RawProblem {
    /// Checks every field rule and returns the validated problem, or every
    /// issue found.
    pub fn validate(&self) -> Result<Problem, ValidationErrors> {
        let mut issues = Issues::default();
        let start = issues.instant("start", &self.start);
        let horizon = self.check_horizon(&mut issues, start);
        let intervals = self.prices_per_mwh.len();

        issues.series(
            "ev_demand_kw",
            &self.ev_demand_kw,
            Some(intervals),
            non_negative,
            "≥ 0",
        );
        let base_load_kw = self
            .base_load_kw
            .clone()
            .unwrap_or_else(|| vec![0.0; intervals]);
        issues.series(
            "base_load_kw",
            &base_load_kw,
            Some(intervals),
            non_negative,
            "≥ 0",
        );

        let tariff = self.tariff.clone().unwrap_or_default();
        let import_adder = adder(
            &mut issues,
            "tariff.import_adder_per_mwh",
            tariff.import_adder_per_mwh.as_ref(),
            intervals,
        );
        let export_adder = adder(
            &mut issues,
            "tariff.export_adder_per_mwh",
            tariff.export_adder_per_mwh.as_ref(),
            intervals,
        );
        let demand_charge_per_kw = tariff.demand_charge_per_kw.unwrap_or(0.0);
        issues.number(
            "tariff.demand_charge_per_kw",
            demand_charge_per_kw,
            non_negative,
            "≥ 0",
        );
        let peak_so_far_kw = tariff.peak_so_far_kw.unwrap_or(0.0);
        issues.number("tariff.peak_so_far_kw", peak_so_far_kw, non_negative, "≥ 0");

        issues.number(
            "grid.import_limit_kw",
            self.grid.import_limit_kw,
            positive,
            "> 0",
        );
        issues.number(
            "grid.export_limit_kw",
            self.grid.export_limit_kw,
            non_negative,
            "≥ 0",
        );

        let battery = self
            .battery
            .as_ref()
            .map(|raw| check_battery(&mut issues, raw));
        let unserved_penalty_per_mwh = self
            .unserved_penalty_per_mwh
            .unwrap_or(DEFAULT_UNSERVED_PENALTY_PER_MWH);
        issues.number(
            "unserved_penalty_per_mwh",
            unserved_penalty_per_mwh,
            positive,
            "> 0",
        );

        let soc_targets = self.check_soc_targets(&mut issues, horizon, battery.as_ref());
        let soc_target_penalty_per_mwh = self
            .soc_target_penalty_per_mwh
            .unwrap_or(DEFAULT_SOC_TARGET_PENALTY_PER_MWH);
        issues.number(
            "soc_target_penalty_per_mwh",
            soc_target_penalty_per_mwh,
            positive,
            "> 0",
        );
        let stability = self.check_stability(&mut issues, intervals);
        let compute = self.check_compute(&mut issues);
        let jobs = self.check_jobs(&mut issues, horizon);

        if !issues.0.is_empty() {
            return Err(ValidationErrors { issues: issues.0 });
        }
        let (Some(start), Some(import_adder), Some(export_adder)) =
            (start, import_adder, export_adder)
        else {
            // Unreachable: each of these is None only after an issue was pushed.
            return Err(ValidationErrors { issues: Vec::new() });
        };
        let import_price_per_mwh = (0..intervals)
            .map(|t| self.prices_per_mwh[t] + import_adder[t])
            .collect();
        let export_price_per_mwh = (0..intervals)
            .map(|t| self.prices_per_mwh[t] - export_adder[t])
            .collect();
        Ok(Problem {
            site_id: self.site_id.clone(),
            start,
            interval_minutes: self.interval_minutes,
            price_per_mwh: self.prices_per_mwh.clone(),
            import_price_per_mwh,
            export_price_per_mwh,
            demand_charge_per_kw,
            peak_so_far_kw,
            import_limit_kw: self.grid.import_limit_kw,
            export_limit_kw: self.grid.export_limit_kw,
            battery,
            ev_demand_kw: self.ev_demand_kw.clone(),
            base_load_kw,
            unserved_penalty_per_mwh,
            soc_targets,
            soc_target_penalty_per_mwh,
            stability,
            compute,
            jobs,
        })
    }

    /// Horizon length, interval and start rules; the [`Horizon`] when start
    /// and interval are both valid.
    fn check_horizon(&self, issues: &mut Issues, start: Option<DateTime<Utc>>) -> Option<Horizon> {
        let intervals = self.prices_per_mwh.len();
        if intervals == 0 {
            issues.push(
                "prices_per_mwh",
                "prices_per_mwh is empty: at least one interval is needed".into(),
            );
        } else if intervals > MAX_INTERVALS {
            issues.push(
                "prices_per_mwh",
                format!(
                    "prices_per_mwh has {intervals} values, at most {MAX_INTERVALS} are allowed"
                ),
            );
        }
        issues.series("prices_per_mwh", &self.prices_per_mwh, None, any, "");
        if !INTERVAL_MINUTES.contains(&self.interval_minutes) {
            issues.push(
                "interval_minutes",
                format!(
                    "interval_minutes ({}) must be one of 5, 10, 15, 20, 30, 60",
                    self.interval_minutes
                ),
            );
            return None;
        }
        let start = start?;
        let step_nanos = i128::from(self.interval_minutes) * 60 * 1_000_000_000;
        if nanos_between(DateTime::UNIX_EPOCH, start).rem_euclid(step_nanos) != 0 {
            issues.push(
                "start",
                format!(
                    "start ({}) does not lie on a multiple of {} minutes in UTC",
                    self.start, self.interval_minutes
                ),
            );
            // Every boundary derived from this start would be off too.
            return None;
        }
        Some(Horizon {
            start,
            step_nanos,
            intervals,
        })
    }

    fn check_soc_targets(
        &self,
        issues: &mut Issues,
        horizon: Option<Horizon>,
        battery: Option<&Battery>,
    ) -> Vec<SocTarget> {
        let Some(targets) = &self.soc_targets else {
            return Vec::new();
        };
        if !targets.is_empty() && self.battery.is_none() {
            issues.push("soc_targets", "soc_targets needs a battery".into());
        }
        let mut checked = Vec::with_capacity(targets.len());
        for (k, target) in targets.iter().enumerate() {
            let path = format!("soc_targets[{k}]");
            let min_path = format!("{path}.min_kwh");
            if issues.number(&min_path, target.min_kwh, any, "")
                && let Some(battery) = battery
                && target.min_kwh > battery.soc_max_kwh
            {
                issues.push(
                    &min_path,
                    format!(
                        "{min_path} ({}) exceeds battery.soc_max_kwh ({})",
                        target.min_kwh, battery.soc_max_kwh
                    ),
                );
            }
            let at_path = format!("{path}.at");
            let Some(at) = issues.instant(&at_path, &target.at) else {
                continue;
            };
            let Some(horizon) = horizon else {
                continue;
            };
            let offset = nanos_between(horizon.start, at);
            if offset.rem_euclid(horizon.step_nanos) != 0 {
                issues.push(
                    &at_path,
                    format!("{at_path} ({}) is not an interval boundary", target.at),
                );
                continue;
            }
            let boundary = offset / horizon.step_nanos;
            if boundary < 1 || boundary > horizon.intervals as i128 {
                issues.push(
                    &at_path,
                    format!(
                        "{at_path} ({}) must lie after start and at most at the end of the horizon",
                        target.at
                    ),
                );
                continue;
            }
            checked.push(SocTarget {
                boundary: boundary as usize,
                min_kwh: target.min_kwh,
            });
        }
        checked
    }

    fn check_stability(&self, issues: &mut Issues, intervals: usize) -> Option<Stability> {
        let stability = self.stability.as_ref()?;
        if self.battery.is_none() {
            issues.push("stability", "stability needs a battery".into());
        }
        issues.number(
            "stability.penalty_per_mwh",
            stability.penalty_per_mwh,
            non_negative,
            "≥ 0",
        );
        let references = &stability.reference_kw;
        if references.len() != intervals {
            issues.push(
                "stability.reference_kw",
                format!(
                    "stability.reference_kw has {} values, expected {intervals} (one per price)",
                    references.len()
                ),
            );
        }
        for (t, reference) in references.iter().enumerate() {
            if let Some(value) = reference {
                issues.number(&format!("stability.reference_kw[{t}]"), *value, any, "");
            }
        }
        Some(Stability {
            penalty_per_mwh: stability.penalty_per_mwh,
            reference_kw: references.clone(),
        })
    }

    fn check_compute(&self, issues: &mut Issues) -> Option<Compute> {
        let has_jobs = self.jobs.as_ref().is_some_and(|jobs| !jobs.is_empty());
        let Some(compute) = &self.compute else {
            if has_jobs {
                issues.push(
                    "compute",
                    "compute is required when jobs is not empty".into(),
                );
            }
            return None;
        };
        issues.number("compute.max_it_kw", compute.max_it_kw, non_negative, "≥ 0");
        issues.number("compute.pue", compute.pue, |v| v >= 1.0, "≥ 1");
        Some(Compute {
            max_it_kw: compute.max_it_kw,
            pue: compute.pue,
        })
    }

    fn check_jobs(&self, issues: &mut Issues, horizon: Option<Horizon>) -> Vec<Job> {
        let Some(jobs) = &self.jobs else {
            return Vec::new();
        };
        let mut seen = HashSet::new();
        let mut checked = Vec::with_capacity(jobs.len());
        for (j, raw) in jobs.iter().enumerate() {
            let path = format!("jobs[{j}]");
            let id = raw.id();
            if id.is_empty() {
                issues.push(format!("{path}.id"), format!("{path}.id is empty"));
            } else if !seen.insert(id) {
                issues.push(
                    format!("{path}.id"),
                    format!("{path}.id ({}) is not unique", crate::quote(id)),
                );
            }
            if let Some(job) = check_job(issues, &path, raw, horizon) {
                checked.push(job);
            }
        }
        checked
    }
}

/// What is needed to turn instants into interval indices.
#[derive(Debug, Clone, Copy)]
struct Horizon {
    start: DateTime<Utc>,
    step_nanos: i128,
    intervals: usize,
}

impl Horizon {
    /// Every interval of the horizon that `[release, deadline)` overlaps,
    /// with the share of each inside it (`f_jt`, in (0, 1]): a preemptible
    /// job's window (contract v1.1).
    fn overlapping(
        &self,
        release: DateTime<Utc>,
        deadline: DateTime<Utc>,
    ) -> (Range<usize>, Vec<f64>) {
        let intervals = self.intervals as i128;
        let (from, to) = (
            nanos_between(self.start, release),
            nanos_between(self.start, deadline),
        );
        let first = from.div_euclid(self.step_nanos).clamp(0, intervals); // floor
        let end = (-((-to).div_euclid(self.step_nanos))).clamp(0, intervals); // ceil
        // Every interval from the one holding `release` to the one holding
        // the instant before `deadline` overlaps the window by a positive time.
        let shares = (first..end)
            .map(|t| {
                let inside = ((t + 1) * self.step_nanos).min(to) - (t * self.step_nanos).max(from);
                inside as f64 / self.step_nanos as f64
            })
            .collect();
        let window = first as usize..end.max(first) as usize;
        (window, shares)
    }

    /// Intervals `t` with `interval_start(t) ≥ release` and `interval_end(t) ≤ deadline`,
    /// clipped to the horizon: a block job's window.
    fn window(&self, release: DateTime<Utc>, deadline: DateTime<Utc>) -> Range<usize> {
        let intervals = self.intervals as i128;
        let from_release = nanos_between(self.start, release);
        let first = -((-from_release).div_euclid(self.step_nanos)); // ceil
        let end = nanos_between(self.start, deadline).div_euclid(self.step_nanos); // floor
        let first = first.clamp(0, intervals) as usize;
        let end = end.clamp(0, intervals) as usize;
        first..end.max(first)
    }

    fn interval_minutes(&self) -> f64 {
        (self.step_nanos / 60_000_000_000) as f64
    }
}

fn adder(
    issues: &mut Issues,
    path: &str,
    adder: Option<&RawAdder>,
    intervals: usize,
) -> Option<Vec<f64>> {
    match adder {
        None => Some(vec![0.0; intervals]),
        Some(RawAdder::Flat(value)) => issues
            .number(path, *value, any, "")
            .then(|| vec![*value; intervals]),
        Some(RawAdder::PerInterval(values)) => {
            let before = issues.0.len();
            issues.series(path, values, Some(intervals), any, "");
            (issues.0.len() == before).then(|| values.clone())
        }
    }
}

fn check_battery(issues: &mut Issues, raw: &RawBattery) -> Battery {
    let min_ok = issues.number("battery.soc_min_kwh", raw.soc_min_kwh, non_negative, "≥ 0");
    let max_ok = issues.number("battery.soc_max_kwh", raw.soc_max_kwh, any, "");
    let initial_ok = issues.number("battery.initial_soc_kwh", raw.initial_soc_kwh, any, "");
    if min_ok && initial_ok && raw.initial_soc_kwh < raw.soc_min_kwh {
        issues.push(
            "battery.initial_soc_kwh",
            format!(
                "battery.initial_soc_kwh ({}) is below battery.soc_min_kwh ({})",
                raw.initial_soc_kwh, raw.soc_min_kwh
            ),
        );
    }
    if max_ok && initial_ok && raw.initial_soc_kwh > raw.soc_max_kwh {
        issues.push(
            "battery.initial_soc_kwh",
            format!(
                "battery.initial_soc_kwh ({}) exceeds battery.soc_max_kwh ({})",
                raw.initial_soc_kwh, raw.soc_max_kwh
            ),
        );
    }
    if min_ok && max_ok && raw.soc_min_kwh > raw.soc_max_kwh {
        issues.push(
            "battery.soc_min_kwh",
            format!(
                "battery.soc_min_kwh ({}) exceeds battery.soc_max_kwh ({})",
                raw.soc_min_kwh, raw.soc_max_kwh
            ),
        );
    }
    issues.number(
        "battery.max_charge_kw",
        raw.max_charge_kw,
        non_negative,
        "≥ 0",
    );
    issues.number(
        "battery.max_discharge_kw",
        raw.max_discharge_kw,
        non_negative,
        "≥ 0",
    );
    let efficiency = |v: f64| v > 0.0 && v <= 1.0;
    issues.number(
        "battery.charge_efficiency",
        raw.charge_efficiency,
        efficiency,
        "in (0, 1]",
    );
    issues.number(
        "battery.discharge_efficiency",
        raw.discharge_efficiency,
        efficiency,
        "in (0, 1]",
    );
    let degradation_cost_per_mwh = raw.degradation_cost_per_mwh.unwrap_or(0.0);
    issues.number(
        "battery.degradation_cost_per_mwh",
        degradation_cost_per_mwh,
        non_negative,
        "≥ 0",
    );
    let terminal_value_per_mwh = raw.terminal_value_per_mwh.unwrap_or(0.0);
    issues.number(
        "battery.terminal_value_per_mwh",
        terminal_value_per_mwh,
        any,
        "",
    );
    Battery {
        soc_min_kwh: raw.soc_min_kwh,
        soc_max_kwh: raw.soc_max_kwh,
        initial_soc_kwh: raw.initial_soc_kwh,
        max_charge_kw: raw.max_charge_kw,
        max_discharge_kw: raw.max_discharge_kw,
        charge_efficiency: raw.charge_efficiency,
        discharge_efficiency: raw.discharge_efficiency,
        degradation_cost_per_mwh,
        terminal_value_per_mwh,
    }
}

fn check_job(
    issues: &mut Issues,
    path: &str,
    raw: &RawJob,
    horizon: Option<Horizon>,
) -> Option<Job> {
    let (release, deadline, value, shortfall) = match raw {
        RawJob::Preemptible(job) => (
            &job.release,
            &job.deadline,
            job.value_per_mwh,
            job.shortfall_penalty_per_mwh,
        ),
        RawJob::Block(job) => (
            &job.release,
            &job.deadline,
            job.value_per_mwh,
            job.shortfall_penalty_per_mwh,
        ),
    };
    let value_per_mwh = value.unwrap_or(0.0);
    issues.number(
        &format!("{path}.value_per_mwh"),
        value_per_mwh,
        non_negative,
        "≥ 0",
    );
    let shortfall_penalty_per_mwh = shortfall.unwrap_or(0.0);
    issues.number(
        &format!("{path}.shortfall_penalty_per_mwh"),
        shortfall_penalty_per_mwh,
        non_negative,
        "≥ 0",
    );
    let release_at = issues.instant(&format!("{path}.release"), release);
    let deadline_at = issues.instant(&format!("{path}.deadline"), deadline);
    if let (Some(release_at), Some(deadline_at)) = (release_at, deadline_at)
        && release_at >= deadline_at
    {
        issues.push(
            format!("{path}.deadline"),
            format!("{path}.release ({release}) must be before {path}.deadline ({deadline})"),
        );
    }
    let kind = match raw {
        RawJob::Preemptible(job) => {
            issues.number(
                &format!("{path}.energy_kwh"),
                job.energy_kwh,
                positive,
                "> 0",
            );
            let min_ok = issues.number(&format!("{path}.min_kw"), job.min_kw, positive, "> 0");
            let max_ok = issues.number(&format!("{path}.max_kw"), job.max_kw, any, "");
            if min_ok && max_ok && job.min_kw > job.max_kw {
                issues.push(
                    format!("{path}.min_kw"),
                    format!(
                        "{path}.min_kw ({}) exceeds {path}.max_kw ({})",
                        job.min_kw, job.max_kw
                    ),
                );
            }
            let start_cost = job.start_cost.unwrap_or(0.0);
            issues.number(
                &format!("{path}.start_cost"),
                start_cost,
                non_negative,
                "≥ 0",
            );
            JobKind::Preemptible {
                energy_kwh: job.energy_kwh,
                min_kw: job.min_kw,
                max_kw: job.max_kw,
                start_cost,
                running: job.running.unwrap_or(false),
            }
        }
        RawJob::Block(job) => {
            issues.number(&format!("{path}.power_kw"), job.power_kw, positive, "> 0");
            let duration_ok = issues.number(
                &format!("{path}.duration_minutes"),
                job.duration_minutes,
                positive,
                "> 0",
            );
            let intervals = match (duration_ok, horizon) {
                (true, Some(horizon)) => {
                    (job.duration_minutes / horizon.interval_minutes()).ceil() as usize
                }
                _ => 0,
            };
            JobKind::Block {
                power_kw: job.power_kw,
                intervals,
            }
        }
    };
    let (horizon, release_at, deadline_at) = (horizon?, release_at?, deadline_at?);
    let (window, availability) = match kind {
        JobKind::Preemptible { .. } => horizon.overlapping(release_at, deadline_at),
        JobKind::Block { .. } => {
            let window = horizon.window(release_at, deadline_at);
            let whole = vec![1.0; window.len()];
            (window, whole)
        }
    };
    Some(Job {
        id: raw.id().to_owned(),
        window,
        availability,
        value_per_mwh,
        shortfall_penalty_per_mwh,
        kind,
    })
}
