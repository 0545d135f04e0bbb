//! The `audit` table: every write, who made it and its status.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Store, StoreError, millis, now, time_column};

/// One write, as audited.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// When it was answered.
    #[serde(serialize_with = "super::serialize_millis")]
    #[schema(value_type = String)]
    pub at: DateTime<Utc>,
    /// The key that made it.
    pub key_id: String,
    /// HTTP method.
    pub method: String,
    /// The resource.
    pub path: String,
    /// The answer's status.
    pub status: u16,
}

impl Store {
    /// Records a write in the audit table.
    pub async fn audit(
        &self,
        key_id: &str,
        method: &str,
        path: &str,
        status: u16,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit (at, key_id, method, path, status) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(millis(now()))
        .bind(key_id)
        .bind(method)
        .bind(path)
        .bind(i64::from(status))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The audit table, oldest first.
    pub async fn audit_log(&self) -> Result<Vec<AuditEntry>, StoreError> {
        sqlx::query("SELECT at, key_id, method, path, status FROM audit ORDER BY seq")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let status: i64 = row.try_get(4)?;
                Ok(AuditEntry {
                    at: time_column(row, 0)?,
                    key_id: row.try_get(1)?,
                    method: row.try_get(2)?,
                    path: row.try_get(3)?,
                    status: u16::try_from(status)
                        .map_err(|_| StoreError::Unreadable(format!("audit status {status}")))?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_are_listed_oldest_first_with_their_times() {
        let (store, _dir) = super::super::temp_store("audit").await;
        let before = now();
        store
            .audit("key_1", "POST", "/v1/sites", 201)
            .await
            .expect("recorded");
        store
            .audit("key_2", "PUT", "/v1/sites/a", 403)
            .await
            .expect("recorded");
        let log = store.audit_log().await.expect("read");
        let seen: Vec<_> = log.iter().map(|e| (e.key_id.as_str(), e.status)).collect();
        assert_eq!(seen, [("key_1", 201), ("key_2", 403)]);
        assert!(log.iter().all(|e| e.at >= before));
    }
}
