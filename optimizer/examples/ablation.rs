//! What each step of the formulation gains: solves one problem (default: the
//! site-day fixture) with the steps added one by one, and prints the median
//! total, build and HiGHS times of N runs with the model's size.
//!
//! `cargo run --release -p arbiter-optimizer --example ablation -- [FILE] [RUNS]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use arbiter_optimizer::{
    Formulation, Problem, SolveOptions, SolveStats, WarmStart, solve, solve_with_stats,
};

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let file = args
        .get(1)
        .map_or("fixtures/problems/site-day.json", String::as_str);
    let runs: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(5).max(1);
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file}: {e}"));
    let problem = Problem::from_json(&text).unwrap_or_else(|e| panic!("{e}"));
    let textbook = Formulation::textbook();
    let fast = Formulation::default();
    let cumulative = Formulation {
        cumulative_block_starts: true,
        ..fast
    };
    let no_run_cuts = Formulation {
        run_cuts: false,
        ..fast
    };
    let no_cuts = Formulation {
        capacity_cuts: false,
        ..no_run_cuts
    };
    let binaries = Formulation {
        drop_redundant_binaries: true,
        ..textbook
    };
    let starts = Formulation {
        starts_only_with_cost: true,
        ..binaries
    };
    let bounds = Formulation {
        objective_offset: false,
        ..no_cuts
    };
    // Each row adds one step to the row before:
    // (name, formulation, warm start, tuned HiGHS switches, relax-and-fix).
    let steps = [
        ("textbook", textbook, WarmStart::None, false, false, false),
        (
            "+drop redundant binaries",
            binaries,
            WarmStart::None,
            false,
            false,
            false,
        ),
        (
            "+starts only with a cost",
            starts,
            WarmStart::None,
            false,
            false,
            false,
        ),
        (
            "+tight bounds",
            bounds,
            WarmStart::None,
            false,
            false,
            false,
        ),
        (
            "+objective offset",
            no_cuts,
            WarmStart::None,
            false,
            false,
            false,
        ),
        (
            "+rule-built warm start",
            no_cuts,
            WarmStart::Rules,
            false,
            false,
            false,
        ),
        (
            "+tuned HiGHS switches",
            no_cuts,
            WarmStart::Rules,
            true,
            false,
            false,
        ),
        (
            "+capacity pair cuts",
            no_run_cuts,
            WarmStart::Rules,
            true,
            false,
            false,
        ),
        (
            "+LP-rounding warm start",
            no_run_cuts,
            WarmStart::Relaxation,
            true,
            false,
            false,
        ),
        (
            "+relax-and-fix",
            no_run_cuts,
            WarmStart::Relaxation,
            true,
            true,
            false,
        ),
        (
            "+run-energy cuts",
            fast,
            WarmStart::Relaxation,
            true,
            true,
            false,
        ),
        (
            "+branching on where jobs run",
            fast,
            WarmStart::Relaxation,
            true,
            true,
            true,
        ),
        (
            "(option) cumulative starts",
            cumulative,
            WarmStart::Relaxation,
            true,
            true,
            true,
        ),
    ];
    for (name, formulation, warm_start, tuned_solver, relax_and_fix, presence_branching) in steps {
        let options = SolveOptions {
            formulation,
            warm_start,
            tuned_solver,
            relax_and_fix,
            presence_branching,
            time_limit: Duration::from_secs(120),
            ..SolveOptions::default()
        };
        let mut stats: Vec<SolveStats> = Vec::with_capacity(runs);
        let mut totals = Vec::with_capacity(runs);
        let mut objective = 0.0;
        for _ in 0..runs {
            let (plan, run) = solve_with_stats(&problem, &options);
            objective = plan.objective;
            totals.push(plan.solve_seconds);
            stats.push(run);
        }
        println!(
            "{name:26} total {:7.1} ms  build {:5.2} ms  HiGHS {:7.1} ms  rows {:5} binaries {:4}  objective {objective:.4}  run cuts {}  relaxation {}",
            median(totals) * 1e3,
            median(stats.iter().map(|s| s.build_seconds).collect()) * 1e3,
            median(stats.iter().map(|s| s.solver_seconds).collect()) * 1e3,
            stats[0].rows,
            stats[0].binaries,
            stats[0].run_cuts,
            stats[0]
                .relaxation_bound
                .map_or("-".to_owned(), |bound| format!("{bound:.4}")),
        );
    }
    let optimum = solve(&problem, &SolveOptions::default());
    for (name, formulation) in [
        ("warm from optimum, no cuts", no_cuts),
        ("warm from optimum, cuts", fast),
    ] {
        let options = SolveOptions {
            warm_start: WarmStart::Plan(Box::new(optimum.clone())),
            formulation,
            ..SolveOptions::default()
        };
        let totals = (0..runs)
            .map(|_| solve_with_stats(&problem, &options).0.solve_seconds)
            .collect();
        println!("{name:26} total {:7.1} ms", median(totals) * 1e3);
    }
}
