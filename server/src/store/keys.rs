//! The `api_keys` table: key ids, their SHA-256, role, sites, revocation.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, json_column, millis, now, optional_time_column, time_column};

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
    pub fn insert_key(&self, key: &StoredKey, hash: &str) -> Result<(), StoreError> {
        let sites = serde_json::to_string(&key.sites)?;
        self.with(|c| {
            c.execute(
                "INSERT INTO api_keys (id, hash, role, sites, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![key.id, hash, key.role, sites, millis(key.created_at)],
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
                params![id, millis(at)],
            )
            .map(|changed| changed == 1)
        })
    }
}

fn key_row(row: &rusqlite::Row) -> Result<StoredKey, rusqlite::Error> {
    Ok(StoredKey {
        id: row.get(0)?,
        role: row.get(1)?,
        sites: json_column(row, 2)?,
        created_at: time_column(row, 3)?,
        revoked_at: optional_time_column(row, 4)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revoked_key_is_no_longer_found_and_its_times_read_back() {
        let (store, _dir) = super::super::temp_store("keys");
        let key = StoredKey {
            id: "key_1".to_owned(),
            role: "controller".to_owned(),
            sites: vec!["a".to_owned()],
            created_at: now(),
            revoked_at: None,
        };
        store.insert_key(&key, "hash-1").expect("stored");
        assert_eq!(
            store.key_by_hash("hash-1").expect("read"),
            Some(key.clone())
        );
        assert!(store.revoke_key("key_1").expect("revoked"));
        assert!(!store.revoke_key("key_1").expect("read"), "revoked once");
        assert_eq!(store.key_by_hash("hash-1").expect("read"), None);
        let listed = store.keys().expect("read");
        assert_eq!(listed[0].created_at, key.created_at);
        assert!(listed[0].revoked_at.is_some_and(|at| at >= key.created_at));
    }

    #[test]
    fn an_unreadable_time_or_site_list_is_an_error_not_a_default() {
        let (store, dir) = super::super::temp_store("keys-bad");
        let key = StoredKey {
            id: "key_1".to_owned(),
            role: "admin".to_owned(),
            sites: Vec::new(),
            created_at: now(),
            revoked_at: None,
        };
        store.insert_key(&key, "h").expect("stored");
        let raw = rusqlite::Connection::open(dir.path().join("arbiter.sqlite")).expect("the file");
        raw.execute("UPDATE api_keys SET created_at = 'noon'", [])
            .expect("corrupted");
        assert!(matches!(store.keys(), Err(StoreError::Unreadable(_))));
        raw.execute(
            "UPDATE api_keys SET created_at = '2024-10-24T07:00:00.000Z', sites = 'x'",
            [],
        )
        .expect("corrupted");
        assert!(matches!(
            store.key_by_hash("h"),
            Err(StoreError::Unreadable(_))
        ));
    }
}
