//! The audit record, as one layer: every write (`POST`, `PUT`, `PATCH`,
//! `DELETE`) made with a known key is recorded after it is answered and
//! before the answer leaves, with its key, method, path and status.
//!
//! Refused writes are recorded too (a 403, 409 or 422 says who tried what);
//! a request without a valid key has no key to record and is not. An
//! idempotent replay (`Idempotent-Replay: true`) repeats an answer already
//! recorded and is not recorded again.

use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use crate::AppState;

/// Where the caller extractor leaves the key id of a write's caller.
#[derive(Debug, Clone, Default)]
pub(crate) struct AuditSlot(Arc<Mutex<Option<String>>>);

impl AuditSlot {
    /// Notes the key that makes the request.
    pub(crate) fn fill(&self, key_id: &str) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(key_id.to_owned());
        }
    }

    fn key_id(&self) -> Option<String> {
        self.0.lock().ok().and_then(|slot| slot.clone())
    }
}

/// The layer: records each write once it is answered.
pub(crate) async fn record(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    if matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(request).await;
    }
    let path = request.uri().path().to_owned();
    let slot = AuditSlot::default();
    request.extensions_mut().insert(slot.clone());
    let response = next.run(request).await;
    let replay = response
        .headers()
        .get("idempotent-replay")
        .is_some_and(|value| value == "true");
    if let Some(key) = slot.key_id().filter(|_| !replay) {
        let status = response.status().as_u16();
        let written = state
            .store
            .audit(&key, method.as_str(), &path, status)
            .await;
        if written.is_err() {
            tracing::error!("the audit record could not be written");
        }
    }
    response
}
