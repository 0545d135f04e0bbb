//! The `backtests` table: backtests submitted over the API and their reports.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, millis, now, optional_time_column, time_column};

/// The columns [`backtest_row`] reads, in its order.
const COLUMNS: &str =
    "id, created_at, key_id, request, status, started_at, finished_at, report, error, progress";

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
    /// The progress its runner last reported (JSON), while it runs.
    pub progress: Option<String>,
}

impl Store {
    /// Records a submitted backtest (status `queued`), run by `runner`.
    pub async fn insert_backtest(
        &self,
        backtest: &StoredBacktest,
        runner: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO backtests (id, created_at, key_id, request, status, runner, alive_at)
             VALUES ($1, $2, $3, $4, $5, $6, $2)",
        )
        .bind(&backtest.id)
        .bind(millis(backtest.created_at))
        .bind(&backtest.key_id)
        .bind(&backtest.request)
        .bind(&backtest.status)
        .bind(runner)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a running backtest's progress (JSON), for every replica.
    pub async fn backtest_progress(&self, id: &str, progress: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE backtests SET progress = $2 WHERE id = $1")
            .bind(id)
            .bind(progress)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Keeps a file a backtest wrote (its ledger), compressed.
    pub async fn put_backtest_file(
        &self,
        id: &str,
        name: &str,
        content: &[u8],
    ) -> Result<(), StoreError> {
        let compressed = zstd::encode_all(content, 3)
            .map_err(|error| StoreError::Unreadable(format!("compressing {name}: {error}")))?;
        sqlx::query(
            "INSERT INTO backtest_files (id, name, content) VALUES ($1, $2, $3)
             ON CONFLICT (id, name) DO UPDATE SET content = $3",
        )
        .bind(id)
        .bind(name)
        .bind(compressed)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A file a backtest wrote, if it was kept.
    pub async fn backtest_file(&self, id: &str, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let content: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT content FROM backtest_files WHERE id = $1 AND name = $2")
                .bind(id)
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        content
            .map(|compressed| {
                zstd::decode_all(compressed.as_slice())
                    .map_err(|error| StoreError::Unreadable(format!("{id} {name}: {error}")))
            })
            .transpose()
    }

    /// Says `runner` is alive and still running its unfinished backtests.
    pub async fn heartbeat_backtests(
        &self,
        runner: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE backtests SET alive_at = $2
             WHERE runner = $1 AND status IN ('queued', 'running')",
        )
        .bind(runner)
        .bind(millis(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks a backtest running.
    pub async fn start_backtest(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE backtests SET status = 'running', started_at = $2 WHERE id = $1")
            .bind(id)
            .bind(millis(now()))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records how a backtest ended: `done` or `interrupted` with its
    /// report, or `failed` with the reason.
    pub async fn finish_backtest(
        &self,
        id: &str,
        status: &str,
        report: Option<&str>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE backtests SET status = $2, finished_at = $3, report = $4, error = $5
             WHERE id = $1",
        )
        .bind(id)
        .bind(status)
        .bind(millis(now()))
        .bind(report)
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Backtests left queued or running by a service that stopped without
    /// finishing them (its last sign of life before `silent_since`) are
    /// failed, saying so.
    pub async fn fail_unfinished_backtests(
        &self,
        silent_since: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let failed = sqlx::query(
            "UPDATE backtests SET status = 'failed', finished_at = $1,
             error = 'the service stopped before the backtest finished; submit it again'
             WHERE status IN ('queued', 'running') AND (alive_at IS NULL OR alive_at < $2)",
        )
        .bind(millis(now()))
        .bind(millis(silent_since))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(usize::try_from(failed).unwrap_or(usize::MAX))
    }

    /// One backtest.
    pub async fn backtest(&self, id: &str) -> Result<Option<StoredBacktest>, StoreError> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM backtests WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| backtest_row(&row))
            .transpose()
    }

    /// Every backtest, newest first.
    pub async fn backtests(&self) -> Result<Vec<StoredBacktest>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM backtests ORDER BY created_at DESC, id"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(backtest_row)
        .collect()
    }
}

fn backtest_row(row: &AnyRow) -> Result<StoredBacktest, StoreError> {
    Ok(StoredBacktest {
        id: row.try_get(0)?,
        created_at: time_column(row, 1)?,
        key_id: row.try_get(2)?,
        request: row.try_get(3)?,
        status: row.try_get(4)?,
        started_at: optional_time_column(row, 5)?,
        finished_at: optional_time_column(row, 6)?,
        report: row.try_get(7)?,
        error: row.try_get(8)?,
        progress: row.try_get(9)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn backtests_left_unfinished_are_failed_at_start() {
        let (store, _dir) = super::super::temp_store("backtests").await;
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
            progress: None,
        };
        store
            .insert_backtest(&backtest, "r1")
            .await
            .expect("stored");
        store.start_backtest("bt_1").await.expect("started");
        // Alive a moment ago: not failed; silent since: failed.
        let (earlier, later) = (
            backtest.created_at - chrono::TimeDelta::seconds(1),
            now() + chrono::TimeDelta::seconds(1),
        );
        assert_eq!(
            store
                .fail_unfinished_backtests(earlier)
                .await
                .expect("read"),
            0
        );
        assert_eq!(
            store
                .fail_unfinished_backtests(later)
                .await
                .expect("failed"),
            1
        );
        let failed = store
            .backtest("bt_1")
            .await
            .expect("read")
            .expect("the backtest");
        assert_eq!(failed.status, "failed");
        assert!(failed.started_at.is_some() && failed.finished_at.is_some());
        assert!(failed.error.is_some());
        assert_eq!(
            store
                .fail_unfinished_backtests(later)
                .await
                .expect("none left"),
            0
        );
    }
}
