//! `POST /api/v1/integration/authorize`: the exchange's order gateway asks whether a session or a
//! signed API-key request may `read`, `trade`, `withdraw` or `transfer` now. The answer is allow or
//! deny with reason codes — never an error for a refusal, so the gateway has one shape to read.

use std::net::IpAddr;

use axum::body::Bytes;
use custos_core::Reason;
use custos_core::api_key::Scope;
use custos_core::crypto::BearerToken;
use custos_core::egress::{self, Action, Via};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::extract::SessionForMoney;
use crate::extract_api_key::{Signed, verify_signed};
use crate::state::AppState;

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeRequest {
    #[schema(value_type = String, example = "trade")]
    pub action: Action,
    /// The user's session token, as the gateway received it. Give this or `api_key`.
    #[serde(default)]
    pub session_token: Option<String>,
    /// A signed API-key request, forwarded as the gateway received it. Give this or `session_token`.
    #[serde(default)]
    pub api_key: Option<ForwardedRequest>,
    /// The end client's address as the gateway saw it; required with `api_key` (its IP allowlist).
    #[serde(default)]
    pub ip: Option<String>,
}

/// The parts of a signed request its signature covers (docs/api-keys.md).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForwardedRequest {
    pub key_id: String,
    pub timestamp: String,
    pub nonce: String,
    pub signature: String,
    pub method: String,
    /// Path and query exactly as sent.
    pub path: String,
    /// The request body as sent (UTF-8); empty for none.
    #[serde(default)]
    pub body: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuthorizeAnswer {
    /// `allow` or `deny`.
    pub decision: &'static str,
    #[schema(value_type = Vec<crate::error::ReasonDoc>)]
    pub reasons: Vec<Reason>,
    /// The account's UID when the credential was recognised.
    pub uid: Option<u64>,
}

fn deny(reasons: Vec<Reason>, uid: Option<u64>) -> AuthorizeAnswer {
    AuthorizeAnswer { decision: "deny", reasons, uid }
}

/// A refused credential as reasons (every refusal carries at least one code).
fn reasons_of(e: &ApiError) -> Result<Vec<Reason>, ApiError> {
    match e {
        ApiError::Internal(_) | ApiError::Overloaded => Err(ApiError::Internal(e.to_string())),
        ApiError::Unauthenticated => Ok(vec![Reason::new(
            "session-invalid",
            "The session is unknown, expired, revoked or its account is not active.",
        )]),
        ApiError::AccountInactive => Ok(vec![Reason::new("account-inactive", "The account is not active.")]),
        other => {
            let p = other.problem();
            Ok(if p.reasons.is_empty() {
                vec![Reason::new("credential-refused", p.detail)]
            } else {
                p.reasons
            })
        }
    }
}

pub async fn authorize(state: &AppState, req: AuthorizeRequest) -> Result<AuthorizeAnswer, ApiError> {
    let now = state.clock.now();
    let window = state.config.step_up_window;
    match (&req.session_token, &req.api_key) {
        (Some(token), None) => {
            let Some(token) = BearerToken::parse(token) else {
                return Ok(deny(reasons_of(&ApiError::Unauthenticated)?, None));
            };
            let s = match SessionForMoney::for_token(state, &token).await {
                Ok(s) => s,
                Err(e) => return Ok(deny(reasons_of(&e)?, None)),
            };
            // The device's age only matters for holds, which the outflow itself decides.
            let via = Via::Session {
                aal: s.session.aal,
                stepped_up_at: s.session.stepped_up_at,
                device_first_seen_at: s.session.authenticated_at,
                risky_login: false,
                session_moved: false,
            };
            let uid = Some(s.uid.get());
            Ok(match egress::authorize(req.action, s.status, s.withdrawal_lock_until, via, window, now) {
                Ok(()) => AuthorizeAnswer { decision: "allow", reasons: Vec::new(), uid },
                Err(r) => deny(r, uid),
            })
        }
        (None, Some(f)) => {
            let ip: IpAddr = req.ip.as_deref().and_then(|i| i.parse().ok()).ok_or_else(|| {
                ApiError::Validation(vec![Reason::new("ip-required", "Give the client's address as ip.")])
            })?;
            let signed = Signed {
                key: Some(&f.key_id),
                timestamp: Some(&f.timestamp),
                nonce: Some(&f.nonce),
                signature: Some(&f.signature),
            };
            let body = Bytes::copy_from_slice(f.body.as_bytes());
            let caller = match verify_signed(state, signed, &f.method, &f.path, body, ip).await {
                Ok(c) => c,
                Err(e) => return Ok(deny(reasons_of(&e)?, None)),
            };
            let scope = match req.action {
                Action::Read => Scope::Read,
                Action::Trade => Scope::Trade,
                Action::Withdraw => Scope::Withdraw,
                Action::Transfer => Scope::Transfer,
            };
            let refused = caller.authorize(scope, ip, now).err().unwrap_or_default();
            let has = |code: &str| refused.iter().any(|r| r.code.0 == code);
            let via = Via::ApiKey {
                has_scope: !has("api-key-scope-missing"),
                ip_allowed: !has("api-key-ip-not-allowed"),
            };
            let account = state.store.account(caller.account_id).await?.ok_or(ApiError::NotFound)?;
            let uid = Some(account.uid.get());
            Ok(
                match egress::authorize(
                    req.action,
                    account.status,
                    account.withdrawal_lock_until,
                    via,
                    window,
                    now,
                ) {
                    Ok(()) => AuthorizeAnswer { decision: "allow", reasons: Vec::new(), uid },
                    Err(r) => deny(r, uid),
                },
            )
        }
        _ => Err(ApiError::Validation(vec![Reason::new(
            "credential-required",
            "Give exactly one of session_token and api_key.",
        )])),
    }
}
