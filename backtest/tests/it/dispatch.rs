//! The dispatch rule on hand-made deviations.

use arbiter_backtest::{BatteryLimits, Deferrable, Limits, Setpoint, defer_for_peak, settle};

fn limits() -> Limits {
    Limits {
        import_limit_kw: 1000.0,
        export_limit_kw: 200.0,
        pue: 1.25,
        battery: Some(BatteryLimits {
            soc_min_kwh: 100.0,
            soc_max_kwh: 1000.0,
            max_charge_kw: 400.0,
            max_discharge_kw: 400.0,
            charge_efficiency: 0.9,
            discharge_efficiency: 0.8,
        }),
    }
}

const HOURS: f64 = 0.25;

#[test]
fn a_plan_met_exactly_runs_as_planned() {
    // EV 300 + compute 200 IT × 1.25 + charge 100 = 650 kW import.
    let plan = Setpoint {
        charge_kw: 100.0,
        discharge_kw: 0.0,
        compute_it_kw: 200.0,
        grid_kw: None,
    };
    let s = settle(plan, 300.0, 500.0, &limits(), f64::INFINITY, &[], HOURS);
    assert_eq!(
        (s.import_kw, s.export_kw, s.charge_kw, s.compute_it_kw),
        (650.0, 0.0, 100.0, 200.0)
    );
    assert_eq!((s.unserved_kw, s.compute_share), (0.0, 1.0));
    assert!((s.soc_kwh - (500.0 + 100.0 * 0.9 * HOURS)).abs() < 1e-9);
}

#[test]
fn more_ev_load_cuts_charging_first_then_discharges_then_throttles_compute() {
    let plan = Setpoint {
        charge_kw: 100.0,
        discharge_kw: 0.0,
        compute_it_kw: 400.0,
        grid_kw: None,
    };
    // Planned: EV 300 + 500 + 100 = 900. Actual EV 450: 150 over → charge
    // cut to 50, at the limit.
    let s = settle(plan, 450.0, 500.0, &limits(), f64::INFINITY, &[], HOURS);
    assert_eq!(
        (s.import_kw, s.charge_kw, s.discharge_kw, s.compute_it_kw),
        (1000.0, 50.0, 0.0, 400.0)
    );
    // Actual EV 800: 400 over → charge cut (100), discharge 300.
    let s = settle(plan, 800.0, 500.0, &limits(), f64::INFINITY, &[], HOURS);
    assert_eq!(
        (s.import_kw, s.charge_kw, s.discharge_kw, s.compute_it_kw),
        (1000.0, 0.0, 300.0, 400.0)
    );
    assert!((s.soc_kwh - (500.0 - 300.0 / 0.8 * HOURS)).abs() < 1e-9);
    // Actual EV 1200: 800 over → charge 100, discharge 400 (its maximum),
    // compute throttled by 300 kW of site power = 240 IT kW.
    let s = settle(plan, 1200.0, 500.0, &limits(), f64::INFINITY, &[], HOURS);
    assert_eq!((s.import_kw, s.discharge_kw), (1000.0, 400.0));
    assert!((s.compute_it_kw - 160.0).abs() < 1e-9);
    assert!((s.compute_share - 0.4).abs() < 1e-12);
    assert_eq!(s.unserved_kw, 0.0);
}

#[test]
fn only_when_nothing_else_is_left_is_charging_unserved() {
    // The battery is nearly empty: it can give (110 − 100) × 0.8 / 0.25 =
    // 32 kW. EV 1500 with compute 100 IT: 125 + 1500 − 32 = 1593 → compute
    // off, 468 kW unserved.
    let plan = Setpoint {
        charge_kw: 0.0,
        discharge_kw: 0.0,
        compute_it_kw: 100.0,
        grid_kw: None,
    };
    let s = settle(plan, 1500.0, 110.0, &limits(), f64::INFINITY, &[], HOURS);
    assert!((s.discharge_kw - 32.0).abs() < 1e-9);
    assert_eq!(s.compute_it_kw, 0.0);
    assert!((s.unserved_kw - 468.0).abs() < 1e-9);
    assert!((s.ev_served_kw - 1032.0).abs() < 1e-9);
    assert!((s.import_kw - 1000.0).abs() < 1e-9);
    assert!((s.soc_kwh - 100.0).abs() < 1e-9);
}

#[test]
fn a_surplus_is_exported_up_to_the_limit_then_discharge_is_cut() {
    // Planned discharge 400 for an EV load of 300 that did not come: the
    // 400 is exported up to 200, and discharge is cut to 200.
    let plan = Setpoint {
        charge_kw: 0.0,
        discharge_kw: 400.0,
        compute_it_kw: 0.0,
        grid_kw: None,
    };
    let s = settle(plan, 0.0, 500.0, &limits(), f64::INFINITY, &[], HOURS);
    assert_eq!(
        (s.import_kw, s.export_kw, s.discharge_kw),
        (0.0, 200.0, 200.0)
    );
}

#[test]
fn a_plans_discharge_for_load_that_did_not_come_stays_in_the_battery() {
    // The plan discharges 400 into a forecast EV load of 500 and expects
    // to import 100 (compute 0). EV 350 comes: discharge is cut to 250 to
    // import the planned 100, not exported; EV 50: discharge stops, and
    // import falls to 50 (the rule never charges to hold the plan).
    let plan = Setpoint {
        charge_kw: 0.0,
        discharge_kw: 400.0,
        compute_it_kw: 0.0,
        grid_kw: Some(100.0),
    };
    let s = settle(plan, 350.0, 500.0, &limits(), f64::INFINITY, &[], HOURS);
    assert_eq!(
        (s.import_kw, s.export_kw, s.discharge_kw),
        (100.0, 0.0, 250.0)
    );
    assert!((s.soc_kwh - (500.0 - 250.0 / 0.8 * HOURS)).abs() < 1e-9);
    let s = settle(plan, 50.0, 500.0, &limits(), f64::INFINITY, &[], HOURS);
    assert_eq!((s.import_kw, s.export_kw, s.discharge_kw), (50.0, 0.0, 0.0));
    // Held at a planned export of 150 (the simulation holds only imports,
    // but the rule holds any exchange it is given): EV 100 of a forecast
    // 250 exports 150, not the load it no longer serves.
    let plan = Setpoint {
        grid_kw: Some(-150.0),
        ..plan
    };
    let s = settle(plan, 100.0, 500.0, &limits(), f64::INFINITY, &[], HOURS);
    assert_eq!(
        (s.import_kw, s.export_kw, s.discharge_kw),
        (0.0, 150.0, 250.0)
    );
    // More load than forecast is still the guard's: EV 700 at a guard of
    // 200 finds the battery at its 400 of power already, and imports 300.
    let s = settle(plan, 700.0, 500.0, &limits(), 200.0, &[], HOURS);
    assert_eq!(
        (s.import_kw, s.export_kw, s.discharge_kw),
        (300.0, 0.0, 400.0)
    );
}

#[test]
fn the_battery_stops_at_its_limits() {
    // Full battery: planned charging cannot happen; empty: nor discharge.
    let charge = Setpoint {
        charge_kw: 400.0,
        discharge_kw: 0.0,
        compute_it_kw: 0.0,
        grid_kw: None,
    };
    let s = settle(charge, 100.0, 1000.0, &limits(), f64::INFINITY, &[], HOURS);
    assert_eq!((s.charge_kw, s.import_kw, s.soc_kwh), (0.0, 100.0, 1000.0));
    // Room for 45 kWh stored: 45 / 0.9 / 0.25 = 200 kW.
    let s = settle(charge, 100.0, 955.0, &limits(), f64::INFINITY, &[], HOURS);
    assert!((s.charge_kw - 200.0).abs() < 1e-9);
    assert!((s.soc_kwh - 1000.0).abs() < 1e-9);
    let discharge = Setpoint {
        charge_kw: 0.0,
        discharge_kw: 400.0,
        compute_it_kw: 0.0,
        grid_kw: None,
    };
    let s = settle(
        discharge,
        500.0,
        100.0,
        &limits(),
        f64::INFINITY,
        &[],
        HOURS,
    );
    assert_eq!(
        (s.discharge_kw, s.import_kw, s.soc_kwh),
        (0.0, 500.0, 100.0)
    );
}

#[test]
fn without_a_battery_compute_is_throttled_before_charging_is_unserved() {
    let mut no_battery = limits();
    no_battery.battery = None;
    let plan = Setpoint {
        charge_kw: 0.0,
        discharge_kw: 0.0,
        compute_it_kw: 400.0,
        grid_kw: None,
    };
    let s = settle(plan, 900.0, 0.0, &no_battery, f64::INFINITY, &[], HOURS);
    assert!((s.compute_it_kw - 80.0).abs() < 1e-9);
    assert_eq!((s.unserved_kw, s.import_kw), (0.0, 1000.0));
}

#[test]
fn the_peak_guard_uses_the_battery_and_never_charging_or_compute_it_was_not_given() {
    // Guard at 700 kW; plan 650 (EV 300 + 250 compute + 100 charge).
    let plan = Setpoint {
        charge_kw: 100.0,
        discharge_kw: 0.0,
        compute_it_kw: 200.0,
        grid_kw: None,
    };
    // EV 400: 750 → charge cut to 50, held at 700.
    let s = settle(plan, 400.0, 500.0, &limits(), 700.0, &[], HOURS);
    assert_eq!(
        (s.import_kw, s.charge_kw, s.discharge_kw),
        (700.0, 50.0, 0.0)
    );
    // EV 700: 1050 → charge cut (100), 250 more discharge, held at 700.
    let s = settle(plan, 700.0, 500.0, &limits(), 700.0, &[], HOURS);
    assert_eq!(
        (s.import_kw, s.charge_kw, s.discharge_kw, s.compute_it_kw),
        (700.0, 0.0, 250.0, 200.0)
    );
    // A nearly empty battery gives 32 kW: the rest goes above the guard;
    // compute runs and EV is served in full.
    let s = settle(plan, 700.0, 110.0, &limits(), 700.0, &[], HOURS);
    assert!((s.import_kw - 918.0).abs() < 1e-9);
    assert_eq!((s.compute_it_kw, s.unserved_kw), (200.0, 0.0));
}

#[test]
fn what_the_battery_cannot_hold_defers_the_compute_that_can_wait() {
    // Guard at 700 kW; EV 300 + 2 jobs (120 and 80 kW IT, ×1.25) = 550.
    let plan = Setpoint {
        charge_kw: 0.0,
        discharge_kw: 0.0,
        compute_it_kw: 200.0,
        grid_kw: None,
    };
    let waits = [Deferrable {
        kw: 120.0,
        min_kw: 20.0,
    }];
    // EV 700 with a battery that gives 32 kW (110 kWh, 10 above its
    // minimum): 950 − 32 = 918, 218 above the guard → 174.4 kW IT to defer,
    // more than the deferrable job's 100 of slowing: it pauses (120 kW). The
    // other job was not given as deferrable and runs: 768 kW is imported.
    let s = settle(plan, 700.0, 110.0, &limits(), 700.0, &waits, HOURS);
    assert_eq!(s.deferred_kw, vec![120.0]);
    assert!((s.compute_it_kw - 80.0).abs() < 1e-9);
    assert!((s.import_kw - 768.0).abs() < 1e-9, "{}", s.import_kw);
    assert!((s.discharge_kw - 32.0).abs() < 1e-9);
    assert_eq!((s.compute_share, s.unserved_kw), (1.0, 0.0));
    // One job of 200 kW that can wait: EV 650 → 900 − 32 = 868, 134.4 kW IT
    // to defer, more than its 100 of slowing: it pauses, and the 32 kW of
    // discharge its pause made needless go back (650 imported).
    let all = [Deferrable {
        kw: 200.0,
        min_kw: 100.0,
    }];
    let s = settle(plan, 650.0, 110.0, &limits(), 700.0, &all, HOURS);
    assert_eq!(s.deferred_kw, vec![200.0]);
    assert_eq!(
        (s.compute_it_kw, s.discharge_kw, s.import_kw),
        (0.0, 0.0, 650.0)
    );
    assert!((s.soc_kwh - 110.0).abs() < 1e-9);
    // EV 450 on a full-enough battery: 700 is held by discharge alone,
    // nothing is deferred.
    let s = settle(plan, 450.0, 500.0, &limits(), 700.0, &waits, HOURS);
    assert_eq!(s.deferred_kw, vec![0.0]);
    assert_eq!(
        (s.import_kw, s.discharge_kw, s.compute_it_kw),
        (700.0, 0.0, 200.0)
    );
    // EV 480, battery empty: 30 kW above → 24 kW IT slowed from the job.
    let s = settle(plan, 480.0, 100.0, &limits(), 700.0, &waits, HOURS);
    assert!((s.deferred_kw[0] - 24.0).abs() < 1e-9);
    assert!((s.import_kw - 700.0).abs() < 1e-9);
    // Without a guard nothing is deferred.
    let s = settle(plan, 700.0, 110.0, &limits(), f64::INFINITY, &waits, HOURS);
    assert_eq!(s.deferred_kw, vec![0.0]);
}

#[test]
fn deferring_slows_jobs_to_their_least_power_or_pauses_them_in_order() {
    let jobs = [
        Deferrable {
            kw: 100.0,
            min_kw: 40.0,
        },
        Deferrable {
            kw: 50.0,
            min_kw: 50.0,
        },
        Deferrable {
            kw: 80.0,
            min_kw: 10.0,
        },
    ];
    assert_eq!(defer_for_peak(30.0, &jobs), vec![30.0, 0.0, 0.0]);
    // 60 can be slowed from the first; 70 needs it paused.
    assert_eq!(defer_for_peak(60.0, &jobs), vec![60.0, 0.0, 0.0]);
    assert_eq!(defer_for_peak(70.0, &jobs), vec![100.0, 0.0, 0.0]);
    assert_eq!(defer_for_peak(120.0, &jobs), vec![100.0, 50.0, 0.0]);
    assert_eq!(defer_for_peak(1000.0, &jobs), vec![100.0, 50.0, 80.0]);
    assert_eq!(defer_for_peak(0.0, &jobs), vec![0.0, 0.0, 0.0]);
}
