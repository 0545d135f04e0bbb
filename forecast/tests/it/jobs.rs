//! Job queues: the CSV columns and their rules, and the synthetic queue.

use crate::common::{fixture, temp_csv, utc};

use arbiter_forecast::{IngestError, JobKind, SyntheticQueue, read_jobs};

#[test]
fn every_column_form_of_the_example_queue_is_read() {
    let jobs = read_jobs(fixture("jobs", "example-queue.csv")).unwrap();
    assert_eq!(jobs.len(), 5);
    let train = &jobs[0];
    assert_eq!(train.id, "train-llm-7b");
    assert_eq!(train.energy_kwh, 1200.0);
    assert_eq!(
        train.kind,
        JobKind::Preemptible {
            min_kw: 100.0,
            max_kw: 400.0
        }
    );
    assert_eq!(train.deadline, utc("2024-03-11T06:00:00Z"));
    assert_eq!(
        (train.value_per_mwh, train.shortfall_penalty_per_mwh),
        (150.0, 1000.0)
    );
    // 640 GPU-hours at 0.7 kW = 448 kWh; slack 3 × 448/200 h = 6.72 h.
    let finetune = &jobs[1];
    assert!((finetune.energy_kwh - 448.0).abs() < 1e-9);
    assert_eq!(
        finetune.kind,
        JobKind::Preemptible {
            min_kw: 50.0,
            max_kw: 200.0
        }
    );
    assert_eq!(finetune.deadline, utc("2024-03-10T15:13:12Z"));
    assert_eq!(finetune.shortfall_penalty_per_mwh, 0.0);
    assert_eq!(jobs[2].kind, JobKind::Block { power_kw: 150.0 });
    assert_eq!(jobs[2].min_run_hours(), 2.0);
    // An offset is honoured: 12:15 at −07:00 is 19:15 UTC; 2 × 1 h later.
    assert_eq!(jobs[3].submit, utc("2024-03-10T19:15:00Z"));
    assert_eq!(jobs[3].deadline, utc("2024-03-10T21:15:00Z"));
    assert_eq!(jobs[3].value_per_mwh, 0.0);
    assert_eq!(jobs[4].energy_kwh, 120.0);
}

#[test]
fn every_bad_row_is_named_with_its_line_and_rule() {
    let path = temp_csv(
        "bad-queue.csv",
        "id,submit,energy_kwh,gpu_hours,kw_per_gpu,min_kw,max_kw,deadline,slack_factor,kind\n\
         ok,2024-01-01T00:00:00Z,10,,,1,5,2024-01-02T00:00:00Z,,\n\
         ,2024-01-01T00:00:00Z,10,,,1,5,2024-01-02T00:00:00Z,,\n\
         b,2024-01-01T00:00:00Z,10,2,1,1,5,2024-01-02T00:00:00Z,,\n\
         c,2024-01-01T00:00:00Z,10,,,6,5,,0.5,\n\
         d,2024-01-01T00:00:00Z,-3,,,1,5,2023-12-31T00:00:00Z,,\n\
         e,yesterday,10,,,1,5,,,gpu\n\
         ok,2024-01-01T00:00:00Z,10,,,1,5,,2,\n",
    );
    let IngestError::Rows { issues, .. } = read_jobs(&path).unwrap_err() else {
        panic!("expected row issues");
    };
    let messages: Vec<String> = issues.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        [
            "line 3: id is missing",
            "line 4: give energy_kwh, or gpu_hours and kw_per_gpu (not both)",
            "line 5: slack_factor (0.5) must be ≥ 1",
            "line 5: min_kw (6) must be ≤ max_kw (5)",
            "line 6: energy_kwh (-3) must be > 0",
            "line 6: deadline (2023-12-31T00:00:00+00:00) must be after submit (2024-01-01T00:00:00+00:00)",
            "line 7: \"yesterday\" is not a timestamp (expected e.g. 2023-03-26T01:00:00Z)",
            "line 7: kind (\"gpu\") must be \"preemptible\" or \"block\"",
            "line 7: give deadline or slack_factor",
            "line 8: id \"ok\" is used by an earlier row",
        ]
    );
}

#[test]
fn a_queue_without_a_required_column_is_refused_naming_it() {
    let path = temp_csv("no-max.csv", "id,submit,min_kw\na,2024-01-01T00:00:00Z,1\n");
    assert_eq!(
        read_jobs(&path).unwrap_err().to_string(),
        format!(
            "{} has no column \"max_kw\" (columns: id, submit, min_kw)",
            path.display()
        )
    );
}

#[test]
fn the_synthetic_queue_is_reproducible_and_follows_its_distributions() {
    let queue = SyntheticQueue::default();
    let (from, to) = (utc("2024-01-01T00:00:00Z"), utc("2024-07-01T00:00:00Z"));
    let jobs = queue.generate(from, to);
    assert_eq!(jobs, queue.generate(from, to));
    let other = SyntheticQueue {
        seed: 2,
        ..queue.clone()
    }
    .generate(from, to);
    assert_ne!(jobs, other);

    // 182 days at 6 a day: 1,092 expected; a Poisson count is within
    // ±4 standard deviations (±132) of it.
    assert!((960..=1224).contains(&jobs.len()), "{}", jobs.len());
    let mut hours: Vec<f64> = jobs.iter().map(|job| job.min_run_hours()).collect();
    hours.sort_by(f64::total_cmp);
    let median = hours[hours.len() / 2];
    assert!((1.6..=2.5).contains(&median), "median run {median} h");
    for (i, job) in jobs.iter().enumerate() {
        assert_eq!(job.id, format!("job-{:04}", i + 1));
        assert!(job.submit >= from && job.submit < to);
        assert!(job.min_run_hours() <= 24.0 + 1e-9);
        let window = (job.deadline - job.submit).num_seconds() as f64 / 3600.0;
        assert!(window >= 1.5 * job.min_run_hours() - 1e-6, "{job:?}");
        assert!(
            window <= 4.0 * job.min_run_hours() + 1.0 / 3600.0,
            "{job:?}"
        );
        match job.kind {
            JobKind::Preemptible { min_kw, max_kw } => assert_eq!(min_kw, 0.3 * max_kw),
            JobKind::Block { power_kw } => assert!([100.0, 200.0, 300.0].contains(&power_kw)),
        }
    }
    let blocks = jobs
        .iter()
        .filter(|job| matches!(job.kind, JobKind::Block { .. }))
        .count();
    let share = blocks as f64 / jobs.len() as f64;
    assert!((0.15..=0.25).contains(&share), "block share {share}");
}

#[test]
fn gpu_hour_prices_value_each_job_without_changing_the_queue() {
    let (from, to) = (utc("2024-01-01T00:00:00Z"), utc("2024-02-01T00:00:00Z"));
    let plain = SyntheticQueue::default().generate(from, to);
    let valued = SyntheticQueue {
        gpu_hour_prices: Some((1.5, 3.0)),
        ..SyntheticQueue::default()
    }
    .generate(from, to);
    assert_eq!(plain.len(), valued.len());
    for (a, b) in plain.iter().zip(&valued) {
        // The same job, with a value: 1.5 to 3 per GPU-hour at 0.7 kW is
        // 2,142.9 to 4,285.7 per MWh.
        assert_eq!(
            (&a.id, a.submit, a.deadline, a.energy_kwh, a.kind),
            (&b.id, b.submit, b.deadline, b.energy_kwh, b.kind)
        );
        assert_eq!(a.value_per_mwh, 0.0);
        assert!(
            (1.5 / 0.7 * 1000.0..3.0 / 0.7 * 1000.0).contains(&b.value_per_mwh),
            "{b:?}"
        );
    }
    let mean = valued.iter().map(|job| job.value_per_mwh).sum::<f64>() / valued.len() as f64;
    // Uniform: the mean of ~186 draws is within 10% of the middle, 3,214.
    assert!((mean - 2.25 / 0.7 * 1000.0).abs() < 321.0, "{mean}");
}
