//! What replicas on one PostgreSQL database share beyond the tables: each
//! published plan is announced on a channel (`NOTIFY`, sent in the plan's
//! own transaction). A replica with event-stream clients reads it at once
//! and streams it; one without notes the announcement and reads the plan
//! when it is first asked for. So `plans/latest`, ETags and `plans/stream`
//! agree on every replica within a moment, with no polling of the plans
//! table, and no replica reads every plan the others publish.
//! After a lost connection a replica reads every site's latest plan again,
//! since announcements made while it was away are not replayed. A
//! simulated clock is shared the same way: advancing it on one replica
//! advances it on all.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;

use crate::store::{Announcement, CLOCK_CHANNEL, PLANS_CHANNEL};
use crate::{AppState, Published};

/// Takes `published` as a site's latest plan unless a newer one is known,
/// and streams it; false when it was not newer.
pub fn adopt(state: &AppState, published: Arc<Published>) -> bool {
    if !state.latest.adopt(Arc::clone(&published)) {
        return false;
    }
    let _ = state.events.send(published);
    true
}

/// Reads every site's latest plan into the cache.
pub async fn catch_up(state: &AppState) -> Result<usize, crate::store::StoreError> {
    let mut adopted = 0;
    for stored in state.store.latest_plans().await? {
        match Published::from_stored(stored) {
            Ok(published) => adopted += usize::from(adopt(state, Arc::new(published))),
            // An unreadable plan stays out of the cache: reading it then
            // answers 500 (unreadable) instead of a made-up plan.
            Err(error) => tracing::error!(%error, "a stored plan is unreadable"),
        }
    }
    Ok(adopted)
}

/// Listens for the plans other replicas publish, forever.
pub async fn listen(state: Arc<AppState>, url: String) {
    loop {
        match PgListener::connect(&url).await {
            Ok(mut listener) => match listener.listen_all([PLANS_CHANNEL, CLOCK_CHANNEL]).await {
                Ok(()) => {
                    // What was published, and how the shared clock moved,
                    // while this replica was not listening.
                    if let Err(error) = catch_up(&state).await {
                        tracing::error!(%error, "cannot read the latest plans");
                    }
                    follow_clock(&state).await;
                    follow(&state, &mut listener).await;
                }
                Err(error) => tracing::error!(%error, "cannot listen for plans"),
            },
            Err(error) => tracing::warn!(%error, "cannot connect to listen for plans"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Runs the simulated clock as the replicas share it (when it is shared).
async fn follow_clock(state: &AppState) {
    if !state
        .shared_clock
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        return;
    }
    match state.store.shared_clock().await {
        Ok(shared) => state.clock.adopt(shared.epoch, shared.advanced),
        Err(error) => tracing::error!(%error, "cannot read the shared clock"),
    }
}

/// Adopts each announced plan and clock advance until the connection is
/// lost.
async fn follow(state: &AppState, listener: &mut PgListener) {
    loop {
        let notification = match listener.try_recv().await {
            Ok(Some(notification)) => notification,
            Ok(None) => {
                tracing::warn!("the plan announcements' connection was lost; reconnecting");
                return;
            }
            Err(error) => {
                tracing::warn!(%error, "the plan announcements failed; reconnecting");
                return;
            }
        };
        if notification.channel() == CLOCK_CHANNEL {
            follow_clock(state).await;
            continue;
        }
        let Some(announced) = Announcement::parse(notification.payload()) else {
            continue;
        };
        if state.latest.knows(&announced.site_id, announced.version) {
            continue;
        }
        // With nobody following the stream, the plan is read when first
        // asked for (once), not by every replica at every publication.
        if state.events.receiver_count() == 0 {
            state.latest.announce(announced);
            continue;
        }
        let (site, version) = (announced.site_id, announced.version);
        match state.store.plan(&site, Some(version)).await {
            Ok(Some(stored)) => match Published::from_stored(stored) {
                Ok(published) => {
                    adopt(state, Arc::new(published));
                }
                Err(error) => tracing::error!(%error, "an announced plan is unreadable"),
            },
            Ok(None) => tracing::error!(site, version, "an announced plan is not stored"),
            Err(error) => tracing::error!(site, version, %error, "cannot read an announced plan"),
        }
    }
}
