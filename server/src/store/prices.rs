//! The `prices` table: day-ahead prices per market and delivery day, every revision.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, json_column, millis, now, seconds, time_column};

/// The columns [`prices_row`] reads, in its order.
const COLUMNS: &str =
    "market, day, revision, currency, start, step_minutes, prices, uploaded_at, uploaded_by";

/// One revision of a market day's prices.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPrices {
    /// The market.
    pub market: String,
    /// The delivery day, local to the market (`YYYY-MM-DD`).
    pub day: String,
    /// 1 for the first upload, +1 for each correction.
    pub revision: i64,
    /// Currency of the prices.
    pub currency: String,
    /// UTC start of the first interval.
    pub start: DateTime<Utc>,
    /// Interval, minutes.
    pub step_minutes: i64,
    /// Prices per MWh, one per interval.
    pub prices: Vec<f64>,
    /// When this revision was stored.
    pub uploaded_at: DateTime<Utc>,
    /// The key that uploaded it.
    pub uploaded_by: String,
}

/// A market day's prices to store: the store numbers the revision and
/// stamps the upload.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPrices {
    /// The market.
    pub market: String,
    /// The delivery day, local to the market (`YYYY-MM-DD`).
    pub day: String,
    /// Currency of the prices.
    pub currency: String,
    /// UTC start of the first interval.
    pub start: DateTime<Utc>,
    /// Interval, minutes.
    pub step_minutes: i64,
    /// Prices per MWh, one per interval.
    pub prices: Vec<f64>,
    /// The key that uploads them.
    pub uploaded_by: String,
}

impl Store {
    /// Stores a market day's prices. The same prices again change nothing
    /// (the current revision is returned, `false`); different ones are kept
    /// as a new revision beside the old (`true`), numbered and stamped here.
    pub async fn put_prices(&self, new: &NewPrices) -> Result<(StoredPrices, bool), StoreError> {
        let prices = serde_json::to_string(&new.prices)?;
        let mut tx = self.pool.begin().await?;
        let current = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM prices WHERE market = $1 AND day = $2
             ORDER BY revision DESC LIMIT 1"
        ))
        .bind(&new.market)
        .bind(&new.day)
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| prices_row(&row))
        .transpose()?;
        let revision = match current {
            Some(current)
                if current.start == new.start
                    && current.step_minutes == new.step_minutes
                    && current.currency == new.currency
                    && current.prices == new.prices =>
            {
                return Ok((current, false));
            }
            Some(current) => current.revision + 1,
            None => 1,
        };
        let stored = StoredPrices {
            market: new.market.clone(),
            day: new.day.clone(),
            revision,
            currency: new.currency.clone(),
            start: new.start,
            step_minutes: new.step_minutes,
            prices: new.prices.clone(),
            uploaded_at: now(),
            uploaded_by: new.uploaded_by.clone(),
        };
        sqlx::query(&format!(
            "INSERT INTO prices ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(&stored.market)
        .bind(&stored.day)
        .bind(stored.revision)
        .bind(&stored.currency)
        .bind(seconds(stored.start))
        .bind(stored.step_minutes)
        .bind(prices)
        .bind(millis(stored.uploaded_at))
        .bind(&stored.uploaded_by)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((stored, true))
    }

    /// Every revision of one market day, oldest first.
    pub async fn price_revisions(
        &self,
        market: &str,
        day: &str,
    ) -> Result<Vec<StoredPrices>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM prices WHERE market = $1 AND day = $2 ORDER BY revision"
        ))
        .bind(market)
        .bind(day)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(prices_row)
        .collect()
    }

    /// The latest revision of each of a market's days from `from_day` to
    /// `to_day` (inclusive, `YYYY-MM-DD`), by day.
    pub async fn prices_between(
        &self,
        market: &str,
        from_day: &str,
        to_day: &str,
    ) -> Result<Vec<StoredPrices>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM prices p
             WHERE p.market = $1 AND p.day BETWEEN $2 AND $3
               AND p.revision = (SELECT MAX(revision) FROM prices q
                                 WHERE q.market = p.market AND q.day = p.day)
             ORDER BY p.day"
        ))
        .bind(market)
        .bind(from_day)
        .bind(to_day)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(prices_row)
        .collect()
    }
}

fn prices_row(row: &AnyRow) -> Result<StoredPrices, StoreError> {
    Ok(StoredPrices {
        market: row.try_get(0)?,
        day: row.try_get(1)?,
        revision: row.try_get(2)?,
        currency: row.try_get(3)?,
        start: time_column(row, 4)?,
        step_minutes: row.try_get(5)?,
        prices: json_column(row, 6)?,
        uploaded_at: time_column(row, 7)?,
        uploaded_by: row.try_get(8)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(prices: Vec<f64>) -> NewPrices {
        NewPrices {
            market: "m".to_owned(),
            day: "2024-10-24".to_owned(),
            currency: "USD".to_owned(),
            start: "2024-10-24T07:00:00Z".parse().expect("an instant"),
            step_minutes: 60,
            prices,
            uploaded_by: "key_1".to_owned(),
        }
    }

    #[tokio::test]
    async fn the_same_prices_change_nothing_and_new_ones_are_a_revision() {
        let (store, _dir) = super::super::temp_store("prices").await;
        let (first, changed) = store
            .put_prices(&day(vec![1.0, 2.0]))
            .await
            .expect("stored");
        assert_eq!((first.revision, changed), (1, true));
        let (same, changed) = store
            .put_prices(&day(vec![1.0, 2.0]))
            .await
            .expect("stored");
        assert_eq!(
            (same.revision, changed, same.uploaded_at),
            (1, false, first.uploaded_at)
        );
        let (second, changed) = store
            .put_prices(&day(vec![1.0, 3.0]))
            .await
            .expect("stored");
        assert_eq!((second.revision, changed), (2, true));
        let revisions = store
            .price_revisions("m", "2024-10-24")
            .await
            .expect("read");
        assert_eq!(
            revisions.iter().map(|p| p.revision).collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(revisions[0].start, first.start);
        let latest = store
            .prices_between("m", "2024-10-24", "2024-10-24")
            .await
            .expect("read");
        assert_eq!(
            latest.iter().map(|p| p.prices.clone()).collect::<Vec<_>>(),
            [vec![1.0, 3.0]]
        );
    }
}
