//! Changing a series' step to the planning interval, exactly.
//!
//! - To a finer step (hourly → 15 min): each value is **held** for every
//!   finer interval it covers (a day-ahead price applies to its whole hour).
//! - To a coarser step (15 min → hourly): each coarse value is the **mean** of
//!   the finer values it covers (average power, or the time-weighted price).
//!
//! Only whole ratios are exact; anything else is an error, as is a coarse
//! step the series does not start on or does not fill.

use std::fmt;

use crate::error::IngestError;
use crate::series::Series;

/// What [`resample`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resampling {
    /// The series already had the step.
    Unchanged,
    /// Each value was held for `factor` finer intervals.
    Held {
        /// Finer intervals per original interval.
        factor: u32,
    },
    /// Each value is the mean of `factor` original values.
    Averaged {
        /// Original intervals per new interval.
        factor: u32,
    },
}

impl fmt::Display for Resampling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resampling::Unchanged => f.write_str("unchanged"),
            Resampling::Held { factor } => {
                write!(f, "each value held for {factor} finer intervals")
            }
            Resampling::Averaged { factor } => {
                write!(f, "each value the mean of {factor} finer values")
            }
        }
    }
}

/// Resamples `series` to `to_minutes` (see the module documentation).
pub fn resample(series: &Series, to_minutes: u32) -> Result<(Series, Resampling), IngestError> {
    let from = series.step_minutes;
    let error = |reason: String| IngestError::Resample {
        from,
        to: to_minutes,
        reason,
    };
    if to_minutes == 0 || from == 0 {
        return Err(error("steps must be positive".into()));
    }
    if to_minutes == from {
        return Ok((series.clone(), Resampling::Unchanged));
    }
    if to_minutes < from {
        if !from.is_multiple_of(to_minutes) {
            return Err(error(format!("{to_minutes} does not divide {from}")));
        }
        let factor = from / to_minutes;
        let values = series
            .values
            .iter()
            .flat_map(|&value| std::iter::repeat_n(value, factor as usize))
            .collect();
        let held = Series {
            start: series.start,
            step_minutes: to_minutes,
            values,
        };
        return Ok((held, Resampling::Held { factor }));
    }
    if !to_minutes.is_multiple_of(from) {
        return Err(error(format!("{from} does not divide {to_minutes}")));
    }
    let factor = to_minutes / from;
    let minutes_since_epoch = series.start.timestamp().div_euclid(60);
    if minutes_since_epoch % i64::from(to_minutes) != 0 {
        return Err(error(format!(
            "the series starts at {}, not on the {to_minutes}-minute grid",
            series.start.to_rfc3339()
        )));
    }
    if !series.values.len().is_multiple_of(factor as usize) {
        return Err(error(format!(
            "{} values do not fill whole {to_minutes}-minute intervals",
            series.values.len()
        )));
    }
    let values = series
        .values
        .chunks(factor as usize)
        .map(|chunk| chunk.iter().sum::<f64>() / f64::from(factor))
        .collect();
    let averaged = Series {
        start: series.start,
        step_minutes: to_minutes,
        values,
    };
    Ok((averaged, Resampling::Averaged { factor }))
}
