//! A backtest's inputs, read from the store: the market's prices, the
//! site's metered charging load, and its job queue (or a synthetic one).

use arbiter_backtest::SiteConfig;
use arbiter_backtest::planner::{
    CHARGING_HISTORY_DAYS, charging_model, choose_price_model, price_model_history_days,
};
use arbiter_backtest::{Inputs, Oracle};
use arbiter_forecast::{QueuedJob, Series, SyntheticQueue};
use chrono::{DateTime, TimeDelta, Utc};

use super::{BacktestRequest, RequestError, rfc};
use crate::jobs::JobSpec;
use crate::planning::{load_series, price_series};
use crate::store::Store;

/// The backtest's inputs from the store: the market's prices without a gap
/// over the period (and the history the price model is chosen on), the
/// metered charging load over the period (and up to [`CHARGING_HISTORY_DAYS`] before
/// it), and the site's stored jobs or a synthetic queue.
pub(crate) async fn inputs(
    store: &Store,
    config: &SiteConfig,
    request: &BacktestRequest,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Inputs, RequestError> {
    let prices = stored_prices(store, config, from, to).await?;
    let charging = stored_charging(store, config, request.charging_scale, from, to).await?;
    let jobs = queue(store, config, request, from, to).await?;
    let price_model = choose_price_model(config, &prices, from);
    Ok(Inputs {
        prices,
        charging,
        jobs,
        price_model,
        charging_model: charging_model(),
        oracle: Oracle::default(),
    })
}

/// The market's stored prices over the period without a gap (and the
/// history the price model is chosen on); an error naming `from`, `to` or
/// `site` says what is missing.
async fn stored_prices(
    store: &Store,
    config: &SiteConfig,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Series, RequestError> {
    let site = &config.site;
    let minutes = site.interval_minutes;
    let market = site.market.id.as_deref().ok_or_else(|| {
        RequestError::field(
            "site",
            format!(
                "site {} names no market (market.id); a backtest needs its prices",
                site.id
            ),
        )
    })?;
    let market_day = |at: DateTime<Utc>| at.with_timezone(&config.market_zone).date_naive();
    let days = store
        .prices_between(
            market,
            &(market_day(from) - TimeDelta::days(i64::from(price_model_history_days())))
                .to_string(),
            &market_day(to).to_string(),
        )
        .await?;
    let covers = |series: &Series| series.index_of(from).is_some() && series.end() >= to;
    // The stored days joined, keeping the last run without a gap that
    // covers the period.
    let prices = match price_series(&days, minutes) {
        Some(series) if covers(&series) => series,
        Some(series) => {
            return Err(RequestError::field(
                if series.end() < to { "to" } else { "from" },
                format!(
                    "prices of {market} are stored without a gap from {} to {} only; the period is {} to {}",
                    rfc(series.start),
                    rfc(series.end()),
                    rfc(from),
                    rfc(to)
                ),
            ));
        }
        None => {
            return Err(RequestError::field(
                "from",
                format!("no prices of {market} are stored for the period"),
            ));
        }
    };

    Ok(prices)
}

/// The site's metered charging load over the period, without a gap, scaled
/// by `charging_scale` (and up to [`CHARGING_HISTORY_DAYS`] before it).
async fn stored_charging(
    store: &Store,
    config: &SiteConfig,
    charging_scale: f64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Series, RequestError> {
    let site = &config.site;
    let minutes = site.interval_minutes;
    let since = from - TimeDelta::days(CHARGING_HISTORY_DAYS);
    let readings = store.charging_since(&site.id, &rfc(since)).await?;
    let Some(mut charging) = load_series(&readings, since, to, minutes) else {
        return Err(RequestError::field(
            "from",
            format!("no metered charging load of site {} is stored", site.id),
        ));
    };
    if let Some(first) = charging.values.iter().position(|kw| kw.is_finite()) {
        charging = charging.between(charging.time(first), charging.end());
    }
    match charging.index_of(from) {
        None => {
            return Err(RequestError::field(
                "from",
                format!(
                    "the metered charging load of site {} starts at {}, after the period's start",
                    site.id,
                    rfc(charging.start)
                ),
            ));
        }
        Some(first) => {
            if let Some(gap) = charging.values[first..]
                .iter()
                .position(|kw| !kw.is_finite())
            {
                return Err(RequestError::field(
                    "to",
                    format!(
                        "the metered charging load of site {} is missing at {}; a backtest needs it over the whole period",
                        site.id,
                        rfc(charging.time(first + gap))
                    ),
                ));
            }
        }
    }
    for kw in &mut charging.values {
        *kw *= charging_scale;
    }

    Ok(charging)
}

/// The site's stored jobs, or a synthetic queue from the request's seed.
async fn queue(
    store: &Store,
    config: &SiteConfig,
    request: &BacktestRequest,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<QueuedJob>, RequestError> {
    let site = &config.site;
    Ok(match request.synthetic_jobs_seed {
        Some(seed) => SyntheticQueue {
            seed,
            ..SyntheticQueue::default()
        }
        .generate(from, to),
        None => store
            .jobs(&site.id, false)
            .await?
            .iter()
            .map(|job| {
                let unreadable = |error: String| RequestError::Unreadable {
                    job: job.id.clone(),
                    error,
                };
                let spec: JobSpec =
                    serde_json::from_str(&job.spec).map_err(|e| unreadable(e.to_string()))?;
                Ok(spec.queued(job.submitted_at))
            })
            .collect::<Result<_, RequestError>>()?,
    })
}
