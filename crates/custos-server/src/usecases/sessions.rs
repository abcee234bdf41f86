//! Ending sessions: logout, revoke one, revoke all others, sign out everywhere.

use custos_core::audit::{Actor, AuditEvent, Chain, RevokeReason};
use custos_core::crypto::new_security_stamp;
use custos_core::ids::SessionId;

use super::audit;
use crate::error::ApiError;
use crate::extract::UserSession;
use crate::state::AppState;

fn actor(s: &UserSession) -> Actor {
    Actor::User { account: s.account_id, session: Some(s.session_id) }
}

/// Revokes one of the caller's own sessions (`target` may be the current one: that is logout).
/// Another account's session id is "not found", never "forbidden".
pub async fn revoke(
    state: &AppState,
    who: &UserSession,
    target: SessionId,
    why: RevokeReason,
) -> Result<(), ApiError> {
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.lock_account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    if !tx.revoke_session(who.account_id, target, now, why).await? {
        return Err(ApiError::NotFound);
    }
    audit(
        &mut *tx,
        Chain::Account(who.account_id),
        now,
        actor(who),
        AuditEvent::SessionRevoked { session: target, reason: why },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Revokes every other session of the caller's account; returns how many.
pub async fn revoke_others(state: &AppState, who: &UserSession) -> Result<u32, ApiError> {
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.lock_account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    let count = tx
        .revoke_sessions(who.account_id, Some(who.session_id), now, RevokeReason::OthersRevokedByUser)
        .await?;
    audit(
        &mut *tx,
        Chain::Account(who.account_id),
        now,
        actor(who),
        AuditEvent::OtherSessionsRevoked { kept: who.session_id, count },
    )
    .await?;
    tx.commit().await?;
    Ok(count)
}

/// Rotates the security stamp: every session (this one too) and every access-granting link dies
/// at once, on every node, because each request compares the stamp its session was issued under.
pub async fn sign_out_everywhere(state: &AppState, who: &UserSession) -> Result<u32, ApiError> {
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.lock_account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    tx.set_security_stamp(who.account_id, &new_security_stamp()).await?;
    let why = RevokeReason::SecurityStampRotated;
    let count = tx.revoke_sessions(who.account_id, None, now, why).await?;
    audit(
        &mut *tx,
        Chain::Account(who.account_id),
        now,
        actor(who),
        AuditEvent::SecurityStampRotated { reason: why, sessions_revoked: count },
    )
    .await?;
    tx.commit().await?;
    Ok(count)
}
