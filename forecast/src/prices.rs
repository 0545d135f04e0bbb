//! Day-ahead price series from CSV files (read with polars).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use polars::prelude::{CsvReadOptions, DataFrame, SerReader};

use crate::error::{IngestError, RowIssue};
use crate::series::{Series, from_rows};
use crate::timestamps::{TimeColumn, TimestampReader};

/// Where a price series is and how to read it.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceSource {
    /// The CSV file.
    pub path: PathBuf,
    /// The timestamp column (interval starts).
    pub time: TimeColumn,
    /// The price column, per MWh.
    pub price_column: String,
    /// Currency, as metadata (e.g. `EUR`).
    pub currency: Option<String>,
    /// Market zone, as metadata (e.g. `DE-LU`).
    pub market: Option<String>,
}

impl PriceSource {
    /// A CSV file with the defaults of Arbiter's own files: UTC column
    /// `timestamp_utc` and price column `price_per_mwh`.
    pub fn csv(path: impl AsRef<Path>) -> Self {
        PriceSource {
            path: path.as_ref().to_path_buf(),
            time: TimeColumn::utc("timestamp_utc"),
            price_column: "price_per_mwh".to_owned(),
            currency: None,
            market: None,
        }
    }

    /// Reads timestamps from this column.
    pub fn time(mut self, time: TimeColumn) -> Self {
        self.time = time;
        self
    }

    /// Reads prices from this column.
    pub fn price_column(mut self, column: &str) -> Self {
        self.price_column = column.to_owned();
        self
    }

    /// Records the currency and market zone.
    pub fn about(mut self, currency: &str, market: &str) -> Self {
        self.currency = Some(currency.to_owned());
        self.market = Some(market.to_owned());
        self
    }
}

/// A validated price series with its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceSeries {
    /// Prices per MWh on a regular UTC grid.
    pub series: Series,
    /// Currency, if known.
    pub currency: Option<String>,
    /// Market zone, if known.
    pub market: Option<String>,
}

/// Reads a price file and checks every row: timestamps must parse, be in
/// order, unique and on one regular grid without gaps; prices must be finite
/// numbers. All bad rows are reported at once; nothing is repaired.
pub fn read_prices(source: &PriceSource) -> Result<PriceSeries, IngestError> {
    let path = source.path.display().to_string();
    let frame = read_csv(&source.path)?;
    let times = string_column(&frame, &path, source.time.column())?;
    let prices = string_column(&frame, &path, &source.price_column)?;
    let mut reader = TimestampReader::new(&source.time);
    let mut issues = Vec::new();
    let mut rows: Vec<(usize, DateTime<Utc>, f64)> = Vec::with_capacity(times.len());
    for (i, (time, price)) in times.iter().zip(&prices).enumerate() {
        let line = i + 2;
        let instant = match time.as_deref().map(|text| reader.read(text)) {
            Some(Ok(instant)) => Some(instant),
            Some(Err(reason)) => {
                issues.push(RowIssue { line, reason });
                None
            }
            None => {
                issues.push(RowIssue {
                    line,
                    reason: format!("{} is missing", source.time.column()),
                });
                None
            }
        };
        let value = match price.as_deref().map(str::trim) {
            None | Some("") => {
                issues.push(RowIssue {
                    line,
                    reason: format!("{} is missing", source.price_column),
                });
                None
            }
            Some(text) => match text.parse::<f64>() {
                Ok(value) if value.is_finite() => Some(value),
                _ => {
                    let reason = format!("{} ({text}) is not a finite number", source.price_column);
                    issues.push(RowIssue { line, reason });
                    None
                }
            },
        };
        if let (Some(instant), Some(value)) = (instant, value) {
            rows.push((line, instant, value));
        }
    }
    if !issues.is_empty() {
        return Err(IngestError::Rows { path, issues });
    }
    let series = from_rows(&path, &rows)?;
    Ok(PriceSeries {
        series,
        currency: source.currency.clone(),
        market: source.market.clone(),
    })
}

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
