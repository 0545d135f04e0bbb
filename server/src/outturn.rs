//! What ran against what was planned: each past interval's plan in force
//! next to what the controller reported for it (the meter's net import
//! over the interval, the battery's energy at its end), the deviation,
//! and what the deviation cost at the interval's prices.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use arbiter_backtest::SiteConfig;
use arbiter_optimizer::IntervalPlan;

use crate::planning::interval_start;

/// The part of a plan document the comparison reads.
#[derive(Debug, Clone, Deserialize)]
pub struct PlanDocument {
    /// The plan's version.
    pub version: i64,
    /// Its optimizer plan.
    pub plan: PlanIntervals,
}

/// The intervals of a [`PlanDocument`] (the optimizer's plan format).
#[derive(Debug, Clone, Deserialize)]
pub struct PlanIntervals {
    /// In time order.
    pub intervals: Vec<IntervalPlan>,
}

/// A controller's report, as far as the comparison reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Report {
    /// When it was measured.
    pub at: DateTime<Utc>,
    /// Stored battery energy, kWh.
    pub soc_kwh: Option<f64>,
    /// Net grid import over the interval before `at`, kW.
    pub meter_kw: Option<f64>,
}

/// One past interval (fields in alphabetical order, as always).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OutturnInterval {
    /// Metered less planned net import, kW (none without a meter reading).
    pub deviation_kw: Option<f64>,
    /// What the deviation cost: the metered net import's energy cost less
    /// the planned one's, at the interval's prices and the tariff's adders.
    pub deviation_cost: Option<f64>,
    /// The meter's net import over the interval (negative: export), kW.
    pub metered_kw: Option<f64>,
    /// The plan's battery power (charge positive, discharge negative), kW.
    pub planned_battery_kw: Option<f64>,
    /// The plan's compute power (IT), kW.
    pub planned_compute_kw: Option<f64>,
    /// The plan's net import (import less export), kW.
    pub planned_kw: Option<f64>,
    /// The plan's stored energy at the interval's end, kWh.
    pub planned_soc_kwh: Option<f64>,
    /// The day-ahead price the plan had, per MWh.
    pub price_per_mwh: Option<f64>,
    /// The battery energy reported at the interval's end, kWh.
    pub reported_soc_kwh: Option<f64>,
    /// Reported less planned stored energy, kWh.
    pub soc_deviation_kwh: Option<f64>,
    /// The interval's start.
    pub start: DateTime<Utc>,
    /// The plan in force (none: no plan covered the interval).
    pub version: Option<i64>,
}

/// The sums over the intervals with a meter reading.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OutturnTotals {
    /// Metered less planned energy cost.
    pub deviation_cost: f64,
    /// Net energy metered less planned, kWh.
    pub deviation_kwh: f64,
    /// The mean of |deviation_kw|.
    pub mean_abs_deviation_kw: f64,
    /// The metered net import's energy cost.
    pub metered_cost: f64,
    /// Intervals with a meter reading.
    pub metered_intervals: usize,
    /// The planned net import's energy cost over the same intervals.
    pub planned_cost: f64,
}

/// The comparison over a range.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Outturn {
    /// Each interval's plan against what ran, oldest first.
    pub intervals: Vec<OutturnInterval>,
    /// The sums.
    pub totals: OutturnTotals,
}

/// Pairs each interval starting in `from` ≤ t < `to` (on the site's grid,
/// and ended by `now`) with the plan in force and the report that closes
/// it. `plans` are ordered by start and version (later ones override
/// earlier ones from their start on); `reports` are any order. The report
/// closing an interval is the last one with `start < at ≤ end`.
pub fn compare(
    config: &SiteConfig,
    plans: &[PlanDocument],
    reports: &[Report],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Outturn {
    let site = &config.site;
    let minutes = i64::from(site.interval_minutes.max(1));
    let step = TimeDelta::minutes(minutes);
    let hours = minutes as f64 / 60.0;
    let tariff = &site.tariff;
    let cost = |net_kw: f64, price: f64| {
        let per_mwh = if net_kw >= 0.0 {
            price + tariff.import_adder_per_mwh
        } else {
            price - tariff.export_adder_per_mwh
        };
        net_kw * hours / 1000.0 * per_mwh
    };
    let mut reports = reports.to_vec();
    reports.sort_by_key(|r| r.at);
    // The grid's first interval at or after `from`.
    let mut start = interval_start(config, from);
    if start < from {
        start += step;
    }
    let mut intervals = Vec::new();
    while start < to && start + step <= now {
        let planned = plans.iter().rev().find_map(|document| {
            let first = document.plan.intervals.first()?;
            if first.start > start {
                return None;
            }
            let interval = document.plan.intervals.iter().find(|i| i.start == start)?;
            Some((document.version, interval))
        });
        let end = start + step;
        let report = reports.iter().rev().find(|r| r.at > start && r.at <= end);
        let metered = report.and_then(|r| r.meter_kw);
        let reported_soc = report.and_then(|r| r.soc_kwh);
        let net = planned.map(|(_, p)| p.import_kw - p.export_kw);
        let deviation = metered.zip(net).map(|(m, n)| m - n);
        let deviation_cost = planned.zip(metered).map(|((_, p), m)| {
            cost(m, p.price_per_mwh) - cost(p.import_kw - p.export_kw, p.price_per_mwh)
        });
        intervals.push(OutturnInterval {
            deviation_kw: deviation.map(kw),
            deviation_cost: deviation_cost.map(money),
            metered_kw: metered.map(kw),
            planned_battery_kw: planned.map(|(_, p)| kw(p.charge_kw - p.discharge_kw)),
            planned_compute_kw: planned.map(|(_, p)| kw(p.compute_it_kw)),
            planned_kw: net.map(kw),
            planned_soc_kwh: planned.map(|(_, p)| kw(p.soc_kwh)),
            price_per_mwh: planned.map(|(_, p)| p.price_per_mwh),
            reported_soc_kwh: reported_soc,
            soc_deviation_kwh: reported_soc
                .zip(planned)
                .map(|(r, (_, p))| kw(r - p.soc_kwh)),
            start,
            version: planned.map(|(version, _)| version),
        });
        start = end;
    }
    let metered: Vec<_> = intervals
        .iter()
        .filter_map(|i| Some((i.metered_kw?, i.planned_kw?, i.price_per_mwh?)))
        .collect();
    let count = metered.len();
    let planned_cost: f64 = metered.iter().map(|&(_, n, p)| cost(n, p)).sum();
    let metered_cost: f64 = metered.iter().map(|&(m, _, p)| cost(m, p)).sum();
    let deviation_kwh: f64 = metered.iter().map(|&(m, n, _)| (m - n) * hours).sum();
    let abs: f64 = metered.iter().map(|&(m, n, _)| (m - n).abs()).sum();
    Outturn {
        intervals,
        totals: OutturnTotals {
            deviation_cost: money(metered_cost - planned_cost),
            deviation_kwh: kw(deviation_kwh),
            mean_abs_deviation_kw: kw(if count == 0 { 0.0 } else { abs / count as f64 }),
            metered_cost: money(metered_cost),
            metered_intervals: count,
            planned_cost: money(planned_cost),
        },
    }
}

/// kW and kWh to the watt (never −0).
fn kw(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0 + 0.0
}

/// Money to 0.0001 (never −0).
fn money(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0 + 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SiteConfig {
        let text = include_str!("../../fixtures/sites/demo.toml");
        SiteConfig::from_toml("demo.toml", text).expect("the demo site")
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("an instant")
            .with_timezone(&Utc)
    }

    /// A plan from `start` of 15-min intervals with these (price, import,
    /// export, charge, discharge, soc) each.
    fn plan(version: i64, start: &str, rows: &[(f64, f64, f64, f64, f64, f64)]) -> PlanDocument {
        let start = at(start);
        PlanDocument {
            version,
            plan: PlanIntervals {
                intervals: rows
                    .iter()
                    .enumerate()
                    .map(
                        |(k, &(price, import, export, charge, discharge, soc))| IntervalPlan {
                            start: start + TimeDelta::minutes(15 * k as i64),
                            price_per_mwh: price,
                            import_kw: import,
                            export_kw: export,
                            charge_kw: charge,
                            discharge_kw: discharge,
                            soc_kwh: soc,
                            ev_served_kw: 0.0,
                            unserved_kw: 0.0,
                            compute_it_kw: 100.0,
                            jobs: Default::default(),
                        },
                    )
                    .collect(),
            },
        }
    }

    fn report(text: &str, soc: Option<f64>, meter: Option<f64>) -> Report {
        Report {
            at: at(text),
            soc_kwh: soc,
            meter_kw: meter,
        }
    }

    #[test]
    fn each_interval_meets_the_plan_in_force_and_the_report_that_closes_it() {
        let plans = [
            plan(
                1,
                "2024-10-24T07:00:00Z",
                &[
                    (40.0, 1000.0, 0.0, 400.0, 0.0, 4000.0),
                    (40.0, 1000.0, 0.0, 400.0, 0.0, 4100.0),
                    (80.0, 0.0, 500.0, 0.0, 800.0, 3900.0),
                ],
            ),
            // From 07:15 the second plan is in force.
            plan(
                2,
                "2024-10-24T07:15:00Z",
                &[
                    (40.0, 800.0, 0.0, 200.0, 0.0, 4050.0),
                    (80.0, 0.0, 200.0, 0.0, 600.0, 3900.0),
                ],
            ),
        ];
        let reports = [
            // Closes 07:00–07:15: 100 kW more than planned at 40 + 25.
            report("2024-10-24T07:15:00Z", Some(3990.0), Some(1100.0)),
            // An earlier report in the same interval is not the closing one.
            report("2024-10-24T07:20:00Z", None, Some(5.0)),
            report("2024-10-24T07:30:00Z", Some(4050.0), Some(800.0)),
            // Closes 07:30–07:45: exported 100 kW instead of 200 at 80 − 5.
            report("2024-10-24T07:45:00Z", Some(3890.0), Some(-100.0)),
        ];
        let outturn = compare(
            &config(),
            &plans,
            &reports,
            at("2024-10-24T06:50:00Z"),
            at("2024-10-24T09:00:00Z"),
            at("2024-10-24T08:01:00Z"),
        );
        let starts: Vec<_> = outturn
            .intervals
            .iter()
            .map(|i| i.start.to_rfc3339())
            .collect();
        assert_eq!(
            starts,
            [
                "2024-10-24T07:00:00+00:00",
                "2024-10-24T07:15:00+00:00",
                "2024-10-24T07:30:00+00:00",
                "2024-10-24T07:45:00+00:00",
            ],
            "from 06:50 to the last interval ended by 08:01"
        );
        let [first, second, third, fourth] = &outturn.intervals[..] else {
            panic!("four intervals");
        };
        assert_eq!(first.version, Some(1));
        assert_eq!(first.planned_kw, Some(1000.0));
        assert_eq!(first.planned_battery_kw, Some(400.0));
        assert_eq!(first.metered_kw, Some(1100.0));
        assert_eq!(first.deviation_kw, Some(100.0));
        // 100 kW for a quarter hour at 65 per MWh.
        assert_eq!(first.deviation_cost, Some(1.625));
        assert_eq!(first.soc_deviation_kwh, Some(-10.0));
        assert_eq!(
            (second.version, second.planned_kw, second.deviation_kw),
            (Some(2), Some(800.0), Some(0.0))
        );
        assert_eq!(second.deviation_cost, Some(0.0));
        assert_eq!(third.version, Some(2));
        assert_eq!(third.planned_kw, Some(-200.0));
        assert_eq!(third.planned_battery_kw, Some(-600.0));
        // 100 kW less export for a quarter hour at 75 per MWh.
        assert_eq!(third.deviation_cost, Some(1.875));
        assert_eq!(third.soc_deviation_kwh, Some(-10.0));
        // No plan covers 07:45 and no report closes it.
        assert_eq!(
            (fourth.version, fourth.metered_kw, fourth.deviation_cost),
            (None, None, None)
        );
        let totals = &outturn.totals;
        assert_eq!(totals.metered_intervals, 3);
        assert_eq!(totals.deviation_cost, 3.5);
        assert_eq!(totals.deviation_kwh, 50.0);
        assert_eq!(totals.mean_abs_deviation_kw, 66.667);
        // Planned 250 kWh at 65 + 200 kWh at 65 − 50 kWh at 75.
        assert_eq!(totals.planned_cost, 25.5);
        assert_eq!(totals.metered_cost, 29.0);
    }

    #[test]
    fn nothing_before_the_first_plan_or_after_now() {
        let plans = [plan(
            3,
            "2024-10-24T08:00:00Z",
            &[(40.0, 10.0, 0.0, 0.0, 0.0, 400.0)],
        )];
        let outturn = compare(
            &config(),
            &plans,
            &[report("2024-10-24T08:15:00Z", None, Some(12.0))],
            at("2024-10-24T07:45:00Z"),
            at("2024-10-24T09:00:00Z"),
            at("2024-10-24T08:29:59Z"),
        );
        let versions: Vec<_> = outturn.intervals.iter().map(|i| i.version).collect();
        assert_eq!(
            versions,
            [None, Some(3)],
            "07:45 has no plan; 08:15 has not ended"
        );
        assert_eq!(outturn.intervals[1].deviation_kw, Some(2.0));
        assert_eq!(outturn.totals.metered_intervals, 1);
    }

    #[test]
    fn an_empty_range_sums_to_zeros_that_print_as_zeros() {
        let outturn = compare(
            &config(),
            &[],
            &[],
            at("2024-10-24T07:00:00Z"),
            at("2024-10-24T08:00:00Z"),
            at("2024-10-24T07:00:00Z"),
        );
        assert!(outturn.intervals.is_empty());
        let totals = serde_json::to_string(&outturn.totals).expect("JSON");
        assert!(!totals.contains("-0"), "{totals}");
    }
}
