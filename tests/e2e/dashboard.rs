//! The dashboard in a real browser: headless Chromium driven over
//! WebDriver (chromedriver), both Debian packages that `make test`
//! installs. Each test signs in with the demo's keys and reads what the
//! page shows; the screenshots in the README are taken here (set
//! `ARBITER_SCREENSHOTS=docs/images` to write them there).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::serve::{Service, call, create_site, data_dir, site_toml};

/// A headless Chromium behind its own chromedriver, stopped when dropped.
struct Browser {
    runtime: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Child,
    /// Chromium's profile, removed once the browser has stopped.
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a 1280×800 window of
    /// headless Chromium.
    fn start() -> Browser {
        let profile = crate::temp_dir("chromium-profile");
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,800", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", format!("--user-data-dir={}", profile.path().display()),
                ],
            }
        });
        let program = std::path::PathBuf::from("/usr/bin/chromedriver");
        Browser::launch(
            &[std::path::Path::new("/usr/bin/chromium"), &program],
            &program,
            &[],
            capabilities,
            profile,
        )
    }

    /// Starts geckodriver (built by `make test` into target/tools) and a
    /// 1280×800 window of headless Firefox ESR.
    fn start_firefox() -> Browser {
        let profile = crate::temp_dir("firefox-profile");
        let capabilities = json!({
            "moz:firefoxOptions": {
                "binary": "/usr/bin/firefox-esr",
                "args": ["-headless", "-profile", profile.path().display().to_string()],
                "prefs": { "network.proxy.type": 0, "browser.shell.checkDefaultBrowser": false },
            }
        });
        let program = crate::root().join("target/tools/bin/geckodriver");
        let browser = Browser::launch(
            &[std::path::Path::new("/usr/bin/firefox-esr"), &program],
            &program,
            &["--host", "127.0.0.1"],
            capabilities,
            profile,
        );
        browser
            .runtime
            .block_on(browser.client().set_window_size(1280, 800))
            .expect("a window size");
        browser
    }

    /// Starts `driver` (WebDriver) on a free port and opens a session with
    /// `capabilities`; `needs` must exist first.
    fn launch(
        needs: &[&std::path::Path],
        driver: &std::path::Path,
        args: &[&str],
        capabilities: serde_json::Value,
        profile: tempfile::TempDir,
    ) -> Browser {
        for program in needs {
            assert!(
                program.exists(),
                "{} is missing: `make test` installs it (scripts/setup.sh --test)",
                program.display()
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(driver)
            .arg(format!("--port={port}"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the WebDriver starts");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let since = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                since.elapsed() < Duration::from_secs(20),
                "the WebDriver does not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let client = runtime
            .block_on(
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(capabilities.as_object().cloned().expect("an object"))
                    .connect(&format!("http://127.0.0.1:{port}")),
            )
            .expect("a browser session");
        Browser {
            runtime,
            client: Some(client),
            driver,
            _profile: profile,
        }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("a session")
    }

    fn open(&self, url: &str) {
        self.runtime
            .block_on(self.client().goto(url))
            .expect("the page opens");
    }

    /// Opens `url` and waits until the page has drawn `ready` (its
    /// `data-ready`).
    fn open_ready(&self, url: &str, ready: &str) {
        self.open(url);
        self.wait_until(
            &format!("return document.getElementById('page').dataset.ready === '{ready}'"),
            Duration::from_secs(20),
        );
    }

    /// Chooses `file` in the prices page's upload form and sends it.
    fn upload(&self, file: &std::path::Path) {
        self.runtime
            .block_on(async {
                let input = self.client().find(Locator::Id("upload-file")).await?;
                input.send_keys(&file.display().to_string()).await?;
                self.client()
                    .find(Locator::Css("#upload button[type=submit]"))
                    .await?
                    .click()
                    .await
            })
            .expect("the upload form");
    }

    /// Runs a script in the page and returns its value.
    fn eval(&self, script: &str) -> serde_json::Value {
        self.runtime
            .block_on(self.client().execute(script, Vec::new()))
            .unwrap_or_else(|error| panic!("{script}: {error}"))
    }

    /// Waits (up to `limit`) until `script` returns true.
    fn wait_until(&self, script: &str, limit: Duration) -> Duration {
        let since = Instant::now();
        loop {
            if self.eval(script) == json!(true) {
                return since.elapsed();
            }
            let failure = self.eval("return document.getElementById('failure').textContent");
            assert_eq!(failure, json!(""), "the page failed");
            assert!(
                since.elapsed() < limit,
                "never true: {script}; the page says {}",
                self.eval("return document.getElementById('main').innerText.slice(-600)")
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn text(&self, selector: &str) -> String {
        self.runtime
            .block_on(async {
                self.client()
                    .find(Locator::Css(selector))
                    .await?
                    .text()
                    .await
            })
            .unwrap_or_else(|error| panic!("{selector}: {error}"))
    }

    /// Signs in at `base` with `key` (signing out first) and waits for the
    /// fleet.
    fn sign_in(&self, base: &str, key: &str) {
        self.open(&format!("{base}/"));
        if self.eval("return sessionStorage.length > 0") == json!(true) {
            self.eval("document.getElementById('sign-out').click(); return true");
        }
        self.runtime
            .block_on(async {
                let field = self.client().find(Locator::Id("key")).await?;
                field.send_keys(key).await?;
                self.client()
                    .find(Locator::Css("#sign-in-form button"))
                    .await?
                    .click()
                    .await
            })
            .expect("the sign-in form");
        self.wait_until(
            "return document.getElementById('page').dataset.ready === 'fleet'",
            Duration::from_secs(10),
        );
    }

    /// Saves a screenshot as `name`.png in target/screenshots and, with
    /// ARBITER_SCREENSHOTS set, in that folder too.
    fn screenshot(&self, name: &str) {
        let png = self
            .runtime
            .block_on(self.client().screenshot())
            .expect("a screenshot");
        let mut folders = vec![crate::root().join("target/screenshots")];
        if let Ok(folder) = std::env::var("ARBITER_SCREENSHOTS") {
            folders.push(crate::root().join(folder));
        }
        for folder in folders {
            std::fs::create_dir_all(&folder).expect("a folder");
            std::fs::write(folder.join(format!("{name}.png")), &png).expect("written");
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = self.runtime.block_on(client.close());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The demo service (planning when asked) with a second site, and its
/// first plan.
fn demo(name: &str) -> Service {
    let service = Service::start_with(
        data_dir(name),
        &["--demo"],
        &[("ARBITER_PLANNING_LOOP", "off")],
    );
    let other = site_toml().replace("id = \"np15-hub\"", "id = \"sp15-depot\"");
    create_site(&service, &service.demo_key("admin"), &other);
    plan(&service);
    service
}

/// Asks for the demo site's plan; returns its version.
fn plan(service: &Service) -> i64 {
    let planned = call(
        "POST",
        &service.url("/v1/sites/np15-hub/plan"),
        Some(&service.demo_key("controller")),
        None,
        &[],
    );
    assert_eq!(planned.status, 201, "{}", planned.body);
    planned.json()["version"].as_i64().expect("a version")
}

#[test]
fn each_role_signs_in_to_the_fleet_it_may_read_and_a_controller_cannot_open_another_site() {
    let service = demo("dashboard-roles");
    let browser = Browser::start();
    let base = service.url("");
    for role in ["trader", "analyst", "admin"] {
        browser.sign_in(&base, &service.demo_key(role));
        assert!(browser.text("#who-text").starts_with(role));
        let sites = browser.eval(
            "return [...document.querySelectorAll('#fleet-table tbody tr')].map(r => r.dataset.site)",
        );
        assert_eq!(sites, json!(["sp15-depot", "np15-hub"]), "{role}");
        // The key is in the tab's session storage, nowhere else.
        assert_eq!(browser.eval("return document.cookie"), json!(""));
        assert_eq!(browser.eval("return localStorage.length"), json!(0));
        if role == "trader" {
            browser.screenshot("dashboard-fleet");
        }
        browser
            .runtime
            .block_on(async {
                browser
                    .client()
                    .find(Locator::Id("sign-out"))
                    .await?
                    .click()
                    .await
            })
            .expect("signs out");
        assert_eq!(browser.eval("return sessionStorage.length"), json!(0));
    }
    browser.sign_in(&base, &service.demo_key("controller"));
    let sites = browser.eval(
        "return [...document.querySelectorAll('#fleet-table tbody tr')].map(r => r.dataset.site)",
    );
    assert_eq!(sites, json!(["np15-hub"]));
    // The site that needs a look (no plan, no telemetry) is flagged in words.
    browser.open(&format!("{base}/#/sites/sp15-depot"));
    browser.wait_until(
        "return document.querySelector('#page [role=alert]') !== null",
        Duration::from_secs(10),
    );
    assert_eq!(
        browser.text("#page [role=alert]"),
        "This key may not read sp15-depot."
    );
    // A refused key is sent back to sign in.
    browser.open(&format!("{base}/"));
    browser.eval("sessionStorage.setItem('arbiter.key', 'arb_wrong'); location.reload(); return 1");
    browser.wait_until(
        "return !document.getElementById('sign-in').hidden",
        Duration::from_secs(10),
    );
}

#[test]
fn the_site_page_draws_every_interval_and_shows_a_new_plan_without_a_reload() {
    let service = demo("dashboard-site");
    let browser = Browser::start();
    let base = service.url("");
    browser.sign_in(&base, &service.demo_key("trader"));
    browser.open_ready(&format!("{base}/#/sites/np15-hub"), "1");
    let in_page = browser.eval("return document.getElementById('page').dataset.renderMs");
    let drawn = browser.eval(
        "const page = document.getElementById('page');
         return {intervals: page.dataset.intervals, past: page.dataset.past,
                 charts: [...document.querySelectorAll('#plan-charts svg')].map(s => s.getAttribute('aria-label')),
                 widths: [...document.querySelectorAll('#plan-charts svg')].map(s => s.dataset.intervals)}",
    );
    // The demo plan: 36 hours of 15-minute intervals, and the charging
    // metered the day before it.
    assert_eq!(drawn["intervals"], "144", "{drawn}");
    let past: usize = drawn["past"]
        .as_str()
        .and_then(|p| p.parse().ok())
        .expect("a count");
    assert!(past > 0, "{drawn}");
    let charts: Vec<String> = serde_json::from_value(drawn["charts"].clone()).expect("labels");
    assert_eq!(
        charts,
        [
            "Prices, USD/MWh",
            "Why: energy value at the connection, USD/MWh",
            "Grid, kW",
            "Battery power, kW",
            "Battery energy, kWh",
            "EV charging, kW",
            "Compute, per job, kW (IT)",
        ]
        .map(|title| format!("{title}, {} intervals", 144 + past))
    );
    // The keyboard moves through the intervals; the panel names each value
    // with its unit.
    browser
        .runtime
        .block_on(async {
            let charts = browser.client().find(Locator::Id("plan-charts")).await?;
            charts.click().await?;
            charts.send_keys("\u{E014}").await // the right arrow
        })
        .expect("keys");
    let rows = browser.eval(
        "return Object.fromEntries([...document.querySelectorAll('#plan-table tr')].map(r => [r.cells[0].textContent, r.cells[1].textContent]))",
    );
    assert!(
        rows["Grid import"]
            .as_str()
            .is_some_and(|v| v.ends_with(" kW")),
        "{rows}"
    );
    assert!(
        rows["Price"]
            .as_str()
            .is_some_and(|v| v.ends_with(" USD/MWh")),
        "{rows}"
    );
    assert!(
        rows["UTC"].is_string() && rows["Local time"].is_string(),
        "{rows}"
    );
    // Why: the panel names the limits the plan's explain part binds (read
    // from the API), and the interval's energy value.
    let latest = call(
        "GET",
        &service.url("/v1/sites/np15-hub/plans/latest"),
        Some(&service.demo_key("trader")),
        None,
        &[],
    )
    .json();
    // The battery chart draws the reserve the plan kept (the demo's meter
    // readings size one).
    assert!(
        latest["basis"]["peak_reserve_kwh"]
            .as_f64()
            .is_some_and(|kwh| kwh > 0.0),
        "{}",
        latest["basis"]
    );
    let reserve_drawn = browser.eval(
        "const svg = [...document.querySelectorAll('#plan-charts svg')].find(s => s.getAttribute('aria-label').startsWith('Battery energy'));
         return [...svg.querySelectorAll('text')].some(t => t.textContent.startsWith('peak reserve '))",
    );
    assert_eq!(reserve_drawn, true);
    let explain = &latest["plan"]["explain"];
    let bound = bound_constraints(explain);
    assert!(
        !bound.is_empty(),
        "the demo plan binds some limit: {explain}"
    );
    let shown = browser.eval(
        "return [...new Set([...document.querySelectorAll('#why-binding li')].map(li => li.dataset.constraint))].sort()",
    );
    assert_eq!(shown, json!(bound));
    // The interval shown (the click hovered one; the arrow moved on).
    let utc = rows["UTC"].as_str().expect("a time").replace(' ', "T") + ":00Z";
    let shown_at = latest["plan"]["intervals"]
        .as_array()
        .expect("intervals")
        .iter()
        .position(|interval| interval["start"] == json!(utc))
        .expect("a planned interval is shown");
    let worth = explain["intervals"][shown_at]["energy_value_per_mwh"]
        .as_f64()
        .expect("a value");
    assert_eq!(
        rows["Energy worth"],
        json!(format!("{} USD/MWh", thousands(worth))),
        "{rows}"
    );
    // The charging forecast's P50 to P90 band, shaded, with the interval's
    // values in the panel.
    let band = &latest["ev_forecast"];
    let (p50, p90) = (
        band["p50_kw"].as_array().expect("P50"),
        band["p90_kw"].as_array().expect("P90"),
    );
    assert_eq!((p50.len(), p90.len()), (144, 144), "{band}");
    assert!(
        p50.iter().zip(p90).all(|(a, b)| a.as_f64() <= b.as_f64()),
        "{band}"
    );
    assert!(p90.iter().any(|v| v.as_f64() > Some(0.0)), "{band}");
    let p90_here = p90[shown_at].as_f64().expect("a value");
    assert_eq!(
        rows["EV forecast P90"],
        json!(format!("{} kW", grouped(p90_here, 1))),
        "{rows}"
    );
    assert_eq!(
        browser.eval(
            "return [...document.querySelectorAll('#plan-charts svg')].filter(s => s.getAttribute('aria-label').startsWith('EV charging'))
                .map(s => s.querySelectorAll('path[fill-opacity=\"0.18\"]').length)"
        ),
        json!([1]),
        "one band: the plan's intervals (the past has none)"
    );
    browser.screenshot("dashboard-site");

    // A plan published now is on screen without a reload.
    let version = plan(&service);
    assert_eq!(version, 2);
    let published = Instant::now();
    browser.wait_until(
        "return document.getElementById('page').dataset.ready === '2'",
        Duration::from_secs(5),
    );
    let on_screen = published.elapsed();
    // A full load of the page (a new document: scripts, key check, data).
    browser.open_ready(&format!("{base}/?load#/sites/np15-hub"), "2");
    let load = browser.eval(
        "const entries = performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'));
         return {at: document.getElementById('page').dataset.readyAt,
                 bytes: entries.reduce((sum, e) => sum + e.transferSize, 0)}",
    );
    let bytes = load["bytes"].as_u64().expect("bytes");
    assert!(bytes <= 500_000, "the site page transfers {bytes} bytes");
    eprintln!(
        "dashboard: site page drawn {in_page} ms after an in-page navigation and {} ms after a full load \
         ({bytes} bytes transferred); plan v2 on screen {on_screen:?} after it was stored",
        load["at"]
    );
}

/// The limits a plan's `explain` part says bind somewhere, each once, sorted.
fn bound_constraints(explain: &serde_json::Value) -> Vec<String> {
    let mut bound: Vec<String> = explain["intervals"]
        .as_array()
        .expect("intervals")
        .iter()
        .flat_map(|why| why["binding"].as_array().cloned().unwrap_or_default())
        .map(|binding| binding["constraint"].as_str().unwrap_or("").to_owned())
        .collect();
    bound.sort();
    bound.dedup();
    bound
}

/// Moves the demo's simulated clock on by `minutes` (as its admin).
fn advance(service: &Service, minutes: i64) {
    let moved = call(
        "POST",
        &service.url("/v1/clock"),
        Some(&service.demo_key("admin")),
        Some(&json!({ "minutes": minutes }).to_string()),
        &[],
    );
    assert_eq!(moved.status, 200, "{}", moved.body);
}

#[test]
fn the_site_page_sets_what_ran_against_the_plans_in_force() {
    let service = demo("dashboard-outturn");
    // Eight hours on, the demo's controller has reported every interval
    // under plan v1; then v2 is in force for two more hours.
    let path = service.url("/v1/sites/np15-hub/outturn?from=2024-10-24T07:00:00Z");
    let trader = service.demo_key("trader");
    let reported = |count: u64| {
        let since = Instant::now();
        loop {
            let outturn = call("GET", &path, Some(&trader), None, &[]).json();
            if outturn["totals"]["metered_intervals"].as_u64() >= Some(count) {
                return outturn;
            }
            assert!(
                since.elapsed() < Duration::from_secs(20),
                "the controller reports: {outturn}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    advance(&service, 8 * 60);
    reported(32);
    plan(&service);
    advance(&service, 2 * 60);
    let outturn = reported(40);
    let intervals = outturn["intervals"].as_array().expect("intervals");
    let versions: std::collections::BTreeSet<i64> = intervals
        .iter()
        .filter_map(|i| i["version"].as_i64())
        .collect();
    assert_eq!(versions, [1, 2].into(), "{outturn}");
    let browser = Browser::start();
    let base = service.url("");
    browser.sign_in(&base, &trader);
    browser.open_ready(&format!("{base}/#/sites/np15-hub"), "2");
    // The page reads from the day before the plan's start: every interval
    // from the first plan's on, in three charts.
    let drawn = browser.eval(
        "return {count: document.getElementById('outturn').dataset.intervals,
                 charts: [...document.querySelectorAll('#outturn-charts svg')].map(s => s.getAttribute('aria-label'))}",
    );
    let shown = intervals.iter().filter(|i| !i["version"].is_null()).count();
    assert_eq!(drawn["count"], json!(shown.to_string()), "{drawn}");
    let charts: Vec<String> = serde_json::from_value(drawn["charts"].clone()).expect("labels");
    assert_eq!(
        charts,
        [
            "Grid, planned against metered, kW",
            "Battery energy, planned against reported, kWh",
            "What the deviation cost, summed, USD",
        ]
        .map(|title| format!("{title}, {shown} intervals"))
    );
    let summary = browser.text("#outturn-summary");
    let cost = outturn["totals"]["deviation_cost"]
        .as_f64()
        .expect("a cost");
    assert!(
        summary.contains(&format!("which cost {} USD", thousands(cost)))
            && summary.contains("under 2 plan versions"),
        "{summary} against {}",
        outturn["totals"]
    );
    // The panel names an interval's values with their units.
    browser
        .runtime
        .block_on(async {
            let charts = browser.client().find(Locator::Id("outturn-charts")).await?;
            charts.send_keys("\u{E012}").await // the left arrow
        })
        .expect("keys");
    let rows = browser.eval(
        "return Object.fromEntries([...document.querySelectorAll('#outturn-table tr')].map(r => [r.cells[0].textContent, r.cells[1].textContent]))",
    );
    assert_eq!(rows["Plan"], json!("v2"), "{rows}");
    assert!(
        rows["Metered net import"]
            .as_str()
            .is_some_and(|v| v.ends_with(" kW")),
        "{rows}"
    );
    browser.eval("document.getElementById('outturn').scrollIntoView(); return true");
    browser.screenshot("dashboard-outturn");
}

/// A number as the page writes it with two decimals (en-US grouping).
fn thousands(value: f64) -> String {
    grouped(value, 2)
}

/// A number as the page writes it with `decimals` (en-US grouping).
fn grouped(value: f64, decimals: usize) -> String {
    let text = format!("{:.*}", decimals, value.abs());
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let mut out = String::new();
    for (k, digit) in whole.chars().enumerate() {
        if k > 0 && (whole.len() - k) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(fraction);
    }
    format!("{}{out}", if value < 0.0 { "-" } else { "" })
}

#[test]
fn the_jobs_and_history_pages_show_the_queue_and_what_changed_between_two_plans() {
    let service = demo("dashboard-history");
    advance(&service, 60);
    assert_eq!(plan(&service), 2);
    let trader = service.demo_key("trader");
    let jobs = call(
        "GET",
        &service.url("/v1/sites/np15-hub/jobs"),
        Some(&trader),
        None,
        &[],
    )
    .json();
    let open: Vec<&serde_json::Value> = jobs["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .filter(|job| job["status"] == "open")
        .collect();
    assert!(!open.is_empty(), "the demo has open jobs: {jobs}");
    let browser = Browser::start();
    let base = service.url("");
    browser.sign_in(&base, &trader);

    // Jobs: the open ones by deadline, each with what it needs.
    browser.open_ready(&format!("{base}/#/sites/np15-hub/jobs"), "jobs");
    let table = browser.eval(
        "return [...document.querySelectorAll('#jobs-table tbody tr')].map(r => [...r.cells].map(c => c.textContent))",
    );
    let rows = table.as_array().expect("rows");
    assert_eq!(rows.len(), open.len(), "{table}");
    let first = open
        .iter()
        .min_by_key(|job| job["spec"]["deadline"].as_str().map(str::to_owned))
        .expect("a job");
    assert_eq!(rows[0][0], first["id"], "{table}");
    let needed = first["spec"]["energy_kwh"].as_f64().expect("energy");
    let delivered = first["delivered_kwh"].as_f64().expect("delivered");
    assert!(
        rows[0][3]
            .as_str()
            .is_some_and(|cell| cell.starts_with(&format!(
                "{} / {} kWh",
                grouped(delivered, 1),
                grouped(needed, 1)
            ))),
        "{table}"
    );
    browser.screenshot("dashboard-jobs");

    // History: the two plans, the later against the earlier, with the
    // basis fields that changed (the hour moved on, so its telemetry).
    browser.open_ready(&format!("{base}/#/sites/np15-hub/history"), "history");
    let versions = browser.eval(
        "return [...document.querySelectorAll('#history-table tbody tr')].map(r => r.cells[0].textContent)",
    );
    assert_eq!(versions, json!(["v2", "v1"]));
    assert_eq!(browser.text("#history-diff h2"), "v1 against v2");
    let v1 = call(
        "GET",
        &service.url("/v1/sites/np15-hub/plans/1"),
        Some(&trader),
        None,
        &[],
    )
    .json();
    let v2 = call(
        "GET",
        &service.url("/v1/sites/np15-hub/plans/2"),
        Some(&trader),
        None,
        &[],
    )
    .json();
    let changed = browser.eval(
        "return Object.fromEntries([...document.querySelectorAll('#diff-basis tbody tr')].map(r => [r.cells[0].textContent, [r.cells[1].textContent, r.cells[2].textContent]]))",
    );
    assert_eq!(
        changed["previous version"],
        serde_json::Value::Null,
        "the link between versions is not a change: {changed}"
    );
    assert_eq!(
        changed["telemetry at"],
        json!([v1["basis"]["telemetry_at"], v2["basis"]["telemetry_at"]]),
        "{changed}"
    );
    // Both plans' intervals on one axis: v1 from 07:00, v2 an hour later,
    // each 144 intervals long.
    let drawn = browser.eval(
        "return [...document.querySelectorAll('#diff-charts svg')].map(s => s.dataset.intervals)",
    );
    assert_eq!(drawn, json!(["148", "148", "148"]));
    let summary = browser.text("#diff-summary");
    assert!(summary.starts_with("140 intervals in both"), "{summary}");
    browser.screenshot("dashboard-history");
}

#[test]
fn a_trader_uploads_a_day_of_prices_as_csv_and_sees_its_revisions() {
    let service = demo("dashboard-prices");
    let browser = Browser::start();
    let base = service.url("");
    browser.sign_in(&base, &service.demo_key("trader"));
    browser.open_ready(&format!("{base}/#/prices"), "prices");
    // The days around the demo's clock (2024-10-24): 10-21 to 10-25, of
    // which the fixture week stores 10-24 and 10-25 (and on).
    let days = browser.eval(
        "return [...document.querySelectorAll('#prices-table tbody tr')].map(r => [r.cells[0].textContent, r.cells[1].textContent, r.cells[5].textContent])",
    );
    let stored = call(
        "GET",
        &service.url("/v1/markets/caiso-np15/prices?from=2024-10-21&to=2024-10-25"),
        Some(&service.demo_key("trader")),
        None,
        &[],
    )
    .json();
    let expected: Vec<_> = stored["days"]
        .as_array()
        .expect("days")
        .iter()
        .map(|d| {
            json!([
                d["day"],
                d["revision"].to_string(),
                d["prices_per_mwh"].as_array().map(|p| p.len().to_string())
            ])
        })
        .collect();
    assert!(!expected.is_empty(), "{stored}");
    assert_eq!(days, json!(expected));

    // A new revision of 2024-10-25 from a CSV file: 24 hourly prices from
    // the Pacific midnight (07:00 UTC).
    let mut csv = String::from("timestamp_utc,price_per_mwh\n");
    for hour in 0..24 {
        let at = chrono::DateTime::parse_from_rfc3339("2024-10-25T07:00:00Z").expect("an instant")
            + chrono::TimeDelta::hours(hour);
        csv.push_str(&format!(
            "{},{}\n",
            at.format("%Y-%m-%dT%H:%M:%SZ"),
            20 + hour
        ));
    }
    let folder = tempfile::tempdir().expect("a folder");
    let file = folder.path().join("day.csv");
    std::fs::write(&file, csv).expect("written");
    browser.eval("document.getElementById('upload-day').value = '2024-10-25'; return true");
    browser.upload(&file);
    browser.wait_until(
        "return document.getElementById('upload-result').textContent.startsWith('Stored')",
        Duration::from_secs(10),
    );
    assert_eq!(
        browser.text("#upload-result"),
        "Stored caiso-np15 2024-10-25 as revision 2 (24 intervals)."
    );
    // Its revisions drawn over each other.
    browser.eval(
        "[...document.querySelectorAll('#prices-table button')].find(b => b.textContent === '2024-10-25').click(); return true",
    );
    browser.wait_until(
        "return document.getElementById('prices-revisions').dataset.revisions === '2'",
        Duration::from_secs(10),
    );
    let legend = browser.eval(
        "return [...document.querySelectorAll('#revisions-charts .legend span')].map(s => s.textContent)",
    );
    assert_eq!(legend.as_array().map(Vec::len), Some(2), "{legend}");
    browser.eval("document.getElementById('prices-revisions').scrollIntoView(); return true");
    browser.screenshot("dashboard-prices");

    // A file that breaks a rule is refused with its line and column.
    std::fs::write(
        &file,
        "timestamp_utc,price_per_mwh\n2024-10-26T07:00:00Z,cheap\n",
    )
    .expect("written");
    browser.eval("document.getElementById('upload-day').value = '2024-10-26'; return true");
    browser.upload(&file);
    browser.wait_until(
        "return document.getElementById('upload-result').textContent.startsWith('Refused')",
        Duration::from_secs(10),
    );
    let refused = browser.text("#upload-result");
    assert!(refused.contains("line 2.price_per_mwh"), "{refused}");

    // An analyst reads prices but has no upload form.
    browser.sign_in(&base, &service.demo_key("analyst"));
    browser.open_ready(&format!("{base}/#/prices"), "prices");
    assert_eq!(
        browser.eval("return document.getElementById('upload') === null"),
        json!(true)
    );
}

#[test]
fn an_analyst_runs_a_backtest_from_the_page_and_reads_its_results() {
    let service = demo("dashboard-backtest");
    let browser = Browser::start();
    let base = service.url("");
    let analyst = service.demo_key("analyst");
    browser.sign_in(&base, &analyst);
    browser.open_ready(&format!("{base}/#/backtests"), "backtests");
    browser.eval(
        "document.getElementById('bt-from').value = '2024-10-24';
         document.getElementById('bt-to').value = '2024-10-25';
         document.querySelector('input[name=strategy][value=threshold]').checked = false;
         document.querySelector('input[name=strategy][value=tou]').checked = false;
         document.querySelector('#backtest-form button[type=submit]').click();
         return true",
    );
    // Live progress, then the results.
    browser.wait_until(
        "return /^backtest-(queued|running|done)$/.test(document.getElementById('page').dataset.ready)",
        Duration::from_secs(10),
    );
    let id = browser
        .eval("return location.hash.split('/')[2]")
        .as_str()
        .expect("an id")
        .to_owned();
    browser.wait_until(
        "return document.getElementById('page').dataset.ready === 'backtest-done'",
        Duration::from_secs(300),
    );
    let run = call(
        "GET",
        &service.url(&format!("/v1/backtests/{id}")),
        Some(&analyst),
        None,
        &[],
    )
    .json();
    let report = &run["report"];
    let kpis = browser.eval(
        "const t = document.getElementById('bt-kpis');
         return {head: [...t.tHead.rows[0].cells].map(c => c.textContent),
                 net: [...t.tBodies[0].rows[0].cells].map(c => c.textContent)}",
    );
    assert_eq!(kpis["head"], json!(["KPI", "mpc", "naive", "perfect"]));
    let net: Vec<String> = ["mpc", "naive", "perfect"]
        .iter()
        .map(|s| {
            thousands(
                report["strategies"][s]["net_cost"]
                    .as_f64()
                    .expect("a cost"),
            )
        })
        .collect();
    assert_eq!(
        kpis["net"],
        json!(["Net cost (USD)", net[0], net[1], net[2]])
    );
    let captured = report["savings_captured"].as_f64().expect("a share");
    assert!(
        browser
            .text("#bt-captured")
            .starts_with(&format!("mpc captures {:.1}%", captured * 100.0)),
        "{}",
        browser.text("#bt-captured")
    );
    // A day of 15-minute intervals in the week's three charts and the
    // savings chart (mpc and perfect against naive).
    let drawn = browser.eval(
        "return {week: [...document.querySelectorAll('#bt-week-charts svg')].map(s => s.dataset.intervals),
                 savings: [...document.querySelectorAll('#bt-savings-charts path[data-series]')].map(p => p.dataset.series)}",
    );
    assert_eq!(drawn["week"], json!(["96", "96", "96"]));
    assert_eq!(drawn["savings"], json!(["mpc", "perfect"]));
    // What mpc saves against the best rule (naive, the only one that ran).
    let against = &report["mpc_against_best_rule"];
    assert_eq!(against["rule"], "naive");
    assert!(
        browser.text("#bt-against").starts_with(&format!(
            "mpc saves {} USD",
            thousands(against["saving"].as_f64().expect("a saving"))
        )),
        "{}",
        browser.text("#bt-against")
    );
    browser.screenshot("dashboard-backtest");
    browser.eval("document.getElementById('bt-week-charts').scrollIntoView(); return true");
    browser.screenshot("dashboard-backtest-charts");

    // A trader reads backtests but may not start one.
    browser.sign_in(&base, &service.demo_key("trader"));
    browser.open_ready(&format!("{base}/#/backtests"), "backtests");
    let runs = call(
        "GET",
        &service.url("/v1/backtests"),
        Some(&analyst),
        None,
        &[],
    )
    .json();
    assert_eq!(
        browser.eval("return [document.getElementById('backtest-form') === null, [...document.querySelectorAll('#backtests-table tbody tr')].map(r => r.cells[0].textContent)]"),
        json!([true, [id]]),
        "{runs}"
    );
}

#[test]
fn the_why_panel_names_the_limits_of_a_hand_made_case() {
    let service = demo("dashboard-why");
    let why =
        std::fs::read_to_string(crate::root().join("fixtures/sites/why.toml")).expect("the site");
    create_site(&service, &service.demo_key("admin"), &why);
    // The demo's clock is at 2024-10-24 00:00 in Los Angeles: that day and
    // the next at 10, 10, 50, 50, 200, 200, 200 and then 50 per MWh.
    let trader = service.demo_key("trader");
    let mut prices = vec![10.0, 10.0, 50.0, 50.0, 200.0, 200.0, 200.0];
    prices.resize(24, 50.0);
    for day in ["2024-10-24", "2024-10-25"] {
        let body = json!({ "zone": "America/Los_Angeles", "currency": "USD",
                           "interval_minutes": 60, "prices_per_mwh": prices })
        .to_string();
        let put = call(
            "PUT",
            &service.url(&format!("/v1/markets/why-market/prices/{day}")),
            Some(&trader),
            Some(&body),
            &[],
        );
        assert_eq!(put.status, 201, "{}", put.body);
    }
    let controller = service.new_key("controller", &["why-site"]);
    let planned = call(
        "POST",
        &service.url("/v1/sites/why-site/plan"),
        Some(&controller),
        None,
        &[],
    );
    assert_eq!(planned.status, 201, "{}", planned.body);

    let browser = Browser::start();
    let base = service.url("");
    browser.sign_in(&base, &trader);
    browser.open_ready(&format!("{base}/#/sites/why-site"), "1");
    let listed = browser
        .eval("return [...document.querySelectorAll('#why-binding li')].map(li => li.textContent)");
    let listed: Vec<String> = serde_json::from_value(listed).expect("texts");
    assert_eq!(
        listed[..2],
        [
            "import limit binds Thu 24 Oct, 00:00–02:00 (worth up to 40.00 USD/MWh)",
            "export limit binds Thu 24 Oct, 04:00–07:00 (worth up to 150.00 USD/MWh)",
        ],
        "{listed:?}"
    );
    // Whatever else binds is what the plan's explain part says.
    let explain = &planned.json()["plan"]["explain"];
    let bound = bound_constraints(explain);
    let shown = browser.eval(
        "return [...new Set([...document.querySelectorAll('#why-binding li')].map(li => li.dataset.constraint))].sort()",
    );
    assert_eq!(shown, json!(bound));
    assert_eq!(
        browser.text("#why-value"),
        "Energy at the connection is worth 50.00 USD/MWh in every interval: \
         one more MWh of demand at any hour would be met with energy that costs that much."
    );
    browser.eval("document.getElementById('why').scrollIntoView(); return true");
    browser.screenshot("dashboard-why");
}

/// What fails the page's accessibility checks: controls without a name,
/// charts without a label naming the unit, a page wider than the window.
const ACCESSIBILITY: &str = "
    const named = (el) => (el.labels && el.labels.length) || el.getAttribute('aria-label') || el.textContent.trim();
    const unnamed = [...document.querySelectorAll('input, select, button, textarea')]
        .filter(el => !el.closest('[hidden]') && el.type !== 'hidden' && !named(el))
        .map(el => el.outerHTML.slice(0, 80));
    const unlabelled = [...document.querySelectorAll('svg[role=img]')]
        .filter(svg => !/, .+, \\d+ intervals$/.test(svg.getAttribute('aria-label') || '') && !svg.closest('td'))
        .map(svg => svg.getAttribute('aria-label'));
    const wide = document.documentElement.scrollWidth > window.innerWidth + 1
        ? [document.documentElement.scrollWidth + ' px wide in ' + window.innerWidth + ': ' +
           [...document.querySelectorAll('main *')].filter(el => el.getBoundingClientRect().right > window.innerWidth + 1)
             .slice(0, 3).map(el => el.tagName + '#' + el.id + '.' + el.className).join(' ')] : [];
    return unnamed.concat(unlabelled, wide);";

#[test]
fn every_page_is_labelled_keyboard_reachable_and_fits_a_phone() {
    let service = demo("dashboard-access");
    advance(&service, 60);
    plan(&service);
    let browser = Browser::start();
    let base = service.url("");
    let analyst = service.demo_key("analyst");
    // A finished backtest to show.
    let accepted = call(
        "POST",
        &service.url("/v1/backtests"),
        Some(&analyst),
        Some(
            r#"{"site":"np15-hub","from":"2024-10-24","to":"2024-10-25","strategies":["naive","mpc"]}"#,
        ),
        &[],
    );
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let id = accepted.json()["id"].as_str().expect("an id").to_owned();
    crate::serve::finished_backtest(&service, &analyst, &id);
    let pages = [
        ("#/fleet", "fleet"),
        ("#/sites/np15-hub", "2"),
        ("#/sites/np15-hub/jobs", "jobs"),
        ("#/sites/np15-hub/history", "history"),
        ("#/prices", "prices"),
        ("#/backtests", "backtests"),
        (&format!("#/backtests/{id}") as &str, "backtest-done"),
    ];
    for (width, height) in [(1280, 800), (390, 844)] {
        browser
            .runtime
            .block_on(browser.client().set_window_size(width, height))
            .expect("a window size");
        browser.sign_in(&base, &analyst);
        for (k, (hash, ready)) in pages.iter().enumerate() {
            // A new document each time (another query), focus at its top.
            browser.open(&format!("{base}/?{width}-{k}{hash}"));
            browser.wait_until(
                &format!("return document.getElementById('page').dataset.ready === '{ready}'"),
                Duration::from_secs(10),
            );
            assert_eq!(
                browser.eval(ACCESSIBILITY),
                json!([]),
                "{hash} at {width}×{height}"
            );
            // The first Tab reaches the skip link, and it leads to the page.
            browser
                .runtime
                .block_on(async {
                    browser
                        .client()
                        .find(Locator::Css("body"))
                        .await?
                        .send_keys("\u{E004}")
                        .await
                })
                .expect("a Tab");
            assert_eq!(
                browser.eval("return document.activeElement.className"),
                json!("skip"),
                "{hash}"
            );
        }
        if width < 500 {
            browser.open_ready(&format!("{base}/?phone#/sites/np15-hub"), "2");
            browser.screenshot("dashboard-phone");
        }
    }
}

#[test]
fn the_fleet_page_lists_a_thousand_planned_sites() {
    const SITES: usize = 1_000;
    let service = demo("dashboard-thousand");
    let admin = service.demo_key("admin");
    // 999 more sites like the demo's (12-hour horizons, to plan them
    // quickly), each planned once by its controller.
    let ids: Vec<String> = (1..SITES).map(|k| format!("site-{k:04}")).collect();
    let toml = site_toml().replace("horizon_hours = 36", "horizon_hours = 12");
    for id in &ids {
        create_site(
            &service,
            &admin,
            &toml.replace("id = \"np15-hub\"", &format!("id = \"{id}\"")),
        );
    }
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let controller = service.new_key("controller", &refs);
    let since = Instant::now();
    std::thread::scope(|scope| {
        for half in ids.chunks(ids.len().div_ceil(2)) {
            let (service, controller) = (&service, &controller);
            scope.spawn(move || {
                for id in half {
                    let planned = call(
                        "POST",
                        &service.url(&format!("/v1/sites/{id}/plan")),
                        Some(controller),
                        None,
                        &[],
                    );
                    assert_eq!(planned.status, 201, "{}", planned.body);
                }
            });
        }
    });
    eprintln!(
        "dashboard: {} sites planned in {:?}",
        ids.len(),
        since.elapsed()
    );
    let browser = Browser::start();
    let base = service.url("");
    let trader = service.demo_key("trader");
    browser.sign_in(&base, &trader);
    let mut times = Vec::new();
    for k in 0..5 {
        browser.open_ready(&format!("{base}/?{k}#/fleet"), "fleet");
        times.push(
            browser
                .eval("return Number(document.getElementById('page').dataset.readyAt)")
                .as_f64()
                .expect("a time"),
        );
    }
    let rows = browser.eval("return document.querySelectorAll('#fleet-table tbody tr').length");
    // The demo's second site (sp15-depot), np15-hub and the 999.
    assert_eq!(rows, json!(SITES + 1));
    // Sorting and filtering a thousand rows.
    let sort_ms = browser.eval(
        "const since = performance.now();
         [...document.querySelectorAll('#fleet-table th button')].find(b => b.textContent.startsWith('Site')).click();
         return Math.round(performance.now() - since)",
    );
    let first = browser.eval("return document.querySelector('#fleet-table tbody tr').dataset.site");
    assert_eq!(first, json!("np15-hub"), "ascending by id");
    browser
        .runtime
        .block_on(async {
            browser
                .client()
                .find(Locator::Id("fleet-filter"))
                .await?
                .send_keys("site-09")
                .await
        })
        .expect("a filter");
    assert_eq!(
        browser.eval("return document.querySelectorAll('#fleet-table tbody tr').length"),
        json!(100)
    );
    times.sort_by(f64::total_cmp);
    eprintln!(
        "dashboard: fleet page of {} sites drawn {} ms after a full load (median of 5; {:?}), sorted again in {sort_ms} ms",
        SITES + 1,
        times[2],
        times
    );
}

#[test]
fn the_pages_work_in_firefox_too() {
    let service = demo("dashboard-firefox");
    let browser = Browser::start_firefox();
    let base = service.url("");
    let trader = service.demo_key("trader");
    browser.sign_in(&base, &trader);
    browser.open_ready(&format!("{base}/#/sites/np15-hub"), "1");
    let drawn = browser.eval(
        "return {intervals: document.getElementById('page').dataset.intervals,
                 charts: document.querySelectorAll('#plan-charts svg').length,
                 why: [...new Set([...document.querySelectorAll('#why-binding li')].map(li => li.dataset.constraint))].sort()}",
    );
    assert_eq!(drawn["intervals"], "144", "{drawn}");
    assert_eq!(drawn["charts"], 7, "{drawn}");
    let latest = call(
        "GET",
        &service.url("/v1/sites/np15-hub/plans/latest"),
        Some(&trader),
        None,
        &[],
    )
    .json();
    let bound = bound_constraints(&latest["plan"]["explain"]);
    assert_eq!(drawn["why"], json!(bound));
    // The event stream (fetch with a reader) works here too.
    advance(&service, 60);
    assert_eq!(plan(&service), 2);
    browser.wait_until(
        "return document.getElementById('page').dataset.ready === '2'",
        Duration::from_secs(5),
    );
    browser.screenshot("dashboard-firefox");
    // The history and prices pages draw.
    browser.open_ready(&format!("{base}/#/sites/np15-hub/history"), "history");
    assert_eq!(
        browser.eval("return document.querySelectorAll('#diff-charts svg').length"),
        json!(3)
    );
    browser.open_ready(&format!("{base}/#/prices"), "prices");
    assert!(
        browser
            .eval("return document.querySelectorAll('#prices-table tbody tr').length")
            .as_u64()
            > Some(0)
    );
}
