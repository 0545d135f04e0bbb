//! The OpenAPI document: every route described, every reference resolved,
//! every described operation routed.

use serde_json::Value;

use crate::Blocking;

#[test]
fn the_openapi_document_describes_every_route() {
    let demo = Blocking::with_demo_site("openapi");
    let s = &demo;
    let answer = s.call("GET", &s.url("/openapi.json"), None, None, &[]);
    assert_eq!(answer.status, 200);
    let document = answer.json();
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let paths = document["paths"].as_object().expect("paths");
    let mut operations = Vec::new();
    for (path, item) in paths {
        for method in item.as_object().expect("operations").keys() {
            operations.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    operations.sort();
    let expected = [
        "DELETE /v1/sites/{site}/jobs/{job}",
        "GET /healthz",
        "GET /metrics",
        "GET /readyz",
        "GET /v1/audit",
        "GET /v1/backtests",
        "GET /v1/backtests/{id}",
        "GET /v1/backtests/{id}/ledger",
        "GET /v1/clock",
        "GET /v1/fleet",
        "GET /v1/markets/{market}/prices",
        "GET /v1/markets/{market}/prices/{day}",
        "GET /v1/sites",
        "GET /v1/sites/{site}",
        "GET /v1/sites/{site}/charging",
        "GET /v1/sites/{site}/jobs",
        "GET /v1/sites/{site}/jobs/{job}",
        "GET /v1/sites/{site}/outturn",
        "GET /v1/sites/{site}/plans",
        "GET /v1/sites/{site}/plans/latest",
        "GET /v1/sites/{site}/plans/stream",
        "GET /v1/sites/{site}/plans/{version}",
        "GET /v1/sites/{site}/telemetry",
        "GET /v1/whoami",
        "PATCH /v1/sites/{site}/jobs/{job}",
        "POST /v1/backtests",
        "POST /v1/clock",
        "POST /v1/sites",
        "POST /v1/sites/{site}/jobs",
        "POST /v1/sites/{site}/plan",
        "POST /v1/sites/{site}/telemetry",
        "PUT /v1/markets/{market}/prices/{day}",
        "PUT /v1/sites/{site}",
        "PUT /v1/sites/{site}/charging",
        "PUT /v1/sites/{site}/charging/forecast",
    ];
    assert_eq!(operations, expected);
    // Every operation has its own id, naming what it does (a generated
    // client's function names).
    let mut ids: Vec<&str> = paths
        .values()
        .flat_map(|item| item.as_object().expect("operations").values())
        .map(|operation| operation["operationId"].as_str().expect("an operationId"))
        .collect();
    ids.sort_unstable();
    let count = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), count, "operationIds repeat: {ids:?}");
    for vague in ["get", "list", "submit", "render"] {
        assert!(
            !ids.contains(&vague),
            "operationId {vague} names no resource"
        );
    }
    // Every reference resolves within the document.
    fn references(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    match (key.as_str(), inner) {
                        ("$ref", Value::String(target)) => found.push(target.clone()),
                        _ => references(inner, found),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| references(item, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    references(&document, &mut found);
    assert!(found.contains(&"#/components/responses/Unauthorized".to_owned()));
    for target in &found {
        let pointer = target.strip_prefix('#').expect("a local reference");
        assert!(document.pointer(pointer).is_some(), "{target} resolves");
    }
    // Every documented operation is routed: none falls through to the
    // router's "no such route".
    for operation in &operations {
        let (method, path) = operation.split_once(' ').expect("method and path");
        let path = path
            .replace("{site}", "np15-hub")
            .replace("{market}", "caiso-np15")
            .replace("{day}", "2024-10-24")
            .replace("{job}", "j1")
            .replace("{version}", "1")
            .replace("{id}", "bt_none");
        if path.ends_with("/stream") {
            continue;
        }
        let got = s.call(
            method,
            &s.url(&path),
            Some(&demo.app.admin),
            Some("{}"),
            &[],
        );
        assert!(
            !got.body.contains("no such route"),
            "{operation}: {}",
            got.body
        );
    }
    let unrouted = s.call(
        "GET",
        &s.url("/v1/nothing"),
        Some(&demo.app.admin),
        None,
        &[],
    );
    assert!(unrouted.body.contains("no such route"), "{}", unrouted.body);
}
