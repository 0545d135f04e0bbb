//! The schema: one list of migration steps, in SQLite's words, mapped to
//! PostgreSQL's types where they differ, and the step that brings a
//! database up to date at every start.

use super::{Backend, Store, StoreError};

/// The schema, one step per migration, in SQLite's words (see [`dialect`]
/// for PostgreSQL's); a database is moved to the last. SQLite counts the
/// steps applied in `PRAGMA user_version`, PostgreSQL in `arbiter_schema`.
const MIGRATIONS: [&str; 12] = [
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
    "CREATE TABLE charging_forecast (
            site_id TEXT NOT NULL,
            timestamp_utc TEXT NOT NULL,
            kw REAL NOT NULL,
            issued_at TEXT NOT NULL,
            PRIMARY KEY (site_id, timestamp_utc)
        );",
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
    // Fleet mode: each site's plan versions counted in one row (replicas
    // publishing at once take turns on it, so versions stay gap-free), and
    // the claims by which one replica plans a site at a replan instant.
    "CREATE TABLE plan_versions (
            site_id TEXT PRIMARY KEY,
            version INTEGER NOT NULL
        );
        INSERT INTO plan_versions (site_id, version)
            SELECT site_id, MAX(version) FROM plans GROUP BY site_id;
        CREATE TABLE planning_claims (
            site_id TEXT NOT NULL,
            instant TEXT NOT NULL,
            owner TEXT NOT NULL,
            lease_until TEXT NOT NULL,
            done INTEGER NOT NULL,
            PRIMARY KEY (site_id, instant)
        );",
    // Plans at fleet scale: the document compressed (zstd; `body` is then
    // empty), and history found by site and time.
    "ALTER TABLE plans ADD COLUMN document BLOB;
        CREATE INDEX plans_by_time ON plans (site_id, created_at);",
    // Retention: a plan past `plan_retention_days` keeps only what it was
    // in force for.
    "ALTER TABLE plans ADD COLUMN trimmed INTEGER NOT NULL DEFAULT 0;",
    // The simulated clock replicas on one database share.
    "CREATE TABLE simulated_clock (
            id INTEGER PRIMARY KEY,
            start TEXT NOT NULL,
            speed REAL NOT NULL,
            epoch TEXT NOT NULL,
            advanced_ms INTEGER NOT NULL
        );",
    // Which replica runs a backtest, and when it last said it was alive.
    "ALTER TABLE backtests ADD COLUMN runner TEXT;
        ALTER TABLE backtests ADD COLUMN alive_at TEXT;",
    // Backtests readable on every replica: the progress the runner last
    // reported, and the ledger files (zstd) it wrote.
    "ALTER TABLE backtests ADD COLUMN progress TEXT;
        CREATE TABLE backtest_files (
            id TEXT NOT NULL,
            name TEXT NOT NULL,
            content BLOB NOT NULL,
            PRIMARY KEY (id, name)
        );",
    // Plans found by the interval they start at (what ran against what was
    // planned); plans stored before this step get theirs from their
    // document when the store opens (`Store::fill_plan_starts`).
    "ALTER TABLE plans ADD COLUMN start TEXT;
        CREATE INDEX plans_by_start ON plans (site_id, start);",
    // Which upload last wrote each charging reading (a count per site), so
    // that a replica keeping a site's history reads only what changed.
    "ALTER TABLE charging ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE charging_revisions (
            site_id TEXT PRIMARY KEY,
            revision INTEGER NOT NULL
        );
        CREATE INDEX charging_by_revision ON charging (site_id, revision);",
];

/// A migration step in the words of `backend`: PostgreSQL's integers are
/// 64-bit (`BIGINT`, as SQLite's are), its floats `DOUBLE PRECISION`, its
/// bytes `BYTEA` and its sequences `BIGSERIAL`.
fn dialect(step: &str, backend: Backend) -> String {
    match backend {
        Backend::Sqlite => step.to_owned(),
        Backend::Postgres => step
            .replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY")
            .replace(" INTEGER", " BIGINT")
            .replace(" REAL", " DOUBLE PRECISION")
            .replace(" BLOB", " BYTEA"),
    }
}

impl Store {
    /// Applies the migration steps the database has not had, each in one
    /// transaction with the count of steps applied; replicas starting at
    /// once on PostgreSQL take turns (an advisory lock).
    pub(super) async fn migrate(&self) -> Result<(), StoreError> {
        let mut connection = self.pool.acquire().await?;
        if self.backend == Backend::Postgres {
            sqlx::raw_sql(
                "SELECT pg_advisory_lock(7418650001);
                 CREATE TABLE IF NOT EXISTS arbiter_schema (version BIGINT NOT NULL);",
            )
            .execute(&mut *connection)
            .await?;
        }
        let applied: i64 = match self.backend {
            Backend::Sqlite => {
                sqlx::query_scalar("PRAGMA user_version")
                    .fetch_one(&mut *connection)
                    .await?
            }
            Backend::Postgres => {
                sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM arbiter_schema")
                    .fetch_one(&mut *connection)
                    .await?
            }
        };
        let mut result = Ok(());
        for (index, step) in MIGRATIONS.iter().enumerate().skip(applied.max(0) as usize) {
            let number = index + 1;
            let record = match self.backend {
                Backend::Sqlite => format!("PRAGMA user_version = {number};"),
                Backend::Postgres => {
                    format!("INSERT INTO arbiter_schema (version) VALUES ({number});")
                }
            };
            let sql = format!("BEGIN; {} ; {record} COMMIT;", dialect(step, self.backend));
            if let Err(source) = sqlx::raw_sql(&sql).execute(&mut *connection).await {
                let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *connection).await;
                result = Err(StoreError::Migration {
                    step: number,
                    source,
                });
                break;
            }
        }
        if self.backend == Backend::Postgres {
            sqlx::raw_sql("SELECT pg_advisory_unlock(7418650001)")
                .execute(&mut *connection)
                .await?;
        }
        result
    }
}
