//! The `responses` table: replayable answers to idempotent requests.

use sqlx::Row;

use super::{Store, StoreError};

/// A replayable response to an idempotent request.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResponse {
    /// The request body it answered (a replay with another body is refused).
    pub request: String,
    /// HTTP status.
    pub status: u16,
    /// Response body.
    pub body: String,
}

/// What a request with an idempotency key finds.
#[derive(Debug, Clone, PartialEq)]
pub enum Reserved {
    /// The key is this request's to answer (until it keeps the answer or
    /// releases the key).
    Taken,
    /// Another request with the key is being answered, on this replica or
    /// another.
    Pending,
    /// The key was answered: replay this.
    Answered(StoredResponse),
}

impl Store {
    /// Reserves `(key_id, idempotency_key)` for a request with body
    /// `request` until `lease_until` (a request that does not finish by
    /// then, its replica gone, leaves the key to the next), or says who has
    /// it. One statement: concurrent requests on any replicas get one
    /// `Taken` between them.
    pub async fn reserve_response(
        &self,
        key_id: &str,
        idempotency_key: &str,
        request: &str,
        now: &str,
        lease_until: &str,
    ) -> Result<Reserved, StoreError> {
        let taken: Option<i64> = sqlx::query_scalar(
            "INSERT INTO idempotency (key_id, idempotency_key, request, status, body)
             VALUES ($1, $2, $3, 0, $5)
             ON CONFLICT (key_id, idempotency_key) DO UPDATE SET request = $3, body = $5
             WHERE idempotency.status = 0 AND idempotency.body < $4
             RETURNING status",
        )
        .bind(key_id)
        .bind(idempotency_key)
        .bind(request)
        .bind(now)
        .bind(lease_until)
        .fetch_optional(&self.pool)
        .await?;
        if taken.is_some() {
            return Ok(Reserved::Taken);
        }
        Ok(match self.response(key_id, idempotency_key).await? {
            Some(response) if response.status != 0 => Reserved::Answered(response),
            _ => Reserved::Pending,
        })
    }

    /// The answer kept for `(key_id, idempotency_key)`, if any (status 0:
    /// still being answered).
    pub async fn response(
        &self,
        key_id: &str,
        idempotency_key: &str,
    ) -> Result<Option<StoredResponse>, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT request, status, body FROM idempotency
             WHERE key_id = $1 AND idempotency_key = $2",
        )
        .bind(key_id)
        .bind(idempotency_key)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let status: i64 = row.try_get(1)?;
        Ok(Some(StoredResponse {
            request: row.try_get(0)?,
            status: u16::try_from(status)
                .map_err(|_| StoreError::Unreadable(format!("idempotency status {status}")))?,
            body: row.try_get(2)?,
        }))
    }

    /// Keeps the answer to a reserved key for replay.
    pub async fn keep_response(
        &self,
        key_id: &str,
        idempotency_key: &str,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE idempotency SET request = $3, status = $4, body = $5
             WHERE key_id = $1 AND idempotency_key = $2",
        )
        .bind(key_id)
        .bind(idempotency_key)
        .bind(&response.request)
        .bind(i64::from(response.status))
        .bind(&response.body)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Frees a reserved key that was not answered (the request failed).
    pub async fn release_response(
        &self,
        key_id: &str,
        idempotency_key: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM idempotency WHERE key_id = $1 AND idempotency_key = $2 AND status = 0",
        )
        .bind(key_id)
        .bind(idempotency_key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
