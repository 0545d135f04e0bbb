//! One test per validation rule, asserting the exact message.

use arbiter_optimizer::{Problem, RawProblem};
use serde_json::{Value, json};

/// A valid problem that uses every optional part (the contract's example).
fn full() -> Value {
    json!({
        "site_id": "fremont-01",
        "start": "2025-06-01T00:00:00Z",
        "interval_minutes": 15,
        "prices_per_mwh": [42.1, 40.3],
        "tariff": { "import_adder_per_mwh": 12.0, "export_adder_per_mwh": 3.0,
                    "demand_charge_per_kw": 0.0, "peak_so_far_kw": 0.0 },
        "grid": { "import_limit_kw": 3000.0, "export_limit_kw": 1000.0 },
        "battery": { "soc_min_kwh": 390.0, "soc_max_kwh": 7800.0, "initial_soc_kwh": 3900.0,
                     "max_charge_kw": 3800.0, "max_discharge_kw": 3800.0,
                     "charge_efficiency": 0.96, "discharge_efficiency": 0.96,
                     "degradation_cost_per_mwh": 15.0, "terminal_value_per_mwh": 0.0 },
        "ev_demand_kw": [850.0, 1200.0],
        "base_load_kw": [40.0, 40.0],
        "unserved_penalty_per_mwh": 10000.0,
        "soc_targets": [ { "at": "2025-06-01T00:30:00Z", "min_kwh": 4000.0 } ],
        "soc_target_penalty_per_mwh": 1000.0,
        "stability": { "penalty_per_mwh": 2.0, "reference_kw": [null, -500.0] },
        "compute": { "max_it_kw": 1500.0, "pue": 1.15 },
        "jobs": [
            { "id": "train-17", "kind": "preemptible", "energy_kwh": 9000.0,
              "min_kw": 300.0, "max_kw": 1200.0,
              "release": "2025-06-01T00:00:00Z", "deadline": "2025-06-02T12:00:00Z",
              "value_per_mwh": 250.0, "shortfall_penalty_per_mwh": 0.0,
              "start_cost": 5.0, "running": false },
            { "id": "eval-3", "kind": "block", "power_kw": 400.0, "duration_minutes": 120,
              "release": "2025-06-01T06:00:00Z", "deadline": "2025-06-01T18:00:00Z",
              "value_per_mwh": 300.0, "shortfall_penalty_per_mwh": 500.0 }
        ]
    })
}

/// Every issue message for a problem document.
fn messages(problem: &Value) -> Vec<String> {
    match Problem::from_json(&problem.to_string()) {
        Ok(_) => Vec::new(),
        Err(errors) => errors
            .issues
            .into_iter()
            .map(|issue| issue.message)
            .collect(),
    }
}

/// Declares a test: apply the edit to the full problem, expect these messages.
macro_rules! rule {
    ($name:ident, |$p:ident| $edit:expr, [$($message:expr),+ $(,)?]) => {
        #[test]
        fn $name() {
            let mut $p = full();
            $edit;
            assert_eq!(messages(&$p), vec![$($message.to_string()),+]);
        }
    };
}

#[test]
fn the_full_example_is_valid() {
    assert_eq!(messages(&full()), Vec::<String>::new());
}

#[test]
fn optional_parts_may_be_left_out() {
    let p = json!({
        "site_id": "s", "start": "2025-06-01T00:00:00Z", "interval_minutes": 60,
        "prices_per_mwh": [1.0], "grid": { "import_limit_kw": 1.0, "export_limit_kw": 0.0 },
        "ev_demand_kw": [0.0]
    });
    assert_eq!(messages(&p), Vec::<String>::new());
}

#[test]
fn every_issue_is_reported_at_once() {
    let mut p = full();
    p["interval_minutes"] = json!(7);
    p["grid"]["import_limit_kw"] = json!(0.0);
    p["jobs"][0]["min_kw"] = json!(1300.0);
    assert_eq!(
        messages(&p),
        [
            "interval_minutes (7) must be one of 5, 10, 15, 20, 30, 60",
            "grid.import_limit_kw (0) must be > 0",
            "jobs[0].min_kw (1300) exceeds jobs[0].max_kw (1200)",
        ]
    );
}

#[test]
fn non_finite_numbers_are_rejected() {
    // JSON cannot carry NaN; a Rust caller building the raw problem can.
    let mut raw: RawProblem = serde_json::from_value(full()).expect("valid");
    raw.prices_per_mwh[1] = f64::NAN;
    raw.grid.export_limit_kw = f64::INFINITY;
    let messages: Vec<String> = raw
        .validate()
        .expect_err("invalid")
        .issues
        .into_iter()
        .map(|i| i.message)
        .collect();
    assert_eq!(
        messages,
        [
            "prices_per_mwh[1] (NaN) must be a finite number",
            "grid.export_limit_kw (inf) must be a finite number"
        ]
    );
}

rule!(
    prices_must_not_be_empty,
    |p| {
        p["prices_per_mwh"] = json!([]);
        p["ev_demand_kw"] = json!([]);
        p["base_load_kw"] = json!([]);
        p["stability"]["reference_kw"] = json!([]);
        p["soc_targets"] = json!([]);
    },
    ["prices_per_mwh is empty: at least one interval is needed"]
);

rule!(
    at_most_2016_intervals,
    |p| {
        p["prices_per_mwh"] = json!(vec![1.0; 2017]);
        p["ev_demand_kw"] = json!(vec![0.0; 2017]);
        p["base_load_kw"] = json!(vec![0.0; 2017]);
        p["stability"]["reference_kw"] = json!(vec![Value::Null; 2017]);
    },
    ["prices_per_mwh has 2017 values, at most 2016 are allowed"]
);

rule!(
    interval_minutes_from_the_list,
    |p| p["interval_minutes"] = json!(45),
    ["interval_minutes (45) must be one of 5, 10, 15, 20, 30, 60"]
);

rule!(
    start_is_rfc3339,
    |p| p["start"] = json!("2025-06-01 00:00"),
    ["start (\"2025-06-01 00:00\") is not an RFC 3339 time such as 2025-06-01T00:00:00Z"]
);

rule!(
    start_on_an_interval_multiple,
    |p| p["start"] = json!("2025-06-01T00:05:00Z"),
    ["start (2025-06-01T00:05:00Z) does not lie on a multiple of 15 minutes in UTC"]
);

rule!(
    ev_demand_one_per_price,
    |p| p["ev_demand_kw"] = json!([1.0]),
    ["ev_demand_kw has 1 values, expected 2 (one per price)"]
);

rule!(
    ev_demand_not_negative,
    |p| p["ev_demand_kw"] = json!([1.0, -5.0]),
    ["ev_demand_kw[1] (-5) must be ≥ 0"]
);

rule!(
    base_load_one_per_price,
    |p| p["base_load_kw"] = json!([1.0, 2.0, 3.0]),
    ["base_load_kw has 3 values, expected 2 (one per price)"]
);

rule!(
    base_load_not_negative,
    |p| p["base_load_kw"] = json!([-1.0, 2.0]),
    ["base_load_kw[0] (-1) must be ≥ 0"]
);

rule!(
    adder_series_one_per_price,
    |p| p["tariff"]["import_adder_per_mwh"] = json!([1.0]),
    ["tariff.import_adder_per_mwh has 1 values, expected 2 (one per price)"]
);

rule!(
    demand_charge_not_negative,
    |p| p["tariff"]["demand_charge_per_kw"] = json!(-1.0),
    ["tariff.demand_charge_per_kw (-1) must be ≥ 0"]
);

rule!(
    peak_so_far_not_negative,
    |p| p["tariff"]["peak_so_far_kw"] = json!(-3.0),
    ["tariff.peak_so_far_kw (-3) must be ≥ 0"]
);

rule!(
    import_limit_positive,
    |p| p["grid"]["import_limit_kw"] = json!(0.0),
    ["grid.import_limit_kw (0) must be > 0"]
);

rule!(
    export_limit_not_negative,
    |p| p["grid"]["export_limit_kw"] = json!(-1.0),
    ["grid.export_limit_kw (-1) must be ≥ 0"]
);

rule!(
    soc_min_not_negative,
    |p| p["battery"]["soc_min_kwh"] = json!(-1.0),
    ["battery.soc_min_kwh (-1) must be ≥ 0"]
);

rule!(
    soc_min_at_most_soc_max,
    |p| {
        p["battery"]["soc_min_kwh"] = json!(8000.0);
        p["battery"]["initial_soc_kwh"] = json!(8000.0);
    },
    [
        "battery.initial_soc_kwh (8000) exceeds battery.soc_max_kwh (7800)",
        "battery.soc_min_kwh (8000) exceeds battery.soc_max_kwh (7800)"
    ]
);

rule!(
    initial_soc_at_least_soc_min,
    |p| p["battery"]["initial_soc_kwh"] = json!(100.0),
    ["battery.initial_soc_kwh (100) is below battery.soc_min_kwh (390)"]
);

rule!(
    initial_soc_at_most_soc_max,
    |p| p["battery"]["initial_soc_kwh"] = json!(9000.0),
    ["battery.initial_soc_kwh (9000) exceeds battery.soc_max_kwh (7800)"]
);

rule!(
    charge_power_not_negative,
    |p| p["battery"]["max_charge_kw"] = json!(-1.0),
    ["battery.max_charge_kw (-1) must be ≥ 0"]
);

rule!(
    discharge_power_not_negative,
    |p| p["battery"]["max_discharge_kw"] = json!(-1.0),
    ["battery.max_discharge_kw (-1) must be ≥ 0"]
);

rule!(
    charge_efficiency_above_zero,
    |p| p["battery"]["charge_efficiency"] = json!(0.0),
    ["battery.charge_efficiency (0) must be in (0, 1]"]
);

rule!(
    discharge_efficiency_at_most_one,
    |p| p["battery"]["discharge_efficiency"] = json!(1.2),
    ["battery.discharge_efficiency (1.2) must be in (0, 1]"]
);

rule!(
    degradation_not_negative,
    |p| p["battery"]["degradation_cost_per_mwh"] = json!(-2.0),
    ["battery.degradation_cost_per_mwh (-2) must be ≥ 0"]
);

rule!(
    unserved_penalty_positive,
    |p| p["unserved_penalty_per_mwh"] = json!(0.0),
    ["unserved_penalty_per_mwh (0) must be > 0"]
);

rule!(
    soc_targets_need_a_battery,
    |p| {
        p.as_object_mut().expect("object").remove("battery");
        p.as_object_mut().expect("object").remove("stability");
    },
    ["soc_targets needs a battery"]
);

rule!(
    soc_target_at_a_boundary,
    |p| p["soc_targets"][0]["at"] = json!("2025-06-01T00:20:00Z"),
    ["soc_targets[0].at (2025-06-01T00:20:00Z) is not an interval boundary"]
);

rule!(
    soc_target_after_start,
    |p| p["soc_targets"][0]["at"] = json!("2025-06-01T00:00:00Z"),
    [
        "soc_targets[0].at (2025-06-01T00:00:00Z) must lie after start and at most at the end of the horizon"
    ]
);

rule!(
    soc_target_within_the_horizon,
    |p| p["soc_targets"][0]["at"] = json!("2025-06-01T00:45:00Z"),
    [
        "soc_targets[0].at (2025-06-01T00:45:00Z) must lie after start and at most at the end of the horizon"
    ]
);

rule!(
    soc_target_at_is_a_time,
    |p| p["soc_targets"][0]["at"] = json!("noon"),
    ["soc_targets[0].at (\"noon\") is not an RFC 3339 time such as 2025-06-01T00:00:00Z"]
);

rule!(
    soc_target_at_most_soc_max,
    |p| p["soc_targets"][0]["min_kwh"] = json!(8000.0),
    ["soc_targets[0].min_kwh (8000) exceeds battery.soc_max_kwh (7800)"]
);

rule!(
    soc_target_penalty_positive,
    |p| p["soc_target_penalty_per_mwh"] = json!(0.0),
    ["soc_target_penalty_per_mwh (0) must be > 0"]
);

rule!(
    stability_needs_a_battery,
    |p| {
        p.as_object_mut().expect("object").remove("battery");
        p.as_object_mut().expect("object").remove("soc_targets");
    },
    ["stability needs a battery"]
);

rule!(
    stability_reference_one_per_price,
    |p| p["stability"]["reference_kw"] = json!([1.0]),
    ["stability.reference_kw has 1 values, expected 2 (one per price)"]
);

rule!(
    stability_penalty_not_negative,
    |p| p["stability"]["penalty_per_mwh"] = json!(-1.0),
    ["stability.penalty_per_mwh (-1) must be ≥ 0"]
);

rule!(
    compute_required_with_jobs,
    |p| {
        p.as_object_mut().expect("object").remove("compute");
    },
    ["compute is required when jobs is not empty"]
);

rule!(
    compute_capacity_not_negative,
    |p| p["compute"]["max_it_kw"] = json!(-1.0),
    ["compute.max_it_kw (-1) must be ≥ 0"]
);

rule!(
    pue_at_least_one,
    |p| p["compute"]["pue"] = json!(0.9),
    ["compute.pue (0.9) must be ≥ 1"]
);

rule!(
    job_ids_not_empty,
    |p| p["jobs"][1]["id"] = json!(""),
    ["jobs[1].id is empty"]
);

rule!(
    job_ids_unique,
    |p| p["jobs"][1]["id"] = json!("train-17"),
    ["jobs[1].id (\"train-17\") is not unique"]
);

rule!(
    job_release_before_deadline,
    |p| p["jobs"][0]["deadline"] = json!("2025-06-01T00:00:00Z"),
    [
        "jobs[0].release (2025-06-01T00:00:00Z) must be before jobs[0].deadline (2025-06-01T00:00:00Z)"
    ]
);

rule!(
    job_release_is_a_time,
    |p| p["jobs"][1]["release"] = json!("tomorrow"),
    ["jobs[1].release (\"tomorrow\") is not an RFC 3339 time such as 2025-06-01T00:00:00Z"]
);

rule!(
    job_energy_positive,
    |p| p["jobs"][0]["energy_kwh"] = json!(0.0),
    ["jobs[0].energy_kwh (0) must be > 0"]
);

rule!(
    job_min_power_positive,
    |p| p["jobs"][0]["min_kw"] = json!(0.0),
    ["jobs[0].min_kw (0) must be > 0"]
);

rule!(
    job_min_power_at_most_max,
    |p| p["jobs"][0]["min_kw"] = json!(1300.0),
    ["jobs[0].min_kw (1300) exceeds jobs[0].max_kw (1200)"]
);

rule!(
    job_start_cost_not_negative,
    |p| p["jobs"][0]["start_cost"] = json!(-5.0),
    ["jobs[0].start_cost (-5) must be ≥ 0"]
);

rule!(
    job_value_not_negative,
    |p| p["jobs"][1]["value_per_mwh"] = json!(-1.0),
    ["jobs[1].value_per_mwh (-1) must be ≥ 0"]
);

rule!(
    job_shortfall_penalty_not_negative,
    |p| p["jobs"][1]["shortfall_penalty_per_mwh"] = json!(-1.0),
    ["jobs[1].shortfall_penalty_per_mwh (-1) must be ≥ 0"]
);

rule!(
    block_power_positive,
    |p| p["jobs"][1]["power_kw"] = json!(0.0),
    ["jobs[1].power_kw (0) must be > 0"]
);

rule!(
    block_duration_positive,
    |p| p["jobs"][1]["duration_minutes"] = json!(0),
    ["jobs[1].duration_minutes (0) must be > 0"]
);

rule!(
    unknown_fields_are_errors,
    |p| p["battery"]["soc_max_kw"] = json!(1.0),
    [
        "battery.soc_max_kw: unknown field `soc_max_kw`, expected one of `soc_min_kwh`, `soc_max_kwh`, `initial_soc_kwh`, `max_charge_kw`, `max_discharge_kw`, `charge_efficiency`, `discharge_efficiency`, `degradation_cost_per_mwh`, `terminal_value_per_mwh` at line 1 column 210"
    ]
);

rule!(
    unknown_job_kinds_are_errors,
    |p| p["jobs"][0]["kind"] = json!("batch"),
    [
        "jobs[0].kind: unknown variant `batch`, expected `preemptible` or `block` at line 1 column 515"
    ]
);

rule!(
    missing_fields_are_errors,
    |p| {
        p.as_object_mut().expect("object").remove("grid");
    },
    ["not a valid problem document: missing field `grid` at line 1 column 1206"]
);
