//! `arbiter forecast-eval`: rolling-origin evaluation of the forecasting
//! models on a load or price file.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use arbiter_forecast::{
    Accuracy, ForecastError, Model, PriceSource, Profile, Series, TimeColumn, choose, evaluate,
    read_metered_load, read_prices, rolling_origins,
};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::{Failure, local_time};
use crate::plot::{BandPlot, draw_band_week};

/// Evaluate the forecasting models over many past origins.
///
/// Every origin forecasts from the history before it alone; the scores are
/// MAE and RMSE of the P50, pinball loss at 0.5 and 0.9, and P90 coverage.
/// The model marked `*` is the one chosen for the site by the same
/// evaluation over the validation days just before the period.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  arbiter forecast-eval fixtures/ev/broxden_load_2018-10-22_week.csv --zone Europe/London \\
      --from 2018-10-26 --to 2018-10-29 --validation-days 2
  arbiter forecast-eval prices.csv --kind price --zone Europe/Berlin --plot week.png")]
pub struct Args {
    /// The series: a CSV or Parquet file with a time column and a value column.
    file: PathBuf,
    /// What the series is: charging load (kW, never negative) or prices.
    #[arg(long, value_enum, default_value_t = Kind::Load)]
    kind: Kind,
    /// Value column [default: site_power_kw for load, price_per_mwh for price].
    #[arg(long)]
    column: Option<String>,
    /// Time column (interval starts).
    #[arg(long, default_value = "timestamp_utc")]
    time_column: String,
    /// Read the time column as wall-clock times of the --zone (else UTC).
    #[arg(long)]
    local_times: bool,
    /// IANA zone of the site or market: its days and times of day.
    #[arg(long, default_value = "UTC")]
    zone: Tz,
    /// First local day of origins [default: a year before --to].
    #[arg(long)]
    from: Option<NaiveDate>,
    /// Local day after the last origin [default: the last whole day of the file].
    #[arg(long)]
    to: Option<NaiveDate>,
    /// Hours between origins.
    #[arg(long, default_value_t = 24)]
    every_hours: u32,
    /// Local hour of day of the origins.
    #[arg(long, default_value_t = 0)]
    origin_hour: u32,
    /// Hours forecast from each origin.
    #[arg(long, default_value_t = 36)]
    horizon_hours: u32,
    /// Days before --from on which the site's model is chosen.
    #[arg(long, default_value_t = 28)]
    validation_days: u32,
    /// Also write the scores as JSON to this file (`-` for standard output).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Draw a week (actual vs the chosen model's P50 and P50–P90 band) to this PNG.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Local date the plotted week starts [default: the last 7 days of the period].
    #[arg(long)]
    plot_from: Option<NaiveDate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Load,
    Price,
}

/// The candidate models of each kind, the baseline first.
fn candidates(kind: Kind) -> Vec<Model> {
    match kind {
        Kind::Load => vec![
            Model::SeasonalNaive { lag_days: 7 },
            Model::Profile(Profile::day_type()),
            Model::Profile(Profile::blend()),
            Model::Profile(Profile {
                lookback_days: 56,
                half_life_days: 28.0,
                ..Profile::blend()
            }),
        ],
        Kind::Price => {
            let mut models = Model::price_candidates();
            // Yesterday's shape, smoothed over a week and the hours beside it.
            models.push(Model::Profile(Profile {
                lookback_days: 7,
                half_life_days: 1.0,
                other_day_type_weight: 1.0,
                slot_radius: 1,
                ..Profile::recent_days()
            }));
            models
        }
    }
}

#[derive(Debug, Serialize)]
struct Report {
    file: String,
    kind: Kind,
    zone: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    horizon_intervals: usize,
    step_minutes: u32,
    origins: usize,
    baseline: String,
    chosen: String,
    models: Vec<Scored>,
}

#[derive(Debug, Serialize)]
struct Scored {
    #[serde(flatten)]
    accuracy: Accuracy,
    /// MAE improvement over the baseline, percent.
    mae_gain_percent: f64,
    chosen: bool,
}

/// Runs the command.
pub fn run(args: &Args) -> ExitCode {
    super::exit(evaluate_file(args))
}

fn read(args: &Args) -> Result<Series, Failure> {
    let time = if args.local_times {
        TimeColumn::local(&args.time_column, args.zone)
    } else {
        TimeColumn::utc(&args.time_column)
    };
    let result = match args.kind {
        Kind::Load => read_metered_load(
            &args.file,
            &time,
            args.column.as_deref().unwrap_or("site_power_kw"),
        ),
        Kind::Price => read_prices(
            &PriceSource::csv(&args.file)
                .time(time)
                .price_column(args.column.as_deref().unwrap_or("price_per_mwh")),
        )
        .map(|prices| prices.series),
    };
    result.map_err(|error| Failure::Invalid(error.to_string()))
}

fn evaluate_file(args: &Args) -> Result<(), Failure> {
    if args.origin_hour > 23 || args.every_hours == 0 || args.horizon_hours == 0 {
        return Err(Failure::Invalid(
            "--origin-hour must be 0–23, --every-hours and --horizon-hours ≥ 1".to_owned(),
        ));
    }
    let series = read(args)?;
    let zone = args.zone;
    let last_day = (series.end() - TimeDelta::hours(1))
        .with_timezone(&zone)
        .date_naive();
    let to_day = args.to.unwrap_or(last_day);
    let from_day = args.from.unwrap_or(to_day - TimeDelta::days(365));
    let from = local_time(zone, from_day, args.origin_hour)?;
    let to = local_time(zone, to_day, args.origin_hour)?;
    if from >= to {
        return Err(Failure::Invalid(format!(
            "--from ({from_day}) must be before --to ({to_day})"
        )));
    }
    let horizon = (args.horizon_hours * 60 / series.step_minutes.max(1)) as usize;
    let origins = rolling_origins(
        &series,
        zone,
        from,
        to,
        TimeDelta::hours(i64::from(args.every_hours)),
    );
    if origins.is_empty() {
        return Err(Failure::Invalid(format!(
            "no origin between {from_day} and {to_day} has history before it (the file covers {} to {})",
            series.start.to_rfc3339(),
            series.end().to_rfc3339()
        )));
    }
    let models = candidates(args.kind);
    let choice = choose(&models, &series, zone, from, args.validation_days, horizon)
        .map_err(|error| Failure::Invalid(format!("choosing the model: {error}")))?;

    let bar = ProgressBar::new((origins.len() * models.len()) as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg:>28} [{bar:30}] {pos}/{len} forecasts, ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut scores = Vec::with_capacity(models.len());
    for model in &models {
        bar.set_message(model.name());
        let accuracy = evaluate(model, &series, zone, &origins, horizon, || bar.inc(1))
            .map_err(|error| Failure::Invalid(error.to_string()))?;
        scores.push(accuracy);
    }
    bar.finish_and_clear();

    let baseline_mae = scores[0].mae;
    let report = Report {
        file: args.file.display().to_string(),
        kind: args.kind,
        zone: zone.name().to_owned(),
        from,
        to,
        horizon_intervals: horizon,
        step_minutes: series.step_minutes,
        origins: origins.len(),
        baseline: models[0].name(),
        chosen: models[choice.index].name(),
        models: scores
            .into_iter()
            .enumerate()
            .map(|(i, accuracy)| Scored {
                mae_gain_percent: if baseline_mae > 0.0 {
                    100.0 * (baseline_mae - accuracy.mae) / baseline_mae
                } else {
                    0.0
                },
                accuracy,
                chosen: i == choice.index,
            })
            .collect(),
    };
    print_table(&report);
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)
            .map_err(|error| Failure::Internal(error.to_string()))?;
        if path.as_os_str() == "-" {
            outln!("{json}");
        } else {
            std::fs::write(path, json + "\n").map_err(|error| {
                Failure::Invalid(format!("cannot write {}: {error}", path.display()))
            })?;
        }
    }
    if let Some(path) = &args.plot {
        let start_day = args
            .plot_from
            .unwrap_or((to_day - TimeDelta::days(7)).max(from_day));
        let start = local_time(zone, start_day, args.origin_hour)?;
        let plot = week_plot(args, &series, &models[choice.index], start, horizon)?;
        draw_band_week(path, &plot).map_err(Failure::Invalid)?;
        outln!("plot: {}", path.display());
    }
    Ok(())
}

fn print_table(report: &Report) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{} ({}, {}): {} origins from {} to {}, {} intervals of {} min ahead",
        report.file,
        serde_json::to_value(report.kind)
            .ok()
            .and_then(|kind| kind.as_str().map(str::to_owned))
            .unwrap_or_default(),
        report.zone,
        report.origins,
        report.from.format("%Y-%m-%d %H:%M UTC"),
        report.to.format("%Y-%m-%d %H:%M UTC"),
        report.horizon_intervals,
        report.step_minutes
    );
    let _ = writeln!(
        out,
        "  {:<24} {:>9} {:>9} {:>9} {:>9} {:>8} {:>10}",
        "model", "MAE", "RMSE", "pinb@0.5", "pinb@0.9", "P90 cov", "MAE gain"
    );
    for scored in &report.models {
        let a = &scored.accuracy;
        let _ = writeln!(
            out,
            "{} {:<24} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>7.1}% {:>9.1}%",
            if scored.chosen { "*" } else { " " },
            a.model,
            a.mae,
            a.rmse,
            a.pinball_50,
            a.pinball_90,
            100.0 * a.coverage_90,
            scored.mae_gain_percent
        );
    }
    let _ = writeln!(
        out,
        "MAE gain: against {}. *: chosen for this site on the validation days before the period.",
        report.baseline
    );
}

/// The chosen model's forecasts over a week, stitched from its origins:
/// each origin's forecast covers the hours until the next origin.
fn week_plot(
    args: &Args,
    series: &Series,
    model: &Model,
    start: DateTime<Utc>,
    horizon: usize,
) -> Result<BandPlot, Failure> {
    let end = start + TimeDelta::days(7);
    let step = TimeDelta::minutes(i64::from(series.step_minutes));
    let every = TimeDelta::hours(i64::from(args.every_hours));
    let mut plot = BandPlot {
        title: format!(
            "{}: {} from {} ({})",
            args.file
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default(),
            model.name(),
            start.with_timezone(&args.zone).format("%Y-%m-%d"),
            args.zone.name()
        ),
        y_label: match args.kind {
            Kind::Load => "kW".to_owned(),
            Kind::Price => "price per MWh".to_owned(),
        },
        times: Vec::new(),
        actual: Vec::new(),
        p50: Vec::new(),
        p90: Vec::new(),
    };
    let origins = rolling_origins(series, args.zone, start, end, every);
    for (k, &origin) in origins.iter().enumerate() {
        let until = origins.get(k + 1).copied().unwrap_or(end);
        let steps =
            (((until - origin).num_minutes() / step.num_minutes().max(1)) as usize).min(horizon);
        let forecast = match model.forecast(series, args.zone, origin, steps, &[0.5, 0.9]) {
            Ok(forecast) => forecast,
            // An origin with nothing before it has nothing to draw.
            Err(ForecastError::NoHistory { .. }) => continue,
            Err(error) => return Err(Failure::Invalid(format!("plotting: {error}"))),
        };
        for h in 0..steps {
            let at = forecast.time(h);
            let Some(index) = series.index_of(at) else {
                continue;
            };
            if at >= end {
                break;
            }
            plot.times.push(at.with_timezone(&args.zone).naive_local());
            plot.actual.push(series.values[index]);
            plot.p50.push(forecast.values[0][h]);
            plot.p90.push(forecast.values[1][h]);
        }
    }
    if plot.times.is_empty() {
        return Err(Failure::Invalid(format!(
            "the plotted week from {} has no data",
            start.to_rfc3339()
        )));
    }
    Ok(plot)
}
