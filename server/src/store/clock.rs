//! The `simulated_clock` table: the simulated clock replicas on one
//! database share (one row): its start and speed, the wall-clock instant
//! it showed its start, and how far it was advanced by hand.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::Row;

use super::{CLOCK_CHANNEL, Store, StoreError, millis, time_column};

/// A shared simulated clock's running state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SharedClock {
    /// The wall-clock instant it showed its start.
    pub epoch: DateTime<Utc>,
    /// How far it was advanced by hand.
    pub advanced: TimeDelta,
}

impl Store {
    /// Joins the shared simulated clock of `start` and `speed`: the one
    /// running when its settings are these, else a new one from `epoch`.
    pub async fn share_clock(
        &self,
        start: DateTime<Utc>,
        speed: f64,
        epoch: DateTime<Utc>,
    ) -> Result<SharedClock, StoreError> {
        sqlx::query(
            "INSERT INTO simulated_clock (id, start, speed, epoch, advanced_ms)
             VALUES (1, $1, $2, $3, 0)
             ON CONFLICT (id) DO UPDATE SET start = $1, speed = $2, epoch = $3, advanced_ms = 0
             WHERE simulated_clock.start <> $1 OR simulated_clock.speed <> $2",
        )
        .bind(millis(start))
        .bind(speed)
        .bind(millis(epoch))
        .execute(&self.pool)
        .await?;
        self.shared_clock().await
    }

    /// The shared simulated clock as it runs now.
    pub async fn shared_clock(&self) -> Result<SharedClock, StoreError> {
        let row = sqlx::query("SELECT epoch, advanced_ms FROM simulated_clock WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        let advanced: i64 = row.try_get(1)?;
        Ok(SharedClock {
            epoch: time_column(&row, 0)?,
            advanced: TimeDelta::milliseconds(advanced),
        })
    }

    /// Advances the shared simulated clock by `by` for every replica (they
    /// hear of it on [`CLOCK_CHANNEL`]).
    pub async fn advance_shared_clock(&self, by: TimeDelta) -> Result<SharedClock, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE simulated_clock SET advanced_ms = advanced_ms + $1 WHERE id = 1")
            .bind(by.num_milliseconds())
            .execute(&mut *tx)
            .await?;
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(CLOCK_CHANNEL)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.shared_clock().await
    }
}
