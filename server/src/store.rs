//! The service's durable state: one SQLite file in WAL mode, its schema
//! brought up to date by the migrations below at every start.
//!
//! Every write is one transaction, committed before the request is
//! acknowledged (`synchronous = FULL`), so a crash at any point loses no
//! acknowledged write and never leaves half of one. The methods are
//! blocking; the server calls them off the async executor.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
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
    /// Another request holds the connection and panicked.
    #[error("database connection poisoned")]
    Poisoned,
}

/// A stored site.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSite {
    /// Its id.
    pub id: String,
    /// Its configuration, as canonical TOML.
    pub config: String,
    /// Incremented by every update, from 1.
    pub revision: i64,
    /// When it was last written (RFC 3339, UTC).
    pub updated_at: String,
}

/// A stored API key (never the token, only its hash).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredKey {
    /// Public identifier, shown in lists and the audit table.
    pub id: String,
    /// `controller`, `trader`, `analyst` or `admin`.
    pub role: String,
    /// Sites a controller key may act for.
    pub sites: Vec<String>,
    /// When it was created.
    pub created_at: String,
    /// When it was revoked, if it was.
    pub revoked_at: Option<String>,
}

/// One revision of a market day's prices.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPrices {
    /// The market.
    pub market: String,
    /// The delivery day, local to the market (`YYYY-MM-DD`).
    pub day: String,
    /// 1 for the first upload, +1 for each correction.
    pub revision: i64,
    /// Currency of the prices.
    pub currency: String,
    /// UTC start of the first interval.
    pub start: String,
    /// Interval, minutes.
    pub step_minutes: i64,
    /// Prices per MWh, one per interval.
    pub prices: Vec<f64>,
    /// When this revision was stored.
    pub uploaded_at: String,
    /// The key that uploaded it.
    pub uploaded_by: String,
}

/// A published plan.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPlan {
    /// The site.
    pub site_id: String,
    /// 1 for the site's first plan, +1 for each after.
    pub version: i64,
    /// When it was published.
    pub created_at: String,
    /// The plan's solve status.
    pub status: String,
    /// The published document (JSON): the plan and what it was based on.
    pub body: String,
}

/// One write, as audited.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AuditEntry {
    /// When it was answered.
    pub at: String,
    /// The key that made it.
    pub key_id: String,
    /// HTTP method.
    pub method: String,
    /// The resource.
    pub path: String,
    /// The answer's status.
    pub status: u16,
}

/// A replayable response to an idempotent request.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResponse {
    /// The request body it answered (a replay with another body is refused).
    pub request: String,
    /// HTTP status.
    pub status: u16,
    /// Response body.
    pub body: String,
}

/// A job in a site's queue.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredJob {
    /// The site.
    pub site_id: String,
    /// The job's id, unique within the site.
    pub id: String,
    /// The job as submitted (JSON).
    pub spec: String,
    /// When it was submitted.
    pub submitted_at: String,
    /// IT energy delivered so far, kWh, as the controller reported.
    pub delivered_kwh: f64,
    /// `open`, `done` or `cancelled`.
    pub status: String,
    /// When it last changed.
    pub updated_at: String,
}

/// A backtest submitted over the API.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredBacktest {
    /// Its id.
    pub id: String,
    /// When it was submitted.
    pub created_at: String,
    /// The key that submitted it.
    pub key_id: String,
    /// The request (JSON).
    pub request: String,
    /// `queued`, `running`, `done`, `interrupted` or `failed`.
    pub status: String,
    /// When it started running.
    pub started_at: Option<String>,
    /// When it ended.
    pub finished_at: Option<String>,
    /// Its report (JSON), once done or interrupted.
    pub report: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
}

/// The SQLite database behind one mutex: SQLite has one writer at a time,
/// and the reads the hot paths need are served from memory.
#[derive(Debug)]
pub struct Store {
    connection: Mutex<Connection>,
}

/// Now, RFC 3339 UTC with milliseconds.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
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

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, rusqlite::Error>,
    ) -> Result<T, StoreError> {
        let mut connection = self.connection.lock().map_err(|_| StoreError::Poisoned)?;
        Ok(f(&mut connection)?)
    }

    /// Whether the database answers.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.with(|c| c.query_row("SELECT 1", [], |_| Ok(())))
    }

    /// Creates or replaces a site's configuration; returns the stored site
    /// (revision 1 when new).
    pub fn put_site(&self, id: &str, config: &str) -> Result<StoredSite, StoreError> {
        let at = now();
        self.with(|c| {
            let tx = c.transaction()?;
            let revision: i64 = tx
                .query_row("SELECT revision FROM sites WHERE id = ?1", [id], |row| {
                    row.get(0)
                })
                .optional()?
                .unwrap_or(0)
                + 1;
            tx.execute(
                "INSERT INTO sites (id, config, revision, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET config = ?2, revision = ?3, updated_at = ?4",
                params![id, config, revision, at],
            )?;
            tx.commit()?;
            Ok(StoredSite {
                id: id.to_owned(),
                config: config.to_owned(),
                revision,
                updated_at: at.clone(),
            })
        })
    }

    /// One site.
    pub fn site(&self, id: &str) -> Result<Option<StoredSite>, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT id, config, revision, updated_at FROM sites WHERE id = ?1",
                [id],
                site_row,
            )
            .optional()
        })
    }

    /// Every site, by id.
    pub fn sites(&self) -> Result<Vec<StoredSite>, StoreError> {
        self.with(|c| {
            let mut statement =
                c.prepare("SELECT id, config, revision, updated_at FROM sites ORDER BY id")?;
            statement.query_map([], site_row)?.collect()
        })
    }

    /// Stores a new key's hash.
    pub fn insert_key(&self, key: &StoredKey, hash: &str) -> Result<(), StoreError> {
        let sites = serde_json::to_string(&key.sites).unwrap_or_else(|_| "[]".to_owned());
        self.with(|c| {
            c.execute(
                "INSERT INTO api_keys (id, hash, role, sites, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![key.id, hash, key.role, sites, key.created_at],
            )
            .map(drop)
        })
    }

    /// The unrevoked key with this hash.
    pub fn key_by_hash(&self, hash: &str) -> Result<Option<StoredKey>, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT id, role, sites, created_at, revoked_at FROM api_keys
                 WHERE hash = ?1 AND revoked_at IS NULL",
                [hash],
                key_row,
            )
            .optional()
        })
    }

    /// Every key, newest last.
    pub fn keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT id, role, sites, created_at, revoked_at FROM api_keys ORDER BY created_at, id",
            )?;
            statement.query_map([], key_row)?.collect()
        })
    }

    /// Revokes a key; false when there is no such unrevoked key.
    pub fn revoke_key(&self, id: &str) -> Result<bool, StoreError> {
        let at = now();
        self.with(|c| {
            c.execute(
                "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![id, at],
            )
            .map(|changed| changed == 1)
        })
    }

    /// Records a write in the audit table.
    pub fn audit(
        &self,
        key_id: &str,
        method: &str,
        path: &str,
        status: u16,
    ) -> Result<(), StoreError> {
        let at = now();
        self.with(|c| {
            c.execute(
                "INSERT INTO audit (at, key_id, method, path, status) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![at, key_id, method, path, status],
            )
            .map(drop)
        })
    }

    /// The audit table, oldest first.
    pub fn audit_log(&self) -> Result<Vec<AuditEntry>, StoreError> {
        self.with(|c| {
            let mut statement =
                c.prepare("SELECT at, key_id, method, path, status FROM audit ORDER BY seq")?;
            statement
                .query_map([], |row| {
                    Ok(AuditEntry {
                        at: row.get(0)?,
                        key_id: row.get(1)?,
                        method: row.get(2)?,
                        path: row.get(3)?,
                        status: row.get(4)?,
                    })
                })?
                .collect()
        })
    }

    /// Stores a market day's prices. The same prices again change nothing
    /// (the current revision is returned, `false`); different ones are kept
    /// as a new revision beside the old (`true`).
    pub fn put_prices(&self, new: &StoredPrices) -> Result<(StoredPrices, bool), StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            let current = latest_prices(&tx, &new.market, &new.day)?;
            let revision = match current {
                Some(current)
                    if current.start == new.start
                        && current.step_minutes == new.step_minutes
                        && current.currency == new.currency
                        && current.prices == new.prices =>
                {
                    return Ok((current, false));
                }
                Some(current) => current.revision + 1,
                None => 1,
            };
            let stored = StoredPrices {
                revision,
                uploaded_at: now(),
                ..new.clone()
            };
            tx.execute(
                "INSERT INTO prices (market, day, revision, currency, start, step_minutes, prices,
                    uploaded_at, uploaded_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    stored.market,
                    stored.day,
                    stored.revision,
                    stored.currency,
                    stored.start,
                    stored.step_minutes,
                    serde_json::to_string(&stored.prices).unwrap_or_else(|_| "[]".to_owned()),
                    stored.uploaded_at,
                    stored.uploaded_by
                ],
            )?;
            tx.commit()?;
            Ok((stored, true))
        })
    }

    /// Every revision of one market day, oldest first.
    pub fn price_revisions(
        &self,
        market: &str,
        day: &str,
    ) -> Result<Vec<StoredPrices>, StoreError> {
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT market, day, revision, currency, start, step_minutes, prices, uploaded_at,
                    uploaded_by FROM prices WHERE market = ?1 AND day = ?2 ORDER BY revision",
            )?;
            statement.query_map([market, day], prices_row)?.collect()
        })
    }

    /// The latest revision of each of a market's days from `from_day` to
    /// `to_day` (inclusive, `YYYY-MM-DD`), by day.
    pub fn prices_between(
        &self,
        market: &str,
        from_day: &str,
        to_day: &str,
    ) -> Result<Vec<StoredPrices>, StoreError> {
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT p.market, p.day, p.revision, p.currency, p.start, p.step_minutes, p.prices,
                    p.uploaded_at, p.uploaded_by
                 FROM prices p
                 WHERE p.market = ?1 AND p.day BETWEEN ?2 AND ?3
                   AND p.revision = (SELECT MAX(revision) FROM prices q
                                     WHERE q.market = p.market AND q.day = p.day)
                 ORDER BY p.day",
            )?;
            statement
                .query_map([market, from_day, to_day], prices_row)?
                .collect()
        })
    }

    /// Stores metered charging load (kW per interval start); a reading for
    /// an instant already stored replaces it. Returns how many were written.
    pub fn put_charging(
        &self,
        site_id: &str,
        readings: &[(String, f64)],
    ) -> Result<usize, StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            {
                let mut statement = tx.prepare(
                    "INSERT INTO charging (site_id, timestamp_utc, kw) VALUES (?1, ?2, ?3)
                     ON CONFLICT (site_id, timestamp_utc) DO UPDATE SET kw = ?3",
                )?;
                for (at, kw) in readings {
                    statement.execute(params![site_id, at, kw])?;
                }
            }
            tx.commit()?;
            Ok(readings.len())
        })
    }

    /// Stores a controller's charging forecast, issued at `issued_at`; a
    /// value for an instant already forecast replaces it.
    pub fn put_charging_forecast(
        &self,
        site_id: &str,
        values: &[(String, f64)],
        issued_at: &str,
    ) -> Result<usize, StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            {
                let mut statement = tx.prepare(
                    "INSERT INTO charging_forecast (site_id, timestamp_utc, kw, issued_at)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (site_id, timestamp_utc) DO UPDATE SET kw = ?3, issued_at = ?4",
                )?;
                for (at, kw) in values {
                    statement.execute(params![site_id, at, kw, issued_at])?;
                }
            }
            tx.commit()?;
            Ok(values.len())
        })
    }

    /// A controller's charging forecast for `from` ≤ t < `to`, issued at or
    /// before `issued_by`: (instant, kW, issued at), oldest instant first.
    pub fn charging_forecast(
        &self,
        site_id: &str,
        from: &str,
        to: &str,
        issued_by: &str,
    ) -> Result<Vec<(String, f64, String)>, StoreError> {
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT timestamp_utc, kw, issued_at FROM charging_forecast
                 WHERE site_id = ?1 AND timestamp_utc >= ?2 AND timestamp_utc < ?3
                   AND issued_at <= ?4
                 ORDER BY timestamp_utc",
            )?;
            statement
                .query_map([site_id, from, to, issued_by], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })?
                .collect()
        })
    }

    /// A site's metered charging load from `from` (inclusive, RFC 3339 UTC
    /// as stored) on, oldest first.
    pub fn charging_since(
        &self,
        site_id: &str,
        from: &str,
    ) -> Result<Vec<(String, f64)>, StoreError> {
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT timestamp_utc, kw FROM charging WHERE site_id = ?1 AND timestamp_utc >= ?2
                 ORDER BY timestamp_utc",
            )?;
            statement
                .query_map([site_id, from], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        })
    }

    /// A site's metered charging load for `from` ≤ t < `to`, oldest first.
    pub fn charging_between(
        &self,
        site_id: &str,
        from: &str,
        to: &str,
    ) -> Result<Vec<(String, f64)>, StoreError> {
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT timestamp_utc, kw FROM charging
                 WHERE site_id = ?1 AND timestamp_utc >= ?2 AND timestamp_utc < ?3
                 ORDER BY timestamp_utc",
            )?;
            statement
                .query_map([site_id, from, to], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        })
    }

    /// A site's telemetry reports for `from` ≤ at < `to`, oldest first: each
    /// report as stored (JSON).
    pub fn telemetry_between(
        &self,
        site_id: &str,
        from: &str,
        to: &str,
    ) -> Result<Vec<String>, StoreError> {
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT body FROM telemetry WHERE site_id = ?1 AND at >= ?2 AND at < ?3
                 ORDER BY at",
            )?;
            statement
                .query_map([site_id, from, to], |row| row.get(0))?
                .collect()
        })
    }

    /// Stores a telemetry report at its instant (`body` is the report as
    /// JSON); a report for an instant already stored replaces it.
    pub fn put_telemetry(
        &self,
        site_id: &str,
        at: &str,
        soc_kwh: Option<f64>,
        meter_kw: Option<f64>,
        body: &str,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO telemetry (site_id, at, soc_kwh, meter_kw, body)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (site_id, at) DO UPDATE SET soc_kwh = ?3, meter_kw = ?4, body = ?5",
                params![site_id, at, soc_kwh, meter_kw, body],
            )
            .map(drop)
        })
    }

    /// A site's latest reported battery energy: (instant, kWh).
    pub fn latest_soc(&self, site_id: &str) -> Result<Option<(String, f64)>, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT at, soc_kwh FROM telemetry WHERE site_id = ?1 AND soc_kwh IS NOT NULL
                 ORDER BY at DESC LIMIT 1",
                [site_id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
        })
    }

    /// The highest meter reading (grid import, kW) a site reported from
    /// `from` (inclusive) to `to` (exclusive).
    pub fn peak_between(
        &self,
        site_id: &str,
        from: &str,
        to: &str,
    ) -> Result<Option<f64>, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT MAX(meter_kw) FROM telemetry WHERE site_id = ?1 AND at >= ?2 AND at < ?3",
                [site_id, from, to],
                |row| row.get(0),
            )
        })
    }

    /// Publishes a plan as the site's next version; `body` is built from
    /// the version given.
    pub fn insert_plan(
        &self,
        site_id: &str,
        status: &str,
        body: impl FnOnce(i64, &str) -> String,
    ) -> Result<StoredPlan, StoreError> {
        let at = now();
        self.with(|c| {
            let tx = c.transaction()?;
            let version: i64 = tx.query_row(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM plans WHERE site_id = ?1",
                [site_id],
                |row| row.get(0),
            )?;
            let body = body(version, &at);
            tx.execute(
                "INSERT INTO plans (site_id, version, created_at, status, body)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![site_id, version, at, status, body],
            )?;
            tx.commit()?;
            Ok(StoredPlan {
                site_id: site_id.to_owned(),
                version,
                created_at: at.clone(),
                status: status.to_owned(),
                body,
            })
        })
    }

    /// One version of a site's plan (`None`: the latest).
    pub fn plan(
        &self,
        site_id: &str,
        version: Option<i64>,
    ) -> Result<Option<StoredPlan>, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT site_id, version, created_at, status, body FROM plans
                 WHERE site_id = ?1 AND (?2 IS NULL OR version = ?2)
                 ORDER BY version DESC LIMIT 1",
                params![site_id, version],
                plan_row,
            )
            .optional()
        })
    }

    /// Every site's latest plan.
    pub fn latest_plans(&self) -> Result<Vec<StoredPlan>, StoreError> {
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT p.site_id, p.version, p.created_at, p.status, p.body FROM plans p
                 WHERE p.version = (SELECT MAX(version) FROM plans q WHERE q.site_id = p.site_id)
                 ORDER BY p.site_id",
            )?;
            statement.query_map([], plan_row)?.collect()
        })
    }

    /// A site's plans published from `from` to `to` (RFC 3339 UTC bounds,
    /// inclusive), oldest first.
    pub fn plans_between(
        &self,
        site_id: &str,
        from: &str,
        to: &str,
    ) -> Result<Vec<StoredPlan>, StoreError> {
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT site_id, version, created_at, status, body FROM plans
                 WHERE site_id = ?1 AND created_at BETWEEN ?2 AND ?3 ORDER BY version",
            )?;
            statement
                .query_map([site_id, from, to], plan_row)?
                .collect()
        })
    }

    /// Adds a job; false when the site already has a job with its id.
    pub fn insert_job(&self, job: &StoredJob) -> Result<bool, StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO jobs (site_id, id, spec, submitted_at, delivered_kwh, status,
                    updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    job.site_id,
                    job.id,
                    job.spec,
                    job.submitted_at,
                    job.delivered_kwh,
                    job.status,
                    job.updated_at
                ],
            )
            .map(|inserted| inserted == 1)
        })
    }

    /// One job.
    pub fn job(&self, site_id: &str, id: &str) -> Result<Option<StoredJob>, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT site_id, id, spec, submitted_at, delivered_kwh, status, updated_at FROM jobs
                 WHERE site_id = ?1 AND id = ?2",
                [site_id, id],
                job_row,
            )
            .optional()
        })
    }

    /// A site's jobs, oldest first (`open_only`: those still open).
    pub fn jobs(&self, site_id: &str, open_only: bool) -> Result<Vec<StoredJob>, StoreError> {
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT site_id, id, spec, submitted_at, delivered_kwh, status, updated_at FROM jobs
                 WHERE site_id = ?1 AND (?2 = 0 OR status = 'open') ORDER BY submitted_at, id",
            )?;
            statement
                .query_map(params![site_id, open_only], job_row)?
                .collect()
        })
    }

    /// Sets a job's delivered energy and status.
    pub fn update_job(
        &self,
        site_id: &str,
        id: &str,
        delivered_kwh: f64,
        status: &str,
    ) -> Result<(), StoreError> {
        let at = now();
        self.with(|c| {
            c.execute(
                "UPDATE jobs SET delivered_kwh = ?3, status = ?4, updated_at = ?5
                 WHERE site_id = ?1 AND id = ?2",
                params![site_id, id, delivered_kwh, status, at],
            )
            .map(drop)
        })
    }

    /// The jobs the latest telemetry report said were running.
    pub fn running_jobs(&self, site_id: &str) -> Result<Vec<String>, StoreError> {
        let body: Option<String> = self.with(|c| {
            c.query_row(
                "SELECT body FROM telemetry WHERE site_id = ?1 ORDER BY at DESC LIMIT 1",
                [site_id],
                |row| row.get(0),
            )
            .optional()
        })?;
        Ok(body
            .and_then(|body| serde_json::from_str::<serde_json::Value>(&body).ok())
            .and_then(|mut report| serde_json::from_value(report["running_jobs"].take()).ok())
            .unwrap_or_default())
    }

    /// The stored response to an earlier request with this idempotency key.
    pub fn response(
        &self,
        key_id: &str,
        idempotency_key: &str,
    ) -> Result<Option<StoredResponse>, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT request, status, body FROM idempotency
                 WHERE key_id = ?1 AND idempotency_key = ?2",
                [key_id, idempotency_key],
                |row| {
                    Ok(StoredResponse {
                        request: row.get(0)?,
                        status: row.get(1)?,
                        body: row.get(2)?,
                    })
                },
            )
            .optional()
        })
    }

    /// Keeps a response for replays of its idempotency key.
    pub fn keep_response(
        &self,
        key_id: &str,
        idempotency_key: &str,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO idempotency (key_id, idempotency_key, request, status, body)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    key_id,
                    idempotency_key,
                    response.request,
                    response.status,
                    response.body
                ],
            )
            .map(drop)
        })
    }
}

impl Store {
    /// Records a submitted backtest (status `queued`).
    pub fn insert_backtest(&self, backtest: &StoredBacktest) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO backtests (id, created_at, key_id, request, status)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    backtest.id,
                    backtest.created_at,
                    backtest.key_id,
                    backtest.request,
                    backtest.status
                ],
            )
            .map(drop)
        })
    }

    /// Marks a backtest running.
    pub fn start_backtest(&self, id: &str) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE backtests SET status = 'running', started_at = ?2 WHERE id = ?1",
                params![id, now()],
            )
            .map(drop)
        })
    }

    /// Records how a backtest ended: `done` or `interrupted` with its
    /// report, or `failed` with the reason.
    pub fn finish_backtest(
        &self,
        id: &str,
        status: &str,
        report: Option<&str>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE backtests SET status = ?2, finished_at = ?3, report = ?4, error = ?5
                 WHERE id = ?1",
                params![id, status, now(), report, error],
            )
            .map(drop)
        })
    }

    /// Backtests left queued or running by a service that stopped without
    /// finishing them are failed, saying so (called at start).
    pub fn fail_unfinished_backtests(&self) -> Result<usize, StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE backtests SET status = 'failed', finished_at = ?1,
                 error = 'the service stopped before the backtest finished; submit it again'
                 WHERE status IN ('queued', 'running')",
                [now()],
            )
        })
    }

    /// One backtest.
    pub fn backtest(&self, id: &str) -> Result<Option<StoredBacktest>, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT id, created_at, key_id, request, status, started_at, finished_at,
                    report, error FROM backtests WHERE id = ?1",
                [id],
                backtest_row,
            )
            .optional()
        })
    }

    /// Every backtest, newest first.
    pub fn backtests(&self) -> Result<Vec<StoredBacktest>, StoreError> {
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT id, created_at, key_id, request, status, started_at, finished_at,
                    report, error FROM backtests ORDER BY created_at DESC, id",
            )?;
            statement
                .query_map([], backtest_row)?
                .collect::<Result<Vec<_>, _>>()
        })
    }
}

fn backtest_row(row: &rusqlite::Row) -> Result<StoredBacktest, rusqlite::Error> {
    Ok(StoredBacktest {
        id: row.get(0)?,
        created_at: row.get(1)?,
        key_id: row.get(2)?,
        request: row.get(3)?,
        status: row.get(4)?,
        started_at: row.get(5)?,
        finished_at: row.get(6)?,
        report: row.get(7)?,
        error: row.get(8)?,
    })
}

fn latest_prices(
    c: &Connection,
    market: &str,
    day: &str,
) -> Result<Option<StoredPrices>, rusqlite::Error> {
    c.query_row(
        "SELECT market, day, revision, currency, start, step_minutes, prices, uploaded_at,
            uploaded_by FROM prices WHERE market = ?1 AND day = ?2
         ORDER BY revision DESC LIMIT 1",
        [market, day],
        prices_row,
    )
    .optional()
}

fn site_row(row: &rusqlite::Row) -> Result<StoredSite, rusqlite::Error> {
    Ok(StoredSite {
        id: row.get(0)?,
        config: row.get(1)?,
        revision: row.get(2)?,
        updated_at: row.get(3)?,
    })
}

fn key_row(row: &rusqlite::Row) -> Result<StoredKey, rusqlite::Error> {
    let sites: String = row.get(2)?;
    Ok(StoredKey {
        id: row.get(0)?,
        role: row.get(1)?,
        sites: serde_json::from_str(&sites).unwrap_or_default(),
        created_at: row.get(3)?,
        revoked_at: row.get(4)?,
    })
}

fn prices_row(row: &rusqlite::Row) -> Result<StoredPrices, rusqlite::Error> {
    let prices: String = row.get(6)?;
    Ok(StoredPrices {
        market: row.get(0)?,
        day: row.get(1)?,
        revision: row.get(2)?,
        currency: row.get(3)?,
        start: row.get(4)?,
        step_minutes: row.get(5)?,
        prices: serde_json::from_str(&prices).unwrap_or_default(),
        uploaded_at: row.get(7)?,
        uploaded_by: row.get(8)?,
    })
}

fn job_row(row: &rusqlite::Row) -> Result<StoredJob, rusqlite::Error> {
    Ok(StoredJob {
        site_id: row.get(0)?,
        id: row.get(1)?,
        spec: row.get(2)?,
        submitted_at: row.get(3)?,
        delivered_kwh: row.get(4)?,
        status: row.get(5)?,
        updated_at: row.get(6)?,
    })
}

fn plan_row(row: &rusqlite::Row) -> Result<StoredPlan, rusqlite::Error> {
    Ok(StoredPlan {
        site_id: row.get(0)?,
        version: row.get(1)?,
        created_at: row.get(2)?,
        status: row.get(3)?,
        body: row.get(4)?,
    })
}
