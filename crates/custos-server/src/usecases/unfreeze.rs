//! Ending a freeze: loosening, so it needs strong proof and a delay (principle 1). Two different
//! operators (the one who acts and the one who approved, both audited) after support verified the
//! holder out of band. The account does not become active: it becomes `recovering`, with every
//! credential issued before the freeze dead — password, authenticator, passkeys, SMS factor,
//! recovery codes, panic code, sessions, links — and a 48-hour withdrawal lock. The only way back
//! in is a password-reset link sent to the address support verified.

use std::time::Duration;

use custos_core::Reason;
use custos_core::Timestamp;
use custos_core::audit::{Actor, AuditEvent, Chain, RevokeReason};
use custos_core::credential_matrix::extend_lock;
use custos_core::crypto::{BearerToken, new_security_stamp};
use custos_core::email::Email;
use custos_core::ids::{LinkTokenId, Uid};
use custos_core::link_token::LinkPurpose;
use custos_core::login::AccountStatus;
use custos_core::notice::Notice;
use custos_core::password::Password;
use custos_store::{LinkTokenRecord, StoreError};

use super::audit;
use super::notify::{self, Recipient};
use crate::error::ApiError;
use crate::state::AppState;

/// Withdrawals stay locked this long after an unfreeze; only ever extended.
pub const WITHDRAWAL_LOCK: Duration = Duration::from_secs(48 * 3600);

#[derive(Debug, Clone)]
pub struct Unfreeze {
    pub uid: Uid,
    pub reason: String,
    pub operator: String,
    pub approved_by: String,
    /// The address support verified; it alone receives the reset link, and becomes the account's.
    pub contact: String,
}

#[derive(Debug, Clone)]
pub struct Unfrozen {
    pub withdrawal_lock_until: Timestamp,
}

fn refuse(code: &'static str, detail: &str) -> ApiError {
    ApiError::Validation(vec![Reason::new(code, detail)])
}

pub async fn unfreeze(state: &AppState, req: &Unfreeze) -> Result<Unfrozen, ApiError> {
    let (operator, approver) = (req.operator.trim(), req.approved_by.trim());
    let mut reasons = Vec::new();
    if operator.is_empty() || approver.is_empty() || operator.len() > 100 || approver.len() > 100 {
        reasons.push(Reason::new("operator-invalid", "Name both operators (1–100 characters each)."));
    } else if operator.eq_ignore_ascii_case(approver) {
        reasons.push(Reason::new("same-operator", "An unfreeze needs a second operator's approval."));
    }
    if req.reason.trim().is_empty() {
        reasons.push(Reason::new("reason-required", "Say why the account is restored."));
    }
    let contact = match Email::parse(&req.contact) {
        Ok(e) => Some(e),
        Err(e) => {
            reasons.push(Reason::new("contact-invalid", e.to_string()));
            None
        }
    };
    let Some(contact) = contact.filter(|_| reasons.is_empty()) else {
        return Err(ApiError::Validation(reasons));
    };
    let found = state.store.account_by_uid(req.uid).await?.ok_or(ApiError::NotFound)?;
    // Nothing issued before the freeze may work afterwards, the password included: it is replaced
    // by a hash of a secret nobody holds.
    let unusable = state.hashes.hash(Password::new(BearerToken::generate().expose().to_owned())).await?;

    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(found.id).await?.ok_or(ApiError::NotFound)?;
    if account.status != AccountStatus::Frozen {
        return Err(ApiError::Conflict(Reason::new(
            "account-not-frozen",
            "Only a frozen account can be unfrozen.",
        )));
    }
    if let Some(freeze) = tx.latest_freeze(account.id).await? {
        tx.close_freeze(freeze.id, now, operator, approver).await?;
    }
    let id = account.id;
    let stamp = new_security_stamp();
    tx.set_status_and_stamp(id, AccountStatus::Recovering, &stamp).await?;
    tx.revoke_sessions(id, None, now, RevokeReason::SecurityStampRotated).await?;
    tx.set_password_hash(id, &unusable).await?;
    tx.delete_totp(id).await?;
    tx.replace_recovery_codes(id, &[], now).await?;
    for p in tx.passkeys_of(id).await? {
        tx.delete_passkey(id, p.id).await?;
    }
    tx.set_sms_enabled(id, None).await?;
    tx.set_panic_code(id, None, now).await?;
    let lock_until = extend_lock(account.withdrawal_lock_until, now, Some(WITHDRAWAL_LOCK)).unwrap_or(now);
    tx.set_withdrawal_lock(id, Some(lock_until), Some("account recovery after a freeze")).await?;
    if contact.key() != account.email_key {
        match tx.set_email(id, contact.as_str(), &contact.key(), now).await {
            Err(StoreError::Conflict(_)) => {
                return Err(refuse("contact-taken", "Another account uses this address."));
            }
            other => other?,
        }
    }
    tx.spend_links(id, LinkPurpose::ResetPassword, now).await?;
    let token = BearerToken::generate();
    tx.insert_link_token(&LinkTokenRecord {
        id: LinkTokenId::new(),
        token_hash: token.hash(),
        purpose: LinkPurpose::ResetPassword,
        account_id: id,
        subject: None,
        stamp_at_issue: stamp,
        created_at: now,
        expires_at: now.plus(LinkPurpose::ResetPassword.default_ttl()),
        used_at: None,
    })
    .await?;
    audit(
        &mut *tx,
        Chain::Account(id),
        now,
        Actor::Operator { name: operator.to_owned() },
        AuditEvent::AccountUnfrozen {
            approved_by: approver.to_owned(),
            reason: req.reason.trim().to_owned(),
            contact_domain: contact.as_str().rsplit('@').next().unwrap_or_default().to_owned(),
        },
    )
    .await?;
    notify::email(
        &mut *tx,
        state,
        Recipient {
            account: Some(id),
            email: contact.as_str(),
            anti_phishing_code: account.anti_phishing_code.as_deref(),
        },
        Notice::RecoveryStarted {
            reset_url: state.config.link(&format!("/reset-password/{}", token.expose())),
            lock_until,
        },
        format!("recovery_started:{id}:{}", now.as_micros()),
        now,
    )
    .await?;
    tx.commit().await?;
    state.outbox_wake.notify_one();
    Ok(Unfrozen { withdrawal_lock_until: lock_until })
}
