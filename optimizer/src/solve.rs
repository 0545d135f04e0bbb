//! Solving: build the model, hand it to HiGHS with a warm start, read the
//! plan back, and fall back to the rule-built plan when nothing else is found.

use std::sync::Arc;
use std::time::{Duration, Instant};

use good_lp::{Constraint, Expression, IntoAffineExpression, SolverModel, Variable, highs};
use highs::{HighsModelStatus, HighsSolutionStatus};

use crate::model::{self, Formulation, Model, Values, battery, compute, grid, rules};
use crate::plan::{self, Plan, Status};
use crate::problem::Problem;

mod basis;
mod interrupt;
mod placements;
mod presence;

pub use basis::RelaxationBasis;

/// Default relative MIP gap.
pub const DEFAULT_MIP_GAP: f64 = 1e-4;
/// Default time limit for building and solving.
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(30);

/// How to solve.
#[derive(Debug, Clone, PartialEq)]
pub struct SolveOptions {
    /// Relative MIP gap at which the search stops: `|best − bound| / |best|`.
    pub mip_gap: f64,
    /// Wall-time budget for building and solving; the best plan found by then
    /// is returned as `feasible`.
    pub time_limit: Duration,
    /// Threads HiGHS may use (`None`: its own choice).
    pub threads: Option<u32>,
    /// What to hand the solver as a first incumbent.
    pub warm_start: WarmStart,
    /// How the model is formulated.
    pub formulation: Formulation,
    /// Apply [`TUNED_SWITCHES`] to HiGHS (and [`AFTER_RELAX_AND_FIX_SWITCHES`]
    /// to the full search from relax-and-fix's plan).
    pub tuned_solver: bool,
    /// Solve the LP relaxation first, fix every binary it settles, and solve
    /// the small MIP left over (see [`solve`]); the full search runs only when
    /// that leaves a gap to the relaxation's bound.
    pub relax_and_fix: bool,
    /// Once relax-and-fix has a plan, the full search that tries to improve
    /// on it stops after this long (or at the time limit, if sooner); `None`:
    /// the time limit alone. Zero keeps relax-and-fix's plan as it is
    /// (`feasible`, with its gap to the relaxation's bound) without building
    /// the full model. Most of a plan's time goes to that search and little
    /// of its gain: on a month of hourly CAISO replans (April 2024, 860
    /// plans, 1 s limit) 0.3 s cut solving from 81.2 s to 58.9 s for a net
    /// cost 0.07% lower (noise), and zero cut the same 860 problems from
    /// 74.8 s to 59.4 s with the objectives' sum 0.01% higher.
    pub search_limit_from_incumbent: Option<Duration>,
    /// Add the plan's [`Explanation`](crate::Explanation): the linear
    /// program with the plan's binaries fixed, solved once more for its
    /// duals (within what is left of the time limit).
    pub explain: bool,
    /// The basis of the previous plan's relaxation ([`SolveStats::relaxation_basis`]),
    /// to start this plan's relaxation from: columns and rows are matched
    /// by what they stand for (part, job, interval start), so an hour later
    /// the intervals still ahead meet their own statuses.
    pub relaxation_basis: Option<Arc<RelaxationBasis>>,
    /// Where relax-and-fix's rounded plan is not proven by the relaxation's
    /// bound, branch on whether jobs with a start cost run in the spans the
    /// relaxation runs them in part, for at most [`PRESENCE_NODES`] linear
    /// programs, before its MIP (see `solve/presence.rs`).
    pub presence_branching: bool,
    /// Stop the full search once its plan is within the gap of
    /// relax-and-fix's bound (the relaxation's with its run-energy cuts, or
    /// the branching's), which can be above HiGHS's own; the plan is then
    /// `optimal` with its gap to that bound (see `solve/interrupt.rs`).
    pub stop_at_outside_bound: bool,
}

pub use presence::PRESENCE_NODES;

/// HiGHS switches measured to help these models (`examples/ablation.rs`).
///
/// The root reduced-cost heuristic solves a sub-MIP around the root LP; on
/// site plans it spends about a third of the solve without finding a better
/// incumbent than the other heuristics do, so it is off (site-day: 0.59 s →
/// 0.35 s median; no fixture got slower). Feasibility jump searches for a
/// first incumbent, which relax-and-fix or the warm start already gives:
/// it took 9% of a backtest's CPU samples in a profile and is off too (ten
/// days of hourly DE-LU replans: 28.7 s → 27.1 s of solving, the same net
/// cost to the cent).
pub const TUNED_SWITCHES: [(&str, bool); 2] = [
    ("mip_heuristic_run_root_reduced_cost", false),
    ("mip_heuristic_run_feasibility_jump", false),
];

/// HiGHS switches for the full search that starts from relax-and-fix's
/// plan.
///
/// RENS fixes every binary the root LP leaves integral and solves the MIP
/// over the rest: relax-and-fix has just done that from the same relaxation,
/// so RENS repeats its work (corpus-1-008: the optimum was relax-and-fix's
/// plan, and 6.8 of the search's 12.2 s went to sub-MIPs). Measured with
/// `arbiter bench solve-corpus --count 40` (one thread, gap 1e-4), chosen on
/// seed 1 and held out on seed 2: the geometric mean of the per-problem time
/// ratios was 0.92 on both; p95 2.40 → 1.83 s and 5.14 → 2.88 s; problems
/// slower than the textbook model 8 → 5 and 7 → 5. Turning RINS off as well
/// helped corpus-1-008 more (6.4 s) but made corpus-1-016 three times slower,
/// whose relax-and-fix plan was 1.3% above the optimum.
///
/// Restarts are off too. HiGHS restarts its search (presolving again) once
/// its root has fixed enough columns by their reduced costs; from
/// relax-and-fix's plan, and with the search stopped at relax-and-fix's
/// bound, the restarts mostly repeat the root's work before the plan that
/// ends the search is found (corpus-1-008 restarted twice before it found
/// its optimum). Measured with `examples/replay --search --time-limit 60` on
/// the problems of `bench solve-corpus --count 40` that take over 0.1 s,
/// chosen on seed 1 (14 problems, faster of two runs each) and held out on
/// seed 2 (24 problems): geometric mean of the time ratios 0.84 and 0.81;
/// seed 1's slowest, corpus-1-008, 7.7 s → 4.7 s, but seed 2's slowest,
/// corpus-2-031, 22.8 s → 26.1 s (another path through 3,262 nodes instead
/// of 2,207); 10 of the 38 problems slower by more than 10%. The week
/// fixture: proven at 1e-4 in 28.3 s instead of 44.7 s. A second held-out
/// corpus, seed 3 (17 problems), went the other way: 1.09, corpus-3-008
/// 0.60 → 3.24 s, where relax-and-fix's plan is the optimum and a restart
/// (16% of the binaries fixed by reduced cost) lets the root's bound prove it
/// at once; without it, 113 nodes.
pub const AFTER_RELAX_AND_FIX_SWITCHES: [(&str, bool); 2] = [
    ("mip_heuristic_run_rens", false),
    ("mip_allow_restart", false),
];

/// How far above the relaxation's bound (as [`relative_gap`] measures it)
/// relax-and-fix's fixings are taken to be wrong: once the fixed MIP's own
/// bound is further, it stops at its next better plan ([`interrupt`]), and
/// the full search then starts afresh, with HiGHS's RENS and restarts
/// ([`AFTER_RELAX_AND_FIX_SWITCHES`] assume relax-and-fix has done their work
/// from the right fixings). corpus-4-028: the fixed MIP's bound 56% above the
/// relaxation's after 18 s of a 60 s limit; the full search from its plan
/// found the optimum at its root but had not proven it at the limit with
/// the switches, and proved it in 7 s without them. Where the fixed MIP
/// finishes (its plan proven the best within its fixings), the switches
/// stay even if that plan is far from the bound: corpus-6-020's full search
/// took 7.2 s afresh against 1.8 s with them.
pub const WRONG_FIXINGS: f64 = 0.1;

impl Default for SolveOptions {
    fn default() -> Self {
        SolveOptions {
            mip_gap: DEFAULT_MIP_GAP,
            time_limit: DEFAULT_TIME_LIMIT,
            threads: None,
            warm_start: WarmStart::Auto,
            formulation: Formulation::default(),
            tuned_solver: true,
            relax_and_fix: true,
            search_limit_from_incumbent: None,
            explain: false,
            relaxation_basis: None,
            presence_branching: true,
            stop_at_outside_bound: true,
        }
    }
}

/// A first incumbent for the solver: a good one lets it prune early.
#[derive(Debug, Clone, PartialEq)]
pub enum WarmStart {
    /// [`WarmStart::Relaxation`] for models of up to
    /// [`AUTO_RELAXATION_MAX_BINARIES`] binaries, [`WarmStart::Rules`] above.
    Auto,
    /// None: the solver starts from scratch.
    None,
    /// The rule-built plan (battery idle, compute off, the grid serves the load).
    Rules,
    /// A previous plan, matched by interval start time (the rest rule-built).
    /// It may have become infeasible (the battery drifted, a job changed):
    /// the solver keeps its on/off decisions and completes the rest, or
    /// ignores it.
    Plan(Box<Plan>),
    /// The LP relaxation, solved first (within [`RELAXATION_SHARE`] of the
    /// time limit; the rule-built plan if it is not solved by then), with
    /// its on/off decisions rounded; the solver completes the rest by an
    /// LP. With the capacity cuts the relaxation is close to integral, so the
    /// solver starts near the optimum (site-day: 330 ms → 150 ms).
    Relaxation,
}

/// Largest model (in binaries) for which [`WarmStart::Auto`] rounds the
/// relaxation. Measured on two fixtures: `site-day` (308 binaries) solves in
/// half the time with it; on `week` (3,174 binaries), which ends at its time
/// limit, the relaxation's time and incumbent left a 1.06% gap after 10 s
/// instead of 0.11% from the rule-built start.
pub const AUTO_RELAXATION_MAX_BINARIES: usize = 1000;

/// Where the time went and how large the model was.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SolveStats {
    /// Building the model(s), seconds.
    pub build_seconds: f64,
    /// Inside HiGHS, seconds.
    pub solver_seconds: f64,
    /// Columns of the (last) model.
    pub columns: usize,
    /// Rows of the (last) model.
    pub rows: usize,
    /// Binary columns of the (last) model.
    pub binaries: usize,
    /// Whether a second solve with charge/discharge binaries was needed.
    pub resolved_with_binaries: bool,
    /// Binaries relax-and-fix fixed when it proved the plan optimal (0 when
    /// the full search ran).
    pub fixed_binaries: usize,
    /// Whether relax-and-fix's proof was the rounded relaxation itself, its
    /// continuous values re-solved by an LP (no MIP was solved).
    pub rounded: bool,
    /// Run-energy cuts added to the relaxation before relax-and-fix.
    pub run_cuts: usize,
    /// LP relaxations run (each within its time limit): relax-and-fix's first
    /// and one per round of run-energy cuts (and the warm start's, when it
    /// needs its own).
    pub relaxations: usize,
    /// The relaxation's objective after the run-energy cuts (a lower bound
    /// on every plan's), when relax-and-fix solved it; raised to the bound
    /// of the branching on where jobs run, where that ran
    /// ([`SolveStats::presence_nodes`]).
    pub relaxation_bound: Option<f64>,
    /// Linear programs solved by the search over block placements (0 when
    /// it did not run: it runs where every binary is a block's start).
    pub placement_nodes: usize,
    /// The basis of the last relaxation solved, for the next plan's
    /// ([`SolveOptions::relaxation_basis`]).
    pub relaxation_basis: Option<Arc<RelaxationBasis>>,
    /// Whether the first relaxation started from [`SolveOptions::relaxation_basis`].
    pub relaxation_basis_used: bool,
    /// Simplex iterations of the relaxations.
    pub relaxation_iterations: u64,
    /// Whether the plan was solved with cumulative block starts because the
    /// relaxation in one binary per start ran part of a block
    /// ([`PART_BLOCK_SWITCHES_TO_CUMULATIVE`]).
    pub switched_to_cumulative: bool,
    /// Whether relax-and-fix's fixed MIP was stopped once its plan beat its
    /// start and could no longer be proven by the relaxation's bound (only
    /// where the full search follows; see `solve/interrupt.rs`).
    pub fixed_mip_stopped: bool,
    /// Whether the full search started afresh, with HiGHS's RENS and
    /// restarts, because relax-and-fix's fixed MIP was stopped with its own
    /// bound more than [`WRONG_FIXINGS`] above the relaxation's (its fixings
    /// wrong).
    pub search_afresh: bool,
    /// Linear programs of the proof by branching on where jobs with a start
    /// cost run (0 when it did not run; see `solve/presence.rs`).
    pub presence_nodes: usize,
    /// Whether the full search stopped once its plan was within the gap of
    /// relax-and-fix's bound, before HiGHS's own bound proved it (see
    /// `solve/interrupt.rs`).
    pub search_proven_by_bound: bool,
}

/// Size of the model of a problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelSize {
    /// Variables.
    pub columns: usize,
    /// Constraints.
    pub rows: usize,
    /// Binary variables.
    pub binaries: usize,
}

/// Builds the model of a problem without solving it (what the benchmarks time
/// as "build") and says how large it is.
pub fn build_model(problem: &Problem, formulation: Formulation) -> ModelSize {
    let model = model::build(problem, formulation, false);
    ModelSize {
        columns: model.columns.len(),
        rows: model.constraints.len(),
        binaries: model.binaries,
    }
}

/// Solves a problem to a plan. Never fails: without a solution in time the
/// plan is the rule-built `fallback`.
pub fn solve(problem: &Problem, options: &SolveOptions) -> Plan {
    solve_with_stats(problem, options).0
}

/// [`solve`], also saying where the time went.
pub fn solve_with_stats(problem: &Problem, options: &SolveOptions) -> (Plan, SolveStats) {
    let started = Instant::now();
    let mut stats = SolveStats::default();
    let mut options = std::borrow::Cow::Borrowed(options);
    let mut model = build(problem, options.formulation, false, &mut stats);
    let mut outcome = run(problem, &model, &options, started, &mut stats);
    if let Ok(Run::PartBlock) = outcome {
        stats.switched_to_cumulative = true;
        // The relaxation just solved starts the new one: what is not a
        // block start keeps its key and status.
        let relaxed = stats.relaxation_basis.clone();
        let options = options.to_mut();
        options.formulation.cumulative_block_starts = true;
        options.relaxation_basis = relaxed.or(options.relaxation_basis.take());
        model = build(problem, options.formulation, false, &mut stats);
        outcome = run(problem, &model, options, started, &mut stats);
    }
    let mut outcome = outcome.and_then(Run::solved);
    if let Ok(solved) = &outcome
        && solved.overlap_left
    {
        // A degenerate optimum charged and discharged at once: solve again
        // with the binaries that forbid it.
        stats.resolved_with_binaries = true;
        model = build(problem, options.formulation, true, &mut stats);
        outcome = run(problem, &model, &options, started, &mut stats).and_then(Run::solved);
    }
    let (values, status, mip_gap, note) = match outcome {
        Ok(solved) if !solved.overlap_left => (solved.values, solved.status, solved.mip_gap, None),
        Ok(_) => (
            rules::fallback(problem, &model),
            Status::Fallback,
            None,
            Some("the solver left simultaneous charge and discharge".to_owned()),
        ),
        Err(reason) => (
            rules::fallback(problem, &model),
            Status::Fallback,
            None,
            Some(reason),
        ),
    };
    let schedule = plan::read(problem, &model, &values);
    let mut plan = Plan {
        site_id: problem.site_id.clone(),
        status,
        objective: schedule.costs.objective(),
        mip_gap,
        solve_seconds: started.elapsed().as_secs_f64(),
        costs: schedule.costs,
        intervals: schedule.intervals,
        jobs: schedule.jobs,
        note,
        explain: None,
    };
    if options.explain && plan.status != Status::Fallback {
        let left = options.time_limit.saturating_sub(started.elapsed());
        plan.explain = crate::explain::explain(
            problem,
            options.formulation,
            stats.resolved_with_binaries,
            &plan,
            left.as_secs_f64(),
            options.threads,
        );
        plan.solve_seconds = started.elapsed().as_secs_f64();
    }
    (plan, stats)
}

fn build(
    problem: &Problem,
    formulation: Formulation,
    exclusive_charge: bool,
    stats: &mut SolveStats,
) -> Model {
    let started = Instant::now();
    let model = model::build(problem, formulation, exclusive_charge);
    stats.build_seconds += started.elapsed().as_secs_f64();
    stats.columns = model.columns.len();
    stats.rows = model.constraints.len();
    stats.binaries = model.binaries;
    model
}

/// What [`run`] ended with.
enum Run {
    Solved(Solved),
    /// Relax-and-fix found the relaxation running part of a block
    /// ([`PART_BLOCK_SWITCHES_TO_CUMULATIVE`]).
    PartBlock,
}

impl Run {
    /// The solution; a model in cumulative form never asks to switch, so
    /// a second request is an error, not a loop.
    fn solved(self) -> Result<Solved, String> {
        match self {
            Run::Solved(solved) => Ok(solved),
            Run::PartBlock => {
                Err("the relaxation asked for cumulative block starts twice".to_owned())
            }
        }
    }
}

/// Whether the relaxation runs some block in part: its start indicators add
/// up to more than nothing and less than one.
fn runs_part_of_a_block(model: &Model, relaxed: &Values) -> bool {
    model.compute.jobs.iter().any(|vars| match &vars.kind {
        compute::KindVars::Block(starts) if !starts.decisions.is_empty() => {
            let total: f64 = starts.start_values(relaxed).iter().sum();
            total > INTEGRALITY_TOLERANCE && total < 1.0 - INTEGRALITY_TOLERANCE
        }
        _ => false,
    })
}

/// A solution read back from the solver and cleaned up.
struct Solved {
    values: Values,
    status: Status,
    mip_gap: Option<f64>,
    /// Charge and discharge still overlap where the model had no binaries.
    overlap_left: bool,
}

/// The model handed to HiGHS (quiet), from copies of its variables and rows,
/// with each variable of `fixings` fixed at its value.
pub(crate) fn highs_model(
    model: &Model,
    fixings: &[(Variable, f64)],
) -> Result<highs::Model, String> {
    highs_model_with_cuts(model, &[], fixings)
}

/// [`highs_model`] with the rows of `cuts` added.
fn highs_model_with_cuts(
    model: &Model,
    cuts: &[Constraint],
    fixings: &[(Variable, f64)],
) -> Result<highs::Model, String> {
    let mut lp = highs(model.variables.clone().minimise(model.solver_objective()));
    for constraint in model.constraints.iter().chain(cuts) {
        lp.add_constraint(constraint.clone());
    }
    for &(var, value) in fixings {
        lp.add_constraint(Expression::from(var).eq(value));
    }
    let mut highs = lp
        .try_into_inner()
        .map_err(|error| format!("HiGHS rejected the model: {error}"))?;
    highs.make_quiet();
    if std::env::var_os(SOLVER_LOG_VARIABLE).is_some() {
        // Diagnostics only: a refusal leaves the solve quiet, nothing else.
        let _ = highs.try_set_option("output_flag", true);
        let _ = highs.try_set_option("log_to_console", false);
        let _ = highs.try_set_option("log_file", "/dev/stderr");
    }
    Ok(highs)
}

/// Set (to anything) in the environment, HiGHS writes its log of every
/// solve to standard error: where a slow plan's time goes.
pub const SOLVER_LOG_VARIABLE: &str = "ARBITER_SOLVER_LOG";

/// Share of the time limit the LP relaxation may take (each run-energy cut
/// round's too, within what is left). It was a tenth: the 1 s replans of
/// CAISO's March 2024 include one (2024-03-16 21:00 UTC, 503 binaries) whose
/// relaxation takes 0.09–0.10 s, and in 2 of 7 runs it ran out. Without
/// the relaxation relax-and-fix has nothing, and the full search then ended
/// at 8,373.70 instead of 613.43. A share is only a cap: a relaxation that
/// ends sooner leaves the rest to what follows.
const RELAXATION_SHARE: f64 = 0.4;

/// Solves the LP relaxation of the model within [`RELAXATION_SHARE`] of the
/// time limit (and what is left of it), from `start`'s basis if given: its
/// solution and objective (a lower bound on every plan's), or `None` if that
/// fails. Its basis is left in `stats` for the next relaxation.
fn relaxation(
    model: &Model,
    cuts: &[Constraint],
    start: Option<&RelaxationBasis>,
    options: &SolveOptions,
    started: Instant,
    stats: &mut SolveStats,
) -> Option<(Values, f64, highs::SolvedModel)> {
    relaxation_within(
        model,
        cuts,
        start,
        options,
        RELAXATION_SHARE,
        started,
        stats,
    )
}

/// [`relaxation`] within `share` of the time limit.
fn relaxation_within(
    model: &Model,
    cuts: &[Constraint],
    start: Option<&RelaxationBasis>,
    options: &SolveOptions,
    share: f64,
    started: Instant,
    stats: &mut SolveStats,
) -> Option<(Values, f64, highs::SolvedModel)> {
    let time_limit = (share * options.time_limit.as_secs_f64()).min(seconds_left(options, started));
    if time_limit <= 0.0 {
        return None;
    }
    let mut highs = highs_model_with_cuts(model, cuts, &[]).ok()?;
    highs.try_set_option("solve_relaxation", true).ok()?;
    highs.try_set_option("time_limit", time_limit).ok()?;
    // Without presolve: the relaxations are small and sparse, and HiGHS's
    // presolve cost more than it saved (geometric mean of the corpus's times
    // 0.91x, 0.87x, 0.80x on seeds 1, 2, 3; CAISO March 2024's 398 replans
    // 11.0 -> 9.3 s, before bases were carried). A carried basis skips
    // presolve anyway. What it costs where it was not chosen: the week's
    // proof takes about twice as long, and two of 300 cold fleet plans end
    // worse at their budget (README, "Re-use across replans").
    highs.try_set_option("presolve", "off").ok()?;
    let carried = start.is_some_and(|start| basis::apply(model, &mut highs, start, cuts.len()));
    if cuts.is_empty() {
        stats.relaxation_basis_used = carried;
    }
    let solving = Instant::now();
    let solved = highs.try_solve().ok();
    stats.solver_seconds += solving.elapsed().as_secs_f64();
    stats.relaxations += 1;
    let solved = solved?;
    stats.relaxation_iterations += basis::iterations(&solved);
    if solved.status() != HighsModelStatus::Optimal {
        return None;
    }
    stats.relaxation_basis = basis::read(model, &solved).map(Arc::new);
    Some((
        read_values(model, &solved),
        solved.objective_value(),
        solved,
    ))
}

/// The solver's column values by variable.
fn read_values(model: &Model, solved: &highs::SolvedModel) -> Values {
    let solution = solved.get_solution();
    model
        .columns
        .iter()
        .copied()
        .zip(solution.columns().iter().copied())
        .collect()
}

/// Most rounds of run-energy cuts added to the relaxation before
/// relax-and-fix ([`Formulation::run_cuts`]). On corpus-1-025 one round adds
/// 179 cuts and the relaxation solved with them violates none; on the week
/// fixture two rounds add 334 and 124.
pub const RUN_CUT_ROUNDS: usize = 5;

/// A cut must be violated by more than this share of its job's energy.
const RUN_CUT_MIN_VIOLATION: f64 = 1e-3;

/// Share of the time limit the MIP left over by relax-and-fix may take.
const FIXED_MIP_SHARE: f64 = 0.3;

/// What relax-and-fix found.
enum Fixed {
    /// A plan within the MIP gap of the relaxation's bound: optimal.
    Proven(Solved),
    /// A plan, to start the full search from, and the relaxation's bound.
    Incumbent(Values, f64),
    /// No plan (the relaxation or the fixed MIP failed in time), with the
    /// relaxation's solution if it was solved.
    Nothing(Option<Values>),
    /// The relaxation runs part of a block: solve again with cumulative
    /// starts ([`PART_BLOCK_SWITCHES_TO_CUMULATIVE`]).
    PartBlock,
}

/// Whether a plan whose relaxation (one binary per start) runs part of a
/// block, some but not all of its energy, is solved again with cumulative
/// block starts ([`Formulation::cumulative_block_starts`]).
///
/// Such a relaxation leaves "does the block run at all" open, and one
/// binary per start has no variable for it: a branch forbids one start and
/// the relaxation moves the block's share to the next. In the cumulative
/// form the last start's "started by then" is that decision, and one branch
/// settles it. Where the relaxation runs every block whole or not at all,
/// one binary per start stays (it proves `site-day` and the week sooner).
/// Measured on the corpus (README, "The solver's tail"): corpus-2-031 58 s
/// (`feasible` at its limit) → 15 s proven; corpus-1-010 0.15 → 0.04 s.
pub const PART_BLOCK_SWITCHES_TO_CUMULATIVE: bool = true;

/// Relax-and-fix: solves the LP relaxation, fixes every binary whose value it
/// settles ([`rules::settled_binaries`]), and solves the MIP over the binaries
/// left. Every plan of that MIP is a plan of the full model, and the
/// relaxation's objective bounds the full model's optimum from below: when
/// the two are within the MIP gap the plan is proven optimal without a search
/// of the full model. On site plans the relaxation is tight (the capacity
/// cuts, few fractional on/off decisions), and this is what usually happens.
fn relax_and_fix(
    problem: &Problem,
    model: &Model,
    options: &SolveOptions,
    started: Instant,
    stats: &mut SolveStats,
) -> Result<Fixed, String> {
    let mut cuts = Vec::new();
    let Some((mut relaxed, mut bound, mut solved_relaxation)) = relaxation(
        model,
        &cuts,
        options.relaxation_basis.as_deref(),
        options,
        started,
        stats,
    ) else {
        return Ok(Fixed::Nothing(None));
    };
    if options.formulation.run_cuts {
        for _ in 0..RUN_CUT_ROUNDS {
            let found = compute::separate_run_cuts(
                problem,
                &model.compute,
                &relaxed,
                RUN_CUT_MIN_VIOLATION,
            );
            // Cuts worth less than the gap cannot move the bound enough to
            // pay for solving the relaxation again.
            let worth: f64 = found.iter().map(|&(_, worth)| worth).sum();
            if found.is_empty() || worth <= options.mip_gap * bound.abs() {
                break;
            }
            stats.run_cuts += found.len();
            cuts.extend(found.into_iter().map(|(cut, _)| cut));
            // Out of time: the last relaxation solved still bounds every plan.
            let previous = stats.relaxation_basis.clone();
            let Some((values, objective, solved)) =
                relaxation(model, &cuts, previous.as_deref(), options, started, stats)
            else {
                break;
            };
            let raised = objective - bound;
            (relaxed, bound, solved_relaxation) = (values, objective, solved);
            // The LP moved to another vertex of (nearly) the same value: more
            // rounds of the same cuts would too (corpus-1-029: four rounds
            // after the first, each at −2,153.887).
            if raised <= options.mip_gap * bound.abs() {
                break;
            }
        }
    }
    stats.relaxation_bound = Some(bound);
    // The basis of the relaxation with its cuts, for the branches of the
    // proof by presence ([`presence`]).
    let cut_basis = stats.relaxation_basis.clone();
    if PART_BLOCK_SWITCHES_TO_CUMULATIVE
        && !options.formulation.cumulative_block_starts
        && runs_part_of_a_block(model, &relaxed)
    {
        return Ok(Fixed::PartBlock);
    }
    let fixings = rules::settled_binaries(problem, model, &relaxed);
    if fixings.len() == model.binaries {
        // Every decision is settled: the relaxation, with its binaries at
        // their settled values, is itself a plan (worth more than the bound
        // only through start costs that the fractional indicators shared).
        let mut values = relaxed.clone();
        values.extend(fixings.iter().copied());
        let overlap_left = clean_up(problem, model, &mut values);
        let gap = relative_gap(model.solver_objective().eval_with(&values), bound);
        if gap <= options.mip_gap {
            stats.fixed_binaries = fixings.len();
            return Ok(Fixed::Proven(Solved {
                values,
                status: Status::Optimal,
                mip_gap: Some(gap),
                overlap_left,
            }));
        }
    }
    // The relaxation rounded around the fixings: often a plan within the gap
    // once its continuous values are re-solved; if not, the MIP's start.
    let mut start = relaxed.clone();
    start.extend(fixings.iter().copied());
    let mut start = rules::round_relaxation(problem, model, start);
    // What the fixed MIP's plan is proven against: the relaxation's bound,
    // or the higher one of the branches below.
    let mut proof_bound = bound;
    if placements::applies(model) {
        return Ok(search_placements(
            problem,
            model,
            solved_relaxation,
            relaxed,
            bound,
            &start,
            options,
            started,
            stats,
        ));
    }
    match rounded_plan(
        problem,
        model,
        solved_relaxation,
        &start,
        bound,
        options,
        stats,
    ) {
        Rounded::Proven(solved) => {
            stats.fixed_binaries = model.binaries;
            stats.rounded = true;
            return Ok(Fixed::Proven(solved));
        }
        // Complete and feasible: HiGHS takes it as it is, unless branching
        // on where jobs with a start cost run proves it (or a plan found
        // there) first.
        Rounded::Plan(values) if !options.presence_branching || !presence::applies(model) => {
            start = values;
        }
        Rounded::Plan(values) => {
            let objective = model.solver_objective().eval_with(&values);
            let searched = presence::search(
                problem,
                model,
                &cuts,
                relaxed.clone(),
                bound,
                cut_basis.as_deref(),
                objective,
                options,
                started,
                stats,
            );
            stats.presence_nodes = searched.nodes;
            if searched.proven {
                stats.relaxation_bound = Some(searched.bound);
                return Ok(conclude(
                    problem,
                    model,
                    searched.plan.unwrap_or(values),
                    searched.objective,
                    searched.bound,
                    model.binaries,
                    options,
                    stats,
                ));
            }
            // Not proven, but every plan is above the search's bound. A
            // better plan of its nodes is not the fixed MIP's start: the
            // MIP is stopped once it beats its start ([`interrupt`]), and
            // from the better start the week's ran its whole share.
            proof_bound = searched.bound;
            stats.relaxation_bound = Some(proof_bound);
            start = values;
        }
        Rounded::Nothing => {}
    }
    let mut highs = highs_model_with_cuts(model, &cuts, &fixings)?;
    // Without the start, HiGHS's first plans can leave a job short of energy
    // that the relaxation delivers, and a budget spent on them returns such
    // a plan.
    set_start(&mut highs, model, &start)?;
    configure(&mut highs, options, fixed_mip_seconds(options, started))?;
    // Where the full search follows, the fixed MIP stops once its plan beats
    // its start and no plan within its fixings can be proven
    // ([`interrupt`]). Declared before `solved`, so that it outlives it.
    let _stop = (options.search_limit_from_incumbent != Some(Duration::ZERO))
        .then(|| {
            // The relaxation's own bound, not the search's: stopping on the
            // higher one kept the week's fixed MIP running into the full
            // search's time (`feasible` at 60 s against proven in 36 s).
            interrupt::stop_when_unprovable(&mut highs, bound, options.mip_gap)
        })
        .flatten();
    let solving = Instant::now();
    let solved = highs.try_solve();
    stats.solver_seconds += solving.elapsed().as_secs_f64();
    let Ok(mut solved) = solved else {
        return Ok(Fixed::Nothing(Some(relaxed)));
    };
    interrupt::clear(&mut solved);
    stats.fixed_mip_stopped = solved.status() == HighsModelStatus::ReachedInterrupt;
    if solved.primal_solution_status() != HighsSolutionStatus::Feasible {
        return Ok(Fixed::Nothing(Some(relaxed)));
    }
    // Stopped with its own bound far above the relaxation's: the fixings
    // were wrong, and the full search that follows starts afresh.
    let wrong_fixings = stats.fixed_mip_stopped
        && solved
            .double_info_value(c"mip_dual_bound")
            .is_ok_and(|dual| relative_gap(dual, bound) > WRONG_FIXINGS);
    let values = read_values(model, &solved);
    let objective = solved.objective_value();
    let fixed = conclude(
        problem,
        model,
        values,
        objective,
        proof_bound,
        fixings.len(),
        options,
        stats,
    );
    stats.search_afresh = wrong_fixings && matches!(fixed, Fixed::Incumbent(..));
    Ok(fixed)
}

/// What relax-and-fix's fixed MIP (or the search over placements) may
/// spend, seconds: its share of the time limit, within what is left.
fn fixed_mip_seconds(options: &SolveOptions, started: Instant) -> f64 {
    seconds_left(options, started)
        .min(FIXED_MIP_SHARE * options.time_limit.as_secs_f64())
        .max(0.0)
}

/// What is left of the time limit since `started`, less the reserve kept
/// for winding down ([`TIME_RESERVE`]), seconds (negative once it is spent).
fn seconds_left(options: &SolveOptions, started: Instant) -> f64 {
    options
        .time_limit
        .saturating_sub(started.elapsed())
        .as_secs_f64()
        - TIME_RESERVE * options.time_limit.as_secs_f64()
}

/// Relax-and-fix's plan against `bound`: proven optimal within the gap
/// (`fixed` binaries counted as fixed), or the full search's start.
#[allow(clippy::too_many_arguments)]
fn conclude(
    problem: &Problem,
    model: &Model,
    mut values: Values,
    objective: f64,
    bound: f64,
    fixed: usize,
    options: &SolveOptions,
    stats: &mut SolveStats,
) -> Fixed {
    let gap = relative_gap(objective, bound);
    if gap > options.mip_gap {
        return Fixed::Incumbent(values, bound);
    }
    stats.fixed_binaries = fixed;
    let overlap_left = clean_up(problem, model, &mut values);
    Fixed::Proven(Solved {
        values,
        status: Status::Optimal,
        mip_gap: Some(gap),
        overlap_left,
    })
}

/// Relax-and-fix for a model whose only binaries are block starts: the
/// search over placements ([`placements`]) within the fixed MIP's budget,
/// from the relaxation's basis. Every binary stays free, so the search's
/// bound holds for the whole model.
#[allow(clippy::too_many_arguments)]
fn search_placements(
    problem: &Problem,
    model: &Model,
    relaxation: highs::SolvedModel,
    relaxed: Values,
    bound: f64,
    start: &Values,
    options: &SolveOptions,
    started: Instant,
    stats: &mut SolveStats,
) -> Fixed {
    let deadline = Instant::now() + Duration::from_secs_f64(fixed_mip_seconds(options, started));
    let solving = Instant::now();
    let placed = placements::search(
        model,
        relaxation,
        relaxed.clone(),
        bound,
        start,
        options.mip_gap,
        deadline,
    );
    stats.solver_seconds += solving.elapsed().as_secs_f64();
    let Some(placed) = placed else {
        return Fixed::Nothing(Some(relaxed));
    };
    stats.placement_nodes = placed.nodes;
    conclude(
        problem,
        model,
        placed.values,
        placed.objective,
        placed.bound,
        model.binaries,
        options,
        stats,
    )
}

/// What the rounded relaxation gave.
enum Rounded {
    /// A plan within the MIP gap of the relaxation's bound: optimal.
    Proven(Solved),
    /// A plan (every binary 0 or 1, every rule kept) further from the bound.
    Plan(Values),
    /// No plan: the rounding is infeasible, or its LP was not solved.
    Nothing,
}

/// The linear program left when every binary is fixed at the rounded
/// relaxation's value (`start`): its optimum is a plan, proven optimal when
/// it is within the MIP gap of the relaxation's `bound`. It is solved in the
/// relaxation's own HiGHS instance, from its basis, so a few simplex
/// iterations take the relaxation to it: a fraction of what the MIP over the
/// unsettled binaries costs to reach the same plan.
fn rounded_plan(
    problem: &Problem,
    model: &Model,
    relaxation: highs::SolvedModel,
    start: &Values,
    bound: f64,
    options: &SolveOptions,
    stats: &mut SolveStats,
) -> Rounded {
    let mut highs = highs::Model::from(relaxation);
    for ((&var, &integer), col) in model
        .columns
        .iter()
        .zip(&model.integer)
        .zip(column_handles(model.columns.len()))
    {
        let fixed = model::value(start, var);
        // A start indicator the rounding left fractional stays free: with
        // the on/off decisions fixed, the LP sets it to 0 or 1 (checked
        // below).
        if integer && (fixed == 0.0 || fixed == 1.0) {
            highs.change_column_bounds(col, fixed..=fixed);
        }
    }
    let solving = Instant::now();
    let solved = highs.try_solve();
    stats.solver_seconds += solving.elapsed().as_secs_f64();
    let Ok(solved) = solved else {
        return Rounded::Nothing;
    };
    if solved.status() != HighsModelStatus::Optimal {
        return Rounded::Nothing;
    }
    let mut values = read_values(model, &solved);
    if !integral(model, &values) {
        return Rounded::Nothing;
    }
    let gap = relative_gap(solved.objective_value(), bound);
    if gap > options.mip_gap {
        return Rounded::Plan(values);
    }
    let overlap_left = clean_up(problem, model, &mut values);
    Rounded::Proven(Solved {
        values,
        status: Status::Optimal,
        mip_gap: Some(gap),
        overlap_left,
    })
}

/// Whether every binary of `values` is 0 or 1, within
/// [`INTEGRALITY_TOLERANCE`].
fn integral(model: &Model, values: &Values) -> bool {
    model
        .columns
        .iter()
        .zip(&model.integer)
        .filter(|&(_, &integer)| integer)
        .all(|(&var, _)| {
            let value = model::value(values, var);
            (value - value.round()).abs() <= INTEGRALITY_TOLERANCE
        })
}

/// How far from 0 or 1 a binary of an LP's solution may be (HiGHS's own
/// MIP tolerance).
const INTEGRALITY_TOLERANCE: f64 = 1e-6;

/// HiGHS's handles of the first `count` columns (the crate makes them only
/// as columns are added, so they are taken from a problem built for that).
fn column_handles(count: usize) -> Vec<highs::Col> {
    let mut problem = highs::RowProblem::default();
    (0..count)
        .map(|_| problem.add_column(0.0, 0.0..=0.0))
        .collect()
}

/// Hands HiGHS `values` as its first incumbent. They need not be feasible:
/// HiGHS keeps their on/off decisions and completes the rest, or ignores them.
fn set_start(highs: &mut highs::Model, model: &Model, values: &Values) -> Result<(), String> {
    let columns: Vec<f64> = model
        .columns
        .iter()
        .map(|var| model::value(values, *var))
        .collect();
    highs
        .try_set_solution(Some(&columns), None, None, None)
        .map_err(|error| format!("HiGHS refused the warm start: {error:?}"))
}

/// `(objective − bound) / |objective|`, as HiGHS measures its gap: 0 when both
/// are 0, infinite when only the objective is.
fn relative_gap(objective: f64, bound: f64) -> f64 {
    let difference = (objective - bound).max(0.0);
    if difference <= NOISE {
        0.0
    } else if objective.abs() <= NOISE {
        f64::INFINITY
    } else {
        difference / objective.abs()
    }
}

/// The settings every MIP run shares: the gap, a time limit of `seconds`,
/// the tuned switches and the thread count.
fn configure(highs: &mut highs::Model, options: &SolveOptions, seconds: f64) -> Result<(), String> {
    let settings: [(&str, f64); 2] = [
        ("mip_rel_gap", options.mip_gap),
        ("time_limit", seconds.max(0.0)),
    ];
    for (name, value) in settings {
        highs
            .try_set_option(name, value)
            .map_err(|error| format!("HiGHS refused option {name}: {error:?}"))?;
    }
    if options.tuned_solver {
        switch(highs, &TUNED_SWITCHES)?;
    }
    if let Some(threads) = options.threads {
        let threads = i32::try_from(threads).unwrap_or(i32::MAX);
        highs
            .try_set_option("threads", threads)
            .map_err(|error| format!("HiGHS refused option threads: {error:?}"))?;
    }
    Ok(())
}

/// Sets HiGHS's boolean `switches`.
fn switch(highs: &mut highs::Model, switches: &[(&str, bool)]) -> Result<(), String> {
    for &(name, value) in switches {
        highs
            .try_set_option(name, value)
            .map_err(|error| format!("HiGHS refused option {name}: {error:?}"))?;
    }
    Ok(())
}

/// Runs HiGHS on the model within what is left of the time budget: first
/// relax-and-fix (when the options ask for it), then, unless that proved a
/// plan optimal, the full search from its plan or the warm start.
fn run(
    problem: &Problem,
    model: &Model,
    options: &SolveOptions,
    started: Instant,
    stats: &mut SolveStats,
) -> Result<Run, String> {
    if model.binaries == 0 {
        // A model without binaries is its own relaxation: one LP, from the
        // previous plan's basis when there is one, solves it.
        if let Some((mut values, _, _)) = relaxation_within(
            model,
            &[],
            options.relaxation_basis.as_deref(),
            options,
            1.0,
            started,
            stats,
        ) {
            let overlap_left = clean_up(problem, model, &mut values);
            return Ok(Run::Solved(Solved {
                values,
                status: Status::Optimal,
                mip_gap: Some(0.0),
                overlap_left,
            }));
        }
    }
    // The relaxation, once solved (or failed), is not solved again for the
    // warm start.
    let mut relaxed: Option<Option<Values>> = None;
    let mut incumbent = None;
    // A model whose only binaries keep import from export and charge from
    // discharge apart (no job decides anything) is small work for HiGHS
    // alone: relax-and-fix's relaxation, rounded LP and fixed MIP cost more
    // than they save there (README, "Models without job decisions").
    if options.relax_and_fix && model.binaries > 0 && model.compute.have_binaries() {
        match relax_and_fix(problem, model, options, started, stats)? {
            Fixed::Proven(solved) => return Ok(Run::Solved(solved)),
            Fixed::Incumbent(values, bound) => incumbent = Some((values, bound)),
            Fixed::Nothing(values) => relaxed = Some(values),
            Fixed::PartBlock => return Ok(Run::PartBlock),
        }
    }
    let warm_start = match &options.warm_start {
        WarmStart::Auto if model.binaries <= AUTO_RELAXATION_MAX_BINARIES => &WarmStart::Relaxation,
        WarmStart::Auto => &WarmStart::Rules,
        other => other,
    };
    if let Some((mut values, bound)) =
        incumbent.take_if(|_| options.search_limit_from_incumbent == Some(Duration::ZERO))
    {
        // No time to improve on relax-and-fix's plan: it is the plan, with
        // its gap to the relaxation's bound, and no full model is built.
        let overlap_left = clean_up(problem, model, &mut values);
        let gap = relative_gap(model.solver_objective().eval_with(&values), bound);
        return Ok(Run::Solved(Solved {
            values,
            status: Status::Feasible,
            mip_gap: Some(gap),
            overlap_left,
        }));
    }
    let relaxation_bound = incumbent.as_ref().map(|&(_, bound)| bound);
    let warm_values = match (incumbent, warm_start) {
        (Some((values, _)), _) => Some(values),
        (None, WarmStart::None | WarmStart::Auto) => None,
        (None, WarmStart::Rules) => Some(rules::fallback(problem, model)),
        (None, WarmStart::Plan(plan)) => Some(rules::from_plan(problem, model, plan)),
        (None, WarmStart::Relaxation) => Some(
            relaxed
                .unwrap_or_else(|| {
                    relaxation(
                        model,
                        &[],
                        options.relaxation_basis.as_deref(),
                        options,
                        started,
                        stats,
                    )
                    .map(|(values, _, _)| values)
                })
                .map(|values| rules::round_relaxation(problem, model, values))
                .unwrap_or_else(|| rules::fallback(problem, model)),
        ),
    };
    let mut highs = highs_model(model, &[])?;
    // HiGHS overruns its limit a little while it winds down, and reading the
    // plan back takes time too: keep a reserve so the caller's limit holds.
    let mut highs_limit = seconds_left(options, started);
    if relaxation_bound.is_some()
        && let Some(limit) = options.search_limit_from_incumbent
    {
        highs_limit = highs_limit.min(limit.as_secs_f64());
    }
    configure(&mut highs, options, highs_limit)?;
    if relaxation_bound.is_some() && options.tuned_solver && !stats.search_afresh {
        switch(&mut highs, &AFTER_RELAX_AND_FIX_SWITCHES)?;
    }
    if let Some(values) = &warm_values {
        set_start(&mut highs, model, values)?;
    }
    // Relax-and-fix's bound (with its cuts and branches) can be above
    // HiGHS's own: the search stops once its plan is within the gap of it.
    // Declared before `solved`, so that it outlives it.
    let _stop = relaxation_bound
        .filter(|_| options.stop_at_outside_bound)
        .and_then(|bound| interrupt::stop_when_proven(&mut highs, bound, options.mip_gap));
    let solving = Instant::now();
    let solved = highs.try_solve();
    stats.solver_seconds += solving.elapsed().as_secs_f64();
    let mut solved = solved.map_err(|error| format!("HiGHS failed: {error:?}"))?;
    interrupt::clear(&mut solved);
    let model_status = solved.status();
    // The gap to relax-and-fix's bound, where the search stopped at it.
    let outside_gap = relaxation_bound
        .map(|bound| relative_gap(solved.objective_value(), bound))
        .filter(|&gap| {
            model_status == HighsModelStatus::ReachedInterrupt
                && solved.primal_solution_status() == HighsSolutionStatus::Feasible
                && gap <= options.mip_gap
        });
    let proven_outside = outside_gap.is_some();
    stats.search_proven_by_bound = proven_outside;
    let status = match model_status {
        HighsModelStatus::Optimal => Status::Optimal,
        HighsModelStatus::ReachedInterrupt if proven_outside => Status::Optimal,
        HighsModelStatus::ReachedTimeLimit
        | HighsModelStatus::ReachedIterationLimit
        | HighsModelStatus::ReachedSolutionLimit
        | HighsModelStatus::ReachedInterrupt
        | HighsModelStatus::ReachedMemoryLimit => Status::Feasible,
        other => return Err(format!("HiGHS ended with status {other:?}")),
    };
    if solved.primal_solution_status() != HighsSolutionStatus::Feasible {
        return Err(format!(
            "HiGHS found no solution before it stopped ({model_status:?})"
        ));
    }
    // The lesser of HiGHS's gap and the one to relax-and-fix's bound.
    let gap = outside_gap.map_or(solved.mip_gap(), |outside| solved.mip_gap().min(outside));
    let mip_gap = match (status, gap.is_finite()) {
        (_, true) => Some(gap.max(0.0)),
        // A model without binaries is a plain LP, solved exactly.
        (Status::Optimal, false) => Some(0.0),
        // Stopped before proving a bound of its own: relax-and-fix's, if it
        // ran, else unknown.
        (_, false) => relaxation_bound.map(|bound| relative_gap(solved.objective_value(), bound)),
    };
    let mut values = read_values(model, &solved);
    let overlap_left = clean_up(problem, model, &mut values);
    Ok(Run::Solved(Solved {
        values,
        status,
        mip_gap,
        overlap_left,
    }))
}

/// Share of the time limit kept back from HiGHS for winding down and reading
/// the plan (the week-long fixture overran a 30 s limit by 0.4 s without it).
const TIME_RESERVE: f64 = 0.03;

/// Below this a solver value is noise and becomes 0.
const NOISE: f64 = 1e-9;

/// Makes a solver solution exact: values inside their bounds, binaries 0 or 1
/// with the job powers agreeing, the balance closed, no simultaneous import
/// and export, and the measuring variables at their least values. Returns
/// whether charge and discharge still overlap somewhere (only a model with
/// binaries can remove that).
fn clean_up(problem: &Problem, model: &Model, values: &mut Values) -> bool {
    for (var, &(min, max)) in model.columns.iter().zip(&model.bounds) {
        if let Some(value) = values.get_mut(var) {
            *value = value.clamp(min, max);
            if value.abs() < NOISE {
                *value = 0.0;
            }
        }
    }
    compute::snap(problem, &model.compute, values);
    rules::settle_balance(problem, model, values);
    grid::net_flows(&model.grid, values);
    let overlap_left = match (&model.battery, &problem.battery) {
        (Some(vars), Some(spec)) => battery::net_overlaps(vars, spec, &model.grid, values),
        _ => false,
    };
    rules::settle_balance(problem, model, values);
    rules::settle_dependents(problem, model, values);
    overlap_left
}
