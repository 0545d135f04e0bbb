//! The backtest crate's integration tests, one binary: the site file, the
//! dispatch rule and the simulation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dispatch;
mod simulate;
mod site;
