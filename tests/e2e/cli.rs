//! `arbiter solve` and `arbiter validate`.

use serde_json::Value;

use crate::{arbiter, arbiter_with_env, root, stderr, stdout, temp_dir};

#[test]
fn solve_prints_the_plan_on_stdout_and_a_summary_on_stderr() {
    let output = arbiter(&["solve", "fixtures/problems/tiny-arbitrage.json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let plan: Value = serde_json::from_str(&stdout(&output)).expect("plan JSON");
    assert_eq!(plan["status"], "optimal");
    assert_eq!(plan["objective"], -9.0);
    assert_eq!(plan["intervals"].as_array().map(Vec::len), Some(4));
    let summary = stderr(&output);
    assert!(
        summary.starts_with(
            "tiny: optimal plan, objective -9.00, gap 0.0000%, 4 intervals, 0 jobs, solved in "
        ),
        "{summary}"
    );
}

#[test]
fn the_solver_log_goes_to_stderr_and_leaves_the_plan_on_stdout() {
    let output = arbiter_with_env(
        &["solve", "fixtures/problems/site-day.json"],
        &[("ARBITER_SOLVER_LOG", "1".as_ref())],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let plan: Value = serde_json::from_str(&stdout(&output)).expect("plan JSON alone");
    assert_eq!(plan["status"], "optimal");
    let log = stderr(&output);
    // The relaxation, its round of run-energy cuts, the rounded plan's LP,
    // and the branches on where a job runs (two, each with the LP of its
    // rounding where it is not closed): linear programs only, no MIP.
    assert_eq!(
        log.matches("Solving LP relaxation since solve_relaxation is true")
            .count(),
        8,
        "{log}"
    );
    assert_eq!(log.matches("Solving report").count(), 0, "{log}");
    assert!(log.contains("fremont-01: optimal plan"), "{log}");
}

#[test]
fn a_reader_that_stops_early_ends_the_command_quietly() {
    // `arbiter solve … | head -0`: the plan is written to a pipe whose
    // reader has gone.
    let mut child = std::process::Command::new(crate::binary())
        .args(["solve", "fixtures/problems/site-day.json"])
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("arbiter runs");
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("arbiter ends");
    let log = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{log}");
    assert!(log.starts_with("fremont-01: optimal plan"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn solve_writes_the_plan_to_out() {
    let dir = temp_dir("out");
    let out = dir.path().join("plan.json");
    let output = arbiter(&[
        "solve",
        "fixtures/problems/no-battery.json",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "");
    let plan: Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("written")).expect("plan JSON");
    let objective = plan["objective"].as_f64().expect("number");
    assert!(
        (objective - 11757.802).abs() <= 1e-4 * 11757.802 + 0.01,
        "{objective}"
    );
}

#[test]
fn solve_takes_a_previous_plan_as_warm_start() {
    let dir = temp_dir("warm");
    let first = dir.path().join("first.json");
    let output = arbiter(&[
        "solve",
        "fixtures/problems/negative-prices.json",
        "--out",
        first.to_str().expect("utf-8"),
    ]);
    assert_eq!(output.status.code(), Some(0));
    let output = arbiter(&[
        "solve",
        "fixtures/problems/negative-prices.json",
        "--warm-start",
        first.to_str().expect("utf-8"),
        "--mip-gap",
        "1e-6",
        "--time-limit",
        "20",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stderr(&output).starts_with("berlin-neg: optimal plan, objective -5189.07"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_invalid_problem_exits_2_and_lists_every_issue() {
    let dir = temp_dir("invalid");
    let path = dir.path().join("bad.json");
    let mut problem: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("fixtures/problems/site-day.json")).expect("read"),
    )
    .expect("json");
    problem["interval_minutes"] = 7.into();
    problem["jobs"][0]["min_kw"] = 1300.0.into();
    std::fs::write(&path, problem.to_string()).expect("write");
    for command in ["solve", "validate"] {
        let output = arbiter(&[command, path.to_str().expect("utf-8")]);
        assert_eq!(output.status.code(), Some(2), "{command}");
        assert_eq!(stdout(&output), "");
        assert_eq!(
            stderr(&output),
            format!(
                "error: {}: invalid problem (2 issues):\n  interval_minutes (7) must be one of 5, 10, 15, 20, 30, 60\n  jobs[0].min_kw (1300) exceeds jobs[0].max_kw (1200)\n",
                path.display()
            )
        );
    }
}

#[test]
fn a_missing_problem_file_exits_2() {
    let output = arbiter(&["solve", "no/such/problem.json"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).starts_with("error: cannot read no/such/problem.json: "),
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_unwritable_out_file_exits_3() {
    let output = arbiter(&[
        "solve",
        "fixtures/problems/tiny-arbitrage.json",
        "--out",
        "no/such/dir/plan.json",
    ]);
    assert_eq!(output.status.code(), Some(3));
    assert!(
        stderr(&output).contains("error: cannot write no/such/dir/plan.json: "),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_bad_option_value_is_refused_with_its_rule() {
    let output = arbiter(&[
        "solve",
        "fixtures/problems/tiny-arbitrage.json",
        "--mip-gap",
        "-1",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("-1 is not a gap: expected a number ≥ 0, e.g. 1e-4"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn validate_says_what_it_checked() {
    let output = arbiter(&["validate", "fixtures/problems/site-day.json"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        stdout(&output),
        "fremont-01: valid (144 intervals of 15 min from 2024-08-14T07:00:00Z)\n"
    );
}

#[test]
fn the_planner_writes_each_problem_it_solves_where_asked_and_each_validates() {
    let dir = temp_dir("dump");
    let folder = dir.path().join("problems");
    let output = arbiter_with_env(
        &["bench", "cycle", "--sites", "3", "--solvers", "1"],
        &[("ARBITER_DUMP_PROBLEMS", folder.as_os_str())],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .expect("the folder was made")
        .map(|entry| entry.expect("an entry").path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 3, "{files:?}");
    for file in &files {
        let name = file.file_name().and_then(|n| n.to_str()).expect("utf-8");
        assert!(
            name.starts_with("bench-000") && name.ends_with(".json"),
            "{name}"
        );
        let checked = arbiter(&["validate", file.to_str().expect("utf-8")]);
        assert_eq!(checked.status.code(), Some(0), "{}", stderr(&checked));
        assert!(
            stdout(&checked).contains("valid (144 intervals of 15 min"),
            "{}",
            stdout(&checked)
        );
    }
}

#[test]
fn bench_cycle_plans_every_site_and_reports_the_solve_times() {
    let dir = temp_dir("bench");
    let out = dir.path().join("cycle.json");
    let out_text = out.display().to_string();
    let output = arbiter(&[
        "bench",
        "cycle",
        "--sites",
        "3",
        "--solvers",
        "1",
        "--replicas",
        "2",
        "--cycles",
        "2",
        "--out",
        &out_text,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = stdout(&output);
    assert!(
        stdout.starts_with("planning cycle on sqlite: 6 plans (2 cycles) of 3 sites planned in "),
        "{stdout}"
    );
    let figures: Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("figures")).expect("JSON");
    // Two replicas share the three sites: each planned once per cycle, an
    // hour apart.
    assert_eq!(figures["planned"], 6);
    let cycles = figures["cycles"].as_array().expect("cycles");
    assert_eq!(cycles.len(), 2);
    assert!(
        cycles.iter().all(|cycle| cycle["planned"] == 3),
        "{figures}"
    );
    assert_eq!(figures["replicas"], 2);
    assert_eq!(figures["solvers"], 1);
    let database = figures["database_seconds_per_plan"]
        .as_f64()
        .expect("seconds");
    assert!(database > 0.0 && database < 1.0, "{figures}");
    let statuses: u64 = figures["statuses"]
        .as_object()
        .expect("statuses")
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(statuses, 3);
    let p50 = figures["solve_p50_seconds"].as_f64().expect("p50");
    let max = figures["solve_max_seconds"].as_f64().expect("max");
    assert!(p50 > 0.0 && p50 <= max, "{figures}");

    // Seeded once, planned by two processes started at once: replicas.
    let data = dir.path().join("data");
    let data_text = data.display().to_string();
    let seeded = arbiter(&[
        "bench",
        "cycle",
        "--sites",
        "4",
        "--history-days",
        "9",
        "--seed-only",
        "--data-dir",
        &data_text,
    ]);
    assert!(seeded.status.success(), "{}", stderr(&seeded));
    assert!(
        crate::stdout(&seeded).starts_with("seeded 4 sites in "),
        "{}",
        crate::stdout(&seeded)
    );
    let args = [
        "bench",
        "cycle",
        "--sites",
        "4",
        "--solvers",
        "1",
        "--plan-only",
        "--data-dir",
        &data_text,
    ];
    let (first, second) = std::thread::scope(|scope| {
        let first = scope.spawn(|| arbiter(&args));
        let second = scope.spawn(|| arbiter(&args));
        (first.join().expect("a run"), second.join().expect("a run"))
    });
    let planned = |output: &std::process::Output| -> u32 {
        assert!(output.status.success(), "{}", stderr(output));
        crate::stdout(output)
            .split(": ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .expect("planned count")
    };
    assert_eq!(
        planned(&first) + planned(&second),
        4,
        "each site planned once"
    );
    let lonely = arbiter(&["bench", "cycle", "--plan-only"]);
    assert_eq!(lonely.status.code(), Some(2));
    assert_eq!(
        stderr(&lonely),
        "error: --plan-only needs the seeded database: --database-url or --data-dir\n"
    );

    let refused = arbiter(&["bench", "cycle", "--sites", "0"]);
    assert_eq!(refused.status.code(), Some(2));
    assert_eq!(stderr(&refused), "error: --sites must be at least 1\n");
    let too_long = arbiter(&["bench", "cycle", "--history-days", "87"]);
    assert_eq!(too_long.status.code(), Some(2));
    assert!(
        stderr(&too_long).contains("invalid value '87' for '--history-days <HISTORY_DAYS>'")
            && stderr(&too_long).contains("2..=86"),
        "{}",
        stderr(&too_long)
    );
}

#[test]
fn the_solve_corpus_bench_draws_valid_problems_and_checks_them_against_the_textbook_model() {
    // Four problems of seed 3, written to `out`.
    let corpus = |out: &std::path::Path| {
        arbiter(&[
            "bench",
            "solve-corpus",
            "--count",
            "4",
            "--seed",
            "3",
            "--time-limit",
            "30",
            "--out",
            out.to_str().unwrap(),
        ])
    };
    let dir = temp_dir("corpus");
    let output = corpus(dir.path());
    // It exits non-zero when an optimum is worse than the textbook's.
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    let rows: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("corpus.json")).unwrap())
            .unwrap();
    assert_eq!(rows.len(), 4);
    for row in &rows {
        let name = row["name"].as_str().unwrap();
        let problem = dir.path().join(format!("{name}.json"));
        // The same problem again through `arbiter validate`.
        let checked = arbiter(&["validate", problem.to_str().unwrap()]);
        assert!(checked.status.success(), "{name}: {}", stderr(&checked));
        let t = row["intervals"].as_u64().unwrap();
        assert!((6..=192).contains(&t), "{row}");
        assert!([5, 10, 15, 20, 30, 60].contains(&row["interval_minutes"].as_u64().unwrap()));
        assert!(row["lead"].as_f64().unwrap() > 0.0);
    }
    // The same seed, the same problems.
    let again = temp_dir("corpus-again");
    let output = corpus(again.path());
    assert!(output.status.success());
    for row in &rows {
        let name = format!("{}.json", row["name"].as_str().unwrap());
        assert_eq!(
            std::fs::read_to_string(dir.path().join(&name)).unwrap(),
            std::fs::read_to_string(again.path().join(&name)).unwrap()
        );
    }
    assert!(stdout(&output).contains("lead over the textbook model: median"));
}
