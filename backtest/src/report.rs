//! A backtest's report: every strategy's KPIs side by side, the share of
//! perfect foresight's savings `mpc` captures, and the deadlines only `mpc`
//! missed. The CLI writes it as `kpis.json`; the service returns it.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::kpi::{Kpis, kpis};
use crate::simulate::{Inputs, Run, Strategy};
use crate::site::SiteConfig;

/// The runs of one backtest, summed up.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Report {
    /// The site.
    pub site: String,
    /// The currency of every cost.
    pub currency: String,
    /// The period's first instant.
    pub from: DateTime<Utc>,
    /// The instant after the period.
    pub to: DateTime<Utc>,
    /// The model that extended published prices to the horizon.
    pub price_model: String,
    /// The model that forecast the charging load.
    pub charging_model: String,
    /// Jobs in the queue.
    pub jobs: usize,
    /// What `mpc` was told instead of forecasting it (`prices`, `charging`,
    /// `jobs`), to measure what knowing it is worth; absent in a real run.
    pub mpc_told: Option<String>,
    /// Each strategy's figures, by name.
    pub strategies: BTreeMap<&'static str, Kpis>,
    /// Share of perfect foresight's savings over `naive` that `mpc`
    /// captures: (naive − mpc) / (naive − perfect), net costs; absent
    /// unless all three ran and `perfect` is cheaper than `naive`.
    pub savings_captured: Option<f64>,
    /// Jobs due in the period that `mpc` finished late or not at all while
    /// `perfect` finished them on time (absent unless both ran).
    pub missed_by_mpc_only: Option<Vec<String>>,
    /// `mpc` against the cheapest rule that ran (`naive`, `threshold` or
    /// `tou`); absent unless `mpc` and a rule ran.
    pub mpc_against_best_rule: Option<AgainstRule>,
}

/// What `mpc` saves against a rule, in net cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct AgainstRule {
    /// The rule.
    pub rule: &'static str,
    /// The rule's net cost less `mpc`'s (negative: the rule costs less).
    #[serde(serialize_with = "arbiter_optimizer::rounded::money")]
    pub saving: f64,
    /// That saving as a share of the rule's net cost.
    pub share: f64,
}

impl Report {
    /// The report of `runs`, simulated from `from` to `to` on `inputs`.
    pub fn new(
        config: &SiteConfig,
        inputs: &Inputs,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        runs: &[Run],
    ) -> Report {
        let strategies: BTreeMap<&'static str, Kpis> = runs
            .iter()
            .map(|run| (run.strategy.name(), kpis(config, run)))
            .collect();
        let savings_captured = match (
            strategies.get("naive"),
            strategies.get("mpc"),
            strategies.get("perfect"),
        ) {
            (Some(naive), Some(mpc), Some(perfect)) if naive.net_cost > perfect.net_cost => {
                Some((naive.net_cost - mpc.net_cost) / (naive.net_cost - perfect.net_cost))
            }
            _ => None,
        };
        let mpc_against_best_rule = strategies.get("mpc").and_then(|mpc| {
            ["naive", "threshold", "tou"]
                .into_iter()
                .filter_map(|rule| strategies.get(rule).map(|kpis| (rule, kpis.net_cost)))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(rule, cost)| AgainstRule {
                    rule,
                    saving: cost - mpc.net_cost,
                    share: if cost.abs() > 0.0 {
                        (cost - mpc.net_cost) / cost.abs()
                    } else {
                        0.0
                    },
                })
        });
        let outcomes = |strategy: Strategy| {
            runs.iter()
                .find(|run| run.strategy == strategy)
                .map(|run| &run.jobs)
        };
        let missed_by_mpc_only = match (outcomes(Strategy::Mpc), outcomes(Strategy::Perfect)) {
            (Some(mpc), Some(perfect)) => {
                let met: HashSet<&str> = perfect
                    .iter()
                    .filter(|job| job.due_in_period && job.on_time())
                    .map(|job| job.id.as_str())
                    .collect();
                Some(
                    mpc.iter()
                        .filter(|job| {
                            job.due_in_period && !job.on_time() && met.contains(job.id.as_str())
                        })
                        .map(|job| job.id.clone())
                        .collect(),
                )
            }
            _ => None,
        };
        Report {
            site: config.site.id.clone(),
            currency: config.site.currency.clone(),
            from,
            to,
            price_model: inputs.price_model.name(),
            charging_model: inputs.charging_model.name(),
            jobs: inputs.jobs.len(),
            mpc_told: inputs.oracle.names(),
            strategies,
            savings_captured,
            missed_by_mpc_only,
            mpc_against_best_rule,
        }
    }
}
