//! Reading CSV and Parquet tables with polars, cell by cell, with row-level
//! errors.

use std::fs::File;
use std::path::Path;

use chrono::{DateTime, Utc};
use polars::prelude::{
    Column, CsvReadOptions, DataFrame, DataType, ParquetReader, SerReader, TimeUnit,
};

use crate::error::{IngestError, RowIssue};
use crate::series::{Series, from_rows};
use crate::timestamps::{TimeColumn, TimestampReader};

/// Reads a table: Parquet when the file name ends in `.parquet`, else CSV.
/// Cells are then read as text either way, so both formats follow the same
/// row rules.
pub(crate) fn read_table(path: &Path) -> Result<DataFrame, IngestError> {
    let is_parquet = path
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("parquet"));
    if is_parquet {
        read_parquet(path)
    } else {
        read_csv(path)
    }
}

fn read_parquet(path: &Path) -> Result<DataFrame, IngestError> {
    let unreadable = |message: String| IngestError::Unreadable {
        path: path.display().to_string(),
        message,
    };
    let file = File::open(path).map_err(|e| unreadable(e.to_string()))?;
    ParquetReader::new(file)
        .finish()
        .map_err(|e| unreadable(e.to_string()))
}

/// Reads a CSV file with every column as text (types are checked row by row).
fn read_csv(path: &Path) -> Result<DataFrame, IngestError> {
    let unreadable = |message: String| IngestError::Unreadable {
        path: path.display().to_string(),
        message,
    };
    CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .map_err(|e| unreadable(e.to_string()))?
        .finish()
        .map_err(|e| unreadable(e.to_string()))
}

/// A column's cells as optional text.
pub(crate) fn string_column(
    frame: &DataFrame,
    path: &str,
    name: &str,
) -> Result<Vec<Option<String>>, IngestError> {
    let column = frame.column(name).map_err(|_| IngestError::MissingColumn {
        path: path.to_owned(),
        column: name.to_owned(),
        available: frame
            .get_column_names()
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    })?;
    as_text(column).map_err(|message| IngestError::Unreadable {
        path: path.to_owned(),
        message: format!("column {name:?}: {message}"),
    })
}

/// A column the file may lack: `None` when it has no such column.
pub(crate) fn optional_column(
    frame: &DataFrame,
    path: &str,
    name: &str,
) -> Result<Option<Vec<Option<String>>>, IngestError> {
    if frame.column(name).is_err() {
        return Ok(None);
    }
    string_column(frame, path, name).map(Some)
}

/// A column's cells as text: text as is, numbers in their shortest form,
/// date-times as RFC 3339 (with `Z` when the column has a time zone, naive
/// wall-clock text when it has none).
fn as_text(column: &Column) -> Result<Vec<Option<String>>, String> {
    match column.dtype() {
        DataType::String => Ok(column
            .str()
            .map_err(|e| e.to_string())?
            .iter()
            .map(|cell| cell.map(str::to_owned))
            .collect()),
        DataType::Datetime(unit, zone) => {
            let nanos_per_unit = match unit {
                TimeUnit::Nanoseconds => 1,
                TimeUnit::Microseconds => 1_000,
                TimeUnit::Milliseconds => 1_000_000,
            };
            let has_zone = zone.is_some();
            let raw = column.cast(&DataType::Int64).map_err(|e| e.to_string())?;
            Ok(raw
                .i64()
                .map_err(|e| e.to_string())?
                .iter()
                .map(|cell| {
                    let at = DateTime::<Utc>::from_timestamp_nanos(cell? * nanos_per_unit);
                    Some(if has_zone {
                        at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
                    } else {
                        at.naive_utc().format("%Y-%m-%dT%H:%M:%S").to_string()
                    })
                })
                .collect())
        }
        dtype if dtype.is_primitive_numeric() => {
            let numbers = column.cast(&DataType::Float64).map_err(|e| e.to_string())?;
            Ok(numbers
                .f64()
                .map_err(|e| e.to_string())?
                .iter()
                .map(|cell| cell.map(|value| value.to_string()))
                .collect())
        }
        dtype => Err(format!(
            "{dtype} cells cannot be read (use text, numbers or date-times)"
        )),
    }
}

/// A cell as a finite number, or why not.
pub(crate) fn number(cell: Option<&str>, column: &str) -> Result<f64, String> {
    match cell.map(str::trim) {
        None | Some("") => Err(format!("{column} is missing")),
        Some(text) => match text.parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(value),
            _ => Err(format!("{column} ({text}) is not a finite number")),
        },
    }
}

/// A cell as an instant, or why not.
pub(crate) fn instant(
    reader: &mut TimestampReader<'_>,
    cell: Option<&str>,
    column: &str,
) -> Result<DateTime<Utc>, String> {
    match cell {
        None => Err(format!("{column} is missing")),
        Some(text) => reader.read(text),
    }
}

/// Reads a time column and a value column into a regular series; `check`
/// adds a rule on each value (`Err(reason)` when it breaks it).
pub(crate) fn read_series(
    path: &Path,
    time: &TimeColumn,
    value_column: &str,
    check: impl Fn(f64) -> Result<(), String>,
) -> Result<Series, IngestError> {
    let name = path.display().to_string();
    let frame = read_table(path)?;
    let times = string_column(&frame, &name, time.column())?;
    let values = string_column(&frame, &name, value_column)?;
    let mut reader = TimestampReader::new(time);
    let mut issues = Vec::new();
    let mut rows = Vec::with_capacity(times.len());
    for (i, (time_cell, value_cell)) in times.iter().zip(&values).enumerate() {
        let line = i + 2;
        let at = instant(&mut reader, time_cell.as_deref(), time.column());
        let value = number(value_cell.as_deref(), value_column).and_then(|v| check(v).map(|()| v));
        match (at, value) {
            (Ok(at), Ok(value)) => rows.push((line, at, value)),
            (at, value) => {
                for reason in [at.err(), value.err()].into_iter().flatten() {
                    issues.push(RowIssue { line, reason });
                }
            }
        }
    }
    if !issues.is_empty() {
        return Err(IngestError::Rows { path: name, issues });
    }
    from_rows(&name, &rows)
}
