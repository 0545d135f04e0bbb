//! `arbiter solve`: solve a problem file to a plan.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use arbiter_optimizer::{DEFAULT_MIP_GAP, Plan, SolveOptions, WarmStart, solve};

use super::EXIT_INTERNAL;

/// Solve a problem file to a plan.
///
/// The plan JSON goes to stdout (or --out); a one-line summary goes to
/// stderr. Exit codes: 0 a plan was written, 2 the problem is invalid (every
/// issue is printed), 3 an internal failure.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  arbiter solve fixtures/problems/site-day.json > plan.json
  arbiter solve problem.json --out plan.json --mip-gap 1e-3 --time-limit 5
  arbiter solve fixtures/problems/why.json --explain")]
pub struct Args {
    /// The problem JSON file.
    problem: PathBuf,
    /// Write the plan to this file instead of stdout.
    #[arg(long, value_name = "PLAN.json")]
    out: Option<PathBuf>,
    /// Relative MIP gap at which the search stops.
    #[arg(long, value_name = "G", default_value_t = DEFAULT_MIP_GAP, value_parser = parse_gap, allow_negative_numbers = true)]
    mip_gap: f64,
    /// Seconds for building and solving; the best plan found by then is
    /// returned with status `feasible`.
    #[arg(long, value_name = "S", default_value_t = 30.0, value_parser = parse_seconds, allow_negative_numbers = true)]
    time_limit: f64,
    /// A previous plan to start the full search from (matched by interval
    /// start time), when relax-and-fix has not already proven a plan optimal
    /// or found one to start from; without it the search starts from the
    /// rounded LP relaxation (small models) or the rule-built plan.
    #[arg(long, value_name = "PLAN.json")]
    warm_start: Option<PathBuf>,
    /// Write the solver's numbers unrounded (by default power and energy
    /// are rounded to 0.001 kW / kWh and money to 0.0001, every rule kept:
    /// docs/problem-format.md, "Precision").
    #[arg(long)]
    full_precision: bool,
    /// Add the plan's `explain` part: what one more MWh is worth at the grid
    /// connection in each interval and which limits bind (the duals of the
    /// linear program left with the plan's on/off decisions fixed).
    #[arg(long)]
    explain: bool,
}

fn parse_gap(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(gap) if gap.is_finite() && gap >= 0.0 => Ok(gap),
        _ => Err(format!(
            "{text} is not a gap: expected a number ≥ 0, e.g. 1e-4"
        )),
    }
}

fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds > 0.0 => Ok(seconds),
        _ => Err(format!(
            "{text} is not a time limit: expected seconds > 0, e.g. 30"
        )),
    }
}

/// Runs the command.
pub fn run(args: &Args) -> ExitCode {
    let problem = match super::load_problem(&args.problem) {
        Ok(problem) => problem,
        Err(code) => return code,
    };
    let warm_start = match &args.warm_start {
        None => SolveOptions::default().warm_start,
        Some(path) => match read_plan(path) {
            Ok(plan) => WarmStart::Plan(Box::new(plan)),
            Err(message) => {
                eprintln!("error: {message}");
                return ExitCode::from(super::EXIT_INVALID);
            }
        },
    };
    let options = SolveOptions {
        mip_gap: args.mip_gap,
        time_limit: Duration::from_secs_f64(args.time_limit),
        warm_start,
        explain: args.explain,
        ..SolveOptions::default()
    };
    let plan = solve(&problem, &options);
    let plan = if args.full_precision {
        plan
    } else {
        plan.published(&problem)
    };
    eprintln!("{}", summary(&plan));
    let json = match serde_json::to_string_pretty(&plan) {
        Ok(json) => json,
        Err(error) => {
            eprintln!("error: cannot write the plan as JSON: {error}");
            return ExitCode::from(EXIT_INTERNAL);
        }
    };
    match &args.out {
        Some(path) => {
            if let Err(error) = std::fs::write(path, json + "\n") {
                eprintln!("error: cannot write {}: {error}", path.display());
                return ExitCode::from(EXIT_INTERNAL);
            }
        }
        None => outln!("{json}"),
    }
    ExitCode::SUCCESS
}

fn read_plan(path: &std::path::Path) -> Result<Plan, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not a plan: {e}", path.display()))
}

/// One line for a person: status, objective, gap, size and time.
pub fn summary(plan: &Plan) -> String {
    let gap = match plan.mip_gap {
        Some(gap) => format!("gap {:.4}%", gap * 100.0),
        None => "no bound".to_owned(),
    };
    let mut line = format!(
        "{}: {} plan, objective {:.2}, {gap}, {} intervals, {} jobs, solved in {:.3} s",
        plan.site_id,
        plan.status.as_str(),
        plan.objective,
        plan.intervals.len(),
        plan.jobs.len(),
        plan.solve_seconds
    );
    if let Some(note) = &plan.note {
        line.push_str(&format!(" ({note})"));
    }
    line
}
