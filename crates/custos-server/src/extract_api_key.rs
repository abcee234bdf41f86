//! The signed-API-key caller (`docs/api-keys.md` specifies the scheme for clients).
//!
//! [`ApiKeyCaller`] is a `FromRequest` extractor, not `FromRequestParts`: the signature covers the
//! raw body, so the extractor reads the body itself and hands the same bytes on. A handler that
//! takes an `ApiKeyCaller` takes no other body extractor; it parses JSON with
//! [`ApiKeyCaller::json`].
//!
//! What holding one proves: the four headers parsed, the timestamp is inside the window of our
//! (injected) clock, the key exists and its signature verifies over the method, the request target
//! exactly as sent and the body; the key is neither revoked nor expired; the request came from an
//! address on the key's allowlist (if it has one); the account is active; and this (key, nonce)
//! pair was never seen before. What it does **not** prove: that the key has the scope the route
//! needs — the handler calls [`ApiKeyCaller::authorize`] (or [`ApiKeyCaller::require`]) with it
//! first thing.

use std::net::IpAddr;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Request};
use custos_core::api_key::signing::{
    HEADER_KEY, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP, invalid_signature, nonce_reused,
};
use custos_core::api_key::{
    KeyFacts, KeyKind, Scope, SignatureHeaders, authorize, check_address, check_freshness, check_usable,
    nonce_expires_at, verify_signature,
};
use custos_core::crypto::KeyPurpose;
use custos_core::ids::{AccountId, Uid};
use custos_core::login::AccountStatus;
use custos_core::{Reason, Timestamp};
use custos_store::ApiKeyRecord;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use crate::error::ApiError;
use crate::extract::Client;
use crate::http::BODY_LIMIT;
use crate::state::AppState;
use crate::usecases::api_keys::secret_context;

/// A request signed with a live API key of an active account. See the module docs for what it
/// proves and what the handler must still check.
#[derive(Debug, Clone)]
pub struct ApiKeyCaller {
    /// The key as stored when the request arrived (before this request's last-use update).
    pub key: ApiKeyRecord,
    pub account_id: AccountId,
    pub account_uid: Uid,
    /// The client address, as [`Client`] determines it (trusted proxies honoured).
    pub peer: IpAddr,
    /// The request body exactly as signed.
    pub body: Bytes,
}

impl ApiKeyCaller {
    fn facts(&self) -> KeyFacts<'_> {
        KeyFacts {
            scopes: self.key.scopes,
            ip_allowlist: &self.key.ip_allowlist,
            valid_until: self.key.valid_until,
            revoked_at: self.key.revoked_at,
        }
    }

    /// May this key make a request that needs `scope`, from `peer`, at `now`? Every reason is
    /// reported (`custos-core::api_key::authorize`).
    pub fn authorize(&self, scope: Scope, peer: IpAddr, now: Timestamp) -> Result<(), Vec<Reason>> {
        authorize(&self.facts(), scope, peer, now)
    }

    /// [`ApiKeyCaller::authorize`] from the request's own address at the app's clock, as the 403
    /// a handler returns.
    pub fn require(&self, scope: Scope, state: &AppState) -> Result<(), ApiError> {
        self.authorize(scope, self.peer, state.clock.now()).map_err(ApiError::ApiKeyForbidden)
    }

    /// The body as JSON of type `T`; a malformed body is a 400 problem.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_slice(&self.body).map_err(|e| ApiError::InvalidRequest(e.to_string()))
    }
}

fn unauthenticated(reason: Reason) -> ApiError {
    ApiError::ApiKeyUnauthenticated(vec![reason])
}

/// The key bytes [`verify_signature`] takes: the Ed25519 public key, or the HMAC secret opened from
/// its seal (wiped when dropped).
fn key_material(state: &AppState, key: &ApiKeyRecord) -> Result<Zeroizing<Vec<u8>>, ApiError> {
    let missing = || ApiError::Internal(format!("api key {} has no key material", key.id));
    match key.kind {
        KeyKind::Ed25519 => Ok(Zeroizing::new(key.public_key.clone().ok_or_else(missing)?)),
        KeyKind::HmacSha256 => {
            let sealed = key.secret_sealed.as_deref().ok_or_else(missing)?;
            let opened = state
                .config
                .keys
                .open(KeyPurpose::ApiSecret, &secret_context(&key.id, key.account_id), sealed)
                .map_err(|e| ApiError::Internal(format!("api key {}: {e}", key.id)))?;
            Ok(Zeroizing::new(opened))
        }
    }
}

impl FromRequest<AppState> for ApiKeyCaller {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let client = Client::from_request_parts(&mut parts, state).await?;
        // A header that is present but not visible ASCII is malformed, not missing.
        let header = |name: &str| parts.headers.get(name).map(|v| v.to_str().unwrap_or(""));
        let signed = Signed {
            key: header(HEADER_KEY),
            timestamp: header(HEADER_TIMESTAMP),
            nonce: header(HEADER_NONCE),
            signature: header(HEADER_SIGNATURE),
        };
        let body = axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|_| ApiError::PayloadTooLarge)?;
        let uri = parts.extensions.get::<OriginalUri>().map_or(&parts.uri, |o| &o.0);
        let target = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
        verify_signed(state, signed, parts.method.as_str(), target, body, client.ip).await
    }
}

/// The four signature headers of a request, as sent (`None`: absent).
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    pub key: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// Checks a signed request — ours, or one the exchange's gateway received and forwards to
/// `/integration/authorize`: headers, freshness, signature over method + target + body, the key's
/// state and address list, the account, and the nonce (recorded: a replay is refused).
pub async fn verify_signed(
    state: &AppState,
    signed: Signed<'_>,
    method: &str,
    target: &str,
    body: Bytes,
    peer: IpAddr,
) -> Result<ApiKeyCaller, ApiError> {
    let h = SignatureHeaders::parse(signed.key, signed.timestamp, signed.nonce, signed.signature)
        .map_err(ApiError::ApiKeyUnauthenticated)?;
    let now = state.clock.now();
    let window = state.config.api_keys.signature_window;
    check_freshness(h.timestamp_ms, now, window).map_err(unauthenticated)?;
    // An unknown key id gets the same answer as a bad signature.
    let key = state.store.api_key(&h.key_id).await?.ok_or_else(|| unauthenticated(invalid_signature()))?;
    let canonical = h.canonical(method, target, &body);
    let material = key_material(state, &key)?;
    if !verify_signature(key.kind, &material, &canonical, &h.signature) {
        return Err(unauthenticated(invalid_signature()));
    }
    drop(material);

    let facts = KeyFacts {
        scopes: key.scopes,
        ip_allowlist: &key.ip_allowlist,
        valid_until: key.valid_until,
        revoked_at: key.revoked_at,
    };
    let mut refused = check_usable(&facts, now).err().unwrap_or_default();
    if let Err(r) = check_address(&key.ip_allowlist, peer) {
        refused.push(r);
    }
    if !refused.is_empty() {
        return Err(ApiError::ApiKeyForbidden(refused));
    }
    let account = state
        .store
        .account(key.account_id)
        .await?
        .ok_or_else(|| ApiError::Internal(format!("api key {} has no account", key.id)))?;
    if account.status != AccountStatus::Active {
        return Err(ApiError::AccountInactive);
    }

    let mut tx = state.store.begin().await?;
    let expires_at = nonce_expires_at(h.timestamp_ms, window);
    if !tx.record_api_nonce(&key.id, h.nonce.as_str(), expires_at, now).await? {
        return Err(unauthenticated(nonce_reused()));
    }
    tx.touch_api_key(&key.id, now, Some(peer)).await?;
    tx.commit().await?;

    Ok(ApiKeyCaller { account_id: key.account_id, account_uid: account.uid, peer, key, body })
}
