//! Sites over HTTP.

use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt;

use crate::{App, site_toml};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_of_one_site_answer_one_201_and_409s() {
    let app = App::empty("sites-race");
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
