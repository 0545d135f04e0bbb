//! The `jobs` table: each site's compute job queue.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, millis, now, time_column};

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
    pub fn insert_job(&self, job: &StoredJob) -> Result<bool, StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO jobs (site_id, id, spec, submitted_at, delivered_kwh, status,
                    updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    job.site_id,
                    job.id,
                    job.spec,
                    millis(job.submitted_at),
                    job.delivered_kwh,
                    job.status,
                    millis(job.updated_at)
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
                params![site_id, id, delivered_kwh, status, millis(at)],
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
        let Some(body) = body else {
            return Ok(Vec::new());
        };
        let mut report: serde_json::Value = serde_json::from_str(&body)?;
        Ok(match report["running_jobs"].take() {
            serde_json::Value::Null => Vec::new(),
            running => serde_json::from_value(running)?,
        })
    }
}

fn job_row(row: &rusqlite::Row) -> Result<StoredJob, rusqlite::Error> {
    Ok(StoredJob {
        site_id: row.get(0)?,
        id: row.get(1)?,
        spec: row.get(2)?,
        submitted_at: time_column(row, 3)?,
        delivered_kwh: row.get(4)?,
        status: row.get(5)?,
        updated_at: time_column(row, 6)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_is_stored_once_and_its_progress_updated() {
        let (store, _dir) = super::super::temp_store("jobs");
        let job = StoredJob {
            site_id: "a".to_owned(),
            id: "j1".to_owned(),
            spec: "{}".to_owned(),
            submitted_at: now(),
            delivered_kwh: 0.0,
            status: "open".to_owned(),
            updated_at: now(),
        };
        assert!(store.insert_job(&job).expect("stored"));
        assert!(
            !store.insert_job(&job).expect("read"),
            "the same id again is not stored"
        );
        store.update_job("a", "j1", 12.5, "done").expect("updated");
        let stored = store.job("a", "j1").expect("read").expect("the job");
        assert_eq!(
            (stored.delivered_kwh, stored.status.as_str()),
            (12.5, "done")
        );
        assert_eq!(stored.submitted_at, job.submitted_at);
        assert!(
            store.jobs("a", true).expect("read").is_empty(),
            "no open job left"
        );
    }
}
