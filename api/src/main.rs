//! `arbiter`: plans how a power-constrained site spends its grid connection.

/// `println!` for the commands' output, without its panic when standard
/// output is closed: a reader that stops early (`arbiter solve … | head`)
/// ends the command quietly with success, as closing a pipe does for other
/// tools; any other write error is reported and ends it with failure.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::stdout::write_line(::std::format_args!($($arg)*))
    };
}

/// [`outln!`] without the newline.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::stdout::write(::std::format_args!($($arg)*))
    };
}

mod commands;
mod plot;
mod stdout;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Arbiter plans battery charge/discharge and compute jobs at an EV
/// fast-charging site against day-ahead prices.
#[derive(Debug, Parser)]
#[command(name = "arbiter", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Solve(commands::solve::Args),
    Validate(commands::validate::Args),
    ForecastEval(commands::forecast_eval::Args),
    Backtest(commands::backtest::Args),
    Serve(commands::serve::Args),
    #[command(subcommand)]
    Keys(commands::keys::Command),
    #[command(subcommand)]
    Bench(commands::bench::Command),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Diagnostics go to stderr, filtered by RUST_LOG (default: warn): the
    // service's failed audit writes and unplanned sites, and with
    // `RUST_LOG=arbiter_backtest=debug` every plan a backtest solves.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    match cli.command {
        Command::Solve(args) => commands::solve::run(&args),
        Command::Validate(args) => commands::validate::run(&args),
        Command::ForecastEval(args) => commands::forecast_eval::run(&args),
        Command::Backtest(args) => commands::backtest::run(&args),
        Command::Serve(args) => commands::serve::run(&args),
        Command::Keys(command) => commands::keys::run(&command),
        Command::Bench(command) => commands::bench::run(&command),
    }
}
