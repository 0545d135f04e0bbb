//! Backtests over the API: `POST /v1/backtests` checks the request and the
//! stored data it needs, answers 202 with an id, and runs the backtest in
//! the background on the data the service stores (the site's market
//! prices, its metered charging load, its job queue or a synthetic one),
//! exactly as `arbiter backtest` runs it on files. `GET /v1/backtests/{id}`
//! shows its progress, then its report; `…/ledger` serves the ledger as CSV
//! or Parquet.
//!
//! Backtests run one at a time, each on one thread, so live planning keeps
//! the other cores. A service stopped gracefully ends a running backtest at
//! its next replan and keeps what it finished (`interrupted`); one killed
//! marks it `failed` when it starts again.

mod inputs;

pub(crate) use self::inputs::inputs;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arbiter_backtest::{Inputs, Report, SiteConfig, Strategy, ledger, simulate};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::store::StoreError;

/// Why a backtest cannot run as asked.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// A field of the request breaks a rule, or asks for data not stored.
    #[error("{field}: {message}")]
    Field {
        /// The request's field.
        field: String,
        /// The rule, or what is missing.
        message: String,
    },
    /// A stored job of the site's queue cannot be read.
    #[error("stored job {job} is unreadable: {error}")]
    Unreadable {
        /// The job's id.
        job: String,
        /// Why.
        error: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RequestError {
    /// A rule `field` breaks.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> RequestError {
        RequestError::Field {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The longest period one backtest may cover, days.
pub const MAX_PERIOD_DAYS: i64 = 366;

/// A backtest to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestRequest {
    /// A stored site; its current configuration is used.
    pub site: String,
    /// First local day of the period (site zone).
    pub from: NaiveDate,
    /// The local day after the period.
    pub to: NaiveDate,
    /// The strategies to run, of `mpc`, `naive`, `threshold`, `tou`,
    /// `perfect` [default: all five].
    #[serde(default = "all_strategies")]
    #[schema(value_type = Vec<String>, example = json!(["mpc", "naive", "perfect"]))]
    pub strategies: Vec<Strategy>,
    /// Multiplies the stored charging load (a bigger site than the meter's).
    #[serde(default = "one")]
    pub charging_scale: f64,
    /// Replaces the site's stored jobs with a synthetic queue of this seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthetic_jobs_seed: Option<u64>,
}

fn all_strategies() -> Vec<Strategy> {
    vec![
        Strategy::Mpc,
        Strategy::Naive,
        Strategy::Threshold,
        Strategy::Tou,
        Strategy::Perfect,
    ]
}

fn one() -> f64 {
    1.0
}

/// A running backtest's progress, shared with the readers.
#[derive(Debug)]
pub struct Progress {
    /// Intervals simulated, over all strategies.
    pub(crate) done: AtomicUsize,
    /// Intervals to simulate, over all strategies.
    pub(crate) total: usize,
    /// The strategy running.
    pub(crate) strategy: Mutex<&'static str>,
    /// When it started running.
    pub(crate) started: Mutex<Option<Instant>>,
    /// Set to end it at the next replan.
    pub(crate) stop: AtomicBool,
}

impl Progress {
    /// The progress as served.
    pub fn view(&self) -> ProgressView {
        let done = self.done.load(Ordering::Relaxed);
        let fraction = done as f64 / self.total.max(1) as f64;
        let elapsed = self
            .started
            .lock()
            .ok()
            .and_then(|at| at.map(|at| at.elapsed().as_secs_f64()));
        let eta = elapsed
            .filter(|_| done > 0)
            .map(|elapsed| elapsed * (self.total - done.min(self.total)) as f64 / done as f64);
        ProgressView {
            elapsed_seconds: elapsed.map(f64::round),
            eta_seconds: eta.map(f64::round),
            fraction: (fraction * 1000.0).round() / 1000.0,
            intervals_done: done,
            intervals_total: self.total,
            strategy: self
                .strategy
                .lock()
                .map(|s| (*s).to_owned())
                .unwrap_or_default(),
        }
    }
}

/// A running backtest's progress (fields in alphabetical order, as always).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProgressView {
    /// Seconds since it started, whole.
    pub elapsed_seconds: Option<f64>,
    /// Seconds it is expected to need still, whole.
    pub eta_seconds: Option<f64>,
    /// Share of the intervals done, to 0.001.
    pub fraction: f64,
    /// Intervals simulated, over every strategy.
    pub intervals_done: usize,
    /// Intervals to simulate, over every strategy.
    pub intervals_total: usize,
    /// The strategy running now.
    pub strategy: String,
}

/// The running and queued backtests, with the background tasks to wait
/// for at shutdown.
#[derive(Debug)]
pub struct Backtests {
    progress: Mutex<HashMap<String, Arc<Progress>>>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// One backtest runs at a time.
    slot: tokio::sync::Semaphore,
}

impl Backtests {
    /// No backtest running; one may run at a time.
    pub fn new() -> Backtests {
        Backtests {
            progress: Mutex::new(HashMap::new()),
            tasks: Mutex::new(Vec::new()),
            slot: tokio::sync::Semaphore::new(1),
        }
    }

    /// The progress of a running or queued backtest.
    pub(crate) fn progress(&self, id: &str) -> Option<Arc<Progress>> {
        self.progress.lock().ok()?.get(id).cloned()
    }

    /// Runs a stored backtest in the background (after any running one) over
    /// `intervals` intervals per strategy.
    pub(crate) fn start(&self, state: &Arc<AppState>, id: String, job: Job, intervals: usize) {
        let progress = Arc::new(Progress {
            done: AtomicUsize::new(0),
            total: intervals * job.strategies.len(),
            strategy: Mutex::new(""),
            started: Mutex::new(None),
            stop: AtomicBool::new(false),
        });
        if let Ok(mut running) = self.progress.lock() {
            running.insert(id.clone(), Arc::clone(&progress));
        }
        let task = tokio::spawn(run(Arc::clone(state), id, job, progress));
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.retain(|task| !task.is_finished());
            tasks.push(task);
        }
    }

    /// Ends every backtest at its next replan and waits until each has
    /// stored what it finished.
    pub async fn stop_all(&self) {
        if let Ok(progress) = self.progress.lock() {
            for running in progress.values() {
                running.stop.store(true, Ordering::Relaxed);
            }
        }
        let tasks = self
            .tasks
            .lock()
            .map(|mut tasks| std::mem::take(&mut *tasks))
            .unwrap_or_default();
        for task in tasks {
            let _ = task.await;
        }
    }
}

pub(crate) fn rfc(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Where a backtest's ledger and job outcomes are written.
pub(crate) fn folder(state: &AppState, id: &str) -> PathBuf {
    state.config.data_dir.join("backtests").join(id)
}

/// The request's rules that need no stored data; returns the period's
/// instants (local midnights in the site's zone).
pub(crate) fn check(
    config: &SiteConfig,
    request: &BacktestRequest,
) -> Result<(DateTime<Utc>, DateTime<Utc>), RequestError> {
    let midnight = |field: &str, day: NaiveDate| {
        day.and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_local_timezone(config.zone).earliest())
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| {
                RequestError::field(field, format!("{day} has no midnight in {}", config.zone))
            })
    };
    let from = midnight("from", request.from)?;
    let to = midnight("to", request.to)?;
    if request.to <= request.from {
        return Err(RequestError::field(
            "to",
            format!("must be after from ({})", request.from),
        ));
    }
    if (request.to - request.from).num_days() > MAX_PERIOD_DAYS {
        return Err(RequestError::field(
            "to",
            format!("the period may cover {MAX_PERIOD_DAYS} days at most"),
        ));
    }
    if request.strategies.is_empty() {
        return Err(RequestError::field(
            "strategies",
            "name at least one of mpc, naive, threshold, tou, perfect",
        ));
    }
    if !(request.charging_scale.is_finite() && request.charging_scale >= 0.0) {
        return Err(RequestError::field(
            "charging_scale",
            "must be a number ≥ 0",
        ));
    }
    Ok((from, to))
}

/// What a background run needs.
pub(crate) struct Job {
    pub(crate) config: SiteConfig,
    pub(crate) inputs: Inputs,
    pub(crate) from: DateTime<Utc>,
    pub(crate) to: DateTime<Utc>,
    pub(crate) strategies: Vec<Strategy>,
}

/// How often a service says it still runs its backtests, and how far they
/// are.
const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(2);

/// A replica silent this long has stopped: its unfinished backtests are
/// failed (by any replica).
pub const SILENT_RUNNER: chrono::TimeDelta = chrono::TimeDelta::seconds(45);

/// Says every [`HEARTBEAT`] that this service still runs its backtests,
/// and how far each is;
/// on PostgreSQL also fails those of replicas silent for
/// [`SILENT_RUNNER`]. Forever.
pub async fn keep_alive(state: Arc<AppState>, backend: crate::store::Backend) {
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        let now = chrono::Utc::now();
        if let Err(error) = state.store.heartbeat_backtests(&state.replica, now).await {
            tracing::warn!(%error, "cannot record that the backtests still run");
        }
        let running: Vec<(String, ProgressView)> = state
            .backtests
            .progress
            .lock()
            .map(|running| {
                running
                    .iter()
                    .map(|(id, progress)| (id.clone(), progress.view()))
                    .collect()
            })
            .unwrap_or_default();
        for (id, view) in running {
            let Ok(json) = serde_json::to_string(&view) else {
                continue;
            };
            if let Err(error) = state.store.backtest_progress(&id, &json).await {
                tracing::warn!(%error, backtest = id, "cannot record the progress");
            }
        }
        if backend == crate::store::Backend::Postgres {
            match state
                .store
                .fail_unfinished_backtests(now - SILENT_RUNNER)
                .await
            {
                Ok(0) => {}
                Ok(failed) => tracing::warn!(failed, "backtests of a stopped replica failed"),
                Err(error) => tracing::warn!(%error, "cannot look for stopped backtests"),
            }
        }
    }
}

/// Runs a submitted backtest when the slot is free and stores how it ended.
async fn run(state: Arc<AppState>, id: String, job: Job, progress: Arc<Progress>) {
    let permit = state.backtests.slot.acquire().await;
    let outcome = if permit.is_err() || progress.stop.load(Ordering::Relaxed) {
        Err("the service stopped before the backtest started; submit it again".to_owned())
    } else {
        if state.store.start_backtest(&id).await.is_err() {
            tracing::error!(backtest = %id, "could not record the start");
        }
        if let Ok(mut at) = progress.started.lock() {
            *at = Some(Instant::now());
        }
        let out = folder(&state, &id);
        let running = Arc::clone(&progress);
        tokio::task::spawn_blocking(move || execute(&job, &running, &out))
            .await
            .unwrap_or_else(|error| Err(format!("the backtest failed: {error}")))
    };
    // The ledger goes to the database, for every replica to serve, before
    // the backtest is said to be done.
    let outcome = match outcome {
        Ok(done) => keep_ledger(&state, &id).await.map(|()| done),
        Err(error) => Err(error),
    };
    let (status, report, error) = match outcome {
        Ok((report, interrupted)) => (
            if interrupted { "interrupted" } else { "done" },
            serde_json::to_string(&report).ok(),
            None,
        ),
        Err(error) => ("failed", None, Some(error)),
    };
    let finished = state
        .store
        .finish_backtest(&id, status, report.as_deref(), error.as_deref())
        .await;
    if finished.is_err() {
        tracing::error!(backtest = %id, "could not record the end");
    }
    if let Ok(mut running) = state.backtests.progress.lock() {
        running.remove(&id);
    }
}

/// Keeps the ledger files a backtest wrote in the database.
async fn keep_ledger(state: &AppState, id: &str) -> Result<(), String> {
    let out = folder(state, id);
    for name in ["ledger.csv", "ledger.parquet"] {
        let content = tokio::fs::read(out.join(name))
            .await
            .map_err(|error| format!("the ledger cannot be read: {error}"))?;
        state
            .store
            .put_backtest_file(id, name, &content)
            .await
            .map_err(|error| format!("the ledger cannot be kept: {error}"))?;
    }
    Ok(())
}

/// Simulates each strategy in turn and writes the ledger (Parquet and CSV)
/// and the job outcomes; returns the report and whether it was stopped.
fn execute(
    job: &Job,
    progress: &Progress,
    out: &std::path::Path,
) -> Result<(Report, bool), String> {
    let intervals = progress.total / job.strategies.len().max(1);
    let mut runs = Vec::new();
    let mut interrupted = false;
    for (k, &strategy) in job.strategies.iter().enumerate() {
        if progress.stop.load(Ordering::Relaxed) {
            interrupted = true;
            break;
        }
        if let Ok(mut name) = progress.strategy.lock() {
            *name = strategy.name();
        }
        let base = k * intervals;
        let run = simulate(
            &job.config,
            &job.inputs,
            job.from,
            job.to,
            strategy,
            &|done| progress.done.store(base + done, Ordering::Relaxed),
            &progress.stop,
        )
        .map_err(|error| format!("{}: {error}", strategy.name()))?;
        interrupted |= run.interrupted;
        runs.push(run);
        if interrupted {
            break;
        }
    }
    std::fs::create_dir_all(out)
        .map_err(|error| format!("cannot create {}: {error}", out.display()))?;
    let rows: Vec<_> = runs.iter().flat_map(|run| run.rows.iter()).collect();
    ledger::write_parquet(&out.join("ledger.parquet"), &rows)?;
    ledger::write_csv(&out.join("ledger.csv"), &rows)
        .map_err(|error| format!("cannot write the CSV ledger: {error}"))?;
    ledger::write_jobs_csv(&out.join("jobs.csv"), &runs.iter().collect::<Vec<_>>())
        .map_err(|error| format!("cannot write the job outcomes: {error}"))?;
    Ok((
        Report::new(&job.config, &job.inputs, job.from, job.to, &runs),
        interrupted,
    ))
}

impl Default for Backtests {
    fn default() -> Backtests {
        Backtests::new()
    }
}
