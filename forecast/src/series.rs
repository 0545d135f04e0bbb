//! A regular series on a UTC grid: what every reader produces and what the
//! planner consumes.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};

use crate::error::{IngestError, RowIssue};

/// Values at a fixed step from `start` (UTC); value `i` covers
/// `[start + i·step, start + (i+1)·step)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Start of the first interval.
    pub start: DateTime<Utc>,
    /// Interval length in minutes.
    pub step_minutes: u32,
    /// One value per interval.
    pub values: Vec<f64>,
}

impl Series {
    /// Start of interval `i` (`i = len` gives the end of the series).
    pub fn time(&self, i: usize) -> DateTime<Utc> {
        self.start + TimeDelta::minutes(i64::from(self.step_minutes) * i as i64)
    }

    /// End of the last interval.
    pub fn end(&self) -> DateTime<Utc> {
        self.time(self.values.len())
    }

    /// The intervals that start before `at` (all of them when `at` is past
    /// the end, none when it is before the start).
    pub fn before(&self, at: DateTime<Utc>) -> Series {
        let step_seconds = i64::from(self.step_minutes.max(1)) * 60;
        let seconds = (at - self.start).num_seconds();
        let count = if seconds <= 0 {
            0
        } else {
            usize::try_from((seconds + step_seconds - 1) / step_seconds).unwrap_or(usize::MAX)
        };
        Series {
            start: self.start,
            step_minutes: self.step_minutes,
            values: self.values[..count.min(self.values.len())].to_vec(),
        }
    }

    /// The intervals that start in `[from, to)`, clipped to the series (an
    /// empty series at `from`'s grid position when none do).
    pub fn between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Series {
        let step_seconds = i64::from(self.step_minutes.max(1)) * 60;
        let position = |at: DateTime<Utc>| {
            let seconds = (at - self.start).num_seconds();
            usize::try_from((seconds + step_seconds - 1).div_euclid(step_seconds))
                .unwrap_or(0)
                .min(self.values.len())
        };
        let (first, end) = (position(from), position(to));
        Series {
            start: self.time(first),
            step_minutes: self.step_minutes,
            values: self.values[first..end.max(first)].to_vec(),
        }
    }

    /// The index of the interval holding `at`, if the series has it.
    pub fn index_of(&self, at: DateTime<Utc>) -> Option<usize> {
        let step_seconds = i64::from(self.step_minutes.max(1)) * 60;
        let index =
            usize::try_from((at - self.start).num_seconds().div_euclid(step_seconds)).ok()?;
        (index < self.values.len()).then_some(index)
    }
}

/// Builds a series from parsed rows `(line, instant, value)` in file order,
/// checking that they lie on one regular grid: in order, unique, no gaps, no
/// off-grid instants. The step is the most common difference between
/// consecutive rows.
pub(crate) fn from_rows(
    path: &str,
    rows: &[(usize, DateTime<Utc>, f64)],
) -> Result<Series, IngestError> {
    let Some(&(_, start, _)) = rows.first() else {
        return Err(IngestError::Empty {
            path: path.to_owned(),
        });
    };
    let step_minutes = common_step_minutes(rows).unwrap_or(60);
    let step = TimeDelta::minutes(i64::from(step_minutes));
    let mut issues = Vec::new();
    for pair in rows.windows(2) {
        let ((previous_line, previous, _), (line, instant, _)) = (pair[0], pair[1]);
        let difference = instant - previous;
        let reason = if difference == TimeDelta::zero() {
            format!("{} duplicates line {previous_line}", instant.to_rfc3339())
        } else if difference < TimeDelta::zero() {
            format!(
                "{} comes before line {previous_line} ({}): rows must be in time order",
                instant.to_rfc3339(),
                previous.to_rfc3339()
            )
        } else if (instant - start).num_seconds() % step.num_seconds() != 0 {
            format!(
                "{} is off the {step_minutes}-minute grid that starts at {}",
                instant.to_rfc3339(),
                start.to_rfc3339()
            )
        } else if difference > step {
            let missing = difference.num_seconds() / step.num_seconds() - 1;
            format!(
                "gap: {missing} interval{} missing after line {previous_line} ({})",
                if missing == 1 { "" } else { "s" },
                previous.to_rfc3339()
            )
        } else {
            continue;
        };
        issues.push(RowIssue { line, reason });
    }
    if !issues.is_empty() {
        return Err(IngestError::Rows {
            path: path.to_owned(),
            issues,
        });
    }
    Ok(Series {
        start,
        step_minutes,
        values: rows.iter().map(|&(_, _, value)| value).collect(),
    })
}

/// The most common positive whole-minute difference between consecutive rows.
fn common_step_minutes(rows: &[(usize, DateTime<Utc>, f64)]) -> Option<u32> {
    let mut counts: HashMap<i64, usize> = HashMap::new();
    for pair in rows.windows(2) {
        let seconds = (pair[1].1 - pair[0].1).num_seconds();
        if seconds > 0 && seconds % 60 == 0 {
            *counts.entry(seconds / 60).or_default() += 1;
        }
    }
    let (minutes, _) = counts
        .into_iter()
        .max_by_key(|&(minutes, count)| (count, -minutes))?;
    u32::try_from(minutes).ok()
}
