//! The service tested in-process: requests go through `app(state)` over a
//! store in a temporary folder, with no process, socket or port, so the
//! whole role × endpoint matrix runs in about a second.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod errors;
mod fleet;
mod idempotency;
mod invalid;
mod jobs;
mod openapi;
mod outturn;
mod plans;
mod prices;
mod readback;
mod roles;
mod sites;

// The service suite needs only a database from the cluster.
#[allow(dead_code)]
#[path = "../../../tests/support/postgres.rs"]
mod postgres;

use std::path::PathBuf;
use std::sync::Arc;

use arbiter_server::auth::{Role, create_key};
use arbiter_server::store::Store;
use arbiter_server::{AppState, ServeConfig, app};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request};
use chrono::{NaiveDate, TimeDelta, TimeZone, Utc};
use serde_json::Value;
use tower::ServiceExt;

/// The repository root (for `fixtures/`).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The service over a fresh store, planning only when asked, with a key of
/// every role: a controller of `np15-hub` and one of another site.
#[derive(Debug)]
pub struct App {
    pub router: Router,
    /// The service's folder, removed when the app is dropped.
    pub dir: tempfile::TempDir,
    /// Its database: a SQLite file in `dir`, or with
    /// `ARBITER_TEST_DATABASE=postgres` a fresh database in the test
    /// process's PostgreSQL cluster.
    pub database: String,
    pub admin: String,
    pub trader: String,
    pub analyst: String,
    pub controller: String,
    pub other_controller: String,
}

/// A response's status, headers and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// The keys of a JSON object body, in the order they were sent.
    pub fn keys(&self) -> Vec<String> {
        serde_json::from_str::<serde_json::Map<String, Value>>(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", self.body))
            .keys()
            .cloned()
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl App {
    /// A service with no sites.
    pub async fn empty(name: &str) -> App {
        App::empty_with(name, |_| ()).await
    }

    /// A service with no sites and the settings `adjust` makes.
    pub async fn empty_with(name: &str, adjust: impl FnOnce(&mut ServeConfig)) -> App {
        let dir = tempfile::Builder::new()
            .prefix(&format!("arbiter-server-{name}-"))
            .tempdir()
            .expect("a temp folder");
        let database = match std::env::var("ARBITER_TEST_DATABASE").as_deref() {
            Ok("postgres") => postgres::Cluster::shared().database(name),
            Ok("sqlite") | Err(_) => {
                arbiter_server::store::sqlite_url(&dir.path().join("arbiter.sqlite"))
            }
            Ok(other) => panic!("ARBITER_TEST_DATABASE ({other:?}) must be sqlite or postgres"),
        };
        let store = Store::connect(&database).await.expect("store");
        let key = async |role, sites: &[&str]| {
            let sites: Vec<String> = sites.iter().map(|s| (*s).to_owned()).collect();
            create_key(&store, role, &sites).await.expect("key").1
        };
        let admin = key(Role::Admin, &[]).await;
        let trader = key(Role::Trader, &[]).await;
        let analyst = key(Role::Analyst, &[]).await;
        let controller = key(Role::Controller, &["np15-hub"]).await;
        let other_controller = key(Role::Controller, &["elsewhere"]).await;
        let mut config = ServeConfig {
            data_dir: dir.path().to_owned(),
            database_url: Some(database.clone()),
            planning_loop: false,
            ..ServeConfig::default()
        };
        adjust(&mut config);
        App {
            router: app(Arc::new(AppState::new(store, config))),
            dir,
            database,
            admin,
            trader,
            analyst,
            controller,
            other_controller,
        }
    }

    /// A service with the demo site and prices for the days around now.
    pub async fn with_demo_site(name: &str) -> App {
        App::with_demo_site_and(name, |_| ()).await
    }

    /// [`App::with_demo_site`] with the settings `adjust` makes.
    pub async fn with_demo_site_and(name: &str, adjust: impl FnOnce(&mut ServeConfig)) -> App {
        let app = App::empty_with(name, adjust).await;
        let created = app
            .call(
                "POST",
                "/v1/sites",
                Some(&app.admin),
                Some(&site_toml()),
                &[("Content-Type", "application/toml")],
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.body);
        for day in days_around_now() {
            let put = app
                .call(
                    "PUT",
                    &format!("/v1/markets/caiso-np15/prices/{day}"),
                    Some(&app.trader),
                    Some(&price_day(day, 40.0)),
                    &[],
                )
                .await;
            assert_eq!(put.status, 201, "{}", put.body);
        }
        app
    }

    /// Runs `statement` on the app's database from a connection of its own
    /// (to corrupt or drop what the service stored).
    pub async fn sql(&self, statement: &str) {
        use sqlx::{Connection, Executor};
        sqlx::any::install_default_drivers();
        let mut connection = sqlx::AnyConnection::connect(&self.database)
            .await
            .expect("the database");
        connection.execute(statement).await.expect(statement);
    }

    /// Asks for the demo site's plan as its controller; it must be made.
    pub async fn plan_demo_site(&self) -> Answer {
        let planned = self
            .call(
                "POST",
                "/v1/sites/np15-hub/plan",
                Some(&self.controller),
                None,
                &[],
            )
            .await;
        assert_eq!(planned.status, 201, "{}", planned.body);
        planned
    }

    /// Sends a request; `token` and `body` are optional, `extra` adds headers.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
        extra: &[(&str, &str)],
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Body::from(body.unwrap_or_default().to_owned()))
            .expect("request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("an answer");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        // An event stream does not end: its headers are the answer.
        let streams = headers
            .get("content-type")
            .is_some_and(|kind| kind.as_bytes().starts_with(b"text/event-stream"));
        let bytes = if streams {
            Default::default()
        } else {
            axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("a body")
        };
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }
}

pub fn site_toml() -> String {
    std::fs::read_to_string(root().join("fixtures/sites/demo.toml")).expect("demo site")
}

/// A day of hourly prices for `day` in Los Angeles: 23, 24 or 25 values.
pub fn price_day(day: NaiveDate, level: f64) -> String {
    let zone = chrono_tz::America::Los_Angeles;
    let midnight = |d: NaiveDate| {
        zone.from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"))
            .earliest()
            .expect("midnight exists")
    };
    let hours = (midnight(day + TimeDelta::days(1)) - midnight(day)).num_hours();
    let prices: Vec<f64> = (0..hours)
        .map(|h| level + if (10..16).contains(&h) { -30.0 } else { 10.0 })
        .collect();
    serde_json::json!({
        "zone": "America/Los_Angeles",
        "currency": "USD",
        "interval_minutes": 60,
        "prices_per_mwh": prices,
    })
    .to_string()
}

/// Local dates in Los Angeles around now.
pub fn days_around_now() -> Vec<NaiveDate> {
    let today = Utc::now()
        .with_timezone(&chrono_tz::America::Los_Angeles)
        .date_naive();
    (-3..=1).map(|d| today + TimeDelta::days(d)).collect()
}

/// The in-process service driven from a plain (synchronous) test: each call
/// runs to its answer on the facade's own runtime. `url` returns the path,
/// so a test reads as it would against a running service.
#[derive(Debug)]
pub struct Blocking {
    pub app: App,
    runtime: tokio::runtime::Runtime,
}

impl Blocking {
    /// [`App::with_demo_site`], on a runtime of its own.
    pub fn with_demo_site(name: &str) -> Blocking {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let app = runtime.block_on(App::with_demo_site(name));
        Blocking { app, runtime }
    }

    /// The path itself: requests go to the router, not to an address.
    pub fn url(&self, path: &str) -> String {
        path.to_owned()
    }

    /// [`App::call`], waited for.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
        extra: &[(&str, &str)],
    ) -> Answer {
        self.runtime
            .block_on(self.app.call(method, path, token, body, extra))
    }
}
