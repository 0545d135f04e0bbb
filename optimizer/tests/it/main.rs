//! Tests of the optimizer through its public API: the contract's examples,
//! one hand-computed case per rule of the formulation, every validation rule,
//! and random problems checked by an independent plan checker.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod checker;
mod examples;
mod formulation;
mod properties;
mod validation;

use std::path::PathBuf;

use arbiter_optimizer::{Plan, RawProblem, SolveOptions, solve};

/// The text of a problem in `fixtures/problems/`.
pub fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/problems")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Solves a problem with `options` and asserts that the independent checker
/// finds no broken rule and the same objective.
pub fn solve_checked_with(problem: &serde_json::Value, options: &SolveOptions) -> Plan {
    let raw: RawProblem = serde_json::from_value(problem.clone()).expect("a well-formed problem");
    let validated = raw.validate().unwrap_or_else(|e| panic!("{e}"));
    let plan = solve(&validated, options);
    let report = checker::check(&raw, &plan);
    assert!(
        report.violations.is_empty(),
        "plan breaks rules: {:#?}",
        report.violations
    );
    // The plan as it leaves the process keeps every rule too.
    let published = plan.published(&validated);
    let report = checker::check_with(&raw, &published, checker::PUBLISHED);
    assert!(
        report.violations.is_empty(),
        "published plan breaks rules: {:#?}",
        report.violations
    );
    plan
}

/// [`solve_checked_with`] at the default options.
pub fn solve_checked(problem: &serde_json::Value) -> Plan {
    solve_checked_with(problem, &SolveOptions::default())
}

/// Asserts `actual` is within 1e-6 of `expected`.
#[track_caller]
pub fn assert_near(actual: f64, expected: f64) {
    assert!(
        (actual - expected).abs() < 1e-6,
        "expected {expected}, got {actual}"
    );
}
