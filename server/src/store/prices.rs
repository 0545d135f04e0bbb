//! The `prices` table: day-ahead prices per market and delivery day, every revision.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::{Store, StoreError, json_column, millis, now, seconds, time_column};

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
    pub fn put_prices(&self, new: &NewPrices) -> Result<(StoredPrices, bool), StoreError> {
        let prices = serde_json::to_string(&new.prices)?;
        self.with(|c| {
            let tx = c.transaction()?;
            let current = latest_prices(&tx, &new.market, &new.day)?;
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
            tx.execute(
                "INSERT INTO prices (market, day, revision, currency, start, step_minutes, prices,
                    uploaded_at, uploaded_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    stored.market,
                    stored.day,
                    stored.revision,
                    stored.currency,
                    seconds(stored.start),
                    stored.step_minutes,
                    prices,
                    millis(stored.uploaded_at),
                    stored.uploaded_by
                ],
            )?;
            tx.commit()?;
            Ok((stored, true))
        })
    }

    /// Every revision of one market day, oldest first.
    pub fn price_revisions(
        &self,
        market: &str,
        day: &str,
    ) -> Result<Vec<StoredPrices>, StoreError> {
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT market, day, revision, currency, start, step_minutes, prices, uploaded_at,
                    uploaded_by FROM prices WHERE market = ?1 AND day = ?2 ORDER BY revision",
            )?;
            statement.query_map([market, day], prices_row)?.collect()
        })
    }

    /// The latest revision of each of a market's days from `from_day` to
    /// `to_day` (inclusive, `YYYY-MM-DD`), by day.
    pub fn prices_between(
        &self,
        market: &str,
        from_day: &str,
        to_day: &str,
    ) -> Result<Vec<StoredPrices>, StoreError> {
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT p.market, p.day, p.revision, p.currency, p.start, p.step_minutes, p.prices,
                    p.uploaded_at, p.uploaded_by
                 FROM prices p
                 WHERE p.market = ?1 AND p.day BETWEEN ?2 AND ?3
                   AND p.revision = (SELECT MAX(revision) FROM prices q
                                     WHERE q.market = p.market AND q.day = p.day)
                 ORDER BY p.day",
            )?;
            statement
                .query_map([market, from_day, to_day], prices_row)?
                .collect()
        })
    }
}

fn prices_row(row: &rusqlite::Row) -> Result<StoredPrices, rusqlite::Error> {
    Ok(StoredPrices {
        market: row.get(0)?,
        day: row.get(1)?,
        revision: row.get(2)?,
        currency: row.get(3)?,
        start: time_column(row, 4)?,
        step_minutes: row.get(5)?,
        prices: json_column(row, 6)?,
        uploaded_at: time_column(row, 7)?,
        uploaded_by: row.get(8)?,
    })
}

fn latest_prices(
    c: &Connection,
    market: &str,
    day: &str,
) -> Result<Option<StoredPrices>, rusqlite::Error> {
    c.query_row(
        "SELECT market, day, revision, currency, start, step_minutes, prices, uploaded_at,
            uploaded_by FROM prices WHERE market = ?1 AND day = ?2
         ORDER BY revision DESC LIMIT 1",
        [market, day],
        prices_row,
    )
    .optional()
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

    #[test]
    fn the_same_prices_change_nothing_and_new_ones_are_a_revision() {
        let (store, _dir) = super::super::temp_store("prices");
        let (first, changed) = store.put_prices(&day(vec![1.0, 2.0])).expect("stored");
        assert_eq!((first.revision, changed), (1, true));
        let (same, changed) = store.put_prices(&day(vec![1.0, 2.0])).expect("stored");
        assert_eq!(
            (same.revision, changed, same.uploaded_at),
            (1, false, first.uploaded_at)
        );
        let (second, changed) = store.put_prices(&day(vec![1.0, 3.0])).expect("stored");
        assert_eq!((second.revision, changed), (2, true));
        let revisions = store.price_revisions("m", "2024-10-24").expect("read");
        assert_eq!(
            revisions.iter().map(|p| p.revision).collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(revisions[0].start, first.start);
        let latest = store
            .prices_between("m", "2024-10-24", "2024-10-24")
            .expect("read");
        assert_eq!(
            latest.iter().map(|p| p.prices.clone()).collect::<Vec<_>>(),
            [vec![1.0, 3.0]]
        );
    }
}
