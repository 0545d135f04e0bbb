//! What can go wrong reading data: the file, its columns, or its rows.

use std::fmt;

/// One bad row: its line in the file (the header is line 1) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowIssue {
    /// Line number in the file, counting the header as line 1.
    pub line: usize,
    /// What is wrong, in words.
    pub reason: String,
}

impl fmt::Display for RowIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// Why a data file could not be read into a series. Nothing is repaired
/// silently: every bad row is reported.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The file could not be opened or parsed as CSV/Parquet.
    #[error("cannot read {path}: {message}")]
    Unreadable {
        /// The file.
        path: String,
        /// The reader's explanation.
        message: String,
    },
    /// A column the source names is not in the file.
    #[error("{path} has no column {column:?} (columns: {available})")]
    MissingColumn {
        /// The file.
        path: String,
        /// The column asked for.
        column: String,
        /// The columns the file has, comma-separated.
        available: String,
    },
    /// The file has no data rows.
    #[error("{path} has no data rows")]
    Empty {
        /// The file.
        path: String,
    },
    /// Rows that break a rule; all of them, in file order.
    #[error("{path}: {} bad row{}:\n{}", issues.len(), if issues.len() == 1 { "" } else { "s" }, list(issues))]
    Rows {
        /// The file.
        path: String,
        /// Every bad row.
        issues: Vec<RowIssue>,
    },
    /// A resampling that cannot be exact.
    #[error("cannot resample from {from} to {to} minutes: {reason}")]
    Resample {
        /// Step of the series, minutes.
        from: u32,
        /// Step asked for, minutes.
        to: u32,
        /// Why not.
        reason: String,
    },
}

fn list(issues: &[RowIssue]) -> String {
    issues
        .iter()
        .map(|issue| format!("  {issue}"))
        .collect::<Vec<_>>()
        .join("\n")
}
