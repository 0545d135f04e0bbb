//! The site configuration: the demo file, and every rule naming its key.

use std::path::PathBuf;

use arbiter_backtest::SiteConfig;
use arbiter_backtest::site::{TerminalPolicy, TerminalValue};

fn demo() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/sites/demo.toml");
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn the_demo_site_is_read_with_its_zones_and_publication_time() {
    let config = SiteConfig::from_toml("demo.toml", &demo()).unwrap();
    assert_eq!(config.site.id, "np15-hub");
    assert_eq!(config.zone, chrono_tz::America::Los_Angeles);
    assert_eq!(config.publish_time.to_string(), "13:00:00");
    assert_eq!(config.site.battery.as_ref().unwrap().soc_max_kwh, 7800.0);
    assert_eq!(
        config.site.planning.terminal_value,
        TerminalValue::Policy(TerminalPolicy::MedianPrice)
    );
}

#[test]
fn a_fixed_terminal_value_and_planning_defaults_are_read() {
    let text = demo().replace("terminal_value = \"median-price\"", "terminal_value = 42.5");
    let config = SiteConfig::from_toml("demo.toml", &text).unwrap();
    assert_eq!(
        config.site.planning.terminal_value,
        TerminalValue::Fixed(42.5)
    );
    let start = text.find("[planning]").unwrap();
    let config = SiteConfig::from_toml("demo.toml", &text[..start]).unwrap();
    assert_eq!(config.site.planning.horizon_hours, 36);
    assert_eq!(config.site.planning.replan_minutes, 60);
}

#[test]
fn an_unknown_or_mistyped_key_is_refused_naming_it() {
    let typo = demo().replace("soc_max_kwh = 7800", "soc_max_kw = 7800");
    let error = SiteConfig::from_toml("demo.toml", &typo)
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("demo.toml: TOML parse error at line"),
        "{error}"
    );
    assert!(error.contains("unknown field `soc_max_kw`"), "{error}");
    let mistyped = demo().replace("import_limit_kw = 4000", "import_limit_kw = \"lots\"");
    let error = SiteConfig::from_toml("demo.toml", &mistyped)
        .unwrap_err()
        .to_string();
    assert!(error.contains("invalid type: string \"lots\""), "{error}");
}

#[test]
fn every_broken_rule_is_listed_with_its_key() {
    let text = demo()
        .replace("interval_minutes = 15", "interval_minutes = 7")
        .replace("initial_soc_kwh = 3900", "initial_soc_kwh = 9000")
        .replace("pue = 1.15", "pue = 0.9")
        .replace(
            "zone = \"America/Los_Angeles\"\ncurrency",
            "zone = \"Mars/Olympus\"\ncurrency",
        )
        .replace(
            "publish_local_time = \"13:00\"",
            "publish_local_time = \"1pm\"",
        )
        .replace("charging_quantile = 0.5", "charging_quantile = 1.5");
    let error = SiteConfig::from_toml("demo.toml", &text)
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "demo.toml: invalid site (7 issues):
  interval_minutes (7) must be 5, 10, 15, 20, 30 or 60
  battery.initial_soc_kwh (9000) must be in [soc_min_kwh, soc_max_kwh] ([390, 7800])
  compute.pue (0.9) must be ≥ 1
  planning.replan_minutes (60) must be a whole number of intervals (7 min), at most the horizon
  planning.charging_quantile (1.5) must be in (0, 1)
  zone (\"Mars/Olympus\") is not an IANA time zone
  market.publish_local_time (\"1pm\") must be HH:MM"
    );
}

#[test]
fn sweep_variants_set_a_numeric_key_and_scale_the_battery_with_its_size() {
    let config = SiteConfig::from_toml("demo.toml", &demo())
        .unwrap()
        .variant("planning.peak_reserve_kwh", 4000.0)
        .unwrap();
    let doubled = config.variant("battery.soc_max_kwh", 15600.0).unwrap();
    let battery = doubled.site.battery.as_ref().unwrap();
    assert_eq!(
        (
            battery.soc_min_kwh,
            battery.initial_soc_kwh,
            battery.soc_max_kwh
        ),
        (780.0, 7800.0, 15600.0)
    );
    assert_eq!(battery.max_charge_kw, 3800.0);
    assert_eq!(doubled.site.planning.peak_reserve_kwh, 8000.0);
    let none = config.variant("battery.soc_max_kwh", 0.0).unwrap();
    assert!(none.site.battery.is_none());
    let bigger = config.variant("grid.import_limit_kw", 6000.0).unwrap();
    assert_eq!(bigger.site.grid.import_limit_kw, 6000.0);
    let pue = config.variant("compute.pue", 1.3).unwrap();
    assert_eq!(pue.site.compute.as_ref().unwrap().pue, 1.3);
    assert_eq!(
        config.variant("battery.size", 1.0).unwrap_err(),
        "battery.size: the site has no such key"
    );
    assert_eq!(
        config.variant("currency", 1.0).unwrap_err(),
        "currency is not a number"
    );
    assert_eq!(
        config.variant("compute.pue", 0.5).unwrap_err(),
        "compute.pue (0.5) must be ≥ 1"
    );
    assert_eq!(
        config
            .variant("planning.peak_reserve_penalty_per_mwh", 0.0)
            .unwrap_err(),
        "planning.peak_reserve_penalty_per_mwh (0) must be > 0"
    );
    let cheaper = config
        .variant("planning.peak_reserve_penalty_per_mwh", 100.0)
        .unwrap();
    assert_eq!(cheaper.site.planning.peak_reserve_penalty_per_mwh, 100.0);
}
