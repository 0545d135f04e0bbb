//! The `charging` and `charging_forecast` tables: metered charging load and
//! the controller's own forecast values, per site and interval start.

use super::{Store, StoreError, next_count};

/// Readings written per statement: four parameters each, well inside both
/// databases' limits.
const ROWS_PER_STATEMENT: usize = 500;

/// Metered readings written since a revision: (instant, kW, the revision
/// of the upload that last wrote it).
pub type ChangedReadings = Vec<(String, f64, i64)>;

/// `values`, keeping the last of any instant given twice (as writing them
/// one after another would).
fn last_per_instant(values: &[(String, f64)]) -> Vec<(&str, f64)> {
    let mut last: std::collections::BTreeMap<&str, f64> = std::collections::BTreeMap::new();
    for (at, kw) in values {
        last.insert(at.as_str(), *kw);
    }
    last.into_iter().collect()
}

/// `INSERT INTO table (columns) VALUES ($1, …), (…) …` for `rows` rows of
/// `columns.len()` parameters each, then `tail`.
fn insert_rows(table: &str, columns: &[&str], rows: usize, tail: &str) -> String {
    let width = columns.len();
    let values: Vec<String> = (0..rows)
        .map(|row| {
            let cells: Vec<String> = (1..=width)
                .map(|c| format!("${}", row * width + c))
                .collect();
            format!("({})", cells.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO {table} ({}) VALUES {} {tail}",
        columns.join(", "),
        values.join(", ")
    )
}

impl Store {
    /// Stores metered charging load (kW per interval start); a reading for
    /// an instant already stored replaces it. Returns how many were written.
    /// Written a few hundred readings per statement, in one transaction,
    /// each marked with the upload's revision: the site's count of uploads,
    /// taken in turn by concurrent uploads (one row per site), so that an
    /// upload's readings are visible before any later revision's are.
    pub async fn put_charging(
        &self,
        site_id: &str,
        readings: &[(String, f64)],
    ) -> Result<usize, StoreError> {
        let rows = last_per_instant(readings);
        let mut tx = self.pool.begin().await?;
        let revision = next_count(&mut tx, "charging_revisions", "revision", site_id).await?;
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let sql = insert_rows(
                "charging",
                &["site_id", "timestamp_utc", "kw", "revision"],
                chunk.len(),
                "ON CONFLICT (site_id, timestamp_utc)
                 DO UPDATE SET kw = excluded.kw, revision = excluded.revision",
            );
            let mut query = sqlx::query(&sql);
            for (at, kw) in chunk {
                query = query.bind(site_id).bind(*at).bind(*kw).bind(revision);
            }
            query.execute(&mut *tx).await?;
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
        let rows = last_per_instant(values);
        let mut tx = self.pool.begin().await?;
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let sql = insert_rows(
                "charging_forecast",
                &["site_id", "timestamp_utc", "kw", "issued_at"],
                chunk.len(),
                "ON CONFLICT (site_id, timestamp_utc)
                 DO UPDATE SET kw = excluded.kw, issued_at = excluded.issued_at",
            );
            let mut query = sqlx::query(&sql);
            for (at, kw) in chunk {
                query = query.bind(site_id).bind(*at).bind(*kw).bind(issued_at);
            }
            query.execute(&mut *tx).await?;
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

    /// A site's metered readings from `from` on (RFC 3339 UTC as stored)
    /// written by uploads after revision `after` (−1: all), in no order.
    pub async fn charging_changed(
        &self,
        site_id: &str,
        from: &str,
        after: i64,
    ) -> Result<ChangedReadings, StoreError> {
        Ok(sqlx::query_as(
            "SELECT timestamp_utc, kw, revision FROM charging
             WHERE site_id = $1 AND revision > $2 AND timestamp_utc >= $3",
        )
        .bind(site_id)
        .bind(after)
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

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn readings_are_written_in_chunks_and_the_last_of_an_instant_stays() {
        let (store, _dir) = super::super::temp_store("charging").await;
        // 1,201 readings (three statements), one instant given twice.
        let mut readings: Vec<(String, f64)> = (0..1200)
            .map(|i| {
                let at = chrono::DateTime::from_timestamp(1_700_000_000 + i * 900, 0)
                    .expect("an instant");
                (super::super::seconds(at), i as f64)
            })
            .collect();
        readings.push((readings[5].0.clone(), 999.0));
        assert_eq!(
            store.put_charging("a", &readings).await.expect("stored"),
            1201
        );
        let stored = store.charging_since("a", "2000").await.expect("read");
        assert_eq!(stored.len(), 1200);
        assert_eq!(stored[5].1, 999.0);
        assert_eq!(stored[1199].1, 1199.0);
        // A second upload replaces what it repeats.
        store
            .put_charging("a", &[(readings[0].0.clone(), 7.5)])
            .await
            .expect("stored");
        let first = store.charging_since("a", "2000").await.expect("read");
        assert_eq!((first.len(), first[0].1), (1200, 7.5));
        // Each upload is a revision; only what it wrote is read as changed.
        let changed = store.charging_changed("a", "2000", 1).await.expect("read");
        assert_eq!(changed, vec![(readings[0].0.clone(), 7.5, 2)]);
        assert_eq!(
            store
                .charging_changed("a", "2000", 0)
                .await
                .expect("read")
                .len(),
            1200
        );
        assert!(
            store
                .charging_changed("a", "2000", 2)
                .await
                .expect("read")
                .is_empty()
        );
        assert!(
            store
                .charging_changed("b", "2000", -1)
                .await
                .expect("read")
                .is_empty()
        );
        let issued = "2024-10-24T07:00:00.000Z";
        let values = &readings[..3];
        store
            .put_charging_forecast("a", values, issued)
            .await
            .expect("stored");
        let forecast = store
            .charging_forecast("a", "2000", "3000", issued)
            .await
            .expect("read");
        assert_eq!(forecast.len(), 3);
        assert_eq!(forecast[0].2, issued);
    }
}
