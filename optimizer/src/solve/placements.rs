//! Branch and bound over block placements, for models whose only binaries
//! are the start decisions of block jobs.
//!
//! Such a model is a choice of placement (a start, or none) for each block,
//! and a linear program once the placements are chosen. Under a demand
//! charge its relaxation is weak: it mixes placements, and a mix has a lower
//! peak than any one of them (a 100 kW block of 8 h in a 26-hour window:
//! relaxation 0.29, optimum 19.02). HiGHS closes that gap at its root with
//! cuts and takes seconds; here each node restricts every block to a range
//! of its placements by column bounds and re-solves the relaxation's linear
//! program from the previous basis (a few simplex iterations). A node whose
//! solution has every start at 0 or 1 is a plan, its objective exact; a
//! node is split where its block's placements are most spread, at the
//! median of their weight. Every bound is that of a linear program over a
//! superset of the node's placements, so the search is exact: it stops
//! when the best plan is within the MIP gap of the lowest open bound.

use std::time::Instant;

use good_lp::Variable;

use super::{INTEGRALITY_TOLERANCE, column_handles, read_values, relative_gap};
use crate::model::compute::KindVars;
use crate::model::{Model, Values, value};

/// A block's placements as the search sees them: option 0 is "never
/// started", option `k + 1` its `k`-th allowed start.
struct Block {
    decisions: Vec<Variable>,
    columns: Vec<highs::Col>,
}

impl Block {
    /// The weight the solution puts on each option.
    fn weights(&self, values: &Values) -> Vec<f64> {
        let starts: Vec<f64> = self
            .decisions
            .iter()
            .map(|&var| value(values, var).clamp(0.0, 1.0))
            .collect();
        let never = (1.0 - starts.iter().sum::<f64>()).max(0.0);
        std::iter::once(never).chain(starts).collect()
    }
}

/// A set of plans: each block placed within an inclusive range of options.
struct Node {
    ranges: Vec<(usize, usize)>,
    /// The objective of the node's relaxation: no plan in it costs less.
    bound: f64,
    values: Values,
}

/// What the search found: its best plan and a bound on every plan's
/// objective (the lowest open node's, or the plan's own once proven).
pub(super) struct Placed {
    pub values: Values,
    pub objective: f64,
    pub bound: f64,
    /// Linear programs solved.
    pub nodes: usize,
}

/// Whether every binary of the model is a block's start decision (one
/// binary per start; the cumulative form is left to HiGHS).
pub(super) fn applies(model: &Model) -> bool {
    let mut decisions = 0;
    for job in &model.compute.jobs {
        if let KindVars::Block(starts) = &job.kind {
            if starts.cumulative && !starts.decisions.is_empty() {
                return false;
            }
            decisions += starts.decisions.len();
        }
    }
    decisions > 0 && decisions == model.binaries
}

/// Searches the placements from the solved relaxation (`relaxed`, with
/// objective `bound`), trying first the placements of `start` (the rounded
/// relaxation). Stops when the best plan is within `mip_gap` of the lowest
/// open bound, or at `deadline`. `None` if no plan was found.
pub(super) fn search(
    model: &Model,
    relaxation: highs::SolvedModel,
    relaxed: Values,
    bound: f64,
    start: &Values,
    mip_gap: f64,
    deadline: Instant,
) -> Option<Placed> {
    let handles = column_handles(model.columns.len());
    let column_of: std::collections::HashMap<Variable, usize> = model
        .columns
        .iter()
        .enumerate()
        .map(|(i, &var)| (var, i))
        .collect();
    let blocks: Vec<Block> = model
        .compute
        .jobs
        .iter()
        .filter_map(|job| match &job.kind {
            KindVars::Block(starts) if !starts.decisions.is_empty() => Some(Block {
                decisions: starts.decisions.clone(),
                columns: starts
                    .decisions
                    .iter()
                    .map(|var| handles[column_of[var]])
                    .collect(),
            }),
            _ => None,
        })
        .collect();
    let mut lp = Lp {
        model,
        highs: Some(highs::Model::from(relaxation)),
        blocks: &blocks,
        solved: 0,
    };
    let mut best: Option<(f64, Values)> = None;
    let mut open = Vec::new();
    let mut stopped = false;

    // The rounded relaxation's placements first: usually the optimum or
    // near it, so that most nodes are pruned as soon as they are solved.
    let rounded: Vec<(usize, usize)> = blocks
        .iter()
        .map(|block| {
            let option = chosen_option(block, start);
            (option, option)
        })
        .collect();
    let whole: Vec<(usize, usize)> = blocks.iter().map(|b| (0, b.decisions.len())).collect();
    match lp.solve(&rounded, deadline) {
        Solution::Solved(objective, values) if lp.integral(&values) => {
            best = Some((objective, values));
        }
        Solution::Solved(..) | Solution::Infeasible => {}
        Solution::Stopped => return None,
    }
    open.push(Node {
        ranges: whole,
        bound,
        values: relaxed,
    });

    while let Some(lowest) =
        (0..open.len()).min_by(|&a, &b| open[a].bound.total_cmp(&open[b].bound))
    {
        if let Some((objective, _)) = &best
            && relative_gap(*objective, open[lowest].bound) <= mip_gap
        {
            break;
        }
        if stopped || Instant::now() >= deadline {
            break;
        }
        let node = open.swap_remove(lowest);
        let Some((b, split)) = branch(&blocks, &node) else {
            // Every block integral: a plan (found when the node was solved).
            continue;
        };
        for half in [(node.ranges[b].0, split), (split + 1, node.ranges[b].1)] {
            let mut ranges = node.ranges.clone();
            ranges[b] = half;
            match lp.solve(&ranges, deadline) {
                Solution::Solved(objective, values) => {
                    if best.as_ref().is_some_and(|(best, _)| objective >= *best) {
                        continue;
                    }
                    if lp.integral(&values) {
                        best = Some((objective, values));
                    } else {
                        open.push(Node {
                            ranges,
                            bound: objective,
                            values,
                        });
                    }
                }
                Solution::Infeasible => {}
                Solution::Stopped => {
                    // Its half is not searched: its parent's bound still holds.
                    open.push(Node {
                        ranges,
                        bound: node.bound,
                        values: node.values.clone(),
                    });
                    stopped = true;
                    break;
                }
            }
        }
    }
    let (objective, values) = best?;
    let lowest_open = open
        .iter()
        .map(|node| node.bound)
        .fold(f64::INFINITY, f64::min);
    Some(Placed {
        values,
        objective,
        bound: lowest_open.min(objective),
        nodes: lp.solved,
    })
}

/// The option an integral (or rounded) assignment gives a block.
fn chosen_option(block: &Block, values: &Values) -> usize {
    block
        .decisions
        .iter()
        .position(|&var| value(values, var) > 0.5)
        .map_or(0, |k| k + 1)
}

/// The block to split and the last option of its first half: the block
/// whose weight is most spread within its range, at the option where half
/// of its weight is reached. `None` when every block's weight sits on one
/// option.
fn branch(blocks: &[Block], node: &Node) -> Option<(usize, usize)> {
    let mut choice: Option<(usize, f64)> = None;
    for (b, block) in blocks.iter().enumerate() {
        let (lo, hi) = node.ranges[b];
        if lo == hi {
            continue;
        }
        let weights = block.weights(&node.values);
        let largest = weights[lo..=hi].iter().copied().fold(0.0, f64::max);
        if largest >= 1.0 - INTEGRALITY_TOLERANCE {
            continue;
        }
        if choice.is_none_or(|(_, most)| largest < most) {
            choice = Some((b, largest));
        }
    }
    let (b, _) = choice?;
    let (lo, hi) = node.ranges[b];
    let weights = blocks[b].weights(&node.values);
    let total: f64 = weights[lo..=hi].iter().sum();
    let mut reached = 0.0;
    let mut split = lo;
    for (option, weight) in weights.iter().enumerate().take(hi).skip(lo) {
        reached += weight;
        split = option;
        if reached >= total / 2.0 {
            break;
        }
    }
    Some((b, split))
}

/// What solving a node's linear program gave.
enum Solution {
    Solved(f64, Values),
    Infeasible,
    /// Out of time, or HiGHS failed: the search ends.
    Stopped,
}

/// The relaxation's HiGHS instance, re-solved with the blocks' columns
/// bounded to each node's ranges.
struct Lp<'a> {
    model: &'a Model,
    highs: Option<highs::Model>,
    blocks: &'a [Block],
    solved: usize,
}

impl Lp<'_> {
    fn solve(&mut self, ranges: &[(usize, usize)], deadline: Instant) -> Solution {
        if Instant::now() >= deadline {
            return Solution::Stopped;
        }
        let Some(mut highs) = self.highs.take() else {
            return Solution::Stopped;
        };
        // HiGHS's time limit counts every run of the instance, the
        // relaxation's included; the deadline is checked between linear
        // programs instead, each a few simplex iterations from the last basis.
        if highs.try_set_option("time_limit", f64::INFINITY).is_err() {
            return Solution::Stopped;
        }
        for (block, &(lo, hi)) in self.blocks.iter().zip(ranges) {
            for (k, &col) in block.columns.iter().enumerate() {
                let option = k + 1;
                if lo == hi && option == lo {
                    highs.change_column_bounds(col, 1.0..=1.0);
                } else if (lo..=hi).contains(&option) {
                    highs.change_column_bounds(col, 0.0..=1.0);
                } else {
                    highs.change_column_bounds(col, 0.0..=0.0);
                }
            }
        }
        let Ok(solved) = highs.try_solve() else {
            return Solution::Stopped;
        };
        self.solved += 1;
        let outcome = match solved.status() {
            highs::HighsModelStatus::Optimal => {
                Solution::Solved(solved.objective_value(), read_values(self.model, &solved))
            }
            highs::HighsModelStatus::Infeasible => Solution::Infeasible,
            _ => Solution::Stopped,
        };
        self.highs = Some(highs::Model::from(solved));
        outcome
    }

    /// Whether every block's start decisions are 0 or 1.
    fn integral(&self, values: &Values) -> bool {
        self.blocks.iter().all(|block| {
            block.decisions.iter().all(|&var| {
                let v = value(values, var);
                (v - v.round()).abs() <= INTEGRALITY_TOLERANCE
            })
        })
    }
}
