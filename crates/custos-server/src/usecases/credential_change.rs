//! Applying the credential-change matrix. Use cases that change a credential call [`apply`] inside
//! their transaction with the event; the matrix in `custos-core` decides the effects and this
//! module carries them out — it decides nothing itself.

use std::net::IpAddr;

use custos_core::Timestamp;
use custos_core::audit::{Actor, AuditEvent, Chain, RevokeReason};
use custos_core::credential_matrix::{Contact, CredentialEvent, Sessions, effects, extend_lock};
use custos_core::crypto::{BearerToken, new_security_stamp};
use custos_core::ids::SessionId;
use custos_core::notice::{Notice, SmsText};
use custos_core::session::Aal;
use custos_store::{AccountRecord, ContactKind, Reissue, Tx};

use super::audit;
use super::notify::{self, Recipient};
use crate::error::ApiError;
use crate::state::AppState;

/// The session that made the change, if one did (a reset by email has none).
#[derive(Debug, Clone, Copy)]
pub struct Acting {
    pub session: SessionId,
    pub aal: Aal,
    pub stepped_up_at: Option<Timestamp>,
}

/// What the caller must hand back to the client.
#[derive(Debug, Default)]
pub struct Applied {
    /// The acting session's new token, when the change rotated the stamp (the old token is dead).
    pub session_token: Option<BearerToken>,
    pub withdrawal_lock_until: Option<Timestamp>,
}

fn sentence(event: CredentialEvent) -> &'static str {
    use CredentialEvent::*;
    match event {
        PasswordChanged => "Your password was changed.",
        PasswordReset => "Your password was reset with a link sent to this address.",
        TotpEnabled => "An authenticator app was added as a second factor.",
        TotpDisabled => "The authenticator app was removed from your account.",
        TotpReset => "Your authenticator app was replaced.",
        PasskeyAdded => "A passkey was added to your account.",
        PasskeyRemoved => "A passkey was removed from your account.",
        SmsEnabled => "SMS codes were turned on.",
        SmsDisabled => "SMS codes were turned off.",
        EmailChanged => "The email address of your account was changed.",
        PhoneChanged => "The mobile number of your account was changed.",
        PhoneVerified => "A mobile number was added to your account.",
        AntiPhishingCodeChanged => "Your anti-phishing code was changed.",
        RecoveryCodesRegenerated => "New recovery codes were generated; the old ones no longer work.",
        MoneyApiKeyCreated => "An API key that can move funds was created.",
    }
}

fn lock_reason(event: CredentialEvent) -> String {
    format!("{event:?}")
}

/// The contact an account had before a binding change; the matrix says when it is told too.
#[derive(Debug, Clone, Copy)]
pub enum Previous<'a> {
    Email(&'a str),
    Phone(&'a str),
}

/// Applies `event`'s row of the matrix to `account` (locked in `tx`). `previous` is the email or
/// phone before a binding change (it is told too). `account` must reflect the state *after* the
/// change (e.g. the new email).
#[allow(clippy::too_many_arguments)]
pub async fn apply(
    tx: &mut dyn Tx,
    state: &AppState,
    account: &AccountRecord,
    event: CredentialEvent,
    acting: Option<Acting>,
    previous: Option<Previous<'_>>,
    ip: Option<IpAddr>,
    now: Timestamp,
) -> Result<Applied, ApiError> {
    let e = effects(event);
    let chain = Chain::Account(account.id);
    // Kept so a case link goes only to a contact that predates the change (`incidents`).
    match previous {
        Some(Previous::Email(p)) => {
            super::incidents::record_previous_contact(tx, account.id, ContactKind::Email, p, now).await?
        }
        Some(Previous::Phone(p)) => {
            super::incidents::record_previous_contact(tx, account.id, ContactKind::Phone, p, now).await?
        }
        None => {}
    }
    let actor = Actor::User { account: account.id, session: acting.map(|a| a.session) };
    let mut applied = Applied::default();

    let stamp = if e.rotate_stamp {
        let s = new_security_stamp();
        tx.set_security_stamp(account.id, &s).await?;
        s
    } else {
        account.security_stamp.clone()
    };
    let why = RevokeReason::CredentialChanged;
    let revoked = match e.sessions {
        Sessions::Keep => 0,
        Sessions::RevokeOthers => tx.revoke_sessions(account.id, acting.map(|a| a.session), now, why).await?,
        Sessions::RevokeAll => tx.revoke_sessions(account.id, None, now, why).await?,
    };
    if e.rotate_stamp {
        audit(
            tx,
            chain,
            now,
            actor.clone(),
            AuditEvent::SecurityStampRotated { reason: why, sessions_revoked: revoked },
        )
        .await?;
        // The acting session survives a RevokeOthers change under a new token and the new stamp.
        if let (Some(a), Sessions::RevokeOthers) = (acting, e.sessions) {
            let token = BearerToken::generate();
            let reissue = Reissue {
                token_hash: token.hash(),
                aal: a.aal,
                stepped_up_at: a.stepped_up_at,
                stamp,
                issued_under: account.security_stamp.clone(),
            };
            if !tx.reissue_session(a.session, &reissue).await? {
                return Err(ApiError::Unauthenticated);
            }
            applied.session_token = Some(token);
        }
    }
    if e.revoke_api_keys {
        super::api_keys::revoke_for_credential_change(tx, account.id, actor.clone(), now).await?;
    }

    let lock = extend_lock(account.withdrawal_lock_until, now, e.withdrawal_lock);
    if lock != account.withdrawal_lock_until {
        let reason = lock_reason(event);
        tx.set_withdrawal_lock(account.id, lock, Some(&reason)).await?;
        if let Some(until) = lock {
            audit(tx, chain, now, actor.clone(), AuditEvent::WithdrawalLockSet { until, reason }).await?;
        }
    }
    applied.withdrawal_lock_until = lock.filter(|l| *l > now);

    let notice = Notice::SecurityChange {
        change: sentence(event).to_owned(),
        at: now,
        ip: ip.map(|i| i.to_string()),
        lock_until: if e.withdrawal_lock.is_some() { applied.withdrawal_lock_until } else { None },
    };
    for contact in e.notify {
        let to = match (contact, previous) {
            (Contact::Current, _) => Some(account.email.as_str()),
            (Contact::Previous, Some(Previous::Email(e))) => Some(e),
            (Contact::Previous, Some(Previous::Phone(phone))) => {
                let key = format!("security_change_sms:{:?}:{}:{}", event, account.id, now.as_micros());
                let text = SmsText::SecurityChange { change: sentence(event).to_owned() };
                notify::sms(tx, state, account, phone, text, key, now).await?;
                None
            }
            (Contact::Previous, None) => None,
        };
        if let Some(email) = to {
            let key = format!("security_change:{:?}:{}:{}:{}", event, account.id, now.as_micros(), email);
            let recipient = Recipient {
                account: Some(account.id),
                email,
                anti_phishing_code: account.anti_phishing_code.as_deref(),
            };
            notify::email(tx, state, recipient, notice.clone(), key, now).await?;
        }
    }
    Ok(applied)
}
