//! EV charging load: a metered series, or session logs turned into load.
//!
//! **From sessions**, the rule: a session draws its charger's rated power
//! (per charger when the log names them, see [`SessionSource::ratings`])
//! from arrival until its energy is delivered (`energy_kwh / rated_kw`
//! hours), then nothing. Energy is conserved exactly; power never exceeds
//! the rating. A log whose plug-in time is too short for its energy at the
//! rated power (inconsistent records) still gets all its energy, drawn past
//! the logged departure. Real chargers taper near full, so 15-minute peaks
//! from this rule are a little higher than metered ones.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::error::{IngestError, RowIssue};
use crate::series::Series;
use crate::table::{instant, number, read_series, read_table, string_column};
use crate::timestamps::{TimeColumn, TimestampReader};

/// Reads a metered load series (kW per interval, ≥ 0) with the same row
/// rules as prices.
pub fn read_metered_load(
    path: impl AsRef<Path>,
    time: &TimeColumn,
    kw_column: &str,
) -> Result<Series, IngestError> {
    read_series(path.as_ref(), time, kw_column, |kw| {
        if kw < 0.0 {
            Err(format!("{kw_column} ({kw}) must be ≥ 0"))
        } else {
            Ok(())
        }
    })
}

/// One charging session.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// Plug-in.
    pub arrival: DateTime<Utc>,
    /// Plug-out.
    pub departure: DateTime<Utc>,
    /// Energy delivered, kWh.
    pub energy_kwh: f64,
    /// The rated power of the charger it used, kW, when the log says which
    /// charger that was.
    pub rated_kw: Option<f64>,
}

/// Where a session log is and how to read it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSource {
    /// The CSV file.
    pub path: PathBuf,
    /// Arrival column (read like [`TimeColumn`]; the zone applies to both times).
    pub arrival: TimeColumn,
    /// Departure column name.
    pub departure_column: String,
    /// Energy column name, kWh.
    pub energy_column: String,
    /// Per-charger ratings: the column naming each session's charger (or
    /// its model) and the rated kW of each value in it. A session whose
    /// charger is not listed is left out (and said so).
    pub ratings: Option<ChargerRatings>,
}

/// Rated power by charger: which column names the charger, and each one's kW.
#[derive(Debug, Clone, PartialEq)]
pub struct ChargerRatings {
    /// Column naming the charger, e.g. `charger_model` or `cp_id`.
    pub column: String,
    /// Rated kW of each charger value.
    pub kw: Vec<(String, f64)>,
}

impl SessionSource {
    /// A CSV file with columns `arrival_utc`, `departure_utc`, `energy_kwh`.
    pub fn csv(path: impl AsRef<Path>) -> Self {
        SessionSource {
            path: path.as_ref().to_path_buf(),
            arrival: TimeColumn::utc("arrival_utc"),
            departure_column: "departure_utc".to_owned(),
            energy_column: "energy_kwh".to_owned(),
            ratings: None,
        }
    }

    /// Reads each session's charger from `column`, rated as in `kw`.
    pub fn with_ratings(mut self, column: &str, kw: &[(&str, f64)]) -> Self {
        self.ratings = Some(ChargerRatings {
            column: column.to_owned(),
            kw: kw
                .iter()
                .map(|&(charger, kw)| (charger.to_owned(), kw))
                .collect(),
        });
        self
    }
}

/// The sessions of a log, and the rows left out with why.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionLog {
    /// Usable sessions, in file order.
    pub sessions: Vec<Session>,
    /// Rows that could not be used (missing or bad times or energy, departure
    /// before arrival), each with its line: left out, and said so.
    pub skipped: Vec<RowIssue>,
}

/// Reads a session log. Real logs have incomplete rows (a session with no
/// end time, no energy); those are listed in [`SessionLog::skipped`] rather
/// than failing the whole log.
pub fn read_sessions(source: &SessionSource) -> Result<SessionLog, IngestError> {
    let path = source.path.display().to_string();
    let frame = read_table(&source.path)?;
    let arrivals = string_column(&frame, &path, source.arrival.column())?;
    let departures = string_column(&frame, &path, &source.departure_column)?;
    let energies = string_column(&frame, &path, &source.energy_column)?;
    let chargers = match &source.ratings {
        Some(ratings) => Some((ratings, string_column(&frame, &path, &ratings.column)?)),
        None => None,
    };
    let departure_time = match &source.arrival {
        TimeColumn::Utc { .. } => TimeColumn::utc(&source.departure_column),
        TimeColumn::Local { zone, .. } => TimeColumn::local(&source.departure_column, *zone),
    };
    let mut arrival_reader = TimestampReader::new(&source.arrival);
    let mut departure_reader = TimestampReader::new(&departure_time);
    let mut log = SessionLog {
        sessions: Vec::new(),
        skipped: Vec::new(),
    };
    for i in 0..arrivals.len() {
        let line = i + 2;
        let arrival = instant(
            &mut arrival_reader,
            arrivals[i].as_deref(),
            source.arrival.column(),
        );
        let departure = instant(
            &mut departure_reader,
            departures[i].as_deref(),
            &source.departure_column,
        );
        let energy = number(energies[i].as_deref(), &source.energy_column).and_then(|kwh| {
            if kwh < 0.0 {
                Err(format!("{} ({kwh}) must be ≥ 0", source.energy_column))
            } else {
                Ok(kwh)
            }
        });
        let rated_kw = match &chargers {
            None => Ok(None),
            Some((ratings, cells)) => {
                let charger = cells[i].as_deref().unwrap_or("").trim();
                ratings
                    .kw
                    .iter()
                    .find(|(name, _)| name == charger)
                    .map(|&(_, kw)| Some(kw))
                    .ok_or_else(|| {
                        format!(
                            "{} {charger:?} has no rating (rated: {})",
                            ratings.column,
                            ratings
                                .kw
                                .iter()
                                .map(|(name, kw)| format!("{name} = {kw} kW"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    })
            }
        };
        let session = match (arrival, departure, energy, rated_kw) {
            (Ok(arrival), Ok(departure), Ok(energy_kwh), Ok(rated_kw)) if departure >= arrival => {
                Ok(Session {
                    arrival,
                    departure,
                    energy_kwh,
                    rated_kw,
                })
            }
            (Ok(_), Ok(_), Ok(_), Ok(_)) => Err(format!(
                "{} is before {}",
                source.departure_column,
                source.arrival.column()
            )),
            (arrival, departure, energy, rated_kw) => {
                Err(
                    [arrival.err(), departure.err(), energy.err(), rated_kw.err()]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            }
        };
        match session {
            Ok(session) => log.sessions.push(session),
            Err(reason) => log.skipped.push(RowIssue { line, reason }),
        }
    }
    Ok(log)
}

/// The load the sessions draw, kW per interval, on the grid of `start`,
/// `step_minutes` and `intervals` (see the module documentation for the
/// rule). A session's own charger rating wins over `default_rated_kw`.
/// Energy drawn outside the grid is not counted.
pub fn sessions_to_load(
    sessions: &[Session],
    default_rated_kw: f64,
    start: DateTime<Utc>,
    step_minutes: u32,
    intervals: usize,
) -> Series {
    let step_hours = f64::from(step_minutes) / 60.0;
    let mut energy_kwh = vec![0.0; intervals];
    if step_minutes > 0 {
        let step_seconds = f64::from(step_minutes) * 60.0;
        for session in sessions {
            let rated_kw = session.rated_kw.unwrap_or(default_rated_kw);
            if rated_kw <= 0.0 {
                continue;
            }
            let from = (session.arrival - start).num_milliseconds() as f64 / 1000.0;
            let until = from + session.energy_kwh / rated_kw * 3600.0;
            let first = (from / step_seconds).floor().max(0.0) as usize;
            let last = ((until / step_seconds).ceil().max(0.0) as usize).min(intervals);
            for (t, energy) in energy_kwh.iter_mut().enumerate().take(last).skip(first) {
                let begin = t as f64 * step_seconds;
                let overlap = (until.min(begin + step_seconds) - from.max(begin)).max(0.0);
                *energy += rated_kw * overlap / 3600.0;
            }
        }
    }
    Series {
        start,
        step_minutes,
        values: energy_kwh.into_iter().map(|kwh| kwh / step_hours).collect(),
    }
}
