//! Prices over HTTP: typed answers, unchanged for clients.

use crate::{App, days_around_now, price_day};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_answers_the_revision_with_its_keys_in_their_order() {
    let app = App::empty("prices-typed").await;
    let day = days_around_now()[0];
    let path = format!("/v1/markets/caiso-np15/prices/{day}");
    let put = app
        .call(
            "PUT",
            &path,
            Some(&app.trader),
            Some(&price_day(day, 40.0)),
            &[],
        )
        .await;
    assert_eq!(put.status, 201, "{}", put.body);
    let keys = put.keys();
    assert_eq!(
        keys,
        [
            "changed",
            "currency",
            "day",
            "interval_minutes",
            "market",
            "prices_per_mwh",
            "revision",
            "start",
            "uploaded_at",
            "uploaded_by",
        ]
    );
    assert!(put.body.starts_with(&format!(r#"{{"changed":true,"currency":"USD","day":"{day}","interval_minutes":60,"market":"caiso-np15","prices_per_mwh":[50.0,"#)), "{}", put.body);
    // Instants as they always were: the day's start to the second, the
    // upload's stamp to the millisecond.
    let answer = put.json();
    let start = answer["start"].as_str().expect("a start");
    assert!(start.len() == 20 && start.ends_with(":00Z"), "{start}");
    let uploaded = answer["uploaded_at"].as_str().expect("a stamp");
    assert!(
        uploaded.len() == 24 && uploaded.as_bytes()[19] == b'.' && uploaded.ends_with('Z'),
        "{uploaded}"
    );
    let again = app
        .call(
            "PUT",
            &path,
            Some(&app.trader),
            Some(&price_day(day, 40.0)),
            &[],
        )
        .await;
    assert_eq!(
        (again.status, again.json()["changed"].clone()),
        (200, serde_json::json!(false))
    );
    let revisions = app.call("GET", &path, Some(&app.analyst), None, &[]).await;
    assert_eq!(revisions.json()["revisions"][0]["revision"], 1);

    // The document names the answers' types.
    let document = app
        .call("GET", "/openapi.json", None, None, &[])
        .await
        .json();
    let put_ok = &document["paths"]["/v1/markets/{market}/prices/{day}"]["put"]["responses"]["201"];
    assert_eq!(
        put_ok["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Uploaded"
    );
    assert!(
        document["components"]["schemas"]["PriceRevision"]["properties"]["prices_per_mwh"]
            .is_object()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_prices_that_cannot_be_read_fail_instead_of_reading_empty() {
    let app = App::empty("prices-unreadable").await;
    let day = days_around_now()[0];
    let path = format!("/v1/markets/caiso-np15/prices/{day}");
    let put = app
        .call(
            "PUT",
            &path,
            Some(&app.trader),
            Some(&price_day(day, 40.0)),
            &[],
        )
        .await;
    assert_eq!(put.status, 201, "{}", put.body);
    app.sql("UPDATE prices SET prices = 'not json'").await;
    let read = app.call("GET", &path, Some(&app.analyst), None, &[]).await;
    assert_eq!(read.status, 500, "{}", read.body);
    assert_eq!(read.json()["code"], "unreadable");
    assert_eq!(read.json()["detail"], "a stored record is unreadable");
    assert!(!read.body.contains("not json"), "{}", read.body);
}
