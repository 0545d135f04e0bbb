//! Day-ahead price series from CSV files (read with polars).

use std::path::{Path, PathBuf};

use crate::error::IngestError;
use crate::series::Series;
use crate::table::read_series;
use crate::timestamps::TimeColumn;

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
/// numbers (negative ones are fine). All bad rows are reported at once;
/// nothing is repaired.
pub fn read_prices(source: &PriceSource) -> Result<PriceSeries, IngestError> {
    let series = read_series(&source.path, &source.time, &source.price_column, |_| Ok(()))?;
    Ok(PriceSeries {
        series,
        currency: source.currency.clone(),
        market: source.market.clone(),
    })
}
