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

impl Store {
    /// The answer kept for `(key_id, idempotency_key)`, if any.
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

    /// Keeps an answer for replay; the first kept for a key stays.
    pub async fn keep_response(
        &self,
        key_id: &str,
        idempotency_key: &str,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO idempotency (key_id, idempotency_key, request, status, body)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (key_id, idempotency_key) DO NOTHING",
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
}
