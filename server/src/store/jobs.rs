//! The `jobs` table: each site's compute job queue.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, millis, now, time_column};

/// The columns [`job_row`] reads, in its order.
const COLUMNS: &str = "site_id, id, spec, submitted_at, delivered_kwh, status, updated_at";

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
    pub submitted_at: DateTime<Utc>,
    /// IT energy delivered so far, kWh, as the controller reported.
    pub delivered_kwh: f64,
    /// `open`, `done` or `cancelled`.
    pub status: String,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl Store {
    /// Adds a job; false when the site already has a job with its id.
    pub async fn insert_job(&self, job: &StoredJob) -> Result<bool, StoreError> {
        let inserted = sqlx::query(&format!(
            "INSERT INTO jobs ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (site_id, id) DO NOTHING"
        ))
        .bind(&job.site_id)
        .bind(&job.id)
        .bind(&job.spec)
        .bind(millis(job.submitted_at))
        .bind(job.delivered_kwh)
        .bind(&job.status)
        .bind(millis(job.updated_at))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    /// One job.
    pub async fn job(&self, site_id: &str, id: &str) -> Result<Option<StoredJob>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM jobs WHERE site_id = $1 AND id = $2"
        ))
        .bind(site_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .map(|row| job_row(&row))
        .transpose()
    }

    /// A site's jobs, oldest first (`open_only`: those still open).
    pub async fn jobs(&self, site_id: &str, open_only: bool) -> Result<Vec<StoredJob>, StoreError> {
        let only = if open_only { "AND status = 'open'" } else { "" };
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM jobs WHERE site_id = $1 {only} ORDER BY submitted_at, id"
        ))
        .bind(site_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(job_row)
        .collect()
    }

    /// Sets a job's delivered energy and status.
    pub async fn update_job(
        &self,
        site_id: &str,
        id: &str,
        delivered_kwh: f64,
        status: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE jobs SET delivered_kwh = $3, status = $4, updated_at = $5
             WHERE site_id = $1 AND id = $2",
        )
        .bind(site_id)
        .bind(id)
        .bind(delivered_kwh)
        .bind(status)
        .bind(millis(now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// The jobs a telemetry report (JSON, as stored) says are running.
pub fn running_jobs(report: Option<&str>) -> Result<Vec<String>, StoreError> {
    let Some(body) = report else {
        return Ok(Vec::new());
    };
    let mut report: serde_json::Value = serde_json::from_str(body)?;
    Ok(match report["running_jobs"].take() {
        serde_json::Value::Null => Vec::new(),
        running => serde_json::from_value(running)?,
    })
}

fn job_row(row: &AnyRow) -> Result<StoredJob, StoreError> {
    Ok(StoredJob {
        site_id: row.try_get(0)?,
        id: row.try_get(1)?,
        spec: row.try_get(2)?,
        submitted_at: time_column(row, 3)?,
        delivered_kwh: row.try_get(4)?,
        status: row.try_get(5)?,
        updated_at: time_column(row, 6)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_job_is_stored_once_and_its_progress_updated() {
        let (store, _dir) = super::super::temp_store("jobs").await;
        let job = StoredJob {
            site_id: "a".to_owned(),
            id: "j1".to_owned(),
            spec: "{}".to_owned(),
            submitted_at: now(),
            delivered_kwh: 0.0,
            status: "open".to_owned(),
            updated_at: now(),
        };
        assert!(store.insert_job(&job).await.expect("stored"));
        assert!(
            !store.insert_job(&job).await.expect("read"),
            "the same id again is not stored"
        );
        store
            .update_job("a", "j1", 12.5, "done")
            .await
            .expect("updated");
        let stored = store.job("a", "j1").await.expect("read").expect("the job");
        assert_eq!(
            (stored.delivered_kwh, stored.status.as_str()),
            (12.5, "done")
        );
        assert_eq!(stored.submitted_at, job.submitted_at);
        assert!(
            store.jobs("a", true).await.expect("read").is_empty(),
            "no open job left"
        );
    }
}
