//! The `sites` table: each site's configuration (TOML) and revision.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, millis, now, time_column};

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
                params![id, config, revision, millis(at)],
            )?;
            tx.commit()?;
            Ok(StoredSite {
                id: id.to_owned(),
                config: config.to_owned(),
                revision,
                updated_at: at,
            })
        })
    }

    /// Creates a site at revision 1, in one statement; `None` (nothing
    /// written) when a site with that id exists, however many creates race.
    pub fn insert_site(&self, id: &str, config: &str) -> Result<Option<StoredSite>, StoreError> {
        let at = now();
        self.with(|c| {
            let inserted = c.execute(
                "INSERT INTO sites (id, config, revision, updated_at) VALUES (?1, ?2, 1, ?3)
                 ON CONFLICT (id) DO NOTHING",
                params![id, config, millis(at)],
            )?;
            Ok((inserted == 1).then(|| StoredSite {
                id: id.to_owned(),
                config: config.to_owned(),
                revision: 1,
                updated_at: at,
            }))
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
}

fn site_row(row: &rusqlite::Row) -> Result<StoredSite, rusqlite::Error> {
    Ok(StoredSite {
        id: row.get(0)?,
        config: row.get(1)?,
        revision: row.get(2)?,
        updated_at: time_column(row, 3)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(name: &str) -> (Store, tempfile::TempDir) {
        super::super::temp_store(&format!("sites-{name}"))
    }

    #[test]
    fn a_site_is_created_once_and_a_second_create_changes_nothing() {
        let (store, _dir) = store("insert");
        let first = store.insert_site("a", "x = 1").expect("insert");
        assert_eq!(first.map(|s| s.revision), Some(1));
        assert_eq!(store.insert_site("a", "x = 2").expect("insert"), None);
        let stored = store.site("a").expect("read").expect("the site");
        assert_eq!((stored.config.as_str(), stored.revision), ("x = 1", 1));
        // An update bumps the revision.
        assert_eq!(store.put_site("a", "x = 3").expect("put").revision, 2);
    }

    #[test]
    fn concurrent_creates_store_exactly_one() {
        let (store, _dir) = store("race");
        let store = std::sync::Arc::new(store);
        let created: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let store = std::sync::Arc::clone(&store);
                    scope.spawn(move || {
                        store
                            .insert_site("same", &format!("n = {i}"))
                            .expect("insert")
                            .is_some()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| usize::from(h.join().expect("thread")))
                .sum()
        });
        assert_eq!(created, 1);
        assert_eq!(store.sites().expect("sites").len(), 1);
    }
}
