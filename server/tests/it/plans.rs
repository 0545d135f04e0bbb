//! Plans over HTTP: the published document and its schema.

use crate::App;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_is_published_listed_and_described_by_its_schema() {
    let app = App::with_demo_site("plans").await;
    let planned = app.plan_demo_site().await;
    assert_eq!(planned.header("etag"), Some("\"np15-hub-1\""));
    let document = planned.json();
    assert_eq!(document["version"], 1);
    assert!(
        document["plan"]["intervals"]
            .as_array()
            .is_some_and(|i| !i.is_empty())
    );

    let listed = app
        .call(
            "GET",
            "/v1/sites/np15-hub/plans",
            Some(&app.trader),
            None,
            &[],
        )
        .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let plans: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_value(listed.json()["plans"].clone()).expect("plans");
    assert_eq!(plans.len(), 1);
    assert_eq!(
        plans[0].keys().collect::<Vec<_>>(),
        ["created_at", "solve_seconds", "start", "status", "version"]
    );
    assert_eq!(plans[0]["start"], document["start"]);

    let openapi = app
        .call("GET", "/openapi.json", None, None, &[])
        .await
        .json();
    let latest = &openapi["paths"]["/v1/sites/{site}/plans/latest"]["get"]["responses"]["200"];
    assert_eq!(
        latest["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/PlanDocument"
    );
    let schemas = &openapi["components"]["schemas"];
    for (schema, field) in [
        ("PlanDocument", "basis"),
        ("Plan", "intervals"),
        ("IntervalPlan", "soc_kwh"),
        ("Costs", "demand_charge"),
    ] {
        assert!(
            schemas[schema]["properties"][field].is_object(),
            "{schema}.{field}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_plan_with_an_unreadable_time_is_refused_not_made_up() {
    let app = App::with_demo_site("plans-unreadable").await;
    app.plan_demo_site().await;
    app.sql("UPDATE plans SET created_at = 'yesterday' WHERE version = 1")
        .await;
    let read = app
        .call(
            "GET",
            "/v1/sites/np15-hub/plans/1",
            Some(&app.trader),
            None,
            &[],
        )
        .await;
    assert_eq!(read.status, 500, "{}", read.body);
    assert_eq!(read.json()["code"], "unreadable");
    assert_eq!(read.json()["detail"], "a stored record is unreadable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_latest_plan_answers_304_to_its_own_etag_and_200_to_an_older_one() {
    let app = App::with_demo_site("plans-etag").await;
    let controller = Some(app.controller.as_str());
    let trader = Some(app.trader.as_str());
    let latest = "/v1/sites/np15-hub/plans/latest";
    assert_eq!(app.call("GET", latest, trader, None, &[]).await.status, 404);
    let first = app
        .call("POST", "/v1/sites/np15-hub/plan", controller, None, &[])
        .await;
    assert_eq!(first.status, 201, "{}", first.body);
    let etag = first.header("etag").expect("an etag").to_owned();
    assert_eq!(etag, "\"np15-hub-1\"");
    let same = app
        .call("GET", latest, trader, None, &[("If-None-Match", &etag)])
        .await;
    assert_eq!((same.status, same.body.as_str()), (304, ""));
    assert_eq!(same.header("etag"), Some(etag.as_str()));
    let second = app
        .call("POST", "/v1/sites/np15-hub/plan", controller, None, &[])
        .await;
    assert_eq!(second.header("etag"), Some("\"np15-hub-2\""));
    let newer = app
        .call("GET", latest, trader, None, &[("If-None-Match", &etag)])
        .await;
    assert_eq!(newer.status, 200);
    assert_eq!(newer.header("etag"), Some("\"np15-hub-2\""));
    assert_eq!(newer.json()["version"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sites_next_plan_starts_its_relaxation_from_the_last_ones_basis() {
    let app = App::with_demo_site("plans-basis").await;
    // A job with a minimum power gives the plan binaries, so its relaxation
    // is solved (a plan without binaries is one LP, solved directly).
    let job = serde_json::json!({
        "id": "train-1", "energy_kwh": 100.0,
        "deadline": (chrono::Utc::now() + chrono::TimeDelta::hours(5)).to_rfc3339(),
        "kind": "preemptible", "min_kw": 10.0, "max_kw": 100.0
    })
    .to_string();
    let queued = app
        .call(
            "POST",
            "/v1/sites/np15-hub/jobs",
            Some(&app.controller),
            Some(&job),
            &[],
        )
        .await;
    assert_eq!(queued.status, 201, "{}", queued.body);
    let carried = |metrics: &str| {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix("arbiter_plans_from_carried_basis_total "))
            .map(str::to_owned)
    };
    app.plan_demo_site().await;
    let metrics = app.call("GET", "/metrics", None, None, &[]).await.body;
    assert_eq!(carried(&metrics).as_deref(), Some("0"), "{metrics}");
    app.plan_demo_site().await;
    let metrics = app.call("GET", "/metrics", None, None, &[]).await.body;
    assert_eq!(carried(&metrics).as_deref(), Some("1"), "{metrics}");
}
