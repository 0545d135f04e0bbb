//! `arbiter forecast-eval` on the Broxden week fixture.

use crate::{arbiter, stderr, stdout, temp_dir};

#[test]
fn forecast_eval_prints_a_table_writes_json_and_draws_the_week() {
    let dir = temp_dir("fe-ok");
    let json = dir.path().join("scores.json");
    let png = dir.path().join("week.png");
    let output = arbiter(&[
        "forecast-eval",
        "fixtures/ev/broxden_load_2018-10-22_week.csv",
        "--zone",
        "Europe/London",
        "--from",
        "2018-10-26",
        "--to",
        "2018-10-29",
        "--validation-days",
        "2",
        "--json",
        json.to_str().unwrap(),
        "--plot",
        png.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let table = stdout(&output);
    assert!(
        table.starts_with(
            "fixtures/ev/broxden_load_2018-10-22_week.csv (load, Europe/London): 3 origins from \
             2018-10-25 23:00 UTC to 2018-10-29 00:00 UTC, 144 intervals of 15 min ahead\n"
        ),
        "{table}"
    );
    for model in [
        "seasonal-naive-7d",
        "profile-56d",
        "blend-84d-r4-p4",
        "blend-56d-r4-p4",
    ] {
        assert!(table.contains(model), "{model} missing from\n{table}");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["origins"], 3);
    assert_eq!(report["horizon_intervals"], 144);
    assert_eq!(report["baseline"], "seasonal-naive-7d");
    let models = report["models"].as_array().unwrap();
    assert_eq!(models.len(), 4);
    let chosen: Vec<&serde_json::Value> = models.iter().filter(|m| m["chosen"] == true).collect();
    assert_eq!(chosen.len(), 1);
    assert_eq!(chosen[0]["model"], report["chosen"]);
    // The chosen model's row is starred in the table.
    let starred = format!("* {}", report["chosen"].as_str().unwrap());
    assert!(table.contains(&starred), "{table}");
    // Three origins, 144 intervals each, cut at the file's end (the last
    // origin has 25 hours of data, the fall-back day): 144 + 144 + 100.
    for model in models {
        assert_eq!(model["points"], 388, "{model}");
        let coverage = model["coverage_90"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&coverage));
        assert!(
            model["pinball_50"].as_f64().unwrap() * 2.0 - model["mae"].as_f64().unwrap() < 1e-9
        );
    }
    let image = std::fs::read(&png).unwrap();
    assert_eq!(&image[..8], b"\x89PNG\r\n\x1a\n");
}

#[test]
fn forecast_eval_names_the_bad_row_and_exits_2() {
    let dir = temp_dir("fe-bad");
    let file = dir.path().join("load.csv");
    std::fs::write(
        &file,
        "timestamp_utc,site_power_kw\n2024-01-01T00:00:00Z,1\n2024-01-01T00:15:00Z,-4\n",
    )
    .unwrap();
    let output = arbiter(&["forecast-eval", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        format!(
            "error: {}: 1 bad row:\n  line 3: site_power_kw (-4) must be ≥ 0\n",
            file.display()
        )
    );
}
