//! Arbiter's data side: reading price, charging and job data into plain typed
//! series (polars stays inside this crate), resampling them to the planning
//! interval, and forecasting what the planner cannot know yet.
//!
//! ```
//! use arbiter_forecast::{PriceSource, TimeColumn, read_prices};
//!
//! let source = PriceSource::csv("../fixtures/prices/de_lu_2023-03-26_spring_forward.csv")
//!     .time(TimeColumn::utc("timestamp_utc"))
//!     .price_column("price_per_mwh");
//! let prices = read_prices(&source).expect("a valid file");
//! assert_eq!(prices.series.values.len(), 23); // the spring-forward day has 23 hours
//! assert_eq!(prices.series.step_minutes, 60);
//! ```
#![deny(missing_docs)]

mod align;
mod calendar;
mod charging;
mod error;
mod evaluate;
mod jobs;
mod model;
mod prices;
mod resample;
mod series;
mod table;
mod timestamps;

pub use align::{AlignError, align_by_week, align_with_shift, week_shift_days};
pub use calendar::{DayType, LocalSlot, local_slot};
pub use charging::{
    ChargerRatings, Session, SessionLog, SessionSource, read_metered_load, read_sessions,
    sessions_to_load,
};
pub use error::{IngestError, RowIssue};
pub use evaluate::{
    Accuracy, Choice, EVALUATION_LEVELS, choose, evaluate, pinball, rolling_origins,
};
pub use jobs::{JobKind, QueuedJob, SyntheticQueue, read_jobs};
pub use model::{Forecast, ForecastError, Model, Profile, extend};
pub use prices::{PriceSeries, PriceSource, read_prices};
pub use resample::{Resampling, resample};
pub use series::Series;
pub use timestamps::TimeColumn;
