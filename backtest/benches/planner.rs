//! What sizing the peak reserve from the meter readings adds to each plan:
//! `history_reserve` over 28 days of 15-minute charging (the demo
//! site's setting), built from the fixture's Broxden week of October 2018
//! repeated four times and scaled ×20 (in the repository, so this runs on
//! a clone).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
//!
//! Run: `cargo bench -p arbiter-backtest --bench planner`. Criterion prints
//! the median.

use arbiter_backtest::SiteConfig;
use arbiter_backtest::planner::history_reserve;
use arbiter_forecast::{Series, TimeColumn, read_metered_load, resample};
use chrono::TimeDelta;
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let config = SiteConfig::from_toml(
        "demo.toml",
        &std::fs::read_to_string(root.join("fixtures/sites/demo.toml")).unwrap(),
    )
    .unwrap();
    let week = read_metered_load(
        root.join("fixtures/ev/broxden_load_2018-10-22_week.csv"),
        &TimeColumn::utc("timestamp_utc"),
        "site_power_kw",
    )
    .unwrap();
    let (week, _) = resample(&week, 15).unwrap();
    let values: Vec<f64> = (0..4)
        .flat_map(|_| week.values.iter().take(7 * 96).map(|kw| kw * 20.0))
        .collect();
    let history = Series {
        start: week.start,
        step_minutes: 15,
        values,
    };
    let at = history.start + TimeDelta::days(28);
    let reserve = history_reserve(&config, &history, at).unwrap().most_kwh();
    assert!(
        reserve > 0.0,
        "the week's spikes above its usual level: {reserve}"
    );
    c.bench_function("history reserve, 28 days of 15-minute readings", |b| {
        b.iter(|| history_reserve(&config, &history, at))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
