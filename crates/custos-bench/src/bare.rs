//! Baseline B's server: the least an authenticated endpoint can do, with no middleware — for the
//! figures `custos serve`'s own endpoints are divided by.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use custos_core::crypto::{BearerToken, TokenHash};
use custos_store::Store;

/// Baseline B's server: the least an authenticated endpoint can do — read the bearer token, one
/// indexed read, a small JSON answer. No middleware.
pub(crate) fn router(store: Store) -> axum::Router {
    axum::Router::new()
        .route("/null", get(|| async { Json(serde_json::json!({ "ok": true })) }))
        .route("/session", get(bare_session))
        .route("/session-and-account", get(bare_session_and_account))
        .with_state(store)
}

fn bearer_hash(headers: &HeaderMap) -> Option<TokenHash> {
    let raw = headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ")?;
    Some(BearerToken::parse(raw.trim())?.hash())
}

async fn bare_session(State(store): State<Store>, headers: HeaderMap) -> Response {
    let Some(hash) = bearer_hash(&headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    match store.session_with_account(&hash).await {
        Ok(Some(s)) => Json(serde_json::json!({
            "account_id": s.session.account_id.to_string(),
            "session_id": s.session.id.to_string(),
        }))
        .into_response(),
        Ok(None) => StatusCode::UNAUTHORIZED.into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// What `/api/v1/me` asks of the store, without the app around it.
async fn bare_session_and_account(State(store): State<Store>, headers: HeaderMap) -> Response {
    let Some(hash) = bearer_hash(&headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let s = match store.session_with_account(&hash).await {
        Ok(Some(s)) => s,
        Ok(None) => return StatusCode::UNAUTHORIZED.into_response(),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    match store.account(s.session.account_id).await {
        Ok(Some(a)) => Json(serde_json::json!({
            "email": a.email,
            "session_id": s.session.id.to_string(),
        }))
        .into_response(),
        Ok(None) => StatusCode::UNAUTHORIZED.into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
