//! The dispatch rule: how the site follows a plan when the actual charging
//! load differs from the forecast the plan was made with.
//!
//! Between replans the site runs the plan's setpoints (battery charge or
//! discharge, IT power of each job) against the **actual** EV load. Every
//! deviation is settled in this order:
//!
//! 1. The battery cannot do what its state does not allow: charging stops
//!    at `soc_max`, discharging at `soc_min`.
//! 2. EV charging is always served first.
//! 3. If the import limit would be exceeded: planned charging is cut, then
//!    the battery discharges more (within its power and energy limits), then
//!    compute is throttled (every job by the same share; the jobs lose that
//!    energy), and only then is EV charging left unserved.
//! 4. If import would rise above the **peak guard** (the billing month's
//!    peak import so far, or the plan's own import for the interval if
//!    higher), planned charging is cut and the battery discharges more to
//!    hold it there, as far as the battery allows; then, if the battery
//!    could not, compute that can wait is deferred ([`defer_for_peak`]: the
//!    jobs the caller names, preemptible ones with time to spare before
//!    their deadlines), and any discharge that deferring made needless is
//!    given back. EV charging is never left unserved for this (a new peak
//!    costs a demand charge, not a broken rule).
//! 5. A surplus (less load than planned while discharging) is exported up to
//!    the export limit; beyond it, discharge is cut.
//! 6. A plan's discharge is cut to hold the grid exchange the plan expected
//!    ([`Setpoint::grid_kw`]), not exported beyond it: the plan discharged
//!    for load that did not come, and the energy is worth more kept for the
//!    peak guard and the plan's own dear hours than sold at a price the
//!    plan had chosen not to sell at. (The simulation holds only a planned
//!    import, and no more than the month's peak so far.)

/// What the plan asks for in one interval.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Setpoint {
    /// Battery charging power, kW.
    pub charge_kw: f64,
    /// Battery discharging power, kW.
    pub discharge_kw: f64,
    /// IT power of all jobs together, kW.
    pub compute_it_kw: f64,
    /// The grid exchange to hold, import less export, kW: a discharge that
    /// less load than forecast leaves unneeded is cut to hold it, so the
    /// energy stays in the battery (rule 6). `None`: the surplus is
    /// exported (a rule's setpoint, which forecasts nothing, and a plan's
    /// export, which is a sale at the hour's price).
    pub grid_kw: Option<f64>,
}

/// The site's physical limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Maximum import, kW.
    pub import_limit_kw: f64,
    /// Maximum export, kW.
    pub export_limit_kw: f64,
    /// Site kW per IT kW.
    pub pue: f64,
    /// The battery, if any.
    pub battery: Option<BatteryLimits>,
}

/// What bounds the battery.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatteryLimits {
    /// Lowest stored energy, kWh.
    pub soc_min_kwh: f64,
    /// Highest stored energy, kWh.
    pub soc_max_kwh: f64,
    /// Maximum charging power, kW.
    pub max_charge_kw: f64,
    /// Maximum discharging power, kW.
    pub max_discharge_kw: f64,
    /// Fraction of charged energy stored.
    pub charge_efficiency: f64,
    /// Fraction of withdrawn energy delivered.
    pub discharge_efficiency: f64,
}

/// What actually happened in one interval.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Settled {
    /// Grid import, kW.
    pub import_kw: f64,
    /// Grid export, kW.
    pub export_kw: f64,
    /// Battery charging, kW.
    pub charge_kw: f64,
    /// Battery discharging, kW.
    pub discharge_kw: f64,
    /// IT power delivered to jobs, kW.
    pub compute_it_kw: f64,
    /// Share of its planned IT power every job received under the import
    /// limit (1 when none was cut); the deferrable jobs lose `deferred_kw`
    /// more.
    pub compute_share: f64,
    /// EV load served, kW.
    pub ev_served_kw: f64,
    /// EV load not served, kW.
    pub unserved_kw: f64,
    /// Stored energy at the end of the interval, kWh.
    pub soc_kwh: f64,
    /// IT power deferred from each of the jobs the caller named as
    /// deferrable, in their order, kW (included in `compute_it_kw`'s cut).
    pub deferred_kw: Vec<f64>,
}

/// Settles one interval of `hours` from stored energy `soc_kwh`, holding
/// import at `guard_kw` with the battery and then by deferring the
/// `deferrable` jobs' compute (`f64::INFINITY`: no guard; see the module
/// documentation for the rule). The deferrable jobs' power is part of
/// `plan.compute_it_kw`.
pub fn settle(
    plan: Setpoint,
    ev_kw: f64,
    soc_kwh: f64,
    limits: &Limits,
    guard_kw: f64,
    deferrable: &[Deferrable],
    hours: f64,
) -> Settled {
    let ev_kw = ev_kw.max(0.0);
    let (mut charge, mut discharge, max_more_discharge) = match &limits.battery {
        Some(b) => {
            let room = ((b.soc_max_kwh - soc_kwh) / (b.charge_efficiency * hours)).max(0.0);
            let available = ((soc_kwh - b.soc_min_kwh) * b.discharge_efficiency / hours).max(0.0);
            let charge = plan.charge_kw.clamp(0.0, b.max_charge_kw.min(room));
            let discharge_cap = b.max_discharge_kw.min(available);
            (
                charge,
                plan.discharge_kw.clamp(0.0, discharge_cap),
                discharge_cap,
            )
        }
        None => (0.0, 0.0, 0.0),
    };
    if charge > 0.0 && discharge > 0.0 {
        // A plan never does both; if it did, only the net moves.
        let net = discharge - charge;
        charge = (-net).max(0.0);
        discharge = net.max(0.0);
    }
    let mut it = plan.compute_it_kw.max(0.0);
    let pue = limits.pue.max(1.0);
    let mut unserved = 0.0;
    let load = |charge: f64, discharge: f64, it: f64, unserved: f64| {
        ev_kw - unserved + pue * it + charge - discharge
    };

    let mut excess = load(charge, discharge, it, unserved) - limits.import_limit_kw;
    if excess > 0.0 {
        let cut = charge.min(excess);
        charge -= cut;
        excess -= cut;
        let more = (max_more_discharge - discharge).max(0.0).min(excess);
        discharge += more;
        excess -= more;
        let throttle = it.min(excess / pue);
        it -= throttle;
        excess -= throttle * pue;
        unserved = excess.max(0.0).min(ev_kw);
    }
    let compute_share = if plan.compute_it_kw > 0.0 {
        it / plan.compute_it_kw
    } else {
        1.0
    };
    let guard_kw = guard_kw.max(0.0);
    let above_guard = load(charge, discharge, it, unserved) - guard_kw;
    let mut deferred_kw = vec![0.0; deferrable.len()];
    if above_guard > 0.0 {
        let cut = charge.min(above_guard);
        charge -= cut;
        let more = (max_more_discharge - discharge)
            .max(0.0)
            .min(above_guard - cut);
        discharge += more;
        let left = load(charge, discharge, it, unserved) - guard_kw;
        if left > 0.0 && it > 0.0 {
            // The import limit's throttle, if any, cut every job alike.
            let jobs: Vec<Deferrable> = deferrable
                .iter()
                .map(|job| Deferrable {
                    kw: job.kw * compute_share,
                    min_kw: job.min_kw,
                })
                .collect();
            deferred_kw = defer_for_peak(left / pue, &jobs);
            it = (it - deferred_kw.iter().sum::<f64>()).max(0.0);
            let below = guard_kw - load(charge, discharge, it, unserved);
            discharge -= below.max(0.0).min(more);
        }
    }
    let net = load(charge, discharge, it, unserved);
    let surplus = -net - limits.export_limit_kw;
    if surplus > 0.0 {
        discharge -= surplus.min(discharge);
    }
    if let Some(planned) = plan.grid_kw {
        let below_plan = planned - load(charge, discharge, it, unserved);
        discharge -= below_plan.max(0.0).min(discharge);
    }
    let net = load(charge, discharge, it, unserved);
    let soc = match &limits.battery {
        Some(b) => (soc_kwh + charge * b.charge_efficiency * hours
            - discharge / b.discharge_efficiency * hours)
            .clamp(b.soc_min_kwh, b.soc_max_kwh),
        None => soc_kwh,
    };
    Settled {
        import_kw: net.max(0.0),
        export_kw: (-net).max(0.0),
        charge_kw: charge,
        discharge_kw: discharge,
        compute_it_kw: it,
        compute_share,
        ev_served_kw: ev_kw - unserved,
        unserved_kw: unserved,
        soc_kwh: soc,
        deferred_kw,
    }
}

/// A job the peak guard may slow or pause in an interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Deferrable {
    /// IT power it runs at in the interval, kW.
    pub kw: f64,
    /// The least IT power it runs at when not paused, kW.
    pub min_kw: f64,
}

/// Defers compute to hold import at the peak guard: cuts up to `it_kw` of
/// IT power from `jobs`, in their order (the caller puts the job with the
/// most time to spare first). A job is slowed to no less than its least
/// power, or paused when slowing it would not be enough; so the cut can
/// exceed `it_kw` by less than one job's least power. Returns each job's
/// cut, kW.
pub fn defer_for_peak(it_kw: f64, jobs: &[Deferrable]) -> Vec<f64> {
    let mut left = it_kw.max(0.0);
    jobs.iter()
        .map(|job| {
            if left <= 0.0 || job.kw <= 0.0 {
                return 0.0;
            }
            let slowed = (job.kw - job.min_kw).max(0.0);
            let cut = if slowed >= left { left } else { job.kw };
            left -= cut;
            cut
        })
        .collect()
}
