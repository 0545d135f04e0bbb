//! `arbiter serve` over real HTTP on loopback, with a real SQLite file:
//! every resource's happy path, the role × endpoint matrix, invalid
//! payloads, idempotent replays, ETag/304, the event stream, and a restart
//! after `kill -9`.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use chrono::{NaiveDate, TimeDelta, TimeZone, Utc};
use serde_json::Value;

use crate::{binary, root};

/// A running service on a free port, over its own data folder.
pub(crate) struct Service {
    child: Child,
    base: String,
    /// The data folder, removed once the service is dropped (after it is
    /// killed).
    dir: Option<tempfile::TempDir>,
    /// What it printed before it listened.
    said: Vec<String>,
    /// The database it was given, if not its data folder's.
    database_url: Option<String>,
}

impl Service {
    /// Starts the service on `dir`, planning only when asked, and waits
    /// until it listens.
    fn start(dir: tempfile::TempDir) -> Service {
        Service::start_with(dir, &[], &[("ARBITER_PLANNING_LOOP", "off")])
    }

    /// Starts `arbiter serve ARGS` with extra environment.
    pub(crate) fn start_with(
        dir: tempfile::TempDir,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Service {
        let mut child = Command::new(binary())
            .arg("serve")
            .args(args)
            .env("ARBITER_DATA_DIR", dir.path())
            .env("ARBITER_LISTEN", "127.0.0.1:0")
            .envs(env.iter().copied())
            .current_dir(root())
            .stderr(Stdio::piped())
            .spawn()
            .expect("arbiter serve starts");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr"));
        let mut said = Vec::new();
        let base = loop {
            let mut line = String::new();
            if lines.read_line(&mut line).expect("the service writes") == 0 {
                panic!("the service stopped: {said:?}");
            }
            if let Some(address) = line.split("listening on ").nth(1) {
                break address.trim().to_owned();
            }
            said.push(line);
        };
        // Keep draining stderr so the service never blocks on it.
        std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = lines.read_to_string(&mut rest);
        });
        let database_url = args
            .iter()
            .position(|arg| *arg == "--database-url")
            .and_then(|at| args.get(at + 1))
            .map(|url| (*url).to_owned());
        Service {
            child,
            base,
            dir: Some(dir),
            said,
            database_url,
        }
    }

    /// `kill -9`: no chance to finish anything.
    pub(crate) fn kill(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.dir
            .take()
            .expect("a service has its folder until killed")
    }

    /// The database URL it was started with (`--database-url`).
    pub(crate) fn database_url(&self) -> String {
        self.database_url
            .clone()
            .expect("started with --database-url")
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A new key of `role` (for `sites`), made with `arbiter keys create`
    /// on the service's database while it runs.
    pub(crate) fn new_key(&self, role: &str, sites: &[&str]) -> String {
        match (&self.database_url, &self.dir) {
            (Some(url), _) => create_key(&["--database-url", url], role, sites),
            (None, Some(dir)) => create_key(
                &["--data-dir", &dir.path().display().to_string()],
                role,
                sites,
            ),
            (None, None) => panic!("a running service has its folder"),
        }
    }

    /// The key `--demo` printed for `role`.
    pub(crate) fn demo_key(&self, role: &str) -> String {
        self.said
            .iter()
            .find_map(|line| line.trim().strip_prefix(role))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no {role} key in {:?}", self.said))
            .to_owned()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh data folder.
/// A key of `role` (for `sites`) made with `arbiter keys create` on the
/// database `database` names (`--database-url URL` or `--data-dir DIR`).
pub(crate) fn create_key(database: &[&str], role: &str, sites: &[&str]) -> String {
    let output = Command::new(binary())
        .args(["keys", "create", "--role", role])
        .args(database)
        .args(sites.iter().flat_map(|site| ["--site", site]))
        .current_dir(root())
        .output()
        .expect("arbiter keys runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

pub(crate) fn data_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("arbiter-serve-{name}-"))
        .tempdir()
        .expect("a temp folder")
}

/// Creates a key with `arbiter keys create` and returns its token.
fn key(dir: &Path, role: &str, sites: &[&str]) -> String {
    let mut command = Command::new(binary());
    command
        .args(["keys", "create", "--role", role, "--data-dir"])
        .arg(dir);
    for site in sites {
        command.args(["--site", site]);
    }
    let output = command.output().expect("arbiter keys runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert!(token.starts_with("arb_") && token.len() == 68, "{token}");
    token
}

/// A response's status, headers and body.
pub(crate) struct Answer {
    pub(crate) status: u16,
    headers: ureq::http::HeaderMap,
    pub(crate) body: String,
}

impl Answer {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A header's value, owned.
    pub(crate) fn header_value(&self, name: &str) -> Option<String> {
        self.header(name).map(str::to_owned)
    }
}

/// Sends a request; `token` and `body` are optional, `extra` adds headers.
pub(crate) fn call(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<&str>,
    extra: &[(&str, &str)],
) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let request = request
        .body(body.unwrap_or_default().to_owned())
        .expect("request");
    let mut response = agent.run(request).expect("the service answers");
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.body_mut().read_to_string().unwrap_or_default(),
    }
}

pub(crate) fn site_toml() -> String {
    std::fs::read_to_string(root().join("fixtures/sites/demo.toml")).expect("demo site")
}

/// Creates a site from its TOML with an admin's key; it must be created.
pub(crate) fn create_site(service: &Service, admin: &str, toml: &str) {
    let created = call(
        "POST",
        &service.url("/v1/sites"),
        Some(admin),
        Some(toml),
        &[("Content-Type", "application/toml")],
    );
    assert_eq!(created.status, 201, "{}", created.body);
}

/// A day of hourly prices for `day` in Los Angeles: 23, 24 or 25 values.
/// Uploads (as `trader`) the demo market's prices of the days around the
/// simulated clock's start, 2024-10-24 07:00 UTC: the 23rd to the 25th.
pub(crate) fn put_clock_start_prices(service: &Service, trader: &str) {
    for day in ["2024-10-23", "2024-10-24", "2024-10-25"] {
        let day = NaiveDate::parse_from_str(day, "%Y-%m-%d").expect("date");
        let put = call(
            "PUT",
            &service.url(&format!("/v1/markets/caiso-np15/prices/{day}")),
            Some(trader),
            Some(&price_day(day, 40.0)),
            &[],
        );
        assert_eq!(put.status, 201, "{}", put.body);
    }
}

pub(crate) fn price_day(day: NaiveDate, level: f64) -> String {
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
fn days_around_now() -> Vec<NaiveDate> {
    let today = Utc::now()
        .with_timezone(&chrono_tz::America::Los_Angeles)
        .date_naive();
    (-3..=1).map(|d| today + TimeDelta::days(d)).collect()
}

/// A service with the demo site, prices around now, and keys of every role.
struct Demo {
    service: Service,
    admin: String,
    trader: String,
    analyst: String,
    controller: String,
    other_controller: String,
}

fn demo(name: &str) -> Demo {
    let dir = data_dir(name);
    let admin = key(dir.path(), "admin", &[]);
    let trader = key(dir.path(), "trader", &[]);
    let analyst = key(dir.path(), "analyst", &[]);
    let controller = key(dir.path(), "controller", &["np15-hub"]);
    let other_controller = key(dir.path(), "controller", &["elsewhere"]);
    let service = Service::start(dir);
    create_site(&service, &admin, &site_toml());
    for day in days_around_now() {
        let put = call(
            "PUT",
            &service.url(&format!("/v1/markets/caiso-np15/prices/{day}")),
            Some(&trader),
            Some(&price_day(day, 40.0)),
            &[],
        );
        assert_eq!(put.status, 201, "{}", put.body);
    }
    Demo {
        service,
        admin,
        trader,
        analyst,
        controller,
        other_controller,
    }
}

#[test]
fn sites_prices_charging_telemetry_and_plans_round_trip() {
    let demo = demo("round-trip");
    let s = &demo.service;

    // The site, as JSON and as TOML.
    let site = call(
        "GET",
        &s.url("/v1/sites/np15-hub"),
        Some(&demo.trader),
        None,
        &[],
    );
    assert_eq!(site.status, 200);
    let site = site.json();
    assert_eq!(site["revision"], 1);
    assert_eq!(site["config"]["battery"]["soc_max_kwh"], 7800.0);
    assert_eq!(site["config"]["market"]["id"], "caiso-np15");
    let toml = call(
        "GET",
        &s.url("/v1/sites/np15-hub"),
        Some(&demo.trader),
        None,
        &[("Accept", "application/toml")],
    );
    assert_eq!(toml.header("content-type"), Some("application/toml"));
    assert!(toml.body.contains("id = \"np15-hub\""), "{}", toml.body);
    let listed = call("GET", &s.url("/v1/sites"), Some(&demo.analyst), None, &[]).json();
    assert_eq!(listed["sites"].as_array().map(Vec::len), Some(1));

    // Prices: the same upload again changes nothing; a correction is a
    // new revision and the old one is kept.
    let day = days_around_now()[0];
    let url = s.url(&format!("/v1/markets/caiso-np15/prices/{day}"));
    let again = call(
        "PUT",
        &url,
        Some(&demo.trader),
        Some(&price_day(day, 40.0)),
        &[],
    );
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["changed"], false);
    assert_eq!(again.json()["revision"], 1);
    let corrected = call(
        "PUT",
        &url,
        Some(&demo.trader),
        Some(&price_day(day, 45.0)),
        &[],
    );
    assert_eq!(corrected.status, 200);
    assert_eq!(corrected.json()["revision"], 2);
    let revisions = call("GET", &url, Some(&demo.analyst), None, &[]).json();
    let revisions = revisions["revisions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(revisions.len(), 2);
    assert_eq!(revisions[0]["prices_per_mwh"][0], 50.0);
    assert_eq!(revisions[1]["prices_per_mwh"][0], 55.0);
    let csv = call(
        "GET",
        &s.url(&format!(
            "/v1/markets/caiso-np15/prices?from={day}&to={day}"
        )),
        Some(&demo.trader),
        None,
        &[("Accept", "text/csv")],
    );
    assert!(
        csv.body
            .starts_with("timestamp_utc,price_per_mwh,day,revision\n")
    );
    assert!(
        csv.body
            .lines()
            .nth(1)
            .is_some_and(|l| l.ends_with(&format!(",55,{day},2"))),
        "{}",
        csv.body
    );

    // Charging history: a day of 15-minute readings before now.
    let now = Utc::now();
    let start = now - TimeDelta::days(2);
    let start = start - TimeDelta::seconds(start.timestamp().rem_euclid(900));
    let readings: Vec<Value> = (0..192)
        .map(|i| {
            let at = start + TimeDelta::minutes(15 * i);
            serde_json::json!({ "timestamp_utc": at.to_rfc3339(), "kw": if i % 4 == 0 { 600.0 } else { 200.0 } })
        })
        .collect();
    let charging = call(
        "PUT",
        &s.url("/v1/sites/np15-hub/charging"),
        Some(&demo.controller),
        Some(&serde_json::json!({ "readings": readings }).to_string()),
        &[],
    );
    assert_eq!(charging.status, 200, "{}", charging.body);
    assert_eq!(charging.json()["stored"], 192);

    // The controller's hourly call, with telemetry inline.
    let body = serde_json::json!({
        "telemetry": { "at": (now - TimeDelta::minutes(1)).to_rfc3339(), "soc_kwh": 5000.0, "meter_kw": 900.0 }
    })
    .to_string();
    let plan = call(
        "POST",
        &s.url("/v1/sites/np15-hub/plan"),
        Some(&demo.controller),
        Some(&body),
        &[("Idempotency-Key", "hour-1")],
    );
    assert_eq!(plan.status, 201, "{}", plan.body);
    let etag = plan.header("etag").map(str::to_owned);
    assert_eq!(etag.as_deref(), Some("\"np15-hub-1\""));
    let document = plan.json();
    assert_eq!(document["version"], 1);
    assert_eq!(document["plan"]["status"], "optimal");
    assert_eq!(
        document["plan"]["intervals"].as_array().map(Vec::len),
        Some(144)
    );
    assert_eq!(document["basis"]["market"], "caiso-np15");
    assert_eq!(document["basis"]["month_peak_kw"], 900.0);
    // The readings repeat hourly, the same at each time of day on both
    // days: no charging ran above its usual level, so no reserve is kept.
    assert_eq!(document["basis"]["peak_reserve_kwh"], Value::Null);
    assert_eq!(document["basis"]["site_revision"], 1);
    assert_eq!(document["basis"]["price_revisions"][day.to_string()], 2);
    // The battery starts from the reported energy.
    let first = &document["plan"]["intervals"][0];
    let soc = first["soc_kwh"].as_f64().unwrap_or_default();
    let moved = (first["charge_kw"].as_f64().unwrap_or_default() * 0.95
        - first["discharge_kw"].as_f64().unwrap_or_default() / 0.95)
        * 0.25;
    assert!(
        (soc - 5000.0 - moved).abs() < 1e-3,
        "{soc} vs 5000 + {moved}"
    );
    assert!(
        document["warnings"].as_array().is_some_and(Vec::is_empty),
        "{}",
        document["warnings"]
    );

    // A replay gets the same answer without a new plan; another body with
    // the same key is refused.
    let replay = call(
        "POST",
        &s.url("/v1/sites/np15-hub/plan"),
        Some(&demo.controller),
        Some(&body),
        &[("Idempotency-Key", "hour-1")],
    );
    assert_eq!(replay.status, 201);
    assert_eq!(replay.header("idempotent-replay"), Some("true"));
    assert_eq!(replay.body, plan.body);
    let reused = call(
        "POST",
        &s.url("/v1/sites/np15-hub/plan"),
        Some(&demo.controller),
        Some("{}"),
        &[("Idempotency-Key", "hour-1")],
    );
    assert_eq!(reused.status, 409, "{}", reused.body);

    // Latest, with its ETag; 304 when unchanged.
    let latest = call(
        "GET",
        &s.url("/v1/sites/np15-hub/plans/latest"),
        Some(&demo.trader),
        None,
        &[],
    );
    assert_eq!(latest.status, 200);
    assert_eq!(latest.body, plan.body);
    let unchanged = call(
        "GET",
        &s.url("/v1/sites/np15-hub/plans/latest"),
        Some(&demo.trader),
        None,
        &[("If-None-Match", "\"np15-hub-1\"")],
    );
    assert_eq!(unchanged.status, 304);
    assert!(unchanged.body.is_empty());

    // A second plan: the first is its stability reference.
    let second = call(
        "POST",
        &s.url("/v1/sites/np15-hub/plan"),
        Some(&demo.controller),
        None,
        &[],
    );
    assert_eq!(second.status, 201, "{}", second.body);
    assert_eq!(second.json()["basis"]["previous_version"], 1);
    let changed = call(
        "GET",
        &s.url("/v1/sites/np15-hub/plans/latest"),
        Some(&demo.trader),
        None,
        &[("If-None-Match", "\"np15-hub-1\"")],
    );
    assert_eq!(changed.status, 200);
    assert_eq!(changed.header("etag"), Some("\"np15-hub-2\""));
    let one = call(
        "GET",
        &s.url("/v1/sites/np15-hub/plans/1"),
        Some(&demo.trader),
        None,
        &[],
    );
    assert_eq!(one.body, plan.body);
    let history = call(
        "GET",
        &s.url("/v1/sites/np15-hub/plans"),
        Some(&demo.analyst),
        None,
        &[],
    )
    .json();
    let versions: Vec<i64> = history["plans"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["version"].as_i64())
        .collect();
    assert_eq!(versions, vec![1, 2]);
    let csv = call(
        "GET",
        &s.url("/v1/sites/np15-hub/plans"),
        Some(&demo.analyst),
        None,
        &[("Accept", "text/csv")],
    );
    assert_eq!(csv.body.lines().count(), 1 + 2 * 144);

    // Metrics: plans by status, last-plan age, requests by route (the
    // replay was answered too, without a plan).
    let metrics = call("GET", &s.url("/metrics"), None, None, &[]);
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .body
            .contains("arbiter_plans_published_total{status=\"optimal\"} 2\n"),
        "{}",
        metrics.body
    );
    assert!(
        metrics
            .body
            .contains("arbiter_last_plan_age_seconds{site=\"np15-hub\"} "),
        "{}",
        metrics.body
    );
    assert!(
        metrics
            .body
            .contains("arbiter_solve_duration_seconds_count 2\n"),
        "{}",
        metrics.body
    );
    assert!(
        metrics.body.contains(
            "arbiter_http_requests_total{method=\"POST\",route=\"/v1/sites/{site}/plan\",status=\"201\"} 3\n"
        ),
        "{}",
        metrics.body
    );

    // Every write was audited, with its key.
    let audit = call("GET", &s.url("/v1/audit"), Some(&demo.admin), None, &[]).json();
    let paths: Vec<String> = audit["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            format!(
                "{} {} {}",
                e["method"].as_str().unwrap_or(""),
                e["path"].as_str().unwrap_or(""),
                e["status"]
            )
        })
        .collect();
    assert!(
        paths.contains(&"POST /v1/sites 201".to_owned()),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"PUT /v1/sites/np15-hub/charging 200".to_owned()),
        "{paths:?}"
    );
    assert_eq!(
        paths
            .iter()
            .filter(|p| *p == "POST /v1/sites/np15-hub/plan 201")
            .count(),
        2,
        "{paths:?}"
    );
    // A refused write is recorded too (the key reused with another body);
    // the idempotent replay is not.
    assert!(
        paths.contains(&"POST /v1/sites/np15-hub/plan 409".to_owned()),
        "{paths:?}"
    );
}

#[test]
fn a_killed_service_restarts_with_every_acknowledged_write() {
    let demo = demo("restart");
    let plan = call(
        "POST",
        &demo.service.url("/v1/sites/np15-hub/plan"),
        Some(&demo.controller),
        None,
        &[],
    );
    assert_eq!(plan.status, 201);
    let Demo {
        service,
        trader,
        admin,
        ..
    } = demo;
    let dir = service.kill();
    let service = Service::start(dir);
    let latest = call(
        "GET",
        &service.url("/v1/sites/np15-hub/plans/latest"),
        Some(&trader),
        None,
        &[],
    );
    assert_eq!(latest.status, 200);
    assert_eq!(latest.body, plan.body);
    let site = call(
        "GET",
        &service.url("/v1/sites/np15-hub"),
        Some(&admin),
        None,
        &[],
    );
    assert_eq!(site.status, 200);
    let days = days_around_now();
    let prices = call(
        "GET",
        &service.url(&format!(
            "/v1/markets/caiso-np15/prices?from={}&to={}",
            days[0], days[4]
        )),
        Some(&trader),
        None,
        &[],
    )
    .json();
    assert_eq!(prices["days"].as_array().map(Vec::len), Some(5));
}

#[test]
fn the_stream_delivers_a_published_plan() {
    let demo = demo("stream");
    let url = demo.service.url("/v1/sites/np15-hub/plans/stream");
    let token = demo.trader.clone();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let response = agent
            .get(&url)
            .header("Authorization", format!("Bearer {token}"))
            .call()
            .expect("the stream opens");
        let _ = sender.send(format!("status {}", response.status().as_u16()));
        let reader = BufReader::new(response.into_body().into_reader());
        for line in reader.lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let wait = std::time::Duration::from_secs(30);
    assert_eq!(
        receiver.recv_timeout(wait).ok().as_deref(),
        Some("status 200")
    );
    // The subscription is live once the status is out; publish a plan.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let plan = call(
        "POST",
        &demo.service.url("/v1/sites/np15-hub/plan"),
        Some(&demo.controller),
        None,
        &[],
    );
    assert_eq!(plan.status, 201);
    let mut lines = Vec::new();
    while let Ok(line) = receiver.recv_timeout(wait) {
        let done = line.starts_with("data:");
        lines.push(line);
        if done {
            break;
        }
    }
    assert!(lines.contains(&"event: plan".to_owned()), "{lines:?}");
    assert!(lines.contains(&"id: 1".to_owned()), "{lines:?}");
    let data = lines
        .last()
        .and_then(|l| l.strip_prefix("data:"))
        .unwrap_or_default()
        .trim();
    assert_eq!(data, plan.body);
}

#[test]
fn jobs_are_queued_planned_tracked_and_cancelled() {
    let demo = demo("jobs");
    let s = &demo.service;
    let url = s.url("/v1/sites/np15-hub/jobs");
    let deadline = (Utc::now() + TimeDelta::hours(8)).to_rfc3339();
    let train = serde_json::json!({
        "id": "train-42", "energy_kwh": 600.0, "deadline": deadline, "kind": "preemptible",
        "min_kw": 100.0, "max_kw": 300.0, "value_per_mwh": 50.0
    })
    .to_string();
    let render = serde_json::json!({
        "id": "render-7", "energy_kwh": 200.0, "deadline": deadline, "kind": "block", "power_kw": 200.0
    })
    .to_string();
    let submitted = call("POST", &url, Some(&demo.controller), Some(&train), &[]);
    assert_eq!(submitted.status, 201, "{}", submitted.body);
    assert_eq!(
        submitted.header("location"),
        Some("/v1/sites/np15-hub/jobs/train-42")
    );
    assert_eq!(submitted.json()["status"], "open");
    assert_eq!(
        call("POST", &url, Some(&demo.controller), Some(&render), &[]).status,
        201
    );
    let again = call("POST", &url, Some(&demo.controller), Some(&train), &[]);
    assert_eq!(again.status, 409);
    assert_eq!(
        again.json()["detail"],
        "site np15-hub already has a job train-42"
    );

    // Broken jobs are refused with every rule named.
    let bad = serde_json::json!({
        "id": "bad job", "energy_kwh": 0.0, "deadline": "2020-01-01T00:00:00Z", "kind": "block",
        "power_kw": 5000.0, "max_kw": 10.0
    })
    .to_string();
    let refused = call("POST", &url, Some(&demo.controller), Some(&bad), &[]);
    assert_eq!(refused.status, 422, "{}", refused.body);
    let fields: Vec<String> = refused.json()["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["field"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        fields,
        ["id", "energy_kwh", "deadline", "power_kw", "max_kw"]
    );

    // An id of 5,000 characters is quoted briefly, the field and rule named.
    let long = "x".repeat(5000);
    let bad = serde_json::json!({
        "id": format!("{long} y"), "energy_kwh": 10.0, "deadline": "2030-01-01T00:00:00Z",
        "kind": "preemptible", "min_kw": 10.0, "max_kw": 100.0
    })
    .to_string();
    let refused = call("POST", &url, Some(&demo.controller), Some(&bad), &[]);
    assert_eq!(refused.status, 422, "{}", refused.body);
    let answer = refused.json();
    let quoted = format!("\"{}\"…", "x".repeat(64));
    assert_eq!(
        answer["errors"][0]["message"],
        format!("({quoted}) must be 1 to 64 letters, digits, '.', '_' or '-'")
    );
    assert!(refused.body.len() < 1000, "{}", refused.body);
    // A parser's message quotes the value it could not read, briefly too.
    let bad =
        serde_json::json!({ "id": "j", "energy_kwh": long, "deadline": "2030-01-01T00:00:00Z",
        "kind": "preemptible", "min_kw": 10.0, "max_kw": 100.0 })
        .to_string();
    let refused = call("POST", &url, Some(&demo.controller), Some(&bad), &[]);
    assert!(
        refused.status == 400 || refused.status == 422,
        "{}",
        refused.body
    );
    assert!(refused.body.len() < 1000, "{}", refused.body);
    assert!(refused.body.contains("energy_kwh"), "{}", refused.body);

    // Progress: the first job has had 150 kWh.
    let progress = call(
        "PATCH",
        &s.url("/v1/sites/np15-hub/jobs/train-42"),
        Some(&demo.controller),
        Some(r#"{"delivered_kwh":150}"#),
        &[],
    );
    assert_eq!(progress.status, 200, "{}", progress.body);
    assert_eq!(progress.json()["delivered_kwh"], 150.0);
    let backwards = call(
        "PATCH",
        &s.url("/v1/sites/np15-hub/jobs/train-42"),
        Some(&demo.controller),
        Some(r#"{"delivered_kwh":100}"#),
        &[],
    );
    assert_eq!(backwards.status, 422);

    // The plan schedules both, the first for what it still needs.
    let plan = call(
        "POST",
        &s.url("/v1/sites/np15-hub/plan"),
        Some(&demo.controller),
        None,
        &[],
    );
    assert_eq!(plan.status, 201, "{}", plan.body);
    let plan = plan.json();
    assert_eq!(plan["basis"]["jobs"]["train-42"], 150.0);
    assert_eq!(plan["basis"]["jobs"]["render-7"], 0.0);
    let summaries = plan["plan"]["jobs"].as_array().cloned().unwrap_or_default();
    let delivered = |id: &str| {
        summaries
            .iter()
            .find(|j| j["id"] == id)
            .and_then(|j| j["delivered_kwh"].as_f64())
            .unwrap_or(-1.0)
    };
    assert!(
        (delivered("train-42") - 450.0).abs() < 1e-3,
        "{summaries:?}"
    );
    assert!(
        (delivered("render-7") - 200.0).abs() < 1e-3,
        "{summaries:?}"
    );

    // Cancelled, it is no longer planned.
    let cancelled = call(
        "DELETE",
        &s.url("/v1/sites/np15-hub/jobs/render-7"),
        Some(&demo.controller),
        None,
        &[],
    );
    assert_eq!(cancelled.status, 200);
    assert_eq!(cancelled.json()["status"], "cancelled");
    let plan = call(
        "POST",
        &s.url("/v1/sites/np15-hub/plan"),
        Some(&demo.controller),
        None,
        &[],
    )
    .json();
    let ids: Vec<&str> = plan["plan"]["jobs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|j| j["id"].as_str())
        .collect();
    assert_eq!(ids, ["train-42"]);
    let listed = call("GET", &url, Some(&demo.trader), None, &[]).json();
    let statuses: Vec<String> = listed["jobs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|j| {
            format!(
                "{}={}",
                j["id"].as_str().unwrap_or(""),
                j["status"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(statuses, ["train-42=open", "render-7=cancelled"]);
    assert_eq!(
        call("GET", &url, Some(&demo.other_controller), None, &[]).status,
        403
    );
    assert_eq!(
        call("POST", &url, Some(&demo.trader), Some(&train), &[]).status,
        403
    );
}

#[test]
fn the_planning_loop_publishes_at_each_replan_instant_of_a_simulated_clock() {
    let dir = data_dir("loop");
    let admin = key(dir.path(), "admin", &[]);
    let trader = key(dir.path(), "trader", &[]);
    let service = Service::start_with(
        dir,
        &[],
        &[
            ("ARBITER_PLANNING_LOOP", "on"),
            ("ARBITER_CLOCK_START", "2024-10-24T07:00:00Z"),
            ("ARBITER_CLOCK_SPEED", "0"),
        ],
    );
    let s = &service;
    create_site(s, &admin, &site_toml());
    put_clock_start_prices(s, &trader);
    let clock = call("GET", &s.url("/v1/clock"), Some(&trader), None, &[]).json();
    assert_eq!(clock["now"], "2024-10-24T07:00:00.000Z");
    assert_eq!(clock["simulated"], true);
    let advance = |minutes: i64| {
        let moved = call(
            "POST",
            &s.url("/v1/clock"),
            Some(&admin),
            Some(&format!("{{\"minutes\":{minutes}}}")),
            &[],
        );
        assert_eq!(moved.status, 200, "{}", moved.body);
        moved.json()["now"].as_str().unwrap_or_default().to_owned()
    };
    // Waits for plan `version` (the loop runs on its own task).
    let wait_for = |version: i64| -> Value {
        for _ in 0..300 {
            let latest = call(
                "GET",
                &s.url("/v1/sites/np15-hub/plans/latest"),
                Some(&trader),
                None,
                &[],
            );
            if latest.status == 200 && latest.json()["version"] == version {
                return latest.json();
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("plan {version} was not published");
    };

    assert_eq!(advance(1), "2024-10-24T07:01:00.000Z");
    let first = wait_for(1);
    assert_eq!(first["start"], "2024-10-24T07:00:00Z");
    // 00:01 in Los Angeles: the 24th's prices are out (published at 13:00
    // the day before); the 25th's come at 13:00 today.
    assert_eq!(
        first["basis"]["prices_published_until"],
        "2024-10-25T07:00:00Z"
    );

    // Within the hour: no new plan.
    assert_eq!(advance(30), "2024-10-24T07:31:00.000Z");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let same = call(
        "GET",
        &s.url("/v1/sites/np15-hub/plans/latest"),
        Some(&trader),
        None,
        &[],
    )
    .json();
    assert_eq!(same["version"], 1);

    // The next hour: the next plan, from 08:00, on the first as reference.
    assert_eq!(advance(30), "2024-10-24T08:01:00.000Z");
    let second = wait_for(2);
    assert_eq!(second["start"], "2024-10-24T08:00:00Z");
    assert_eq!(second["basis"]["previous_version"], 1);
    assert_eq!(
        second["plan"]["intervals"][0]["start"],
        "2024-10-24T08:00:00Z"
    );
}

#[test]
fn the_demo_plans_the_fixture_site_with_its_jobs() {
    let dir = data_dir("demo");
    let service = Service::start_with(dir, &["--demo"], &[]);
    let token = service
        .said
        .iter()
        .find_map(|line| line.trim().strip_prefix("trader"))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a trader key")
        .to_owned();
    let mut plan = Value::Null;
    for _ in 0..300 {
        let latest = call(
            "GET",
            &service.url("/v1/sites/np15-hub/plans/latest"),
            Some(&token),
            None,
            &[],
        );
        if latest.status == 200 {
            plan = latest.json();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(plan["start"], "2024-10-24T07:00:00Z", "{plan}");
    assert_eq!(plan["plan"]["status"], "optimal");
    assert_eq!(plan["basis"]["charging_until"], "2024-10-24T06:45:00Z");
    assert_eq!(plan["basis"]["telemetry_at"], "2024-10-24T07:00:00Z");
    // The reserve sized from the demo's days of Broxden meter readings,
    // kept above the battery's minimum at every boundary.
    let reserve = plan["basis"]["peak_reserve_kwh"].as_f64().unwrap();
    assert!(reserve > 0.0 && reserve <= 7800.0 - 390.0, "{reserve}");
    assert_eq!(
        plan["basis"]["prices_published_until"],
        "2024-10-25T07:00:00Z"
    );
    assert!(
        plan["warnings"].as_array().is_some_and(Vec::is_empty),
        "{}",
        plan["warnings"]
    );
    let jobs = plan["basis"]["jobs"]
        .as_object()
        .map(|jobs| jobs.len())
        .unwrap_or(0);
    assert!(jobs >= 1, "{plan}");
    // Every seeded job fits before its deadline, so none falls short.
    for job in plan["plan"]["jobs"].as_array().into_iter().flatten() {
        assert!(job["shortfall_kwh"].as_f64().unwrap_or(1.0) < 1e-6, "{job}");
    }
    assert_published_precision(&plan);
}

/// Every number of a published plan document carries at most its stated
/// decimals (power and energy 3; money 4, the costs and the `explain` part;
/// `mip_gap` 8; seconds 6; prices as given) and none is a residue: a number
/// is 0 or at least its last decimal.
fn assert_published_precision(document: &Value) {
    fn decimals(key: &str) -> Option<i32> {
        match key {
            "price_per_mwh" => None,
            "mip_gap" => Some(8),
            "solve_seconds" => Some(6),
            "objective" => Some(4),
            _ => Some(3),
        }
    }
    fn walk(value: &Value, key: &str, money: bool, path: &str) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    let in_costs = money || k == "costs" || k == "explain";
                    // Inside `jobs` maps the keys are job ids: their values are kW.
                    let key = if key == "jobs" && v.is_number() {
                        "kw"
                    } else {
                        k
                    };
                    walk(v, key, in_costs, &format!("{path}.{k}"));
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(v, key, money, &format!("{path}[{i}]"));
                }
            }
            Value::Number(number) => {
                let Some(x) = number.as_f64() else { return };
                let places = if money { Some(4) } else { decimals(key) };
                let Some(places) = places else { return };
                let scaled = x * 10f64.powi(places);
                assert!(
                    (scaled - scaled.round()).abs() < 1e-6,
                    "{path} = {x} has more than {places} decimals"
                );
            }
            _ => {}
        }
    }
    walk(&document["plan"], "", false, "plan");
    walk(&document["basis"], "", false, "basis");
}

/// The token of `role` the demo printed.
fn demo_token(service: &Service, role: &str) -> String {
    service
        .said
        .iter()
        .find_map(|line| line.trim().strip_prefix(role))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("a {role} key in {:?}", service.said))
        .to_owned()
}

/// Polls a backtest until it ends; returns its document.
pub(crate) fn finished_backtest(service: &Service, token: &str, id: &str) -> Value {
    for _ in 0..1200 {
        let document = call(
            "GET",
            &service.url(&format!("/v1/backtests/{id}")),
            Some(token),
            None,
            &[],
        )
        .json();
        match document["status"].as_str() {
            Some("queued" | "running") => {
                if let Some(fraction) = document["progress"]["fraction"].as_f64() {
                    assert!((0.0..=1.0).contains(&fraction), "{document}");
                }
            }
            _ => return document,
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    panic!("backtest {id} did not end in 300 s");
}

#[test]
fn a_backtest_runs_over_the_api_on_stored_data_and_survives_a_restart() {
    let dir = data_dir("backtest");
    let service = Service::start_with(dir, &["--demo"], &[("ARBITER_PLANNING_LOOP", "off")]);
    let analyst = demo_token(&service, "analyst");
    let url = service.url("/v1/backtests");
    let request = r#"{"site":"np15-hub","from":"2024-10-24","to":"2024-10-25",
        "strategies":["naive","mpc","perfect"]}"#;
    let accepted = call("POST", &url, Some(&analyst), Some(request), &[]);
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let id = accepted.json()["id"].as_str().expect("an id").to_owned();
    assert_eq!(
        accepted.header("location"),
        Some(format!("/v1/backtests/{id}").as_str())
    );
    assert_eq!(accepted.json()["status"], "queued");

    let done = finished_backtest(&service, &analyst, &id);
    assert_eq!(done["status"], "done", "{done}");
    let report = &done["report"];
    let strategies = report["strategies"].as_object().expect("strategies");
    assert_eq!(
        strategies.keys().collect::<Vec<_>>(),
        ["mpc", "naive", "perfect"]
    );
    for kpis in strategies.values() {
        assert_eq!(kpis["intervals"], 96, "{kpis}");
        assert_eq!(kpis["unserved_kwh"], 0.0, "{kpis}");
    }
    let net = |name: &str| {
        report["strategies"][name]["net_cost"]
            .as_f64()
            .unwrap_or(0.0)
    };
    let captured = report["savings_captured"].as_f64().expect("a share");
    let spread = net("naive") - net("perfect");
    let expected = (net("naive") - net("mpc")) / spread;
    // Net costs are published to 0.0001 (each within 0.00005 of the exact
    // value the share is computed from).
    assert!(
        (captured - expected).abs() <= 2e-4 / spread.abs(),
        "{captured} vs {expected}"
    );
    assert!(net("mpc") < net("naive"), "{report}");
    // The queue is the site's stored jobs.
    let jobs = call(
        "GET",
        &service.url("/v1/sites/np15-hub/jobs"),
        Some(&analyst),
        None,
        &[],
    )
    .json();
    assert_eq!(
        report["jobs"].as_u64(),
        jobs["jobs"].as_array().map(|jobs| jobs.len() as u64)
    );

    // The ledger: every strategy's interval costs add up to its energy cost.
    let ledger = call(
        "GET",
        &service.url(&format!("/v1/backtests/{id}/ledger")),
        Some(&analyst),
        None,
        &[],
    );
    assert_eq!(ledger.status, 200);
    assert_eq!(ledger.header("content-type"), Some("text/csv"));
    let mut lines = ledger.body.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).expect(name);
    let (strategy, cost) = (column("strategy"), column("cost"));
    let mut sums = std::collections::BTreeMap::<String, (usize, f64)>::new();
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        let entry = sums.entry(fields[strategy].to_owned()).or_default();
        entry.0 += 1;
        entry.1 += fields[cost].parse::<f64>().expect("a cost");
    }
    for (name, (rows, total)) in &sums {
        assert_eq!(*rows, 96, "{name}");
        let energy = report["strategies"][name]["energy_cost"]
            .as_f64()
            .expect("energy cost");
        // Each row's cost and the KPI are published to 0.0001.
        let bound = f64::from(96u8) * 0.00005 + 0.00005;
        assert!(
            (total - energy).abs() <= bound,
            "{name}: {total} vs {energy}"
        );
    }
    let parquet = call(
        "GET",
        &service.url(&format!("/v1/backtests/{id}/ledger?format=parquet")),
        Some(&analyst),
        None,
        &[],
    );
    assert_eq!(
        parquet.header("content-type"),
        Some("application/vnd.apache.parquet")
    );
    let bad_format = call(
        "GET",
        &service.url(&format!("/v1/backtests/{id}/ledger?format=xls")),
        Some(&analyst),
        None,
        &[],
    );
    assert_eq!(bad_format.status, 422);
    assert_eq!(
        bad_format.json()["detail"],
        "format: \"xls\" is not a ledger format; use csv or parquet"
    );

    // Requests the stored data cannot serve name the field.
    for (body, detail) in [
        (
            r#"{"site":"nowhere","from":"2024-10-24","to":"2024-10-25"}"#,
            "site: no site nowhere is stored",
        ),
        (
            r#"{"site":"np15-hub","from":"2024-10-24","to":"2024-10-24"}"#,
            "to: must be after from (2024-10-24)",
        ),
        (
            r#"{"site":"np15-hub","from":"2024-10-24","to":"2024-10-25","strategies":[]}"#,
            "strategies: name at least one of mpc, naive, threshold, tou, perfect",
        ),
        (
            r#"{"site":"np15-hub","from":"2024-10-24","to":"2024-10-25","charging_scale":-1}"#,
            "charging_scale: must be a number ≥ 0",
        ),
        (
            r#"{"site":"np15-hub","from":"2024-10-10","to":"2024-10-25"}"#,
            "from: prices of caiso-np15 are stored without a gap from 2024-10-21T07:00:00Z",
        ),
        (
            r#"{"site":"np15-hub","from":"2024-10-21","to":"2024-10-25"}"#,
            "from: the metered charging load of site np15-hub starts at 2024-10-22T07:00:00Z",
        ),
    ] {
        let refused = call("POST", &url, Some(&analyst), Some(body), &[]);
        assert_eq!(refused.status, 422, "{}", refused.body);
        let detail_text = refused.json()["detail"].as_str().unwrap_or("").to_owned();
        assert!(detail_text.starts_with(detail), "{detail_text}");
    }
    let unknown = call(
        "POST",
        &url,
        Some(&analyst),
        Some(r#"{"site":"np15-hub","from":"2024-10-24","to":"2024-10-25","strategies":["best"]}"#),
        &[],
    );
    assert_eq!(unknown.status, 422);
    assert_eq!(unknown.json()["errors"][0]["field"], "strategies[0]");

    // A backtest running when the service is killed is failed at restart;
    // the finished one is kept.
    let long = r#"{"site":"np15-hub","from":"2024-10-24","to":"2024-10-27"}"#;
    let running = call("POST", &url, Some(&analyst), Some(long), &[]);
    assert_eq!(running.status, 202, "{}", running.body);
    let running = running.json()["id"].as_str().expect("an id").to_owned();
    let dir = service.kill();
    let service = Service::start(dir);
    let failed = call(
        "GET",
        &service.url(&format!("/v1/backtests/{running}")),
        Some(&analyst),
        None,
        &[],
    )
    .json();
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(
        failed["error"],
        "the service stopped before the backtest finished; submit it again"
    );
    let kept = call(
        "GET",
        &service.url(&format!("/v1/backtests/{id}")),
        Some(&analyst),
        None,
        &[],
    )
    .json();
    assert_eq!(kept["report"], done["report"]);
    let listed = call(
        "GET",
        &service.url("/v1/backtests"),
        Some(&analyst),
        None,
        &[],
    )
    .json();
    assert_eq!(listed.as_array().map(Vec::len), Some(2));
}

#[test]
fn prices_and_charging_are_accepted_as_csv() {
    let demo = demo("csv");
    let s = &demo.service;
    let day = days_around_now()[4] + TimeDelta::days(1);
    let zone = chrono_tz::America::Los_Angeles;
    let midnight = zone
        .from_local_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight"))
        .earliest()
        .expect("midnight exists")
        .with_timezone(&Utc);
    let hours = (zone
        .from_local_datetime(
            &(day + TimeDelta::days(1))
                .and_hms_opt(0, 0, 0)
                .expect("midnight"),
        )
        .earliest()
        .expect("midnight exists")
        .with_timezone(&Utc)
        - midnight)
        .num_hours();
    let mut csv = String::from("timestamp_utc,price_per_mwh\n");
    for h in 0..hours {
        let at = midnight + TimeDelta::hours(h);
        csv.push_str(&format!("{},{}\n", at.format("%Y-%m-%dT%H:%M:%SZ"), 20 + h));
    }
    let url = s.url(&format!(
        "/v1/markets/caiso-np15/prices/{day}?zone=America/Los_Angeles&currency=USD"
    ));
    let csv_type = [("Content-Type", "text/csv")];
    let put = call("PUT", &url, Some(&demo.trader), Some(&csv), &csv_type);
    assert_eq!(put.status, 201, "{}", put.body);
    let stored = put.json();
    assert_eq!(stored["interval_minutes"], 60);
    assert_eq!(
        stored["start"],
        midnight.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    );
    let expected: Vec<f64> = (0..hours).map(|h| (20 + h) as f64).collect();
    assert_eq!(stored["prices_per_mwh"], serde_json::json!(expected));
    let again = call("PUT", &url, Some(&demo.trader), Some(&csv), &csv_type);
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["changed"], false);

    let broken = csv.replacen(",23\n", ",cheap\n", 1);
    let refused = call("PUT", &url, Some(&demo.trader), Some(&broken), &csv_type);
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(refused.json()["errors"][0]["field"], "line 5.price_per_mwh");
    let no_zone = call(
        "PUT",
        &s.url(&format!("/v1/markets/caiso-np15/prices/{day}")),
        Some(&demo.trader),
        Some(&csv),
        &csv_type,
    );
    assert_eq!(no_zone.status, 422);
    let fields: Vec<String> = no_zone.json()["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["field"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(fields, ["zone", "currency"]);
    // Nothing changed by the refused uploads.
    let revisions = call(
        "GET",
        &s.url(&format!("/v1/markets/caiso-np15/prices/{day}")),
        Some(&demo.trader),
        None,
        &[],
    )
    .json();
    assert_eq!(revisions["revisions"].as_array().map(Vec::len), Some(1));

    let charging = s.url("/v1/sites/np15-hub/charging");
    let readings = "timestamp_utc,kw\n2024-10-24T08:00:00Z,120.5\n2024-10-24T08:15:00Z,96\n";
    let put = call(
        "PUT",
        &charging,
        Some(&demo.controller),
        Some(readings),
        &csv_type,
    );
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.json()["stored"], 2);
    let negative = "timestamp_utc,kw\n2024-10-24T08:00:00Z,120.5\n2024-10-24T08:15:00Z,-3\n";
    let refused = call(
        "PUT",
        &charging,
        Some(&demo.controller),
        Some(negative),
        &csv_type,
    );
    assert_eq!(refused.status, 422);
    assert_eq!(
        refused.json()["detail"],
        "line 3.kw: (-3) must be a number ≥ 0"
    );
}

#[test]
fn a_controllers_own_charging_forecast_replaces_the_models_where_it_covers() {
    let demo = demo("own-forecast");
    let s = &demo.service;
    // The site interval containing now, as the plan will start.
    let now = Utc::now().timestamp();
    let start = now - now.rem_euclid(15 * 60);
    let at = |k: i64| {
        chrono::DateTime::from_timestamp(start + k * 15 * 60, 0)
            .expect("an instant")
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    let forecast = format!(
        "timestamp_utc,kw\n{},300\n{},310\n{},320\n",
        at(0),
        at(1),
        at(2)
    );
    let put = call(
        "PUT",
        &s.url("/v1/sites/np15-hub/charging/forecast"),
        Some(&demo.controller),
        Some(&forecast),
        &[("Content-Type", "text/csv")],
    );
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.json()["stored"], 3);
    let plan = call(
        "POST",
        &s.url("/v1/sites/np15-hub/plan"),
        Some(&demo.controller),
        None,
        &[],
    );
    assert_eq!(plan.status, 201, "{}", plan.body);
    let document = plan.json();
    // The plan starts in the interval of the upload, or the next one if a
    // boundary passed in between.
    let skipped = (0..2)
        .find(|&k| document["start"] == at(k))
        .unwrap_or_else(|| panic!("the plan starts at {}", document["start"]));
    let used = &document["basis"]["charging_forecast"];
    assert_eq!(used["controller_intervals"], 3 - skipped, "{used}");
    assert_eq!(used["model_intervals"], 36 * 4 - 3 + skipped, "{used}");
    // No metered history: the rest of the horizon has no charging.
    let served: Vec<f64> = document["plan"]["intervals"]
        .as_array()
        .expect("intervals")
        .iter()
        .take(3)
        .map(|interval| interval["ev_served_kw"].as_f64().expect("kW"))
        .collect();
    let expected = [300.0, 310.0, 320.0, 0.0, 0.0];
    assert_eq!(served, expected[skipped as usize..skipped as usize + 3]);
    let negative = call(
        "PUT",
        &s.url("/v1/sites/np15-hub/charging/forecast"),
        Some(&demo.controller),
        Some(&format!(
            r#"{{"readings":[{{"timestamp_utc":"{}","kw":-1}}]}}"#,
            at(4)
        )),
        &[],
    );
    assert_eq!(negative.status, 422);
    assert_eq!(
        negative.json()["detail"],
        "readings[0].kw: (-1) must be a number ≥ 0"
    );
}
