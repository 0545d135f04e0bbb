//! `arbiter`: plans how a power-constrained site spends its grid connection.

mod commands;
mod plot;
mod serve;

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
    Serve(serve::Args),
    #[command(subcommand)]
    Keys(commands::keys::Command),
    #[command(subcommand)]
    Bench(commands::bench::Command),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Solve(args) => commands::solve::run(&args),
        Command::Validate(args) => commands::validate::run(&args),
        Command::ForecastEval(args) => commands::forecast_eval::run(&args),
        Command::Backtest(args) => commands::backtest::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Keys(command) => commands::keys::run(&command),
        Command::Bench(command) => commands::bench::run(&command),
    }
}
