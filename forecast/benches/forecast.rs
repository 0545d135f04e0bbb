//! How long ingestion and forecasting take, on a year of the real Broxden
//! 15-minute charging load (`../shared/data/ev/`, 2018-09-01 to
//! 2019-08-31 local, 35,040 rows).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
//!
//! Run: `cargo bench -p arbiter-forecast --bench forecast`. Criterion prints
//! the median of each. Targets: ingesting the year (read, check every row,
//! resample to hourly) ≤ 50 ms; one 36-hour forecast (144 intervals, P50
//! and P90) from the year of history ≤ 5 ms.
//!
//! The shared data is not part of the repository: without it the benchmark
//! says so and measures nothing.

use std::path::PathBuf;

use arbiter_forecast::{
    Model, Profile, Resampling, Series, TimeColumn, read_metered_load, resample,
};
use chrono::{DateTime, Utc};
use chrono_tz::Europe::London;
use criterion::{Criterion, criterion_group, criterion_main};

const SHARED: &str = "../shared/data/ev/pk_broxden_site_power_15min_2016_2019.csv";
/// 2018-09-01 00:00 in London.
const FIRST: &str = "2018-08-31T23:00:00Z";
const ROWS: usize = 35_040;

/// Writes the year to a temporary CSV (the same columns as the shared
/// file), once.
fn year_file() -> Option<PathBuf> {
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(SHARED);
    let text = std::fs::read_to_string(&shared).ok()?;
    let mut lines = text.lines();
    let header = lines.next()?;
    let year: Vec<&str> = lines
        .skip_while(|line| !line.starts_with(FIRST))
        .take(ROWS)
        .collect();
    assert_eq!(
        year.len(),
        ROWS,
        "the shared file has a whole year from {FIRST}"
    );
    let path = std::env::temp_dir().join("arbiter-bench-broxden-year.csv");
    std::fs::write(&path, format!("{header}\n{}\n", year.join("\n"))).unwrap();
    Some(path)
}

fn ingest(path: &PathBuf) -> Series {
    read_metered_load(path, &TimeColumn::utc("timestamp_utc"), "site_power_kw").unwrap()
}

fn bench(c: &mut Criterion) {
    let Some(path) = year_file() else {
        println!("{SHARED} is not here: nothing to measure");
        return;
    };
    c.bench_function("ingest/broxden-year-15min+hourly-mean", |b| {
        b.iter(|| {
            let load = ingest(&path);
            resample(&load, 60).unwrap()
        })
    });
    let history = ingest(&path);
    let (hourly, how) = resample(&history, 60).unwrap();
    assert_eq!(
        (hourly.values.len(), how),
        (ROWS / 4, Resampling::Averaged { factor: 4 })
    );
    let origin: DateTime<Utc> = history.end();
    for model in [
        Model::SeasonalNaive { lag_days: 7 },
        Model::Profile(Profile::day_type()),
        Model::Profile(Profile::blend()),
    ] {
        c.bench_function(&format!("forecast-36h/{}", model.name()), |b| {
            b.iter(|| {
                model
                    .forecast(&history, London, origin, 144, &[0.5, 0.9])
                    .unwrap()
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
