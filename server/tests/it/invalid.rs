//! Invalid payloads are refused naming the field, and change nothing.

use chrono::Utc;

use crate::{Answer, Blocking, days_around_now, site_toml};

#[test]
fn invalid_payloads_are_refused_naming_the_field_and_change_nothing() {
    let demo = Blocking::with_demo_site("invalid");
    let s = &demo;
    let check = |answer: Answer, status: u16, detail: &str| {
        assert_eq!(answer.status, status, "{}", answer.body);
        assert_eq!(
            answer.header("content-type"),
            Some("application/problem+json")
        );
        let body = answer.json();
        assert_eq!(body["status"], status);
        assert!(
            body["detail"].as_str().is_some_and(|d| d.contains(detail)),
            "{} does not contain {detail}",
            body["detail"]
        );
    };
    let bad_site = site_toml().replace("pue = 1.15", "pue = 0.5");
    check(
        s.call(
            "PUT",
            &s.url("/v1/sites/np15-hub"),
            Some(&demo.app.admin),
            Some(&bad_site),
            &[("Content-Type", "application/toml")],
        ),
        422,
        "compute.pue (0.5) must be ≥ 1",
    );
    check(
        s.call(
            "PUT",
            &s.url("/v1/sites/np15-hub"),
            Some(&demo.app.admin),
            Some("{\"id\": 3}"),
            &[],
        ),
        422,
        "id: invalid type: integer `3`, expected a string",
    );
    check(
        s.call(
            "POST",
            &s.url("/v1/sites"),
            Some(&demo.app.admin),
            Some("{not json"),
            &[],
        ),
        400,
        "the body is not JSON",
    );
    check(
        s.call(
            "POST",
            &s.url("/v1/sites"),
            Some(&demo.app.admin),
            Some(&site_toml()),
            &[("Content-Type", "application/toml")],
        ),
        409,
        "site np15-hub exists",
    );
    let day = days_around_now()[0];
    check(
        s.call(
            "PUT",
            &s.url(&format!("/v1/markets/caiso-np15/prices/{day}")),
            Some(&demo.app.trader),
            Some(
                r#"{"zone":"America/Los_Angeles","currency":"USD","interval_minutes":60,"prices_per_mwh":[1,2]}"#,
            ),
            &[],
        ),
        422,
        "prices_per_mwh: has 2 values",
    );
    check(
        s.call(
            "PUT",
            &s.url("/v1/markets/caiso-np15/prices/2024-13-01"),
            Some(&demo.app.trader),
            Some("{}"),
            &[],
        ),
        422,
        "day: (\"2024-13-01\") must be a date, YYYY-MM-DD",
    );
    check(
        s.call(
            "PUT",
            &s.url("/v1/sites/np15-hub/charging"),
            Some(&demo.app.controller),
            Some(r#"{"readings":[{"timestamp_utc":"2024-01-01T00:00:00Z","kw":-5}]}"#),
            &[],
        ),
        422,
        "readings[0].kw: (-5) must be a number ≥ 0",
    );
    check(
        s.call(
            "PUT",
            &s.url("/v1/sites/np15-hub/charging"),
            Some(&demo.app.controller),
            Some(r#"{"readings":[{"timestamp_utc":"2024-01-01T00:07:00Z","kw":5}]}"#),
            &[],
        ),
        422,
        "must start one of the site's 15-minute intervals",
    );
    check(
        s.call(
            "POST",
            &s.url("/v1/sites/np15-hub/telemetry"),
            Some(&demo.app.controller),
            Some(
                &serde_json::json!({ "at": Utc::now().to_rfc3339(), "soc_kwh": 9000.0 })
                    .to_string(),
            ),
            &[],
        ),
        422,
        "soc_kwh: (9000) must be between 0 and the battery's soc_max_kwh (7800)",
    );
    check(
        s.call(
            "POST",
            &s.url("/v1/sites/np15-hub/plan"),
            Some(&demo.app.controller),
            Some(r#"{"telemetry":{"soc":1}}"#),
            &[],
        ),
        422,
        "unknown field `soc`",
    );
    // Nothing changed: the site is still revision 1, the prices revision 1,
    // no charging, no plan.
    let site = s
        .call(
            "GET",
            &s.url("/v1/sites/np15-hub"),
            Some(&demo.app.admin),
            None,
            &[],
        )
        .json();
    assert_eq!(site["revision"], 1);
    assert_eq!(site["config"]["compute"]["pue"], 1.15);
    let revisions = s
        .call(
            "GET",
            &s.url(&format!("/v1/markets/caiso-np15/prices/{day}")),
            Some(&demo.app.trader),
            None,
            &[],
        )
        .json();
    assert_eq!(revisions["revisions"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        s.call(
            "GET",
            &s.url("/v1/sites/np15-hub/plans/latest"),
            Some(&demo.app.admin),
            None,
            &[]
        )
        .status,
        404
    );
}
