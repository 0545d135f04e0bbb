//! The `telemetry` table: battery energy, meter and running jobs as reported.

use sqlx::Row;

use super::{Store, StoreError};

/// What a plan needs of a site's telemetry.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryNow {
    /// The latest battery energy reported: (instant, kWh).
    pub soc: Option<(String, f64)>,
    /// The highest meter reading of the range asked for, kW.
    pub peak_kw: Option<f64>,
    /// The latest report, as stored (JSON).
    pub latest: Option<String>,
}

impl Store {
    /// A site's telemetry reports for `from` ≤ at < `to`, oldest first: each
    /// report as stored (JSON).
    pub async fn telemetry_between(
        &self,
        site_id: &str,
        from: &str,
        to: &str,
    ) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT body FROM telemetry WHERE site_id = $1 AND at >= $2 AND at < $3 ORDER BY at",
        )
        .bind(site_id)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Stores a telemetry report at its instant (`body` is the report as
    /// JSON); a report for an instant already stored replaces it.
    pub async fn put_telemetry(
        &self,
        site_id: &str,
        at: &str,
        soc_kwh: Option<f64>,
        meter_kw: Option<f64>,
        body: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO telemetry (site_id, at, soc_kwh, meter_kw, body)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (site_id, at) DO UPDATE SET soc_kwh = $3, meter_kw = $4, body = $5",
        )
        .bind(site_id)
        .bind(at)
        .bind(soc_kwh)
        .bind(meter_kw)
        .bind(body)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every site's latest battery energy: site → (instant, kWh), in one
    /// statement.
    pub async fn latest_batteries(
        &self,
    ) -> Result<std::collections::HashMap<String, (String, f64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.site_id, t.at, t.soc_kwh FROM telemetry t
             JOIN (SELECT site_id, MAX(at) AS at FROM telemetry
                   WHERE soc_kwh IS NOT NULL GROUP BY site_id) latest
               ON t.site_id = latest.site_id AND t.at = latest.at",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, (row.try_get(1)?, row.try_get(2)?))))
            .collect()
    }

    /// The highest meter reading of each site from `from` (inclusive) on,
    /// in one statement: site → kW.
    pub async fn peaks_since(
        &self,
        from: &str,
    ) -> Result<std::collections::HashMap<String, f64>, StoreError> {
        let rows = sqlx::query(
            "SELECT site_id, MAX(meter_kw) FROM telemetry
             WHERE at >= $1 AND meter_kw IS NOT NULL GROUP BY site_id",
        )
        .bind(from)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect()
    }

    /// What a plan needs of a site's telemetry, in one statement: the
    /// latest battery energy (instant, kWh), the highest meter reading
    /// from `from` (inclusive) to `to` (exclusive), and the latest report
    /// (JSON).
    pub async fn telemetry_now(
        &self,
        site_id: &str,
        from: &str,
        to: &str,
    ) -> Result<TelemetryNow, StoreError> {
        let row = sqlx::query(
            "SELECT
               (SELECT at FROM telemetry WHERE site_id = $1 AND soc_kwh IS NOT NULL
                ORDER BY at DESC LIMIT 1),
               (SELECT soc_kwh FROM telemetry WHERE site_id = $1 AND soc_kwh IS NOT NULL
                ORDER BY at DESC LIMIT 1),
               (SELECT MAX(meter_kw) FROM telemetry WHERE site_id = $1 AND at >= $2 AND at < $3),
               (SELECT body FROM telemetry WHERE site_id = $1 ORDER BY at DESC LIMIT 1)",
        )
        .bind(site_id)
        .bind(from)
        .bind(to)
        .fetch_one(&self.pool)
        .await?;
        let at: Option<String> = row.try_get(0)?;
        let soc: Option<f64> = row.try_get(1)?;
        Ok(TelemetryNow {
            soc: at.zip(soc),
            peak_kw: row.try_get(2)?,
            latest: row.try_get(3)?,
        })
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_latest_energy_and_the_peak_of_a_range_read_back() {
        let (store, _dir) = super::super::temp_store("telemetry").await;
        for (at, soc, meter) in [
            ("2024-10-24T07:00:00Z", Some(4000.0), 900.0),
            ("2024-10-24T08:00:00Z", None, 1200.0),
            ("2024-10-24T09:00:00Z", Some(3800.5), 800.0),
        ] {
            store
                .put_telemetry("a", at, soc, Some(meter), "{}")
                .await
                .expect("stored");
        }
        let now = store
            .telemetry_now("a", "2024-10-24T07:00:00Z", "2024-10-24T09:00:00Z")
            .await
            .expect("read");
        assert_eq!(now.soc, Some(("2024-10-24T09:00:00Z".to_owned(), 3800.5)));
        assert_eq!(now.peak_kw, Some(1200.0));
        assert_eq!(now.latest.as_deref(), Some("{}"));
        let none = store
            .telemetry_now("b", "2024", "2025")
            .await
            .expect("read");
        assert_eq!((none.soc, none.peak_kw, none.latest), (None, None, None));
        let batteries = store.latest_batteries().await.expect("batteries");
        assert_eq!(batteries.len(), 1);
        assert_eq!(batteries["a"], ("2024-10-24T09:00:00Z".to_owned(), 3800.5));
        let peaks = store
            .peaks_since("2024-10-24T08:30:00Z")
            .await
            .expect("peaks");
        assert_eq!(peaks.get("a"), Some(&800.0));
        assert!(
            store
                .peaks_since("2100-01-01T00:00:00Z")
                .await
                .expect("none")
                .is_empty()
        );
    }
}
