//! How long a site plan takes: model build and full solve (build + HiGHS),
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
//! on the fixtures `site-day` (36 h at 15 min, 4 jobs), `week` (672
//! intervals, 30 jobs) and `caiso-block-replan` (36 h at 15 min, one block
//! under a demand charge: the search over block placements).
//!
//! Run: `cargo bench -p arbiter-optimizer --bench solve`. Criterion prints the
//! median of each; the build/HiGHS split of one solve and the model size are
//! printed first. Targets: site-day ≤ 100 ms median at the default 1e-4 gap
//! with build ≤ 10% of it; week `optimal` within its time limit (10 s here;
//! not yet met: it ends `feasible`, see the README's "Speed").

use std::path::PathBuf;
use std::time::Duration;

use arbiter_optimizer::{Formulation, Problem, SolveOptions, build_model, solve_with_stats};
use criterion::{Criterion, criterion_group, criterion_main};

fn fixture(name: &str) -> Problem {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/problems")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Problem::from_json(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn bench_case(c: &mut Criterion, name: &str, options: &SolveOptions, samples: usize) {
    let problem = fixture(&format!("{name}.json"));
    let size = build_model(&problem, Formulation::default());
    let (plan, stats) = solve_with_stats(&problem, options);
    println!(
        "{name}: {} columns, {} rows, {} binaries; one solve: build {:.2} ms, HiGHS {:.1} ms, {} objective {:.2} gap {:?}",
        size.columns,
        size.rows,
        size.binaries,
        stats.build_seconds * 1e3,
        stats.solver_seconds * 1e3,
        plan.status.as_str(),
        plan.objective,
        plan.mip_gap
    );
    let mut group = c.benchmark_group(name);
    group.sample_size(samples);
    group.bench_function("build", |b| {
        b.iter(|| build_model(&problem, Formulation::default()))
    });
    group.bench_function("solve", |b| b.iter(|| solve_with_stats(&problem, options)));
    group.finish();
}

fn site_day(c: &mut Criterion) {
    bench_case(c, "site-day", &SolveOptions::default(), 20);
}

fn week(c: &mut Criterion) {
    let options = SolveOptions {
        time_limit: Duration::from_secs(10),
        ..SolveOptions::default()
    };
    bench_case(c, "week", &options, 10);
}

fn block_replan(c: &mut Criterion) {
    bench_case(c, "caiso-block-replan", &SolveOptions::default(), 20);
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(10)).warm_up_time(Duration::from_secs(1));
    targets = site_day, week, block_replan
}
criterion_main!(benches);
