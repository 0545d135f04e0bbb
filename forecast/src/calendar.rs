//! The history as a local calendar: one row per local day, one column per
//! time-of-day slot, so models can look up "the same slot N days ago".

use chrono::{DateTime, Datelike, NaiveDate, Offset, TimeDelta, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use ndarray::Array2;

use crate::series::Series;

/// Kinds of day whose charging patterns differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DayType {
    /// Monday to Friday.
    Weekday,
    /// Saturday.
    Saturday,
    /// Sunday.
    Sunday,
}

impl DayType {
    /// The day type of a local date.
    pub fn of(date: NaiveDate) -> DayType {
        match date.weekday() {
            Weekday::Sat => DayType::Saturday,
            Weekday::Sun => DayType::Sunday,
            _ => DayType::Weekday,
        }
    }
}

/// A local date and a time-of-day slot (minutes since local midnight ÷ step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalSlot {
    /// The local date.
    pub date: NaiveDate,
    /// Minutes since local midnight ÷ the step.
    pub slot: usize,
}

/// The local date and slot of an instant.
pub fn local_slot(at: DateTime<Utc>, zone: Tz, step_minutes: u32) -> LocalSlot {
    let offset = zone.offset_from_utc_datetime(&at.naive_utc()).fix();
    let local = at.naive_utc() + TimeDelta::seconds(i64::from(offset.local_minus_utc()));
    let minutes = local.hour() * 60 + local.minute();
    LocalSlot {
        date: local.date(),
        slot: (minutes / step_minutes.max(1)) as usize,
    }
}

/// The known values of the days before an origin, by local date and slot.
/// Cells with no value (before the history, from the origin on, the hour
/// skipped when DST starts) are NaN; of a repeated hour (DST ends) the
/// first occurrence is kept.
pub(crate) struct DayGrid {
    /// Local date of row 0.
    pub first_date: NaiveDate,
    /// `days × slots_per_day` values.
    pub values: Array2<f64>,
    /// Smallest and largest value seen.
    pub range: (f64, f64),
    /// The last known value, if any.
    pub last: Option<f64>,
}

impl DayGrid {
    /// The grid of the `days` local days before `origin` (and the origin's
    /// own day up to it), from the values of `history` before `origin`.
    pub fn before(history: &Series, zone: Tz, origin: DateTime<Utc>, days: u32) -> DayGrid {
        let step = history.step_minutes.max(1);
        let slots = (1440 / step) as usize;
        let origin_date = local_slot(origin, zone, step).date;
        let first_date = origin_date - TimeDelta::days(i64::from(days));
        let rows = days as usize + 1;
        let mut values = Array2::from_elem((rows, slots), f64::NAN);
        let step_seconds = i64::from(step) * 60;
        // Index of the first interval that can fall on `first_date` (local
        // days are at most 26 h from UTC midnight) and of the origin.
        let from = first_date
            .and_hms_opt(0, 0, 0)
            .map(|midnight| midnight.and_utc() - TimeDelta::hours(26));
        let index_of =
            |at: DateTime<Utc>| (at - history.start).num_seconds().div_euclid(step_seconds);
        let first = from.map_or(0, |from| index_of(from).max(0)) as usize;
        let end = (index_of(origin).max(0) as usize).min(history.values.len());
        let mut range = (f64::INFINITY, f64::NEG_INFINITY);
        for i in first..end {
            let LocalSlot { date, slot } = local_slot(history.time(i), zone, step);
            let Ok(row) = usize::try_from((date - first_date).num_days()) else {
                continue;
            };
            if row >= rows || slot >= slots {
                continue;
            }
            let value = history.values[i];
            range = (range.0.min(value), range.1.max(value));
            let cell = &mut values[[row, slot]];
            if cell.is_nan() {
                *cell = value;
            }
        }
        DayGrid {
            first_date,
            values,
            range,
            last: end.checked_sub(1).map(|i| history.values[i]),
        }
    }

    /// The value at a local date and slot, if known.
    pub fn get(&self, date: NaiveDate, slot: isize) -> Option<f64> {
        let row = usize::try_from((date - self.first_date).num_days()).ok()?;
        let slot = usize::try_from(slot).ok()?;
        self.values
            .get([row, slot])
            .copied()
            .filter(|value| !value.is_nan())
    }

    /// Number of slots in a day.
    pub fn slots(&self) -> usize {
        self.values.ncols()
    }
}

/// The quantiles at `levels` of weighted samples: for each level, the
/// smallest value whose cumulative weight reaches that share of the total.
/// `None` when there is no sample with weight. `samples` is reordered.
pub(crate) fn weighted_quantiles(samples: &mut [(f64, f64)], levels: &[f64]) -> Option<Vec<f64>> {
    samples.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = samples.iter().map(|&(_, weight)| weight).sum();
    if samples.is_empty() || total <= 0.0 {
        return None;
    }
    let quantile = |level: f64| {
        let target = level * total * (1.0 - 1e-12);
        let mut cumulative = 0.0;
        for &(value, weight) in samples.iter() {
            cumulative += weight;
            if cumulative >= target {
                return value;
            }
        }
        samples[samples.len() - 1].0
    };
    Some(levels.iter().map(|&level| quantile(level)).collect())
}
