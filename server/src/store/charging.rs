//! The `charging` and `charging_forecast` tables: metered charging load and
//! the controller's own forecast values, per site and interval start.

use rusqlite::params;

use super::{Store, StoreError};

impl Store {
    /// Stores metered charging load (kW per interval start); a reading for
    /// an instant already stored replaces it. Returns how many were written.
    pub fn put_charging(
        &self,
        site_id: &str,
        readings: &[(String, f64)],
    ) -> Result<usize, StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            {
                let mut statement = tx.prepare(
                    "INSERT INTO charging (site_id, timestamp_utc, kw) VALUES (?1, ?2, ?3)
                     ON CONFLICT (site_id, timestamp_utc) DO UPDATE SET kw = ?3",
                )?;
                for (at, kw) in readings {
                    statement.execute(params![site_id, at, kw])?;
                }
            }
            tx.commit()?;
            Ok(readings.len())
        })
    }

    /// Stores a controller's charging forecast, issued at `issued_at`; a
    /// value for an instant already forecast replaces it.
    pub fn put_charging_forecast(
        &self,
        site_id: &str,
        values: &[(String, f64)],
        issued_at: &str,
    ) -> Result<usize, StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            {
                let mut statement = tx.prepare(
                    "INSERT INTO charging_forecast (site_id, timestamp_utc, kw, issued_at)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (site_id, timestamp_utc) DO UPDATE SET kw = ?3, issued_at = ?4",
                )?;
                for (at, kw) in values {
                    statement.execute(params![site_id, at, kw, issued_at])?;
                }
            }
            tx.commit()?;
            Ok(values.len())
        })
    }

    /// A controller's charging forecast for `from` ≤ t < `to`, issued at or
    /// before `issued_by`: (instant, kW, issued at), oldest instant first.
    pub fn charging_forecast(
        &self,
        site_id: &str,
        from: &str,
        to: &str,
        issued_by: &str,
    ) -> Result<Vec<(String, f64, String)>, StoreError> {
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT timestamp_utc, kw, issued_at FROM charging_forecast
                 WHERE site_id = ?1 AND timestamp_utc >= ?2 AND timestamp_utc < ?3
                   AND issued_at <= ?4
                 ORDER BY timestamp_utc",
            )?;
            statement
                .query_map([site_id, from, to, issued_by], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })?
                .collect()
        })
    }

    /// A site's metered charging load from `from` (inclusive, RFC 3339 UTC
    /// as stored) on, oldest first.
    pub fn charging_since(
        &self,
        site_id: &str,
        from: &str,
    ) -> Result<Vec<(String, f64)>, StoreError> {
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT timestamp_utc, kw FROM charging WHERE site_id = ?1 AND timestamp_utc >= ?2
                 ORDER BY timestamp_utc",
            )?;
            statement
                .query_map([site_id, from], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        })
    }

    /// A site's metered charging load for `from` ≤ t < `to`, oldest first.
    pub fn charging_between(
        &self,
        site_id: &str,
        from: &str,
        to: &str,
    ) -> Result<Vec<(String, f64)>, StoreError> {
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT timestamp_utc, kw FROM charging
                 WHERE site_id = ?1 AND timestamp_utc >= ?2 AND timestamp_utc < ?3
                 ORDER BY timestamp_utc",
            )?;
            statement
                .query_map([site_id, from, to], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        })
    }
}
