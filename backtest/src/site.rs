//! A site's configuration: one TOML file that a backtest (and the service)
//! plans with. Unknown keys are refused (a typo would otherwise plan with a
//! default nobody meant), and every rule names its key.
//!
//! ```toml
//! id = "np15-hub"
//! zone = "America/Los_Angeles"     # the site's IANA zone: days, billing months
//! currency = "USD"
//! interval_minutes = 15
//!
//! [grid]
//! import_limit_kw = 4000
//! export_limit_kw = 2000
//!
//! [battery]                        # optional
//! soc_min_kwh = 390
//! soc_max_kwh = 7800
//! initial_soc_kwh = 3900
//! max_charge_kw = 3800
//! max_discharge_kw = 3800
//! charge_efficiency = 0.95
//! discharge_efficiency = 0.95
//! degradation_cost_per_mwh = 8
//!
//! [compute]                        # optional
//! max_it_kw = 1500
//! pue = 1.15
//!
//! [tariff]                         # optional; all zero when absent
//! import_adder_per_mwh = 25
//! export_adder_per_mwh = 5
//! demand_charge_per_kw_month = 12  # per kW of each billing month's peak import
//!
//! [market]
//! id = "caiso-np15"                # the service's price series (optional here)
//! zone = "America/Los_Angeles"
//! publish_local_time = "13:00"     # when the next day's day-ahead prices are out
//!
//! [planning]                       # optional; these are the defaults
//! horizon_hours = 36
//! replan_minutes = 60
//! charging_quantile = 0.5
//! mip_gap = 0.0001
//! time_limit_seconds = 10
//! stability_penalty_per_mwh = 0.5
//! terminal_value = "median-price"  # or "none", or a price per MWh
//! peak_reserve_kwh = 0             # kept back for unforecast charging spikes
//! peak_reserve_penalty_per_mwh = 1000  # per MWh below the reserve, per boundary
//! peak_reserve_days = 0            # > 0: the reserve sized from this many days of charging
//! peak_reserve_hours = 8           # ... as its largest excess over this many hours
//! peak_guard_defers_compute = true # the guard may pause jobs with time to spare
//! ```

use chrono::NaiveTime;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// A site, as configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Site {
    /// Identifier, echoed in plans and results.
    pub id: String,
    /// The site's IANA time zone.
    pub zone: String,
    /// Currency of every price and cost.
    pub currency: String,
    /// Planning interval, minutes (5, 10, 15, 20, 30 or 60).
    pub interval_minutes: u32,
    /// Grid connection limits.
    pub grid: Grid,
    /// Stationary battery, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub battery: Option<Battery>,
    /// Compute container, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute: Option<Compute>,
    /// Adders and demand charge.
    #[serde(default)]
    pub tariff: Tariff,
    /// The day-ahead market the site buys in.
    pub market: Market,
    /// How the site is planned.
    #[serde(default)]
    pub planning: Planning,
}

/// Grid connection limits, kW.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Grid {
    /// Maximum import (> 0).
    pub import_limit_kw: f64,
    /// Maximum export (≥ 0).
    pub export_limit_kw: f64,
}

/// A stationary battery (the problem format's fields, without the state).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Battery {
    /// Lowest allowed stored energy, kWh.
    pub soc_min_kwh: f64,
    /// Highest allowed stored energy, kWh.
    pub soc_max_kwh: f64,
    /// Stored energy at the start of a backtest, kWh.
    pub initial_soc_kwh: f64,
    /// Maximum charging power, kW.
    pub max_charge_kw: f64,
    /// Maximum discharging power, kW.
    pub max_discharge_kw: f64,
    /// Fraction of charged energy stored, (0, 1].
    pub charge_efficiency: f64,
    /// Fraction of withdrawn energy delivered, (0, 1].
    pub discharge_efficiency: f64,
    /// Wear cost per MWh discharged.
    #[serde(default)]
    pub degradation_cost_per_mwh: f64,
}

/// The compute container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Compute {
    /// Maximum IT power of all jobs together, kW.
    pub max_it_kw: f64,
    /// Site power per kW of IT power (≥ 1).
    pub pue: f64,
}

/// Tariff terms on top of the day-ahead price.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Tariff {
    /// Added to the price for imports, per MWh.
    #[serde(default)]
    pub import_adder_per_mwh: f64,
    /// Subtracted from the price for exports, per MWh.
    #[serde(default)]
    pub export_adder_per_mwh: f64,
    /// Charge per kW of each billing month's (site-local calendar month)
    /// peak import.
    #[serde(default)]
    pub demand_charge_per_kw_month: f64,
}

/// The day-ahead market.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Market {
    /// The name under which the service stores this market's prices (e.g.
    /// `caiso-np15`); sites in one market share them. Backtests read prices
    /// from a file and do not need it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The market's IANA zone (its delivery days).
    pub zone: String,
    /// Local time at which the next delivery day's prices are published,
    /// `HH:MM`.
    pub publish_local_time: String,
}

/// How the site is planned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, default)]
pub struct Planning {
    /// Hours each plan looks ahead.
    pub horizon_hours: u32,
    /// Minutes between plans.
    pub replan_minutes: u32,
    /// Quantile of the charging forecast planned for, (0, 1).
    pub charging_quantile: f64,
    /// Relative MIP gap at which a solve stops.
    pub mip_gap: f64,
    /// Wall-clock limit of one solve, seconds.
    pub time_limit_seconds: f64,
    /// Cost per MWh of moving the battery away from the previous plan.
    pub stability_penalty_per_mwh: f64,
    /// Value of energy left in the battery at the end of a plan.
    pub terminal_value: TerminalValue,
    /// Energy above `soc_min_kwh` each plan keeps back (a soft minimum at
    /// every boundary) for the dispatch rule's peak guard to discharge into
    /// unforecast charging spikes; used only with a demand charge.
    pub peak_reserve_kwh: f64,
    /// Cost per MWh a plan falls short of the peak reserve, at each interval
    /// boundary: high, the reserve is kept whatever prices pay and refilled
    /// at once; lower, a plan sells it into prices that pay more than the
    /// hours it stays short cost.
    pub peak_reserve_penalty_per_mwh: f64,
    /// When above 0, the reserve is sized before each plan from the site's
    /// metered charging of this many days before it, instead of
    /// `peak_reserve_kwh`: the most energy by which charging exceeded its
    /// typical level (each local time of day's median over those days) in
    /// any `peak_reserve_hours` of them.
    pub peak_reserve_days: u32,
    /// The window of `peak_reserve_days`, hours.
    pub peak_reserve_hours: f64,
    /// Whether the dispatch rule's peak guard, when the battery cannot hold
    /// the month's peak, slows or pauses preemptible jobs that have time to
    /// spare before their deadlines (their energy is planned again later).
    pub peak_guard_defers_compute: bool,
}

impl Default for Planning {
    fn default() -> Self {
        Planning {
            horizon_hours: 36,
            replan_minutes: 60,
            charging_quantile: 0.5,
            mip_gap: 1e-4,
            time_limit_seconds: 10.0,
            stability_penalty_per_mwh: 0.5,
            terminal_value: TerminalValue::default(),
            peak_reserve_kwh: 0.0,
            peak_reserve_penalty_per_mwh: 1000.0,
            peak_reserve_days: 0,
            peak_reserve_hours: 8.0,
            peak_guard_defers_compute: true,
        }
    }
}

/// Value of the energy a plan leaves in the battery, per MWh stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum TerminalValue {
    /// A policy by name: `"median-price"` (the median price of the plan's
    /// horizon times the discharge efficiency: what a stored MWh typically
    /// sells for) or `"none"` (0: the plan empties the battery if that pays).
    Policy(TerminalPolicy),
    /// A fixed price per MWh stored.
    Fixed(f64),
}

impl Default for TerminalValue {
    fn default() -> Self {
        TerminalValue::Policy(TerminalPolicy::MedianPrice)
    }
}

/// A named terminal value policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum TerminalPolicy {
    /// Median horizon price × discharge efficiency.
    MedianPrice,
    /// Nothing.
    None,
}

/// Why a site file is not usable.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    /// Not TOML, a wrong type, a missing or unknown key.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// The parser's message, naming the key and line.
        message: String,
    },
    /// Keys that break a rule; all of them.
    #[error("{path}: invalid site ({} issue{}):\n{}", issues.len(), if issues.len() == 1 { "" } else { "s" }, issues.iter().map(|i| format!("  {i}")).collect::<Vec<_>>().join("\n"))]
    Rules {
        /// The file.
        path: String,
        /// One line per broken rule, starting with the key.
        issues: Vec<String>,
    },
}

/// A checked site with its parsed zones and publication time.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteConfig {
    /// The configuration as written.
    pub site: Site,
    /// The site's zone.
    pub zone: Tz,
    /// The market's zone.
    pub market_zone: Tz,
    /// Local publication time of the next day's prices.
    pub publish_time: NaiveTime,
}

impl SiteConfig {
    /// Parses and checks a site TOML document; `path` names it in errors.
    pub fn from_toml(path: &str, text: &str) -> Result<SiteConfig, SiteError> {
        let site: Site = toml::from_str(text).map_err(|error| SiteError::Syntax {
            path: path.to_owned(),
            message: error.to_string().trim_end().to_owned(),
        })?;
        site.check().map_err(|issues| SiteError::Rules {
            path: path.to_owned(),
            issues,
        })
    }

    /// Reads a site file.
    pub fn read(path: &std::path::Path) -> Result<SiteConfig, SiteError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| SiteError::Syntax {
            path: name.clone(),
            message: error.to_string(),
        })?;
        SiteConfig::from_toml(&name, &text)
    }
}

impl Site {
    /// Checks every rule, returning the checked configuration or every issue.
    pub fn check(&self) -> Result<SiteConfig, Vec<String>> {
        let mut issues = Vec::new();
        let mut rule = |ok: bool, issue: String| {
            if !ok {
                issues.push(issue);
            }
        };
        rule(
            is_identifier(&self.id),
            format!(
                "id ({:?}) must be 1 to 64 lowercase letters, digits, '-' or '_'",
                self.id
            ),
        );
        rule(
            [5, 10, 15, 20, 30, 60].contains(&self.interval_minutes),
            format!(
                "interval_minutes ({}) must be 5, 10, 15, 20, 30 or 60",
                self.interval_minutes
            ),
        );
        rule(
            self.grid.import_limit_kw > 0.0,
            format!(
                "grid.import_limit_kw ({}) must be > 0",
                self.grid.import_limit_kw
            ),
        );
        rule(
            self.grid.export_limit_kw >= 0.0,
            format!(
                "grid.export_limit_kw ({}) must be ≥ 0",
                self.grid.export_limit_kw
            ),
        );
        if let Some(b) = &self.battery {
            rule(
                0.0 <= b.soc_min_kwh && b.soc_min_kwh <= b.soc_max_kwh,
                format!(
                    "battery.soc_min_kwh ({}) must be in [0, battery.soc_max_kwh ({})]",
                    b.soc_min_kwh, b.soc_max_kwh
                ),
            );
            rule(
                b.soc_min_kwh <= b.initial_soc_kwh && b.initial_soc_kwh <= b.soc_max_kwh,
                format!(
                    "battery.initial_soc_kwh ({}) must be in [soc_min_kwh, soc_max_kwh] ([{}, {}])",
                    b.initial_soc_kwh, b.soc_min_kwh, b.soc_max_kwh
                ),
            );
            for (key, value) in [
                ("max_charge_kw", b.max_charge_kw),
                ("max_discharge_kw", b.max_discharge_kw),
                ("degradation_cost_per_mwh", b.degradation_cost_per_mwh),
            ] {
                rule(value >= 0.0, format!("battery.{key} ({value}) must be ≥ 0"));
            }
            for (key, value) in [
                ("charge_efficiency", b.charge_efficiency),
                ("discharge_efficiency", b.discharge_efficiency),
            ] {
                rule(
                    value > 0.0 && value <= 1.0,
                    format!("battery.{key} ({value}) must be in (0, 1]"),
                );
            }
        }
        if let Some(c) = &self.compute {
            rule(
                c.max_it_kw >= 0.0,
                format!("compute.max_it_kw ({}) must be ≥ 0", c.max_it_kw),
            );
            rule(c.pue >= 1.0, format!("compute.pue ({}) must be ≥ 1", c.pue));
        }
        rule(
            self.tariff.demand_charge_per_kw_month >= 0.0,
            format!(
                "tariff.demand_charge_per_kw_month ({}) must be ≥ 0",
                self.tariff.demand_charge_per_kw_month
            ),
        );
        let p = &self.planning;
        rule(
            p.horizon_hours >= 1 && p.horizon_hours <= 168,
            format!(
                "planning.horizon_hours ({}) must be in 1–168",
                p.horizon_hours
            ),
        );
        rule(
            p.replan_minutes >= self.interval_minutes
                && p.replan_minutes
                    .is_multiple_of(self.interval_minutes.max(1))
                && p.replan_minutes <= p.horizon_hours * 60,
            format!(
                "planning.replan_minutes ({}) must be a whole number of intervals ({} min), at most the horizon",
                p.replan_minutes, self.interval_minutes
            ),
        );
        rule(
            p.charging_quantile > 0.0 && p.charging_quantile < 1.0,
            format!(
                "planning.charging_quantile ({}) must be in (0, 1)",
                p.charging_quantile
            ),
        );
        rule(
            p.mip_gap >= 0.0,
            format!("planning.mip_gap ({}) must be ≥ 0", p.mip_gap),
        );
        rule(
            p.time_limit_seconds > 0.0,
            format!(
                "planning.time_limit_seconds ({}) must be > 0",
                p.time_limit_seconds
            ),
        );
        rule(
            p.stability_penalty_per_mwh >= 0.0,
            format!(
                "planning.stability_penalty_per_mwh ({}) must be ≥ 0",
                p.stability_penalty_per_mwh
            ),
        );
        rule(
            p.peak_reserve_kwh >= 0.0,
            format!(
                "planning.peak_reserve_kwh ({}) must be ≥ 0",
                p.peak_reserve_kwh
            ),
        );
        rule(
            p.peak_reserve_penalty_per_mwh > 0.0,
            format!(
                "planning.peak_reserve_penalty_per_mwh ({}) must be > 0",
                p.peak_reserve_penalty_per_mwh
            ),
        );
        rule(
            p.peak_reserve_days <= 84,
            format!(
                "planning.peak_reserve_days ({}) must be in 0–84 (0: off)",
                p.peak_reserve_days
            ),
        );
        rule(
            p.peak_reserve_hours > 0.0 && p.peak_reserve_hours <= f64::from(p.horizon_hours),
            format!(
                "planning.peak_reserve_hours ({}) must be > 0 and at most horizon_hours",
                p.peak_reserve_hours
            ),
        );
        let zone = self.zone.parse::<Tz>();
        rule(
            zone.is_ok(),
            format!("zone ({:?}) is not an IANA time zone", self.zone),
        );
        let market_zone = self.market.zone.parse::<Tz>();
        rule(
            market_zone.is_ok(),
            format!(
                "market.zone ({:?}) is not an IANA time zone",
                self.market.zone
            ),
        );
        if let Some(id) = &self.market.id {
            rule(
                is_identifier(id),
                format!("market.id ({id:?}) must be 1 to 64 lowercase letters, digits, '-' or '_'"),
            );
        }
        let publish_time = NaiveTime::parse_from_str(&self.market.publish_local_time, "%H:%M");
        rule(
            publish_time.is_ok(),
            format!(
                "market.publish_local_time ({:?}) must be HH:MM",
                self.market.publish_local_time
            ),
        );
        match (zone, market_zone, publish_time) {
            (Ok(zone), Ok(market_zone), Ok(publish_time)) if issues.is_empty() => Ok(SiteConfig {
                site: self.clone(),
                zone,
                market_zone,
                publish_time,
            }),
            _ => Err(issues),
        }
    }
}

/// Whether `text` can name a site or a market in a URL: 1 to 64 lowercase
/// ASCII letters, digits, `-` or `_`.
pub fn is_identifier(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl SiteConfig {
    /// This site with the numeric key `key` (dotted, e.g.
    /// `battery.soc_max_kwh`) set to `value`, checked again: the variants
    /// of a sizing sweep.
    ///
    /// Setting `battery.soc_max_kwh` scales the battery's other energies
    /// (`soc_min_kwh`, `initial_soc_kwh`) and `planning.peak_reserve_kwh`
    /// with it, keeping their shares of the capacity; 0 means no battery.
    pub fn variant(&self, key: &str, value: f64) -> Result<SiteConfig, String> {
        let mut site = self.site.clone();
        if key == "battery.soc_max_kwh" {
            let Some(battery) = &site.battery else {
                return Err("battery.soc_max_kwh: the site has no battery".to_owned());
            };
            if value <= 0.0 {
                site.battery = None;
                site.planning.peak_reserve_kwh = 0.0;
                return site.check().map_err(|issues| issues.join("; "));
            }
            let scale = value / battery.soc_max_kwh.max(f64::MIN_POSITIVE);
            site.planning.peak_reserve_kwh *= scale;
            if let Some(battery) = &mut site.battery {
                battery.soc_min_kwh *= scale;
                battery.initial_soc_kwh *= scale;
                battery.soc_max_kwh = value;
            }
            return site.check().map_err(|issues| issues.join("; "));
        }
        let mut document = toml::Value::try_from(&site).map_err(|error| error.to_string())?;
        let mut cell = &mut document;
        for part in key.split('.') {
            cell = cell
                .get_mut(part)
                .ok_or_else(|| format!("{key}: the site has no such key"))?;
        }
        *cell = match cell {
            toml::Value::Integer(_) if value.fract() == 0.0 => toml::Value::Integer(value as i64),
            toml::Value::Float(_) | toml::Value::Integer(_) => toml::Value::Float(value),
            _ => return Err(format!("{key} is not a number")),
        };
        let site: Site = document
            .try_into()
            .map_err(|error: toml::de::Error| format!("{key}: {error}"))?;
        site.check().map_err(|issues| issues.join("; "))
    }
}
