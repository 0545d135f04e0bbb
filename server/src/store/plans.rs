//! The `plans` table: every published plan, versioned per site.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Backend, Claim, PLANS_CHANNEL, Store, StoreError, millis, now, time_column};

/// The columns [`plan_row`] reads, in its order.
const COLUMNS: &str = "site_id, version, created_at, status, body";

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
    /// the version given. With a `claim` (the planning loop's), the claim
    /// is completed in the same transaction, and nothing is published when
    /// it is no longer this replica's ([`StoreError::ClaimLost`]): a site is
    /// planned once per replan instant, whichever replica finishes.
    /// On PostgreSQL every replica hears of the plan (`NOTIFY`).
    pub async fn insert_plan(
        &self,
        site_id: &str,
        status: &str,
        claim: Option<&Claim>,
        body: impl FnOnce(i64, &str) -> String,
    ) -> Result<StoredPlan, StoreError> {
        let at = now();
        let stamp = millis(at);
        let mut tx = self.pool.begin().await?;
        if let Some(claim) = claim {
            let completed = sqlx::query(
                "UPDATE planning_claims SET done = 1
                 WHERE site_id = $1 AND instant = $2 AND owner = $3 AND done = 0",
            )
            .bind(&claim.site_id)
            .bind(&claim.instant)
            .bind(&claim.owner)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if completed != 1 {
                return Err(StoreError::ClaimLost);
            }
        }
        // One row per site counts its versions: replicas publishing at once
        // take turns on it, and a rolled-back publish uses no version.
        let version: i64 = sqlx::query_scalar(
            "INSERT INTO plan_versions (site_id, version) VALUES ($1, 1)
             ON CONFLICT (site_id) DO UPDATE SET version = plan_versions.version + 1
             RETURNING version",
        )
        .bind(site_id)
        .fetch_one(&mut *tx)
        .await?;
        let body = body(version, &stamp);
        sqlx::query(&format!(
            "INSERT INTO plans ({COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
        ))
        .bind(site_id)
        .bind(version)
        .bind(&stamp)
        .bind(status)
        .bind(&body)
        .execute(&mut *tx)
        .await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(PLANS_CHANNEL)
                .bind(format!("{site_id} {version}"))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(StoredPlan {
            site_id: site_id.to_owned(),
            version,
            created_at: at,
            status: status.to_owned(),
            body,
        })
    }

    /// One version of a site's plan (`None`: the latest).
    pub async fn plan(
        &self,
        site_id: &str,
        version: Option<i64>,
    ) -> Result<Option<StoredPlan>, StoreError> {
        let row =
            match version {
                Some(version) => {
                    sqlx::query(&format!(
                        "SELECT {COLUMNS} FROM plans WHERE site_id = $1 AND version = $2"
                    ))
                    .bind(site_id)
                    .bind(version)
                    .fetch_optional(&self.pool)
                    .await?
                }
                None => sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM plans WHERE site_id = $1 ORDER BY version DESC LIMIT 1"
                ))
                .bind(site_id)
                .fetch_optional(&self.pool)
                .await?,
            };
        row.map(|row| plan_row(&row)).transpose()
    }

    /// Every site's latest plan.
    pub async fn latest_plans(&self) -> Result<Vec<StoredPlan>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM plans p
             WHERE p.version = (SELECT MAX(version) FROM plans q WHERE q.site_id = p.site_id)
             ORDER BY p.site_id"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(plan_row)
        .collect()
    }

    /// A site's plans published from `from` to `to` (RFC 3339 UTC bounds,
    /// inclusive), oldest first.
    pub async fn plans_between(
        &self,
        site_id: &str,
        from: &str,
        to: &str,
    ) -> Result<Vec<StoredPlan>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM plans
             WHERE site_id = $1 AND created_at BETWEEN $2 AND $3 ORDER BY version"
        ))
        .bind(site_id)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(plan_row)
        .collect()
    }
}

fn plan_row(row: &AnyRow) -> Result<StoredPlan, StoreError> {
    Ok(StoredPlan {
        site_id: row.try_get(0)?,
        version: row.try_get(1)?,
        created_at: time_column(row, 2)?,
        status: row.try_get(3)?,
        body: row.try_get(4)?,
    })
}
