//! One module per subcommand. Each returns the process exit code:
//! 0 on success, 2 on invalid input, 3 on an internal failure.

pub mod backtest;
pub mod forecast_eval;
pub mod solve;
pub mod validate;

use std::path::Path;
use std::process::ExitCode;

use arbiter_optimizer::Problem;

/// Exit code for invalid input (every issue is printed).
pub const EXIT_INVALID: u8 = 2;
/// Exit code for an internal failure.
pub const EXIT_INTERNAL: u8 = 3;

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
