//! The `audit` table: every write, who made it and its status.

use rusqlite::params;

use chrono::{DateTime, Utc};

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
    pub fn audit(
        &self,
        key_id: &str,
        method: &str,
        path: &str,
        status: u16,
    ) -> Result<(), StoreError> {
        let at = millis(now());
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
                        at: time_column(row, 0)?,
                        key_id: row.get(1)?,
                        method: row.get(2)?,
                        path: row.get(3)?,
                        status: row.get(4)?,
                    })
                })?
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_listed_oldest_first_with_their_times() {
        let (store, _dir) = super::super::temp_store("audit");
        let before = now();
        store
            .audit("key_1", "POST", "/v1/sites", 201)
            .expect("recorded");
        store
            .audit("key_2", "PUT", "/v1/sites/a", 403)
            .expect("recorded");
        let log = store.audit_log().expect("read");
        let seen: Vec<_> = log.iter().map(|e| (e.key_id.as_str(), e.status)).collect();
        assert_eq!(seen, [("key_1", 201), ("key_2", 403)]);
        assert!(log.iter().all(|e| e.at >= before));
    }
}
