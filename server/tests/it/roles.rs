//! Every endpoint answered for every role: the status each gets.

use chrono::{TimeDelta, Utc};

use crate::{App, days_around_now, price_day, site_toml};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_gets_its_status_on_every_endpoint() {
    let app = App::with_demo_site("roles").await;
    app.plan_demo_site().await;
    let day = days_around_now()[1];
    let site = site_toml();
    let prices = price_day(day, 40.0);
    let telemetry =
        serde_json::json!({ "at": Utc::now().to_rfc3339(), "soc_kwh": 4000.0 }).to_string();
    let charging = r#"{"readings":[]}"#.to_owned();
    let job = serde_json::json!({
        "id": "j1", "energy_kwh": 10.0, "deadline": (Utc::now() + TimeDelta::hours(3)).to_rfc3339(),
        "kind": "preemptible", "max_kw": 100.0
    })
    .to_string();
    let prices_url = format!("/v1/markets/caiso-np15/prices/{day}");
    let range_url = format!("/v1/markets/caiso-np15/prices?from={day}&to={day}");
    let other_site = site.replacen(r#"id = "np15-hub""#, r#"id = "np15-other""#, 1);
    // (method, path, body, [none, controller, other controller, trader, analyst, admin])
    let cases: Vec<(&str, &str, Option<&str>, [u16; 6])> = vec![
        ("GET", "/healthz", None, [200, 200, 200, 200, 200, 200]),
        ("GET", "/readyz", None, [200, 200, 200, 200, 200, 200]),
        ("GET", "/metrics", None, [200, 200, 200, 200, 200, 200]),
        ("GET", "/v1/sites", None, [401, 200, 200, 200, 200, 200]),
        (
            "POST",
            "/v1/sites",
            Some(&other_site),
            [401, 403, 403, 403, 403, 201],
        ),
        (
            "GET",
            "/v1/sites/np15-hub",
            None,
            [401, 200, 403, 200, 200, 200],
        ),
        (
            "PUT",
            "/v1/sites/np15-hub",
            Some(&site),
            [401, 403, 403, 403, 403, 200],
        ),
        ("GET", &range_url, None, [401, 403, 403, 200, 200, 200]),
        (
            "PUT",
            &prices_url,
            Some(&prices),
            [401, 403, 403, 200, 403, 403],
        ),
        ("GET", &prices_url, None, [401, 403, 403, 200, 200, 200]),
        (
            "PUT",
            "/v1/sites/np15-hub/charging",
            Some(&charging),
            [401, 200, 403, 403, 403, 403],
        ),
        (
            "PUT",
            "/v1/sites/np15-hub/charging/forecast",
            Some(&charging),
            [401, 200, 403, 403, 403, 403],
        ),
        (
            "GET",
            "/v1/sites/np15-hub/charging",
            None,
            [401, 200, 403, 200, 200, 200],
        ),
        (
            "GET",
            "/v1/sites/np15-hub/telemetry",
            None,
            [401, 200, 403, 200, 200, 200],
        ),
        (
            "GET",
            "/v1/sites/np15-hub/outturn",
            None,
            [401, 200, 403, 200, 200, 200],
        ),
        (
            "POST",
            "/v1/sites/np15-hub/telemetry",
            Some(&telemetry),
            [401, 201, 403, 403, 403, 403],
        ),
        (
            "POST",
            "/v1/sites/np15-hub/plan",
            None,
            [401, 201, 403, 403, 403, 403],
        ),
        (
            "GET",
            "/v1/sites/np15-hub/plans/stream",
            None,
            [401, 200, 403, 200, 200, 200],
        ),
        (
            "GET",
            "/v1/sites/np15-hub/plans/latest",
            None,
            [401, 200, 403, 200, 200, 200],
        ),
        (
            "GET",
            "/v1/sites/np15-hub/plans/1",
            None,
            [401, 200, 403, 200, 200, 200],
        ),
        (
            "GET",
            "/v1/sites/np15-hub/plans",
            None,
            [401, 200, 403, 200, 200, 200],
        ),
        (
            "GET",
            "/v1/sites/np15-hub/jobs",
            None,
            [401, 200, 403, 200, 200, 200],
        ),
        (
            "POST",
            "/v1/sites/np15-hub/jobs",
            Some(&job),
            [401, 201, 403, 403, 403, 403],
        ),
        (
            "GET",
            "/v1/sites/np15-hub/jobs/j1",
            None,
            [401, 200, 403, 200, 200, 200],
        ),
        (
            "PATCH",
            "/v1/sites/np15-hub/jobs/j1",
            Some(r#"{"delivered_kwh":1}"#),
            [401, 200, 403, 403, 403, 403],
        ),
        (
            "DELETE",
            "/v1/sites/np15-hub/jobs/j1",
            None,
            [401, 200, 403, 403, 403, 403],
        ),
        ("GET", "/v1/fleet", None, [401, 200, 200, 200, 200, 200]),
        ("GET", "/v1/whoami", None, [401, 200, 200, 200, 200, 200]),
        ("GET", "/v1/audit", None, [401, 403, 403, 403, 403, 200]),
        ("GET", "/v1/clock", None, [401, 200, 200, 200, 200, 200]),
        ("GET", "/v1/backtests", None, [401, 403, 403, 200, 200, 200]),
        // An invalid backtest: 422 once the role may run one.
        (
            "POST",
            "/v1/backtests",
            Some(r#"{"site":"np15-hub","from":"2024-10-25","to":"2024-10-24"}"#),
            [401, 403, 403, 403, 422, 403],
        ),
        (
            "GET",
            "/v1/backtests/bt_none",
            None,
            [401, 403, 403, 404, 404, 404],
        ),
        (
            "GET",
            "/v1/backtests/bt_none/ledger",
            None,
            [401, 403, 403, 404, 404, 404],
        ),
        ("GET", "/openapi.json", None, [200, 200, 200, 200, 200, 200]),
        // The wall clock cannot be advanced: 409 once the role may try.
        (
            "POST",
            "/v1/clock",
            Some(r#"{"minutes":1}"#),
            [401, 403, 403, 403, 403, 409],
        ),
    ];
    let tokens = [
        None,
        Some(app.controller.as_str()),
        Some(app.other_controller.as_str()),
        Some(app.trader.as_str()),
        Some(app.analyst.as_str()),
        Some(app.admin.as_str()),
    ];
    let mut wrong = Vec::new();
    for (method, path, body, expected) in &cases {
        for (token, want) in tokens.iter().zip(expected) {
            let toml = (path.ends_with("np15-hub") && *method == "PUT")
                || (*path == "/v1/sites" && *method == "POST");
            let extra: &[(&str, &str)] = if toml {
                &[("Content-Type", "application/toml")]
            } else {
                &[]
            };
            let got = app.call(method, path, *token, *body, extra).await;
            if got.status != *want {
                wrong.push(format!(
                    "{method} {path} as {token:?}: {} (want {want}): {}",
                    got.status, got.body
                ));
            }
            if got.status == 401 {
                assert_eq!(got.header("www-authenticate"), Some("Bearer"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // The matrix is the whole service: every operation the document
    // describes has a row.
    let document = app.call("GET", "/openapi.json", None, None, &[]).await;
    let mut missing = Vec::new();
    for (template, item) in document.json()["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let covered = cases.iter().any(|(m, path, _, _)| {
                m.eq_ignore_ascii_case(method) && matches_template(template, path)
            });
            if !covered {
                missing.push(format!("{} {template}", method.to_uppercase()));
            }
        }
    }
    assert!(missing.is_empty(), "no row for: {}", missing.join(", "));
    // An unknown token is 401 too, and a site that does not exist is 404.
    let unknown = app
        .call("GET", "/v1/sites", Some("arb_nope"), None, &[])
        .await;
    assert_eq!(unknown.status, 401);
    let nowhere = app
        .call("GET", "/v1/sites/nowhere", Some(&app.admin), None, &[])
        .await;
    assert_eq!(nowhere.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_audited_refused_ones_too_and_reads_are_not() {
    let app = App::with_demo_site("audit").await;
    // A refused write (a trader may not write charging), a bad one, and a read.
    let refused = app
        .call(
            "PUT",
            "/v1/sites/np15-hub/charging",
            Some(&app.trader),
            Some(r#"{"readings":[]}"#),
            &[],
        )
        .await;
    assert_eq!(refused.status, 403);
    let invalid = app
        .call(
            "POST",
            "/v1/clock",
            Some(&app.admin),
            Some(r#"{"minutes":0}"#),
            &[],
        )
        .await;
    assert_eq!(invalid.status, 422);
    let unknown = app
        .call(
            "PUT",
            "/v1/sites/np15-hub/charging",
            Some("arb_nope"),
            None,
            &[],
        )
        .await;
    assert_eq!(unknown.status, 401);
    let log = app
        .call("GET", "/v1/audit", Some(&app.admin), None, &[])
        .await
        .json();
    let entries: Vec<String> = log["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            format!(
                "{} {} {} {}",
                e["key_id"].as_str().unwrap_or("-").len(),
                e["method"],
                e["path"],
                e["status"]
            )
        })
        .collect();
    let has = |what: &str| entries.iter().any(|e| e.ends_with(what));
    assert!(
        has(r#""PUT" "/v1/sites/np15-hub/charging" 403"#),
        "{entries:?}"
    );
    assert!(has(r#""POST" "/v1/clock" 422"#), "{entries:?}");
    assert!(has(r#""POST" "/v1/sites" 201"#), "{entries:?}");
    assert!(
        !has(r#""PUT" "/v1/sites/np15-hub/charging" 401"#),
        "{entries:?}"
    );
    assert!(
        !entries.iter().any(|e| e.contains(r#""GET""#)),
        "{entries:?}"
    );
}

/// Whether `path` (a query string aside) is an instance of the OpenAPI path
/// `template`, each `{name}` standing for one segment.
fn matches_template(template: &str, path: &str) -> bool {
    let path = path.split('?').next().unwrap_or_default();
    let (want, got): (Vec<&str>, Vec<&str>) =
        (template.split('/').collect(), path.split('/').collect());
    want.len() == got.len()
        && want
            .iter()
            .zip(&got)
            .all(|(w, g)| (w.starts_with('{') && w.ends_with('}') && !g.is_empty()) || w == g)
}

#[test]
fn a_template_matches_its_instances_only() {
    assert!(matches_template(
        "/v1/sites/{site}/jobs/{job}",
        "/v1/sites/a/jobs/b"
    ));
    assert!(matches_template(
        "/v1/markets/{market}/prices",
        "/v1/markets/m/prices?from=x"
    ));
    assert!(!matches_template("/v1/sites/{site}", "/v1/sites/a/jobs"));
    assert!(!matches_template("/v1/sites/{site}", "/v1/sites/"));
    assert!(!matches_template("/v1/sites", "/v1/keys"));
}
