//! The service's durable state, over either of two databases chosen by the
//! database URL: SQLite (`sqlite://PATH`, the embedded default: one file in
//! WAL mode with full sync) or PostgreSQL (`postgres://…`, for fleets). One
//! schema serves both, brought up to date by the migrations below at every
//! start; the statements are written once, in the SQL both accept.
//!
//! Every write is one transaction, committed before the request is
//! acknowledged, so a crash at any point loses no acknowledged write and
//! never leaves half of one. One module per table holds its row type, its
//! methods on [`Store`] and its row mapper.

mod audit;
mod backtests;
mod charging;
mod claims;
mod clock;
mod jobs;
mod keys;
mod plans;
mod prices;
mod responses;
mod schema;
mod sites;
mod telemetry;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

pub use audit::AuditEntry;
pub use backtests::StoredBacktest;
pub use charging::ChangedReadings;
pub use claims::{Claim, Claimed};
pub use clock::SharedClock;
pub use jobs::{StoredJob, running_jobs};
pub use keys::StoredKey;
pub use plans::{Announcement, StoredPlan};
pub use prices::{NewPrices, StoredPrices};
pub use responses::{Reserved, StoredResponse};
pub use sites::StoredSite;
pub use telemetry::TelemetryNow;

/// Why the store could not do something.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed, or cannot be reached.
    #[error("database: {0}")]
    Database(sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("database migration {step}: {source}")]
    Migration {
        /// The step (1 for the first).
        step: usize,
        /// What the database said.
        source: sqlx::Error,
    },
    /// The database URL names no database this build speaks.
    #[error("database URL {0:?}: must start with sqlite:// or postgres://")]
    Url(String),
    /// The data folder cannot be created.
    #[error("cannot create the data folder: {0}")]
    Folder(#[from] std::io::Error),
    /// A stored value cannot be read as its type (an instant, a JSON list).
    #[error("a stored value is unreadable: {0}")]
    Unreadable(String),
    /// The planning claim lapsed and another replica took it: this one
    /// must not publish.
    #[error("the planning claim was taken over by another replica")]
    ClaimLost,
    /// A stored JSON value cannot be read (or a value cannot be written).
    #[error("a stored JSON value: {0}")]
    Json(#[from] serde_json::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                StoreError::Unreadable(error.to_string())
            }
            other => StoreError::Database(other),
        }
    }
}

impl StoreError {
    /// Whether the database is away (not answering, restarting, refusing
    /// connections) rather than refusing the request: worth a retry.
    pub fn is_unavailable(&self) -> bool {
        let StoreError::Database(error) = self else {
            return false;
        };
        match error {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Tls(_) => true,
            // PostgreSQL's connection exceptions (class 08), its operator
            // interventions (57: shutting down, cannot connect now) and
            // SQLite's busy database.
            sqlx::Error::Database(error) => error.code().is_some_and(|code| {
                code.starts_with("08") || code.starts_with("57") || code == "5" || code == "6"
            }),
            _ => false,
        }
    }
}

/// Which database a store is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One SQLite file.
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
}

/// The database, through a pool of connections.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

/// Column `index` of `row`, a JSON text, read as `T`: an error when it is
/// not (never a default in its place).
fn json_column<T: serde::de::DeserializeOwned>(
    row: &AnyRow,
    index: usize,
) -> Result<T, StoreError> {
    let text: String = row.try_get(index)?;
    serde_json::from_str(&text)
        .map_err(|error| StoreError::Unreadable(format!("column {index}: {error}")))
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

/// The next number of a per-site count kept in one row of `table` (`site_id`,
/// `column`): 1 for a site's first, then one more each time. Concurrent
/// transactions take turns on the row, and one rolled back uses no number.
async fn next_count(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    table: &str,
    column: &str,
    site_id: &str,
) -> Result<i64, StoreError> {
    let count = sqlx::query_scalar(&format!(
        "INSERT INTO {table} (site_id, {column}) VALUES ($1, 1)
         ON CONFLICT (site_id) DO UPDATE SET {column} = {table}.{column} + 1
         RETURNING {column}"
    ))
    .bind(site_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(count)
}

/// Column `index` of `row`, an RFC 3339 instant: an error when it is not
/// (never a made-up time in its place).
fn time_column(row: &AnyRow, index: usize) -> Result<DateTime<Utc>, StoreError> {
    let text: String = row.try_get(index)?;
    parse_time(&text, index)
}

/// [`time_column`] of a column that may be NULL.
fn optional_time_column(row: &AnyRow, index: usize) -> Result<Option<DateTime<Utc>>, StoreError> {
    let text: Option<String> = row.try_get(index)?;
    text.map(|text| parse_time(&text, index)).transpose()
}

fn parse_time(text: &str, index: usize) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|error| StoreError::Unreadable(format!("column {index}: {text:?}: {error}")))
}

/// The PostgreSQL channel on which each published plan is announced, as
/// `"<site> <version>"`.
pub const PLANS_CHANNEL: &str = "arbiter_plans";

/// The PostgreSQL channel on which an advance of the shared simulated
/// clock is announced.
pub const CLOCK_CHANNEL: &str = "arbiter_clock";

/// Connections a replica keeps to PostgreSQL at most.
const POSTGRES_CONNECTIONS: u32 = 16;

/// How long a request waits for a connection before it fails (answered
/// 503: the database is away or every connection is busy).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

impl Store {
    /// Opens (creating if needed) `dir/arbiter.sqlite`.
    pub async fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir)?;
        Store::connect(&sqlite_url(&dir.join("arbiter.sqlite"))).await
    }

    /// Connects to the database `url` names (`sqlite://PATH` or
    /// `postgres://…`) and applies the migrations. SQLite is opened in WAL
    /// mode with full sync, through one connection (SQLite has one writer
    /// at a time); PostgreSQL through a pool of [`POSTGRES_CONNECTIONS`].
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::Url(redacted(url)));
        };
        let options = AnyConnectOptions::from_str(url)?;
        let pool = match backend {
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .after_connect(|connection, _| {
                        Box::pin(async move {
                            connection
                                .execute(
                                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
                                     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                                )
                                .await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(POSTGRES_CONNECTIONS)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with(options)
                    .await?
            }
        };
        let store = Store { pool, backend };
        store.migrate().await?;
        store.fill_plan_starts().await?;
        Ok(store)
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database answers within a second.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let answer = tokio::time::timeout(
            Duration::from_secs(1),
            sqlx::query("SELECT 1").execute(&self.pool),
        )
        .await
        .map_err(|_| StoreError::Database(sqlx::Error::PoolTimedOut))?;
        answer?;
        Ok(())
    }
}

/// `url` as it may be shown: any password replaced by `***`.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// The database `url` names, as the service says where it stores: the
/// SQLite file, or PostgreSQL and its URL without a password.
pub fn describe(url: &str) -> String {
    match url.strip_prefix("sqlite://") {
        Some(path) => format!(
            "{} (SQLite, WAL)",
            path.split_once('?').map_or(path, |(path, _)| path)
        ),
        None => format!("{} (PostgreSQL)", redacted(url)),
    }
}

/// The URL of the SQLite file at `path`, created if missing.
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// A store in a fresh temporary folder, for the tests beside each table.
#[cfg(test)]
pub(crate) async fn temp_store(name: &str) -> (Store, tempfile::TempDir) {
    let dir = tempfile::Builder::new()
        .prefix(&format!("arbiter-store-{name}-"))
        .tempdir()
        .expect("a temp folder");
    (Store::open(dir.path()).await.expect("a store"), dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_is_described_without_its_password() {
        assert_eq!(
            describe("sqlite://data/arbiter.sqlite?mode=rwc"),
            "data/arbiter.sqlite (SQLite, WAL)"
        );
        assert_eq!(
            describe("postgres://arbiter:secret@db.internal:5432/fleet"),
            "postgres://arbiter:***@db.internal:5432/fleet (PostgreSQL)"
        );
        assert_eq!(
            redacted("postgres://arbiter@db/fleet"),
            "postgres://arbiter@db/fleet"
        );
    }

    #[tokio::test]
    async fn a_url_of_another_database_is_refused_naming_the_schemes() {
        let error = Store::connect("mysql://root:pw@db/arbiter")
            .await
            .expect_err("refused");
        assert_eq!(
            error.to_string(),
            "database URL \"mysql://root:***@db/arbiter\": must start with sqlite:// or postgres://"
        );
    }
}
