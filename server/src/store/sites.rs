//! The `sites` table: each site's configuration (TOML) and revision.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, millis, now, time_column};

/// The columns [`site_row`] reads, in its order.
const COLUMNS: &str = "id, config, revision, updated_at";

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
    pub updated_at: DateTime<Utc>,
}

impl Store {
    /// Creates or replaces a site's configuration; returns the stored site
    /// (revision 1 when new).
    pub async fn put_site(&self, id: &str, config: &str) -> Result<StoredSite, StoreError> {
        let at = now();
        let revision: i64 = sqlx::query_scalar(
            "INSERT INTO sites (id, config, revision, updated_at) VALUES ($1, $2, 1, $3)
             ON CONFLICT (id) DO UPDATE
             SET config = $2, revision = sites.revision + 1, updated_at = $3
             RETURNING revision",
        )
        .bind(id)
        .bind(config)
        .bind(millis(at))
        .fetch_one(&self.pool)
        .await?;
        Ok(StoredSite {
            id: id.to_owned(),
            config: config.to_owned(),
            revision,
            updated_at: at,
        })
    }

    /// Creates a site at revision 1, in one statement; `None` (nothing
    /// written) when a site with that id exists, however many creates race.
    pub async fn insert_site(
        &self,
        id: &str,
        config: &str,
    ) -> Result<Option<StoredSite>, StoreError> {
        let at = now();
        let inserted = sqlx::query(
            "INSERT INTO sites (id, config, revision, updated_at) VALUES ($1, $2, 1, $3)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(config)
        .bind(millis(at))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok((inserted == 1).then(|| StoredSite {
            id: id.to_owned(),
            config: config.to_owned(),
            revision: 1,
            updated_at: at,
        }))
    }

    /// One site.
    pub async fn site(&self, id: &str) -> Result<Option<StoredSite>, StoreError> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM sites WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| site_row(&row))
            .transpose()
    }

    /// Every site, by id.
    pub async fn sites(&self) -> Result<Vec<StoredSite>, StoreError> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM sites ORDER BY id"))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(site_row)
            .collect()
    }
}

fn site_row(row: &AnyRow) -> Result<StoredSite, StoreError> {
    Ok(StoredSite {
        id: row.try_get(0)?,
        config: row.try_get(1)?,
        revision: row.try_get(2)?,
        updated_at: time_column(row, 3)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store(name: &str) -> (Store, tempfile::TempDir) {
        super::super::temp_store(&format!("sites-{name}")).await
    }

    #[tokio::test]
    async fn a_site_is_created_once_and_a_second_create_changes_nothing() {
        let (store, _dir) = store("insert").await;
        let first = store.insert_site("a", "x = 1").await.expect("insert");
        assert_eq!(first.map(|s| s.revision), Some(1));
        assert_eq!(store.insert_site("a", "x = 2").await.expect("insert"), None);
        let stored = store.site("a").await.expect("read").expect("the site");
        assert_eq!((stored.config.as_str(), stored.revision), ("x = 1", 1));
        // An update bumps the revision.
        assert_eq!(store.put_site("a", "x = 3").await.expect("put").revision, 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_creates_store_exactly_one() {
        let (store, _dir) = store("race").await;
        let creates = (0..8).map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .insert_site("same", &format!("n = {i}"))
                    .await
                    .expect("insert")
                    .is_some()
            })
        });
        let mut created = 0;
        for create in creates.collect::<Vec<_>>() {
            created += usize::from(create.await.expect("a task"));
        }
        assert_eq!(created, 1);
        assert_eq!(store.sites().await.expect("sites").len(), 1);
    }
}
