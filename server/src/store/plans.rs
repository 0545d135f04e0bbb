//! The `plans` table: every published plan, versioned per site.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, millis, now, time_column};

/// A published plan.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPlan {
    /// The site.
    pub site_id: String,
    /// 1 for the site's first plan, +1 for each after.
    pub version: i64,
    /// When it was published.
    pub created_at: DateTime<Utc>,
    /// The plan's solve status.
    pub status: String,
    /// The published document (JSON): the plan and what it was based on.
    pub body: String,
}

impl Store {
    /// Publishes a plan as the site's next version; `body` is built from
    /// the version given.
    pub fn insert_plan(
        &self,
        site_id: &str,
        status: &str,
        body: impl FnOnce(i64, &str) -> String,
    ) -> Result<StoredPlan, StoreError> {
        let at = now();
        let stamp = millis(at);
        self.with(|c| {
            let tx = c.transaction()?;
            let version: i64 = tx.query_row(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM plans WHERE site_id = ?1",
                [site_id],
                |row| row.get(0),
            )?;
            let body = body(version, &stamp);
            tx.execute(
                "INSERT INTO plans (site_id, version, created_at, status, body)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![site_id, version, stamp, status, body],
            )?;
            tx.commit()?;
            Ok(StoredPlan {
                site_id: site_id.to_owned(),
                version,
                created_at: at,
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
}

fn plan_row(row: &rusqlite::Row) -> Result<StoredPlan, rusqlite::Error> {
    Ok(StoredPlan {
        site_id: row.get(0)?,
        version: row.get(1)?,
        created_at: time_column(row, 2)?,
        status: row.get(3)?,
        body: row.get(4)?,
    })
}
