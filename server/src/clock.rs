//! The service's clock and planning loop.
//!
//! The clock is the wall clock, or a simulated one (`[clock]` in the
//! configuration): it starts at a chosen instant and runs `speed` times as
//! fast as real time, or, at speed 0, moves only when an admin advances it
//! (`POST /v1/clock`). A simulated clock replays history through the live
//! service (the demo does) and makes the planning loop testable.
//!
//! The loop plans every site at each of its replan instants (every
//! `planning.replan_minutes`, on the site's interval grid) that has no plan
//! yet, a few sites at a time (the solver slots bound it). Replicas on one
//! database share the work: a replica plans a site only under a claim on
//! its replan instant (a lease of `planning_lease_seconds`), and publishes
//! only while the claim is still its own, so each site is planned once per
//! instant; a replica that dies leaves its claims to lapse, and the others,
//! which look again at least every half lease, plan those sites.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use tokio::sync::watch;

use arbiter_backtest::SiteConfig;

use super::AppState;
use super::planning::plan_site;
use super::store::{Claimed, seconds};

/// A simulated clock's settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockConfig {
    /// The instant the clock shows at start.
    pub start: DateTime<Utc>,
    /// Simulated seconds per real second; 0: only `POST /v1/clock` moves it.
    #[serde(default)]
    pub speed: f64,
}

/// The wall clock or a simulated one.
#[derive(Debug)]
pub struct Clock {
    simulated: Option<Simulated>,
    changed: watch::Sender<DateTime<Utc>>,
}

#[derive(Debug)]
struct Simulated {
    start: DateTime<Utc>,
    speed: f64,
    /// The wall-clock instant the clock showed `start` (plus what it was
    /// advanced by): replicas that share a clock share these.
    running: Mutex<(DateTime<Utc>, TimeDelta)>,
}

impl Clock {
    /// The wall clock, or the simulated one `config` describes.
    pub fn new(config: Option<&ClockConfig>) -> Clock {
        let simulated = config.map(|c| Simulated {
            start: c.start,
            speed: c.speed.max(0.0),
            running: Mutex::new((Utc::now(), TimeDelta::zero())),
        });
        let now = simulated.as_ref().map_or_else(Utc::now, |s| s.start);
        Clock {
            simulated,
            changed: watch::channel(now).0,
        }
    }

    /// Now, on this clock.
    pub fn now(&self) -> DateTime<Utc> {
        match &self.simulated {
            None => Utc::now(),
            Some(s) => {
                let (epoch, advanced) = s
                    .running
                    .lock()
                    .map_or_else(|_| (Utc::now(), TimeDelta::zero()), |r| *r);
                let real = (Utc::now() - epoch).num_milliseconds().max(0) as f64 * s.speed;
                s.start + advanced + TimeDelta::milliseconds(real as i64)
            }
        }
    }

    /// Whether the clock is simulated.
    pub fn is_simulated(&self) -> bool {
        self.simulated.is_some()
    }

    /// Moves a simulated clock forward; false for the wall clock.
    pub fn advance(&self, by: TimeDelta) -> bool {
        let Some(s) = &self.simulated else {
            return false;
        };
        if let Ok(mut running) = s.running.lock() {
            running.1 += by;
        }
        self.changed.send_replace(self.now());
        true
    }

    /// The simulated clock's settings: its start and speed.
    pub fn settings(&self) -> Option<(DateTime<Utc>, f64)> {
        self.simulated.as_ref().map(|s| (s.start, s.speed))
    }

    /// Runs a simulated clock from `epoch` (the wall-clock instant it
    /// showed its start), advanced by `advanced`: the clock replicas share.
    pub fn adopt(&self, epoch: DateTime<Utc>, advanced: TimeDelta) {
        let Some(s) = &self.simulated else {
            return;
        };
        if let Ok(mut running) = s.running.lock() {
            *running = (epoch, advanced);
        }
        self.changed.send_replace(self.now());
    }

    /// Waits until the clock may have passed `until` (a real sleep, scaled
    /// by the speed), the next manual advance, or `at_most` of real time.
    pub(crate) async fn wait(&self, until: DateTime<Utc>, at_most: Duration) {
        let mut changed = self.changed.subscribe();
        let speed = match &self.simulated {
            None => 1.0,
            Some(s) => s.speed,
        };
        let real = if speed <= 0.0 {
            at_most
        } else {
            let simulated = (until - self.now()).num_milliseconds().max(0) as f64 / 1000.0;
            Duration::from_secs_f64((simulated / speed).clamp(0.05, 60.0)).min(at_most)
        };
        tokio::select! {
            () = tokio::time::sleep(real) => {}
            _ = changed.changed() => {}
        }
    }
}

/// The replan instant at or before `now` on a site's grid.
pub fn replan_instant(config: &SiteConfig, now: DateTime<Utc>) -> DateTime<Utc> {
    let minutes = i64::from(
        config
            .site
            .planning
            .replan_minutes
            .max(config.site.interval_minutes)
            .max(1),
    );
    let step = minutes * 60;
    DateTime::from_timestamp(now.timestamp() - now.timestamp().rem_euclid(step), 0).unwrap_or(now)
}

/// Plans every site that has no plan from its current replan instant, then
/// waits for the next minute (on the clock), or half a lease (real time) to
/// take over the claims of a replica that died; forever.
pub async fn planning_loop(state: Arc<AppState>) {
    let recheck = Duration::from_millis(state.config.planning_lease_seconds.max(1) * 500);
    let mut tidied: Option<Instant> = None;
    loop {
        let now = state.clock.now();
        let cycle = planning_cycle(&state, now).await;
        if tidied.is_none_or(|at| at.elapsed() >= TIDY_EVERY) {
            tidy(&state, now).await;
            tidied = Some(Instant::now());
        }
        let next_minute = now + TimeDelta::seconds(60 - now.timestamp().rem_euclid(60));
        // Another replica's claim lapsing: look again right after, to plan
        // its site within the lease (and one solve) should that replica be
        // gone.
        let until_lapse = cycle.held_until.map(|until| {
            ((until - Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(50))
                .min(recheck)
        });
        state
            .clock
            .wait(next_minute, until_lapse.unwrap_or(recheck))
            .await;
    }
}

/// How often (real time) a replica trims plans past retention and forgets
/// old planning claims.
const TIDY_EVERY: Duration = Duration::from_secs(3600);

/// Claims on instants this long before the clock's now are forgotten.
const CLAIMS_KEPT_DAYS: i64 = 2;

/// Trims the plans past `plan_retention_days` (in batches) and forgets
/// old planning claims; errors are logged, and it is tried again later.
async fn tidy(state: &AppState, now: DateTime<Utc>) {
    if let Some(days) = state.config.plan_retention_days {
        let before = Utc::now() - TimeDelta::days(i64::from(days));
        loop {
            match state.store.trim_plans(before, 1000).await {
                Ok(1000) => continue,
                Ok(trimmed) => {
                    if trimmed > 0 {
                        tracing::info!(trimmed, "plans past retention trimmed");
                    }
                    break;
                }
                Err(error) => {
                    tracing::error!(%error, "cannot trim plans past retention");
                    break;
                }
            }
        }
    }
    let before = seconds(now - TimeDelta::days(CLAIMS_KEPT_DAYS));
    if let Err(error) = state.store.forget_claims(&before).await {
        tracing::error!(%error, "cannot forget old planning claims");
    }
}

/// One cycle of the loop: plans every site that has no plan from its replan
/// instant at `now`, [`AppState::solves`] at a time; returns how many it
/// planned.
pub async fn planning_cycle(state: &Arc<AppState>, now: DateTime<Utc>) -> Cycle {
    let sites = match state.store.sites().await {
        Ok(sites) => sites,
        _ => {
            tracing::error!("the planning loop cannot read the sites");
            Vec::new()
        }
    };
    // One site more in flight than there are solvers: while they solve, the
    // next site's data is read (and a finished plan stored), so the solvers
    // never wait on the database; a controller's own call waits behind
    // those solves only, not the whole cycle.
    let limit = state.config.max_concurrent_solves.max(1) + 1;
    let mut planning = tokio::task::JoinSet::new();
    let mut cycle = Cycle::default();
    // Replicas start the sites at different places (by their names), so
    // that they seldom reach for the same site at once.
    let mut sites = sites;
    if !sites.is_empty() {
        let start = state.replica.bytes().fold(0usize, |hash, byte| {
            hash.wrapping_mul(31).wrapping_add(usize::from(byte))
        });
        let len = sites.len();
        sites.rotate_left(start % len);
    }
    for stored in sites {
        let Ok(config) = SiteConfig::from_toml(&stored.id, &stored.config) else {
            continue;
        };
        let due = replan_instant(&config, now);
        let fresh = state
            .latest
            .start(&stored.id)
            .is_some_and(|start| start >= due);
        if fresh {
            continue;
        }
        while planning.len() >= limit {
            if let Some(Ok(outcome)) = planning.join_next().await {
                cycle.count(outcome);
            }
        }
        let state = Arc::clone(state);
        let at = super::planning::interval_start(&config, now);
        planning.spawn(async move {
            let wall = Utc::now();
            let lease = TimeDelta::seconds(state.config.planning_lease_seconds as i64);
            let instant = seconds(due);
            let claim = match state
                .store
                .claim(&stored.id, &instant, &state.replica, wall, wall + lease)
                .await
            {
                Ok(Claimed::Mine(claim)) => claim,
                Ok(Claimed::Held(until)) => return Outcome::Held(until),
                Ok(Claimed::Done) => return Outcome::Skipped,
                Err(error) => {
                    tracing::error!(site = stored.id, %error, "cannot claim the site");
                    return Outcome::Skipped;
                }
            };
            match plan_site(&state, config, stored.revision, at, Some(claim.clone())).await {
                Ok(_) => Outcome::Planned,
                Err(error) => {
                    tracing::error!(site = stored.id, %error, "planning failed");
                    if let Err(error) = state.store.release(&claim).await {
                        tracing::error!(site = stored.id, %error, "cannot release the claim");
                    }
                    Outcome::Skipped
                }
            }
        });
    }
    while let Some(done) = planning.join_next().await {
        if let Ok(outcome) = done {
            cycle.count(outcome);
        }
    }
    cycle
}

/// What a planning cycle did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cycle {
    /// Sites this replica planned.
    pub planned: usize,
    /// The earliest lapse (wall-clock time) of another replica's claim on a
    /// site still to be planned: the loop looks again then.
    pub held_until: Option<DateTime<Utc>>,
}

impl Cycle {
    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Planned => self.planned += 1,
            Outcome::Held(until) => {
                self.held_until = Some(self.held_until.map_or(until, |held| held.min(until)));
            }
            Outcome::Skipped => {}
        }
    }
}

/// What became of one site in a cycle.
enum Outcome {
    Planned,
    Held(DateTime<Utc>),
    Skipped,
}
