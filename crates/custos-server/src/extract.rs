//! One extractor per kind of caller, so a handler's signature says who may call it.
//!
//! - [`Client`]: anyone; who they appear to be (address, user agent, device key).
//! - [`UserSession`]: an account holder with a live session, by `Authorization: Bearer` (API) or
//!   the session cookie (pages). Rejects with `401 unauthenticated`.
//! - [`SessionWithOverview`]: the same, with the account and its factors from the same read.
//! - [`PageUser`]: the same for pages; an absent or ended session redirects to the login page.
//!
//! - [`crate::extract_api_key::ApiKeyCaller`]: a request signed with a live API key
//!   (`docs/api-keys.md`); it reads the body, which it hands on. Rejects with `401
//!   api-key-unauthenticated` or `403 api-key-forbidden`, with reason codes.
//!
//! - [`Service`]: an exchange service on the integration API, by `Authorization: Bearer` service
//!   token (`CUSTOS_SERVICE_TOKENS`, or made with `custos service-token create`).
//!
//! Staff and capability links get their own extractors when those callers arrive.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use custos_core::Timestamp;
use custos_core::crypto::{BearerToken, TokenHash};
use custos_core::ids::{AccountId, DeviceId, SessionId};
use custos_core::login::AccountStatus;
use custos_core::network::client_ip;
use custos_core::session::{Aal, SessionFacts, SessionVerdict};
use custos_store::{AccountRecord, SecondFactors, SessionRecord};

use crate::error::ApiError;
use crate::state::AppState;

/// Cookie names. `__Host-` requires `Secure`, so dev over plain http uses unprefixed names.
#[derive(Debug, Clone, Copy)]
pub struct CookieNames {
    pub session: &'static str,
    pub device: &'static str,
    pub csrf: &'static str,
}

impl CookieNames {
    pub fn for_state(state: &AppState) -> Self {
        if state.config.secure_cookies() {
            Self {
                session: "__Host-custos_session",
                device: "__Host-custos_device",
                csrf: "__Host-custos_csrf",
            }
        } else {
            Self { session: "custos_session", device: "custos_device", csrf: "custos_csrf" }
        }
    }
}

/// Header an API client uses to name its device (any stable opaque string it keeps, ≤ 128 bytes).
pub const DEVICE_HEADER: &str = "x-custos-device";

/// Who is calling, as far as we can tell without a credential.
#[derive(Debug, Clone)]
pub struct Client {
    pub ip: IpAddr,
    pub user_agent: String,
    /// The device identifier the client presented (cookie or header), if any. Asserted by the
    /// client and copied along with stolen cookies: a signal, never proof.
    pub device_key: Option<String>,
}

impl Client {
    pub fn device_key_hash(&self) -> Option<TokenHash> {
        self.device_key.as_deref().map(|k| TokenHash(custos_core::crypto::sha256(k.as_bytes())))
    }
}

impl FromRequestParts<AppState> for Client {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let xff = parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
        let ip = client_ip(peer, xff, &state.config.trusted_proxies);
        let user_agent: String = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .chars()
            .take(256)
            .collect();
        let names = CookieNames::for_state(state);
        let jar = CookieJar::from_headers(&parts.headers);
        let device_key = parts
            .headers
            .get(DEVICE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| jar.get(names.device).map(|c| c.value().to_owned()))
            .filter(|k| !k.is_empty() && k.len() <= 128);
        Ok(Self { ip, user_agent, device_key })
    }
}

/// A live session. Holding one proves the caller presented a valid, unexpired, unrevoked session
/// token issued under the account's current security stamp.
#[derive(Debug, Clone)]
pub struct UserSession {
    pub account_id: AccountId,
    pub session_id: SessionId,
    pub device_id: DeviceId,
    pub aal: Aal,
    pub authenticated_at: Timestamp,
    pub stepped_up_at: Option<Timestamp>,
    pub via_cookie: bool,
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

/// The session token a request presents: a bearer header (API) or the session cookie (pages).
fn presented_token(parts: &Parts, state: &AppState) -> Result<(BearerToken, bool), ApiError> {
    let names = CookieNames::for_state(state);
    let jar = CookieJar::from_headers(&parts.headers);
    let (raw, via_cookie) = match bearer(&parts.headers) {
        Some(t) => (t.to_owned(), false),
        None => {
            (jar.get(names.session).map(|c| c.value().to_owned()).ok_or(ApiError::Unauthenticated)?, true)
        }
    };
    Ok((BearerToken::parse(&raw).ok_or(ApiError::Unauthenticated)?, via_cookie))
}

/// Checks a found session against expiry, revocation, the account's stamp and status; records
/// activity when due.
async fn admit(
    state: &AppState,
    s: &SessionRecord,
    account_stamp: &[u8],
    account_status: AccountStatus,
    via_cookie: bool,
) -> Result<UserSession, ApiError> {
    let now = state.clock.now();
    let verdict = state.config.sessions.evaluate(
        &SessionFacts {
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            revoked: s.revoked_at.is_some(),
            stamp_at_issue: &s.stamp_at_issue,
            account_stamp,
            account_active: account_status == AccountStatus::Active,
        },
        now,
    );
    match verdict {
        SessionVerdict::Live { touch } => {
            if touch {
                state.store.touch_session(s.id, now).await?;
            }
            Ok(UserSession {
                account_id: s.account_id,
                session_id: s.id,
                device_id: s.device_id,
                aal: s.aal,
                authenticated_at: s.authenticated_at,
                stepped_up_at: s.stepped_up_at,
                via_cookie,
            })
        }
        _ => Err(ApiError::Unauthenticated),
    }
}

/// A live session with the account facts a money decision needs (status, UID, withdrawal lock),
/// from the same single read every authenticated request makes. For callers that judge a
/// session token they were handed (integration authorize).
pub struct SessionForMoney {
    pub session: UserSession,
    pub uid: custos_core::ids::Uid,
    pub status: AccountStatus,
    pub withdrawal_lock_until: Option<Timestamp>,
}

impl SessionForMoney {
    pub async fn for_token(state: &AppState, token: &BearerToken) -> Result<Self, ApiError> {
        let found =
            state.store.session_with_account(&token.hash()).await?.ok_or(ApiError::Unauthenticated)?;
        let session = admit(state, &found.session, &found.account_stamp, found.account_status, false).await?;
        Ok(Self {
            session,
            uid: found.account_uid,
            status: found.account_status,
            withdrawal_lock_until: found.account_withdrawal_lock_until,
        })
    }
}

/// Finds and checks the session a request presents.
pub async fn authenticate(parts: &Parts, state: &AppState) -> Result<UserSession, ApiError> {
    let (token, via_cookie) = presented_token(parts, state)?;
    let found = state.store.session_with_account(&token.hash()).await?.ok_or(ApiError::Unauthenticated)?;
    admit(state, &found.session, &found.account_stamp, found.account_status, via_cookie).await
}

/// A live session with its account and second factors, read in the same single statement as
/// the session itself. For views that show the account (`/me`); the snapshot is for display only —
/// commands re-read and lock what they change.
#[derive(Debug, Clone)]
pub struct SessionWithOverview {
    pub session: UserSession,
    pub account: AccountRecord,
    pub factors: SecondFactors,
}

impl FromRequestParts<AppState> for SessionWithOverview {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let (token, via_cookie) = presented_token(parts, state)?;
        Self::for_token(state, &token, via_cookie).await
    }
}

impl SessionWithOverview {
    /// Checks a session token from anywhere (a request, or the exchange's gateway asking on the
    /// integration API), in one store read.
    pub async fn for_token(
        state: &AppState,
        token: &BearerToken,
        via_cookie: bool,
    ) -> Result<Self, ApiError> {
        let found = state.store.session_overview(&token.hash()).await?.ok_or(ApiError::Unauthenticated)?;
        let session =
            admit(state, &found.session, &found.account.security_stamp, found.account.status, via_cookie)
                .await?;
        Ok(Self { session, account: found.account, factors: found.factors })
    }
}

impl FromRequestParts<AppState> for UserSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        authenticate(parts, state).await
    }
}

/// A signed-in user on a page. Without a live session the page redirects to the login page.
#[derive(Debug, Clone)]
pub struct PageUser(pub UserSession);

pub struct LoginRedirect;

impl IntoResponse for LoginRedirect {
    fn into_response(self) -> Response {
        Redirect::to("/login").into_response()
    }
}

impl FromRequestParts<AppState> for PageUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match authenticate(parts, state).await {
            Ok(s) => Ok(Self(s)),
            Err(ApiError::Unauthenticated) => Err(LoginRedirect.into_response()),
            Err(e) => Err(e.into_response()),
        }
    }
}

/// An exchange service calling the integration API. Rejects with `401 unauthenticated`.
#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
}

impl FromRequestParts<AppState> for Service {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let raw = bearer(&parts.headers).ok_or(ApiError::Unauthenticated)?;
        if raw.is_empty() || raw.len() > 256 {
            return Err(ApiError::Unauthenticated);
        }
        let hash = TokenHash::of(raw.as_bytes());
        // Every configured hash is compared, in constant time, whichever matches.
        let mut configured = None;
        for (name, h) in &state.config.money.service_tokens {
            if custos_core::crypto::ct_eq(h.as_bytes(), hash.as_bytes()) {
                configured = Some(name.clone());
            }
        }
        if let Some(name) = configured {
            return Ok(Self { name });
        }
        match state.store.service_token_by_hash(&hash).await? {
            Some(t) if t.revoked_at.is_none() => Ok(Self { name: t.name }),
            _ => Err(ApiError::Unauthenticated),
        }
    }
}
