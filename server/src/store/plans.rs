//! The `plans` table: every published plan, versioned per site. The
//! document is stored compressed (zstd, `document`): a 144-interval plan
//! of 37 KB of JSON keeps about 3 KB. Plans stored before compression keep
//! their text in `body`.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{
    Backend, Claim, PLANS_CHANNEL, Store, StoreError, millis, next_count, now, time_column,
};

/// The columns [`plan_row`] reads, in its order.
const COLUMNS: &str = "site_id, version, created_at, status, body, document";

/// The zstd level plan documents are compressed at: level 3 keeps a
/// 144-interval plan under 3 KB in about a millisecond.
const ZSTD_LEVEL: i32 = 3;

/// What the other replicas hear of a published plan (PostgreSQL `NOTIFY`
/// on [`PLANS_CHANNEL`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Announcement {
    /// The site.
    pub site_id: String,
    /// The plan's version.
    pub version: i64,
    /// Its first interval's start.
    pub start: DateTime<Utc>,
    /// When it was published.
    pub created_at: DateTime<Utc>,
}

impl Announcement {
    /// As sent: `VERSION START CREATED_AT SITE`, the times in RFC 3339.
    pub fn payload(&self) -> String {
        format!(
            "{} {} {} {}",
            self.version,
            millis(self.start),
            millis(self.created_at),
            self.site_id
        )
    }

    /// Read back from a payload; `None` for any other text.
    pub fn parse(payload: &str) -> Option<Announcement> {
        let mut parts = payload.splitn(4, ' ');
        let version = parts.next()?.parse().ok()?;
        let start = parts.next()?.parse().ok()?;
        let created_at = parts.next()?.parse().ok()?;
        let site_id = parts.next()?.to_owned();
        Some(Announcement {
            site_id,
            version,
            start,
            created_at,
        })
    }
}

/// A published plan.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPlan {
    /// The site.
    pub site_id: String,
    /// 1 for the site's first plan, +1 for each after.
    pub version: i64,
    /// When it was published.
    pub created_at: DateTime<Utc>,
    /// The plan's solve status.
    pub status: String,
    /// The published document (JSON): the plan and what it was based on.
    pub body: String,
}

impl Store {
    /// Publishes a plan as the site's next version; `body` is built from
    /// the version given. With a `claim` (the planning loop's), the claim
    /// is completed in the same transaction, and nothing is published when
    /// it is no longer this replica's ([`StoreError::ClaimLost`]): a site is
    /// planned once per replan instant, whichever replica finishes.
    /// On PostgreSQL every replica hears of the plan (`NOTIFY`, an
    /// [`Announcement`] with its `start`).
    pub async fn insert_plan(
        &self,
        site_id: &str,
        start: DateTime<Utc>,
        status: &str,
        claim: Option<&Claim>,
        body: impl FnOnce(i64, &str) -> String,
    ) -> Result<StoredPlan, StoreError> {
        let at = now();
        let stamp = millis(at);
        let mut tx = self.pool.begin().await?;
        if let Some(claim) = claim {
            let completed = sqlx::query(
                "UPDATE planning_claims SET done = 1
                 WHERE site_id = $1 AND instant = $2 AND owner = $3 AND done = 0",
            )
            .bind(&claim.site_id)
            .bind(&claim.instant)
            .bind(&claim.owner)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if completed != 1 {
                return Err(StoreError::ClaimLost);
            }
        }
        // One row per site counts its versions: replicas publishing at once
        // take turns on it, and a rolled-back publish uses no version.
        let version = next_count(&mut tx, "plan_versions", "version", site_id).await?;
        let body = body(version, &stamp);
        let document = zstd::encode_all(body.as_bytes(), ZSTD_LEVEL)
            .map_err(|error| StoreError::Unreadable(format!("compressing a plan: {error}")))?;
        sqlx::query(&format!(
            "INSERT INTO plans ({COLUMNS}, start) VALUES ($1, $2, $3, $4, '', $5, $6)"
        ))
        .bind(site_id)
        .bind(version)
        .bind(&stamp)
        .bind(status)
        .bind(document)
        .bind(millis(start))
        .execute(&mut *tx)
        .await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(PLANS_CHANNEL)
                .bind(
                    Announcement {
                        site_id: site_id.to_owned(),
                        version,
                        start,
                        created_at: at,
                    }
                    .payload(),
                )
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(StoredPlan {
            site_id: site_id.to_owned(),
            version,
            created_at: at,
            status: status.to_owned(),
            body,
        })
    }

    /// One version of a site's plan (`None`: the latest).
    pub async fn plan(
        &self,
        site_id: &str,
        version: Option<i64>,
    ) -> Result<Option<StoredPlan>, StoreError> {
        let row =
            match version {
                Some(version) => {
                    sqlx::query(&format!(
                        "SELECT {COLUMNS} FROM plans WHERE site_id = $1 AND version = $2"
                    ))
                    .bind(site_id)
                    .bind(version)
                    .fetch_optional(&self.pool)
                    .await?
                }
                None => sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM plans WHERE site_id = $1 ORDER BY version DESC LIMIT 1"
                ))
                .bind(site_id)
                .fetch_optional(&self.pool)
                .await?,
            };
        row.map(|row| plan_row(&row)).transpose()
    }

    /// Every site's latest plan.
    pub async fn latest_plans(&self) -> Result<Vec<StoredPlan>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM plans p
             WHERE p.version = (SELECT MAX(version) FROM plans q WHERE q.site_id = p.site_id)
             ORDER BY p.site_id"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(plan_row)
        .collect()
    }

    /// A site's plans published from `from` to `to` (RFC 3339 UTC bounds,
    /// inclusive), oldest first.
    pub async fn plans_between(
        &self,
        site_id: &str,
        from: &str,
        to: &str,
    ) -> Result<Vec<StoredPlan>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM plans
             WHERE site_id = $1 AND created_at BETWEEN $2 AND $3 ORDER BY version"
        ))
        .bind(site_id)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(plan_row)
        .collect()
    }
}

impl Store {
    /// A site's plans in force over `from` ≤ t < `to` (RFC 3339 UTC
    /// bounds in [`millis`] form): the last to start at or before `from`,
    /// then every one starting before `to`, ordered by start and version
    /// (of two with one start, the later version is the one in force).
    pub async fn plans_in_force(
        &self,
        site_id: &str,
        from: &str,
        to: &str,
    ) -> Result<Vec<StoredPlan>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM plans
             WHERE site_id = $1 AND start < $3
               AND start >= COALESCE(
                   (SELECT MAX(start) FROM plans WHERE site_id = $1 AND start <= $2), '')
             ORDER BY start, version"
        ))
        .bind(site_id)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(plan_row)
        .collect()
    }

    /// Gives plans stored before their start had a column (migration 11)
    /// the start their document names, a few hundred at a time.
    pub(super) async fn fill_plan_starts(&self) -> Result<(), StoreError> {
        loop {
            let rows = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM plans WHERE start IS NULL LIMIT 500"
            ))
            .fetch_all(&self.pool)
            .await?;
            if rows.is_empty() {
                return Ok(());
            }
            for row in &rows {
                let plan = plan_row(row)?;
                let document: serde_json::Value = serde_json::from_str(&plan.body)?;
                let start = document["start"]
                    .as_str()
                    .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
                    .ok_or_else(|| {
                        StoreError::Unreadable(format!(
                            "plan {} v{}: its document has no readable start",
                            plan.site_id, plan.version
                        ))
                    })?;
                sqlx::query("UPDATE plans SET start = $3 WHERE site_id = $1 AND version = $2")
                    .bind(&plan.site_id)
                    .bind(plan.version)
                    .bind(millis(start.with_timezone(&Utc)))
                    .execute(&self.pool)
                    .await?;
            }
        }
    }

    /// Trims up to `limit` plans published before `before`: each keeps
    /// only the intervals it was in force for, from its start to the next
    /// version's start (all of them for a site's latest plan, which is not
    /// trimmed), and says so (`"trimmed": true`). Returns how many it
    /// trimmed. Safe to run on several replicas at once.
    pub async fn trim_plans(&self, before: DateTime<Utc>, limit: i64) -> Result<usize, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM plans p
             WHERE p.trimmed = 0 AND p.created_at < $1
               AND p.version < (SELECT MAX(version) FROM plans q WHERE q.site_id = p.site_id)
             ORDER BY p.created_at LIMIT $2"
        ))
        .bind(millis(before))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut trimmed = 0;
        for row in &rows {
            let plan = plan_row(row)?;
            let Some(next) = self.plan(&plan.site_id, Some(plan.version + 1)).await? else {
                continue;
            };
            let next: serde_json::Value = serde_json::from_str(&next.body)?;
            let mut document: serde_json::Value = serde_json::from_str(&plan.body)?;
            let Some(until) = next["start"].as_str().map(str::to_owned) else {
                continue;
            };
            if let Some(intervals) = document["plan"]["intervals"].as_array_mut() {
                // RFC 3339 UTC instants of one format order as text.
                intervals.retain(|interval| {
                    interval["start"]
                        .as_str()
                        .is_some_and(|start| start < until.as_str())
                });
            }
            document["trimmed"] = serde_json::Value::Bool(true);
            let compressed = zstd::encode_all(document.to_string().as_bytes(), ZSTD_LEVEL)
                .map_err(|error| StoreError::Unreadable(format!("compressing a plan: {error}")))?;
            trimmed += sqlx::query(
                "UPDATE plans SET document = $3, body = '', trimmed = 1
                 WHERE site_id = $1 AND version = $2 AND trimmed = 0",
            )
            .bind(&plan.site_id)
            .bind(plan.version)
            .bind(compressed)
            .execute(&self.pool)
            .await?
            .rows_affected() as usize;
        }
        Ok(trimmed)
    }
}

fn plan_row(row: &AnyRow) -> Result<StoredPlan, StoreError> {
    Ok(StoredPlan {
        site_id: row.try_get(0)?,
        version: row.try_get(1)?,
        created_at: time_column(row, 2)?,
        status: row.try_get(3)?,
        body: match row.try_get::<Option<Vec<u8>>, _>(5)? {
            Some(document) => zstd::decode_all(document.as_slice())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| StoreError::Unreadable("a compressed plan document".to_owned()))?,
            None => row.try_get(4)?,
        },
    })
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::millis;

    /// A published 144-interval plan of the demo site (37 KB of JSON).
    fn demo_document() -> String {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/plans/np15-hub-demo-v1.json"
        );
        std::fs::read_to_string(path).expect("the fixture plan")
    }

    #[tokio::test]
    async fn a_plan_is_stored_compressed_under_8_kb_and_reads_back_whole() {
        let (store, _dir) = super::super::temp_store("plans-compact").await;
        let document = demo_document();
        assert!(document.len() > 30_000, "{}", document.len());
        let stored = store
            .insert_plan("np15-hub", Utc::now(), "optimal", None, |_, _| {
                document.clone()
            })
            .await
            .expect("stored");
        let kept: i64 = sqlx::query_scalar(
            "SELECT LENGTH(document) FROM plans WHERE site_id = 'np15-hub' AND version = 1",
        )
        .fetch_one(&store.pool)
        .await
        .expect("read");
        assert!(kept <= 8 * 1024, "{kept} bytes");
        let read = store
            .plan("np15-hub", Some(stored.version))
            .await
            .expect("read")
            .expect("the plan");
        assert_eq!(read.body, document);
    }

    #[tokio::test]
    async fn plans_in_force_are_found_by_start_also_when_stored_before_it_was_kept() {
        let (store, _dir) = super::super::temp_store("plans-start").await;
        let at = |text: &str| {
            chrono::DateTime::parse_from_rfc3339(text)
                .expect("an instant")
                .with_timezone(&Utc)
        };
        for start in [
            "2024-10-24T07:00:00Z",
            "2024-10-24T08:00:00Z",
            "2024-10-24T09:00:00Z",
        ] {
            let document = serde_json::json!({ "start": start }).to_string();
            store
                .insert_plan("a", at(start), "optimal", None, |_, _| document.clone())
                .await
                .expect("stored");
        }
        let versions = async |from: &str, to: &str| -> Vec<i64> {
            store
                .plans_in_force("a", &millis(at(from)), &millis(at(to)))
                .await
                .expect("read")
                .iter()
                .map(|plan| plan.version)
                .collect()
        };
        // In force over 07:30-08:30: the one from 07:00, then the 08:00.
        assert_eq!(
            versions("2024-10-24T07:30:00Z", "2024-10-24T08:30:00Z").await,
            [1, 2]
        );
        assert_eq!(
            versions("2024-10-24T09:00:00Z", "2024-10-24T10:00:00Z").await,
            [3]
        );
        assert!(
            versions("2024-10-24T06:00:00Z", "2024-10-24T07:00:00Z")
                .await
                .is_empty()
        );
        // Rows from before the column (as migration 11 leaves them) get
        // their start from the document.
        sqlx::query("UPDATE plans SET start = NULL")
            .execute(&store.pool)
            .await
            .expect("cleared");
        store.fill_plan_starts().await.expect("filled");
        assert_eq!(
            versions("2024-10-24T07:30:00Z", "2024-10-24T08:30:00Z").await,
            [1, 2]
        );
    }

    #[tokio::test]
    async fn a_plan_past_retention_keeps_the_intervals_it_was_in_force_for() {
        let (store, _dir) = super::super::temp_store("plans-trim").await;
        let document = |start: &str| {
            serde_json::json!({
                "start": start,
                "plan": {"intervals": [
                    {"start": "2024-10-24T07:00:00Z"}, {"start": "2024-10-24T07:15:00Z"},
                    {"start": "2024-10-24T07:30:00Z"}, {"start": "2024-10-24T07:45:00Z"},
                    {"start": "2024-10-24T08:00:00Z"}, {"start": "2024-10-24T08:15:00Z"}
                ]}
            })
            .to_string()
        };
        for start in ["2024-10-24T07:00:00Z", "2024-10-24T07:30:00Z"] {
            store
                .insert_plan("a", Utc::now(), "optimal", None, |_, _| document(start))
                .await
                .expect("stored");
        }
        let later = super::super::now() + chrono::TimeDelta::seconds(1);
        assert_eq!(store.trim_plans(later, 100).await.expect("trimmed"), 1);
        let first: serde_json::Value = serde_json::from_str(
            &store
                .plan("a", Some(1))
                .await
                .expect("read")
                .expect("v1")
                .body,
        )
        .expect("JSON");
        assert_eq!(first["trimmed"], true);
        let kept: Vec<_> = first["plan"]["intervals"]
            .as_array()
            .expect("intervals")
            .iter()
            .map(|i| i["start"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(kept, ["2024-10-24T07:00:00Z", "2024-10-24T07:15:00Z"]);
        // The latest plan stays whole, and trimming again changes nothing.
        let latest = store.plan("a", None).await.expect("read").expect("v2");
        assert!(!latest.body.contains("trimmed"));
        assert_eq!(store.trim_plans(later, 100).await.expect("trimmed"), 0);
    }

    #[tokio::test]
    async fn a_plan_stored_before_compression_still_reads() {
        let (store, _dir) = super::super::temp_store("plans-text").await;
        sqlx::query(
            "INSERT INTO plans (site_id, version, created_at, status, body)
             VALUES ('a', 1, '2024-10-24T07:00:00.000Z', 'optimal', '{\"old\":true}')",
        )
        .execute(&store.pool)
        .await
        .expect("an old row");
        let read = store
            .plan("a", None)
            .await
            .expect("read")
            .expect("the plan");
        assert_eq!(read.body, r#"{"old":true}"#);
    }
}
