//! Aligning a series from another year onto a target period by local
//! weekday and time of day.
//!
//! Shared data often comes from different years (charging logs from 2018,
//! prices from 2024). Joining them on absolute time would put a Sunday's
//! charging on a Wednesday's prices. [`align_by_week`] instead shifts the
//! source by a whole number of weeks, so that every target interval gets
//! the source value at the **same local weekday and wall-clock time**:
//!
//! - the shift is the multiple of 7 days nearest to the distance between
//!   the target start's local date and the same month and day in
//!   `source_year` (29 February counts as 28 February);
//! - each target interval at local time `L` takes the source interval
//!   holding the local time `L − shift`;
//! - on DST days the zones' clocks can disagree between the two years: a
//!   local time that does not exist in the source (its spring-forward gap)
//!   takes the source value one hour later; one that occurs twice in the
//!   source (its fall-back hour) takes the occurrence matching the target's
//!   (the first when the target's is not repeated).
//!
//! A target interval whose source time is outside the source series is an
//! error naming the range the source covers.

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

use crate::series::Series;

/// Why a series cannot be aligned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AlignError {
    /// The source does not cover a needed instant.
    #[error(
        "the source covers {source_start} to {source_end}; aligning needs {needed} (for target interval {target})"
    )]
    OutOfRange {
        /// Source start, RFC 3339.
        source_start: String,
        /// Source end, RFC 3339.
        source_end: String,
        /// The source instant needed, RFC 3339.
        needed: String,
        /// The target interval start, RFC 3339.
        target: String,
    },
}

/// The whole-week shift, in days, that maps `target_start`'s local date to
/// the same weekday nearest to the same date in `source_year`.
pub fn week_shift_days(target_start: DateTime<Utc>, zone: Tz, source_year: i32) -> i64 {
    let target = target_start.with_timezone(&zone).date_naive();
    let day = if target.month() == 2 && target.day() == 29 {
        28
    } else {
        target.day()
    };
    let anchor = NaiveDate::from_ymd_opt(source_year, target.month(), day).unwrap_or(target);
    let days = (target - anchor).num_days();
    7 * (days as f64 / 7.0).round() as i64
}

/// `source` (local times of `source_zone`, in `source_year`) aligned onto
/// `intervals` intervals from `target_start` (local times of
/// `target_zone`) at the source's step (see the module documentation for
/// the rule).
pub fn align_by_week(
    source: &Series,
    source_zone: Tz,
    source_year: i32,
    target_zone: Tz,
    target_start: DateTime<Utc>,
    intervals: usize,
) -> Result<Series, AlignError> {
    let shift = week_shift_days(target_start, target_zone, source_year);
    align_with_shift(
        source,
        source_zone,
        target_zone,
        shift,
        target_start,
        intervals,
    )
}

/// As [`align_by_week`], with the whole-week shift given (in days): to
/// align a target's history with the shift of the period that follows it,
/// so that the history maps onto the source just before the period's.
pub fn align_with_shift(
    source: &Series,
    source_zone: Tz,
    target_zone: Tz,
    shift_days: i64,
    target_start: DateTime<Utc>,
    intervals: usize,
) -> Result<Series, AlignError> {
    let shift = TimeDelta::days(shift_days);
    let step_seconds = i64::from(source.step_minutes) * 60;
    let target = Series {
        start: target_start,
        step_minutes: source.step_minutes,
        values: Vec::new(),
    };
    let mut values = Vec::with_capacity(intervals);
    for t in 0..intervals {
        let at = target.time(t);
        let local = at.with_timezone(&target_zone);
        let wall = local.naive_local() - shift;
        let second_occurrence = matches!(
            target_zone.from_local_datetime(&local.naive_local()),
            LocalResult::Ambiguous(_, later) if later == local
        );
        let instant = match source_zone.from_local_datetime(&wall) {
            LocalResult::Single(instant) => instant,
            LocalResult::Ambiguous(earlier, later) => {
                if second_occurrence {
                    later
                } else {
                    earlier
                }
            }
            LocalResult::None => {
                match source_zone.from_local_datetime(&(wall + TimeDelta::hours(1))) {
                    LocalResult::Single(instant) | LocalResult::Ambiguous(instant, _) => instant,
                    LocalResult::None => {
                        return Err(out_of_range(source, wall.and_utc(), at));
                    }
                }
            }
        }
        .with_timezone(&Utc);
        let offset = (instant - source.start).num_seconds();
        let index = offset.div_euclid(step_seconds);
        match usize::try_from(index)
            .ok()
            .and_then(|index| source.values.get(index))
        {
            Some(&value) => values.push(value),
            None => return Err(out_of_range(source, instant, at)),
        }
    }
    Ok(Series { values, ..target })
}

fn out_of_range(source: &Series, needed: DateTime<Utc>, target: DateTime<Utc>) -> AlignError {
    AlignError::OutOfRange {
        source_start: source.start.to_rfc3339(),
        source_end: source.end().to_rfc3339(),
        needed: needed.to_rfc3339(),
        target: target.to_rfc3339(),
    }
}
