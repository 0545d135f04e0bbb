//! Every error is problem details with a stable `code`; failures inside the
//! service are answered generically, their detail only in the log.

use crate::App;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_error_carries_its_code() {
    let app = App::with_demo_site("errors").await;
    let admin = Some(app.admin.as_str());
    let cases = [
        ("GET", "/v1/sites", None, None, 401, "unauthenticated"),
        (
            "GET",
            "/v1/audit",
            Some(app.trader.as_str()),
            None,
            403,
            "forbidden",
        ),
        ("GET", "/v1/sites/nowhere", admin, None, 404, "not_found"),
        (
            "POST",
            "/v1/sites/np15-hub/jobs",
            Some(app.controller.as_str()),
            Some("{"),
            400,
            "malformed",
        ),
        (
            "POST",
            "/v1/clock",
            admin,
            Some(r#"{"minutes":0}"#),
            422,
            "invalid",
        ),
        (
            "POST",
            "/v1/clock",
            admin,
            Some(r#"{"minutes":1}"#),
            409,
            "conflict",
        ),
    ];
    for (method, path, token, body, status, code) in cases {
        let answer = app.call(method, path, token, body, &[]).await;
        assert_eq!(answer.status, status, "{method} {path}: {}", answer.body);
        assert_eq!(
            answer.header("content-type"),
            Some("application/problem+json")
        );
        let problem = answer.json();
        assert_eq!(
            (problem["status"].as_u64(), problem["code"].as_str()),
            (Some(u64::from(status)), Some(code)),
            "{problem}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_failure_is_answered_without_its_text() {
    let app = App::with_demo_site("errors-store").await;
    app.sql("DROP TABLE jobs").await;
    let answer = app
        .call(
            "GET",
            "/v1/sites/np15-hub/jobs",
            Some(&app.controller),
            None,
            &[],
        )
        .await;
    assert_eq!(answer.status, 500, "{}", answer.body);
    let problem = answer.json();
    assert_eq!(problem["code"], "store");
    assert_eq!(
        problem["detail"],
        "the database failed; nothing was changed"
    );
    assert!(!answer.body.contains("no such table"), "{}", answer.body);
}
