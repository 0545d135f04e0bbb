//! The `charging` and `charging_forecast` tables: metered charging load and
//! the controller's own forecast values, per site and interval start.

use super::{Store, StoreError};

impl Store {
    /// Stores metered charging load (kW per interval start); a reading for
    /// an instant already stored replaces it. Returns how many were written.
    pub async fn put_charging(
        &self,
        site_id: &str,
        readings: &[(String, f64)],
    ) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin().await?;
        for (at, kw) in readings {
            sqlx::query(
                "INSERT INTO charging (site_id, timestamp_utc, kw) VALUES ($1, $2, $3)
                 ON CONFLICT (site_id, timestamp_utc) DO UPDATE SET kw = $3",
            )
            .bind(site_id)
            .bind(at)
            .bind(kw)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(readings.len())
    }

    /// Stores a controller's charging forecast, issued at `issued_at`; a
    /// value for an instant already forecast replaces it.
    pub async fn put_charging_forecast(
        &self,
        site_id: &str,
        values: &[(String, f64)],
        issued_at: &str,
    ) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin().await?;
        for (at, kw) in values {
            sqlx::query(
                "INSERT INTO charging_forecast (site_id, timestamp_utc, kw, issued_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (site_id, timestamp_utc) DO UPDATE SET kw = $3, issued_at = $4",
            )
            .bind(site_id)
            .bind(at)
            .bind(kw)
            .bind(issued_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(values.len())
    }

    /// A controller's charging forecast for `from` ≤ t < `to`, issued at or
    /// before `issued_by`: (instant, kW, issued at), oldest instant first.
    pub async fn charging_forecast(
        &self,
        site_id: &str,
        from: &str,
        to: &str,
        issued_by: &str,
    ) -> Result<Vec<(String, f64, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT timestamp_utc, kw, issued_at FROM charging_forecast
             WHERE site_id = $1 AND timestamp_utc >= $2 AND timestamp_utc < $3
               AND issued_at <= $4
             ORDER BY timestamp_utc",
        )
        .bind(site_id)
        .bind(from)
        .bind(to)
        .bind(issued_by)
        .fetch_all(&self.pool)
        .await?)
    }

    /// A site's metered charging load from `from` (inclusive, RFC 3339 UTC
    /// as stored) on, oldest first.
    pub async fn charging_since(
        &self,
        site_id: &str,
        from: &str,
    ) -> Result<Vec<(String, f64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT timestamp_utc, kw FROM charging WHERE site_id = $1 AND timestamp_utc >= $2
             ORDER BY timestamp_utc",
        )
        .bind(site_id)
        .bind(from)
        .fetch_all(&self.pool)
        .await?)
    }

    /// A site's metered charging load for `from` ≤ t < `to`, oldest first.
    pub async fn charging_between(
        &self,
        site_id: &str,
        from: &str,
        to: &str,
    ) -> Result<Vec<(String, f64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT timestamp_utc, kw FROM charging
             WHERE site_id = $1 AND timestamp_utc >= $2 AND timestamp_utc < $3
             ORDER BY timestamp_utc",
        )
        .bind(site_id)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?)
    }
}
