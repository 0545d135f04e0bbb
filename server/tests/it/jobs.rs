//! Jobs over HTTP.

use chrono::{TimeDelta, Utc};

use crate::App;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_answers_typed_and_an_unreadable_stored_job_fails_loudly() {
    let app = App::with_demo_site("jobs").await;
    let token = Some(app.controller.as_str());
    let job = serde_json::json!({
        "id": "train-1", "energy_kwh": 100.0, "deadline": (Utc::now() + TimeDelta::hours(5)).to_rfc3339(),
        "kind": "preemptible", "min_kw": 10.0, "max_kw": 100.0
    })
    .to_string();
    let queued = app
        .call("POST", "/v1/sites/np15-hub/jobs", token, Some(&job), &[])
        .await;
    assert_eq!(queued.status, 201, "{}", queued.body);
    let keys = queued.keys();
    assert_eq!(
        keys,
        [
            "delivered_kwh",
            "id",
            "spec",
            "status",
            "submitted_at",
            "updated_at"
        ]
    );
    assert_eq!(queued.json()["spec"]["max_kw"], 100.0);

    // A job whose stored spec cannot be read is a 500 with a generic message.
    app.sql("UPDATE jobs SET spec = 'not json' WHERE id = 'train-1'")
        .await;
    let read = app
        .call("GET", "/v1/sites/np15-hub/jobs/train-1", token, None, &[])
        .await;
    assert_eq!(read.status, 500, "{}", read.body);
    assert_eq!(read.json()["detail"], "a stored job is unreadable");
    assert_eq!(read.json()["code"], "unreadable");
    let list = app
        .call("GET", "/v1/sites/np15-hub/jobs", token, None, &[])
        .await;
    assert_eq!(list.status, 500, "{}", list.body);
    // Nor does a plan leave the job out unseen.
    let plan = app
        .call("POST", "/v1/sites/np15-hub/plan", token, None, &[])
        .await;
    assert_eq!(plan.status, 500, "{}", plan.body);
    assert_eq!(plan.json()["code"], "unreadable");

    let document = app
        .call("GET", "/openapi.json", None, None, &[])
        .await
        .json();
    let listed = &document["paths"]["/v1/sites/{site}/jobs"]["get"]["responses"]["200"];
    assert_eq!(
        listed["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/JobList"
    );
}
