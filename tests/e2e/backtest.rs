//! `arbiter backtest` on the fixtures.

use crate::{arbiter, arbiter_with_env, stderr, stdout, temp_dir};

#[test]
fn backtest_writes_the_ledger_jobs_and_kpis_and_prints_the_comparison() {
    let dir = temp_dir("bt");
    let out = dir.path();
    let output = arbiter(&fixture_args(
        out.to_str().unwrap(),
        &[
            "--charging-scale",
            "20",
            "--synthetic-jobs",
            "1",
            "--strategies",
            "naive,mpc",
            "--csv",
        ],
    ));
    assert!(output.status.success(), "{}", stderr(&output));
    let table = stdout(&output);
    assert!(
        table.starts_with("np15-hub: 2024-10-24 07:00 UTC to 2024-10-25 07:00 UTC (USD)"),
        "{table}"
    );
    assert!(
        table.contains("\nmpc ") && table.contains("\nnaive "),
        "{table}"
    );
    let ledger = std::fs::read_to_string(out.join("ledger.csv")).unwrap();
    let mut lines = ledger.lines();
    assert_eq!(
        lines.next(),
        Some(
            "timestamp_utc,strategy,price_per_mwh,import_price_per_mwh,export_price_per_mwh,\
             ev_forecast_kw,ev_actual_kw,import_kw,export_kw,charge_kw,discharge_kw,soc_kwh,\
             compute_it_kw,unserved_kw,cost"
        )
    );
    // 96 quarter-hours per strategy.
    assert_eq!(lines.count(), 192);
    let kpis: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("kpis.json")).unwrap()).unwrap();
    assert_eq!(kpis["site"], "np15-hub");
    for strategy in ["mpc", "naive"] {
        assert_eq!(kpis["strategies"][strategy]["intervals"], 96);
        assert_eq!(kpis["strategies"][strategy]["unserved_kwh"], 0.0);
    }
    assert!(
        kpis["savings_captured"].is_null(),
        "no perfect run, no share"
    );
    assert!(out.join("jobs.csv").exists());
    let parquet = std::fs::read(out.join("ledger.parquet")).unwrap();
    assert_eq!(&parquet[..4], b"PAR1");
    for chart in ["week.png", "savings.png"] {
        let image = std::fs::read(out.join(chart)).unwrap();
        assert_eq!(&image[..8], b"\x89PNG\r\n\x1a\n", "{chart}");
    }
}

#[test]
fn a_bad_site_file_exits_2_naming_the_key() {
    let dir = temp_dir("bt-bad");
    let site = dir.path().join("site.toml");
    let text = std::fs::read_to_string(crate::root().join("fixtures/sites/demo.toml"))
        .unwrap()
        .replace("pue = 1.15", "pue = 0.5");
    std::fs::write(&site, text).unwrap();
    let output = arbiter(&[
        "backtest",
        "--site",
        site.to_str().unwrap(),
        "--prices",
        "fixtures/prices/caiso_np15_2024-10-21_week.csv",
        "--charging",
        "fixtures/ev/broxden_load_2018-10-22_week.csv",
        "--from",
        "2024-10-24",
        "--to",
        "2024-10-25",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        format!(
            "error: {}: invalid site (1 issue):\n  compute.pue (0.5) must be ≥ 1\n",
            site.display()
        )
    );
}

#[test]
fn a_backtest_writes_each_problem_mpc_and_perfect_solve_where_asked_and_each_validates() {
    let dir = temp_dir("bt-dump");
    let folder = dir.path().join("problems");
    let out = dir.path().join("out");
    let output = arbiter_with_env(
        &fixture_args(out.to_str().unwrap(), &["--strategies", "mpc,perfect"]),
        &[("ARBITER_DUMP_PROBLEMS", folder.as_os_str())],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let (mut mpc, mut perfect) = (Vec::new(), Vec::new());
    for entry in std::fs::read_dir(&folder).expect("the folder was made") {
        let path = entry.expect("an entry").path();
        let checked = arbiter(&["validate", path.to_str().expect("utf-8")]);
        assert_eq!(checked.status.code(), Some(0), "{}", stderr(&checked));
        let name = path.file_name().and_then(|n| n.to_str()).expect("utf-8");
        let stamp = name
            .strip_prefix("np15-hub-")
            .and_then(|rest| rest.strip_suffix(".json"))
            .unwrap_or_else(|| panic!("{name}"));
        match stamp.strip_suffix("-perfect") {
            Some(stamp) => perfect.push(stamp.parse::<i64>().expect("unix time")),
            None => mpc.push(stamp.parse::<i64>().expect("unix time")),
        }
    }
    mpc.sort_unstable();
    // `mpc`'s plans over the local day 2024-10-24 (07:00 UTC to 07:00 the
    // next day), at least one an hour; `perfect` plans once, at the start.
    let (first, last) = (1_729_753_200, 1_729_753_200 + 23 * 3600);
    assert_eq!(mpc.first(), Some(&first));
    assert!(mpc.iter().all(|&at| (first..=last).contains(&at)));
    assert!(mpc.len() >= 24, "{mpc:?}");
    assert_eq!(perfect, [first]);
}

fn fixture_args<'a>(out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "backtest",
        "--site",
        "fixtures/sites/demo.toml",
        "--prices",
        "fixtures/prices/caiso_np15_2024-10-21_week.csv",
        "--charging",
        "fixtures/ev/broxden_load_2018-10-22_week.csv",
        "--charging-year",
        "2018",
        "--charging-zone",
        "Europe/London",
        "--from",
        "2024-10-24",
        "--to",
        "2024-10-25",
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn a_sweep_tabulates_every_variant_and_refuses_a_bad_one_before_running() {
    let dir = temp_dir("sweep");
    let out = dir.path().to_str().unwrap();
    let output = arbiter(&fixture_args(
        out,
        &[
            "--strategies",
            "naive,threshold",
            "--sweep",
            "grid.import_limit_kw=3000,5000",
        ],
    ));
    assert!(output.status.success(), "{}", stderr(&output));
    let csv = std::fs::read_to_string(std::path::Path::new(out).join("sweep.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "grid.import_limit_kw,naive_net_cost,threshold_net_cost,mpc_captures"
    );
    assert!(
        lines[1].starts_with("3000,") && lines[2].starts_with("5000,"),
        "{csv}"
    );
    for variant in ["grid.import_limit_kw=3000", "grid.import_limit_kw=5000"] {
        assert!(
            std::path::Path::new(out)
                .join(variant)
                .join("kpis.json")
                .exists()
        );
    }

    let bad = arbiter(&fixture_args(out, &["--sweep", "compute.pue=1.2,0.8"]));
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(
        stderr(&bad),
        "error: --sweep compute.pue=0.8: compute.pue (0.8) must be ≥ 1\n"
    );
    let syntax = arbiter(&fixture_args(out, &["--sweep", "compute.pue"]));
    assert_eq!(
        stderr(&syntax),
        "error: --sweep (compute.pue) must be KEY=V1,V2,… with numbers, e.g. battery.soc_max_kwh=0,3900,7800\n"
    );
}

#[test]
fn a_hosting_study_gives_each_size_its_margin_with_and_without_the_battery() {
    let dir = temp_dir("hosting");
    let out = dir.path();
    let output = arbiter(&fixture_args(
        out.to_str().unwrap(),
        &[
            "--charging-scale",
            "20",
            "--synthetic-jobs",
            "1",
            "--synthetic-job-values",
            "1.5,3",
            "--strategies",
            "tou",
            "--hosting",
            "1000,2000",
        ],
    ));
    assert!(output.status.success(), "{}", stderr(&output));
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(out.join("hosting.json")).unwrap()).unwrap();
    // No compute (the baseline, added), 1 MW and 2 MW; with and without the
    // battery.
    let sizes: Vec<(f64, bool)> = rows
        .iter()
        .map(|row| {
            (
                row["it_kw"].as_f64().unwrap(),
                row["battery"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        sizes,
        [
            (0.0, true),
            (1000.0, true),
            (2000.0, true),
            (0.0, false),
            (1000.0, false),
            (2000.0, false)
        ]
    );
    for row in &rows {
        // The margin is the net cost without compute less the net cost with
        // it, read back from each variant's own KPIs.
        let kw = row["it_kw"].as_f64().unwrap();
        let battery = row["battery"].as_bool().unwrap();
        let kpis = |kw: f64| -> serde_json::Value {
            let folder = format!("it_kw={kw}{}", if battery { "" } else { ",no-battery" });
            serde_json::from_str(
                &std::fs::read_to_string(out.join(folder).join("kpis.json")).unwrap(),
            )
            .unwrap()
        };
        let net = |kw: f64| kpis(kw)["strategies"]["tou"]["net_cost"].as_f64().unwrap();
        let margin = row["net_margin"].as_f64().unwrap();
        // Work carried over is part of the revenue, and read from the KPIs.
        let not_due = row["revenue_not_due"].as_f64().unwrap();
        assert!(
            0.0 <= not_due && not_due <= row["compute_revenue"].as_f64().unwrap(),
            "{row}"
        );
        let strategy = row["strategy"].as_str().unwrap();
        assert_eq!(
            kpis(kw)["strategies"][strategy]["compute_value_not_due"].as_f64(),
            Some(not_due),
            "{row}"
        );
        assert!((margin - (net(0.0) - net(kw))).abs() < 1e-3, "{row}");
        if kw == 0.0 {
            assert_eq!(row["jobs_due"], 0, "no compute, no jobs: {row}");
        } else {
            // Jobs worth 2,143–4,286 per MWh earn far more than they cost.
            assert!(
                margin > 0.0 && row["compute_revenue"].as_f64().unwrap() > margin,
                "{row}"
            );
        }
    }
    // Twice the container gets about twice the queue.
    let gpu = |kw: f64| {
        rows.iter()
            .find(|row| row["it_kw"] == kw && row["battery"] == true)
            .map(|row| row["gpu_hours"].as_f64().unwrap())
            .unwrap()
    };
    assert!(
        gpu(2000.0) > 1.3 * gpu(1000.0),
        "{} vs {}",
        gpu(2000.0),
        gpu(1000.0)
    );
    let csv = std::fs::read_to_string(out.join("hosting.csv")).unwrap();
    assert_eq!(
        csv.lines().next(),
        Some(
            "it_kw,battery,strategy,net_cost,compute_revenue,revenue_not_due,net_margin,gpu_hours,compute_throttled_kwh,unserved_kwh,jobs_due,jobs_on_time"
        )
    );
    assert_eq!(csv.lines().count(), 1 + rows.len());
    let image = std::fs::read(out.join("hosting.png")).unwrap();
    assert_eq!(&image[..8], b"\x89PNG\r\n\x1a\n");
    let table = stdout(&output);
    assert!(table.contains("IT kW  battery strategy"), "{table}");
}

#[test]
fn backtest_with_an_oracle_says_what_mpc_was_told() {
    let dir = temp_dir("bt-oracle");
    let out = dir.path();
    let output = arbiter(&fixture_args(
        out.to_str().unwrap(),
        &[
            "--charging-scale",
            "20",
            "--strategies",
            "mpc",
            "--oracle",
            "charging,jobs",
            "--csv",
        ],
    ));
    assert!(output.status.success(), "{}", stderr(&output));
    let table = stdout(&output);
    assert!(
        table.contains("\nmpc told what happened instead of forecasting it: charging, jobs\n"),
        "{table}"
    );
    let kpis: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("kpis.json")).unwrap()).unwrap();
    assert_eq!(kpis["mpc_told"], "charging, jobs");
    // Told the charging, the plans planned for what was metered
    // (`ev_forecast_kw` and `ev_actual_kw`, the ledger's 6th and 7th columns).
    let ledger = std::fs::read_to_string(out.join("ledger.csv")).unwrap();
    let rows: Vec<Vec<&str>> = ledger
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 96);
    for row in rows {
        let (forecast, actual): (f64, f64) = (row[5].parse().unwrap(), row[6].parse().unwrap());
        assert!((forecast - actual).abs() < 1e-3, "{row:?}");
    }
}
