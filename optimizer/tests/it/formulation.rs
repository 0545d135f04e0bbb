//! One small hand-computed case per rule of the formulation. Each comment says
//! what the optimum is and what it would become without the rule, so each
//! test fails if its rule is dropped from the model.

use serde_json::{Value, json};

use arbiter_optimizer::{Formulation, SolveOptions, Status};

use crate::{assert_near, solve_checked, solve_checked_with};

/// A site with hourly intervals from 2025-06-01T00:00Z, no load, import limit
/// 1000 kW, no export, no battery.
fn site(prices: &[f64]) -> Value {
    json!({
        "site_id": "test",
        "start": "2025-06-01T00:00:00Z",
        "interval_minutes": 60,
        "prices_per_mwh": prices,
        "grid": { "import_limit_kw": 1000.0, "export_limit_kw": 0.0 },
        "ev_demand_kw": vec![0.0; prices.len()],
    })
}

fn battery(
    soc_min: f64,
    soc_max: f64,
    initial: f64,
    power: f64,
    charge_eff: f64,
    discharge_eff: f64,
) -> Value {
    json!({
        "soc_min_kwh": soc_min, "soc_max_kwh": soc_max, "initial_soc_kwh": initial,
        "max_charge_kw": power, "max_discharge_kw": power,
        "charge_efficiency": charge_eff, "discharge_efficiency": discharge_eff,
    })
}

fn preemptible(
    id: &str,
    energy: f64,
    min: f64,
    max: f64,
    release: &str,
    deadline: &str,
    value: f64,
) -> Value {
    json!({
        "id": id, "kind": "preemptible", "energy_kwh": energy, "min_kw": min, "max_kw": max,
        "release": release, "deadline": deadline, "value_per_mwh": value,
    })
}

fn block(id: &str, power: f64, minutes: f64, value: f64) -> Value {
    json!({
        "id": id, "kind": "block", "power_kw": power, "duration_minutes": minutes,
        "release": "2025-06-01T00:00:00Z", "deadline": "2025-06-02T00:00:00Z", "value_per_mwh": value,
    })
}

fn with_compute(mut problem: Value, max_it: f64, jobs: Vec<Value>) -> Value {
    problem["compute"] = json!({ "max_it_kw": max_it, "pue": 1.0 });
    problem["jobs"] = Value::Array(jobs);
    problem
}

#[test]
fn no_simultaneous_charge_and_discharge_at_negative_prices() {
    // Paid 100/MWh to import, but only 10 kWh fit: charging 10/0.9 = 11.11 kW
    // earns 1.1111. Charging and discharging at once would burn energy in the
    // round trip and import the full 1000 kW (earning 100).
    let mut p = site(&[-100.0]);
    p["battery"] = battery(0.0, 10.0, 0.0, 5000.0, 0.9, 0.9);
    let plan = solve_checked(&p);
    assert_near(plan.objective, -100.0 * (10.0 / 0.9) / 1000.0);
    assert_near(plan.intervals[0].discharge_kw, 0.0);
}

#[test]
fn no_simultaneous_import_and_export() {
    // Exporting pays 60, importing costs 50 (a negative export adder). The
    // battery holds 50 kWh and can export 50 kW: revenue 3. Importing 50 kW to
    // export 100 would add 0.5.
    let mut p = site(&[50.0]);
    p["grid"]["export_limit_kw"] = json!(100.0);
    p["tariff"] = json!({ "export_adder_per_mwh": -10.0 });
    p["battery"] = battery(0.0, 100.0, 50.0, 100.0, 1.0, 1.0);
    let plan = solve_checked(&p);
    assert_near(plan.objective, -3.0);
    assert_near(plan.intervals[0].import_kw, 0.0);
}

#[test]
fn an_export_limit_of_zero_forbids_export() {
    // A full battery serves the 30 kW load; the rest cannot be sold at 100.
    let mut p = site(&[100.0]);
    p["ev_demand_kw"] = json!([30.0]);
    p["battery"] = battery(0.0, 100.0, 100.0, 100.0, 1.0, 1.0);
    let plan = solve_checked(&p);
    assert_near(plan.objective, 0.0);
    assert_near(plan.intervals[0].discharge_kw, 30.0);
    assert_near(plan.intervals[0].export_kw, 0.0);
}

#[test]
fn without_a_battery_the_grid_serves_the_load() {
    // 50 kW for 2 h at 40/MWh: 4.0. No battery flows, SoC 0.
    let mut p = site(&[40.0, 40.0]);
    p["ev_demand_kw"] = json!([50.0, 50.0]);
    let plan = solve_checked(&p);
    assert_near(plan.objective, 4.0);
    assert!(
        plan.intervals
            .iter()
            .all(|i| i.soc_kwh == 0.0 && i.charge_kw == 0.0)
    );
}

#[test]
fn soc_bounds_and_efficiencies() {
    // The usable range is 100 kWh above the 10 kWh floor. Charge it at 10/MWh
    // (100/0.9 = 111.11 kW costs 1.1111), discharge it at 100/MWh
    // (100 × 0.8 = 80 kW earns 8): −6.8889. With lossless conversion it would
    // be −9; using the floor energy too, −7.8.
    let mut p = site(&[10.0, 100.0]);
    p["grid"]["export_limit_kw"] = json!(1000.0);
    p["battery"] = battery(10.0, 110.0, 10.0, 1000.0, 0.9, 0.8);
    let plan = solve_checked(&p);
    assert_near(
        plan.objective,
        100.0 / 0.9 * 10.0 / 1000.0 - 80.0 * 100.0 / 1000.0,
    );
    assert_near(plan.intervals[0].soc_kwh, 110.0);
    assert_near(plan.intervals[1].soc_kwh, 10.0);
}

#[test]
fn unserved_load_when_the_import_limit_binds() {
    // 100 kW EV + 50 kW base against a 120 kW limit: 30 kW unserved, charged
    // to EV first. Cost 120 × 50/1000 + 30 × 10000/1000 = 306.
    let mut p = site(&[50.0]);
    p["grid"]["import_limit_kw"] = json!(120.0);
    p["ev_demand_kw"] = json!([100.0]);
    p["base_load_kw"] = json!([50.0]);
    let plan = solve_checked(&p);
    assert_near(plan.objective, 306.0);
    assert_near(plan.intervals[0].unserved_kw, 30.0);
    assert_near(plan.intervals[0].ev_served_kw, 70.0);
    assert_near(plan.costs.unserved_penalty, 300.0);
}

#[test]
fn compute_capacity_caps_all_jobs_together() {
    // Two jobs worth 1000/MWh, each up to 100 kW, share 150 kW of IT: value
    // 150 × 1000/1000 = 150 (200 without the cap). Energy is free.
    let jobs = vec![
        preemptible(
            "a",
            1000.0,
            10.0,
            100.0,
            "2025-06-01T00:00:00Z",
            "2025-06-01T01:00:00Z",
            1000.0,
        ),
        preemptible(
            "b",
            1000.0,
            10.0,
            100.0,
            "2025-06-01T00:00:00Z",
            "2025-06-01T01:00:00Z",
            1000.0,
        ),
    ];
    let plan = solve_checked(&with_compute(site(&[0.0]), 150.0, jobs));
    assert_near(plan.objective, -150.0);
    assert_near(plan.intervals[0].compute_it_kw, 150.0);
}

#[test]
fn a_job_runs_only_inside_its_window_even_when_it_starts_before_the_horizon() {
    // Released before the horizon, due at 02:30: intervals 0 and 1 whole and
    // half of interval 2 (contract v1.1), none of interval 3. Running 0 and 1
    // at 100 kW: value 2 × 100 × 500/1000 = 100, energy 2 × 100 × 100/1000 =
    // 20; half of the free hour 2 at 100 kW, 50 kW on average: value 25. So
    // −105; the free hour 3 would give 50 more, but the window is shut.
    let job = preemptible(
        "w",
        1000.0,
        10.0,
        100.0,
        "2025-05-31T23:00:00Z",
        "2025-06-01T02:30:00Z",
        500.0,
    );
    let plan = solve_checked(&with_compute(
        site(&[100.0, 100.0, 0.0, 0.0]),
        1000.0,
        vec![job],
    ));
    assert_near(plan.objective, -105.0);
    assert_near(plan.intervals[2].compute_it_kw, 50.0);
    assert_near(plan.intervals[3].compute_it_kw, 0.0);
}

#[test]
fn a_window_that_opens_mid_interval_runs_for_the_part_it_covers() {
    // Released at 01:30, due after the horizon: half of interval 1 and all of
    // 2 and 3. The cheap hour 1 holds 50 kW on average (value 25, free);
    // hours 2 and 3 at 100 kW: value 100, energy 2 × 100 × 200/1000 = 40.
    // So −85.
    let job = preemptible(
        "w",
        1000.0,
        10.0,
        100.0,
        "2025-06-01T01:30:00Z",
        "2025-06-03T00:00:00Z",
        500.0,
    );
    let plan = solve_checked(&with_compute(
        site(&[0.0, 0.0, 200.0, 200.0]),
        1000.0,
        vec![job],
    ));
    assert_near(plan.objective, -85.0);
    assert_near(plan.intervals[0].compute_it_kw, 0.0);
    assert_near(plan.intervals[1].compute_it_kw, 50.0);
}

#[test]
fn a_part_interval_scales_a_jobs_least_power_too() {
    // Released at 01:45 with min 80 kW: a quarter of interval 1 allows 20 to
    // 25 kW on average; 20 kWh need exactly 20 kW there (value 10, free)
    // rather than a full hour at 80 kW at 200 per MWh.
    let job = preemptible(
        "w",
        20.0,
        80.0,
        100.0,
        "2025-06-01T01:45:00Z",
        "2025-06-01T03:00:00Z",
        500.0,
    );
    let plan = solve_checked(&with_compute(
        site(&[0.0, 0.0, 200.0, 200.0]),
        1000.0,
        vec![job],
    ));
    assert_near(plan.intervals[1].compute_it_kw, 20.0);
    assert_near(plan.intervals[2].compute_it_kw, 0.0);
    assert_near(plan.objective, -10.0);
}

#[test]
fn min_power_means_off_or_at_least_min() {
    // 150 kWh over two free hours at 80..100 kW: two runs need 160 kWh, so the
    // job runs once at 100 kW: value 100 × 100/1000 = 10 (15 without min power).
    let job = preemptible(
        "m",
        150.0,
        80.0,
        100.0,
        "2025-06-01T00:00:00Z",
        "2025-06-01T02:00:00Z",
        100.0,
    );
    let plan = solve_checked(&with_compute(site(&[0.0, 0.0]), 1000.0, vec![job]));
    assert_near(plan.objective, -10.0);
    assert_near(plan.jobs[0].delivered_kwh, 100.0);
}

#[test]
fn the_energy_cap_limits_what_a_job_draws() {
    // 150 kWh over three free hours at up to 100 kW: value 150 × 100/1000 = 15
    // (30 without the cap).
    let job = preemptible(
        "e",
        150.0,
        10.0,
        100.0,
        "2025-06-01T00:00:00Z",
        "2025-06-01T03:00:00Z",
        100.0,
    );
    let plan = solve_checked(&with_compute(site(&[0.0, 0.0, 0.0]), 1000.0, vec![job]));
    assert_near(plan.objective, -15.0);
    assert_near(plan.jobs[0].delivered_kwh, 150.0);
    assert_near(plan.jobs[0].shortfall_kwh, 0.0);
}

/// Gives a preemptible job a start cost and says whether it ran just
/// before the horizon.
fn starting(job: &mut Value, start_cost: f64, running: bool) {
    job["start_cost"] = json!(start_cost);
    job["running"] = json!(running);
}

fn start_cost_case(running: bool) -> Value {
    let mut job = preemptible(
        "s",
        1000.0,
        100.0,
        100.0,
        "2025-06-01T00:00:00Z",
        "2025-06-01T03:00:00Z",
        200.0,
    );
    starting(&mut job, 50.0, running);
    with_compute(site(&[0.0, 1000.0, 0.0]), 1000.0, vec![job])
}

#[test]
fn a_running_job_continues_without_a_start_cost() {
    // Running before the horizon: continuing in hour 0 costs no start, value
    // 100 × 200/1000 = 20. A restart in hour 2 would add 20 of value for 50.
    // Without start costs it would run hours 0 and 2: −40.
    let plan = solve_checked(&start_cost_case(true));
    assert_near(plan.objective, -20.0);
    assert_eq!(plan.jobs[0].starts, 0);
    assert_near(plan.costs.start_costs, 0.0);
}

#[test]
fn a_start_costs_its_start_cost() {
    // Not running before: any run costs a 50 start for at most 40 of value,
    // so the job stays off.
    let plan = solve_checked(&start_cost_case(false));
    assert_near(plan.objective, 0.0);
    assert_eq!(plan.jobs[0].starts, 0);
    assert_near(plan.jobs[0].delivered_kwh, 0.0);
}

#[test]
fn a_start_is_paid_when_it_is_worth_it() {
    // Value 2000/MWh, not running before: running all three hours is one
    // start (50) for 600 of value and 100 of energy: −450. Skipping the dear
    // hour means two starts: −400 + 100 = −300. Without start costs: −500.
    let mut p = start_cost_case(false);
    p["jobs"][0]["value_per_mwh"] = json!(2000.0);
    let plan = solve_checked(&p);
    assert_near(plan.objective, -450.0);
    assert_eq!(plan.jobs[0].starts, 1);
    assert_near(plan.costs.start_costs, 50.0);
}

#[test]
fn a_block_runs_in_one_contiguous_piece() {
    // 2 h at 100 kW, value 300/MWh (60 in all): every 2-h run includes an hour
    // at 1000/MWh (100), so the block does not run. Split into the two free
    // hours it would be worth −60.
    let p = with_compute(
        site(&[0.0, 1000.0, 0.0, 1000.0]),
        1000.0,
        vec![block("b", 100.0, 120.0, 300.0)],
    );
    let plan = solve_checked(&p);
    assert_near(plan.objective, 0.0);
    assert_eq!(plan.jobs[0].starts, 0);
}

#[test]
fn a_block_runs_at_most_once() {
    // Two free 2-h slots; one run is worth 60. Running twice would give −120.
    let p = with_compute(
        site(&[0.0, 0.0, 1000.0, 0.0, 0.0]),
        1000.0,
        vec![block("b", 100.0, 120.0, 300.0)],
    );
    let plan = solve_checked(&p);
    assert_near(plan.objective, -60.0);
    assert_eq!(plan.jobs[0].starts, 1);
    assert_near(plan.jobs[0].delivered_kwh, 200.0);
}

#[test]
fn a_block_duration_rounds_up_to_whole_intervals() {
    // 90 min at 60-min intervals is L = 2 intervals: E = 200 kWh. With a
    // shortfall penalty of 900/MWh and free energy it runs: value 0, penalty
    // 0. Not running would cost 200 × 900/1000 = 180.
    let mut b = block("b", 100.0, 90.0, 0.0);
    b["shortfall_penalty_per_mwh"] = json!(900.0);
    let plan = solve_checked(&with_compute(site(&[0.0, 0.0, 0.0]), 1000.0, vec![b]));
    assert_near(plan.objective, 0.0);
    assert_near(plan.jobs[0].delivered_kwh, 200.0);
    let running: Vec<bool> = plan
        .intervals
        .iter()
        .map(|i| i.compute_it_kw > 0.0)
        .collect();
    assert_eq!(running.iter().filter(|&&r| r).count(), 2);
}

#[test]
fn a_block_that_does_not_fit_its_window_cannot_run() {
    // 3 h in a 2-h window: the whole 300 kWh is short: 300 × 900/1000 = 270.
    let mut b = block("b", 100.0, 180.0, 0.0);
    b["deadline"] = json!("2025-06-01T02:00:00Z");
    b["shortfall_penalty_per_mwh"] = json!(900.0);
    let plan = solve_checked(&with_compute(site(&[0.0, 0.0, 0.0]), 1000.0, vec![b]));
    assert_near(plan.objective, 270.0);
    assert_near(plan.jobs[0].shortfall_kwh, 300.0);
}

#[test]
fn demand_charge_on_the_new_peak() {
    // Loads 100 and 300 kW at a free price, 10/kW above a 200 kW peak so far:
    // 10 × (300 − 200) = 1000.
    let mut p = site(&[0.0, 0.0]);
    p["ev_demand_kw"] = json!([100.0, 300.0]);
    p["tariff"] = json!({ "demand_charge_per_kw": 10.0, "peak_so_far_kw": 200.0 });
    let plan = solve_checked(&p);
    assert_near(plan.objective, 1000.0);
}

#[test]
fn demand_charge_is_never_below_the_peak_so_far() {
    // Loads under the 200 kW peak so far cost no demand charge; without the
    // floor the charge would be 10 × (150 − 200) = −500.
    let mut p = site(&[0.0, 0.0]);
    p["ev_demand_kw"] = json!([100.0, 150.0]);
    p["tariff"] = json!({ "demand_charge_per_kw": 10.0, "peak_so_far_kw": 200.0 });
    let plan = solve_checked(&p);
    assert_near(plan.objective, 0.0);
}

#[test]
fn the_battery_shaves_the_peak_when_the_demand_charge_pays() {
    // A 100 kWh battery covers 100 kW of the 300 kW hour: the peak stays at
    // the 200 kW so far, demand charge 0 instead of 1000.
    let mut p = site(&[0.0, 0.0]);
    p["ev_demand_kw"] = json!([100.0, 300.0]);
    p["tariff"] = json!({ "demand_charge_per_kw": 10.0, "peak_so_far_kw": 200.0 });
    p["battery"] = battery(0.0, 100.0, 100.0, 100.0, 1.0, 1.0);
    let plan = solve_checked(&p);
    assert_near(plan.objective, 0.0);
    assert_near(plan.intervals[1].import_kw, 200.0);
}

fn target_case(price: f64) -> Value {
    let mut p = site(&[price]);
    p["battery"] = battery(0.0, 100.0, 50.0, 100.0, 1.0, 1.0);
    p["soc_targets"] = json!([{ "at": "2025-06-01T01:00:00Z", "min_kwh": 80.0 }]);
    p
}

#[test]
fn a_soc_target_is_met_when_energy_is_cheaper_than_the_penalty() {
    // 30 kWh short of the target; charging it at 500/MWh costs 15, the
    // shortfall would cost 30 × 1000/1000 = 30. Without the target: 0.
    let plan = solve_checked(&target_case(500.0));
    assert_near(plan.objective, 15.0);
    assert_near(plan.intervals[0].soc_kwh, 80.0);
}

#[test]
fn a_soc_target_shortfall_costs_its_penalty() {
    // At 2000/MWh charging the 30 kWh would cost 60: pay the 30 penalty.
    let plan = solve_checked(&target_case(2000.0));
    assert_near(plan.objective, 30.0);
    assert_near(plan.costs.soc_target_penalty, 30.0);
}

#[test]
fn stability_penalty_follows_the_previous_plan() {
    // The previous plan charged 50 kW. Deviating costs 1000/MWh; following it
    // costs 50 × 10/1000 = 0.5 of energy. Without the penalty: 0 (idle).
    let mut p = site(&[10.0]);
    p["battery"] = battery(0.0, 100.0, 0.0, 100.0, 1.0, 1.0);
    p["stability"] = json!({ "penalty_per_mwh": 1000.0, "reference_kw": [-50.0] });
    let plan = solve_checked(&p);
    assert_near(plan.objective, 0.5);
    assert_near(plan.intervals[0].charge_kw, 50.0);
}

#[test]
fn stability_ignores_intervals_without_a_reference() {
    let mut p = site(&[10.0, 10.0]);
    p["battery"] = battery(0.0, 100.0, 0.0, 100.0, 1.0, 1.0);
    p["stability"] = json!({ "penalty_per_mwh": 1000.0, "reference_kw": [null, -50.0] });
    let plan = solve_checked(&p);
    assert_near(plan.objective, 0.5);
    assert_near(plan.intervals[0].charge_kw, 0.0);
}

#[test]
fn terminal_value_rewards_energy_left_at_the_end() {
    // Buying 100 kWh at 50 (cost 5) leaves energy worth 60/MWh (6): −1.
    // Without the terminal value: 0.
    let mut p = site(&[50.0]);
    p["battery"] = battery(0.0, 100.0, 0.0, 100.0, 1.0, 1.0);
    p["battery"]["terminal_value_per_mwh"] = json!(60.0);
    let plan = solve_checked(&p);
    assert_near(plan.objective, -1.0);
    assert_near(plan.costs.terminal_value, 6.0);
}

#[test]
fn a_negative_terminal_value_cannot_be_escaped_by_burning_energy() {
    // Stored energy is worth −200/MWh at the end. With no load and no export
    // the only way down would be to charge and discharge at once, burning
    // energy in the round trip, which the rules forbid. The battery keeps its
    // 100 kWh: −(−200 × 100/1000) = 20.
    let mut p = site(&[50.0]);
    p["battery"] = battery(0.0, 100.0, 100.0, 100.0, 0.9, 0.9);
    p["battery"]["terminal_value_per_mwh"] = json!(-200.0);
    let plan = solve_checked(&p);
    assert_near(plan.objective, 20.0);
}

#[test]
fn degradation_is_paid_per_mwh_discharged() {
    // Serving 50 kW from a full battery: degradation 50 × 30/1000 = 1.5 beats
    // importing at 40 (2.0).
    let mut p = site(&[40.0]);
    p["ev_demand_kw"] = json!([50.0]);
    p["battery"] = battery(0.0, 100.0, 100.0, 100.0, 1.0, 1.0);
    p["battery"]["degradation_cost_per_mwh"] = json!(30.0);
    let plan = solve_checked(&p);
    assert_near(plan.objective, 1.5);
    assert_near(plan.costs.degradation, 1.5);
}

#[test]
fn pue_scales_compute_power_at_the_meter() {
    // 100 kW of IT at PUE 1.5 draws 150 kW: energy 150 × 100/1000 = 15,
    // value 100 × 400/1000 = 40: −25. The import shows 150 kW.
    let job = preemptible(
        "p",
        100.0,
        10.0,
        100.0,
        "2025-06-01T00:00:00Z",
        "2025-06-01T01:00:00Z",
        400.0,
    );
    let mut p = with_compute(site(&[100.0]), 1000.0, vec![job]);
    p["compute"]["pue"] = json!(1.5);
    let plan = solve_checked(&p);
    assert_near(plan.objective, -25.0);
    assert_near(plan.intervals[0].import_kw, 150.0);
}

#[test]
fn capacity_pair_cuts_keep_the_optimum() {
    // Two jobs of up to 100 kW share 150 kW, one with a start cost of 5.
    // Hour 0 is free, hour 1 costs 300/MWh; value 1000/MWh. Both run in hour
    // 0 (150 kW: −150 + 5 for b's start); in hour 1 running is worth
    // 1000 − 300 per MWh, so both continue without another start:
    // 150 × 700/1000 = 105. Total −150 + 5 − 105 = −250, with or without cuts.
    let mut b = preemptible(
        "b",
        1000.0,
        10.0,
        100.0,
        "2025-06-01T00:00:00Z",
        "2025-06-01T02:00:00Z",
        1000.0,
    );
    b["start_cost"] = json!(5.0);
    let jobs = vec![
        preemptible(
            "a",
            1000.0,
            10.0,
            100.0,
            "2025-06-01T00:00:00Z",
            "2025-06-01T02:00:00Z",
            1000.0,
        ),
        b,
    ];
    let p = with_compute(site(&[0.0, 300.0]), 150.0, jobs);
    for capacity_cuts in [false, true] {
        let options = SolveOptions {
            formulation: Formulation {
                capacity_cuts,
                ..Formulation::default()
            },
            ..SolveOptions::default()
        };
        let plan = solve_checked_with(&p, &options);
        assert_near(plan.objective, -250.0);
    }
}

/// Binaries in the default model of a problem.
fn binaries(problem: &Value) -> usize {
    let problem = arbiter_optimizer::Problem::from_json(&problem.to_string()).unwrap();
    arbiter_optimizer::build_model(&problem, Formulation::default()).binaries
}

/// A full battery (100 kWh, efficiencies 0.9) whose previous plan charged
/// 50 kW for an hour, at a stability penalty of 5/MWh.
fn full_battery_asked_to_charge(price: f64) -> Value {
    let mut p = site(&[price]);
    p["battery"] = battery(0.0, 100.0, 100.0, 100.0, 0.9, 0.9);
    p["stability"] = json!({ "penalty_per_mwh": 5.0, "reference_kw": [-50.0] });
    p
}

#[test]
fn a_stability_reference_cheaper_than_import_needs_no_charge_binaries() {
    // Following the reference would mean charging while full, burning the
    // energy in a simultaneous discharge: absorbing n kW costs 10·n/1000 in
    // import and saves at most 5·n/1000 of deviation, so idling is optimal
    // (deviation 50 × 5/1000 = 0.25) and the model needs no binary for it.
    let p = full_battery_asked_to_charge(10.0);
    assert_eq!(binaries(&p), 0);
    let plan = solve_checked(&p);
    assert_near(plan.objective, 0.25);
    assert_near(plan.intervals[0].charge_kw, 0.0);
}

#[test]
fn a_stability_reference_dearer_than_import_keeps_the_charge_binaries() {
    // At a price of 2 < 5 the relaxation would charge 100 kW and discharge
    // 81 kW at once (absorbing 19 kW: 0.038 import, 0.155 deviation, 0.193);
    // the rules forbid that, so the model keeps the binary and idles: 0.25.
    let p = full_battery_asked_to_charge(2.0);
    assert_eq!(binaries(&p), 1);
    let plan = solve_checked(&p);
    assert_near(plan.objective, 0.25);
    assert_near(plan.intervals[0].charge_kw, 0.0);
}

/// A job of `energy` kWh (50–100 kW, shortfall 2000/MWh) over two hours at 10/MWh,
/// with a demand charge of 1 per kW: the plan and the solve's statistics.
fn relax_and_fix_case(energy: f64) -> (arbiter_optimizer::Plan, arbiter_optimizer::SolveStats) {
    let mut job = preemptible(
        "p",
        energy,
        50.0,
        100.0,
        "2025-06-01T00:00:00Z",
        "2025-06-01T02:00:00Z",
        0.0,
    );
    job["shortfall_penalty_per_mwh"] = json!(2000.0);
    let mut p = with_compute(site(&[10.0, 10.0]), 1000.0, vec![job]);
    p["tariff"] = json!({ "demand_charge_per_kw": 1.0 });
    let plan = solve_checked(&p);
    let problem = arbiter_optimizer::Problem::from_json(&p.to_string()).unwrap();
    let (again, stats) = arbiter_optimizer::solve_with_stats(&problem, &SolveOptions::default());
    assert_near(again.objective, plan.objective);
    (plan, stats)
}

#[test]
fn relax_and_fix_proves_a_plan_the_relaxation_settles() {
    // 150 kWh: the relaxation runs the job at 75 kW in both hours (the least
    // peak), at least its minimum, so both on/off decisions are settled and
    // the fixed model's optimum meets the relaxation's bound: energy
    // 150 × 10/1000 = 1.5, demand charge 75.
    let (plan, stats) = relax_and_fix_case(150.0);
    assert_near(plan.objective, 76.5);
    assert_eq!((stats.fixed_binaries, stats.binaries), (2, 2));
}

#[test]
fn relax_and_fix_hands_a_split_decision_to_the_full_search() {
    // 75 kWh: the relaxation spreads 37.5 kW over both hours, below the 50 kW
    // minimum (bound 0.75 + 37.5 = 38.25), which no plan can do. The full
    // search runs it at 75 kW for one hour: 0.75 + 75 = 75.75 (50 kW and a
    // 25 kWh shortfall would cost 0.5 + 50 + 50; idling, 150).
    let (plan, stats) = relax_and_fix_case(75.0);
    assert_near(plan.objective, 75.75);
    assert_eq!(stats.fixed_binaries, 0);
}

/// A 100 kWh job (10–100 kW, value 1000/MWh, start cost 40) over four hours
/// of free energy behind a 25 kW import limit.
fn spread_job(running: bool) -> Value {
    let mut job = preemptible(
        "spread",
        100.0,
        10.0,
        100.0,
        "2025-06-01T00:00:00Z",
        "2025-06-01T04:00:00Z",
        1000.0,
    );
    starting(&mut job, 40.0, running);
    let mut p = with_compute(site(&[0.0; 4]), 1000.0, vec![job]);
    p["grid"]["import_limit_kw"] = json!(25.0);
    p
}

/// The plan's objective and the relaxation's bound, with or without the
/// run-energy cuts.
fn objective_and_bound(problem: &Value, run_cuts: bool) -> (f64, f64) {
    objective_and_bound_with(problem, run_cuts, false)
}

/// [`objective_and_bound`], with or without the proof by branching on where
/// jobs run (whose bound, when it proves a plan, is the one kept).
fn objective_and_bound_with(
    problem: &Value,
    run_cuts: bool,
    presence_branching: bool,
) -> (f64, f64) {
    let options = SolveOptions {
        formulation: Formulation {
            run_cuts,
            ..Formulation::default()
        },
        presence_branching,
        ..SolveOptions::default()
    };
    let problem = arbiter_optimizer::Problem::from_json(&problem.to_string()).unwrap();
    let (plan, stats) = arbiter_optimizer::solve_with_stats(&problem, &options);
    (plan.objective, stats.relaxation_bound.unwrap())
}

#[test]
fn run_energy_cuts_charge_the_relaxation_a_whole_start() {
    // The job runs 25 kW for four hours: value 100, one start 40: −60. The
    // relaxation without the cuts runs it with its on-indicator at 25/100 and
    // pays a quarter of the start: −100 + 10 = −90. With them, the span of
    // all four hours (reach 400 kWh > 100) holds 100 kWh ≤ 100 × starts, a
    // whole start: the bound is the optimum.
    let p = spread_job(false);
    let (objective, bound) = objective_and_bound(&p, false);
    assert_near(objective, -60.0);
    assert_near(bound, -90.0);
    let (objective, bound) = objective_and_bound(&p, true);
    assert_near(objective, -60.0);
    assert_near(bound, -60.0);
    // Without the cuts, branching on whether the job runs in its four hours
    // proves the same: not at all (0) or with a whole start (−60).
    let (objective, bound) = objective_and_bound_with(&p, false, true);
    assert_near(objective, -60.0);
    assert_near(bound, -60.0);
}

#[test]
fn run_energy_cuts_count_a_run_going_on_before_the_horizon() {
    // Running before the horizon, the job continues without a start: −100.
    // A cut that forgot the run in progress would demand a start (bound −60,
    // above the optimum).
    let p = spread_job(true);
    for run_cuts in [false, true] {
        let (objective, bound) = objective_and_bound(&p, run_cuts);
        assert_near(objective, -100.0);
        assert_near(bound, -100.0);
    }
}

/// A block's placements under a demand charge, in both start formulations.
/// Charging draws 100 kW in hours 1 and 2 of four; a 2-hour block of 100 kW
/// must run (its shortfall costs 100,000 per MWh). Every placement meets
/// charging in one of those hours, so the peak is 200 kW (2,000 at 10 per
/// kW); half a block at hour 0 and half at hour 2 would flatten it to
/// 150 kW, which the relaxation may take but no plan can. Cumulative starts
/// describe the same placements and relaxation as one binary per start.
#[test]
fn block_placements_under_a_demand_charge_agree_in_both_start_forms() {
    let mut b = block("b", 100.0, 120.0, 0.0);
    b["deadline"] = json!("2025-06-01T04:00:00Z");
    b["shortfall_penalty_per_mwh"] = json!(100_000.0);
    let mut p = with_compute(site(&[0.0; 4]), 100.0, vec![b]);
    p["ev_demand_kw"] = json!([0.0, 100.0, 100.0, 0.0]);
    p["tariff"] = json!({ "demand_charge_per_kw": 10.0, "peak_so_far_kw": 0.0 });
    let problem = arbiter_optimizer::Problem::from_json(&p.to_string()).unwrap();
    let mut bounds = Vec::new();
    for cumulative_block_starts in [true, false] {
        let options = SolveOptions {
            formulation: Formulation {
                cumulative_block_starts,
                ..Formulation::default()
            },
            ..SolveOptions::default()
        };
        let plan = solve_checked_with(&p, &options);
        assert_near(plan.objective, 2000.0);
        assert_eq!(plan.jobs[0].starts, 1);
        let (plan, stats) = arbiter_optimizer::solve_with_stats(&problem, &options);
        bounds.push(stats.relaxation_bound.expect("relax-and-fix ran"));
        // One binary per start: the search over placements proves it, where
        // the relaxation's bound alone leaves a 25% gap.
        assert_eq!(plan.status, Status::Optimal);
        assert_eq!(stats.placement_nodes > 0, !cumulative_block_starts);
    }
    assert_near(bounds[0], 1500.0);
    assert_near(bounds[1], bounds[0]);
}

#[test]
fn least_power_cuts_stop_the_relaxation_filling_beside_a_block_below_a_least_power() {
    // One hour, 300 kW of IT, a block of 100 kW worth 2,000/MWh (it runs),
    // leaving 200 kW. Job a draws up to 150 kW (1,000/MWh), job b at least
    // 100 and up to 200 kW (900/MWh). Beside a at full power only 50 kW are
    // left, less than b's least: the best plan runs a and b at 100 each
    // (100 + 90 + 200 = 390 earned). Without the cut the relaxation runs a
    // at 150 and b at 50 with its indicator at a third (150 + 45 + 200:
    // a bound of −395); with `x_a + 0.5·x_b ≤ 150` while the block runs it
    // is the optimum's −390.
    let mut hour = site(&[0.0]);
    hour["grid"]["import_limit_kw"] = json!(1000.0);
    let window = |mut job: Value| {
        job["deadline"] = json!("2025-06-01T01:00:00Z");
        job
    };
    let jobs = vec![
        window(block("k", 100.0, 60.0, 2000.0)),
        window(preemptible(
            "a",
            1000.0,
            10.0,
            150.0,
            "2025-06-01T00:00:00Z",
            "2025-06-01T01:00:00Z",
            1000.0,
        )),
        window(preemptible(
            "b",
            1000.0,
            100.0,
            200.0,
            "2025-06-01T00:00:00Z",
            "2025-06-01T01:00:00Z",
            900.0,
        )),
    ];
    let p = with_compute(hour, 300.0, jobs);
    let problem = arbiter_optimizer::Problem::from_json(&p.to_string()).unwrap();
    for (capacity_cuts, bound) in [(false, -395.0), (true, -390.0)] {
        let options = SolveOptions {
            formulation: Formulation {
                capacity_cuts,
                ..Formulation::default()
            },
            ..SolveOptions::default()
        };
        let (plan, stats) = arbiter_optimizer::solve_with_stats(&problem, &options);
        assert_near(stats.relaxation_bound.unwrap(), bound);
        assert_near(plan.objective, -390.0);
        assert_near(solve_checked_with(&p, &options).objective, -390.0);
    }
}
