//! Forecasting models: hand-computed forecasts on tiny series, no
//! look-ahead, quantile ordering, DST days, negative prices, evaluation.

use crate::common::{fixture, utc};

use arbiter_forecast::{
    EVALUATION_LEVELS, Model, PriceSource, Profile, Series, TimeColumn, choose, evaluate, extend,
    pinball, read_metered_load, read_prices, rolling_origins,
};
use chrono::{TimeDelta, Timelike};
use chrono_tz::{America::Los_Angeles, Europe::Berlin, Europe::London, UTC};

/// An hourly UTC series from 2024-01-01 (a Monday) with `values`.
fn hourly(values: Vec<f64>) -> Series {
    Series {
        start: utc("2024-01-01T00:00:00Z"),
        step_minutes: 60,
        values,
    }
}

fn no_decay(lookback_days: u32) -> Profile {
    Profile {
        lookback_days,
        half_life_days: 1e12,
        ..Profile::day_type()
    }
}

#[test]
fn seasonal_naive_repeats_last_week_shifted_by_its_own_errors() {
    // Two weeks of hourly values; week 2 is week 1 plus 1 everywhere, so
    // every error the model made in week 2 is +1: its P50 and P90 for week
    // 3 are week 2 + 1.
    let values: Vec<f64> = (0..336)
        .map(|i| (i % 168) as f64 + if i >= 168 { 1.0 } else { 0.0 })
        .collect();
    let series = hourly(values.clone());
    let origin = series.end();
    let forecast = Model::SeasonalNaive { lag_days: 7 }
        .forecast(&series, UTC, origin, 24, &[0.5, 0.9])
        .unwrap();
    let expected: Vec<f64> = (0..24).map(|h| values[168 + h] + 1.0).collect();
    // Clamped to the range seen (0 to 168): all of these are inside it.
    assert_eq!(forecast.quantile(0.5).unwrap(), expected.as_slice());
    assert_eq!(forecast.quantile(0.9).unwrap(), expected.as_slice());
}

#[test]
fn the_day_type_profile_takes_weighted_quantiles_of_the_same_slot_on_the_same_day_type() {
    // A target on Monday 2024-01-15 10:00 UTC. With a 7-day lookback, its
    // samples are the weekdays before it at 10:00: Fri 12th (age 3),
    // Thu 11th (4), Wed 10th (5), Tue 9th (6), Mon 8th (7); the weekend is
    // another day type.
    let mut values = vec![0.0; 14 * 24];
    for (day, value) in [(11, 10.0), (10, 20.0), (9, 30.0), (8, 40.0), (7, 50.0)] {
        values[day * 24 + 10] = value; // 2024-01-(day+1) 10:00
    }
    values[13 * 24 + 10] = 999.0; // Sunday: not a weekday, not a sample
    let series = hourly(values);
    let origin = utc("2024-01-15T00:00:00Z");
    let at_ten =
        |forecast: &arbiter_forecast::Forecast, level| forecast.quantile(level).unwrap()[10];

    // Equal weights: P50 is the third of five (cumulative 3/5 ≥ 1/2), P90 the fifth.
    let equal = Model::Profile(no_decay(7))
        .forecast(&series, UTC, origin, 24, &[0.5, 0.9])
        .unwrap();
    assert_eq!(at_ten(&equal, 0.5), 30.0);
    assert_eq!(at_ten(&equal, 0.9), 50.0);

    // Weights halving every day: 10 (w 1/8), 20 (1/16), 30 (1/32), 40
    // (1/64), 50 (1/128); total 31/128. P50 needs 15.5/128: 10 alone has
    // 16/128. P90 needs 27.9/128: 10+20+30 reach 28/128.
    let decayed = Model::Profile(Profile {
        half_life_days: 1.0,
        ..no_decay(7)
    })
    .forecast(&series, UTC, origin, 24, &[0.5, 0.9])
    .unwrap();
    assert_eq!(at_ten(&decayed, 0.5), 10.0);
    assert_eq!(at_ten(&decayed, 0.9), 30.0);
}

#[test]
fn the_blend_adds_neighbouring_slots_other_day_types_and_the_last_value() {
    // All history is 0 except the last hour before the origin (100), and
    // 8.0 at 11:00 on Sunday the 14th.
    let mut values = vec![0.0; 14 * 24];
    values[14 * 24 - 1] = 100.0;
    values[13 * 24 + 11] = 8.0;
    let series = hourly(values);
    let origin = series.end(); // Monday 2024-01-15 00:00
    let blend = Profile {
        lookback_days: 7,
        half_life_days: 1e12,
        other_day_type_weight: 0.5,
        slot_radius: 1,
        slot_sigma: 1.0,
        persistence_steps: 2,
    };
    let forecast = Model::Profile(blend.clone())
        .forecast(&series, UTC, origin, 24, &[0.5, 0.9])
        .unwrap();
    let p50 = forecast.quantile(0.5).unwrap();
    let p90 = forecast.quantile(0.9).unwrap();
    // h = 0: the last value weighs as much as all profile samples: P50 is
    // the profile's 0, P90 the last value. h = 1: half as much (1/3 of the
    // total): P90 still 100. h = 2: no persistence left.
    assert_eq!((p50[0], p90[0]), (0.0, 100.0));
    assert_eq!((p50[1], p90[1]), (0.0, 100.0));
    assert_eq!((p50[2], p90[2]), (0.0, 0.0));
    // 10:00 and 12:00 see Sunday 11:00 (a neighbour slot, another day
    // type): weight 0.5 · e^(-1/2) ≈ 0.30 of 7 days × (1 + 2·0.61) slots
    // ≈ 12.6 total with Saturday and Sunday at half weight: 2.4 % of the
    // mass, below the 10 % above P90. Make the Sunday count as much as all
    // the rest and P90 becomes 8.
    let heavy = Model::Profile(Profile {
        other_day_type_weight: 1e6,
        ..blend
    })
    .forecast(&series, UTC, origin, 24, &[0.5, 0.9])
    .unwrap();
    let heavy_p90 = heavy.quantile(0.9).unwrap();
    assert_eq!((p90[10], p90[12]), (0.0, 0.0));
    assert_eq!(
        (heavy_p90[10], heavy_p90[11], heavy_p90[12]),
        (8.0, 8.0, 8.0)
    );
    assert_eq!(heavy_p90[13], 0.0);
}

#[test]
fn no_model_reads_a_value_at_or_after_the_origin() {
    let load = read_metered_load(
        fixture("ev", "broxden_load_2018-10-22_week.csv"),
        &TimeColumn::utc("timestamp_utc"),
        "site_power_kw",
    )
    .unwrap();
    let origin = utc("2018-10-27T12:00:00Z");
    let cut = load.index_of(origin).unwrap();
    let mut changed = load.clone();
    for value in &mut changed.values[cut..] {
        *value = 1000.0 - *value;
    }
    for model in models() {
        let before = model
            .forecast(&load, London, origin, 144, &[0.1, 0.5, 0.9])
            .unwrap();
        let after = model
            .forecast(&changed, London, origin, 144, &[0.1, 0.5, 0.9])
            .unwrap();
        assert_eq!(before, after, "{}", model.name());
        // And a history that simply ends at the origin gives the same forecast.
        let truncated = model
            .forecast(&load.before(origin), London, origin, 144, &[0.1, 0.5, 0.9])
            .unwrap();
        assert_eq!(before, truncated, "{}", model.name());
    }
}

fn models() -> Vec<Model> {
    vec![
        Model::SeasonalNaive { lag_days: 7 },
        Model::SeasonalNaive { lag_days: 1 },
        Model::Profile(Profile::day_type()),
        Model::Profile(Profile::blend()),
        Model::Profile(Profile::recent_days()),
    ]
}

#[test]
fn quantiles_never_cross_whatever_order_the_levels_are_asked_in() {
    let load = read_metered_load(
        fixture("ev", "broxden_load_2018-10-22_week.csv"),
        &TimeColumn::utc("timestamp_utc"),
        "site_power_kw",
    )
    .unwrap();
    for model in models() {
        for hour in [0, 7, 13, 22] {
            let origin = utc("2018-10-26T00:00:00Z") + TimeDelta::hours(hour);
            let forecast = model
                .forecast(&load, London, origin, 144, &[0.9, 0.1, 0.5])
                .unwrap();
            assert_eq!(forecast.levels, vec![0.1, 0.5, 0.9]);
            for h in 0..forecast.horizon() {
                let (p10, p50, p90) = (
                    forecast.values[0][h],
                    forecast.values[1][h],
                    forecast.values[2][h],
                );
                assert!(
                    p10 <= p50 && p50 <= p90,
                    "{} h={h}: {p10} {p50} {p90}",
                    model.name()
                );
                assert!(
                    p10 >= 0.0,
                    "{}: a load forecast is never negative",
                    model.name()
                );
            }
        }
    }
}

#[test]
fn bad_levels_and_off_grid_origins_are_refused() {
    let series = hourly(vec![1.0; 48]);
    let model = Model::Profile(Profile::day_type());
    let level = model
        .forecast(&series, UTC, series.end(), 4, &[0.5, 1.0])
        .unwrap_err();
    assert_eq!(level.to_string(), "quantile level 1 must be in (0, 1)");
    let off = model
        .forecast(&series, UTC, utc("2024-01-02T00:30:00Z"), 4, &[0.5])
        .unwrap_err();
    assert_eq!(
        off.to_string(),
        "origin 2024-01-02T00:30:00+00:00 is not on the history's 60-minute grid from 2024-01-01T00:00:00+00:00"
    );
    let none = model
        .forecast(&series, UTC, utc("2023-06-01T00:00:00Z"), 4, &[0.5])
        .unwrap_err();
    assert_eq!(
        none.to_string(),
        "no history before 2023-06-01T00:00:00+00:00 within the model's 56-day lookback"
    );
}

/// Three weeks of 15-min values equal to the local hour of day in `zone`.
fn local_hours(zone: chrono_tz::Tz, start: &str) -> Series {
    let start = utc(start);
    let values = (0..21 * 96 + 8)
        .map(|i| {
            let at = start + TimeDelta::minutes(15 * i);
            f64::from(at.with_timezone(&zone).hour())
        })
        .collect();
    Series {
        start,
        step_minutes: 15,
        values,
    }
}

#[test]
fn profiles_follow_local_time_across_dst_days() {
    // Berlin falls back on 2023-10-29 (25 hours), Los Angeles springs
    // forward on 2024-03-10 (23 hours). Three weeks of history ending the
    // day before, where each value is its local hour: the forecast of the
    // DST day must give every interval its own local hour, the repeated
    // hour twice and the skipped hour never.
    for (zone, history_start, origin, intervals) in [
        (Berlin, "2023-10-07T22:00:00Z", "2023-10-28T22:00:00Z", 100),
        (
            Los_Angeles,
            "2024-02-18T08:00:00Z",
            "2024-03-10T08:00:00Z",
            92,
        ),
    ] {
        let series = local_hours(zone, history_start).before(utc(origin));
        for model in [
            Model::Profile(Profile::day_type()),
            Model::Profile(Profile {
                slot_radius: 0,
                persistence_steps: 0,
                other_day_type_weight: 1.0,
                ..Profile::blend()
            }),
            Model::SeasonalNaive { lag_days: 7 },
        ] {
            let forecast = model
                .forecast(&series, zone, utc(origin), intervals, &[0.5])
                .unwrap();
            let p50 = forecast.quantile(0.5).unwrap();
            for h in 0..intervals {
                let local_hour = f64::from(forecast.time(h).with_timezone(&zone).hour());
                assert_eq!(p50[h], local_hour, "{} {zone} h={h}", model.name());
            }
            // The next local midnight is `intervals` quarter-hours ahead.
            assert_eq!(forecast.time(intervals).with_timezone(&zone).hour(), 0);
        }
    }
}

#[test]
fn price_forecasts_keep_negative_prices() {
    // 2023-07-02 in DE-LU: midday prices down to −500 €/MWh. Same hour
    // yesterday, the day after, repeats them exactly (its errors are
    // unknown with one day of history, so no shift).
    let prices = read_prices(&PriceSource::csv(fixture(
        "prices",
        "de_lu_2023-07-02_negative.csv",
    )))
    .unwrap()
    .series;
    let (extended, forecast) = extend(
        &prices,
        Berlin,
        prices.end() + TimeDelta::hours(24),
        &Model::SeasonalNaive { lag_days: 1 },
    )
    .unwrap();
    assert_eq!(forecast, 24);
    assert_eq!(extended.values.len(), 48);
    assert_eq!(&extended.values[24..], &prices.values[..]);
    assert!(extended.values[24..].iter().any(|&price| price <= -500.0));
    // Extending to a time already covered changes nothing.
    let (same, none) = extend(
        &prices,
        Berlin,
        prices.end(),
        &Model::SeasonalNaive { lag_days: 1 },
    )
    .unwrap();
    assert_eq!((same, none), (prices.clone(), 0));
}

#[test]
fn pinball_loss_and_evaluation_scores_are_the_textbook_ones() {
    assert!((pinball(0.9, 10.0, 4.0) - 5.4).abs() < 1e-12);
    assert!((pinball(0.9, 4.0, 10.0) - 0.6).abs() < 1e-12);
    assert_eq!(pinball(0.5, 3.0, 5.0), 1.0);

    // Three days of hourly values 1, 2, 3 (one per day); naive "same hour
    // yesterday" from the start of day 3 forecasts 2 where 3 happened.
    let series = hourly([vec![1.0; 24], vec![2.0; 24], vec![3.0; 24]].concat());
    let origins = rolling_origins(
        &series,
        UTC,
        utc("2024-01-03T00:00:00Z"),
        utc("2024-01-04T00:00:00Z"),
        TimeDelta::days(1),
    );
    assert_eq!(origins, vec![utc("2024-01-03T00:00:00Z")]);
    let accuracy = evaluate(
        &Model::SeasonalNaive { lag_days: 1 },
        &series,
        UTC,
        &origins,
        24,
        || {},
    )
    .unwrap();
    // Its errors on day 2 were +1 everywhere: P50 = P90 = 2 + 1 = 3, exact.
    assert_eq!(accuracy.points, 24);
    assert_eq!(
        (accuracy.mae, accuracy.rmse, accuracy.coverage_90),
        (0.0, 0.0, 1.0)
    );
    assert_eq!(EVALUATION_LEVELS, [0.5, 0.9]);

    // A profile of the two days (equal weights, every day type) forecasts
    // the lower median 1 for P50 and 2 for P90: MAE 2, pinball 0.5 → 1,
    // pinball 0.9 → 0.9, coverage 0.
    let profile = Model::Profile(Profile {
        lookback_days: 2,
        half_life_days: 1e12,
        other_day_type_weight: 1.0,
        ..Profile::day_type()
    });
    let scored = evaluate(&profile, &series, UTC, &origins, 24, || {}).unwrap();
    assert_eq!((scored.mae, scored.rmse), (2.0, 2.0));
    assert!((scored.pinball_50 - 1.0).abs() < 1e-12);
    assert!((scored.pinball_90 - 0.9).abs() < 1e-12);
    assert_eq!(scored.coverage_90, 0.0);
}

#[test]
fn the_choice_goes_to_the_model_that_validated_best_on_data_before_the_period() {
    let load = read_metered_load(
        fixture("ev", "broxden_load_2018-10-22_week.csv"),
        &TimeColumn::utc("timestamp_utc"),
        "site_power_kw",
    )
    .unwrap();
    let candidates = [
        Model::SeasonalNaive { lag_days: 1 },
        Model::Profile(Profile {
            other_day_type_weight: 1.0,
            ..Profile::blend()
        }),
    ];
    let before = utc("2018-10-28T00:00:00Z");
    let choice = choose(&candidates, &load, London, before, 3, 96).unwrap();
    assert_eq!(choice.validation.len(), 2);
    let score = |k: usize| choice.validation[k].pinball_50 + choice.validation[k].pinball_90;
    let best = if score(0) <= score(1) { 0 } else { 1 };
    assert_eq!(choice.index, best);
    // Validation is scored on the data before `before` only: changing what
    // comes after cannot change it.
    let mut changed = load.clone();
    let cut = load.index_of(before).unwrap();
    changed.values[cut..].iter_mut().for_each(|v| *v += 50.0);
    assert_eq!(
        choose(&candidates, &changed, London, before, 3, 96).unwrap(),
        choice
    );
}

#[test]
fn daily_origins_keep_their_local_time_across_dst() {
    // London falls back on 2018-10-28: local midnight is 23:00 UTC before
    // and 00:00 UTC after.
    let load = read_metered_load(
        fixture("ev", "broxden_load_2018-10-22_week.csv"),
        &TimeColumn::utc("timestamp_utc"),
        "site_power_kw",
    )
    .unwrap();
    let daily = rolling_origins(
        &load,
        London,
        utc("2018-10-26T23:00:00Z"),
        utc("2018-10-29T00:00:00Z"),
        TimeDelta::days(1),
    );
    assert_eq!(
        daily,
        vec![utc("2018-10-26T23:00:00Z"), utc("2018-10-27T23:00:00Z")]
    );
    let hourly = rolling_origins(
        &load,
        London,
        utc("2018-10-28T00:00:00Z"),
        utc("2018-10-28T03:00:00Z"),
        TimeDelta::hours(1),
    );
    assert_eq!(hourly.len(), 3);
}

#[test]
fn a_window_of_a_series_keeps_its_grid_and_clips_to_the_data() {
    let series = hourly((0..48).map(f64::from).collect());
    let window = series.between(utc("2024-01-01T05:30:00Z"), utc("2024-01-01T09:00:00Z"));
    // Intervals starting in [05:30, 09:00): 06:00, 07:00, 08:00.
    assert_eq!(
        (window.start, window.values.clone()),
        (utc("2024-01-01T06:00:00Z"), vec![6.0, 7.0, 8.0])
    );
    let clipped = series.between(utc("2023-12-31T00:00:00Z"), utc("2024-01-01T02:00:00Z"));
    assert_eq!(
        (clipped.start, clipped.values),
        (series.start, vec![0.0, 1.0])
    );
    let past_end = series.between(utc("2024-01-02T20:00:00Z"), utc("2024-01-05T00:00:00Z"));
    assert_eq!(past_end.values, vec![44.0, 45.0, 46.0, 47.0]);
    assert!(
        series
            .between(utc("2024-01-03T00:00:00Z"), utc("2024-01-04T00:00:00Z"))
            .values
            .is_empty()
    );
}
