//! Account settings that are credentials in the matrix's sense: the anti-phishing code. And the
//! security posture, read from the account's facts.

use std::net::IpAddr;
use std::time::Duration;

use custos_core::Reason;
use custos_core::anti_phishing::AntiPhishingCode;
use custos_core::audit::{Actor, AuditEvent, Chain};
use custos_core::credential_matrix::CredentialEvent;
use custos_core::posture::{Posture, PostureFacts, assess};
use custos_core::step_up::Requirement;

use super::{audit, credential_change, factors, step_up};
use crate::error::ApiError;
use crate::extract::UserSession;
use crate::state::AppState;

/// Sets or changes the anti-phishing code (step-up required). Every message from now on shows it.
pub async fn set_anti_phishing_code(
    state: &AppState,
    who: &UserSession,
    code: &str,
    ip: Option<IpAddr>,
) -> Result<(), ApiError> {
    let code = AntiPhishingCode::parse(code)
        .map_err(|e| ApiError::Validation(vec![Reason::new("anti-phishing-code-invalid", e.to_string())]))?;
    step_up::require(state, who, Requirement::RecentStepUp).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let mut account = tx.lock_account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    tx.set_anti_phishing_code(account.id, Some(code.as_str())).await?;
    account.anti_phishing_code = Some(code.as_str().to_owned());
    let actor = Actor::User { account: account.id, session: Some(who.session_id) };
    audit(&mut *tx, Chain::Account(account.id), now, actor, AuditEvent::AntiPhishingCodeSet).await?;
    credential_change::apply(
        &mut *tx,
        state,
        &account,
        CredentialEvent::AntiPhishingCodeChanged,
        Some(factors::acting(who)),
        None,
        ip,
        now,
    )
    .await?;
    tx.commit().await?;
    state.outbox_wake.notify_one();
    Ok(())
}

pub async fn posture(state: &AppState, who: &UserSession) -> Result<Posture, ApiError> {
    let now = state.clock.now();
    let account = state.store.account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    let factors = state.store.second_factors(who.account_id).await?;
    let policy = state.config.sessions;
    let other_live = state
        .store
        .sessions(who.account_id, 200)
        .await?
        .iter()
        .filter(|s| {
            s.id != who.session_id
                && s.stands(&account.security_stamp)
                && now < policy.expires_at(s.created_at, s.last_seen_at)
        })
        .count();
    let stale_cutoff = now.minus(Duration::from_secs(90 * 86_400));
    let stale =
        state.store.devices(who.account_id).await?.iter().filter(|d| d.last_seen_at < stale_cutoff).count();
    let live_keys: Vec<_> =
        state.store.api_keys(who.account_id).await?.into_iter().filter(|k| k.is_live(now)).collect();
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let unused_keys =
        live_keys.iter().filter(|k| k.last_used_at.unwrap_or(k.created_at) < stale_cutoff).count();
    let allowlist = state.store.allowlist_mode(who.account_id).await?.mode().at(now);
    Ok(assess(&PostureFacts {
        email_verified: account.email_verified_at.is_some(),
        has_second_factor: factors.any(),
        unused_recovery_codes: factors.recovery_codes,
        anti_phishing_code: account.anti_phishing_code.is_some(),
        other_live_sessions: u32::try_from(other_live).unwrap_or(u32::MAX),
        stale_devices: u32::try_from(stale).unwrap_or(u32::MAX),
        live_api_keys: count(live_keys.len()),
        api_keys_without_ips: count(live_keys.iter().filter(|k| k.ip_allowlist.is_empty()).count()),
        unused_api_keys: count(unused_keys),
        allowlist_enforced: allowlist.enforced(now),
        allowlist_turning_off: matches!(allowlist, custos_core::allowlist::Mode::TurningOff { .. }),
    }))
}
