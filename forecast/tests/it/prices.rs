//! Reading price files: DST days, negative prices, every row rule, resampling.

use crate::common::{fixture, temp_csv, utc};

use arbiter_forecast::{
    IngestError, PriceSource, Resampling, Series, TimeColumn, read_prices, resample,
};
use chrono_tz::{America::Los_Angeles, Europe::Berlin};

fn row_messages(error: IngestError) -> Vec<String> {
    match error {
        IngestError::Rows { issues, .. } => issues.iter().map(ToString::to_string).collect(),
        other => panic!("expected row issues, got {other}"),
    }
}

#[test]
fn a_spring_forward_day_in_berlin_has_23_hours() {
    let prices = read_prices(&PriceSource::csv(fixture(
        "prices",
        "de_lu_2023-03-26_spring_forward.csv",
    )))
    .unwrap();
    assert_eq!(prices.series.values.len(), 23);
    assert_eq!(prices.series.start, utc("2023-03-25T23:00:00Z"));
    assert_eq!(prices.series.end(), utc("2023-03-26T22:00:00Z"));
}

#[test]
fn a_fall_back_day_in_berlin_has_25_hours_read_from_local_times_with_offsets() {
    let by_utc = read_prices(&PriceSource::csv(fixture(
        "prices",
        "de_lu_2023-10-29_fall_back.csv",
    )))
    .unwrap();
    let source = PriceSource::csv(fixture("prices", "de_lu_2023-10-29_fall_back.csv"))
        .time(TimeColumn::local("local_time", Berlin));
    let by_local = read_prices(&source).unwrap();
    assert_eq!(by_local.series.values.len(), 25);
    assert_eq!(by_local.series, by_utc.series);
}

#[test]
fn los_angeles_dst_days_have_23_and_25_hours() {
    for (file, hours, start) in [
        (
            "caiso_np15_2024-03-10_spring_forward.csv",
            23,
            "2024-03-10T08:00:00Z",
        ),
        (
            "caiso_np15_2024-11-03_fall_back.csv",
            25,
            "2024-11-03T07:00:00Z",
        ),
    ] {
        let source = PriceSource::csv(fixture("prices", file))
            .time(TimeColumn::local("local_time", Los_Angeles));
        let prices = read_prices(&source).unwrap();
        assert_eq!(prices.series.values.len(), hours, "{file}");
        assert_eq!(prices.series.start, utc(start), "{file}");
    }
}

#[test]
fn naive_wall_clock_times_follow_the_dst_rule() {
    // The repeated 02:00 of 2023-10-29 in Berlin: first summer time, then winter time.
    let text = "time,price\n2023-10-29 01:00,1\n2023-10-29 02:00,2\n2023-10-29 02:00,3\n2023-10-29 03:00,4\n";
    let file = temp_csv("fall_back_naive.csv", text);
    let source = PriceSource::csv(&file)
        .time(TimeColumn::local("time", Berlin))
        .price_column("price");
    let prices = read_prices(&source).unwrap();
    assert_eq!(prices.series.start, utc("2023-10-28T23:00:00Z"));
    assert_eq!(prices.series.values, [1.0, 2.0, 3.0, 4.0]);
    assert_eq!(prices.series.step_minutes, 60);
}

#[test]
fn a_wall_clock_time_in_the_spring_gap_is_an_error() {
    let text = "time,price\n2023-03-26 01:00,1\n2023-03-26 02:30,2\n2023-03-26 03:00,3\n";
    let file = temp_csv("spring_gap.csv", text);
    let source = PriceSource::csv(&file)
        .time(TimeColumn::local("time", Berlin))
        .price_column("price");
    let messages = row_messages(read_prices(&source).unwrap_err());
    assert_eq!(
        messages,
        [
            "line 3: 2023-03-26 02:30 does not exist in Europe/Berlin (clocks skip it when DST starts)"
        ]
    );
}

#[test]
fn negative_prices_are_kept_exactly() {
    let prices = read_prices(
        &PriceSource::csv(fixture("prices", "de_lu_2023-07-02_negative.csv")).about("EUR", "DE-LU"),
    )
    .unwrap();
    assert_eq!(prices.series.values.len(), 24);
    assert_eq!(
        prices
            .series
            .values
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min),
        -500.0
    );
    assert_eq!(
        prices.series.values.iter().filter(|&&p| p < 0.0).count(),
        15
    );
    assert_eq!(prices.currency.as_deref(), Some("EUR"));
}

#[test]
fn gaps_duplicates_disorder_and_off_grid_rows_are_rejected_with_their_lines() {
    let text = "timestamp_utc,price_per_mwh\n\
        2024-01-01T00:00:00Z,1\n\
        2024-01-01T01:00:00Z,2\n\
        2024-01-01T01:00:00Z,3\n\
        2024-01-01T04:00:00Z,4\n\
        2024-01-01T05:00:00Z,5\n\
        2024-01-01T05:30:00Z,6\n\
        2024-01-01T03:00:00Z,7\n\
        2024-01-01T06:00:00Z,8\n\
        2024-01-01T07:00:00Z,9\n";
    let file = temp_csv("bad_grid.csv", text);
    let messages = row_messages(read_prices(&PriceSource::csv(&file)).unwrap_err());
    assert_eq!(
        messages,
        [
            "line 4: 2024-01-01T01:00:00+00:00 duplicates line 3",
            "line 5: gap: 2 intervals missing after line 4 (2024-01-01T01:00:00+00:00)",
            "line 7: 2024-01-01T05:30:00+00:00 is off the 60-minute grid that starts at 2024-01-01T00:00:00+00:00",
            "line 8: 2024-01-01T03:00:00+00:00 comes before line 7 (2024-01-01T05:30:00+00:00): rows must be in time order",
            "line 9: gap: 2 intervals missing after line 8 (2024-01-01T03:00:00+00:00)",
        ]
    );
}

#[test]
fn bad_cells_are_rejected_with_their_lines() {
    let text = "timestamp_utc,price_per_mwh\n2024-01-01T00:00:00Z,1\nyesterday,2\n2024-01-01T02:00:00Z,\n2024-01-01T03:00:00Z,inf\n";
    let file = temp_csv("bad_cells.csv", text);
    let messages = row_messages(read_prices(&PriceSource::csv(&file)).unwrap_err());
    assert_eq!(
        messages,
        [
            "line 3: \"yesterday\" is not a timestamp (expected e.g. 2023-03-26T01:00:00Z)",
            "line 4: price_per_mwh is missing",
            "line 5: price_per_mwh (inf) is not a finite number",
        ]
    );
}

#[test]
fn a_missing_column_names_the_columns_there_are() {
    let error = read_prices(
        &PriceSource::csv(fixture("prices", "de_lu_2023-07-02_negative.csv"))
            .price_column("eur_mwh"),
    )
    .unwrap_err();
    let message = error.to_string();
    assert!(
        message.ends_with(
            "has no column \"eur_mwh\" (columns: timestamp_utc, price_per_mwh, local_time)"
        ),
        "{message}"
    );
}

#[test]
fn hourly_prices_are_held_for_each_quarter_hour() {
    let hourly = Series {
        start: utc("2024-01-01T00:00:00Z"),
        step_minutes: 60,
        values: vec![10.0, -5.0],
    };
    let (quarter, how) = resample(&hourly, 15).unwrap();
    assert_eq!(how, Resampling::Held { factor: 4 });
    assert_eq!(
        quarter.values,
        [10.0, 10.0, 10.0, 10.0, -5.0, -5.0, -5.0, -5.0]
    );
    assert_eq!(quarter.step_minutes, 15);
}

#[test]
fn quarter_hours_average_to_hours() {
    let prices = read_prices(&PriceSource::csv(fixture(
        "prices",
        "de_lu_15min_2025-10-26_fall_back.csv",
    )))
    .unwrap();
    assert_eq!(prices.series.values.len(), 100);
    let (hourly, how) = resample(&prices.series, 60).unwrap();
    assert_eq!(how, Resampling::Averaged { factor: 4 });
    assert_eq!(hourly.values.len(), 25);
    let first: f64 = prices.series.values[..4].iter().sum::<f64>() / 4.0;
    assert_eq!(hourly.values[0], first);
    // Holding the averages again keeps every hour's mean.
    let (back, _) = resample(&hourly, 15).unwrap();
    assert_eq!(back.values.len(), 100);
}

#[test]
fn inexact_resampling_is_refused() {
    let series = Series {
        start: utc("2024-01-01T00:15:00Z"),
        step_minutes: 15,
        values: vec![1.0; 8],
    };
    assert_eq!(
        resample(&series, 60).unwrap_err().to_string(),
        "cannot resample from 15 to 60 minutes: the series starts at 2024-01-01T00:15:00+00:00, not on the 60-minute grid"
    );
    assert_eq!(
        resample(&series, 25).unwrap_err().to_string(),
        "cannot resample from 15 to 25 minutes: 15 does not divide 25"
    );
}

#[test]
fn parquet_files_are_read_like_csv_with_text_or_datetime_times() {
    use polars::prelude::{DataType, IntoColumn, NamedFrom, ParquetWriter, TimeUnit};

    let csv = read_prices(&PriceSource::csv(fixture(
        "prices",
        "de_lu_2023-10-29_fall_back.csv",
    )))
    .unwrap();
    let series = &csv.series;
    let dir = tempfile::Builder::new()
        .prefix("arbiter-parquet-")
        .tempdir()
        .unwrap();

    // Times as text, exactly as in the CSV.
    let texts: Vec<String> = (0..series.values.len())
        .map(|i| series.time(i).to_rfc3339())
        .collect();
    // Times as a Parquet datetime column (milliseconds, no zone: UTC here).
    let millis: Vec<i64> = (0..series.values.len())
        .map(|i| series.time(i).timestamp_millis())
        .collect();
    let datetimes = polars::prelude::Series::new("timestamp_utc".into(), millis)
        .cast(&DataType::Datetime(TimeUnit::Milliseconds, None))
        .unwrap();
    for (name, time) in [
        (
            "text.parquet",
            polars::prelude::Series::new("timestamp_utc".into(), texts).into_column(),
        ),
        ("datetime.parquet", datetimes.into_column()),
    ] {
        let prices = polars::prelude::Series::new("price_per_mwh".into(), series.values.clone());
        let mut frame =
            polars::prelude::DataFrame::new(series.values.len(), vec![time, prices.into_column()])
                .unwrap();
        let path = dir.path().join(name);
        ParquetWriter::new(std::fs::File::create(&path).unwrap())
            .finish(&mut frame)
            .unwrap();
        let read = read_prices(&PriceSource::csv(&path)).unwrap();
        assert_eq!(&read.series, series, "{name}");
        assert_eq!(
            read.series.values.len(),
            25,
            "{name}: the fall-back day has 25 hours"
        );
    }
}
