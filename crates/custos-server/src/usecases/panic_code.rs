//! The offline panic code: made once (aal2 step-up), shown once, stored hashed; typed on the
//! public freeze page with the email address or UID, it freezes the account and can do nothing
//! else. A new code replaces the old.

use std::net::IpAddr;

use custos_core::audit::{Actor, AuditEvent, Chain};
use custos_core::crypto::{TokenHash, ct_eq};
use custos_core::email::Email;
use custos_core::ids::{AccountId, Uid};
use custos_core::notice::Notice;
use custos_core::step_up::Requirement;
use custos_core::throttle::ThrottleRule;
use custos_core::{Reason, panic_code};
use custos_store::AccountRecord;
use zeroize::Zeroizing;

use super::freeze::{FreezeBy, Frozen};
use super::notify::{self, Recipient};
use super::{audit, step_up};
use crate::error::ApiError;
use crate::extract::UserSession;
use crate::state::AppState;

/// Makes a new panic code (the old one stops working) and answers it, once. Needs a recent aal2
/// step-up: a stolen session must not learn a code that outlives it — though a code can only freeze.
pub async fn generate(state: &AppState, who: &UserSession) -> Result<Zeroizing<String>, ApiError> {
    step_up::require(state, who, Requirement::RecentAal2).await?;
    let code = Zeroizing::new(panic_code::generate());
    let hash = panic_code::hash(&code).ok_or_else(|| ApiError::Internal("panic code shape".into()))?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    tx.set_panic_code(account.id, Some(&hash), now).await?;
    audit(
        &mut *tx,
        Chain::Account(account.id),
        now,
        Actor::User { account: account.id, session: Some(who.session_id) },
        AuditEvent::PanicCodeGenerated,
    )
    .await?;
    notify::email(
        &mut *tx,
        state,
        Recipient::holder(&account),
        Notice::SecurityChange {
            change: "A new panic code was made for your account; any earlier one no longer works.".into(),
            at: now,
            ip: None,
            lock_until: None,
        },
        format!("panic_code:{}:{}", account.id, now.as_micros()),
        now,
    )
    .await?;
    tx.commit().await?;
    state.outbox_wake.notify_one();
    Ok(code)
}

fn panic_refused() -> ApiError {
    ApiError::CodeRefused(Reason::new(
        "panic-code-refused",
        "That account and panic code do not match. Check both and try again.",
    ))
}

/// The throttle key of one source address.
fn panic_key(ip: IpAddr) -> String {
    format!("freeze:panic:ip:{ip}")
}

/// Freezes with the offline panic code. `account` is the email address or the UID. An unknown
/// account and a wrong code get the same answer after the same work (the same reads, one hash and
/// one constant-time comparison; no password hashing is involved); wrong answers are throttled per
/// source address only, never per account.
pub async fn freeze(state: &AppState, account: &str, code: &str, ip: IpAddr) -> Result<Frozen, ApiError> {
    let now = state.clock.now();
    let key = panic_key(ip);
    if let Some(retry_after) =
        super::throttle_wait(state, &key, ThrottleRule::PANIC_CODE_PER_SOURCE, now).await?
    {
        return Err(ApiError::Throttled { retry_after });
    }
    let typed = panic_code::hash(code);
    let found = find_account(state, account).await?;
    let by = FreezeBy::PanicCode { ip: Some(ip) };
    let reason = super::freeze::default_reason(&by);
    let mut tx = state.store.begin().await?;
    // The same statements whether or not the account exists (an id nobody has stands in for an
    // unknown one), and the comparison always runs: the answer's timing does not tell.
    let id = found.as_ref().map_or_else(AccountId::new, |a| a.id);
    let locked = tx.lock_account(id).await?.filter(|_| found.is_some());
    let stored = tx.panic_code_hash(id).await?;
    let probe = stored.unwrap_or(TokenHash([0; 32]));
    let same = typed.is_some_and(|t| ct_eq(t.as_bytes(), probe.as_bytes()));
    let matches = same && stored.is_some();
    let account = match locked {
        Some(a) if matches => a,
        _ => {
            tx.record_failure(&key, now, ThrottleRule::PANIC_CODE_PER_SOURCE.window).await?;
            tx.commit().await?;
            return Err(panic_refused());
        }
    };
    let frozen = super::freeze::freeze_locked(state, &mut *tx, &account, &by, &reason).await?;
    tx.commit().await?;
    frozen.committed(state);
    Ok(frozen)
}

/// An email address or a UID, as typed on the public freeze page.
async fn find_account(state: &AppState, typed: &str) -> Result<Option<AccountRecord>, ApiError> {
    let typed = typed.trim();
    if typed.len() > 320 {
        return Ok(None);
    }
    if let Some(uid) = Uid::parse(typed) {
        return Ok(state.store.account_by_uid(uid).await?);
    }
    match Email::parse(typed) {
        Ok(e) => Ok(state.store.account_by_email_key(&e.key()).await?),
        Err(_) => Ok(None),
    }
}
