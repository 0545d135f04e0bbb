//! Turning a timestamp column into UTC instants.
//!
//! Two kinds of column:
//!
//! - **UTC**: RFC 3339 instants (`2023-03-26T01:00:00Z`, or with any offset),
//!   or naive `YYYY-MM-DD HH:MM[:SS]` read as UTC.
//! - **Local** wall-clock times of an IANA zone (`Europe/Berlin`). A time
//!   with an offset (`2023-10-29T02:00:00+01:00`) is that instant. A naive
//!   wall-clock time follows this rule on DST days:
//!   - the repeated hour (fall back): the first row showing a wall-clock time
//!     is the earlier instant (summer time), the next row showing the same
//!     wall-clock time the later one (winter time); a third is an error;
//!   - the missing hour (spring forward): a wall-clock time inside it does
//!     not exist, and its row is an error.

use std::collections::HashMap;

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Which column holds the timestamps, and how to read it.
#[derive(Debug, Clone, PartialEq)]
pub enum TimeColumn {
    /// UTC instants (or instants with an offset).
    Utc {
        /// Column name.
        column: String,
    },
    /// Wall-clock times of an IANA zone (see the module documentation for
    /// the DST rule).
    Local {
        /// Column name.
        column: String,
        /// The zone, e.g. `Europe/Berlin`.
        zone: Tz,
    },
}

impl TimeColumn {
    /// A UTC column.
    pub fn utc(column: &str) -> Self {
        TimeColumn::Utc {
            column: column.to_owned(),
        }
    }

    /// A wall-clock column in `zone`.
    pub fn local(column: &str, zone: Tz) -> Self {
        TimeColumn::Local {
            column: column.to_owned(),
            zone,
        }
    }

    /// The column's name.
    pub fn column(&self) -> &str {
        match self {
            TimeColumn::Utc { column } | TimeColumn::Local { column, .. } => column,
        }
    }
}

const NAIVE_FORMATS: [&str; 4] = [
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
];

fn naive(text: &str) -> Option<NaiveDateTime> {
    NAIVE_FORMATS
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
}

/// Reads timestamps row by row, remembering which repeated wall-clock times
/// it has already seen.
pub(crate) struct TimestampReader<'a> {
    column: &'a TimeColumn,
    seen_ambiguous: HashMap<NaiveDateTime, u8>,
}

impl<'a> TimestampReader<'a> {
    pub fn new(column: &'a TimeColumn) -> Self {
        TimestampReader {
            column,
            seen_ambiguous: HashMap::new(),
        }
    }

    /// The instant of one cell, or why it has none.
    pub fn read(&mut self, text: &str) -> Result<DateTime<Utc>, String> {
        let text = text.trim();
        if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
            return Ok(instant.with_timezone(&Utc));
        }
        let Some(wall) = naive(text) else {
            return Err(format!(
                "{text:?} is not a timestamp (expected e.g. 2023-03-26T01:00:00Z)"
            ));
        };
        let zone = match self.column {
            TimeColumn::Utc { .. } => return Ok(wall.and_utc()),
            TimeColumn::Local { zone, .. } => zone,
        };
        match zone.from_local_datetime(&wall) {
            LocalResult::Single(instant) => Ok(instant.with_timezone(&Utc)),
            LocalResult::Ambiguous(earlier, later) => {
                let seen = self.seen_ambiguous.entry(wall).or_insert(0);
                *seen += 1;
                match *seen {
                    1 => Ok(earlier.with_timezone(&Utc)),
                    2 => Ok(later.with_timezone(&Utc)),
                    _ => Err(format!(
                        "{text} occurs a third time; in {zone} it occurs at most twice (once per offset)"
                    )),
                }
            }
            LocalResult::None => Err(format!(
                "{text} does not exist in {zone} (clocks skip it when DST starts)"
            )),
        }
    }
}
