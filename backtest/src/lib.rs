//! Backtests: replay history through the planner as it would have run,
//! interval by interval, and compare strategies on identical inputs.
//!
//! - [`site`]: the site configuration (TOML), checked key by key;
//! - [`planner`]: the problem a site solves at a decision instant (shared
//!   with the service);
//! - [`simulate`]: the rolling-horizon simulation of a strategy;
//! - [`dispatch`]: how the site settles a plan against actual load;
//! - [`kpi`]: the run's figures, from its ledger;
//! - [`report`]: every strategy's figures side by side, and the share of
//!   perfect foresight's savings captured;
//! - [`ledger`]: writing the ledger.
#![deny(missing_docs)]

pub mod dispatch;
pub mod kpi;
pub mod ledger;
pub mod planner;
pub mod report;
pub mod simulate;
pub mod site;

pub use dispatch::{BatteryLimits, Deferrable, Limits, Setpoint, Settled, defer_for_peak, settle};
pub use kpi::{KW_PER_GPU, Kpis, kpis};
pub use planner::{OpenJob, RecentPrice, ReserveHistory, Snapshot, published_until};
pub use report::{AgainstRule, Report};
pub use simulate::{BacktestError, Inputs, JobOutcome, Oracle, Row, Run, Strategy, simulate};
pub use site::{SiteConfig, SiteError};
