//! Rolling-origin evaluation: forecast from many origins, each from the
//! history before it alone, and score the forecasts against what happened.
//!
//! Scores, over every (origin, interval) pair whose actual value is known:
//!
//! - MAE and RMSE of the P50;
//! - pinball loss at 0.5 and at 0.9: for level `q`, actual `y` and forecast
//!   `f`, `max(q·(y − f), (q − 1)·(y − f))` (the loss quantile forecasts
//!   minimise; at 0.5 it is half the absolute error);
//! - P90 coverage: the share of actuals at or below the P90 (0.9 when the
//!   P90 is calibrated).

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::model::{ForecastError, Model};
use crate::series::Series;

/// The levels every evaluation forecasts.
pub const EVALUATION_LEVELS: [f64; 2] = [0.5, 0.9];

/// A model's scores over a set of origins.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Accuracy {
    /// Model name.
    pub model: String,
    /// Number of origins.
    pub origins: usize,
    /// Number of (origin, interval) pairs scored.
    pub points: usize,
    /// Mean absolute error of the P50.
    pub mae: f64,
    /// Root mean squared error of the P50.
    pub rmse: f64,
    /// Mean pinball loss of the P50.
    pub pinball_50: f64,
    /// Mean pinball loss of the P90.
    pub pinball_90: f64,
    /// Share of actuals at or below the P90.
    pub coverage_90: f64,
}

/// The pinball (quantile) loss of forecast `forecast` at `level` for `actual`.
pub fn pinball(level: f64, actual: f64, forecast: f64) -> f64 {
    let error = actual - forecast;
    (level * error).max((level - 1.0) * error)
}

/// Forecast origins every `every` from `from` (inclusive) to `to`
/// (exclusive), keeping those on the series' grid with at least one
/// interval of history before them. When `every` is whole days, origins
/// keep the local time of day of `from` in `zone` across DST changes (a
/// day is then 23 or 25 hours); otherwise they step in absolute time.
pub fn rolling_origins(
    series: &Series,
    zone: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    every: TimeDelta,
) -> Vec<DateTime<Utc>> {
    let step_seconds = i64::from(series.step_minutes.max(1)) * 60;
    let mut origins = Vec::new();
    if every <= TimeDelta::zero() {
        return origins;
    }
    let whole_days = every.num_seconds() % 86_400 == 0;
    let local_from = from.with_timezone(&zone).naive_local();
    for k in 0.. {
        let at = if whole_days {
            let wall = local_from + every * k;
            match zone.from_local_datetime(&wall).earliest() {
                Some(at) => at.with_timezone(&Utc),
                // The wall-clock time is skipped that day: the hour after.
                None => match zone
                    .from_local_datetime(&(wall + TimeDelta::hours(1)))
                    .earliest()
                {
                    Some(at) => at.with_timezone(&Utc),
                    None => continue,
                },
            }
        } else {
            from + every * k
        };
        if at >= to {
            break;
        }
        let offset = (at - series.start).num_seconds();
        if offset > 0 && offset % step_seconds == 0 && at < series.end() {
            origins.push(at);
        }
    }
    origins
}

/// Scores `model` forecasting `horizon` intervals from each origin;
/// `progress` is called after each origin.
pub fn evaluate(
    model: &Model,
    series: &Series,
    zone: Tz,
    origins: &[DateTime<Utc>],
    horizon: usize,
    mut progress: impl FnMut(),
) -> Result<Accuracy, ForecastError> {
    let step_seconds = i64::from(series.step_minutes.max(1)) * 60;
    let mut sums = Sums::default();
    for &origin in origins {
        let forecast = model.forecast(series, zone, origin, horizon, &EVALUATION_LEVELS)?;
        let first = ((origin - series.start).num_seconds() / step_seconds) as usize;
        let (p50, p90) = (&forecast.values[0], &forecast.values[1]);
        for h in 0..horizon {
            let Some(&actual) = series.values.get(first + h) else {
                break;
            };
            sums.add(actual, p50[h], p90[h]);
        }
        progress();
    }
    Ok(sums.accuracy(model.name(), origins.len()))
}

#[derive(Default)]
struct Sums {
    points: usize,
    absolute: f64,
    squared: f64,
    pinball_50: f64,
    pinball_90: f64,
    covered: usize,
}

impl Sums {
    fn add(&mut self, actual: f64, p50: f64, p90: f64) {
        self.points += 1;
        self.absolute += (actual - p50).abs();
        self.squared += (actual - p50).powi(2);
        self.pinball_50 += pinball(0.5, actual, p50);
        self.pinball_90 += pinball(0.9, actual, p90);
        self.covered += usize::from(actual <= p90);
    }

    fn accuracy(&self, model: String, origins: usize) -> Accuracy {
        let n = self.points.max(1) as f64;
        Accuracy {
            model,
            origins,
            points: self.points,
            mae: self.absolute / n,
            rmse: (self.squared / n).sqrt(),
            pinball_50: self.pinball_50 / n,
            pinball_90: self.pinball_90 / n,
            coverage_90: self.covered as f64 / n,
        }
    }
}

/// How [`choose`] picked a model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Choice {
    /// Index of the chosen candidate.
    pub index: usize,
    /// Every candidate's scores on the validation origins.
    pub validation: Vec<Accuracy>,
}

/// Chooses, among `candidates`, the model with the lowest mean pinball loss
/// (average of the 0.5 and 0.9 losses: accuracy and calibration together)
/// over daily origins in the `validation_days` before `before`, at the
/// local time of day of `before`. Ties go to the earlier candidate.
pub fn choose(
    candidates: &[Model],
    series: &Series,
    zone: Tz,
    before: DateTime<Utc>,
    validation_days: u32,
    horizon: usize,
) -> Result<Choice, ForecastError> {
    // Scored only against what was known at `before`.
    let series = &series.before(before);
    let from = before - TimeDelta::days(i64::from(validation_days));
    let origins = rolling_origins(series, zone, from, before, TimeDelta::days(1));
    let validation = candidates
        .iter()
        .map(|model| evaluate(model, series, zone, &origins, horizon, || {}))
        .collect::<Result<Vec<_>, _>>()?;
    let score = |accuracy: &Accuracy| accuracy.pinball_50 + accuracy.pinball_90;
    let index = validation
        .iter()
        .enumerate()
        .min_by(|(_, a), (_, b)| score(a).total_cmp(&score(b)))
        .map_or(0, |(index, _)| index);
    Ok(Choice { index, validation })
}
