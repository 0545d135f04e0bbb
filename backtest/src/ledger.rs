//! Writing a run's ledger: one row per interval and strategy.

use std::io::Write;
use std::path::Path;

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
            let on_time = job.finished.is_some_and(|at| at <= job.deadline);
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
