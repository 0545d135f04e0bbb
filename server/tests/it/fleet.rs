//! The fleet summary and who the caller is.

use chrono::{Datelike, TimeDelta, TimeZone, Utc};
use serde_json::json;

use crate::App;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_shows_each_readable_site_with_its_plan_battery_peak_and_cost() {
    let app = App::with_demo_site("fleet").await;
    let fleet = |token: String| {
        let app = &app;
        async move {
            let answer = app.call("GET", "/v1/fleet", Some(&token), None, &[]).await;
            assert_eq!(answer.status, 200, "{}", answer.body);
            answer.json()
        }
    };
    let before = fleet(app.trader.clone()).await;
    let site = &before["sites"][0];
    assert_eq!(site["site_id"], "np15-hub");
    assert_eq!(site["plan"], serde_json::Value::Null);
    assert_eq!(site["attention"], json!(["no plan", "stale telemetry"]));

    // A report a minute old, then a plan.
    let reported = chrono::DurationRound::duration_trunc(
        Utc::now() - TimeDelta::minutes(1),
        TimeDelta::seconds(1),
    )
    .expect("a time");
    let report = json!({"at": reported.to_rfc3339(), "soc_kwh": 4100.5, "meter_kw": 950.0});
    let post = app
        .call(
            "POST",
            "/v1/sites/np15-hub/telemetry",
            Some(&app.controller),
            Some(&report.to_string()),
            &[],
        )
        .await;
    assert_eq!(post.status, 201, "{}", post.body);
    let planned = app.plan_demo_site().await;
    let document = planned.json();

    let after = fleet(app.controller.clone()).await;
    let sites = after["sites"].as_array().expect("sites");
    assert_eq!(sites.len(), 1);
    let site = &sites[0];
    assert_eq!(site["plan"]["version"], 1);
    assert_eq!(site["plan"]["status"], document["plan"]["status"]);
    assert_eq!(site["plan"]["created_at"], document["created_at"]);
    assert_eq!(site["battery_kwh"], 4100.5);
    assert_eq!(site["battery_max_kwh"], 7800.0);
    assert_eq!(site["currency"], "USD");
    // The billing month is Los Angeles' calendar month.
    let zone = chrono_tz::America::Los_Angeles;
    let local = Utc::now().with_timezone(&zone);
    let month_start = zone
        .with_ymd_and_hms(local.year(), local.month(), 1, 0, 0, 0)
        .earliest()
        .expect("a midnight");
    let peak = if reported >= month_start {
        json!(950.0)
    } else {
        json!(null)
    };
    assert_eq!(site["month_peak_kw"], peak);
    // The plan's peak and the cost of its intervals up to local midnight,
    // worked out here from the document (adders 25 and 5 per MWh).
    let intervals = document["plan"]["intervals"].as_array().expect("intervals");
    let peak = intervals
        .iter()
        .map(|i| i["import_kw"].as_f64().expect("kW"))
        .fold(f64::MIN, f64::max);
    assert_eq!(site["planned_peak_kw"].as_f64(), Some(peak));
    let now: chrono::DateTime<Utc> = after["now"].as_str().expect("now").parse().expect("time");
    let midnight = zone
        .from_local_datetime(
            &(now.with_timezone(&zone).date_naive() + TimeDelta::days(1))
                .and_hms_opt(0, 0, 0)
                .expect("midnight"),
        )
        .earliest()
        .expect("a midnight");
    let cost: f64 = intervals
        .iter()
        .filter_map(|i| {
            let start: chrono::DateTime<Utc> = i["start"].as_str()?.parse().ok()?;
            let live = start + TimeDelta::minutes(15) > now && start < midnight;
            let price = i["price_per_mwh"].as_f64()?;
            let flow = i["import_kw"].as_f64()? * (price + 25.0)
                - i["export_kw"].as_f64()? * (price - 5.0);
            live.then_some(flow / 4000.0)
        })
        .sum();
    let served = site["cost_rest_of_day"].as_f64().expect("a cost");
    assert!((served - cost).abs() <= 0.006, "{served} against {cost}");

    // Another site's controller reads no site.
    let other = fleet(app.other_controller.clone()).await;
    assert_eq!(other["sites"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoami_names_the_role_its_sites_and_what_it_may_do() {
    let app = App::with_demo_site("whoami").await;
    for (token, role, sites, may) in [
        (
            &app.controller,
            "controller",
            json!(["np15-hub"]),
            json!(["operate"]),
        ),
        (&app.trader, "trader", json!([]), json!(["upload_prices"])),
        (&app.analyst, "analyst", json!([]), json!(["run_backtests"])),
        (&app.admin, "admin", json!([]), json!(["manage_sites"])),
    ] {
        let answer = app.call("GET", "/v1/whoami", Some(token), None, &[]).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let me = answer.json();
        assert_eq!(me["role"], role);
        assert_eq!(me["sites"], sites);
        assert_eq!(me["may"], may, "{role}");
        assert!(
            me["key_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("key_"))
        );
    }
}
