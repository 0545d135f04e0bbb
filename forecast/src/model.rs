//! Forecasting models: quantile forecasts of a series from its own history,
//! strictly from the values before the forecast origin.
//!
//! Three kinds, all on the local calendar of the site (day types Monday to
//! Friday, Saturday, Sunday; time-of-day slots of the series' step):
//!
//! - [`Model::SeasonalNaive`]: the value of the same slot `lag_days` ago
//!   (7: same slot last week, for charging; 1: same hour yesterday, for
//!   prices). Its quantiles add the empirical quantiles of its own errors
//!   over the last 28 days, never going below the lowest value seen (so a
//!   load forecast is never negative).
//! - [`Model::Profile`] with its defaults ([`Profile::day_type`]): the
//!   weighted quantiles of the same slot on the same day type over the
//!   last `lookback_days`, each day weighted `0.5^(age / half_life_days)`.
//! - [`Model::Profile`] as a **blend** ([`Profile::blend`]): the same, but
//!   pooling more evidence, each sample weighted by how alike it is: other
//!   day types at `other_day_type_weight`, neighbouring slots (±
//!   `slot_radius`) with a Gaussian weight of width `slot_sigma`, and for
//!   the first `persistence_steps` the last known value, whose weight
//!   fades linearly from the whole profile's weight to nothing. Its
//!   parameters are chosen per site by rolling-origin validation
//!   ([`crate::choose`]).
//!
//! No model reads a value at or after the origin: the history is cut at the
//! origin before any model sees it.

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use crate::calendar::{DayGrid, DayType, local_slot, weighted_quantiles};
use crate::series::Series;

/// A quantile forecast: for each level, one value per interval from the origin.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    /// Start of the first forecast interval.
    pub origin: DateTime<Utc>,
    /// Interval length, minutes.
    pub step_minutes: u32,
    /// Quantile levels, ascending, in (0, 1).
    pub levels: Vec<f64>,
    /// `values[k][h]`: level `levels[k]` at interval `h`. For every `h`,
    /// values never decrease with the level.
    pub values: Vec<Vec<f64>>,
}

impl Forecast {
    /// The forecast at `level`, if it was asked for.
    pub fn quantile(&self, level: f64) -> Option<&[f64]> {
        self.levels
            .iter()
            .position(|&l| (l - level).abs() < 1e-9)
            .map(|k| self.values[k].as_slice())
    }

    /// Number of intervals forecast.
    pub fn horizon(&self) -> usize {
        self.values.first().map_or(0, Vec::len)
    }

    /// Start of interval `h`.
    pub fn time(&self, h: usize) -> DateTime<Utc> {
        self.origin + TimeDelta::minutes(i64::from(self.step_minutes) * h as i64)
    }
}

/// Why a forecast cannot be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ForecastError {
    /// A level outside (0, 1).
    #[error("quantile level {0} must be in (0, 1)")]
    Level(f64),
    /// The origin is not an interval start of the history.
    #[error("origin {origin} is not on the history's {step}-minute grid from {start}")]
    OffGrid {
        /// The origin.
        origin: String,
        /// The history's start.
        start: String,
        /// The history's step.
        step: u32,
    },
    /// Nothing known before the origin to forecast from.
    #[error("no history before {origin} within the model's {days}-day lookback")]
    NoHistory {
        /// The origin.
        origin: String,
        /// The lookback.
        days: u32,
    },
}

/// A forecasting model (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub enum Model {
    /// The same slot `lag_days` earlier.
    SeasonalNaive {
        /// Days back: 7 (last week) or 1 (yesterday).
        lag_days: u32,
    },
    /// Weighted quantiles of similar past slots.
    Profile(Profile),
}

/// How a profile weighs the past (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Days of history used.
    pub lookback_days: u32,
    /// Age at which a day's weight halves, days.
    pub half_life_days: f64,
    /// Weight of a day of another day type (0: same day type only).
    pub other_day_type_weight: f64,
    /// Neighbouring slots pooled on each side.
    pub slot_radius: u32,
    /// Width of the Gaussian weight over neighbouring slots, in slots.
    pub slot_sigma: f64,
    /// Intervals over which the last known value counts.
    pub persistence_steps: u32,
}

impl Profile {
    /// Day type × time of day over 8 weeks, weights halving every 4 weeks.
    pub fn day_type() -> Profile {
        Profile {
            lookback_days: 56,
            half_life_days: 28.0,
            other_day_type_weight: 0.0,
            slot_radius: 0,
            slot_sigma: 1.0,
            persistence_steps: 0,
        }
    }

    /// The blend's defaults: 12 weeks, weights halving every 6 weeks, other
    /// day types at 0.15, ±4 slots with σ = 2 slots, persistence over 4
    /// steps (tuned on the Broxden load; see the README).
    pub fn blend() -> Profile {
        Profile {
            lookback_days: 84,
            half_life_days: 42.0,
            other_day_type_weight: 0.15,
            slot_radius: 4,
            slot_sigma: 2.0,
            persistence_steps: 4,
        }
    }

    /// Recent days for prices: 14 days, weights halving every 3 days, other
    /// day types at 0.3, the exact hour only.
    pub fn recent_days() -> Profile {
        Profile {
            lookback_days: 14,
            half_life_days: 3.0,
            other_day_type_weight: 0.3,
            slot_radius: 0,
            slot_sigma: 1.0,
            persistence_steps: 0,
        }
    }
}

impl Model {
    /// The models that extend published prices to a horizon, the baseline
    /// (same hour yesterday) first; a market's is chosen among them by
    /// rolling-origin validation.
    pub fn price_candidates() -> Vec<Model> {
        vec![
            Model::SeasonalNaive { lag_days: 1 },
            Model::Profile(Profile::recent_days()),
            Model::Profile(Profile {
                lookback_days: 28,
                half_life_days: 7.0,
                ..Profile::recent_days()
            }),
        ]
    }
}

/// Days of errors the seasonal-naive model's quantiles are drawn from.
const NAIVE_RESIDUAL_DAYS: u32 = 28;

impl Model {
    /// A short name for tables: `seasonal-naive-7d`, `profile-56d`, `blend-84d`, ….
    pub fn name(&self) -> String {
        match self {
            Model::SeasonalNaive { lag_days } => format!("seasonal-naive-{lag_days}d"),
            Model::Profile(profile)
                if profile.other_day_type_weight == 0.0
                    && profile.slot_radius == 0
                    && profile.persistence_steps == 0 =>
            {
                format!("profile-{}d", profile.lookback_days)
            }
            Model::Profile(profile) => format!(
                "blend-{}d-r{}-p{}",
                profile.lookback_days, profile.slot_radius, profile.persistence_steps
            ),
        }
    }

    /// Days of history the model reads before the origin.
    pub fn lookback_days(&self) -> u32 {
        match self {
            Model::SeasonalNaive { lag_days } => lag_days + NAIVE_RESIDUAL_DAYS,
            Model::Profile(profile) => profile.lookback_days,
        }
    }

    /// Forecasts `horizon` intervals from `origin` at the quantile `levels`,
    /// from the values of `history` before `origin` only. Time-of-day and
    /// day types are those of `zone`.
    pub fn forecast(
        &self,
        history: &Series,
        zone: Tz,
        origin: DateTime<Utc>,
        horizon: usize,
        levels: &[f64],
    ) -> Result<Forecast, ForecastError> {
        if let Some(&level) = levels.iter().find(|&&l| !(l > 0.0 && l < 1.0)) {
            return Err(ForecastError::Level(level));
        }
        let step_seconds = i64::from(history.step_minutes.max(1)) * 60;
        if (origin - history.start).num_seconds() % step_seconds != 0 {
            return Err(ForecastError::OffGrid {
                origin: origin.to_rfc3339(),
                start: history.start.to_rfc3339(),
                step: history.step_minutes,
            });
        }
        let mut levels = levels.to_vec();
        levels.sort_by(f64::total_cmp);
        let grid = DayGrid::before(history, zone, origin, self.lookback_days() + 1);
        if !grid.range.0.is_finite() {
            return Err(ForecastError::NoHistory {
                origin: origin.to_rfc3339(),
                days: self.lookback_days(),
            });
        }
        let targets: Vec<_> = (0..horizon)
            .map(|h| {
                let at = origin + TimeDelta::seconds(step_seconds * h as i64);
                local_slot(at, zone, history.step_minutes)
            })
            .collect();
        let mut columns = match self {
            Model::SeasonalNaive { lag_days } => {
                seasonal_naive(&grid, &targets, *lag_days, &levels)
            }
            Model::Profile(profile) => profile.quantiles(&grid, &targets, &levels),
        };
        for column in &mut columns {
            // Monotone in the level at every interval (sorting the column is
            // the rearrangement that keeps each quantile's distribution).
            column.sort_by(f64::total_cmp);
        }
        let values = (0..levels.len())
            .map(|k| columns.iter().map(|column| column[k]).collect())
            .collect();
        Ok(Forecast {
            origin,
            step_minutes: history.step_minutes,
            levels,
            values,
        })
    }
}

/// One column of level values per target interval.
fn seasonal_naive(
    grid: &DayGrid,
    targets: &[crate::calendar::LocalSlot],
    lag_days: u32,
    levels: &[f64],
) -> Vec<Vec<f64>> {
    let lag = TimeDelta::days(i64::from(lag_days.max(1)));
    // The model's own errors over the last days: value − value `lag` before.
    let last_date = grid.first_date + TimeDelta::days(grid.values.nrows() as i64 - 1);
    let mut errors = Vec::new();
    for back in 0..=NAIVE_RESIDUAL_DAYS {
        let date = last_date - TimeDelta::days(i64::from(back));
        for slot in 0..grid.slots() as isize {
            if let (Some(now), Some(before)) = (grid.get(date, slot), grid.get(date - lag, slot)) {
                errors.push((now - before, 1.0));
            }
        }
    }
    let offsets =
        weighted_quantiles(&mut errors, levels).unwrap_or_else(|| vec![0.0; levels.len()]);
    let low = grid.range.0;
    targets
        .iter()
        .map(|target| {
            // The same slot `lag` before, or the latest known same slot
            // further back in steps of `lag` (when the target is more than
            // `lag` ahead), else the last known value.
            let point = (1..=8)
                .find_map(|k| grid.get(target.date - lag * k, target.slot as isize))
                .or(grid.last)
                .unwrap_or(0.0);
            offsets
                .iter()
                .map(|offset| (point + offset).max(low))
                .collect()
        })
        .collect()
}

impl Profile {
    /// The grid rows of the look-back days before `date` that have weight,
    /// with that weight (recency times day type), most recent first.
    fn days_before(
        &self,
        grid: &DayGrid,
        date: chrono::NaiveDate,
        decay: f64,
    ) -> Vec<(usize, f64)> {
        let day_type = DayType::of(date);
        let base = (date - grid.first_date).num_days();
        let mut weight_of_day = 1.0;
        let mut days = Vec::with_capacity(self.lookback_days as usize);
        for back in 1..=i64::from(self.lookback_days) {
            weight_of_day *= decay;
            let earlier = date - TimeDelta::days(back);
            let type_weight = if DayType::of(earlier) == day_type {
                1.0
            } else {
                self.other_day_type_weight
            };
            if type_weight <= 0.0 {
                continue;
            }
            let Ok(row) = usize::try_from(base - back) else {
                continue;
            };
            if row < grid.values.nrows() {
                days.push((row, weight_of_day * type_weight));
            }
        }
        days
    }

    fn quantiles(
        &self,
        grid: &DayGrid,
        targets: &[crate::calendar::LocalSlot],
        levels: &[f64],
    ) -> Vec<Vec<f64>> {
        let radius = self.slot_radius as isize;
        let slot_weights: Vec<f64> = (-radius..=radius)
            .map(|d| (-0.5 * (d as f64 / self.slot_sigma.max(1e-9)).powi(2)).exp())
            .collect();
        let decay = 0.5f64.powf(1.0 / self.half_life_days.max(1e-9));
        // The days a target's date draws on, with their weights: the same
        // for every target of that date (a horizon spans two or three).
        let mut days_of: Option<(chrono::NaiveDate, Vec<(usize, f64)>)> = None;
        let mut samples = Vec::new();
        targets
            .iter()
            .enumerate()
            .map(|(h, target)| {
                samples.clear();
                let days = match &days_of {
                    Some((date, days)) if *date == target.date => days,
                    _ => {
                        let days = self.days_before(grid, target.date, decay);
                        &days_of.insert((target.date, days)).1
                    }
                };
                let slots = grid.slots() as isize;
                for &(row, day_weight) in days.iter() {
                    let values = grid.values.row(row);
                    for (k, d) in (-radius..=radius).enumerate() {
                        let slot = target.slot as isize + d;
                        if slot < 0 || slot >= slots {
                            continue;
                        }
                        let value = values[slot as usize];
                        if !value.is_nan() {
                            samples.push((value, day_weight * slot_weights[k]));
                        }
                    }
                }
                let steps = self.persistence_steps as usize;
                if h < steps
                    && let Some(last) = grid.last
                {
                    let total: f64 = samples.iter().map(|&(_, weight)| weight).sum();
                    let share = 1.0 - h as f64 / steps as f64;
                    let weight = if total > 0.0 { total * share } else { share };
                    samples.push((last, weight));
                }
                weighted_quantiles(&mut samples, levels)
                    .or_else(|| grid.last.map(|last| vec![last; levels.len()]))
                    .unwrap_or_else(|| vec![0.0; levels.len()])
            })
            .collect()
    }
}

/// `known` extended to `until` with `model`'s P50 forecast from its end
/// (e.g. published day-ahead prices extended to the planning horizon), and
/// the number of intervals that were forecast.
pub fn extend(
    known: &Series,
    zone: Tz,
    until: DateTime<Utc>,
    model: &Model,
) -> Result<(Series, usize), ForecastError> {
    let step_seconds = i64::from(known.step_minutes.max(1)) * 60;
    let missing = (until - known.end()).num_seconds();
    if missing <= 0 {
        return Ok((known.clone(), 0));
    }
    let horizon = usize::try_from((missing + step_seconds - 1) / step_seconds).unwrap_or(0);
    let forecast = model.forecast(known, zone, known.end(), horizon, &[0.5])?;
    let mut extended = known.clone();
    extended.values.extend_from_slice(&forecast.values[0]);
    Ok((extended, horizon))
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use ndarray::Array2;
    use rand::rngs::Xoshiro256PlusPlus;
    use rand::{RngExt, SeedableRng};

    use super::*;
    use crate::calendar::{DayGrid, LocalSlot, weighted_quantiles};

    /// The profile's quantiles straight from their definition: every
    /// look-back day and slot offset looked up by date, one at a time.
    fn by_definition(
        profile: &Profile,
        grid: &DayGrid,
        targets: &[LocalSlot],
        levels: &[f64],
    ) -> Vec<Vec<f64>> {
        let radius = profile.slot_radius as isize;
        let decay = 0.5f64.powf(1.0 / profile.half_life_days.max(1e-9));
        targets
            .iter()
            .enumerate()
            .map(|(h, target)| {
                let mut samples = Vec::new();
                let mut weight_of_day = 1.0;
                for back in 1..=i64::from(profile.lookback_days) {
                    weight_of_day *= decay;
                    let date = target.date - TimeDelta::days(back);
                    let type_weight = if DayType::of(date) == DayType::of(target.date) {
                        1.0
                    } else {
                        profile.other_day_type_weight
                    };
                    if type_weight <= 0.0 {
                        continue;
                    }
                    for d in -radius..=radius {
                        let slot_weight =
                            (-0.5 * (d as f64 / profile.slot_sigma.max(1e-9)).powi(2)).exp();
                        if let Some(value) = grid.get(date, target.slot as isize + d) {
                            samples.push((value, weight_of_day * type_weight * slot_weight));
                        }
                    }
                }
                let steps = profile.persistence_steps as usize;
                if h < steps
                    && let Some(last) = grid.last
                {
                    let total: f64 = samples.iter().map(|&(_, weight)| weight).sum();
                    let share = 1.0 - h as f64 / steps as f64;
                    samples.push((last, if total > 0.0 { total * share } else { share }));
                }
                weighted_quantiles(&mut samples, levels)
                    .or_else(|| grid.last.map(|last| vec![last; levels.len()]))
                    .unwrap_or_else(|| vec![0.0; levels.len()])
            })
            .collect()
    }

    #[test]
    fn the_profile_quantiles_are_those_of_their_definition() {
        let mut random = Xoshiro256PlusPlus::seed_from_u64(7);
        let first_date = NaiveDate::from_ymd_opt(2024, 1, 1).expect("a date");
        for profile in [
            Profile::blend(),
            Profile::day_type(),
            Profile::recent_days(),
        ] {
            let (days, slots) = (90, 24);
            // Charging-like values with ties (zeros) and gaps (NaN), and a
            // grid shorter than the look-back at its start.
            let values =
                Array2::from_shape_fn((days, slots), |_| match random.random_range(0..10) {
                    0 => f64::NAN,
                    1..=3 => 0.0,
                    _ => (random.random_range(0.0..300.0) * 10.0f64).round() / 10.0,
                });
            let grid = DayGrid {
                first_date,
                values,
                range: (0.0, 300.0),
                last: Some(42.0),
            };
            // A horizon over three dates, from the last day of the grid.
            let targets: Vec<LocalSlot> = (0..60)
                .map(|h| LocalSlot {
                    date: first_date + TimeDelta::days(days as i64 - 1 + (h / slots) as i64),
                    slot: h % slots,
                })
                .chain([LocalSlot {
                    date: first_date + TimeDelta::days(20),
                    slot: 0,
                }])
                .collect();
            let levels = [0.1, 0.5, 0.9];
            assert_eq!(
                profile.quantiles(&grid, &targets, &levels),
                by_definition(&profile, &grid, &targets, &levels),
                "{}",
                Model::Profile(profile.clone()).name()
            );
        }
    }
}
