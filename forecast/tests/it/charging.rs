//! Charging load: metered series and session logs.

use crate::common::{fixture, temp_csv, utc};

use arbiter_forecast::{
    IngestError, Session, SessionSource, TimeColumn, read_metered_load, read_sessions,
    sessions_to_load,
};

#[test]
fn a_session_draws_rated_power_until_its_energy_is_delivered() {
    // 10 kWh at 50 kW from 00:05 takes 12 minutes (00:05–00:17): 10 minutes
    // in the first quarter-hour (8.333 kWh → 33.33 kW), 2 in the second
    // (1.667 kWh → 6.67 kW).
    let session = Session {
        arrival: utc("2024-01-01T00:05:00Z"),
        departure: utc("2024-01-01T01:00:00Z"),
        energy_kwh: 10.0,
        rated_kw: None,
    };
    let load = sessions_to_load(&[session], 50.0, utc("2024-01-01T00:00:00Z"), 15, 4);
    let expected = [50.0 * 10.0 / 15.0, 50.0 * 2.0 / 15.0, 0.0, 0.0];
    for (got, want) in load.values.iter().zip(expected) {
        assert!((got - want).abs() < 1e-9, "{:?}", load.values);
    }
}

#[test]
fn session_energy_is_conserved_and_power_never_exceeds_the_rating() {
    let log = read_sessions(&SessionSource::csv(fixture(
        "ev",
        "broxden_sessions_2018-10-22_week.csv",
    )))
    .unwrap();
    assert_eq!(log.sessions.len(), 127);
    assert!(log.skipped.is_empty(), "{:?}", log.skipped);
    let inside: Vec<Session> = log
        .sessions
        .into_iter()
        .filter(|s| {
            s.arrival >= utc("2018-10-22T00:00:00Z") && s.arrival < utc("2018-10-28T22:00:00Z")
        })
        .collect();
    let total: f64 = inside.iter().map(|s| s.energy_kwh).sum();
    let load = sessions_to_load(&inside, 50.0, utc("2018-10-22T00:00:00Z"), 15, 672);
    let delivered: f64 = load.values.iter().map(|kw| kw * 0.25).sum();
    assert!((delivered - total).abs() < 1e-6, "{delivered} vs {total}");
    let sessions_at_once = 4.0; // the site's rapid units
    assert!(
        load.values
            .iter()
            .all(|&kw| kw <= 50.0 * sessions_at_once + 1e-9)
    );
}

#[test]
fn a_metered_week_reads_as_672_quarter_hours() {
    let load = read_metered_load(
        fixture("ev", "broxden_load_2018-10-22_week.csv"),
        &TimeColumn::utc("timestamp_utc"),
        "site_power_kw",
    )
    .unwrap();
    assert_eq!(load.values.len(), 672);
    assert_eq!(load.step_minutes, 15);
    let energy: f64 = load.values.iter().map(|kw| kw * 0.25).sum();
    // Σ site_power_kw / 4 over the file (its energy_kwh column is rounded per row).
    assert!((energy - 1411.82175).abs() < 1e-6, "{energy}");
}

#[test]
fn negative_metered_load_is_rejected() {
    let text = "timestamp_utc,kw\n2024-01-01T00:00:00Z,5\n2024-01-01T00:15:00Z,-2\n";
    let error = read_metered_load(
        temp_csv("negative.csv", text),
        &TimeColumn::utc("timestamp_utc"),
        "kw",
    )
    .unwrap_err();
    match error {
        IngestError::Rows { issues, .. } => {
            assert_eq!(issues[0].to_string(), "line 3: kw (-2) must be ≥ 0")
        }
        other => panic!("{other}"),
    }
}

#[test]
fn unusable_session_rows_are_listed_not_silently_dropped() {
    let text = "arrival_utc,departure_utc,energy_kwh\n\
        2024-01-01T00:00:00Z,2024-01-01T00:30:00Z,12\n\
        2024-01-01T01:00:00Z,,8\n\
        2024-01-01T02:00:00Z,2024-01-01T01:00:00Z,5\n\
        2024-01-01T03:00:00Z,2024-01-01T03:20:00Z,\n";
    let file = temp_csv("sessions.csv", text);
    let log = read_sessions(&SessionSource::csv(&file)).unwrap();
    assert_eq!(log.sessions.len(), 1);
    let skipped: Vec<String> = log.skipped.iter().map(ToString::to_string).collect();
    assert_eq!(
        skipped,
        [
            "line 3: departure_utc is missing",
            "line 4: departure_utc is before arrival_utc",
            "line 5: energy_kwh is missing",
        ]
    );
}

#[test]
fn each_session_draws_its_own_chargers_rating() {
    let source = SessionSource::csv(fixture("ev", "broxden_sessions_2018-10-22_week.csv"))
        .with_ratings(
            "charger_model",
            &[
                ("APT Triple Rapid Charger", 50.0),
                ("APT 22kW Dual Outlet", 22.0),
            ],
        );
    let log = read_sessions(&source).unwrap();
    assert_eq!(log.sessions.len(), 127);
    let ac = log
        .sessions
        .iter()
        .filter(|session| session.rated_kw == Some(22.0))
        .count();
    let rapid = log
        .sessions
        .iter()
        .filter(|session| session.rated_kw == Some(50.0))
        .count();
    assert_eq!(ac + rapid, 127);
    assert!(ac > 0 && rapid > 0, "{ac} AC, {rapid} rapid");

    // 11 kWh at 22 kW takes 30 minutes; at the 50 kW default, 13.2.
    let at = utc("2024-01-01T00:00:00Z");
    let session = |rated_kw| Session {
        arrival: at,
        departure: at + chrono::TimeDelta::hours(1),
        energy_kwh: 11.0,
        rated_kw,
    };
    let load = sessions_to_load(&[session(Some(22.0)), session(None)], 50.0, at, 15, 3);
    let expected = [22.0 + 11.0 / 0.25, 22.0, 0.0];
    for (got, want) in load.values.iter().zip(expected) {
        assert!((got - want).abs() < 1e-9, "{:?}", load.values);
    }
}

#[test]
fn a_session_on_a_charger_with_no_rating_is_left_out_and_said_so() {
    let source = SessionSource::csv(fixture("ev", "broxden_sessions_2018-10-22_week.csv"))
        .with_ratings("charger_model", &[("APT Triple Rapid Charger", 50.0)]);
    let log = read_sessions(&source).unwrap();
    assert!(!log.skipped.is_empty());
    assert_eq!(log.sessions.len() + log.skipped.len(), 127);
    assert_eq!(
        log.skipped[0].reason,
        "charger_model \"APT 22kW Dual Outlet\" has no rating (rated: APT Triple Rapid Charger = 50 kW)"
    );
}
