//! Each site's metered charging as this replica last read it, kept between
//! plans: a plan reads only the readings uploaded since (by revision, see
//! [`Store::put_charging`]) instead of the up to 86 days it forecasts from
//! (8,256 readings at 15 minutes). The values are those the store holds, so
//! a plan built from the kept history is the plan built from a full read;
//! the last reading used (the basis's `charging_until`) is the last on the
//! site's grid (after a change of interval, older readings off it are not
//! used). A replica keeps every site it has planned.
//!
//! Memory: 8 bytes per interval of the window a site's plans read (67 KB
//! for 86 days at 15 minutes).

use std::collections::HashMap;
use std::sync::Mutex;

use arbiter_forecast::Series;
use chrono::{DateTime, Utc};

use super::rfc;
use crate::store::{Store, StoreError};

/// The kept histories, by site.
#[derive(Debug, Default)]
pub struct ChargingHistories {
    sites: Mutex<HashMap<String, Kept>>,
}

/// The grid and the instants a plan reads.
struct Window {
    minutes: u32,
    /// The first instant read (on the grid).
    first: i64,
    /// The plan's first interval: readings before it are read.
    at: i64,
}

/// One site's readings on its interval grid.
#[derive(Debug, Clone, Default)]
struct Kept {
    minutes: u32,
    /// The newest upload revision read: every reading written by it or an
    /// earlier one from `start` on is in `values`.
    revision: i64,
    /// The instant of `values[0]` (a grid instant; what is kept starts here).
    start: i64,
    /// kW per interval from `start`; NaN where nothing is stored.
    values: Vec<f64>,
}

/// What a plan at `at` reads of a site's metering since `since`.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// Readings from `since` (on the grid) to `at`; NaN where missing.
    /// `None` without any reading there.
    pub series: Option<Series>,
    /// The last reading before `at`.
    pub until: Option<DateTime<Utc>>,
    /// Readings this read took from the store.
    pub read: usize,
}

impl ChargingHistories {
    /// `site_id`'s readings on its `minutes` grid from `since` up to `at`,
    /// from what is kept and what was uploaded since it was read.
    pub async fn read(
        &self,
        store: &Store,
        site_id: &str,
        minutes: u32,
        since: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<History, StoreError> {
        let step = i64::from(minutes.max(1)) * 60;
        let first = since.timestamp() - since.timestamp().rem_euclid(step);
        let window = Window {
            minutes,
            first,
            at: at.timestamp(),
        };
        // What is kept, if it serves this plan: the same grid, from as early.
        let kept_revision = self
            .lock()
            .get(site_id)
            .filter(|kept| kept.minutes == minutes && kept.start <= first)
            .map(|kept| kept.revision);
        if let Some(after) = kept_revision {
            let changed = store.charging_changed(site_id, &rfc(since), after).await?;
            if let Some(history) = self.merge(site_id, &window, after, &changed) {
                return Ok(History {
                    read: changed.len(),
                    ..history
                });
            }
        }
        let all = store.charging_changed(site_id, &rfc(since), -1).await?;
        let mut sites = self.lock();
        let kept = sites.entry(site_id.to_owned()).or_default();
        *kept = Kept::empty(minutes, first);
        kept.apply(&all);
        Ok(History {
            read: all.len(),
            ..kept.history(window.first, window.at)
        })
    }

    /// Adds what was uploaded after revision `after` to what is kept; `None`
    /// when another plan of the site replaced what was kept meanwhile (what
    /// this one read may then not complete it).
    fn merge(
        &self,
        site_id: &str,
        window: &Window,
        after: i64,
        changed: &[(String, f64, i64)],
    ) -> Option<History> {
        let mut sites = self.lock();
        let kept = sites.get_mut(site_id)?;
        if kept.minutes != window.minutes || kept.start > window.first || kept.revision < after {
            return None;
        }
        kept.forget_before(window.first);
        kept.apply(changed);
        Some(kept.history(window.first, window.at))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Kept>> {
        self.sites
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Kept {
    fn empty(minutes: u32, start: i64) -> Kept {
        Kept {
            minutes,
            revision: -1,
            start,
            values: Vec::new(),
        }
    }

    fn step(&self) -> i64 {
        i64::from(self.minutes.max(1)) * 60
    }

    /// Adds readings uploaded after what is kept; those of revisions kept
    /// already are kept as they were or newer.
    fn apply(&mut self, changed: &[(String, f64, i64)]) {
        let known = self.revision;
        for (instant, kw, revision) in changed.iter().filter(|row| row.2 > known) {
            if let Ok(instant) = DateTime::parse_from_rfc3339(instant) {
                self.set(instant.timestamp(), *kw);
            }
            self.revision = self.revision.max(*revision);
        }
    }

    /// Drops what lies before `first` (a grid instant at or after `start`).
    fn forget_before(&mut self, first: i64) {
        let drop = usize::try_from((first - self.start) / self.step()).unwrap_or(0);
        self.values.drain(..drop.min(self.values.len()));
        self.start = first;
    }

    /// Stores the reading at `instant`; one off the grid is not kept (the
    /// forecast reads only grid instants).
    fn set(&mut self, instant: i64, kw: f64) {
        let offset = instant - self.start;
        if offset < 0 || offset % self.step() != 0 {
            return;
        }
        let Ok(i) = usize::try_from(offset / self.step()) else {
            return;
        };
        if i >= self.values.len() {
            self.values.resize(i + 1, f64::NAN);
        }
        self.values[i] = kw;
    }

    /// The readings from `first` to `at`, and the last one before `at`.
    fn history(&self, first: i64, at: i64) -> History {
        let step = self.step();
        let count = usize::try_from((at - first) / step).unwrap_or(0);
        let values: Vec<f64> = (0..count)
            .map(|i| self.values.get(i).copied().unwrap_or(f64::NAN))
            .collect();
        let before = usize::try_from((at - first + step - 1) / step).unwrap_or(0);
        let until = self
            .values
            .iter()
            .take(before)
            .rposition(|kw| !kw.is_nan())
            .and_then(|i| DateTime::from_timestamp(first + i as i64 * step, 0));
        let series = values.iter().any(|kw| !kw.is_nan()).then(|| Series {
            start: DateTime::from_timestamp(first, 0).unwrap_or_default(),
            step_minutes: self.minutes,
            values,
        });
        History {
            series,
            until,
            read: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;
    use crate::planning::load_series;

    /// What a plan read before readings were kept: every reading since.
    async fn full(store: &Store, since: DateTime<Utc>, at: DateTime<Utc>, minutes: u32) -> History {
        let readings = store.charging_since("a", &rfc(since)).await.expect("read");
        History {
            series: load_series(&readings, since, at, minutes),
            until: readings
                .iter()
                .rev()
                .find(|(t, _)| t.as_str() < rfc(at).as_str())
                .map(|(t, _)| t.parse().expect("an instant")),
            read: readings.len(),
        }
    }

    #[tokio::test]
    async fn kept_readings_give_what_a_full_read_gives_reading_only_what_changed() {
        let (store, _dir) = crate::store::temp_store("history").await;
        let histories = ChargingHistories::default();
        let t0: DateTime<Utc> = "2024-10-01T00:00:00Z".parse().expect("an instant");
        let quarter = |k: i64| t0 + TimeDelta::minutes(15 * k);
        let reading = |k: i64, kw: f64| (rfc(quarter(k)), kw);
        // Three days, with a reading missing every 50.
        let days: Vec<_> = (0..288)
            .filter(|k| k % 50 != 7)
            .map(|k| reading(k, k as f64))
            .collect();
        store.put_charging("a", &days).await.expect("stored");
        let same_values = |kept: &History, full: &History| {
            let values = |h: &History| {
                h.series.as_ref().map(|s| {
                    (
                        s.start,
                        s.step_minutes,
                        s.values.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    )
                })
            };
            assert_eq!(values(kept), values(full));
        };
        let same = |kept: &History, full: &History| {
            assert_eq!(kept.until, full.until);
            same_values(kept, full);
        };
        let read = |since: DateTime<Utc>, at: DateTime<Utc>, minutes: u32| {
            let (store, histories) = (&store, &histories);
            async move {
                let kept = histories
                    .read(store, "a", minutes, since, at)
                    .await
                    .expect("read");
                (kept, full(store, since, at, minutes).await)
            }
        };

        // The first plan reads everything since its start.
        let (kept, all) = read(quarter(4), quarter(200), 15).await;
        same(&kept, &all);
        assert_eq!(kept.read, 284 - 1 - 5);
        assert!(kept.series.is_some());

        // New readings, and a correction of an old one: only those are read.
        let mut later: Vec<_> = (288..300).map(|k| reading(k, 2.0 * k as f64)).collect();
        later.push(reading(10, 999.0));
        store.put_charging("a", &later).await.expect("stored");
        let (kept, all) = read(quarter(8), quarter(296), 15).await;
        same(&kept, &all);
        assert_eq!(kept.read, 13);
        let series = kept.series.expect("readings");
        assert_eq!(series.values[2], 999.0);
        assert_eq!(kept.until, Some(quarter(295)));

        // Nothing new: nothing read.
        let (kept, all) = read(quarter(20), quarter(299), 15).await;
        same(&kept, &all);
        assert_eq!(kept.read, 0);

        // A plan reading from earlier than what is kept reads it all again.
        let (kept, all) = read(quarter(0), quarter(299), 15).await;
        same(&kept, &all);
        assert_eq!(kept.read, all.read);

        // Another grid (the site's interval changed): read again on it. The
        // last reading used is the last on the grid (a full read named the
        // last of all, 01:45, which the forecast skips).
        let (kept, all) = read(quarter(0), quarter(296), 60).await;
        same_values(&kept, &all);
        assert_eq!(kept.read, all.read);
        assert_eq!(kept.until, Some(quarter(292)));
        assert_eq!(all.until, Some(quarter(295)));

        // A site without readings has no history.
        let none = histories
            .read(&store, "b", 15, quarter(0), quarter(96))
            .await
            .expect("read");
        assert_eq!((none.series, none.until, none.read), (None, None, 0));
    }
}
