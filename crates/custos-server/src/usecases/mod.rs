//! Application services: one use case per command, one transaction per use case. Each loads what
//! it needs, decides with `custos-core`, and writes the change, its audit records and its outbox
//! messages in one transaction (DESIGN principle 3). Handlers parse, call one of these, render.

pub mod accounts;
pub mod allowlist;
pub mod api_keys;
pub mod authorize;
pub mod bindings;
pub mod case_followup;
pub mod case_timeline;
pub mod console;
pub mod credential_change;
pub mod diagnosis;
pub mod factors;
pub mod freeze;
mod freeze_notices;
pub mod incidents;
pub mod ledger;
pub mod login;
pub mod notify;
pub mod official_channels;
pub mod operator;
pub mod panic_code;
mod passkey_sign_in;
pub mod passkeys;
pub mod password;
pub mod prices;
pub mod sessions;
pub mod settings;
pub mod sms;
pub mod staff;
pub mod step_up;
pub mod support;
pub mod transfers;
pub mod unfreeze;
pub mod withdrawals;

use custos_core::Timestamp;
use custos_core::audit::{Actor, AuditEvent, Chain};
use custos_core::throttle::ThrottleRule;
use custos_store::Tx;

use crate::error::ApiError;
use crate::state::AppState;

/// Appends one audit record; the common case of a use case writing to an account's chain.
pub(crate) async fn audit(
    tx: &mut dyn Tx,
    chain: Chain,
    at: Timestamp,
    actor: Actor,
    event: AuditEvent,
) -> Result<(), ApiError> {
    tx.append_audit(chain, at, actor, event).await?;
    Ok(())
}

/// How long an attempt keyed by `key` must wait under `rule`, if at all.
pub(crate) async fn throttle_wait(
    state: &AppState,
    key: &str,
    rule: ThrottleRule,
    now: Timestamp,
) -> Result<Option<std::time::Duration>, ApiError> {
    Ok(throttle_wait_of(state.store.throttle_state(key).await?, rule, now))
}

/// [`throttle_wait`], given the throttle's state as read.
pub(crate) fn throttle_wait_of(
    s: Option<custos_store::ThrottleState>,
    rule: ThrottleRule,
    now: Timestamp,
) -> Option<std::time::Duration> {
    let s = s?;
    if now >= s.window_start.plus(rule.window) {
        return None;
    }
    rule.wait(s.failures, Some(s.last_failure_at), now)
}

/// Loads the link behind `token` and its account (locked in `tx`), and checks the link is still
/// good for `purpose` (expiry, single use, security stamp). Every refusal is `link-invalid`; the
/// reason goes to the log only.
pub(crate) async fn open_link(
    tx: &mut dyn Tx,
    token: &custos_core::crypto::BearerToken,
    purpose: custos_core::link_token::LinkPurpose,
    now: Timestamp,
) -> Result<(custos_store::LinkTokenRecord, custos_store::AccountRecord), ApiError> {
    let link = tx.link_token_by_hash(&token.hash()).await?.ok_or(ApiError::LinkInvalid)?;
    let account = tx.lock_account(link.account_id).await?.ok_or(ApiError::LinkInvalid)?;
    let facts = custos_core::link_token::LinkFacts {
        purpose: link.purpose,
        expires_at: link.expires_at,
        used_at: link.used_at,
        stamp_at_issue: &link.stamp_at_issue,
        account_stamp: &account.security_stamp,
    };
    if let Err(refusal) = custos_core::link_token::check_link(&facts, purpose, now) {
        tracing::info!(%refusal, purpose = purpose.as_str(), "link refused");
        return Err(ApiError::LinkInvalid);
    }
    Ok((link, account))
}
