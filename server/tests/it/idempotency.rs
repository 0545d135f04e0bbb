//! Idempotency keys: one plan for concurrent requests with one key, and
//! its answer replayed.

use crate::{Answer, Blocking};

#[test]
fn concurrent_requests_with_one_idempotency_key_plan_once() {
    let demo = Blocking::with_demo_site("race");
    let url = demo.url("/v1/sites/np15-hub/plan");
    let answers: Vec<Answer> = std::thread::scope(|scope| {
        let requests: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    demo.call(
                        "POST",
                        &url,
                        Some(&demo.app.controller),
                        None,
                        &[("Idempotency-Key", "hour-1")],
                    )
                })
            })
            .collect();
        requests
            .into_iter()
            .map(|request| request.join().expect("a request"))
            .collect()
    });
    for answer in &answers {
        assert!(
            [201, 409].contains(&answer.status),
            "{}: {}",
            answer.status,
            answer.body
        );
    }
    let planned: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.status == 201 && a.header("idempotent-replay").is_none())
        .collect();
    assert_eq!(planned.len(), 1, "exactly one request plans");
    let plans = demo
        .call(
            "GET",
            &demo.url("/v1/sites/np15-hub/plans"),
            Some(&demo.app.trader),
            None,
            &[],
        )
        .json();
    assert_eq!(plans["plans"].as_array().map(Vec::len), Some(1), "{plans}");
    let published = planned[0].json();
    assert_eq!(plans["plans"][0]["start"], published["start"]);
    assert_eq!(
        plans["plans"][0]["solve_seconds"],
        published["plan"]["solve_seconds"]
    );
    let replay = demo.call(
        "POST",
        &url,
        Some(&demo.app.controller),
        None,
        &[("Idempotency-Key", "hour-1")],
    );
    assert_eq!(replay.status, 201);
    assert_eq!(replay.header("idempotent-replay"), Some("true"));
    assert_eq!(replay.body, planned[0].body);
}
