//! The forecast crate's integration tests, one binary: ingestion of every
//! input, alignment across years, the models and their evaluation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod align;
mod charging;
mod common;
mod jobs;
mod models;
mod prices;
