//! Aligning a series from another year by local weekday and time of day.

use crate::common::utc;

use arbiter_forecast::{AlignError, Series, align_by_week, align_with_shift, week_shift_days};
use chrono::{Datelike, TimeDelta, Timelike};
use chrono_tz::Europe::London;

/// 2018 hourly, each value `weekday × 100 + local hour` in London
/// (Monday = 0).
fn marked_2018() -> Series {
    let start = utc("2018-01-01T00:00:00Z");
    let values = (0..365 * 24)
        .map(|i| {
            let local = (start + TimeDelta::hours(i)).with_timezone(&London);
            f64::from(local.weekday().num_days_from_monday() * 100 + local.hour())
        })
        .collect();
    Series {
        start,
        step_minutes: 60,
        values,
    }
}

fn own_mark(at: chrono::DateTime<chrono::Utc>) -> f64 {
    let local = at.with_timezone(&London);
    f64::from(local.weekday().num_days_from_monday() * 100 + local.hour())
}

#[test]
fn every_interval_gets_the_source_value_of_its_own_weekday_and_time_of_day() {
    let source = marked_2018();
    // 2024-03-30 is a Saturday; 313 weeks (2,191 days) earlier is Saturday
    // 2018-03-31, the nearest same weekday to 2018-03-30.
    let start = utc("2024-03-30T00:00:00Z");
    assert_eq!(week_shift_days(start, London, 2018), 2191);
    // Three days over the 2024 spring-forward (31 March): the target's own
    // missing hour is never asked for.
    let aligned = align_by_week(&source, London, 2018, London, start, 71).unwrap();
    for (t, &value) in aligned.values.iter().enumerate() {
        assert_eq!(value, own_mark(aligned.time(t)), "t={t}");
    }
}

#[test]
fn a_local_time_missing_in_the_source_year_takes_the_hour_after() {
    // Target Saturday 2024-03-23 to Monday; the source week is 2018-03-24
    // to 26, and London skipped 01:00–02:00 on Sunday 2018-03-25, which
    // exists on Sunday 2024-03-24.
    let source = marked_2018();
    let start = utc("2024-03-23T00:00:00Z");
    let aligned = align_by_week(&source, London, 2018, London, start, 72).unwrap();
    for (t, &value) in aligned.values.iter().enumerate() {
        let at = aligned.time(t);
        let local = at.with_timezone(&London);
        let expected = if local.weekday().num_days_from_monday() == 6 && local.hour() == 1 {
            602.0 // Sunday 02:00 in 2018
        } else {
            own_mark(at)
        };
        assert_eq!(value, expected, "t={t} {local}");
    }
}

#[test]
fn a_target_beyond_the_source_is_refused_naming_both_ranges() {
    let source = marked_2018();
    let error = align_by_week(
        &source,
        London,
        2018,
        London,
        utc("2024-12-30T00:00:00Z"),
        72,
    )
    .unwrap_err();
    let AlignError::OutOfRange { source_end, .. } = &error;
    assert_eq!(source_end, "2019-01-01T00:00:00+00:00");
    assert!(
        error.to_string().starts_with(
            "the source covers 2018-01-01T00:00:00+00:00 to 2019-01-01T00:00:00+00:00; aligning needs "
        ),
        "{error}"
    );
}

#[test]
fn each_series_keeps_its_own_zones_wall_clock() {
    // A London series mapped onto Los Angeles: 10:00 in London lands on
    // 10:00 in Los Angeles (18:00 UTC in October, PDT).
    let source = marked_2018();
    let start = utc("2024-10-21T07:00:00Z"); // Monday 00:00 PDT
    let aligned = align_by_week(
        &source,
        London,
        2018,
        chrono_tz::America::Los_Angeles,
        start,
        24,
    )
    .unwrap();
    for (t, &value) in aligned.values.iter().enumerate() {
        let local = aligned
            .time(t)
            .with_timezone(&chrono_tz::America::Los_Angeles);
        assert_eq!(
            value,
            f64::from(local.hour()),
            "t={t}: Monday (0) at the local hour"
        );
    }
}

#[test]
fn a_history_aligned_with_its_periods_shift_lands_just_before_the_periods_source() {
    // A period from Monday 2024-01-01 mapped onto 2018 starts at Monday
    // 2018-01-01 (2,191 days earlier). Its history from 2023-12-18, with the
    // same shift, is 2017-12-18 to 31: before the period's source, not at
    // the end of 2018 where aligning it on its own would put it.
    let start = utc("2017-12-01T00:00:00Z");
    let values: Vec<f64> = (0..60 * 24).map(f64::from).collect();
    let source = Series {
        start,
        step_minutes: 60,
        values,
    };
    let from = utc("2024-01-01T00:00:00Z");
    let shift = week_shift_days(from, London, 2018);
    assert_eq!(shift, 2191);
    let history_start = utc("2023-12-18T00:00:00Z");
    let aligned =
        align_with_shift(&source, London, London, shift, history_start, 14 * 24 + 24).unwrap();
    // 2017-12-18 00:00 is hour 17 × 24 of the source; the series runs on
    // without a seam into the period.
    for (t, &value) in aligned.values.iter().enumerate() {
        assert_eq!(value, (17 * 24 + t) as f64, "t={t}");
    }
    assert_eq!(
        week_shift_days(history_start, London, 2018) - shift,
        -364,
        "on its own the history would map 52 weeks later"
    );
}
