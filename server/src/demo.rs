//! `arbiter serve --demo`: the service on a simulated clock from
//! 2024-10-24 07:00 UTC (midnight in California) running 60× real time,
//! seeded from `fixtures/`: the demo site, the CAISO NP15 week of prices,
//! the Broxden charging week mapped onto it (×20), a battery report, the
//! jobs a synthetic queue had submitted by then, and one key per role.

use std::path::Path;
use std::sync::Arc;

use arbiter_backtest::SiteConfig;
use arbiter_forecast::{
    PriceSource, SyntheticQueue, TimeColumn, align_by_week, read_metered_load, read_prices,
    resample,
};
use arbiter_optimizer::IntervalPlan;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::Deserialize;

use super::auth::{Role, create_key};
use super::clock::ClockConfig;
use super::jobs::JobSpec;
use super::store::{NewPrices, Store, StoredJob};
use crate::AppState;
use crate::http::common::load_site;
use crate::http::telemetry::{Telemetry, store_telemetry};
use crate::planning::interval_start;

/// Where the demo's clock starts.
pub const START: &str = "2024-10-24T07:00:00Z";
/// Simulated seconds per real second.
pub const SPEED: f64 = 60.0;

fn rfc(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The demo's clock.
pub fn clock() -> Result<ClockConfig, String> {
    Ok(ClockConfig {
        start: DateTime::parse_from_rfc3339(START)
            .map_err(|error| error.to_string())?
            .with_timezone(&Utc),
        speed: SPEED,
    })
}

/// What [`seed`] made: the demo site and a new key per role.
#[derive(Debug)]
pub struct Seeded {
    /// The demo site's id.
    pub site_id: String,
    /// Each role with its new key's id and token (admin, trader, analyst,
    /// controller).
    pub keys: Vec<(Role, String, String)>,
}

impl Seeded {
    /// The token of `role`'s key.
    pub fn token(&self, role: Role) -> Option<&str> {
        self.keys
            .iter()
            .find(|(r, _, _)| *r == role)
            .map(|(_, _, token)| token.as_str())
    }
}

/// Seeds the store from `fixtures/` under `root` (once: a store that has
/// the demo site keeps what it has) and creates a key per role.
pub async fn seed(store: &Store, root: &Path) -> Result<Seeded, String> {
    let config = demo_site(root)?;
    let site = &config.site;
    if store.site(&site.id).await.map_err(failed)?.is_none() {
        seed_prices(store, root, &config).await?;
        seed_site(store, root, &config, 20.0, 1, 2).await?;
    }
    let mut keys = Vec::new();
    for (role, sites) in [
        (Role::Admin, Vec::new()),
        (Role::Trader, Vec::new()),
        (Role::Analyst, Vec::new()),
        (Role::Controller, vec![site.id.clone()]),
    ] {
        let (key, token) = create_key(store, role, &sites).await.map_err(failed)?;
        keys.push((role, key.id, token));
    }
    Ok(Seeded {
        site_id: site.id.clone(),
        keys,
    })
}

fn failed(error: super::store::StoreError) -> String {
    error.to_string()
}

/// The demo site's configuration, `fixtures/sites/demo.toml`.
pub fn demo_site(root: &Path) -> Result<SiteConfig, String> {
    SiteConfig::read(&root.join("fixtures/sites/demo.toml")).map_err(|error| error.to_string())
}

/// Stores the fixture week of CAISO NP15 prices for `config`'s market, one
/// day per local day.
pub async fn seed_prices(store: &Store, root: &Path, config: &SiteConfig) -> Result<(), String> {
    let site = &config.site;
    let prices_path = root.join("fixtures/prices/caiso_np15_2024-10-21_week.csv");
    let prices = read_prices(&PriceSource::csv(&prices_path)).map_err(|error| error.to_string())?;
    let market = site
        .market
        .id
        .clone()
        .unwrap_or_else(|| "caiso-np15".to_owned());
    let mut days: Vec<(String, DateTime<Utc>, Vec<f64>)> = Vec::new();
    for (i, price) in prices.series.values.iter().enumerate() {
        let at = prices.series.time(i);
        let day = at
            .with_timezone(&config.market_zone)
            .date_naive()
            .to_string();
        match days.last_mut() {
            Some((last, _, values)) if *last == day => values.push(*price),
            _ => days.push((day, at, vec![*price])),
        }
    }
    for (day, first, values) in days {
        // Only whole local days (the file's first and last may be cut).
        let midnight = first.with_timezone(&config.market_zone);
        if midnight.format("%H:%M").to_string() != "00:00" || values.len() < 23 {
            continue;
        }
        store
            .put_prices(&NewPrices {
                market: market.clone(),
                day,
                currency: site.currency.clone(),
                start: first,
                step_minutes: i64::from(prices.series.step_minutes),
                prices: values,
                uploaded_by: "demo".to_owned(),
            })
            .await
            .map_err(failed)?;
    }

    Ok(())
}

/// Stores `config` as a site with the Broxden charging week mapped onto the
/// demo's days (× `charging_scale`), a battery report at the clock's start
/// and the jobs a synthetic queue of `job_seed` had submitted in the day
/// before it that can still finish.
///
/// The charging readings run from two days before the clock's start to
/// three days after it, and with `history_days` above two from that many
/// days before it: the same week repeated, by local weekday and time of
/// day, as a site metered for that long would have stored (a plan reads the
/// charging model's 84-day look-back and two days more).
pub async fn seed_site(
    store: &Store,
    root: &Path,
    config: &SiteConfig,
    charging_scale: f64,
    job_seed: u64,
    history_days: u32,
) -> Result<(), String> {
    let site = &config.site;
    let start = clock()?.start;
    let text = toml::to_string(site).map_err(|error| error.to_string())?;
    store.put_site(&site.id, &text).await.map_err(failed)?;
    // Charging: the Broxden week of 2018 on the same weekdays, ×20.
    let load_path = root.join("fixtures/ev/broxden_load_2018-10-22_week.csv");
    let load = read_metered_load(
        &load_path,
        &TimeColumn::utc("timestamp_utc"),
        "site_power_kw",
    )
    .map_err(|error| error.to_string())?;
    let (load, _) = resample(&load, site.interval_minutes).map_err(|error| error.to_string())?;
    // From Tuesday: the fixture starts at 01:00 on Monday in London.
    let from = start - TimeDelta::days(2);
    let intervals = (5 * 24 * 60 / site.interval_minutes) as usize;
    let aligned = align_by_week(
        &load,
        chrono_tz::Europe::London,
        2018,
        config.zone,
        from,
        intervals,
    )
    .map_err(|error| error.to_string())?;
    // The week around the start, repeated back over any longer history:
    // from an hour after the Monday before it to two hours short of a week
    // (what the fixture covers in the site's time; the rest stays unread).
    let step = TimeDelta::minutes(i64::from(site.interval_minutes));
    let earlier = if history_days > 2 {
        let week_start = start - TimeDelta::days(3) + TimeDelta::hours(1);
        let week = align_by_week(
            &load,
            chrono_tz::Europe::London,
            2018,
            config.zone,
            week_start,
            ((7 * 24 - 2) * 60 / site.interval_minutes) as usize,
        )
        .map_err(|error| error.to_string())?;
        let first = start - TimeDelta::days(i64::from(history_days));
        let count = ((from - first).num_seconds() / step.num_seconds()).max(0);
        (0..count)
            .map(|k| first + TimeDelta::seconds(k * step.num_seconds()))
            .map(|at| {
                let offset = (at - week_start).num_seconds().rem_euclid(7 * 24 * 3600);
                let i = (offset / step.num_seconds()) as usize;
                (at, week.values.get(i).copied().unwrap_or(f64::NAN))
            })
            .collect()
    } else {
        Vec::new()
    };
    let readings: Vec<(String, f64)> = earlier
        .into_iter()
        .chain(
            aligned
                .values
                .iter()
                .enumerate()
                .map(|(i, kw)| (aligned.time(i), *kw)),
        )
        .filter(|(_, kw)| kw.is_finite())
        // A meter reads to the watt.
        .map(|(at, kw)| {
            let kw =
                arbiter_optimizer::round_to(kw * charging_scale, arbiter_optimizer::POWER_DECIMALS);
            (rfc(at), kw)
        })
        .collect();
    store
        .put_charging(&site.id, &readings)
        .await
        .map_err(failed)?;

    // The battery at its initial energy when the clock starts.
    if let Some(battery) = &site.battery {
        let report = serde_json::json!({ "at": rfc(start), "soc_kwh": battery.initial_soc_kwh });
        store
            .put_telemetry(
                &site.id,
                &rfc(start),
                Some(battery.initial_soc_kwh),
                None,
                &report.to_string(),
            )
            .await
            .map_err(failed)?;
    }

    // The jobs submitted in the day before the clock starts that can
    // still finish in time.
    let queue = SyntheticQueue {
        seed: job_seed,
        ..SyntheticQueue::default()
    }
    .generate(start - TimeDelta::days(1), start);
    let fits = |job: &arbiter_forecast::QueuedJob| {
        job.deadline > start
            && (job.deadline - start).num_seconds() as f64 / 3600.0 * job.max_kw() >= job.energy_kwh
    };
    for job in queue.iter().filter(|job| fits(job)) {
        let spec = JobSpec::from_queued(job);
        store
            .insert_job(&StoredJob {
                site_id: site.id.clone(),
                id: job.id.clone(),
                spec: serde_json::to_string(&spec).map_err(|error| error.to_string())?,
                submitted_at: job.submit,
                delivered_kwh: 0.0,
                status: "open".to_owned(),
                updated_at: job.submit,
            })
            .await
            .map_err(failed)?;
    }
    Ok(())
}

/// The part of a plan document the demo's controller follows.
#[derive(Debug, Deserialize)]
struct Followed {
    start: DateTime<Utc>,
    plan: FollowedPlan,
}

#[derive(Debug, Deserialize)]
struct FollowedPlan {
    intervals: Vec<IntervalPlan>,
}

/// The demo's site controller: at the end of each interval (on the
/// service's clock) it reports what the plan in force made happen, as a
/// real controller would measure it. The battery runs at the planned power,
/// its energy moving from the last report by that power through the
/// efficiencies (so a plan built on a stale report shows up as a
/// difference in stored energy); the meter reads the planned net import
/// plus the charging load's departure from the plan (the stored metered
/// load less the EV charging the plan served); the jobs the plan ran are
/// listed as running. So the demo's dashboard has a past to compare plans
/// with. Runs until the process ends; an interval it cannot report is
/// logged and skipped.
pub async fn controller(state: Arc<AppState>, site_id: String) {
    let mut followed: Option<Followed> = None;
    let mut end: Option<DateTime<Utc>> = None;
    let mut soc: Option<f64> = state
        .store
        .latest_batteries()
        .await
        .ok()
        .and_then(|batteries| batteries.get(&site_id).map(|(_, kwh)| *kwh));
    loop {
        let config = match load_site(&state, &site_id).await {
            Ok((_, config)) => config,
            Err(error) => {
                tracing::warn!(site = %site_id, ?error, "the demo controller cannot read its site");
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                continue;
            }
        };
        let step = TimeDelta::minutes(i64::from(config.site.interval_minutes.max(1)));
        let until = *end.get_or_insert_with(|| interval_start(&config, state.clock.now()) + step);
        while state.clock.now() < until {
            state
                .clock
                .wait(until, std::time::Duration::from_secs(5))
                .await;
        }
        let (start, end_) = (until - step, until);
        end = Some(until + step);
        // The newest plan that had begun by the interval.
        if let Some(latest) = state.latest.get(&site_id)
            && latest.start <= start
            && followed.as_ref().is_none_or(|f| f.start < latest.start)
        {
            match serde_json::from_slice::<Followed>(&latest.body) {
                Ok(document) => followed = Some(document),
                Err(error) => {
                    tracing::warn!(site = %site_id, %error, "the demo controller cannot read a plan")
                }
            }
        }
        if let Some(interval) = followed
            .as_ref()
            .and_then(|f| f.plan.intervals.iter().find(|i| i.start == start))
        {
            let metered = state
                .store
                .charging_between(&site_id, &rfc(start), &rfc(end_))
                .await
                .ok()
                .and_then(|rows| rows.first().map(|(_, kw)| *kw));
            let ev = metered.unwrap_or(interval.ev_served_kw);
            let meter = interval.import_kw - interval.export_kw + ev - interval.ev_served_kw;
            let hours = step.num_seconds() as f64 / 3600.0;
            let stored = config.site.battery.as_ref().map(|battery| {
                let before = soc.unwrap_or(battery.initial_soc_kwh);
                let moved = (interval.charge_kw * battery.charge_efficiency
                    - interval.discharge_kw / battery.discharge_efficiency)
                    * hours;
                arbiter_optimizer::round_to(
                    (before + moved).clamp(0.0, battery.soc_max_kwh),
                    arbiter_optimizer::POWER_DECIMALS,
                )
            });
            soc = stored.or(soc);
            let report = Telemetry {
                at: end_,
                soc_kwh: stored,
                meter_kw: Some(arbiter_optimizer::round_to(
                    meter,
                    arbiter_optimizer::POWER_DECIMALS,
                )),
                running_jobs: interval
                    .jobs
                    .iter()
                    .filter(|(_, kw)| **kw > 0.0)
                    .map(|(id, _)| id.clone())
                    .collect(),
            };
            if let Err(error) = store_telemetry(&state, &site_id, &config, &report).await {
                tracing::warn!(site = %site_id, ?error, "the demo controller's report was refused");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// The demo site's charging readings as seeded with `history_days`.
    async fn seeded(history_days: u32) -> Vec<(String, f64)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let config = demo_site(&root).expect("the demo site");
        let start = clock().expect("the demo clock").start;
        let (store, _dir) = crate::store::temp_store("history").await;
        seed_site(&store, &root, &config, 20.0, 1, history_days)
            .await
            .expect("seeded");
        store
            .charging_since(&config.site.id, &rfc(start - TimeDelta::days(30)))
            .await
            .expect("read")
    }

    #[tokio::test]
    async fn a_longer_history_repeats_the_fixture_week_back_from_the_start() {
        let start = clock().expect("the demo clock").start;
        let readings = seeded(16).await;
        let at = |text: &str| -> DateTime<Utc> { text.parse().expect("an instant") };
        assert_eq!(at(&readings[0].0), start - TimeDelta::days(16));
        // Every reading of the repeated weeks is the one a week later,
        // including where the repeats meet the week the demo seeds.
        let by_time: HashMap<&str, f64> =
            readings.iter().map(|(t, kw)| (t.as_str(), *kw)).collect();
        let mut compared = 0;
        for (t, kw) in &readings {
            let when = at(t);
            if when >= start - TimeDelta::days(2) {
                continue;
            }
            if let Some(later) = by_time.get(rfc(when + TimeDelta::days(7)).as_str()) {
                assert_eq!(kw, later, "{t}");
                compared += 1;
            }
        }
        // 14 days repeated; the last two of them have no reading a week
        // later (the seeding ends three days after the start), and the
        // fixture lacks two hours a week.
        assert!(compared >= 12 * 96 - 4 * 2 * 4, "{compared}");
        assert!(readings.iter().any(|(_, kw)| *kw > 0.0));

        // The demo's own seeding starts two days before the clock.
        let readings = seeded(2).await;
        assert!(at(&readings[0].0) >= start - TimeDelta::days(2));
    }
}
