//! A corpus of site problems drawn like the contract's hidden cases, for the
//! solver's tail (`arbiter bench solve-corpus`): 6 to 192 intervals of 5 to
//! 60 minutes on real day-ahead prices (the fixtures' CAISO NP15 week and
//! DE-LU days) and the Broxden charging week's shape, with or without a
//! battery, demand charges, energy targets, a stability reference, and up to
//! eight jobs: preemptible ones with minimum power and start costs sharing
//! the container, and blocks with long windows. Seeded: a seed and a count
//! give the same problems in every build.

use std::path::Path;

use arbiter_forecast::{PriceSource, Series, TimeColumn, read_metered_load, read_prices};
use chrono::{DateTime, TimeDelta, Utc};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

use super::Failure;

/// The value of `series` in force at `at` (the series repeats past its end).
fn value_at(series: &Series, at: DateTime<Utc>) -> f64 {
    let step = i64::from(series.step_minutes.max(1));
    let k = (at - series.start).num_minutes().div_euclid(step);
    series.values[k.rem_euclid(series.values.len() as i64) as usize]
}

/// A fixture's prices, read as `arbiter backtest` reads them.
fn prices(root: &Path, file: &str) -> Result<Series, Failure> {
    let path = root.join("fixtures/prices").join(file);
    read_prices(&PriceSource::csv(&path))
        .map(|prices| prices.series)
        .map_err(|error| Failure::Internal(format!("{}: {error}", path.display())))
}

/// `count` problems from `seed`, each with a name (`corpus-SEED-K`).
pub fn generate(root: &Path, seed: u64, count: usize) -> Result<Vec<(String, Value)>, Failure> {
    let markets = [
        prices(root, "caiso_np15_2024-10-21_week.csv")?,
        prices(root, "de_lu_15min_2025-10-26_fall_back.csv")?,
        prices(root, "de_lu_2023-07-02_negative.csv")?,
    ];
    let load = root.join("fixtures/ev/broxden_load_2018-10-22_week.csv");
    let charging = read_metered_load(&load, &TimeColumn::utc("timestamp_utc"), "site_power_kw")
        .map_err(|error| Failure::Internal(format!("{}: {error}", load.display())))?;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    Ok((0..count)
        .map(|k| {
            let name = format!("corpus-{seed}-{k:03}");
            let problem = draw(&mut rng, &name, &markets, &charging);
            (name, problem)
        })
        .collect())
}

fn draw(rng: &mut Xoshiro256PlusPlus, name: &str, markets: &[Series], charging: &Series) -> Value {
    let minutes: i64 = [5, 10, 15, 15, 20, 30, 60][rng.random_range(0..7)];
    let intervals = rng
        .random_range(6..=192_usize)
        .min((48 * 60 / minutes) as usize);
    let market = &markets[rng.random_range(0..markets.len())];
    // A start on the interval grid inside the price series.
    let span = market.values.len() as i64 * i64::from(market.step_minutes);
    let start = market.start + TimeDelta::minutes(rng.random_range(0..span / minutes) * minutes);
    let at = |t: usize| start + TimeDelta::minutes(minutes * t as i64);
    let prices: Vec<f64> = (0..intervals).map(|t| value_at(market, at(t))).collect();
    let scale = rng.random_range(5.0..25.0);
    let shift = TimeDelta::minutes(rng.random_range(0..7 * 96) * 15);
    let ev: Vec<f64> = (0..intervals)
        .map(|t| {
            (value_at(charging, charging.start + shift + (at(t) - start)) * scale * 100.0).round()
                / 100.0
        })
        .collect();
    let ev_peak = ev.iter().copied().fold(0.0, f64::max);
    let import_limit = (ev_peak + rng.random_range(800.0..3000.0)).round();
    let mut problem = json!({
        "site_id": name,
        "start": start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "interval_minutes": minutes,
        "prices_per_mwh": prices,
        "grid": { "import_limit_kw": import_limit,
                  "export_limit_kw": if rng.random::<f64>() < 0.6 { (rng.random_range(0.0..2000.0_f64)).round() } else { 0.0 } },
        "ev_demand_kw": ev,
    });
    let demand_charge = rng.random::<f64>() < 0.5;
    problem["tariff"] = json!({
        "import_adder_per_mwh": (rng.random_range(0.0..30.0_f64)).round(),
        "export_adder_per_mwh": (rng.random_range(0.0..8.0_f64)).round(),
        "demand_charge_per_kw": if demand_charge { (rng.random_range(5.0..15.0_f64)).round() } else { 0.0 },
        "peak_so_far_kw": if demand_charge { (rng.random_range(0.0..ev_peak.max(1.0))).round() } else { 0.0 },
    });
    let battery = rng.random::<f64>() < 0.75;
    if battery {
        let capacity = (rng.random_range(1000.0..8000.0_f64) / 100.0).round() * 100.0;
        let power = (capacity * rng.random_range(0.25..0.6) / 10.0).round() * 10.0;
        let min = (capacity * 0.05).round();
        problem["battery"] = json!({
            "soc_min_kwh": min, "soc_max_kwh": capacity,
            "initial_soc_kwh": (rng.random_range(min..capacity)).round(),
            "max_charge_kw": power, "max_discharge_kw": power,
            "charge_efficiency": 0.95, "discharge_efficiency": 0.95,
            "degradation_cost_per_mwh": (rng.random_range(0.0..20.0_f64)).round(),
            "terminal_value_per_mwh": (rng.random_range(0.0..60.0_f64)).round(),
        });
        if rng.random::<f64>() < 0.3 {
            let n = rng.random_range(1..=intervals);
            problem["soc_targets"] = json!([{ "at": at(n).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                                              "min_kwh": (rng.random_range(min..capacity)).round() }]);
        }
        if rng.random::<f64>() < 0.3 {
            let reference: Vec<Value> = (0..intervals)
                .map(|_| {
                    if rng.random::<f64>() < 0.8 {
                        json!((rng.random_range(-power..power)).round())
                    } else {
                        Value::Null
                    }
                })
                .collect();
            problem["stability"] = json!({ "penalty_per_mwh": 0.5, "reference_kw": reference });
        }
    }
    let jobs = rng.random_range(0..=8_usize);
    if jobs > 0 {
        let capacity = (rng.random_range(500.0..2000.0_f64) / 50.0).round() * 50.0;
        problem["compute"] = json!({ "max_it_kw": capacity, "pue": 1.15 });
        let horizon_minutes = minutes * intervals as i64;
        let list: Vec<Value> = (0..jobs)
            .map(|j| {
                // Windows in whole seconds, often off the interval grid.
                let release = start + TimeDelta::seconds(rng.random_range(-3600..horizon_minutes * 60 / 2));
                let length = TimeDelta::seconds(rng.random_range(1800..(horizon_minutes * 60).max(3600) * 3 / 2));
                let (release, deadline) = (release, release + length);
                let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                let max_kw = (rng.random_range(100.0..capacity.min(800.0)) / 10.0).round() * 10.0;
                if rng.random::<f64>() < 0.25 {
                    json!({ "id": format!("block-{j}"), "kind": "block", "power_kw": max_kw,
                            "duration_minutes": rng.random_range(1..=(horizon_minutes / 2).max(1)),
                            "release": stamp(release), "deadline": stamp(deadline),
                            "value_per_mwh": (rng.random_range(0.0..300.0_f64)).round(),
                            "shortfall_penalty_per_mwh": (rng.random_range(0.0..2000.0_f64)).round() })
                } else {
                    let hours = length.num_seconds() as f64 / 3600.0;
                    json!({ "id": format!("job-{j}"), "kind": "preemptible",
                            "energy_kwh": (max_kw * hours * rng.random_range(0.2..0.9)).round().max(1.0),
                            "min_kw": (max_kw * rng.random_range(0.2..0.5)).round(), "max_kw": max_kw,
                            "release": stamp(release), "deadline": stamp(deadline),
                            "value_per_mwh": (rng.random_range(0.0..300.0_f64)).round(),
                            "shortfall_penalty_per_mwh": (rng.random_range(0.0..2000.0_f64)).round(),
                            "start_cost": if rng.random::<f64>() < 0.5 { (rng.random_range(1.0..50.0_f64)).round() } else { 0.0 },
                            "running": rng.random::<f64>() < 0.2 })
                }
            })
            .collect();
        problem["jobs"] = Value::Array(list);
    }
    problem
}
