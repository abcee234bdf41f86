//! The staff caller: a live staff session, by the staff cookie (console pages) or
//! `Authorization: Bearer` (the staff API under `/api/v1/support/`). A customer's session token is
//! never a staff one: they live in different tables.
//!
//! - [`StaffSession`]: rejects with `401 unauthenticated`.
//! - [`StaffPage`]: the same for pages; without a live session it redirects to `/support/login`.
//!
//! Holding one proves: a session issued after password *and* TOTP, not revoked, within the idle
//! and absolute limits, issued under the staff member's current stamp, and the member still active.
//! What the member may *do* is then [`crate::usecases::staff::StaffCaller::require`]'s decision.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use custos_core::crypto::BearerToken;
use custos_core::session::{SessionFacts, SessionVerdict};
use custos_core::staff::StaffStatus;

use crate::error::ApiError;
use crate::state::AppState;
use crate::usecases::staff::{StaffCaller, stamp_matches};

/// The staff cookie's name: `__Host-` needs `Secure`, so dev over plain http drops the prefix.
pub fn staff_cookie_name(state: &AppState) -> &'static str {
    if state.config.secure_cookies() { "__Host-custos-staff" } else { "custos-staff" }
}

#[derive(Debug, Clone)]
pub struct StaffSession(pub StaffCaller);

impl std::ops::Deref for StaffSession {
    type Target = StaffCaller;
    fn deref(&self) -> &StaffCaller {
        &self.0
    }
}

fn presented(parts: &Parts, state: &AppState) -> Option<BearerToken> {
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned());
    let raw = bearer.or_else(|| {
        CookieJar::from_headers(&parts.headers).get(staff_cookie_name(state)).map(|c| c.value().to_owned())
    })?;
    BearerToken::parse(&raw)
}

pub async fn authenticate_staff(parts: &Parts, state: &AppState) -> Result<StaffCaller, ApiError> {
    let token = presented(parts, state).ok_or(ApiError::Unauthenticated)?;
    let (session, staff) =
        state.store.staff_session_by_hash(&token.hash()).await?.ok_or(ApiError::Unauthenticated)?;
    let now = state.clock.now();
    let verdict = state.config.sessions.evaluate(
        &SessionFacts {
            created_at: session.created_at,
            last_seen_at: session.last_seen_at,
            revoked: session.revoked_at.is_some(),
            stamp_at_issue: &session.stamp_at_issue,
            account_stamp: &staff.security_stamp,
            account_active: staff.status == StaffStatus::Active,
        },
        now,
    );
    match verdict {
        SessionVerdict::Live { touch } if stamp_matches(&session.stamp_at_issue, &staff.security_stamp) => {
            if touch {
                state.store.touch_staff_session(session.id, now).await?;
            }
            Ok(StaffCaller {
                staff_id: staff.id,
                session_id: session.id,
                code: staff.code,
                name: staff.name,
                role: staff.role,
                email: staff.email,
            })
        }
        _ => Err(ApiError::Unauthenticated),
    }
}

impl FromRequestParts<AppState> for StaffSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        authenticate_staff(parts, state).await.map(Self)
    }
}

/// A signed-in staff member on a console page.
#[derive(Debug, Clone)]
pub struct StaffPage(pub StaffCaller);

impl FromRequestParts<AppState> for StaffPage {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match authenticate_staff(parts, state).await {
            Ok(s) => Ok(Self(s)),
            Err(ApiError::Unauthenticated) => Err(Redirect::to("/support/login").into_response()),
            Err(e) => Err(e.into_response()),
        }
    }
}
