//! The `backtests` table: backtests submitted over the API and their reports.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, millis, now, optional_time_column, time_column};

/// A backtest submitted over the API.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredBacktest {
    /// Its id.
    pub id: String,
    /// When it was submitted.
    pub created_at: DateTime<Utc>,
    /// The key that submitted it.
    pub key_id: String,
    /// The request (JSON).
    pub request: String,
    /// `queued`, `running`, `done`, `interrupted` or `failed`.
    pub status: String,
    /// When it started running.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Its report (JSON), once done or interrupted.
    pub report: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
}

impl Store {
    /// Records a submitted backtest (status `queued`).
    pub fn insert_backtest(&self, backtest: &StoredBacktest) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO backtests (id, created_at, key_id, request, status)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    backtest.id,
                    millis(backtest.created_at),
                    backtest.key_id,
                    backtest.request,
                    backtest.status
                ],
            )
            .map(drop)
        })
    }

    /// Marks a backtest running.
    pub fn start_backtest(&self, id: &str) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE backtests SET status = 'running', started_at = ?2 WHERE id = ?1",
                params![id, millis(now())],
            )
            .map(drop)
        })
    }

    /// Records how a backtest ended: `done` or `interrupted` with its
    /// report, or `failed` with the reason.
    pub fn finish_backtest(
        &self,
        id: &str,
        status: &str,
        report: Option<&str>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE backtests SET status = ?2, finished_at = ?3, report = ?4, error = ?5
                 WHERE id = ?1",
                params![id, status, millis(now()), report, error],
            )
            .map(drop)
        })
    }

    /// Backtests left queued or running by a service that stopped without
    /// finishing them are failed, saying so (called at start).
    pub fn fail_unfinished_backtests(&self) -> Result<usize, StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE backtests SET status = 'failed', finished_at = ?1,
                 error = 'the service stopped before the backtest finished; submit it again'
                 WHERE status IN ('queued', 'running')",
                [millis(now())],
            )
        })
    }

    /// One backtest.
    pub fn backtest(&self, id: &str) -> Result<Option<StoredBacktest>, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT id, created_at, key_id, request, status, started_at, finished_at,
                    report, error FROM backtests WHERE id = ?1",
                [id],
                backtest_row,
            )
            .optional()
        })
    }

    /// Every backtest, newest first.
    pub fn backtests(&self) -> Result<Vec<StoredBacktest>, StoreError> {
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT id, created_at, key_id, request, status, started_at, finished_at,
                    report, error FROM backtests ORDER BY created_at DESC, id",
            )?;
            statement
                .query_map([], backtest_row)?
                .collect::<Result<Vec<_>, _>>()
        })
    }
}

fn backtest_row(row: &rusqlite::Row) -> Result<StoredBacktest, rusqlite::Error> {
    Ok(StoredBacktest {
        id: row.get(0)?,
        created_at: time_column(row, 1)?,
        key_id: row.get(2)?,
        request: row.get(3)?,
        status: row.get(4)?,
        started_at: optional_time_column(row, 5)?,
        finished_at: optional_time_column(row, 6)?,
        report: row.get(7)?,
        error: row.get(8)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backtests_left_unfinished_are_failed_at_start() {
        let (store, _dir) = super::super::temp_store("backtests");
        let backtest = StoredBacktest {
            id: "bt_1".to_owned(),
            created_at: now(),
            key_id: "key_1".to_owned(),
            request: "{}".to_owned(),
            status: "queued".to_owned(),
            started_at: None,
            finished_at: None,
            report: None,
            error: None,
        };
        store.insert_backtest(&backtest).expect("stored");
        store.start_backtest("bt_1").expect("started");
        assert_eq!(store.fail_unfinished_backtests().expect("failed"), 1);
        let failed = store.backtest("bt_1").expect("read").expect("the backtest");
        assert_eq!(failed.status, "failed");
        assert!(failed.started_at.is_some() && failed.finished_at.is_some());
        assert!(failed.error.is_some());
        assert_eq!(store.fail_unfinished_backtests().expect("none left"), 0);
    }
}
