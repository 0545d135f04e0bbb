//! The service's durable state: one SQLite file in WAL mode, its schema
//! brought up to date by the migrations below at every start.
//!
//! Every write is one transaction, committed before the request is
//! acknowledged (`synchronous = FULL`), so a crash at any point loses no
//! acknowledged write and never leaves half of one. The methods are
//! blocking; the server calls them off the async executor. One module per
//! table holds its row type, its methods on [`Store`] and its row mapper.

mod audit;
mod backtests;
mod charging;
mod jobs;
mod keys;
mod plans;
mod prices;
mod responses;
mod sites;
mod telemetry;

use std::path::Path;
use std::sync::Mutex;

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};

/// The schema, one step per migration; a database is moved to the last.
fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(
            "CREATE TABLE sites (
            id TEXT PRIMARY KEY,
            config TEXT NOT NULL,
            revision INTEGER NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            hash TEXT NOT NULL UNIQUE,
            role TEXT NOT NULL,
            sites TEXT NOT NULL,
            created_at TEXT NOT NULL,
            revoked_at TEXT
        );
        CREATE TABLE audit (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            key_id TEXT NOT NULL,
            method TEXT NOT NULL,
            path TEXT NOT NULL,
            status INTEGER NOT NULL
        );
        CREATE TABLE prices (
            market TEXT NOT NULL,
            day TEXT NOT NULL,
            revision INTEGER NOT NULL,
            currency TEXT NOT NULL,
            start TEXT NOT NULL,
            step_minutes INTEGER NOT NULL,
            prices TEXT NOT NULL,
            uploaded_at TEXT NOT NULL,
            uploaded_by TEXT NOT NULL,
            PRIMARY KEY (market, day, revision)
        );
        CREATE TABLE charging (
            site_id TEXT NOT NULL,
            timestamp_utc TEXT NOT NULL,
            kw REAL NOT NULL,
            PRIMARY KEY (site_id, timestamp_utc)
        );
        CREATE TABLE telemetry (
            site_id TEXT NOT NULL,
            at TEXT NOT NULL,
            soc_kwh REAL,
            meter_kw REAL,
            body TEXT NOT NULL,
            PRIMARY KEY (site_id, at)
        );
        CREATE TABLE plans (
            site_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            status TEXT NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY (site_id, version)
        );
        CREATE TABLE idempotency (
            key_id TEXT NOT NULL,
            idempotency_key TEXT NOT NULL,
            request TEXT NOT NULL,
            status INTEGER NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY (key_id, idempotency_key)
        );",
        ),
        M::up(
            "CREATE TABLE jobs (
            site_id TEXT NOT NULL,
            id TEXT NOT NULL,
            spec TEXT NOT NULL,
            submitted_at TEXT NOT NULL,
            delivered_kwh REAL NOT NULL,
            status TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (site_id, id)
        );",
        ),
        M::up(
            "CREATE TABLE charging_forecast (
            site_id TEXT NOT NULL,
            timestamp_utc TEXT NOT NULL,
            kw REAL NOT NULL,
            issued_at TEXT NOT NULL,
            PRIMARY KEY (site_id, timestamp_utc)
        );",
        ),
        M::up(
            "CREATE TABLE backtests (
            id TEXT PRIMARY KEY,
            created_at TEXT NOT NULL,
            key_id TEXT NOT NULL,
            request TEXT NOT NULL,
            status TEXT NOT NULL,
            started_at TEXT,
            finished_at TEXT,
            report TEXT,
            error TEXT
        );",
        ),
    ])
}

pub use audit::AuditEntry;
pub use backtests::StoredBacktest;
pub use jobs::StoredJob;
pub use keys::StoredKey;
pub use plans::StoredPlan;
pub use prices::{NewPrices, StoredPrices};
pub use responses::StoredResponse;
pub use sites::StoredSite;

/// Why the store could not do something.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused or failed.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The schema could not be brought up to date.
    #[error("database migration: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    /// The data folder cannot be created.
    #[error("cannot create the data folder: {0}")]
    Folder(#[from] std::io::Error),
    /// A stored value cannot be read as its type (an instant, a JSON list).
    #[error("a stored value is unreadable: {0}")]
    Unreadable(String),
    /// A stored JSON value cannot be read (or a value cannot be written).
    #[error("a stored JSON value: {0}")]
    Json(#[from] serde_json::Error),
    /// Another request holds the connection and panicked.
    #[error("database connection poisoned")]
    Poisoned,
}

/// The SQLite database behind one mutex: SQLite has one writer at a time,
/// and the reads the hot paths need are served from memory.
#[derive(Debug)]
pub struct Store {
    connection: Mutex<Connection>,
}

/// Column `index` of `row`, a JSON text, read as `T`: an error when it is
/// not (never a default in its place).
fn json_column<T: serde::de::DeserializeOwned>(
    row: &rusqlite::Row,
    index: usize,
) -> Result<T, rusqlite::Error> {
    let text: String = row.get(index)?;
    serde_json::from_str(&text).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            Box::new(error),
        )
    })
}

/// Now, to the millisecond: what the store keeps of an instant it stamps.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

/// An instant as the store writes its stamps: RFC 3339, UTC, milliseconds.
pub fn millis(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An instant on an interval grid as the store writes it: RFC 3339, UTC,
/// whole seconds.
pub fn seconds(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Serializes an instant as the store writes its stamps ([`millis`]).
pub fn serialize_millis<S: serde::Serializer>(
    at: &DateTime<Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&millis(*at))
}

/// Column `index` of `row`, an RFC 3339 instant: an error when it is not
/// (never a made-up time in its place).
fn time_column(row: &rusqlite::Row, index: usize) -> Result<DateTime<Utc>, rusqlite::Error> {
    let text: String = row.get(index)?;
    parse_time(&text, index)
}

/// [`time_column`] of a column that may be NULL.
fn optional_time_column(
    row: &rusqlite::Row,
    index: usize,
) -> Result<Option<DateTime<Utc>>, rusqlite::Error> {
    let text: Option<String> = row.get(index)?;
    text.map(|text| parse_time(&text, index)).transpose()
}

fn parse_time(text: &str, index: usize) -> Result<DateTime<Utc>, rusqlite::Error> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|error| {
            rusqlite::Error::FromSqlConversionFailure(
                index,
                rusqlite::types::Type::Text,
                Box::new(error),
            )
        })
}

impl Store {
    /// Opens (creating if needed) `dir/arbiter.sqlite`, in WAL mode with
    /// full sync, and applies the migrations.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir)?;
        let mut connection = Connection::open(dir.join("arbiter.sqlite"))?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        migrations().to_latest(&mut connection)?;
        Ok(Store {
            connection: Mutex::new(connection),
        })
    }

    /// Runs `f` on the connection (one at a time).
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, rusqlite::Error>,
    ) -> Result<T, StoreError> {
        let mut connection = self.connection.lock().map_err(|_| StoreError::Poisoned)?;
        f(&mut connection).map_err(|error| match error {
            rusqlite::Error::FromSqlConversionFailure(..) => {
                StoreError::Unreadable(error.to_string())
            }
            other => StoreError::Sqlite(other),
        })
    }

    /// Whether the database answers.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.with(|c| c.query_row("SELECT 1", [], |_| Ok(())))
    }
}

/// A store in a fresh temporary folder, for the tests beside each table.
#[cfg(test)]
pub(crate) fn temp_store(name: &str) -> (Store, tempfile::TempDir) {
    let dir = tempfile::Builder::new()
        .prefix(&format!("arbiter-store-{name}-"))
        .tempdir()
        .expect("a temp folder");
    (Store::open(dir.path()).expect("a store"), dir)
}
