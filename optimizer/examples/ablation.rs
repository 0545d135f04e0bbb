//! Times the site-day fixture under each formulation switch (median of N runs).
//! `cargo run --release -p arbiter-optimizer --example ablation -- [FILE] [RUNS]`
use std::time::Duration;

use arbiter_optimizer::{Formulation, Problem, SolveOptions, WarmStart, solve_with_stats};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let file = args
        .get(1)
        .map_or("fixtures/problems/site-day.json", String::as_str);
    let runs: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(5);
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let problem = match Problem::from_json(&text) {
        Ok(problem) => problem,
        Err(errors) => return eprintln!("{errors}"),
    };
    let fast = Formulation::default();
    let variants: Vec<(&str, Formulation, bool, Option<u32>)> = vec![
        ("textbook", Formulation::textbook(), false, None),
        (
            "+drop binaries",
            Formulation {
                drop_redundant_binaries: true,
                ..Formulation::textbook()
            },
            false,
            None,
        ),
        (
            "+starts",
            Formulation {
                drop_redundant_binaries: true,
                starts_only_with_cost: true,
                ..Formulation::textbook()
            },
            false,
            None,
        ),
        (
            "+tight",
            Formulation {
                objective_offset: false,
                ..fast
            },
            false,
            None,
        ),
        ("+offset", fast, false, None),
        ("+warm", fast, true, None),
        ("+warm threads=1", fast, true, Some(1)),
    ];
    let optimum = arbiter_optimizer::solve(&problem, &SolveOptions::default());
    let mut from_optimum = Vec::new();
    for _ in 0..runs {
        let options = SolveOptions {
            warm_start: WarmStart::Plan(Box::new(optimum.clone())),
            ..SolveOptions::default()
        };
        from_optimum.push(solve_with_stats(&problem, &options).1.solver_seconds);
    }
    from_optimum.sort_by(f64::total_cmp);
    println!(
        "warm from its own optimum: highs {:.1} ms",
        from_optimum[runs / 2] * 1e3
    );
    for (name, formulation, warm_start, threads) in variants {
        let warm_start = if warm_start {
            WarmStart::Rules
        } else {
            WarmStart::None
        };
        let options = SolveOptions {
            formulation,
            warm_start,
            threads,
            time_limit: Duration::from_secs(60),
            ..SolveOptions::default()
        };
        let mut runs_stats = Vec::new();
        let mut objective = 0.0;
        for _ in 0..runs {
            let (plan, stats) = solve_with_stats(&problem, &options);
            objective = plan.objective;
            runs_stats.push(stats);
        }
        let median = |f: &dyn Fn(&arbiter_optimizer::SolveStats) -> f64| {
            let mut v: Vec<f64> = runs_stats.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let s = &runs_stats[0];
        println!(
            "{name:18} build {:7.1} ms  highs {:7.1} ms  cols {:5} rows {:5} bin {:4}  obj {objective:.4}",
            median(&|s| s.build_seconds) * 1e3,
            median(&|s| s.solver_seconds) * 1e3,
            s.columns,
            s.rows,
            s.binaries
        );
    }
}
