//! The `responses` table: replayable answers to idempotent requests.

use rusqlite::{OptionalExtension, params};

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
    /// The stored response to an earlier request with this idempotency key.
    pub fn response(
        &self,
        key_id: &str,
        idempotency_key: &str,
    ) -> Result<Option<StoredResponse>, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT request, status, body FROM idempotency
                 WHERE key_id = ?1 AND idempotency_key = ?2",
                [key_id, idempotency_key],
                |row| {
                    Ok(StoredResponse {
                        request: row.get(0)?,
                        status: row.get(1)?,
                        body: row.get(2)?,
                    })
                },
            )
            .optional()
        })
    }

    /// Keeps a response for replays of its idempotency key.
    pub fn keep_response(
        &self,
        key_id: &str,
        idempotency_key: &str,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO idempotency (key_id, idempotency_key, request, status, body)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    key_id,
                    idempotency_key,
                    response.request,
                    response.status,
                    response.body
                ],
            )
            .map(drop)
        })
    }
}
