//! The `api_keys` table: key ids, their SHA-256, role, sites, revocation.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, json_column, millis, now, optional_time_column, time_column};

/// The columns [`key_row`] reads, in its order.
const COLUMNS: &str = "id, role, sites, created_at, revoked_at";

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
    pub created_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Stores a new key's hash.
    pub async fn insert_key(&self, key: &StoredKey, hash: &str) -> Result<(), StoreError> {
        let sites = serde_json::to_string(&key.sites)?;
        sqlx::query(
            "INSERT INTO api_keys (id, hash, role, sites, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&key.id)
        .bind(hash)
        .bind(&key.role)
        .bind(sites)
        .bind(millis(key.created_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The unrevoked key with this hash.
    pub async fn key_by_hash(&self, hash: &str) -> Result<Option<StoredKey>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM api_keys WHERE hash = $1 AND revoked_at IS NULL"
        ))
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?
        .map(|row| key_row(&row))
        .transpose()
    }

    /// Every key, newest last.
    pub async fn keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM api_keys ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(key_row)
        .collect()
    }

    /// Revokes a key; false when there is no such unrevoked key.
    pub async fn revoke_key(&self, id: &str) -> Result<bool, StoreError> {
        let changed =
            sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(millis(now()))
                .execute(&self.pool)
                .await?
                .rows_affected();
        Ok(changed == 1)
    }
}

fn key_row(row: &AnyRow) -> Result<StoredKey, StoreError> {
    Ok(StoredKey {
        id: row.try_get(0)?,
        role: row.try_get(1)?,
        sites: json_column(row, 2)?,
        created_at: time_column(row, 3)?,
        revoked_at: optional_time_column(row, 4)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_revoked_key_is_no_longer_found_and_its_times_read_back() {
        let (store, _dir) = super::super::temp_store("keys").await;
        let key = StoredKey {
            id: "key_1".to_owned(),
            role: "controller".to_owned(),
            sites: vec!["a".to_owned()],
            created_at: now(),
            revoked_at: None,
        };
        store.insert_key(&key, "hash-1").await.expect("stored");
        assert_eq!(
            store.key_by_hash("hash-1").await.expect("read"),
            Some(key.clone())
        );
        assert!(store.revoke_key("key_1").await.expect("revoked"));
        assert!(
            !store.revoke_key("key_1").await.expect("read"),
            "revoked once"
        );
        assert_eq!(store.key_by_hash("hash-1").await.expect("read"), None);
        let listed = store.keys().await.expect("read");
        assert_eq!(listed[0].created_at, key.created_at);
        assert!(listed[0].revoked_at.is_some_and(|at| at >= key.created_at));
    }

    #[tokio::test]
    async fn an_unreadable_time_or_site_list_is_an_error_not_a_default() {
        let (store, _dir) = super::super::temp_store("keys-bad").await;
        let key = StoredKey {
            id: "key_1".to_owned(),
            role: "admin".to_owned(),
            sites: Vec::new(),
            created_at: now(),
            revoked_at: None,
        };
        store.insert_key(&key, "h").await.expect("stored");
        let corrupt = |sql: &'static str| sqlx::query(sql).execute(&store.pool);
        corrupt("UPDATE api_keys SET created_at = 'noon'")
            .await
            .expect("corrupted");
        assert!(matches!(store.keys().await, Err(StoreError::Unreadable(_))));
        corrupt("UPDATE api_keys SET created_at = '2024-10-24T07:00:00.000Z', sites = 'x'")
            .await
            .expect("corrupted");
        assert!(matches!(
            store.key_by_hash("h").await,
            Err(StoreError::Unreadable(_))
        ));
    }
}
