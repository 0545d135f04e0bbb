//! One module per subcommand. Each returns the process exit code:
//! 0 on success, 2 on invalid input, 3 on an internal failure.

pub mod backtest;
pub mod bench;
mod corpus;
pub mod forecast_eval;
pub mod keys;
pub mod serve;
pub mod solve;
pub mod validate;

use std::path::Path;
use std::process::ExitCode;

use arbiter_optimizer::Problem;

/// Exit code for invalid input (every issue is printed).
pub const EXIT_INVALID: u8 = 2;
/// Exit code for an internal failure.
pub const EXIT_INTERNAL: u8 = 3;

/// Why a command failed: its input (exit 2) or itself (exit 3).
pub enum Failure {
    /// Bad input: a file, an option, a value; the message says which.
    Invalid(String),
    /// Something Arbiter could not do (writing a result, drawing a chart).
    Internal(String),
}

/// A bad-input failure with `error`'s message.
pub fn invalid(error: impl ToString) -> Failure {
    Failure::Invalid(error.to_string())
}

/// The exit code of a command's result, printing the error if any.
pub fn exit(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Invalid(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_INVALID)
        }
        Err(Failure::Internal(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_INTERNAL)
        }
    }
}

/// The instant of `hour`:00 on local `date` in `zone` (the earlier one when
/// the clock shows it twice); an error naming it when it does not exist.
pub fn local_time(
    zone: chrono_tz::Tz,
    date: chrono::NaiveDate,
    hour: u32,
) -> Result<chrono::DateTime<chrono::Utc>, Failure> {
    use chrono::TimeZone;
    date.and_hms_opt(hour, 0, 0)
        .and_then(|wall| zone.from_local_datetime(&wall).earliest())
        .map(|at| at.with_timezone(&chrono::Utc))
        .ok_or_else(|| invalid(format!("{date} {hour:02}:00 does not exist in {zone}")))
}

/// Reads and validates a problem file, printing every issue to stderr when it
/// is not valid.
pub fn load_problem(path: &Path) -> Result<Problem, ExitCode> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("error: cannot read {}: {error}", path.display());
            return Err(ExitCode::from(EXIT_INVALID));
        }
    };
    Problem::from_json(&text).map_err(|errors| {
        eprintln!("error: {}: {errors}", path.display());
        ExitCode::from(EXIT_INVALID)
    })
}
