//! Compute jobs: IT power `x_jt` (kW) of each job in each interval of its
//! window `W_j`; 0 outside it.
//!
//! - Capacity: `Σ_j x_jt ≤ max_it_kw`.
//! - Balance share: `− pue · Σ_j x_jt`.
//! - Costs: `compute_value = Σ_j Σ_t h/1000 · value_j · x_jt`,
//!   `shortfall_penalty = Σ_j penalty_j · (E_j − Σ_t h · x_jt) / 1000`
//!   (the `E_j` part is a constant, passed to the solver as an offset).
//!
//! Preemptible job (on/off binary `z_jt`), in each interval `t` its window
//! overlaps by the share `f_jt` (contract v1.1; 1 for an interval wholly
//! inside): `f_jt · min_kw · z_jt ≤ x_jt ≤ M_jt · z_jt`, `Σ_t h · x_jt ≤
//! energy_kwh`; starts `y_jt ≥ z_jt − z_{j,t−1}` with `z_{j,−1} = running`
//! (and `z = 0` outside the window), costing `start_cost · Σ_t y_jt`.
//! `M_jt = f_jt · max_kw` in the textbook form; tight, it is
//! `min(f_jt · max_kw, max_it_kw, energy_kwh / h)`, and an interval where
//! `M_jt < f_jt · min_kw` cannot hold a run (its rows force `z_jt = 0`); a
//! job with no interval that can gets no variables. Starts need a variable
//! only where they cost something; with a positive cost and `z` binary the
//! optimal `y` is `max(0, z_t − z_{t−1})`, so `y` can be continuous in
//! `[0, 1]`.
//!
//! Run-energy cuts (separated from the LP relaxation, see
//! [`separate_run_cuts`]): over any span `[k, l]` of a preemptible job's
//! window, `Σ_{t=k..l} h·x_jt ≤ E_j · (z_{j,k−1} + Σ_{t=k..l} y_jt)`.
//!
//! Block job (start indicators `s_jt`, only where all `L` intervals of the
//! run lie in the window and the horizon): `Σ_t s_jt ≤ 1`,
//! `x_jt = power_kw · Σ_{τ=t−L+1..t} s_jτ`. In the textbook form each `s_jt`
//! is a binary (the default); with [`Formulation::cumulative_block_starts`]
//! the binaries are cumulative, `S_jt = Σ_{τ≤t} s_jτ`
//! ("started by `t`", non-decreasing), so `x_jt = power_kw · (S_jt −
//! S_{j,t−L})`: two columns per interval instead of up to `L` (see
//! [`BlockStarts`]).

use std::ops::Range;

use good_lp::{Constraint, Expression, Variable};

use super::{Balance, Builder, Formulation, Part, Row, Values, value};
use crate::costs::Costs;
use crate::problem::{Job, JobKind, Problem};

/// Variables of every job.
pub(crate) struct Vars {
    pub jobs: Vec<JobVars>,
}

/// One job's variables.
pub(crate) struct JobVars {
    /// Intervals in which the model lets the job draw power (may be empty).
    pub window: Range<usize>,
    /// `x_jt` for each `t` in `window`, as an affine expression.
    pub power_kw: Vec<Expression>,
    /// The job's on-indicator for each `t` in `window` (0 or 1 in every
    /// solution): `z_jt` for a preemptible job, `Σ s_jτ` over the starts
    /// whose run covers `t` for a block.
    pub on: Vec<Expression>,
    /// Most IT power the job draws while on in each interval of `window`,
    /// kW (`M_jt`, or a block's `power_kw`).
    pub max_at: Vec<f64>,
    pub kind: KindVars,
}

/// Variables that differ by kind of job.
pub(crate) enum KindVars {
    Preemptible {
        /// `x_jt` for each `t` in the window.
        power_kw: Vec<Variable>,
        /// `z_jt` for each `t` in the window.
        on: Vec<Variable>,
        /// `y_jt` for each `t` in the window, where starts cost something.
        starts: Vec<Variable>,
        /// Whether the job ran just before the horizon.
        running: bool,
    },
    Block(BlockStarts),
}

/// A block's start decisions.
///
/// Pulse form (the textbook's): a binary `s_jk` per allowed start `k`.
/// Cumulative form: a binary `S_jk` per allowed start, "started at or before
/// start `k`", non-decreasing in `k`, with `s_jk = S_jk − S_{j,k−1}`
/// (`S_{j,−1} = 0`). Both describe the same placements and the same LP
/// relaxation (the change of variables is unimodular), but in the cumulative
/// form a block runs in interval `t` by a difference of two columns instead of
/// a sum over up to `L` starts, and a branch on `S_jk` splits the placements
/// into "by `k`" and "after `k`" rather than excluding one start.
pub(crate) struct BlockStarts {
    /// Each allowed start interval, in order.
    pub intervals: Vec<usize>,
    /// The binary columns: `s_jk` (pulse) or `S_jk` (cumulative).
    pub decisions: Vec<Variable>,
    /// Whether `decisions` are cumulative.
    pub cumulative: bool,
}

impl BlockStarts {
    /// The start indicator `s_jk` of the `k`-th allowed start.
    pub fn start(&self, k: usize) -> Expression {
        let mut start = Expression::from(self.decisions[k]);
        if self.cumulative && k > 0 {
            start -= self.decisions[k - 1];
        }
        start
    }

    /// Every start indicator's value under an assignment.
    pub fn start_values(&self, values: &Values) -> Vec<f64> {
        (0..self.decisions.len())
            .map(|k| self.start(k).eval_with(values))
            .collect()
    }

    /// Writes the decisions of a block that starts at its `chosen`-th allowed
    /// start (or never).
    pub fn assign(&self, values: &mut Values, chosen: Option<usize>) {
        for (k, &decision) in self.decisions.iter().enumerate() {
            let on = match chosen {
                Some(c) if self.cumulative => k >= c,
                Some(c) => k == c,
                None => false,
            };
            values.insert(decision, if on { 1.0 } else { 0.0 });
        }
    }

    /// The start chosen by an integral assignment (a start indicator above ½).
    pub fn chosen(&self, values: &Values) -> Option<usize> {
        self.start_values(values).iter().position(|&s| s > 0.5)
    }
}

/// Adds every job, the capacity rows, the compute costs and the balance share.
pub(crate) fn add(
    builder: &mut Builder,
    problem: &Problem,
    formulation: Formulation,
    costs: &mut Costs<Expression>,
    balance: &mut Balance,
) -> Vars {
    let h = problem.hours_per_interval();
    let Some(compute) = problem.compute.as_ref() else {
        return Vars { jobs: Vec::new() };
    };
    let mut jobs = Vec::with_capacity(problem.jobs.len());
    for (j, job) in problem.jobs.iter().enumerate() {
        let vars = match &job.kind {
            JobKind::Preemptible {
                energy_kwh,
                min_kw,
                max_kw,
                start_cost,
                running,
            } => {
                // Each interval's least and most power while running.
                let ranges: Vec<(f64, f64)> = job
                    .availability
                    .iter()
                    .map(|f| {
                        let most = if formulation.tight_bounds {
                            (f * max_kw).min(compute.max_it_kw).min(energy_kwh / h)
                        } else {
                            f * max_kw
                        };
                        (f * min_kw, most)
                    })
                    .collect();
                let runnable = ranges.iter().any(|&(least, most)| most >= least);
                let (window, ranges) = if runnable {
                    (job.window.clone(), ranges)
                } else {
                    (0..0, Vec::new())
                };
                let with_starts = *start_cost > 0.0 || !formulation.starts_only_with_cost;
                let preemptible = Preemptible {
                    job: j,
                    entity: super::entity(&job.id),
                    energy_kwh: *energy_kwh,
                    ranges,
                    running: *running,
                    with_starts,
                    continuous_starts: formulation.starts_only_with_cost,
                };
                preemptible.add(builder, window, h, *start_cost, costs)
            }
            JobKind::Block {
                power_kw,
                intervals,
            } => {
                let runnable = !formulation.tight_bounds || *power_kw <= compute.max_it_kw;
                let window = if runnable { job.window.clone() } else { 0..0 };
                add_block(
                    builder,
                    super::entity(&job.id),
                    window,
                    *power_kw,
                    *intervals,
                    formulation.cumulative_block_starts,
                )
            }
        };
        add_job_costs(job, &vars, h, costs);
        jobs.push(vars);
    }

    for t in 0..problem.intervals() {
        let mut total = Expression::default();
        let mut reach_kw = 0.0;
        for (job, vars) in problem.jobs.iter().zip(&jobs) {
            if let Some(power) = vars.power_at(t) {
                total += power.clone();
                reach_kw += job.power_range_at(t).1;
            }
        }
        if reach_kw == 0.0 {
            continue;
        }
        balance[t].add_mul(-compute.pue, total.clone());
        builder.tag(Part::Capacity, 0, Some(t));
        if !formulation.tight_bounds || reach_kw > compute.max_it_kw {
            builder.constrain_as(total.leq(compute.max_it_kw), Row::ComputeCapacity(t));
        }
        if formulation.capacity_cuts {
            let active = active_at(problem, &jobs, t, compute.max_it_kw);
            add_pair_cuts(builder, &active, t, compute.max_it_kw);
            add_least_power_cuts(builder, &active, t, compute.max_it_kw);
        }
    }
    Vars { jobs }
}

/// A job that may draw power in interval `t`, as the capacity cuts see it.
struct Active<'a> {
    entity: u64,
    power: &'a Expression,
    on: &'a Expression,
    /// Most IT power, at most the capacity, kW.
    most: f64,
    /// Least IT power while on (a block's power), kW.
    least: f64,
    block: bool,
}

/// The jobs whose windows hold interval `t`.
fn active_at<'a>(
    problem: &Problem,
    jobs: &'a [JobVars],
    t: usize,
    capacity_kw: f64,
) -> Vec<Active<'a>> {
    problem
        .jobs
        .iter()
        .zip(jobs)
        .filter(|(_, job)| job.window.contains(&t))
        .map(|(spec, job)| {
            let i = t - job.window.start;
            Active {
                entity: super::entity(&spec.id),
                power: &job.power_kw[i],
                on: &job.on[i],
                most: job.max_at[i].min(capacity_kw),
                least: spec.power_range_at(t).0,
                block: matches!(job.kind, KindVars::Block(_)),
            }
        })
        .collect()
}

/// Capacity cuts on pairs of jobs that cannot both run at full power.
///
/// For jobs `a`, `b` on at `t` with on-indicators `o_a`, `o_b`, powers at most
/// `M_a`, `M_b` (each ≤ C, the IT capacity) and `M_a + M_b > C`, the most they
/// draw together is `min(C, M_a·o_a + M_b·o_b)` for binary indicators, whose
/// concave envelope adds the facet
/// `x_a + x_b ≤ (C − M_b)·o_a + (C − M_a)·o_b + (M_a + M_b − C)`
/// (tight at (1,0), (0,1) and (1,1); loose at (0,0), where both draw 0). The
/// LP relaxation otherwise runs both jobs at a fraction of full power with
/// fractional indicators, paying only that fraction of their start costs.
fn add_pair_cuts(builder: &mut Builder, active: &[Active], t: usize, capacity_kw: f64) {
    for (i, a) in active.iter().enumerate() {
        for b in &active[i + 1..] {
            let excess = a.most + b.most - capacity_kw;
            if excess <= 0.0 {
                continue;
            }
            builder.tag(Part::PairCut, a.entity ^ b.entity.rotate_left(1), Some(t));
            let mut cut = a.power.clone() + b.power.clone();
            cut.add_mul(-(capacity_kw - b.most), a.on.clone());
            cut.add_mul(-(capacity_kw - a.most), b.on.clone());
            builder.constrain(cut.leq(excess));
        }
    }
}

/// Capacity cuts where a running block and other jobs' least powers leave
/// a job short of its most.
///
/// With `R = C − P_k` the IT capacity a running block `k` leaves in
/// interval `t`, take a preemptible job `a` that can draw at most
/// `M_a < R`, and the other preemptible jobs `b` whose least power `m_b`
/// exceeds what `a` leaves (`M_a + m_b > R`): none of them can run beside
/// `a` at full power. For binary indicators every plan with the block
/// running keeps `x_a + Σ_b α_b·x_b ≤ M_a`, `α_b = (M_a + m_b − R) / m_b` in
/// (0, 1]: with every `b` off it is `a`'s bound; with some `b` on,
/// `x_a ≤ R − Σ_b x_b` and `(1 − α_b)·x_b ≥ (1 − α_b)·m_b = R − M_a`. For
/// one `b` it is the edge of the two jobs' hull from (`M_a`, 0) to
/// (`R − m_b`, `m_b`); summed over all of them it also stops the relaxation
/// from splitting the filler between several jobs. With the block off the
/// right side grows by `β`, the most the fillers can add in the `C − M_a`
/// beside `a` (the highest `α` first), so the row is
/// `x_a + Σ_b α_b·x_b + β·on_k ≤ M_a + β`, the interpolation between the
/// two. The relaxation otherwise fills the last `R − M_a` kW beside `a`
/// with jobs below their least power, which no plan can. Where the blocks
/// are placed this is most of the gap left after HiGHS's own cuts
/// (corpus-2-031 with its blocks fixed: root bound −567.06 against
/// −610.07, optimum −562.76); with the blocks free the relaxation splits
/// them and `on_k` is fractional, so the cuts bite in the search's
/// subtrees, not at the root. (The same cuts with no block, `R = C`, and
/// with blocks as `a` or `b`, were measured and not kept: README,
/// "Least-power capacity cuts beside a block".)
fn add_least_power_cuts(builder: &mut Builder, active: &[Active], t: usize, capacity_kw: f64) {
    for k in active.iter().filter(|k| k.block) {
        let left = capacity_kw - k.most;
        for a in active.iter().filter(|a| !a.block && a.most < left) {
            let mut cut = a.power.clone();
            let mut fillers = Vec::new();
            for b in active.iter().filter(|b| !b.block && b.entity != a.entity) {
                if b.least <= 0.0 || a.most + b.least <= left + 1e-9 {
                    continue;
                }
                let alpha = (a.most + b.least - left) / b.least;
                cut.add_mul(alpha, b.power.clone());
                fillers.push((alpha, b.most));
            }
            if fillers.is_empty() {
                continue;
            }
            // With the block off, the most the left side can exceed `M_a`
            // by: the fillers in the `C − M_a` beside `a`, the highest
            // `α` first (each `α ≤ 1`, so `a` at full power is best).
            fillers.sort_by(|x, y| y.0.total_cmp(&x.0));
            let mut room = capacity_kw - a.most;
            let mut relaxed = 0.0;
            for (alpha, most) in fillers {
                let kw = most.min(room).max(0.0);
                relaxed += alpha * kw;
                room -= kw;
            }
            builder.tag(
                Part::LeastPowerCut,
                a.entity ^ k.entity.rotate_left(1),
                Some(t),
            );
            cut.add_mul(relaxed, k.on.clone());
            builder.constrain(cut.leq(a.most + relaxed));
        }
    }
}

/// Parameters of a preemptible job as the model uses them.
struct Preemptible {
    /// The job's index in the problem.
    job: usize,
    /// The job's entity in the model's keys.
    entity: u64,
    energy_kwh: f64,
    /// `(f_jt · min_kw, M_jt)` for each interval of the window.
    ranges: Vec<(f64, f64)>,
    running: bool,
    with_starts: bool,
    continuous_starts: bool,
}

impl Preemptible {
    fn add(
        &self,
        builder: &mut Builder,
        window: Range<usize>,
        h: f64,
        start_cost: f64,
        costs: &mut Costs<Expression>,
    ) -> JobVars {
        let mut power_kw = Vec::with_capacity(window.len());
        let mut on = Vec::with_capacity(window.len());
        let mut starts = Vec::new();
        let mut energy = Expression::default();
        let mut previous_on: Expression = if window.start == 0 && self.running {
            1.0.into()
        } else {
            0.0.into()
        };
        for (i, &(least, most)) in self.ranges.iter().enumerate() {
            builder.tag(Part::Job, self.entity, Some(window.start + i));
            let x = builder.continuous(0.0, most.max(0.0));
            let z = builder.binary();
            builder.constrain_as((x - most * z).leq(0.0), Row::Bound(x));
            builder.constrain((x - least * z).geq(0.0));
            energy.add_mul(h, x);
            if self.with_starts {
                let y = if self.continuous_starts {
                    builder.continuous(0.0, 1.0)
                } else {
                    builder.binary()
                };
                builder.constrain((y - z + previous_on).geq(0.0));
                costs.start_costs.add_mul(start_cost, y);
                starts.push(y);
            }
            previous_on = z.into();
            power_kw.push(x);
            on.push(z);
        }
        let reach: f64 = self.ranges.iter().map(|&(_, most)| h * most).sum();
        if !window.is_empty() && reach > self.energy_kwh {
            builder.tag(Part::JobEnergy, self.entity, None);
            builder.constrain_as(energy.leq(self.energy_kwh), Row::JobEnergy(self.job));
        }
        JobVars {
            window,
            power_kw: power_kw.iter().map(|&x| x.into()).collect(),
            on: on.iter().map(|&z| z.into()).collect(),
            max_at: self.ranges.iter().map(|&(_, most)| most).collect(),
            kind: KindVars::Preemptible {
                power_kw,
                on,
                starts,
                running: self.running,
            },
        }
    }
}

fn add_block(
    builder: &mut Builder,
    entity: u64,
    window: Range<usize>,
    power_kw: f64,
    run: usize,
    cumulative: bool,
) -> JobVars {
    if run == 0 || window.len() < run {
        return JobVars {
            window: 0..0,
            power_kw: Vec::new(),
            on: Vec::new(),
            max_at: Vec::new(),
            kind: KindVars::Block(BlockStarts {
                intervals: Vec::new(),
                decisions: Vec::new(),
                cumulative,
            }),
        };
    }
    let intervals: Vec<usize> = (window.start..=window.end - run).collect();
    let decisions: Vec<Variable> = intervals
        .iter()
        .map(|&k| {
            builder.tag(Part::BlockStart, entity, Some(k));
            builder.binary()
        })
        .collect();
    if cumulative {
        builder.tag(Part::BlockStart, entity, None);
        for pair in decisions.windows(2) {
            builder.constrain((pair[1] - pair[0]).geq(0.0));
        }
    } else {
        let once: Expression = decisions.iter().copied().sum();
        builder.tag(Part::BlockOnce, entity, None);
        builder.constrain(once.leq(1.0));
    }
    let starts = BlockStarts {
        intervals,
        decisions,
        cumulative,
    };
    let on: Vec<Expression> = window
        .clone()
        .map(|t| {
            // The starts whose run covers `t`: those in `(t − run, t]`.
            let first = starts.intervals.partition_point(|&k| k + run <= t);
            let last = starts.intervals.partition_point(|&k| k <= t);
            if first >= last {
                Expression::default()
            } else if cumulative {
                let mut running = Expression::from(starts.decisions[last - 1]);
                if first > 0 {
                    running -= starts.decisions[first - 1];
                }
                running
            } else {
                starts.decisions[first..last].iter().copied().sum()
            }
        })
        .collect();
    JobVars {
        max_at: vec![power_kw; window.len()],
        window,
        power_kw: on
            .iter()
            .map(|running| power_kw * running.clone())
            .collect(),
        on,
        kind: KindVars::Block(starts),
    }
}

fn add_job_costs(job: &Job, vars: &JobVars, h: f64, costs: &mut Costs<Expression>) {
    let penalty = job.shortfall_penalty_per_mwh;
    costs.shortfall_penalty += penalty / 1000.0 * job.target_energy_kwh(h);
    for power in &vars.power_kw {
        costs
            .compute_value
            .add_mul(h / 1000.0 * job.value_per_mwh, power.clone());
        costs
            .shortfall_penalty
            .add_mul(-h / 1000.0 * penalty, power.clone());
    }
}

/// Most site power (IT power times PUE) the jobs can draw in interval `t`, kW.
pub(crate) fn max_site_kw(problem: &Problem, t: usize) -> f64 {
    let Some(compute) = problem.compute.as_ref() else {
        return 0.0;
    };
    let reach: f64 = problem.jobs.iter().map(|job| job.power_range_at(t).1).sum();
    compute.pue * reach.min(compute.max_it_kw)
}

impl Vars {
    /// Whether any job has a decision to make: an on/off or start binary.
    pub fn have_binaries(&self) -> bool {
        self.jobs.iter().any(|job| match &job.kind {
            KindVars::Preemptible { on, .. } => !on.is_empty(),
            KindVars::Block(starts) => !starts.decisions.is_empty(),
        })
    }
}

impl JobVars {
    /// `x_jt` if the job may draw power in interval `t`.
    pub fn power_at(&self, t: usize) -> Option<&Expression> {
        if self.window.contains(&t) {
            self.power_kw.get(t - self.window.start)
        } else {
            None
        }
    }

    /// IT power in interval `t` under an assignment, kW.
    pub fn power_kw(&self, values: &Values, t: usize) -> f64 {
        self.power_at(t)
            .map_or(0.0, |power| power.eval_with(values))
    }
}

/// Run-energy cuts that a relaxed solution violates.
///
/// A preemptible job with a start cost draws at most its energy `E` in any
/// span `[k, l]` of its window per run it is in there: one it was in at
/// `k − 1`, or one it starts in the span. So
/// `Σ_{t=k..l} h·x_t ≤ E · (z_{k−1} + Σ_{t=k..l} y_t)` holds for every plan
/// (no run in the span: nothing drawn; one or more: at most `E`), with
/// `z_{−1}` the job's `running`. The on/off rows imply it where the span's
/// reach `Σ h·M_t` is at most `E`, but not where it is more: there the
/// relaxation runs a job at a fraction `r` of its power over a span (its
/// indicators at `r`) and pays only `r` of a start, e.g. a job that needs a
/// quarter of what its window can hold, spread evenly, pays a quarter of its
/// start cost. For each `k` this returns the span most violated by `values`,
/// if by more than `min_violation · E`, with what the violation is worth:
/// the share of a start it leaves unpaid (`violation / E`) times the start
/// cost.
pub(crate) fn separate_run_cuts(
    problem: &Problem,
    vars: &Vars,
    values: &Values,
    min_violation: f64,
) -> Vec<(Constraint, f64)> {
    let h = problem.hours_per_interval();
    let mut cuts = Vec::new();
    for (job, spec) in vars.jobs.iter().zip(&problem.jobs) {
        let (
            KindVars::Preemptible {
                power_kw,
                on,
                starts,
                running,
            },
            JobKind::Preemptible {
                energy_kwh,
                start_cost,
                ..
            },
        ) = (&job.kind, &spec.kind)
        else {
            continue;
        };
        if starts.is_empty() {
            continue;
        }
        let energy = *energy_kwh;
        let running = job.window.start == 0 && *running;
        let drawn: Vec<f64> = power_kw.iter().map(|&x| h * value(values, x)).collect();
        let started: Vec<f64> = starts.iter().map(|&y| value(values, y)).collect();
        for k in 0..power_kw.len() {
            let before = if k == 0 {
                f64::from(u8::from(running))
            } else {
                value(values, on[k - 1])
            };
            let (mut span_drawn, mut span_started, mut reach) = (0.0, 0.0, 0.0);
            let mut most: Option<(f64, usize)> = None;
            for l in k..power_kw.len() {
                span_drawn += drawn[l];
                span_started += started[l];
                reach += h * job.max_at[l];
                let violation = span_drawn - energy * (before + span_started);
                if reach > energy
                    && violation > min_violation * energy
                    && most.is_none_or(|(largest, _)| violation > largest)
                {
                    most = Some((violation, l));
                }
            }
            let Some((violation, l)) = most else { continue };
            let mut cut = Expression::default();
            for t in k..=l {
                cut.add_mul(h, power_kw[t]);
                cut.add_mul(-energy, starts[t]);
            }
            if k > 0 {
                cut.add_mul(-energy, on[k - 1]);
            } else if running {
                cut -= energy;
            }
            cuts.push((cut.leq(0.0), violation / energy * start_cost));
        }
    }
    cuts
}

/// Snaps binaries to 0/1 and makes the job variables agree with them exactly:
/// a preemptible job that is off draws 0, one that is on draws at least its
/// minimum, and each start is `max(0, z_t − z_{t−1})`. What this changes in
/// power is solver noise, settled in the balance afterwards.
pub(crate) fn snap(problem: &Problem, vars: &Vars, values: &mut Values) {
    for (job, spec) in vars.jobs.iter().zip(&problem.jobs) {
        match &job.kind {
            KindVars::Preemptible {
                power_kw,
                on,
                starts,
                running,
            } => {
                let mut previous = job.window.start == 0 && *running;
                for (i, (&x, &z)) in power_kw.iter().zip(on).enumerate() {
                    let is_on = value(values, z) > 0.5;
                    values.insert(z, if is_on { 1.0 } else { 0.0 });
                    let least = spec.power_range_at(job.window.start + i).0;
                    let power = if is_on {
                        value(values, x).max(least)
                    } else {
                        0.0
                    };
                    values.insert(x, power);
                    if let Some(&y) = starts.get(i) {
                        values.insert(y, if is_on && !previous { 1.0 } else { 0.0 });
                    }
                    previous = is_on;
                }
            }
            KindVars::Block(starts) => {
                let chosen = starts.chosen(values);
                starts.assign(values, chosen);
            }
        }
    }
}
