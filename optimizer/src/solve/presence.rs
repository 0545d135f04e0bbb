//! A proof by branching on whether a job runs in a span, for plans that
//! relax-and-fix found but could not prove from the relaxation's bound.
//!
//! A preemptible job with a start cost pays `start_cost · Σ_t y_jt`, and the
//! relaxation may run it at a fraction `u` of its power over a span of
//! intervals: its indicators there sit at `u`, and so does the start it pays.
//! No cut on the job's own rows removes that point when the job could
//! deliver its energy elsewhere in its window: it mixes a plan that runs the
//! job in the span with one that runs it elsewhere at a higher price, and
//! only the prices tell the two apart (`site-day`: one job at 95.4% of its
//! power for eight hours pays 0.954 of a start, 0.37 below the optimum,
//! which leaves the plan 1.5 × 10⁻⁴ from the bound: over the contract's
//! gap).
//!
//! The dichotomy "the job has no run in `[k, l]`" (`z_{k−1} + Σ_{t=k..l}
//! y_jt ≤ 0`, which with `y_jt ≥ z_jt − z_{j,t−1}` holds every `z_jt` of the
//! span at 0) or "it has one" (`… ≥ 1`) splits every plan into two sets, and
//! each set's relaxation (the model's, with its cuts and the branch rows)
//! bounds its plans. A small best-first search over such branches, each node
//! one linear program from the relaxation's basis, raises the bound where
//! the fractional starts are what it lacks. When every open node is within
//! the MIP gap of the incumbent, the incumbent is proven; otherwise nothing
//! is claimed and the full search runs as before.

use std::time::Instant;

use good_lp::{Constraint, Expression};

use super::{
    RelaxationBasis, Rounded, SolveOptions, SolveStats, integral, relative_gap, relaxation_within,
    rounded_plan,
};
use crate::model::compute::KindVars;
use crate::model::rules;
use crate::model::{Model, Values, value};
use crate::problem::{JobKind, Problem};

/// Most linear programs the search may solve (two per branch). `site-day`
/// is proven with four; over the corpus (seeds 1–3) every problem proven
/// took two to four, and those not proven spent up to twelve when this was
/// twelve.
pub const PRESENCE_NODES: usize = 6;

/// Share of the time limit each of the search's linear programs may take.
const NODE_SHARE: f64 = 0.1;

/// How far from 0 or 1 a span's start mass must be to branch on it.
const FRACTIONAL: f64 = 1e-4;

/// Whether some job has start variables to branch on: without one (the
/// planner's jobs carry no start cost) the search is skipped, and with it
/// the copy of the relaxation it would start from.
pub(super) fn applies(model: &Model) -> bool {
    model
        .compute
        .jobs
        .iter()
        .any(|job| matches!(&job.kind, KindVars::Preemptible { starts, .. } if !starts.is_empty()))
}

/// A span of one job's window that the relaxation runs in part.
struct Span {
    /// The rows "no run in the span" (`≤ 0`) and "a run in it" (`≥ 1`).
    none: Constraint,
    some: Constraint,
    /// The start cost the relaxation leaves unpaid there.
    worth: f64,
}

/// The span whose unpaid start is worth most in `values`, if any.
fn most_fractional_span(problem: &Problem, model: &Model, values: &Values) -> Option<Span> {
    let mut best: Option<Span> = None;
    for (job, spec) in model.compute.jobs.iter().zip(&problem.jobs) {
        let (
            KindVars::Preemptible {
                on,
                starts,
                running,
                ..
            },
            JobKind::Preemptible { start_cost, .. },
        ) = (&job.kind, &spec.kind)
        else {
            continue;
        };
        if starts.is_empty() || *start_cost <= 0.0 {
            continue;
        }
        let running = job.window.start == 0 && *running;
        let mut t = 0;
        while t < on.len() {
            if value(values, on[t]) <= FRACTIONAL {
                t += 1;
                continue;
            }
            // A maximal span [k, l] where the job is on at all.
            let k = t;
            while t < on.len() && value(values, on[t]) > FRACTIONAL {
                t += 1;
            }
            let l = t - 1;
            if k == 0 && running {
                // Its run began before the horizon: it is always "some".
                continue;
            }
            let mut mass: f64 = starts[k..=l].iter().map(|&y| value(values, y)).sum();
            let mut presence = Expression::default();
            for &y in &starts[k..=l] {
                presence.add_mul(1.0, y);
            }
            if k > 0 {
                mass += value(values, on[k - 1]);
                presence.add_mul(1.0, on[k - 1]);
            }
            if mass <= FRACTIONAL || mass >= 1.0 - FRACTIONAL {
                continue;
            }
            let worth = (1.0 - mass) * start_cost;
            if best.as_ref().is_none_or(|span| worth > span.worth) {
                best = Some(Span {
                    none: presence.clone().leq(0.0),
                    some: presence.geq(1.0),
                    worth,
                });
            }
        }
    }
    best
}

/// A set of plans: the model's relaxation with `rows` added.
struct Node {
    rows: Vec<Constraint>,
    bound: f64,
    values: Values,
}

/// Searches branches on spans from the relaxation `relaxed` (with `cuts`,
/// objective `bound`, basis `basis`) until the incumbent, of objective
/// `objective` (or a better plan a node's rounding finds), is proven within
/// the MIP gap, or the search runs out of nodes ([`PRESENCE_NODES`]), time
/// or spans to branch on. Leaves `stats.relaxation_basis` as it found it
/// (the next plan's start).
#[allow(clippy::too_many_arguments)]
pub(super) fn search(
    problem: &Problem,
    model: &Model,
    cuts: &[Constraint],
    relaxed: Values,
    bound: f64,
    basis: Option<&RelaxationBasis>,
    objective: f64,
    options: &SolveOptions,
    started: Instant,
    stats: &mut SolveStats,
) -> Search {
    let mut found = Search {
        proven: false,
        bound,
        objective,
        plan: None,
        nodes: 0,
    };
    let carried = stats.relaxation_basis.clone();
    let mut open = vec![Node {
        rows: Vec::new(),
        bound,
        values: relaxed,
    }];
    // The least bound of the nodes closed (their plans are within the gap
    // of the incumbent, or are plans).
    let mut closed = f64::INFINITY;
    let mut solved = 0;
    let least =
        |open: &[Node], closed: f64| open.iter().map(|node| node.bound).fold(closed, f64::min);
    let unfinished = loop {
        // Best first: the node with the lowest bound.
        let Some(lowest) = open
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.bound.total_cmp(&b.1.bound))
            .map(|(i, _)| i)
        else {
            found.proven = true;
            break None;
        };
        if relative_gap(found.objective, open[lowest].bound) <= options.mip_gap {
            found.proven = true;
            break None;
        }
        if solved + 2 > PRESENCE_NODES {
            break None;
        }
        let node = open.swap_remove(lowest);
        let Some(span) = most_fractional_span(problem, model, &node.values) else {
            break Some(node.bound);
        };
        let mut failed = false;
        for branch in [span.none, span.some] {
            let mut rows = node.rows.clone();
            rows.push(branch);
            let all: Vec<Constraint> = cuts.iter().cloned().chain(rows.iter().cloned()).collect();
            solved += 1;
            let Some((values, child, solved_child)) =
                relaxation_within(model, &all, basis, options, NODE_SHARE, started, stats)
            else {
                // Infeasible and out of time look alike here: give up.
                failed = true;
                break;
            };
            if integral(model, &values) {
                // A plan: every binary whole, every rule kept.
                closed = closed.min(child);
                if child < found.objective {
                    found.objective = child;
                    found.plan = Some(values);
                }
                continue;
            }
            if relative_gap(found.objective, child) > options.mip_gap
                && let Some((rounded, rounded_objective)) =
                    round(problem, model, solved_child, &values, child, options, stats)
                && rounded_objective < found.objective
            {
                // The node's relaxation rounded, its continuous values
                // re-solved: a better plan than the incumbent, which the
                // proof then needs.
                found.objective = rounded_objective;
                found.plan = Some(rounded);
            }
            if relative_gap(found.objective, child) <= options.mip_gap {
                closed = closed.min(child);
            } else {
                open.push(Node {
                    rows,
                    bound: child,
                    values,
                });
            }
        }
        if failed {
            break Some(node.bound);
        }
    };
    stats.relaxation_basis = carried;
    found.nodes = solved;
    found.bound = least(&open, closed)
        .min(unfinished.unwrap_or(f64::INFINITY))
        .min(found.objective)
        .max(bound);
    found
}

/// What the search found.
pub(super) struct Search {
    /// Whether the best plan is proven within the MIP gap of `bound`.
    pub proven: bool,
    /// No plan's objective is lower (at least the relaxation's bound).
    pub bound: f64,
    /// The best plan's objective: the incumbent's, or a node's that beat it.
    pub objective: f64,
    /// The node's plan that beat the incumbent, if one did.
    pub plan: Option<Values>,
    /// Linear programs solved for the branches.
    pub nodes: usize,
}

/// The plan of a node's relaxation `values` (objective `bound`, solved in
/// `solved`) with its binaries rounded as relax-and-fix rounds its own, and
/// its objective; `None` where that rounding has no plan.
fn round(
    problem: &Problem,
    model: &Model,
    solved: highs::SolvedModel,
    values: &Values,
    bound: f64,
    options: &SolveOptions,
    stats: &mut SolveStats,
) -> Option<(Values, f64)> {
    let mut start = values.clone();
    start.extend(rules::settled_binaries(problem, model, values));
    let start = rules::round_relaxation(problem, model, start);
    let values = match rounded_plan(problem, model, solved, &start, bound, options, stats) {
        Rounded::Proven(solved) => solved.values,
        Rounded::Plan(values) => values,
        Rounded::Nothing => return None,
    };
    let objective = model.solver_objective().eval_with(&values);
    Some((values, objective))
}
