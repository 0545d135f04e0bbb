//! The `planning_claims` table: which replica plans a site at a replan
//! instant. A claim is a lease: taken by one replica, completed with the
//! plan it publishes (in the same transaction), or taken over by another
//! replica once its lease has lapsed (the first replica died or hangs).

use chrono::{DateTime, Utc};

use sqlx::Row;

use super::{Store, StoreError, millis, time_column};

/// A replica's claim on planning a site at one replan instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The site.
    pub site_id: String,
    /// The replan instant (RFC 3339 UTC, whole seconds).
    pub instant: String,
    /// The replica that holds it.
    pub owner: String,
}

/// What a replica finds when it claims a site's replan instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// The claim is this replica's.
    Mine(Claim),
    /// Another replica holds it until then (wall-clock time).
    Held(DateTime<Utc>),
    /// The instant is planned.
    Done,
}

impl Store {
    /// Claims planning `site_id` at `instant` for `owner` until
    /// `lease_until` (wall-clock time), unless the instant is planned
    /// already or another replica's lease has not lapsed at `now`.
    pub async fn claim(
        &self,
        site_id: &str,
        instant: &str,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Claimed, StoreError> {
        let claimed: Option<String> = sqlx::query_scalar(
            "INSERT INTO planning_claims (site_id, instant, owner, lease_until, done)
             VALUES ($1, $2, $3, $5, 0)
             ON CONFLICT (site_id, instant) DO UPDATE SET owner = $3, lease_until = $5
             WHERE planning_claims.done = 0 AND planning_claims.lease_until < $4
             RETURNING owner",
        )
        .bind(site_id)
        .bind(instant)
        .bind(owner)
        .bind(millis(now))
        .bind(millis(lease_until))
        .fetch_optional(&self.pool)
        .await?;
        if let Some(owner) = claimed {
            return Ok(Claimed::Mine(Claim {
                site_id: site_id.to_owned(),
                instant: instant.to_owned(),
                owner,
            }));
        }
        let held = sqlx::query(
            "SELECT done, lease_until FROM planning_claims WHERE site_id = $1 AND instant = $2",
        )
        .bind(site_id)
        .bind(instant)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match held {
            Some(row) if row.try_get::<i64, _>(0)? == 0 => Claimed::Held(time_column(&row, 1)?),
            _ => Claimed::Done,
        })
    }

    /// Gives a claim up (its plan failed), so that another replica, or
    /// this one, may try again at once.
    pub async fn release(&self, claim: &Claim) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM planning_claims
             WHERE site_id = $1 AND instant = $2 AND owner = $3 AND done = 0",
        )
        .bind(&claim.site_id)
        .bind(&claim.instant)
        .bind(&claim.owner)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets claims on instants before `before` (RFC 3339 UTC).
    pub async fn forget_claims(&self, before: &str) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM planning_claims WHERE instant < $1")
                .bind(before)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    #[tokio::test]
    async fn a_claim_is_held_until_its_lease_lapses_and_done_once_published() {
        let (store, _dir) = super::super::temp_store("claims").await;
        let now: DateTime<Utc> = "2024-10-24T07:00:00Z".parse().expect("an instant");
        let lease = now + TimeDelta::seconds(30);
        let instant = "2024-10-24T07:00:00Z";
        let claim = |owner: &'static str, at: DateTime<Utc>, until: DateTime<Utc>| {
            let store = store.clone();
            async move {
                store
                    .claim("a", instant, owner, at, until)
                    .await
                    .expect("read")
            }
        };
        let Claimed::Mine(first) = claim("r1", now, lease).await else {
            panic!("the first claim is r1's");
        };
        assert_eq!(first.owner, "r1");
        // Another replica cannot take it while the lease runs, and learns
        // until when...
        let during = claim("r2", now + TimeDelta::seconds(29), lease).await;
        assert_eq!(during, Claimed::Held(lease));
        // ...and takes it once the lease has lapsed; the first may then not
        // publish.
        let later = now + TimeDelta::seconds(31);
        let Claimed::Mine(second) = claim("r2", later, later + TimeDelta::seconds(30)).await else {
            panic!("taken over");
        };
        let lost = store
            .insert_plan("a", Utc::now(), "optimal", Some(&first), |_, _| {
                "{}".to_owned()
            })
            .await;
        assert!(matches!(lost, Err(StoreError::ClaimLost)), "{lost:?}");
        let plan = store
            .insert_plan("a", Utc::now(), "optimal", Some(&second), |_, _| {
                "{}".to_owned()
            })
            .await
            .expect("published");
        assert_eq!(plan.version, 1, "the lost attempt used no version");
        // Planned: nobody claims the instant again, however late.
        let much_later = later + TimeDelta::hours(1);
        assert_eq!(claim("r3", much_later, much_later).await, Claimed::Done);
    }
}
