//! Random valid problems: every plan passes the independent checker, and the
//! fast formulation (binaries dropped where proven redundant, tight bounds,
//! continuous starts, offset), with and without relax-and-fix, reaches the
//! same optimum as the textbook one searched in full.

use arbiter_optimizer::{Formulation, SolveOptions, Status};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::solve_checked_with;

const START: &str = "2025-03-30T00:00:00Z";

fn at(minutes: i64) -> String {
    let start = chrono::DateTime::parse_from_rfc3339(START).expect("time");
    (start + chrono::TimeDelta::minutes(minutes))
        .to_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn series(len: usize, range: std::ops::Range<f64>) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(range, len)
}

/// A battery: `(soc_min, soc_max, initial, charge_kw, discharge_kw, eff_c, eff_d, degradation, terminal)`.
fn battery() -> impl Strategy<Value = Value> {
    (
        0.0..500.0f64,
        0.0..3000.0f64,
        0.0..1.0f64,
        0.0..1500.0f64,
        0.0..1500.0f64,
    )
        .prop_flat_map(|(soc_min, range, share, charge, discharge)| {
            let efficiency = prop_oneof![Just(1.0), 0.8..1.0f64];
            (
                Just((
                    soc_min,
                    soc_min + range,
                    soc_min + share * range,
                    charge,
                    discharge,
                )),
                efficiency.clone(),
                efficiency,
                prop_oneof![Just(0.0), 0.0..20.0f64],
                prop_oneof![Just(0.0), -50.0..80.0f64],
            )
        })
        .prop_map(
            |(
                (soc_min, soc_max, initial, charge, discharge),
                eff_c,
                eff_d,
                degradation,
                terminal,
            )| {
                json!({
                    "soc_min_kwh": soc_min, "soc_max_kwh": soc_max, "initial_soc_kwh": initial,
                    "max_charge_kw": charge, "max_discharge_kw": discharge,
                    "charge_efficiency": eff_c, "discharge_efficiency": eff_d,
                    "degradation_cost_per_mwh": degradation, "terminal_value_per_mwh": terminal,
                })
            },
        )
}

/// A job whose window may reach outside the horizon and need not be aligned.
fn job(index: usize, minutes: i64, intervals: usize) -> impl Strategy<Value = Value> {
    let horizon = minutes * intervals as i64;
    (
        -minutes..horizon,
        minutes / 2..horizon + minutes,
        any::<bool>(),
        (10.0..400.0f64, 1.0..3.0f64, 50.0..3000.0f64),
        (0.0..400.0f64, prop_oneof![Just(0.0), 0.0..600.0f64], prop_oneof![Just(0.0), 0.0..30.0f64]),
        any::<bool>(),
        1..=4i64,
    )
        .prop_map(move |(release, length, preemptible, (min, spread, energy), (value, shortfall, start_cost), running, run)| {
            let (release, deadline) = (at(release), at(release + length));
            if preemptible {
                json!({
                    "id": format!("p{index}"), "kind": "preemptible", "energy_kwh": energy,
                    "min_kw": min, "max_kw": min * spread, "release": release, "deadline": deadline,
                    "value_per_mwh": value, "shortfall_penalty_per_mwh": shortfall,
                    "start_cost": start_cost, "running": running,
                })
            } else {
                json!({
                    "id": format!("b{index}"), "kind": "block", "power_kw": min * spread,
                    "duration_minutes": run * minutes - minutes / 3, "release": release, "deadline": deadline,
                    "value_per_mwh": value, "shortfall_penalty_per_mwh": shortfall,
                })
            }
        })
}

fn problem() -> impl Strategy<Value = Value> {
    (1usize..=12, prop_oneof![Just(15i64), Just(30), Just(60)]).prop_flat_map(|(intervals, minutes)| {
        let jobs = (0usize..=3).prop_flat_map(move |n| {
            (0..n).map(|i| job(i, minutes, intervals)).collect::<Vec<_>>()
        });
        (
            (series(intervals, -60.0..250.0), series(intervals, 0.0..800.0)),
            (prop_oneof![Just(json!(5.0)), series(intervals, -15.0..20.0).prop_map(|v| json!(v))], -5.0..10.0f64),
            (50.0..2500.0f64, prop_oneof![Just(0.0), 0.0..1000.0f64]),
            (prop_oneof![Just(0.0), 0.0..15.0f64], 0.0..1000.0f64),
            prop::option::of(battery()),
            (prop::collection::vec((1..=intervals, 0.0..1.0f64), 0..=2), prop::option::of((0.0..50.0f64, prop::collection::vec(prop::option::of(-1000.0..1000.0f64), intervals)))),
            jobs,
            (0.0..2000.0f64, 1.0..1.5f64),
        )
            .prop_map(move |((prices, ev), (import_adder, export_adder), (import_limit, export_limit), (demand_charge, peak), battery, (targets, stability), jobs, (max_it, pue))| {
                let mut p = json!({
                    "site_id": "random", "start": START, "interval_minutes": minutes,
                    "prices_per_mwh": prices, "ev_demand_kw": ev,
                    "tariff": { "import_adder_per_mwh": import_adder, "export_adder_per_mwh": export_adder,
                                "demand_charge_per_kw": demand_charge, "peak_so_far_kw": peak },
                    "grid": { "import_limit_kw": import_limit, "export_limit_kw": export_limit },
                    "unserved_penalty_per_mwh": 3000.0,
                });
                if let Some(battery) = battery {
                    let (soc_max, soc_min) = (battery["soc_max_kwh"].as_f64().unwrap_or(0.0), battery["soc_min_kwh"].as_f64().unwrap_or(0.0));
                    p["soc_targets"] = targets
                        .iter()
                        .map(|&(n, share)| json!({ "at": at(n as i64 * minutes), "min_kwh": soc_min * 0.5 + share * (soc_max - soc_min * 0.5) }))
                        .collect();
                    if let Some((penalty, reference)) = stability {
                        p["stability"] = json!({ "penalty_per_mwh": penalty, "reference_kw": reference });
                    }
                    p["battery"] = battery;
                }
                if !jobs.is_empty() {
                    p["compute"] = json!({ "max_it_kw": max_it, "pue": pue });
                    p["jobs"] = Value::Array(jobs);
                }
                p
            })
    })
}

fn options(formulation: Formulation) -> SolveOptions {
    SolveOptions {
        mip_gap: 1e-9,
        formulation,
        ..SolveOptions::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn plans_keep_every_rule_and_match_the_textbook_optimum(p in problem()) {
        // The reference: the textbook model searched in full by HiGHS.
        let textbook = solve_checked_with(
            &p,
            &SolveOptions { relax_and_fix: false, ..options(Formulation::textbook()) },
        );
        prop_assert_eq!(textbook.status, Status::Optimal);
        let cuts = Formulation { capacity_cuts: true, ..Formulation::default() };
        let fast_options = [
            options(Formulation::default()),
            options(cuts),
            SolveOptions { relax_and_fix: false, ..options(Formulation::default()) },
        ];
        for fast_options in fast_options {
            let formulation = fast_options.formulation;
            let fast = solve_checked_with(&p, &fast_options);
            prop_assert_eq!(fast.status, Status::Optimal);
            let scale = 1.0 + fast.objective.abs().max(textbook.objective.abs());
            prop_assert!(
                (fast.objective - textbook.objective).abs() <= 1e-6 * scale,
                "{:?}: {} vs textbook {}", formulation, fast.objective, textbook.objective
            );
        }
    }
}
