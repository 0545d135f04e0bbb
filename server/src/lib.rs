//! Arbiter's service as a library: the HTTP API that site controllers,
//! traders and analysts call, over one SQLite file.
//!
//! [`serve`] opens the store, starts the planning loop and answers requests
//! on a listener until a shutdown signal; [`app`] is the router alone, for
//! tests and embedding. The `arbiter` binary's `serve` and `keys` commands
//! are a thin CLI over this crate.
//!
//! One SQLite file holds everything ([`store`]); bearer keys with roles
//! guard every `/v1` route ([`auth`]); plans are built from stored data
//! exactly as a backtest builds them ([`planning`]) and published to the
//! latest-plan cache and the event stream.

pub mod auth;
pub mod backtests;
pub mod clock;
pub mod demo;
pub mod error;
pub mod fleet;
pub mod http;
pub mod issue;
pub mod jobs;
pub mod latest;
pub mod metrics;
pub mod outturn;
pub mod planning;
pub mod replicas;
pub mod store;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, broadcast};

use self::auth::Keys;
use self::store::Store;

/// Why the service could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A setting is invalid: the message names it and the rule.
    #[error("{0}")]
    Config(String),
    /// The store could not be opened or read.
    #[error("{database}: {source}")]
    Store {
        /// The database (its URL, any password hidden).
        database: String,
        /// What failed.
        source: store::StoreError,
    },
    /// Serving failed (the listener, the runtime).
    #[error("serving: {0}")]
    Io(#[from] std::io::Error),
}

/// The service's router over `state`: every route, with metrics, the body
/// limit and the request timeout.
pub fn app(state: Arc<AppState>) -> axum::Router {
    http::router(state)
}

/// The service's settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// The service's folder: the SQLite database (unless `database_url`
    /// names another) and backtests' ledgers.
    pub data_dir: PathBuf,
    /// The database: `sqlite://PATH` or `postgres://USER:PASSWORD@HOST:PORT/DB`
    /// [default: the SQLite file `arbiter.sqlite` in `data_dir`].
    pub database_url: Option<String>,
    /// Solves run at the same time at most (each on its own thread).
    pub max_concurrent_solves: usize,
    /// Largest request body accepted, bytes.
    pub max_body_bytes: usize,
    /// A request taking longer is answered 408.
    pub request_timeout_seconds: u64,
    /// Whether every site is planned at each of its replan instants (else
    /// only when a controller asks).
    pub planning_loop: bool,
    /// A simulated clock instead of the wall clock.
    pub clock: Option<clock::ClockConfig>,
    /// Days a plan is kept whole; after them it keeps only the intervals
    /// it was in force for (`trimmed`). None: every plan is kept whole.
    pub plan_retention_days: Option<u32>,
    /// How long a replica's claim on planning a site lasts (wall-clock
    /// seconds): a replica that dies mid-cycle has its sites planned by
    /// another within this time.
    pub planning_lease_seconds: u64,
    /// Whether published plans carry their `explain` part (what energy is
    /// worth in each interval and which limits bind, shown on the
    /// dashboard's site page). It solves one more linear program per plan:
    /// about 10% more solver time on a 144-interval site-day.
    pub explain_plans: bool,
    /// The demo's site, whose controller the service plays
    /// ([`demo::controller`]); set by `arbiter serve --demo`, never read
    /// from a file.
    #[serde(skip)]
    pub demo_controller: Option<String>,
}

impl Default for ServeConfig {
    fn default() -> ServeConfig {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("arbiter-data"),
            database_url: None,
            max_concurrent_solves: std::thread::available_parallelism().map_or(1, usize::from),
            max_body_bytes: 8 << 20,
            request_timeout_seconds: 120,
            planning_loop: true,
            clock: None,
            planning_lease_seconds: 60,
            plan_retention_days: None,
            explain_plans: true,
            demo_controller: None,
        }
    }
}

impl ServeConfig {
    /// The file's settings (or the defaults), then the environment's.
    pub fn load(path: Option<&std::path::Path>) -> Result<ServeConfig, ServeError> {
        Self::read(path).map_err(ServeError::Config)
    }

    fn read(path: Option<&std::path::Path>) -> Result<ServeConfig, String> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
                toml::from_str(&text).map_err(|error| {
                    format!("{}: {}", path.display(), error.to_string().trim_end())
                })?
            }
            None => ServeConfig::default(),
        };
        if let Ok(listen) = std::env::var("ARBITER_LISTEN") {
            config.listen = listen.parse().map_err(|_| {
                format!(
                    "ARBITER_LISTEN ({listen:?}) must be an address and port, e.g. 127.0.0.1:8080"
                )
            })?;
        }
        if let Ok(dir) = std::env::var("ARBITER_DATA_DIR") {
            config.data_dir = PathBuf::from(dir);
        }
        if let Ok(url) = std::env::var("ARBITER_DATABASE_URL") {
            config.database_url = Some(url);
        }
        if let Ok(n) = std::env::var("ARBITER_MAX_CONCURRENT_SOLVES") {
            config.max_concurrent_solves = n.parse().map_err(|_| {
                format!("ARBITER_MAX_CONCURRENT_SOLVES ({n:?}) must be a whole number ≥ 1")
            })?;
        }
        if let Ok(text) = std::env::var("ARBITER_PLANNING_LEASE_SECONDS") {
            config.planning_lease_seconds = text
                .parse()
                .ok()
                .filter(|seconds| *seconds >= 1)
                .ok_or_else(|| {
                    format!("ARBITER_PLANNING_LEASE_SECONDS ({text:?}) must be a whole number ≥ 1")
                })?;
        }
        if let Ok(text) = std::env::var("ARBITER_PLAN_RETENTION_DAYS") {
            config.plan_retention_days =
                Some(text.parse().ok().filter(|days| *days >= 1).ok_or_else(|| {
                    format!("ARBITER_PLAN_RETENTION_DAYS ({text:?}) must be a whole number ≥ 1")
                })?);
        }
        if let Ok(text) = std::env::var("ARBITER_PLANNING_LOOP") {
            config.planning_loop = match text.as_str() {
                "on" | "true" | "1" => true,
                "off" | "false" | "0" => false,
                _ => {
                    return Err(format!(
                        "ARBITER_PLANNING_LOOP ({text:?}) must be on or off"
                    ));
                }
            };
        }
        if let Ok(start) = std::env::var("ARBITER_CLOCK_START") {
            let start = chrono::DateTime::parse_from_rfc3339(&start).map_err(|_| {
                format!("ARBITER_CLOCK_START ({start:?}) must be an RFC 3339 instant")
            })?;
            let speed = match std::env::var("ARBITER_CLOCK_SPEED") {
                Ok(speed) => speed
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .ok_or_else(|| {
                        format!("ARBITER_CLOCK_SPEED ({speed:?}) must be a number ≥ 0")
                    })?,
                Err(_) => 0.0,
            };
            config.clock = Some(clock::ClockConfig {
                start: start.with_timezone(&chrono::Utc),
                speed,
            });
        }
        if let Some(clock) = &config.clock
            && !(clock.speed.is_finite() && clock.speed >= 0.0)
        {
            return Err(format!(
                "clock.speed ({}) must be a number ≥ 0",
                clock.speed
            ));
        }
        if config.max_concurrent_solves == 0 {
            return Err("max_concurrent_solves must be ≥ 1".to_owned());
        }
        Ok(config)
    }

    /// The database the service stores in: `database_url`, or the SQLite
    /// file in `data_dir`.
    pub fn database(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| store::sqlite_url(&self.data_dir.join("arbiter.sqlite")))
    }
}

/// A published plan as served: its version, its entity tag and the JSON
/// document, shared by every reader.
#[derive(Debug)]
pub struct Published {
    /// The site.
    pub site_id: String,
    /// The plan's version.
    pub version: i64,
    /// `"<site>-<version>"`, quoted.
    pub etag: String,
    /// When it was published.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Its first interval's start.
    pub start: chrono::DateTime<chrono::Utc>,
    /// The document.
    pub body: Bytes,
    /// What the fleet summary reads of it.
    pub outline: fleet::Outline,
}

impl Published {
    /// The served form of a stored plan; an error naming what cannot be
    /// read (its document's `start`, its `created_at`), never a made-up time.
    pub fn from_stored(stored: store::StoredPlan) -> Result<Published, String> {
        let named = |what: &str| format!("plan {} v{}: {what}", stored.site_id, stored.version);
        let outline = serde_json::from_str::<fleet::Outline>(&stored.body)
            .map_err(|error| named(&format!("its document cannot be read: {error}")))?;
        let start = outline
            .start
            .ok_or_else(|| named("its document has no readable start"))?;
        let created_at = stored.created_at;
        Ok(Published {
            start,
            etag: format!("\"{}-{}\"", stored.site_id, stored.version),
            created_at,
            site_id: stored.site_id,
            version: stored.version,
            body: stored.body.into(),
            outline,
        })
    }
}

/// What every request handler shares.
#[derive(Debug)]
pub struct AppState {
    /// The database.
    pub store: Arc<Store>,
    /// Key lookups.
    pub keys: Keys,
    /// Bounds the solves running at once.
    pub solves: Semaphore,
    /// Each site's latest plan, held or announced.
    pub latest: latest::LatestPlans,
    /// Every newly published plan.
    pub events: broadcast::Sender<Arc<Published>>,
    /// The settings.
    pub config: ServeConfig,
    /// Request, solve and plan metrics.
    pub metrics: metrics::Metrics,
    /// The wall clock or a simulated one.
    pub clock: clock::Clock,
    /// Backtests submitted over the API.
    pub backtests: backtests::Backtests,
    /// The price model of each market and day.
    pub price_models: planning::PriceModels,
    /// Each site's metered charging as last read for a plan.
    pub charging_histories: planning::ChargingHistories,
    /// Each site's last plan's relaxation basis (this replica's plans).
    pub relaxation_bases: planning::RelaxationBases,
    /// This replica's name in planning claims: random, new at each start.
    pub replica: String,
    /// Whether the simulated clock is shared with the other replicas on
    /// the database (PostgreSQL).
    pub shared_clock: std::sync::atomic::AtomicBool,
}

impl AppState {
    /// The state over an opened store.
    pub fn new(store: Store, config: ServeConfig) -> AppState {
        let (events, _) = broadcast::channel(256);
        AppState {
            store: Arc::new(store),
            keys: Keys::default(),
            solves: Semaphore::new(config.max_concurrent_solves),
            latest: latest::LatestPlans::default(),
            events,
            metrics: metrics::Metrics::default(),
            clock: clock::Clock::new(config.clock.as_ref()),
            backtests: backtests::Backtests::new(),
            price_models: Default::default(),
            charging_histories: Default::default(),
            relaxation_bases: Default::default(),
            replica: format!("replica_{}", auth::random_hex::<6>()),
            shared_clock: Default::default(),
            config,
        }
    }
}

/// Serves on `listener` until `shutdown` resolves: opens the store in
/// `config.data_dir`, marks backtests a previous run left unfinished as
/// failed, loads each site's latest plan, starts the planning loop (when
/// `config.planning_loop`), and answers requests. In-flight requests (and
/// their solves and writes) finish before it returns.
pub async fn serve(
    config: ServeConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let database = config.database();
    let store_error = |source| ServeError::Store {
        database: store::redacted(&database),
        source,
    };
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|error| store_error(store::StoreError::Folder(error)))?;
    let store = Store::connect(&database).await.map_err(store_error)?;
    let backend = store.backend();
    // A backtest runs in the process that received it: on SQLite, one left
    // unfinished died with the last run; on PostgreSQL, with a replica that
    // has been silent for a while.
    let silent_since = match backend {
        store::Backend::Sqlite => chrono::Utc::now() + chrono::TimeDelta::seconds(1),
        store::Backend::Postgres => chrono::Utc::now() - backtests::SILENT_RUNNER,
    };
    let failed = store
        .fail_unfinished_backtests(silent_since)
        .await
        .map_err(store_error)?;
    if failed > 0 {
        tracing::warn!(
            failed,
            "backtests left unfinished by a stopped service marked failed"
        );
    }
    let state = Arc::new(AppState::new(store, config));
    replicas::catch_up(&state).await.map_err(store_error)?;
    if backend == store::Backend::Postgres {
        if let Some((start, speed)) = state.clock.settings() {
            let shared = state
                .store
                .share_clock(start, speed, chrono::Utc::now())
                .await
                .map_err(store_error)?;
            state.clock.adopt(shared.epoch, shared.advanced);
            state
                .shared_clock
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        tokio::spawn(replicas::listen(Arc::clone(&state), database.clone()));
    }
    tokio::spawn(backtests::keep_alive(Arc::clone(&state), backend));
    if state.config.planning_loop {
        tokio::spawn(clock::planning_loop(Arc::clone(&state)));
    }
    if let Some(site) = state.config.demo_controller.clone() {
        tokio::spawn(demo::controller(Arc::clone(&state), site));
    }
    axum::serve(listener, app(Arc::clone(&state)))
        .with_graceful_shutdown(shutdown)
        .await?;
    state.backtests.stop_all().await;
    Ok(())
}

/// How long a solve may wait for a free solver before the request fails.
pub const SOLVE_QUEUE_TIMEOUT: Duration = Duration::from_secs(60);
