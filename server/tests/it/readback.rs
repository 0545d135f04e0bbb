//! Reading back what plans are built on: metered charging, the controller's
//! forecast and telemetry, as written.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde_json::json;

use crate::App;

fn rfc(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charging_and_telemetry_read_back_as_written() {
    let app = App::with_demo_site("readback").await;
    let token = Some(app.controller.as_str());
    let quarter = Utc::now()
        .duration_trunc(TimeDelta::minutes(15))
        .expect("a quarter");
    let (past, last) = (
        quarter - TimeDelta::hours(1),
        quarter - TimeDelta::minutes(45),
    );
    let readings = json!({ "readings": [
        { "timestamp_utc": rfc(past), "kw": 812.5 },
        { "timestamp_utc": rfc(last), "kw": 640.25 },
    ]})
    .to_string();
    let put = app
        .call(
            "PUT",
            "/v1/sites/np15-hub/charging",
            token,
            Some(&readings),
            &[],
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    let next = quarter + TimeDelta::minutes(15);
    let forecast = json!({ "readings": [
        { "timestamp_utc": rfc(last), "kw": 600.0 },
        { "timestamp_utc": rfc(next), "kw": 900.0 },
    ]})
    .to_string();
    let put = app
        .call(
            "PUT",
            "/v1/sites/np15-hub/charging/forecast",
            token,
            Some(&forecast),
            &[],
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    for (minutes, soc) in [(30, 4000.0), (10, 3800.5)] {
        let report = json!({
            "at": rfc(Utc::now() - TimeDelta::minutes(minutes)), "soc_kwh": soc, "meter_kw": 950.0,
            "running_jobs": ["train-1"],
        })
        .to_string();
        let post = app
            .call(
                "POST",
                "/v1/sites/np15-hub/telemetry",
                token,
                Some(&report),
                &[],
            )
            .await;
        assert_eq!(post.status, 201, "{}", post.body);
    }

    // A trader reads what the controller wrote.
    let trader = Some(app.trader.as_str());
    let charging = app
        .call("GET", "/v1/sites/np15-hub/charging", trader, None, &[])
        .await;
    assert_eq!(charging.status, 200, "{}", charging.body);
    let body = charging.json();
    assert_eq!(body["site_id"], "np15-hub");
    assert_eq!(
        body["readings"],
        json!([{ "timestamp_utc": rfc(past), "kw": 812.5 }, { "timestamp_utc": rfc(last), "kw": 640.25 }])
    );
    let forecast = body["forecast"].as_array().expect("forecast values");
    assert_eq!(forecast.len(), 2);
    assert_eq!(forecast[1]["timestamp_utc"], rfc(next));
    assert_eq!(forecast[1]["kw"], 900.0);

    // As CSV: one row per instant, metered and forecast side by side.
    let csv = app
        .call(
            "GET",
            "/v1/sites/np15-hub/charging",
            trader,
            None,
            &[("Accept", "text/csv")],
        )
        .await;
    assert_eq!(csv.header("content-type"), Some("text/csv"));
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(
        lines[0],
        "timestamp_utc,metered_kw,forecast_kw,forecast_issued_at"
    );
    assert_eq!(lines[1], format!("{},812.5,,", rfc(past)));
    assert!(
        lines[2].starts_with(&format!("{},640.25,600,", rfc(last))),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].starts_with(&format!("{},,900,", rfc(next))),
        "{}",
        lines[3]
    );
    assert_eq!(lines.len(), 4);

    // A range that holds only the first reading.
    let path = format!(
        "/v1/sites/np15-hub/charging?from={}&to={}",
        rfc(past),
        rfc(past + TimeDelta::minutes(15))
    );
    let one = app.call("GET", &path, trader, None, &[]).await;
    assert_eq!(
        one.json()["readings"].as_array().map(Vec::len),
        Some(1),
        "{}",
        one.body
    );

    let telemetry = app
        .call("GET", "/v1/sites/np15-hub/telemetry", trader, None, &[])
        .await;
    assert_eq!(telemetry.status, 200, "{}", telemetry.body);
    let reports = telemetry.json()["reports"].clone();
    assert_eq!(reports.as_array().map(Vec::len), Some(2), "{reports}");
    assert_eq!(reports[0]["soc_kwh"], 4000.0);
    assert_eq!(reports[1]["soc_kwh"], 3800.5);
    assert_eq!(reports[1]["running_jobs"], json!(["train-1"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_range_is_refused_naming_the_field() {
    let app = App::with_demo_site("readback-range").await;
    let token = Some(app.analyst.as_str());
    for (query, field, rule) in [
        ("from=yesterday", "from", "must be an RFC 3339 instant"),
        (
            "from=2024-10-24T08:00:00Z&to=2024-10-24T07:00:00Z",
            "to",
            "must be after from",
        ),
        (
            "from=2024-01-01T00:00:00Z&to=2024-03-01T00:00:00Z",
            "to",
            "at most 31 days",
        ),
    ] {
        for resource in ["charging", "telemetry"] {
            let path = format!("/v1/sites/np15-hub/{resource}?{query}");
            let answer = app.call("GET", &path, token, None, &[]).await;
            assert_eq!(answer.status, 422, "{path}: {}", answer.body);
            let issue = &answer.json()["errors"][0];
            assert_eq!(issue["field"], field, "{path}");
            assert!(
                issue["message"].as_str().is_some_and(|m| m.contains(rule)),
                "{issue}"
            );
        }
    }
}
