//! Solves problem files as the service's planner does (one thread, the
//! site's 1 s limit, relax-and-fix's plan kept as found) and prints each
//! plan's status, objective, gap and time (whole, building, in HiGHS), the
//! model's binaries, those relax-and-fix fixed, whether its rounded
//! relaxation was the proof, its run-energy cuts, whether a second solve
//! with charge/discharge binaries was needed and the linear programs of the
//! search over block placements, the relaxation's simplex iterations,
//! whether it started from a carried basis, the entries of the basis it
//! ended with (what a service keeps per site), whether it switched to
//! cumulative block starts, whether relax-and-fix's fixed MIP was
//! stopped early, the linear programs of the proof by presence branching
//! and whether the full search stopped at relax-and-fix's bound, whether it
//! started afresh (relax-and-fix's fixings wrong), then the
//! sums: what a change to the solver does to the planner's own problems
//! (written by the service with `ARBITER_DUMP_PROBLEMS`).
//!
//! `cargo run --release -p arbiter-optimizer --example replay -- [--time-limit S] [--mip-gap G] [--search] [--cumulative-block-starts] [--carry-basis] [--carry-plan] [--no-relax-and-fix] [--no-presence] [--no-bound-stop] FILE...`
//!
//! `--mip-gap` (default 1e-4, the contract's; the demo sites plan at 1e-3)
//! and `--search` (search on from relax-and-fix's plan for the whole limit,
//! as a backtest's `perfect` does with `--time-limit 30`);
//! `--cumulative-block-starts` solves with that option of the formulation;
//! `--carry-basis` starts each file's relaxation from the previous file's
//! basis, as the backtest and the service do from one plan to the next (give
//! the files in time order); `--carry-plan` makes the previous file's plan
//! each file's warm start, as they do too; `--no-relax-and-fix` hands the
//! model to HiGHS's search at once; `--no-presence` leaves out the proof by
//! branching on where jobs with a start cost run; `--no-bound-stop` lets the
//! full search run until HiGHS's own bound proves its plan.
use std::process::ExitCode;
use std::time::Duration;

use arbiter_optimizer::{Problem, SolveOptions, Status, WarmStart, solve_with_stats};

const USAGE: &str = "usage: replay [--time-limit S] [--mip-gap G] [--search] [--cumulative-block-starts] [--carry-basis] [--carry-plan] [--no-relax-and-fix] [--no-presence] [--no-bound-stop] FILE...";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut options = SolveOptions {
        time_limit: Duration::from_secs(1),
        threads: Some(1),
        search_limit_from_incumbent: Some(Duration::ZERO),
        ..SolveOptions::default()
    };
    let mut files = Vec::new();
    let mut carry = false;
    let mut carry_plan = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--time-limit" => {
                let seconds = args
                    .next()
                    .and_then(|s| s.parse::<f64>().ok())
                    .filter(|s| s.is_finite() && *s > 0.0)
                    .ok_or(format!("--time-limit needs seconds > 0\n{USAGE}"))?;
                options.time_limit = Duration::from_secs_f64(seconds);
            }
            "--mip-gap" => {
                options.mip_gap = args
                    .next()
                    .and_then(|s| s.parse::<f64>().ok())
                    .filter(|g| g.is_finite() && *g >= 0.0)
                    .ok_or(format!("--mip-gap needs a gap ≥ 0\n{USAGE}"))?;
            }
            "--search" => options.search_limit_from_incumbent = None,
            "--no-relax-and-fix" => options.relax_and_fix = false,
            "--no-presence" => options.presence_branching = false,
            "--no-bound-stop" => options.stop_at_outside_bound = false,
            "--carry-basis" => carry = true,
            "--carry-plan" => carry_plan = true,
            "--cumulative-block-starts" => options.formulation.cumulative_block_starts = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            flag if flag.starts_with("--") => return Err(format!("unknown flag {flag}\n{USAGE}")),
            _ => files.push(arg),
        }
    }
    let (mut seconds, mut objective, mut unproven, mut rounded, mut count) = (0.0, 0.0, 0, 0, 0);
    let (mut iterations, mut carried, mut entries, mut most_entries) = (0, 0, 0, 0);
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| format!("{file}: {e}"))?;
        let problem = Problem::from_json(&text).map_err(|e| format!("{file}: {e}"))?;
        let (plan, stats) = solve_with_stats(&problem, &options);
        let basis_entries = stats
            .relaxation_basis
            .as_ref()
            .map_or(0, |basis| basis.len());
        entries += basis_entries;
        most_entries = most_entries.max(basis_entries);
        println!(
            "{}\t{:?}\t{:.4}\t{}\t{:.4}\t{:.4}\t{:.4}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            problem.site_id(),
            plan.status,
            plan.objective,
            plan.mip_gap
                .map_or("-".to_owned(), |gap| format!("{gap:.6}")),
            plan.solve_seconds,
            stats.build_seconds,
            stats.solver_seconds,
            stats.binaries,
            stats.fixed_binaries,
            stats.rounded,
            stats.run_cuts,
            stats.resolved_with_binaries,
            stats.placement_nodes,
            stats.relaxation_iterations,
            stats.relaxation_basis_used,
            basis_entries,
            stats.switched_to_cumulative,
            stats.fixed_mip_stopped,
            stats.presence_nodes,
            stats.search_proven_by_bound,
            stats.search_afresh,
        );
        iterations += stats.relaxation_iterations;
        carried += usize::from(stats.relaxation_basis_used);
        if carry {
            options.relaxation_basis = stats.relaxation_basis.clone();
        }
        if carry_plan {
            options.warm_start = WarmStart::Plan(Box::new(plan.clone()));
        }
        seconds += plan.solve_seconds;
        objective += plan.objective;
        unproven += usize::from(plan.status != Status::Optimal);
        rounded += usize::from(stats.rounded);
        count += 1;
    }
    eprintln!(
        "{count} problems: {seconds:.2} s solving, objectives' sum {objective:.2}, {unproven} not proven optimal, {rounded} proven by the rounded relaxation, {iterations} relaxation iterations, {carried} from a carried basis, basis entries mean {} max {most_entries}",
        entries / count.max(1)
    );
    Ok(())
}
