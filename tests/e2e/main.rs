//! End-to-end tests: the `arbiter` binary run on the fixtures, as a user or a
//! site controller runs it (exit codes, stdout, stderr, files).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod backtest;
mod cli;
mod dashboard;
mod fleet;
mod forecast_eval;
mod serve;
mod setup;

#[path = "../support/postgres.rs"]
mod postgres;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `arbiter` binary of this build profile, built once per test run:
/// cargo does not build another package's executable for this one's tests.
/// `--workspace --bins --tests --examples` is the set `cargo test --workspace`
/// builds and resolves features exactly as it does (dev-dependencies
/// included), so nothing is rebuilt but the executable itself; `-p arbiter`
/// alone would rebuild HiGHS, and `--all-targets` would link the benchmarks too.
pub fn binary() -> &'static PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let exe = std::env::current_exe().expect("test binary path");
        let dir = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("target dir")
            .to_path_buf();
        let cargo = option_env!("CARGO").unwrap_or("cargo");
        let mut build = Command::new(cargo);
        build
            .args([
                "build",
                "--quiet",
                "--workspace",
                "--bins",
                "--tests",
                "--examples",
            ])
            .current_dir(root());
        if dir.ends_with("release") {
            build.arg("--release");
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "building the arbiter binary failed");
        dir.join(format!("arbiter{}", std::env::consts::EXE_SUFFIX))
    })
}

/// Runs `arbiter` with `args` from the repository root.
pub fn arbiter(args: &[&str]) -> Output {
    arbiter_with_env(args, &[])
}

/// [`arbiter`] with these environment variables set.
pub fn arbiter_with_env(args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Output {
    Command::new(binary())
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root())
        .output()
        .expect("arbiter runs")
}

/// Standard error as text.
/// A fresh folder for one test's files, removed when dropped.
pub fn temp_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("arbiter-e2e-{name}-"))
        .tempdir()
        .expect("a temp folder")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Standard output as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}
