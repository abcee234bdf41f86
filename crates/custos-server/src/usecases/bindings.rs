//! Changing the email address bound to the account: the new address proves itself by link, the
//! old address is told when the change is asked for and again when it happens (the matrix).

use std::net::IpAddr;

use custos_core::Reason;
use custos_core::audit::{Actor, AuditEvent, Chain};
use custos_core::credential_matrix::CredentialEvent;
use custos_core::crypto::BearerToken;
use custos_core::email::Email;
use custos_core::ids::LinkTokenId;
use custos_core::link_token::LinkPurpose;
use custos_core::notice::Notice;
use custos_core::step_up::Requirement;
use custos_store::{LinkTokenRecord, StoreError};

use super::credential_change::{self, Applied, Previous};
use super::notify::{self, Recipient};
use super::{audit, step_up};
use crate::error::ApiError;
use crate::extract::UserSession;
use crate::state::AppState;

fn domain(email: &str) -> String {
    email.rsplit_once('@').map(|(_, d)| d.to_owned()).unwrap_or_default()
}

/// Asks to move the account to `new_email` (step-up required). A link goes to the new address;
/// the current address is told that a change was asked for. Nothing changes until the link is used.
pub async fn request_email_change(
    state: &AppState,
    who: &UserSession,
    new_email: &str,
    ip: Option<IpAddr>,
) -> Result<(), ApiError> {
    let new = Email::parse(new_email)
        .map_err(|e| ApiError::Validation(vec![Reason::new("email-invalid", e.to_string())]))?;
    step_up::require(state, who, Requirement::RecentStepUp).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    if new.key() == account.email_key {
        return Err(ApiError::Validation(vec![Reason::new(
            "email-unchanged",
            "That is already your address.",
        )]));
    }
    tx.spend_links(account.id, LinkPurpose::ConfirmEmailChange, now).await?;
    let token = BearerToken::generate();
    let link = LinkTokenRecord {
        id: LinkTokenId::new(),
        token_hash: token.hash(),
        purpose: LinkPurpose::ConfirmEmailChange,
        account_id: account.id,
        subject: Some(new.as_str().to_owned()),
        stamp_at_issue: account.security_stamp.clone(),
        created_at: now,
        expires_at: now.plus(LinkPurpose::ConfirmEmailChange.default_ttl()),
        used_at: None,
    };
    tx.insert_link_token(&link).await?;
    let apc = account.anti_phishing_code.as_deref();
    let confirm_url = state.config.link(&format!("/confirm-email-change/{}", token.expose()));
    let to_new = Recipient { account: Some(account.id), email: new.as_str(), anti_phishing_code: apc };
    notify::email(
        &mut *tx,
        state,
        to_new,
        Notice::ConfirmEmailChange { confirm_url },
        format!("confirm_email_change:{}", link.id),
        now,
    )
    .await?;
    let to_old = Recipient { account: Some(account.id), email: &account.email, anti_phishing_code: apc };
    let heads_up = Notice::SecurityChange {
        change: format!(
            "Someone signed in to your account asked to change its email address to {}.",
            new.masked()
        ),
        at: now,
        ip: ip.map(|i| i.to_string()),
        lock_until: None,
    };
    notify::email(&mut *tx, state, to_old, heads_up, format!("email_change_requested:{}", link.id), now)
        .await?;
    tx.commit().await?;
    state.outbox_wake.notify_one();
    Ok(())
}

/// Completes an email change from the link sent to the new address. The link dies with the
/// security stamp, so a password change or sign-out-everywhere in between cancels it. The link
/// may be opened anywhere, so no session is "the acting one": every session ends, and the holder
/// signs in again with the new address.
pub async fn confirm_email_change(
    state: &AppState,
    raw_token: &str,
    ip: Option<IpAddr>,
) -> Result<Applied, ApiError> {
    let token = BearerToken::parse(raw_token).ok_or(ApiError::LinkInvalid)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let (link, mut account) =
        super::open_link(&mut *tx, &token, LinkPurpose::ConfirmEmailChange, now).await?;
    let new = link.subject.as_deref().and_then(|s| Email::parse(s).ok()).ok_or(ApiError::LinkInvalid)?;
    if !tx.mark_link_token_used(link.id, now).await? {
        return Err(ApiError::LinkInvalid);
    }
    match tx.set_email(account.id, new.as_str(), &new.key(), now).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::Conflict(Reason::new(
                "email-taken",
                "That address now belongs to another account; the change was not made.",
            )));
        }
        Err(e) => return Err(e.into()),
    }
    let previous = std::mem::replace(&mut account.email, new.as_str().to_owned());
    account.email_key = new.key();
    let event = AuditEvent::EmailChanged { old_domain: domain(&previous), new_domain: domain(new.as_str()) };
    audit(&mut *tx, Chain::Account(account.id), now, Actor::Anonymous { ip }, event).await?;
    let applied = credential_change::apply(
        &mut *tx,
        state,
        &account,
        CredentialEvent::EmailChanged,
        None,
        Some(Previous::Email(&previous)),
        ip,
        now,
    )
    .await?;
    tx.commit().await?;
    state.outbox_wake.notify_one();
    Ok(applied)
}
