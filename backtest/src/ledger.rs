//! Writing a run's ledger: one row per interval and strategy, as Parquet
//! (typed columns: `timestamp_utc` a UTC date-time in milliseconds,
//! `strategy` text, the rest 64-bit floats) or CSV.

use std::path::Path;

use polars::prelude::{
    Column, DataFrame, DataType, IntoColumn, NamedFrom, ParquetWriter, Series, TimeUnit,
};

use arbiter_optimizer::{MONEY_DECIMALS, POWER_DECIMALS, round_to};

use crate::simulate::Row;

/// The ledger's columns, in order.
pub const COLUMNS: [&str; 15] = [
    "timestamp_utc",
    "strategy",
    "price_per_mwh",
    "import_price_per_mwh",
    "export_price_per_mwh",
    "ev_forecast_kw",
    "ev_actual_kw",
    "import_kw",
    "export_kw",
    "charge_kw",
    "discharge_kw",
    "soc_kwh",
    "compute_it_kw",
    "unserved_kw",
    "cost",
];

/// Decimal places of a price derived by adding given prices (a price plus
/// an adder): enough for any given price, none of the sum's binary noise.
const PRICE_DECIMALS: i32 = 6;

/// How a number column is read from a row, and its decimal places.
type Number = (fn(&Row) -> f64, i32);

/// The number columns after `strategy`: how each is read from a row and the
/// decimal places it is written with (power and energy to the watt, money to
/// 0.0001, as plans are published).
const NUMBERS: [Number; 13] = [
    (|r| r.price_per_mwh, PRICE_DECIMALS),
    (|r| r.import_price_per_mwh, PRICE_DECIMALS),
    (|r| r.export_price_per_mwh, PRICE_DECIMALS),
    (|r| r.ev_forecast_kw, POWER_DECIMALS),
    (|r| r.ev_actual_kw, POWER_DECIMALS),
    (|r| r.import_kw, POWER_DECIMALS),
    (|r| r.export_kw, POWER_DECIMALS),
    (|r| r.charge_kw, POWER_DECIMALS),
    (|r| r.discharge_kw, POWER_DECIMALS),
    (|r| r.soc_kwh, POWER_DECIMALS),
    (|r| r.compute_it_kw, POWER_DECIMALS),
    (|r| r.unserved_kw, POWER_DECIMALS),
    (|r| r.cost, MONEY_DECIMALS),
];

/// Writes `rows` as CSV (header first) to `path`.
pub fn write_csv(path: &Path, rows: &[&Row]) -> std::io::Result<()> {
    let mut out = csv::Writer::from_path(path)?;
    out.write_record(COLUMNS)?;
    for row in rows {
        let mut record = vec![
            row.timestamp_utc
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            row.strategy.to_owned(),
        ];
        record.extend(
            NUMBERS
                .iter()
                .map(|(value, decimals)| round_to(value(row), *decimals).to_string()),
        );
        out.write_record(&record)?;
    }
    out.flush()
}

/// Writes every run's job outcomes as CSV to `path`: one row per job and
/// strategy.
pub fn write_jobs_csv(path: &Path, runs: &[&crate::simulate::Run]) -> std::io::Result<()> {
    let mut out = csv::Writer::from_path(path)?;
    out.write_record([
        "strategy",
        "id",
        "submit",
        "deadline",
        "energy_kwh",
        "delivered_kwh",
        "finished",
        "on_time",
    ])?;
    let time =
        |at: chrono::DateTime<chrono::Utc>| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for run in runs {
        for job in &run.jobs {
            let on_time = if job.due_in_period {
                job.on_time().to_string()
            } else {
                "not due".to_owned()
            };
            out.write_record([
                run.strategy.name().to_owned(),
                job.id.clone(),
                time(job.submit),
                time(job.deadline),
                round_to(job.energy_kwh, POWER_DECIMALS).to_string(),
                round_to(job.delivered_kwh, POWER_DECIMALS).to_string(),
                job.finished.map(time).unwrap_or_default(),
                on_time,
            ])?;
        }
    }
    out.flush()
}

/// Writes `rows` as Parquet to `path`.
pub fn write_parquet(path: &Path, rows: &[&Row]) -> Result<(), String> {
    let failed =
        |error: &dyn std::fmt::Display| format!("cannot write {}: {error}", path.display());
    let floats = |name: &str, (value, decimals): Number| -> Column {
        Series::new(
            name.into(),
            rows.iter()
                .map(|row| round_to(value(row), decimals))
                .collect::<Vec<f64>>(),
        )
        .into_column()
    };
    let millis: Vec<i64> = rows
        .iter()
        .map(|row| row.timestamp_utc.timestamp_millis())
        .collect();
    let timestamps = Series::new("timestamp_utc".into(), millis)
        .cast(&DataType::Datetime(TimeUnit::Milliseconds, None))
        .map_err(|e| failed(&e))?
        .into_column();
    let strategies = Series::new(
        "strategy".into(),
        rows.iter().map(|row| row.strategy).collect::<Vec<&str>>(),
    )
    .into_column();
    let mut columns = vec![timestamps, strategies];
    columns.extend(
        COLUMNS[2..]
            .iter()
            .zip(NUMBERS)
            .map(|(name, number)| floats(name, number)),
    );
    let mut frame = DataFrame::new(rows.len(), columns).map_err(|e| failed(&e))?;
    let file = std::fs::File::create(path).map_err(|e| failed(&e))?;
    ParquetWriter::new(file)
        .finish(&mut frame)
        .map(|_| ())
        .map_err(|e| failed(&e))
}
