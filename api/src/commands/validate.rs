//! `arbiter validate`: check a problem file without solving it.

use std::path::PathBuf;
use std::process::ExitCode;

/// Check a problem file against every field rule, without solving it.
///
/// Prints every issue found (exit 2), or a one-line summary (exit 0).
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  arbiter validate fixtures/problems/site-day.json")]
pub struct Args {
    /// The problem JSON file.
    problem: PathBuf,
}

/// Runs the command.
pub fn run(args: &Args) -> ExitCode {
    match super::load_problem(&args.problem) {
        Ok(problem) => {
            outln!(
                "{}: valid ({} intervals of {} min from {})",
                problem.site_id(),
                problem.intervals(),
                problem.interval_minutes(),
                problem
                    .start()
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}
