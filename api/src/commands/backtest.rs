//! `arbiter backtest`: replay history through the planner and the other
//! strategies, and write the ledger, the KPIs and a comparison table.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use arbiter_backtest::planner::{CHARGING_HISTORY_DAYS, charging_model, choose_price_model};
use arbiter_backtest::{Inputs, Kpis, Oracle, Report, Run, SiteConfig, Strategy, ledger, simulate};
use arbiter_forecast::{
    PriceSource, Series, SyntheticQueue, TimeColumn, align_with_shift, read_jobs,
    read_metered_load, read_prices, resample, week_shift_days,
};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use arbiter_optimizer::rounded;

use super::{Failure, invalid, local_time};
use crate::plot::{StrategySeries, draw_panels, draw_xy};

/// Replay a period through the planner (`mpc`), the rules a site would
/// otherwise run (`naive`, `threshold`, `tou`) and perfect foresight (`perfect`),
/// on identical inputs.
///
/// Writes to --out: `ledger.parquet` (one row per interval and strategy;
/// `ledger.csv` too with --csv),
/// `jobs.csv` (each job's outcome per strategy), `kpis.json`, `week.png`
/// (a week of prices, battery energy and dispatch per strategy) and
/// `savings.png` (cumulative savings over `naive`), and prints the comparison. Ctrl-C stops at the next replan
/// and writes what is finished.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example (fixtures only):
  arbiter backtest --site fixtures/sites/demo.toml \\
      --prices fixtures/prices/caiso_np15_2024-10-21_week.csv \\
      --charging fixtures/ev/broxden_load_2018-10-22_week.csv --charging-year 2018 \\
      --charging-zone Europe/London --charging-scale 20 --synthetic-jobs 1 \\
      --from 2024-10-24 --to 2024-10-27 --out results/demo")]
pub struct Args {
    /// The site configuration (TOML).
    #[arg(long)]
    site: PathBuf,
    /// Day-ahead prices: CSV or Parquet with `timestamp_utc` and `price_per_mwh`.
    #[arg(long)]
    prices: PathBuf,
    /// Metered charging load: CSV or Parquet with `timestamp_utc` and the --charging-column.
    #[arg(long)]
    charging: PathBuf,
    /// The charging file's kW column.
    #[arg(long, default_value = "site_power_kw")]
    charging_column: String,
    /// Multiply the charging load by this (a bigger site than the data's).
    #[arg(long, default_value_t = 1.0)]
    charging_scale: f64,
    /// The year of the charging data to map onto the period by local
    /// weekday and time of day (when the data is from other years).
    #[arg(long)]
    charging_year: Option<i32>,
    /// The IANA zone of the charging data's site [default: the site's zone].
    #[arg(long)]
    charging_zone: Option<chrono_tz::Tz>,
    /// A job queue file (CSV or Parquet).
    #[arg(long, conflicts_with = "synthetic_jobs")]
    jobs: Option<PathBuf>,
    /// A synthetic job queue with this seed (see docs/data-formats.md).
    #[arg(long)]
    synthetic_jobs: Option<u64>,
    /// What a GPU-hour of each synthetic job earns, drawn per job from
    /// LOW,HIGH (the site's currency per GPU-hour at 0.7 kW per GPU), e.g.
    /// `1.5,3` for rented H100s [default: jobs worth nothing].
    #[arg(long, requires = "synthetic_jobs", value_parser = parse_range)]
    synthetic_job_values: Option<(f64, f64)>,
    /// Compute hosting study: for each IT capacity (kW) run the chosen
    /// strategies with the site's battery and without one, and report what
    /// hosting that much compute earns (`hosting.csv`, `hosting.json`,
    /// `hosting.png`), e.g. `0,500,1000,1500,2000`.
    #[arg(long, value_delimiter = ',', conflicts_with = "sweep")]
    hosting: Option<Vec<f64>>,
    /// First local day of the period (site zone).
    #[arg(long)]
    from: NaiveDate,
    /// Local day after the period.
    #[arg(long)]
    to: NaiveDate,
    /// Strategies to run, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "mpc,naive,threshold,tou,perfect"
    )]
    strategies: Vec<StrategyArg>,
    /// Also write the ledger as CSV (`ledger.csv`).
    #[arg(long)]
    csv: bool,
    /// Local date the plotted week (week.png) starts [default: --from].
    #[arg(long)]
    plot_week: Option<NaiveDate>,
    /// Sizing study: run every strategy for each value of a numeric site
    /// key, side by side, e.g. `battery.soc_max_kwh=0,3900,7800,15600`.
    #[arg(long)]
    sweep: Option<String>,
    /// Tell `mpc` what happened instead of its forecast, to measure what
    /// knowing it is worth: any of `prices`, `charging`, `jobs`
    /// (comma-separated; the report says what it was told).
    #[arg(long, value_delimiter = ',')]
    oracle: Vec<OracleArg>,
    /// Results folder [default: results/<site id>_<from>_<to>].
    #[arg(long)]
    out: Option<PathBuf>,
}

/// An input `mpc` can be told (`--oracle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum OracleArg {
    /// The prices that cleared over its horizon.
    Prices,
    /// The charging load metered over its horizon.
    Charging,
    /// Every job submitted within its horizon, from its start.
    Jobs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum StrategyArg {
    Mpc,
    Naive,
    Threshold,
    Tou,
    Perfect,
}

impl From<StrategyArg> for Strategy {
    fn from(arg: StrategyArg) -> Strategy {
        match arg {
            StrategyArg::Mpc => Strategy::Mpc,
            StrategyArg::Naive => Strategy::Naive,
            StrategyArg::Threshold => Strategy::Threshold,
            StrategyArg::Tou => Strategy::Tou,
            StrategyArg::Perfect => Strategy::Perfect,
        }
    }
}

/// Runs the command.
pub fn run(args: &Args) -> ExitCode {
    super::exit(backtest(args))
}

/// The series on the site's interval grid.
fn to_interval(series: Series, minutes: u32, what: &Path) -> Result<Series, Failure> {
    resample(&series, minutes)
        .map(|(series, _)| series)
        .map_err(|error| invalid(format!("{}: {error}", what.display())))
}

fn backtest(args: &Args) -> Result<(), Failure> {
    let config = SiteConfig::read(&args.site).map_err(invalid)?;
    let site = &config.site;
    let from = local_time(config.zone, args.from, 0)?;
    let to = local_time(config.zone, args.to, 0)?;
    if from >= to {
        return Err(invalid(format!(
            "--from ({}) must be before --to ({})",
            args.from, args.to
        )));
    }
    if !(args.charging_scale >= 0.0 && args.charging_scale.is_finite()) {
        return Err(invalid(format!(
            "--charging-scale ({}) must be a number ≥ 0",
            args.charging_scale
        )));
    }
    let minutes = site.interval_minutes;
    let prices = read_prices(&PriceSource::csv(&args.prices)).map_err(invalid)?;
    let prices = to_interval(prices.series, minutes, &args.prices)?;

    let load = read_metered_load(
        &args.charging,
        &TimeColumn::utc("timestamp_utc"),
        &args.charging_column,
    )
    .map_err(invalid)?;
    let load = to_interval(load, minutes, &args.charging)?;
    let charging_zone = args.charging_zone.unwrap_or(config.zone);
    let mut charging = match args.charging_year {
        // The period's first day maps onto `year`; its history, with the
        // same shift, onto the weeks just before (from the start of the
        // history, or as late a day as the data allows).
        Some(year) => {
            let shift = week_shift_days(from, config.zone, year);
            let mut result = Err(String::new());
            for days in (0..=CHARGING_HISTORY_DAYS).rev() {
                let start = from - TimeDelta::days(days);
                let intervals = ((to - start).num_minutes() / i64::from(minutes)) as usize;
                result =
                    align_with_shift(&load, charging_zone, config.zone, shift, start, intervals)
                        .map_err(|error| error.to_string());
                if result.is_ok() {
                    break;
                }
            }
            result.map_err(|error| invalid(format!("--charging-year {year}: {error}")))?
        }
        None => load,
    };
    for value in &mut charging.values {
        *value *= args.charging_scale;
    }
    let jobs = match (&args.jobs, args.synthetic_jobs) {
        (Some(path), _) => read_jobs(path).map_err(invalid)?,
        (None, Some(seed)) => SyntheticQueue {
            seed,
            gpu_hour_prices: args.synthetic_job_values,
            ..SyntheticQueue::default()
        }
        .generate(from, to),
        (None, None) => Vec::new(),
    };
    let price_model = choose_price_model(&config, &prices, from);
    let charging_model = charging_model();
    let inputs = Inputs {
        prices,
        charging,
        jobs,
        price_model,
        charging_model,
        oracle: Oracle {
            prices: args.oracle.contains(&OracleArg::Prices),
            charging: args.oracle.contains(&OracleArg::Charging),
            jobs: args.oracle.contains(&OracleArg::Jobs),
        },
    };

    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("results").join(format!("{}_{}_{}", site.id, args.from, args.to))
    });
    std::fs::create_dir_all(&out)
        .map_err(|error| invalid(format!("cannot create {}: {error}", out.display())))?;

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        // A second Ctrl-C still kills the process the usual way.
        let _ = ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::Relaxed) {
                std::process::exit(130);
            }
            eprintln!("\nstopping at the next replan; what is finished will be written");
        });
    }
    let mut strategies: Vec<Strategy> = args.strategies.iter().map(|&s| s.into()).collect();
    strategies.sort();
    strategies.dedup();
    let period = Period { from, to };
    let bars = MultiProgress::new();
    if let Some(sizes) = &args.hosting {
        return hosting(
            args,
            &out,
            &config,
            &inputs,
            period,
            &strategies,
            sizes,
            &stop,
            &bars,
        );
    }
    let Some(sweep) = &args.sweep else {
        let runs = run_all(
            &[(String::new(), config.clone(), &inputs)],
            period,
            &strategies,
            &stop,
            &bars,
        )
        .pop()
        .unwrap_or_else(|| Ok(Vec::new()))?;
        let (report, written) = write_results(args, &out, &config, &inputs, period, &runs)?;
        print_table(&report);
        outln!("written: {}", written.join(", "));
        return Ok(());
    };
    let (key, values) = parse_sweep(sweep)?;
    let variants = values
        .iter()
        .map(|&value| {
            config
                .variant(&key, value)
                .map(|variant| (format!("{key}={value} "), variant, &inputs))
                .map_err(|error| invalid(format!("--sweep {key}={value}: {error}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let results = run_all(&variants, period, &strategies, &stop, &bars);
    let mut rows = Vec::new();
    for ((value, (_, variant, _)), runs) in values.iter().zip(&variants).zip(results) {
        let runs = runs?;
        let folder = out.join(format!("{key}={value}"));
        std::fs::create_dir_all(&folder)
            .map_err(|error| invalid(format!("cannot create {}: {error}", folder.display())))?;
        let (report, _) = write_results(args, &folder, variant, &inputs, period, &runs)?;
        rows.push((*value, report.strategies, report.savings_captured));
    }
    write_sweep(&out, &key, &config.site.currency, &rows)
}

/// `LOW,HIGH` with 0 ≤ LOW ≤ HIGH.
fn parse_range(text: &str) -> Result<(f64, f64), String> {
    let rule = || format!("({text}) must be LOW,HIGH with 0 ≤ LOW ≤ HIGH, e.g. 1.5,3");
    let (low, high) = text.split_once(',').ok_or_else(rule)?;
    let (low, high) = (
        low.trim().parse::<f64>().map_err(|_| rule())?,
        high.trim().parse::<f64>().map_err(|_| rule())?,
    );
    if !(low.is_finite() && high.is_finite() && 0.0 <= low && low <= high) {
        return Err(rule());
    }
    Ok((low, high))
}

/// One row of the hosting study.
#[derive(Debug, Clone, serde::Serialize)]
struct HostingRow {
    /// IT capacity, kW.
    it_kw: f64,
    /// Whether the site kept its battery.
    battery: bool,
    /// The strategy.
    strategy: &'static str,
    /// Net cost of the site with this much compute.
    #[serde(serialize_with = "rounded::money")]
    net_cost: f64,
    /// What the jobs earned.
    #[serde(serialize_with = "rounded::money")]
    compute_revenue: f64,
    /// Of it, what jobs due after the period earned (work carried over).
    #[serde(serialize_with = "rounded::money")]
    revenue_not_due: f64,
    /// Net cost without compute (the same battery) less net cost with it:
    /// what hosting this much compute earns the site after its energy,
    /// demand charges, wear and deadline penalties.
    #[serde(serialize_with = "rounded::money")]
    net_margin: f64,
    #[serde(serialize_with = "rounded::energy")]
    gpu_hours: f64,
    #[serde(serialize_with = "rounded::energy")]
    compute_throttled_kwh: f64,
    #[serde(serialize_with = "rounded::energy")]
    unserved_kwh: f64,
    jobs_due: usize,
    jobs_on_time: usize,
}

/// The compute hosting study: every size with and without the battery
/// (plus no compute at all, the margin's baseline).
#[allow(clippy::too_many_arguments)]
fn hosting(
    args: &Args,
    out: &Path,
    config: &SiteConfig,
    inputs: &Inputs,
    period: Period,
    strategies: &[Strategy],
    sizes: &[f64],
    stop: &AtomicBool,
    bars: &MultiProgress,
) -> Result<(), Failure> {
    let mut sizes: Vec<f64> = sizes.to_vec();
    if sizes.iter().any(|kw| !(kw.is_finite() && *kw >= 0.0)) {
        return Err(invalid(
            "--hosting: every IT capacity must be a number of kW ≥ 0",
        ));
    }
    if !sizes.contains(&0.0) {
        sizes.insert(0, 0.0);
    }
    sizes.sort_by(f64::total_cmp);
    sizes.dedup();
    let batteries: &[bool] = if config.site.battery.is_some() {
        &[true, false]
    } else {
        &[false]
    };
    // Each size gets work to match: a synthetic queue is drawn for it (the
    // default queue keeps a 1 MW container about 60% busy, so its arrivals
    // scale with the size); a queue file is the same for every size. No
    // compute at all (the margin's baseline) has no jobs.
    let queue_for = |kw: f64| -> Inputs {
        let jobs = match args.synthetic_jobs {
            _ if kw == 0.0 => Vec::new(),
            Some(seed) => {
                let default = SyntheticQueue::default();
                SyntheticQueue {
                    seed,
                    gpu_hour_prices: args.synthetic_job_values,
                    jobs_per_day: default.jobs_per_day * kw / 1000.0,
                    ..default
                }
                .generate(period.from, period.to)
            }
            None => inputs.jobs.clone(),
        };
        Inputs {
            jobs,
            ..inputs.clone()
        }
    };
    let queues: Vec<Inputs> = sizes.iter().map(|&kw| queue_for(kw)).collect();
    let mut variants = Vec::new();
    let mut labelled = Vec::new();
    for &battery in batteries {
        for (&kw, queue) in sizes.iter().zip(&queues) {
            let sized = config
                .variant("compute.max_it_kw", kw)
                .and_then(|c| {
                    if battery {
                        Ok(c)
                    } else {
                        c.variant("battery.soc_max_kwh", 0.0)
                    }
                })
                .map_err(|error| invalid(format!("--hosting {kw}: {error}")))?;
            let label = format!("{kw} kW{} ", if battery { "" } else { ", no battery" });
            labelled.push((kw, battery));
            variants.push((label, sized, queue));
        }
    }
    let results = run_all(&variants, period, strategies, stop, bars);
    let mut reports = Vec::new();
    for (((kw, battery), (_, variant, inputs)), runs) in labelled.iter().zip(&variants).zip(results)
    {
        let runs = runs?;
        let folder = out.join(format!(
            "it_kw={kw}{}",
            if *battery { "" } else { ",no-battery" }
        ));
        std::fs::create_dir_all(&folder)
            .map_err(|error| invalid(format!("cannot create {}: {error}", folder.display())))?;
        let (report, _) = write_results(args, &folder, variant, inputs, period, &runs)?;
        reports.push(((*kw, *battery), report));
    }
    let baseline = |battery: bool, strategy: &str| {
        reports
            .iter()
            .find(|((kw, b), _)| *kw == 0.0 && *b == battery)
            .and_then(|(_, report)| report.strategies.get(strategy).map(|k| k.net_cost))
    };
    let mut rows = Vec::new();
    for ((kw, battery), report) in &reports {
        for (name, k) in &report.strategies {
            rows.push(HostingRow {
                it_kw: *kw,
                battery: *battery,
                strategy: name,
                net_cost: k.net_cost,
                compute_revenue: k.compute_value,
                revenue_not_due: k.compute_value_not_due,
                net_margin: baseline(*battery, name).map_or(f64::NAN, |base| base - k.net_cost),
                gpu_hours: k.gpu_hours,
                compute_throttled_kwh: k.compute_throttled_kwh,
                unserved_kwh: k.unserved_kwh,
                jobs_due: k.jobs_due,
                jobs_on_time: k.jobs_on_time,
            });
        }
    }
    let currency = &config.site.currency;
    let mut printed = format!(
        "{:>8} {:>8} {:<9} {:>14} {:>14} {:>12} {:>14} {:>10} {:>10} {:>10} {:>9}\n",
        "IT kW",
        "battery",
        "strategy",
        format!("net ({currency})"),
        "revenue",
        "not due",
        "margin",
        "GPU-h",
        "throttled",
        "unserved",
        "on time"
    );
    for r in &rows {
        printed.push_str(&format!(
            "{:>8} {:>8} {:<9} {:>14.2} {:>14.2} {:>12.2} {:>14.2} {:>10.1} {:>6.1} kWh {:>6.1} kWh {:>9}\n",
            r.it_kw,
            if r.battery { "yes" } else { "no" },
            r.strategy,
            r.net_cost,
            r.compute_revenue,
            r.revenue_not_due,
            r.net_margin,
            r.gpu_hours,
            r.compute_throttled_kwh,
            r.unserved_kwh,
            format!("{}/{}", r.jobs_on_time, r.jobs_due)
        ));
    }
    let write = |name: &str, text: String| -> Result<PathBuf, Failure> {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(|error| {
            Failure::Internal(format!("cannot write {}: {error}", path.display()))
        })?;
        Ok(path)
    };
    let csv_path = out.join("hosting.csv");
    let written = csv::Writer::from_path(&csv_path).and_then(|mut writer| {
        for row in &rows {
            writer.serialize(row)?;
        }
        writer.flush().map_err(csv::Error::from)
    });
    written.map_err(|error| {
        Failure::Internal(format!("cannot write {}: {error}", csv_path.display()))
    })?;
    let json = serde_json::to_string_pretty(&rows)
        .map_err(|error| Failure::Internal(error.to_string()))?;
    let json_path = write("hosting.json", json + "\n")?;
    let png_path = out.join("hosting.png");
    let mut lines = Vec::new();
    for &battery in batteries {
        for strategy in strategies {
            lines.push(StrategySeries {
                name: format!(
                    "{}{}",
                    strategy.name(),
                    if battery { "" } else { ", no battery" }
                ),
                points: rows
                    .iter()
                    .filter(|r| r.battery == battery && r.strategy == strategy.name())
                    .map(|r| (r.it_kw, r.net_margin))
                    .collect(),
            });
        }
    }
    draw_xy(
        &png_path,
        "What hosting compute earns the site",
        "IT capacity (kW)",
        currency,
        &lines,
    )
    .map_err(Failure::Internal)?;
    out!("{printed}");
    outln!(
        "written: {}, {}, {} (and each variant's results in {}/it_kw=…)",
        csv_path.display(),
        json_path.display(),
        png_path.display(),
        out.display()
    );
    Ok(())
}

/// The period simulated.
#[derive(Debug, Clone, Copy)]
struct Period {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

/// Parses `KEY=V1,V2,…`.
fn parse_sweep(text: &str) -> Result<(String, Vec<f64>), Failure> {
    let rule = || {
        invalid(format!(
            "--sweep ({text}) must be KEY=V1,V2,… with numbers, e.g. battery.soc_max_kwh=0,3900,7800"
        ))
    };
    let (key, values) = text.split_once('=').ok_or_else(rule)?;
    let values = values
        .split(',')
        .map(|value| value.trim().parse::<f64>().ok().filter(|v| v.is_finite()))
        .collect::<Option<Vec<f64>>>()
        .ok_or_else(rule)?;
    if key.trim().is_empty() || values.is_empty() {
        return Err(rule());
    }
    Ok((key.trim().to_owned(), values))
}

/// Runs every strategy on every variant (labelled, e.g. `battery.soc_max_kwh=0 `
/// in a sweep), one simulation per core at a time, the planning strategies
/// first (they take longest). Returns each variant's runs in `strategies`
/// order. After Ctrl-C, simulations not yet started are skipped and those
/// running stop at their next replan.
fn run_all(
    variants: &[(String, SiteConfig, &Inputs)],
    period: Period,
    strategies: &[Strategy],
    stop: &AtomicBool,
    bars: &MultiProgress,
) -> Vec<Result<Vec<Run>, Failure>> {
    let mut tasks: Vec<(usize, Strategy)> = variants
        .iter()
        .enumerate()
        .flat_map(|(v, _)| strategies.iter().map(move |&strategy| (v, strategy)))
        .collect();
    tasks.sort_by_key(|&(v, strategy)| (!strategy.plans(), v));
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(tasks.len())
        .max(1);
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Result<Run, Failure>>>> =
        tasks.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(v, strategy)) = tasks.get(i) else {
                        break;
                    };
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let (label, config, inputs) = &variants[v];
                    let run = run_one(config, inputs, period, strategy, stop, bars, label);
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = Some(run);
                    }
                }
            });
        }
    });
    let mut by_variant: Vec<Result<Vec<Run>, Failure>> =
        variants.iter().map(|_| Ok(Vec::new())).collect();
    let mut finished: Vec<_> = tasks
        .into_iter()
        .zip(results)
        .filter_map(|(task, slot)| slot.into_inner().ok().flatten().map(|run| (task, run)))
        .collect();
    finished.sort_by_key(|&((v, strategy), _)| (v, strategy));
    for ((v, _), run) in finished {
        match (&mut by_variant[v], run) {
            (Ok(runs), Ok(run)) => runs.push(run),
            (slot @ Ok(_), Err(error)) => *slot = Err(error),
            (Err(_), _) => {}
        }
    }
    by_variant
}

/// One strategy's simulation with its progress bar.
fn run_one(
    config: &SiteConfig,
    inputs: &Inputs,
    period: Period,
    strategy: Strategy,
    stop: &AtomicBool,
    bars: &MultiProgress,
    label: &str,
) -> Result<Run, Failure> {
    let minutes = i64::from(config.site.interval_minutes);
    let total = ((period.to - period.from).num_minutes() / minutes) as u64;
    let bar = bars.add(ProgressBar::new(total));
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:>9} [{bar:30}] {pos}/{len} intervals, {elapsed} elapsed, ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let name = format!("{label}{}", strategy.name());
    bar.set_message(name.clone());
    // Without a terminal (a log file, CI) the bar is hidden: a line every
    // 10% instead.
    let plain = !std::io::stderr().is_terminal();
    let started = std::time::Instant::now();
    let decile = std::cell::Cell::new(0);
    let progress = |done: usize| {
        bar.set_position(done as u64);
        let now = 10 * done as u64 / total.max(1);
        if plain && now > decile.get() {
            decile.set(now);
            eprintln!(
                "{name}: {}% ({done}/{total} intervals), {:.0} s",
                10 * now,
                started.elapsed().as_secs_f64()
            );
        }
    };
    let result = simulate(
        config,
        inputs,
        period.from,
        period.to,
        strategy,
        &progress,
        stop,
    );
    bar.finish();
    result.map_err(invalid)
}

/// Writes a run set's ledger, jobs, KPIs and charts into `out`.
fn write_results(
    args: &Args,
    out: &Path,
    config: &SiteConfig,
    inputs: &Inputs,
    period: Period,
    runs: &[Run],
) -> Result<(Report, Vec<String>), Failure> {
    let Period { from, to } = period;
    let rows: Vec<_> = runs.iter().flat_map(|run| run.rows.iter()).collect();
    let ledger_path = out.join("ledger.parquet");
    ledger::write_parquet(&ledger_path, &rows).map_err(Failure::Internal)?;
    let mut written = vec![ledger_path.display().to_string()];
    if args.csv {
        let csv_path = out.join("ledger.csv");
        ledger::write_csv(&csv_path, &rows).map_err(|error| {
            Failure::Internal(format!("cannot write {}: {error}", csv_path.display()))
        })?;
        written.push(csv_path.display().to_string());
    }
    let jobs_path = out.join("jobs.csv");
    ledger::write_jobs_csv(&jobs_path, &runs.iter().collect::<Vec<_>>()).map_err(|error| {
        Failure::Internal(format!("cannot write {}: {error}", jobs_path.display()))
    })?;
    let report = Report::new(config, inputs, from, to, runs);
    let kpis_path = out.join("kpis.json");
    let json = serde_json::to_string_pretty(&report)
        .map_err(|error| Failure::Internal(error.to_string()))?;
    std::fs::write(&kpis_path, json + "\n").map_err(|error| {
        Failure::Internal(format!("cannot write {}: {error}", kpis_path.display()))
    })?;
    let week_start = args
        .plot_week
        .map(|date| local_time(config.zone, date, 0))
        .transpose()?
        .unwrap_or(from)
        .max(from);
    let week_path = out.join("week.png");
    draw_week(config, runs, week_start, &week_path).map_err(Failure::Internal)?;
    written.push(week_path.display().to_string());
    if runs.iter().any(|run| run.strategy == Strategy::Naive) && runs.len() > 1 {
        let savings_path = out.join("savings.png");
        draw_savings(config, runs, from, &savings_path).map_err(Failure::Internal)?;
        written.push(savings_path.display().to_string());
    }
    written.push(jobs_path.display().to_string());
    written.push(kpis_path.display().to_string());
    Ok((report, written))
}

/// The sweep's table (printed, `sweep.csv`, `sweep.json`) and chart
/// (`sweep.png`: net cost per strategy against the swept value).
fn write_sweep(
    out: &Path,
    key: &str,
    currency: &str,
    rows: &[(f64, BTreeMap<&'static str, Kpis>, Option<f64>)],
) -> Result<(), Failure> {
    let names: Vec<&str> = rows
        .first()
        .map(|(_, strategies, _)| strategies.keys().copied().collect())
        .unwrap_or_default();
    let mut table = format!(
        "{key},{},mpc_captures\n",
        names
            .iter()
            .map(|n| format!("{n}_net_cost"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let mut printed = format!(
        "{key:>24} {}   mpc captures\n",
        names
            .iter()
            .map(|n| format!("{:>14}", format!("{n} ({currency})")))
            .collect::<String>()
    );
    for (value, strategies, captured) in rows {
        let costs: Vec<f64> = names
            .iter()
            .map(|n| strategies.get(n).map_or(f64::NAN, |k| k.net_cost))
            .collect();
        table.push_str(&format!(
            "{value},{},{}\n",
            costs
                .iter()
                .map(|c| format!("{c:.2}"))
                .collect::<Vec<_>>()
                .join(","),
            captured.map(|c| format!("{c:.4}")).unwrap_or_default()
        ));
        printed.push_str(&format!(
            "{value:>24} {}   {}\n",
            costs
                .iter()
                .map(|c| format!("{c:>14.2}"))
                .collect::<String>(),
            captured
                .map(|c| format!("{:.1}%", 100.0 * c))
                .unwrap_or_else(|| "–".to_owned())
        ));
    }
    let csv_path = out.join("sweep.csv");
    std::fs::write(&csv_path, table).map_err(|error| {
        Failure::Internal(format!("cannot write {}: {error}", csv_path.display()))
    })?;
    let json_path = out.join("sweep.json");
    let json = serde_json::to_string_pretty(
        &rows
            .iter()
            .map(|(value, strategies, captured)| {
                serde_json::json!({ "key": key, "value": value, "strategies": strategies, "savings_captured": captured })
            })
            .collect::<Vec<_>>(),
    )
    .map_err(|error| Failure::Internal(error.to_string()))?;
    std::fs::write(&json_path, json + "\n").map_err(|error| {
        Failure::Internal(format!("cannot write {}: {error}", json_path.display()))
    })?;
    let png_path = out.join("sweep.png");
    let lines: Vec<StrategySeries> = names
        .iter()
        .map(|name| StrategySeries {
            name: (*name).to_owned(),
            points: rows
                .iter()
                .filter_map(|(value, strategies, _)| {
                    strategies.get(name).map(|k| (*value, k.net_cost))
                })
                .collect(),
        })
        .collect();
    draw_xy(
        &png_path,
        &format!("Net cost against {key}"),
        key,
        currency,
        &lines,
    )
    .map_err(Failure::Internal)?;
    out!("{printed}");
    outln!(
        "written: {}, {}, {} (and each variant's results in {}/{key}=…)",
        csv_path.display(),
        json_path.display(),
        png_path.display(),
        out.display()
    );
    Ok(())
}

fn print_table(report: &Report) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{}: {} to {} ({}), prices extended by {}, charging forecast {}, {} jobs",
        report.site,
        report.from.format("%Y-%m-%d %H:%M UTC"),
        report.to.format("%Y-%m-%d %H:%M UTC"),
        report.currency,
        report.price_model,
        report.charging_model,
        report.jobs
    );
    if let Some(told) = &report.mpc_told {
        let _ = writeln!(
            out,
            "mpc told what happened instead of forecasting it: {told}"
        );
    }
    let _ = writeln!(
        out,
        "{:<8} {:>12} {:>12} {:>10} {:>10} {:>10} {:>10} {:>9} {:>10} {:>8} {:>9}",
        "strategy",
        "net cost",
        "energy",
        "demand",
        "wear",
        "compute",
        "penalties",
        "on time",
        "unserved",
        "cycles",
        "solve p50"
    );
    for (name, k) in &report.strategies {
        let _ = writeln!(
            out,
            "{:<8} {:>12.2} {:>12.2} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>9} {:>7.1} kWh {:>8.2} {:>8.3}s",
            name,
            k.net_cost,
            k.energy_cost,
            k.demand_charges.values().sum::<f64>(),
            k.degradation_cost,
            -k.compute_value,
            k.deadline_penalties,
            format!("{}/{}", k.jobs_on_time, k.jobs_due),
            k.unserved_kwh,
            k.battery_cycles,
            k.solve_p50_seconds
        );
    }
    if report.strategies.values().any(|k| k.compute_kwh > 0.0) {
        let _ = writeln!(
            out,
            "{:<8} {:>12} {:>12} {:>14}   (compute: revenue, GPU-hours at {} kW, throttled for charging)",
            "strategy",
            "revenue",
            "GPU-hours",
            "throttled",
            arbiter_backtest::KW_PER_GPU
        );
        for (name, k) in &report.strategies {
            let _ = writeln!(
                out,
                "{:<8} {:>12.2} {:>12.1} {:>10.1} kWh",
                name, k.compute_value, k.gpu_hours, k.compute_throttled_kwh
            );
        }
    }
    if let Some(share) = report.savings_captured {
        let _ = writeln!(
            out,
            "mpc captures {:.1}% of perfect foresight's savings over naive",
            100.0 * share
        );
    }
    if let Some(against) = &report.mpc_against_best_rule {
        let _ = writeln!(
            out,
            "mpc {} {:.2} {} ({:.1}%) against the best rule, {}",
            if against.saving >= 0.0 {
                "saves"
            } else {
                "loses"
            },
            against.saving.abs(),
            report.currency,
            100.0 * against.share.abs(),
            against.rule
        );
    }
    if let Some(missed) = &report.missed_by_mpc_only {
        let _ = match missed.as_slice() {
            [] => writeln!(out, "mpc misses no deadline that perfect meets"),
            ids => writeln!(
                out,
                "mpc misses {} deadline(s) that perfect meets: {}",
                ids.len(),
                ids.join(", ")
            ),
        };
    }
}

/// A week of prices, battery energy and net battery power per strategy.
fn draw_week(
    config: &SiteConfig,
    runs: &[arbiter_backtest::Run],
    start: DateTime<Utc>,
    path: &Path,
) -> Result<(), String> {
    let end = start + TimeDelta::days(7);
    let hours = |at: DateTime<Utc>| (at - start).num_minutes() as f64 / 60.0;
    let in_week = |run: &arbiter_backtest::Run| {
        run.rows
            .iter()
            .filter(|row| row.timestamp_utc >= start && row.timestamp_utc < end)
            .cloned()
            .collect::<Vec<_>>()
    };
    let series = |value: fn(&arbiter_backtest::Row) -> f64| {
        runs.iter()
            .map(|run| StrategySeries {
                name: run.strategy.name().to_owned(),
                points: in_week(run)
                    .iter()
                    .map(|row| (hours(row.timestamp_utc), value(row)))
                    .collect(),
            })
            .collect::<Vec<_>>()
    };
    let price = runs
        .first()
        .map(|run| StrategySeries {
            name: "day-ahead".to_owned(),
            points: in_week(run)
                .iter()
                .map(|row| (hours(row.timestamp_utc), row.price_per_mwh))
                .collect(),
        })
        .into_iter()
        .collect();
    let site = &config.site;
    draw_panels(
        path,
        &format!(
            "{}: a week of the backtest ({})",
            site.id,
            config.zone.name()
        ),
        start.with_timezone(&config.zone).naive_local(),
        &[
            (
                "Day-ahead price".to_owned(),
                format!("{} per MWh", site.currency),
                price,
            ),
            (
                "Battery energy".to_owned(),
                "kWh".to_owned(),
                series(|row| row.soc_kwh),
            ),
            (
                "Battery power (discharge +, charge −)".to_owned(),
                "kW".to_owned(),
                series(|row| row.discharge_kw - row.charge_kw),
            ),
            (
                "Grid import".to_owned(),
                "kW".to_owned(),
                series(|row| row.import_kw - row.export_kw),
            ),
        ],
    )
}

/// Cumulative savings of each strategy over `naive`: energy cost and wear
/// as they accrue, each billing month's demand charge when the month ends.
fn draw_savings(
    config: &SiteConfig,
    runs: &[arbiter_backtest::Run],
    start: DateTime<Utc>,
    path: &Path,
) -> Result<(), String> {
    let site = &config.site;
    let hours_per_interval = f64::from(site.interval_minutes) / 60.0;
    let wear = site
        .battery
        .as_ref()
        .map_or(0.0, |b| b.degradation_cost_per_mwh);
    // Cumulative cost per strategy at each interval.
    let cumulative = |run: &arbiter_backtest::Run| {
        let mut total = 0.0;
        let mut peak = 0.0f64;
        let mut month = None;
        let mut points = Vec::with_capacity(run.rows.len());
        for row in &run.rows {
            let local = row.timestamp_utc.with_timezone(&config.zone);
            let this_month = (
                chrono::Datelike::year(&local),
                chrono::Datelike::month(&local),
            );
            if month.is_some_and(|m| m != this_month) {
                total += peak * site.tariff.demand_charge_per_kw_month;
                peak = 0.0;
            }
            month = Some(this_month);
            peak = peak.max(row.import_kw);
            total += row.cost + row.discharge_kw * hours_per_interval / 1000.0 * wear;
            points.push((
                row.timestamp_utc,
                total + peak * site.tariff.demand_charge_per_kw_month,
            ));
        }
        points
    };
    let Some(naive) = runs.iter().find(|run| run.strategy == Strategy::Naive) else {
        return Ok(());
    };
    let baseline = cumulative(naive);
    let lines = runs
        .iter()
        .filter(|run| run.strategy != Strategy::Naive)
        .map(|run| StrategySeries {
            name: run.strategy.name().to_owned(),
            points: cumulative(run)
                .iter()
                .zip(&baseline)
                .map(|(&(at, cost), &(_, naive_cost))| {
                    ((at - start).num_minutes() as f64 / 60.0, naive_cost - cost)
                })
                .collect(),
        })
        .collect();
    draw_panels(
        path,
        &format!(
            "{}: cumulative savings over naive (energy, wear, demand charge of the month so far)",
            site.id
        ),
        start.with_timezone(&config.zone).naive_local(),
        &[("Savings".to_owned(), site.currency.clone(), lines)],
    )
}
