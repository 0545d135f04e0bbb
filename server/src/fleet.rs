//! The fleet at a glance: for each site, its latest plan's status, age and
//! warnings, the battery's energy now, the billing month's peak so far
//! against the plan's, the energy cost planned for the rest of the day,
//! and what needs a look (stale data, a fallback plan, a rising peak).
//!
//! A plan's outline is read once, when the plan is published or first
//! read, so that a fleet of thousands is summarised without parsing a
//! document per site per request.

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use arbiter_backtest::SiteConfig;

/// What the fleet page needs of a plan document.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Outline {
    /// The first interval's start.
    pub start: Option<DateTime<Utc>>,
    /// Data that was missing or stale, and what replaced it.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// The plan.
    #[serde(default)]
    pub plan: PlanOutline,
}

/// The plan part of an [`Outline`].
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct PlanOutline {
    /// `optimal`, `feasible` or `fallback`.
    #[serde(default)]
    pub status: String,
    /// The relative gap the search stopped at; `None` when no bound is
    /// known (a fallback plan), as in the plan.
    #[serde(default)]
    pub mip_gap: Option<f64>,
    /// The intervals (their energy flows and prices).
    #[serde(default)]
    pub intervals: Vec<IntervalOutline>,
}

/// One interval of a [`PlanOutline`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct IntervalOutline {
    /// Its start.
    pub start: DateTime<Utc>,
    /// Day-ahead price, per MWh.
    pub price_per_mwh: f64,
    /// Grid import, kW.
    pub import_kw: f64,
    /// Grid export, kW.
    pub export_kw: f64,
}

/// One site of the fleet (fields in alphabetical order, as always).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FleetSite {
    /// Why the site needs a look (empty when it does not): `no plan`,
    /// `stale plan`, `stale telemetry`, `fallback plan`, `rising peak`,
    /// `warnings`.
    pub attention: Vec<String>,
    /// Stored battery energy last reported, kWh.
    pub battery_kwh: Option<f64>,
    /// When it was reported.
    pub battery_reported_at: Option<DateTime<Utc>>,
    /// The battery's usable maximum, kWh (none without a battery).
    pub battery_max_kwh: Option<f64>,
    /// The site's currency.
    pub currency: String,
    /// Energy cost the latest plan gives the rest of the site-local day:
    /// import at price plus adder less export at price less adder.
    pub cost_rest_of_day: Option<f64>,
    /// The billing month's highest metered import so far, kW.
    pub month_peak_kw: Option<f64>,
    /// The latest plan's highest import, kW.
    pub planned_peak_kw: Option<f64>,
    /// The latest plan, if any.
    pub plan: Option<FleetPlan>,
    /// The site.
    pub site_id: String,
    /// Its time zone.
    pub zone: String,
}

/// The latest plan of a [`FleetSite`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FleetPlan {
    /// Seconds since its first interval began, on the service's clock
    /// (simulated or not; `created_at` is always wall-clock time).
    pub age_seconds: i64,
    /// When it was published.
    pub created_at: DateTime<Utc>,
    /// The relative gap the search stopped at (null when no bound is
    /// known, as for a fallback plan).
    pub mip_gap: Option<f64>,
    /// Its first interval's start.
    pub start: DateTime<Utc>,
    /// `optimal`, `feasible` or `fallback`.
    pub status: String,
    /// Its version.
    pub version: i64,
    /// Data that was missing or stale, and what replaced it.
    pub warnings: Vec<String>,
}

/// The latest plan as the fleet summary reads it.
#[derive(Debug, Clone, Copy)]
pub struct PlanFacts<'a> {
    /// Version, publication and start.
    pub version: i64,
    /// When it was published.
    pub created_at: DateTime<Utc>,
    /// Its first interval's start.
    pub start: DateTime<Utc>,
    /// Its outline.
    pub outline: &'a Outline,
}

/// What the store reports of a site's telemetry.
#[derive(Debug, Clone, Copy, Default)]
pub struct Measured {
    /// The latest battery energy: (instant, kWh).
    pub battery: Option<(DateTime<Utc>, f64)>,
    /// The billing month's highest meter reading so far, kW.
    pub month_peak_kw: Option<f64>,
}

/// A rising peak is one the plan exceeds by more than this, kW.
const PEAK_TOLERANCE_KW: f64 = 0.5;

/// The fleet row of a site at `now`.
pub fn summarize(
    config: &SiteConfig,
    plan: Option<PlanFacts>,
    measured: Measured,
    now: DateTime<Utc>,
) -> FleetSite {
    let site = &config.site;
    let interval = TimeDelta::minutes(i64::from(site.interval_minutes.max(1)));
    let mut attention = Vec::new();
    let planned_peak_kw = plan.and_then(|plan| {
        plan.outline
            .plan
            .intervals
            .iter()
            .map(|i| i.import_kw)
            .reduce(f64::max)
    });
    match plan {
        None => attention.push("no plan".to_owned()),
        Some(plan) => {
            let replan = TimeDelta::minutes(i64::from(site.planning.replan_minutes.max(1)));
            if now - plan.start > replan * 2 {
                attention.push("stale plan".to_owned());
            }
            if plan.outline.plan.status == "fallback" {
                attention.push("fallback plan".to_owned());
            }
            if !plan.outline.warnings.is_empty() {
                attention.push("warnings".to_owned());
            }
        }
    }
    let battery_stale = measured
        .battery
        .is_none_or(|(at, _)| now - at > interval * 3);
    if site.battery.is_some() && battery_stale {
        attention.push("stale telemetry".to_owned());
    }
    if let Some(planned) = planned_peak_kw
        && planned > measured.month_peak_kw.unwrap_or(0.0) + PEAK_TOLERANCE_KW
    {
        attention.push("rising peak".to_owned());
    }
    FleetSite {
        attention,
        battery_kwh: measured.battery.map(|(_, kwh)| kwh),
        battery_reported_at: measured.battery.map(|(at, _)| at),
        battery_max_kwh: site.battery.as_ref().map(|b| b.soc_max_kwh),
        currency: site.currency.clone(),
        cost_rest_of_day: plan.map(|plan| cost_rest_of_day(config, plan.outline, now)),
        month_peak_kw: measured.month_peak_kw,
        planned_peak_kw,
        plan: plan.map(|plan| FleetPlan {
            age_seconds: (now - plan.start).num_seconds().max(0),
            created_at: plan.created_at,
            mip_gap: plan.outline.plan.mip_gap,
            start: plan.start,
            status: plan.outline.plan.status.clone(),
            version: plan.version,
            warnings: plan.outline.warnings.clone(),
        }),
        site_id: site.id.clone(),
        zone: site.zone.clone(),
    }
}

/// The energy cost of the plan's intervals from the one containing `now`
/// to the site-local midnight, to 0.01.
fn cost_rest_of_day(config: &SiteConfig, outline: &Outline, now: DateTime<Utc>) -> f64 {
    let site = &config.site;
    let minutes = i64::from(site.interval_minutes.max(1));
    let hours = minutes as f64 / 60.0;
    let midnight = local_midnight(
        config,
        now.with_timezone(&config.zone).date_naive().succ_opt(),
    );
    let tariff = &site.tariff;
    let cost: f64 = outline
        .plan
        .intervals
        .iter()
        .filter(|i| {
            i.start + TimeDelta::minutes(minutes) > now && midnight.is_none_or(|m| i.start < m)
        })
        .map(|i| {
            let import = i.import_kw * (i.price_per_mwh + tariff.import_adder_per_mwh);
            let export = i.export_kw * (i.price_per_mwh - tariff.export_adder_per_mwh);
            (import - export) * hours / 1000.0
        })
        .sum();
    (cost * 100.0).round() / 100.0
}

fn local_midnight(config: &SiteConfig, day: Option<NaiveDate>) -> Option<DateTime<Utc>> {
    let midnight = day?.and_hms_opt(0, 0, 0)?;
    let local = config.zone.from_local_datetime(&midnight).earliest()?;
    Some(local.with_timezone(&Utc))
}

/// The start of the site's billing month (the site-local calendar month)
/// containing `at`.
pub fn month_start(config: &SiteConfig, at: DateTime<Utc>) -> DateTime<Utc> {
    let local = at.with_timezone(&config.zone);
    local_midnight(
        config,
        NaiveDate::from_ymd_opt(local.year(), local.month(), 1),
    )
    .unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SiteConfig {
        let text = include_str!("../../fixtures/sites/demo.toml");
        SiteConfig::from_toml("demo.toml", text).expect("the demo site")
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("time")
    }

    /// Four hours of 15-minute intervals from 05:00 UTC (22:00 in Los
    /// Angeles): 700 kW at 40/MWh, the last hour exporting 100 kW.
    fn outline(status: &str) -> Outline {
        let intervals = (0..16)
            .map(|k| IntervalOutline {
                start: at("2024-10-24T05:00:00Z") + TimeDelta::minutes(15 * k),
                price_per_mwh: 40.0,
                import_kw: if k < 12 { 700.0 } else { 0.0 },
                export_kw: if k < 12 { 0.0 } else { 100.0 },
            })
            .collect();
        Outline {
            start: Some(at("2024-10-24T05:00:00Z")),
            warnings: Vec::new(),
            plan: PlanOutline {
                status: status.to_owned(),
                mip_gap: (status != "fallback").then_some(0.0),
                intervals,
            },
        }
    }

    #[test]
    fn the_rest_of_the_day_is_costed_to_local_midnight_and_a_higher_plan_peak_stands_out() {
        let config = config();
        let outline = outline("optimal");
        let now = at("2024-10-24T05:20:00Z");
        let plan = PlanFacts {
            version: 3,
            created_at: at("2024-10-24T05:00:00Z"),
            start: at("2024-10-24T05:00:00Z"),
            outline: &outline,
        };
        let measured = Measured {
            battery: Some((at("2024-10-24T05:15:00Z"), 3900.0)),
            month_peak_kw: Some(650.0),
        };
        let row = summarize(&config, Some(plan), measured, now);
        // 22:15 to midnight in Los Angeles (07:00 UTC): the intervals from
        // 05:15 to 06:45 UTC, 7 of them at 700 kW, (40 + 25)/MWh, 1/4 h.
        assert_eq!(row.cost_rest_of_day, Some(79.63));
        assert_eq!(row.planned_peak_kw, Some(700.0));
        assert_eq!(row.attention, vec!["rising peak".to_owned()]);
        assert_eq!(row.plan.as_ref().map(|p| p.age_seconds), Some(1200));
        assert_eq!(row.battery_max_kwh, Some(7800.0));
    }

    #[test]
    fn a_fallback_an_old_plan_and_silent_telemetry_need_a_look() {
        let config = config();
        let outline = outline("fallback");
        let plan = PlanFacts {
            version: 1,
            created_at: at("2024-10-24T02:00:00Z"),
            start: at("2024-10-24T02:00:00Z"),
            outline: &outline,
        };
        let measured = Measured {
            battery: Some((at("2024-10-24T04:00:00Z"), 3900.0)),
            month_peak_kw: Some(900.0),
        };
        let row = summarize(&config, Some(plan), measured, at("2024-10-24T05:20:00Z"));
        assert_eq!(
            row.attention,
            vec!["stale plan", "fallback plan", "stale telemetry"]
        );
        let none = summarize(
            &config,
            None,
            Measured::default(),
            at("2024-10-24T05:20:00Z"),
        );
        assert_eq!(none.attention, vec!["no plan", "stale telemetry"]);
        assert_eq!(none.cost_rest_of_day, None);
    }

    #[test]
    fn a_fallback_plan_without_a_gap_is_outlined() {
        let document = r#"{"start":"2024-10-24T05:00:00Z","warnings":["no prices"],
            "plan":{"status":"fallback","mip_gap":null,"intervals":[
              {"start":"2024-10-24T05:00:00Z","price_per_mwh":40.0,"import_kw":700.0,"export_kw":0.0}]}}"#;
        let outline: Outline = serde_json::from_str(document).expect("an outline");
        assert_eq!(outline.plan.mip_gap, None);
        assert_eq!(outline.plan.status, "fallback");
        assert_eq!(outline.plan.intervals.len(), 1);
        assert_eq!(outline.warnings, ["no prices"]);
    }

    #[test]
    fn the_billing_month_starts_at_local_midnight() {
        let config = config();
        assert_eq!(
            month_start(&config, at("2024-11-01T06:59:00Z")),
            at("2024-10-01T07:00:00Z")
        );
        assert_eq!(
            month_start(&config, at("2024-11-01T07:00:00Z")),
            at("2024-11-01T07:00:00Z")
        );
    }
}
