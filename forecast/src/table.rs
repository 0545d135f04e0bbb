//! Reading CSV tables with polars, cell by cell, with row-level errors.

use std::path::Path;

use chrono::{DateTime, Utc};
use polars::prelude::{CsvReadOptions, DataFrame, SerReader};

use crate::error::{IngestError, RowIssue};
use crate::series::{Series, from_rows};
use crate::timestamps::{TimeColumn, TimestampReader};

/// Reads a CSV file with every column as text (types are checked row by row).
pub(crate) fn read_csv(path: &Path) -> Result<DataFrame, IngestError> {
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
    let text = column.str().map_err(|e| IngestError::Unreadable {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    Ok(text.iter().map(|cell| cell.map(str::to_owned)).collect())
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
    let frame = read_csv(path)?;
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
