//! The mixed-integer program of a [`Problem`], built component by component.
//!
//! [`build`] reads like a table of contents: each component module adds its
//! variables, its constraints, its cost terms (into [`Costs`]) and its share of
//! the per-interval power balance, then the balance rows close the model.
//! Costs stay as separate affine expressions so that the same expressions,
//! evaluated on the final schedule, give the plan's cost breakdown: the parts
//! always sum to the objective.

pub(crate) mod battery;
pub(crate) mod compute;
pub(crate) mod grid;
pub(crate) mod loads;
pub(crate) mod rules;
pub(crate) mod stability;
pub(crate) mod targets;
pub(crate) mod tariff;

use std::collections::HashMap;

use good_lp::{Constraint, Expression, IntoAffineExpression, ProblemVariables, Variable, variable};

use crate::costs::Costs;
use crate::problem::Problem;

/// How the model is formulated: every switch defaults to the fast form, and
/// each can be turned off to measure what it gains (`benches/formulation.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Formulation {
    /// Leave out the import/export and charge/discharge binaries where the
    /// data proves them redundant (see [`grid`] and [`battery`]).
    pub drop_redundant_binaries: bool,
    /// Create start variables only for jobs with a start cost, as continuous
    /// variables (integral anyway at an optimum, see [`compute`]).
    pub starts_only_with_cost: bool,
    /// Bound each variable by what the data makes reachable (big-M values of
    /// the on/off constraints included), and leave out provably idle jobs.
    pub tight_bounds: bool,
    /// Pass the objective's constant to the solver, so that its relative gap
    /// is relative to the real cost of the plan.
    pub objective_offset: bool,
    /// Add capacity cuts on pairs of jobs that cannot both run at full power
    /// (see [`compute`]). On `site-day` they cut the root gap from 0.085% to
    /// 0.017%; with a near-optimal warm start (a previous plan, or the rounded
    /// relaxation) the solve then takes 110–180 ms instead of 330–690 ms. On
    /// the week-long fixture, which ends at its time limit either way, they
    /// leave a wider gap after 10 s (0.25% instead of 0.066%; equal at 30 s).
    pub capacity_cuts: bool,
    /// Before relax-and-fix, add the run-energy cuts the relaxation violates
    /// and solve it again, up to [`crate::RUN_CUT_ROUNDS`] times (see
    /// [`compute::separate_run_cuts`]). The cuts tighten the bound that can
    /// prove relax-and-fix's plan optimal and steer which binaries it fixes;
    /// the full search, if it still runs, gets the model without them
    /// (HiGHS's own cuts did better there: with them corpus-1-009 took
    /// 1.6 s instead of 0.2 s). On corpus-1-025 they lift the relaxation's
    /// bound from 1.2% below the optimum to within the gap: 22.1 s → 1.0 s.
    pub run_cuts: bool,
    /// Model a block's start by cumulative binaries ("started by start
    /// `k`") instead of one binary per start (see
    /// [`compute::BlockStarts`]). Off by default: it proves `perfect`'s
    /// slowest daily plans (48 h with blocks of up to 24 hours) and the
    /// corpus's slowest problem far sooner, but `site-day` takes about 20%
    /// longer and the week fixture is no longer proven within 60 s (README,
    /// "Cumulative block starts"). Off, a plan whose relaxation runs part
    /// of a block is still solved in this form
    /// ([`crate::PART_BLOCK_SWITCHES_TO_CUMULATIVE`]).
    pub cumulative_block_starts: bool,
}

impl Default for Formulation {
    fn default() -> Self {
        Formulation {
            drop_redundant_binaries: true,
            starts_only_with_cost: true,
            tight_bounds: true,
            objective_offset: true,
            capacity_cuts: true,
            run_cuts: true,
            cumulative_block_starts: false,
        }
    }
}

impl Formulation {
    /// The plain textbook formulation: every binary, loose bounds, no offset.
    pub fn textbook() -> Self {
        Formulation {
            drop_redundant_binaries: false,
            starts_only_with_cost: false,
            tight_bounds: false,
            objective_offset: false,
            capacity_cuts: false,
            run_cuts: false,
            cumulative_block_starts: false,
        }
    }
}

/// What a constraint row stands for, where the plan's explanation needs to
/// know ([`crate::explain`]); every other row is [`Row::Other`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Row {
    /// A row the explanation does not read.
    Other,
    /// Interval `t`'s power balance, `supply − demand = 0`.
    Balance(usize),
    /// An on/off row that bounds this variable from above (coefficient 1),
    /// e.g. `import − M · importing ≤ 0`.
    Bound(Variable),
    /// The IT capacity of the compute container in interval `t`.
    ComputeCapacity(usize),
    /// Job `j`'s energy: at most what it needs.
    JobEnergy(usize),
    /// The month's peak at least interval `t`'s import.
    Peak(usize),
}

/// The part of the model a column or row belongs to (see [`Key`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub(crate) enum Part {
    Grid,
    Battery,
    Loads,
    Peak,
    Target,
    Stability,
    Job,
    JobEnergy,
    BlockStart,
    BlockOnce,
    Capacity,
    PairCut,
    LeastPowerCut,
    Balance,
    #[default]
    Constant,
}

/// What a column or row stands for, in terms that hold from one problem of
/// a site to the next: its part, the entity it belongs to (a job's id
/// hashed, 0 for the site's own parts), the start of its interval (Unix
/// seconds; `i64::MIN` for none) and its place among those with the same
/// three. A basis carried from one plan to the next is matched by keys, so
/// an hour later interval 4's columns meet interval 0's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    part: Part,
    entity: u64,
    at: i64,
    place: u32,
}

/// A job's entity in [`Key`]s: its id, hashed.
pub(crate) fn entity(id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut hasher);
    hasher.finish()
}

/// Collects variables (remembering their column order) and constraints.
#[derive(Default)]
pub(crate) struct Builder {
    variables: ProblemVariables,
    columns: Vec<Variable>,
    bounds: Vec<(f64, f64)>,
    integer: Vec<bool>,
    constraints: Vec<Constraint>,
    rows: Vec<Row>,
    binaries: usize,
    /// The problem's first interval start and interval length, seconds.
    start_seconds: i64,
    step_seconds: i64,
    /// The key the next column and row get, less their place.
    tag: (Part, u64, i64),
    column_places: u32,
    row_places: u32,
    column_keys: Vec<Key>,
    row_keys: Vec<Key>,
}

impl Builder {
    fn new(problem: &Problem) -> Self {
        Builder {
            start_seconds: problem.start.timestamp(),
            step_seconds: i64::from(problem.interval_minutes) * 60,
            tag: (Part::Constant, 0, i64::MIN),
            ..Builder::default()
        }
    }

    /// The columns and rows made from here on belong to `part` of `entity`
    /// at interval `t` (or at none).
    pub fn tag(&mut self, part: Part, entity: u64, t: Option<usize>) {
        let at = t.map_or(i64::MIN, |t| {
            self.start_seconds + self.step_seconds * t as i64
        });
        self.tag = (part, entity, at);
        self.column_places = 0;
        self.row_places = 0;
    }

    fn next_key(&self, place: u32) -> Key {
        let (part, entity, at) = self.tag;
        Key {
            part,
            entity,
            at,
            place,
        }
    }

    fn push_column(&mut self, var: Variable) {
        self.column_keys.push(self.next_key(self.column_places));
        self.column_places += 1;
        self.columns.push(var);
    }

    /// A continuous variable in `[min, max]`.
    pub fn continuous(&mut self, min: f64, max: f64) -> Variable {
        let var = self.variables.add(variable().min(min).max(max));
        self.push_column(var);
        self.bounds.push((min, max));
        self.integer.push(false);
        var
    }

    /// A 0/1 variable.
    pub fn binary(&mut self) -> Variable {
        let var = self.variables.add(variable().binary());
        self.push_column(var);
        self.bounds.push((0.0, 1.0));
        self.integer.push(true);
        self.binaries += 1;
        var
    }

    /// Adds a constraint to the model.
    pub fn constrain(&mut self, constraint: Constraint) {
        self.constrain_as(constraint, Row::Other);
    }

    /// A binary `b` that lets `first` (up to its most, while `b` is 1) or
    /// `second` (while `b` is 0) be non-zero, never both:
    /// `first − max₁ · b ≤ 0` and `second + max₂ · b ≤ max₂`.
    pub fn either(&mut self, first: (Variable, f64), second: (Variable, f64)) -> Variable {
        let ((a, a_max), (b, b_max)) = (first, second);
        let on = self.binary();
        self.constrain_as((a - a_max * on).leq(0.0), Row::Bound(a));
        self.constrain_as((b + b_max * on).leq(b_max), Row::Bound(b));
        on
    }

    /// Adds a constraint the plan's explanation reads, saying what it is.
    pub fn constrain_as(&mut self, constraint: Constraint, row: Row) {
        self.row_keys.push(self.next_key(self.row_places));
        self.row_places += 1;
        self.constraints.push(constraint);
        self.rows.push(row);
    }
}

/// A complete model: the variables of every component and the cost terms.
pub(crate) struct Model {
    pub variables: ProblemVariables,
    /// Variables in column order (the solver's column `i` is `columns[i]`).
    pub columns: Vec<Variable>,
    /// `(min, max)` of each column.
    pub bounds: Vec<(f64, f64)>,
    /// Whether each column is binary.
    pub integer: Vec<bool>,
    pub constraints: Vec<Constraint>,
    /// What each constraint stands for.
    pub rows: Vec<Row>,
    /// Each column's key, in column order.
    pub column_keys: Vec<Key>,
    /// Each row's key, in row order.
    pub row_keys: Vec<Key>,
    /// Per interval, `supply − demand` (0 in every solution).
    pub balance: Balance,
    pub binaries: usize,
    /// A column fixed at 1 that carries the objective's constant, if any.
    pub one: Option<Variable>,
    pub grid: grid::Vars,
    pub battery: Option<battery::Vars>,
    pub loads: loads::Vars,
    pub compute: compute::Vars,
    pub tariff: tariff::Vars,
    pub targets: targets::Vars,
    pub stability: stability::Vars,
    pub costs: Costs<Expression>,
}

/// The per-interval power balance, `supply − demand`, as components add to it.
pub(crate) type Balance = Vec<Expression>;

/// Builds the model of `problem`.
///
/// `exclusive_charge` forces the charge/discharge binaries even where the data
/// proves them redundant (used when a solution still charged and discharged at
/// once at zero marginal cost).
pub(crate) fn build(problem: &Problem, formulation: Formulation, exclusive_charge: bool) -> Model {
    let mut builder = Builder::new(problem);
    let mut costs = Costs::<Expression>::default();
    let mut balance: Balance = vec![Expression::default(); problem.intervals()];

    let grid = grid::add(&mut builder, problem, formulation, &mut costs, &mut balance);
    let battery = problem.battery.as_ref().map(|spec| {
        battery::add(
            &mut builder,
            problem,
            spec,
            formulation,
            exclusive_charge,
            &mut costs,
            &mut balance,
        )
    });
    let loads = loads::add(&mut builder, problem, &mut costs, &mut balance);
    let compute = compute::add(&mut builder, problem, formulation, &mut costs, &mut balance);
    let tariff = tariff::add(&mut builder, problem, &grid, &mut costs);
    let targets = targets::add(
        &mut builder,
        problem,
        battery.as_ref(),
        formulation,
        &mut costs,
    );
    let stability = stability::add(&mut builder, problem, battery.as_ref(), &mut costs);

    for (t, row) in balance.iter().enumerate() {
        builder.tag(Part::Balance, 0, Some(t));
        builder.constrain_as(row.clone().eq(0.0), Row::Balance(t));
    }
    let constant = costs.objective().constant();
    builder.tag(Part::Constant, 0, None);
    let one =
        (formulation.objective_offset && constant != 0.0).then(|| builder.continuous(1.0, 1.0));

    Model {
        variables: builder.variables,
        columns: builder.columns,
        bounds: builder.bounds,
        integer: builder.integer,
        constraints: builder.constraints,
        rows: builder.rows,
        column_keys: builder.column_keys,
        row_keys: builder.row_keys,
        balance,
        binaries: builder.binaries,
        one,
        grid,
        battery,
        loads,
        compute,
        tariff,
        targets,
        stability,
        costs,
    }
}

impl Model {
    /// The objective handed to the solver: every cost term, with the constant
    /// carried by the fixed column when the formulation asks for an offset.
    pub fn solver_objective(&self) -> Expression {
        let mut objective = self.costs.objective();
        let constant = objective.constant();
        objective -= constant;
        if let Some(one) = self.one {
            objective.add_mul(constant, one);
        }
        objective
    }

    /// An empty assignment (every variable 0, the constant column 1).
    pub fn zero_values(&self) -> Values {
        let mut values: Values = self.columns.iter().map(|&var| (var, 0.0)).collect();
        if let Some(one) = self.one {
            values.insert(one, 1.0);
        }
        values
    }
}

/// A value for every variable of a model (good_lp evaluates expressions on it).
pub(crate) type Values = HashMap<Variable, f64>;

/// Reads a variable's value (0 when it is absent).
pub(crate) fn value(values: &Values, var: Variable) -> f64 {
    values.get(&var).copied().unwrap_or(0.0)
}

/// Reads an optional variable's value (0 when there is none).
pub(crate) fn value_or_zero(values: &Values, var: Option<Variable>) -> f64 {
    var.map_or(0.0, |var| value(values, var))
}
