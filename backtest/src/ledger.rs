//! Writing a run's ledger: one row per interval and strategy, as Parquet
//! (typed columns: `timestamp_utc` a UTC date-time in milliseconds,
//! `strategy` text, the rest 64-bit floats) or CSV.

use std::io::Write;
use std::path::Path;

use polars::prelude::{
    Column, DataFrame, DataType, IntoColumn, NamedFrom, ParquetWriter, Series, TimeUnit,
};

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

/// Writes `rows` as CSV (header first) to `path`.
pub fn write_csv(path: &Path, rows: &[&Row]) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "{}", COLUMNS.join(","))?;
    for row in rows {
        writeln!(
            out,
            "{},{},{},{},{},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.6}",
            row.timestamp_utc
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            row.strategy,
            row.price_per_mwh,
            row.import_price_per_mwh,
            row.export_price_per_mwh,
            row.ev_forecast_kw,
            row.ev_actual_kw,
            row.import_kw,
            row.export_kw,
            row.charge_kw,
            row.discharge_kw,
            row.soc_kwh,
            row.compute_it_kw,
            row.unserved_kw,
            row.cost,
        )?;
    }
    out.flush()
}

/// Writes every run's job outcomes as CSV to `path`: one row per job and
/// strategy.
pub fn write_jobs_csv(path: &Path, runs: &[&crate::simulate::Run]) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(
        out,
        "strategy,id,submit,deadline,energy_kwh,delivered_kwh,finished,on_time"
    )?;
    let time =
        |at: chrono::DateTime<chrono::Utc>| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for run in runs {
        for job in &run.jobs {
            let on_time = job.on_time();
            writeln!(
                out,
                "{},{},{},{},{:.3},{:.3},{},{}",
                run.strategy.name(),
                job.id,
                time(job.submit),
                time(job.deadline),
                job.energy_kwh,
                job.delivered_kwh,
                job.finished.map(time).unwrap_or_default(),
                if job.due_in_period {
                    on_time.to_string()
                } else {
                    "not due".to_owned()
                }
            )?;
        }
    }
    out.flush()
}

/// Writes `rows` as Parquet to `path`.
pub fn write_parquet(path: &Path, rows: &[&Row]) -> Result<(), String> {
    let failed =
        |error: &dyn std::fmt::Display| format!("cannot write {}: {error}", path.display());
    let floats = |name: &str, value: fn(&Row) -> f64| -> Column {
        Series::new(
            name.into(),
            rows.iter().map(|row| value(row)).collect::<Vec<f64>>(),
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
    let columns = vec![
        timestamps,
        strategies,
        floats("price_per_mwh", |r| r.price_per_mwh),
        floats("import_price_per_mwh", |r| r.import_price_per_mwh),
        floats("export_price_per_mwh", |r| r.export_price_per_mwh),
        floats("ev_forecast_kw", |r| r.ev_forecast_kw),
        floats("ev_actual_kw", |r| r.ev_actual_kw),
        floats("import_kw", |r| r.import_kw),
        floats("export_kw", |r| r.export_kw),
        floats("charge_kw", |r| r.charge_kw),
        floats("discharge_kw", |r| r.discharge_kw),
        floats("soc_kwh", |r| r.soc_kwh),
        floats("compute_it_kw", |r| r.compute_it_kw),
        floats("unserved_kw", |r| r.unserved_kw),
        floats("cost", |r| r.cost),
    ];
    let mut frame = DataFrame::new(rows.len(), columns).map_err(|e| failed(&e))?;
    let file = std::fs::File::create(path).map_err(|e| failed(&e))?;
    ParquetWriter::new(file)
        .finish(&mut frame)
        .map(|_| ())
        .map_err(|e| failed(&e))
}
