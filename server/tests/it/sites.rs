//! Sites over HTTP.

use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt;

use crate::{App, site_toml};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_of_one_site_answer_one_201_and_409s() {
    let app = App::empty("sites-race").await;
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let (router, admin, toml) = (app.router.clone(), app.admin.clone(), site_toml());
            tokio::spawn(async move {
                let request = Request::post("/v1/sites")
                    .header("Authorization", format!("Bearer {admin}"))
                    .header("Content-Type", "application/toml")
                    .body(Body::from(toml))
                    .expect("request");
                router
                    .oneshot(request)
                    .await
                    .expect("an answer")
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("a task"));
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409]);
    let site = app
        .call("GET", "/v1/sites/np15-hub", Some(&app.admin), None, &[])
        .await;
    assert_eq!(site.json()["revision"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_answers_typed_and_its_request_body_has_a_schema() {
    let app = App::empty("sites-typed").await;
    let created = app
        .call(
            "POST",
            "/v1/sites",
            Some(&app.admin),
            Some(&site_toml()),
            &[("Content-Type", "application/toml")],
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let keys = created.keys();
    assert_eq!(keys, ["config", "id", "revision", "updated_at"]);
    assert_eq!(created.json()["config"]["grid"]["import_limit_kw"], 4000.0);

    let document = app
        .call("GET", "/openapi.json", None, None, &[])
        .await
        .json();
    let request =
        &document["paths"]["/v1/sites"]["post"]["requestBody"]["content"]["application/json"];
    assert_eq!(request["schema"]["$ref"], "#/components/schemas/Site");
    let site = &document["components"]["schemas"]["Site"];
    for field in ["id", "zone", "grid", "battery", "market", "planning"] {
        assert!(site["properties"][field].is_object(), "Site.{field}");
    }
}
