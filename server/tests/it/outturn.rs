//! What ran against what was planned, on a simulated clock moved by hand.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde_json::{Value, json};

use arbiter_server::clock::ClockConfig;

use crate::{App, days_around_now, price_day};

fn rfc(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl App {
    async fn advance(&self, minutes: i64) {
        let body = json!({ "minutes": minutes }).to_string();
        let moved = self
            .call("POST", "/v1/clock", Some(&self.admin), Some(&body), &[])
            .await;
        assert_eq!(moved.status, 200, "{}", moved.body);
    }

    async fn report(&self, at: DateTime<Utc>, soc: Option<f64>, meter: f64) {
        let body = json!({ "at": rfc(at), "soc_kwh": soc, "meter_kw": meter }).to_string();
        let sent = self
            .call(
                "POST",
                "/v1/sites/np15-hub/telemetry",
                Some(&self.controller),
                Some(&body),
                &[],
            )
            .await;
        assert_eq!(sent.status, 201, "{}", sent.body);
    }
}

/// The plan's interval at `start`: (net import, soc at its end).
fn planned(plan: &Value, start: DateTime<Utc>) -> (f64, f64) {
    let interval = plan["plan"]["intervals"]
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|i| i["start"].as_str() == Some(&rfc(start)))
        })
        .unwrap_or_else(|| panic!("the plan has {start}"));
    let f = |key: &str| interval[key].as_f64().expect(key);
    (f("import_kw") - f("export_kw"), f("soc_kwh"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_past_interval_meets_its_plan_in_force_and_the_meter() {
    let start = Utc::now()
        .duration_trunc(TimeDelta::hours(1))
        .expect("an hour");
    let app = App::with_demo_site_and("outturn", |config| {
        config.clock = Some(ClockConfig { start, speed: 0.0 });
    })
    .await;
    // Flat prices (a new revision of each day), so that every interval's
    // import costs 40 + 25 per MWh and the plan never exports (35 per MWh
    // earned against 40 kept).
    for day in days_around_now() {
        let flat = price_day(day, 0.0)
            .replace("-30.0", "40.0")
            .replace("10.0", "40.0");
        let put = app
            .call(
                "PUT",
                &format!("/v1/markets/caiso-np15/prices/{day}"),
                Some(&app.trader),
                Some(&flat),
                &[],
            )
            .await;
        assert_eq!(put.status, 200, "{}", put.body);
    }
    let quarter = |k: i64| start + TimeDelta::minutes(15 * k);
    let first = app.plan_demo_site().await.json();
    assert_eq!(first["start"].as_str(), Some(rfc(start).as_str()));
    // Interval 0 ran 100 kW above plan with 10 kWh less stored; interval 1
    // as planned.
    let (net0, soc0) = planned(&first, quarter(0));
    let (net1, _) = planned(&first, quarter(1));
    assert!(
        net0 >= 0.0 && net1 >= 0.0,
        "the flat-price plan exports: {net0}, {net1}"
    );
    app.advance(15).await;
    app.report(quarter(1), Some(soc0 - 10.0), net0 + 100.0)
        .await;
    app.advance(15).await;
    app.report(quarter(2), None, net1).await;
    // The second plan is in force from interval 2; it ran 40 kW above.
    let second = app.plan_demo_site().await.json();
    assert_eq!(second["start"].as_str(), Some(rfc(quarter(2)).as_str()));
    let (net2, _) = planned(&second, quarter(2));
    assert!(net2 >= 0.0, "the flat-price plan exports: {net2}");
    app.advance(15).await;
    app.report(quarter(3), None, net2 + 40.0).await;

    let path = format!(
        "/v1/sites/np15-hub/outturn?from={}&to={}",
        rfc(quarter(-1)),
        rfc(quarter(8))
    );
    let answer = app.call("GET", &path, Some(&app.trader), None, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let outturn = answer.json();
    let intervals = outturn["intervals"].as_array().expect("intervals");
    let rows: Vec<_> = intervals
        .iter()
        .map(|i| {
            (
                i["start"].as_str().unwrap_or_default().to_owned(),
                i["version"].as_i64(),
            )
        })
        .collect();
    let expected: Vec<_> = [(-1, None), (0, Some(1)), (1, Some(1)), (2, Some(2))]
        .into_iter()
        .map(|(k, v)| (rfc(quarter(k)), v))
        .collect();
    assert_eq!(
        rows, expected,
        "the intervals ended by the clock, each with its plan"
    );
    let field = |k: usize, key: &str| intervals[k][key].as_f64();
    assert_eq!(field(1, "deviation_kw"), Some(100.0));
    // 100 kW for a quarter hour at 40 + 25 per MWh.
    assert_eq!(field(1, "deviation_cost"), Some(1.625));
    assert_eq!(field(1, "soc_deviation_kwh"), Some(-10.0));
    assert_eq!(field(2, "deviation_kw"), Some(0.0));
    assert_eq!(field(2, "reported_soc_kwh"), None);
    assert_eq!(field(3, "deviation_kw"), Some(40.0));
    assert_eq!(field(3, "deviation_cost"), Some(0.65));
    let totals = &outturn["totals"];
    assert_eq!(totals["metered_intervals"].as_u64(), Some(3));
    assert_eq!(totals["deviation_cost"].as_f64(), Some(2.275));
    assert_eq!(totals["deviation_kwh"].as_f64(), Some(35.0));
    assert_eq!(outturn["currency"].as_str(), Some("USD"));

    // Another site's controller may not read it; a bad bound is named.
    let refused = app
        .call("GET", &path, Some(&app.other_controller), None, &[])
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let bad = app
        .call(
            "GET",
            "/v1/sites/np15-hub/outturn?from=yesterday",
            Some(&app.trader),
            None,
            &[],
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(bad.body.contains("\"from\""), "{}", bad.body);
}
