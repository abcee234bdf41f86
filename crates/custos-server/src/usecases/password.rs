//! Passwords: the full policy with history and similarity, change (current password + step-up)
//! and reset by email (30 minutes, newest link only, single use, same answer for every address).

use std::net::IpAddr;

use custos_core::audit::{Actor, AuditEvent, Chain};
use custos_core::credential_matrix::CredentialEvent;
use custos_core::crypto::{BearerToken, KeyPurpose, ct_eq};
use custos_core::email::Email;
use custos_core::ids::{AccountId, LinkTokenId};
use custos_core::link_token::LinkPurpose;
use custos_core::notice::Notice;
use custos_core::password::Password;
use custos_core::password_policy::{self, HISTORY_DEPTH, PolicyContext, personal_words, skeleton};
use custos_core::step_up::Requirement;
use custos_core::{Reason, Timestamp};
use custos_store::{AccountRecord, LinkTokenRecord, PasswordHistoryRecord, Tx};

use super::credential_change::{self, Applied};
use super::notify::{self, Recipient};
use super::{audit, factors, step_up};
use crate::error::ApiError;
use crate::extract::UserSession;
use crate::state::AppState;

/// The keyed fingerprint of a password's skeleton, kept in the history for the similarity rule.
pub fn skeleton_mac(state: &AppState, pw: &Password) -> Vec<u8> {
    state.config.keys.mac(KeyPurpose::PasswordSkeleton, skeleton(pw.expose()).as_bytes()).to_vec()
}

/// Every reason the policy refuses `pw` for this account (history included). Runs the Argon2
/// comparisons against the last five passwords outside any transaction.
pub async fn check_policy(
    state: &AppState,
    account: Option<AccountId>,
    email: &str,
    has_second_factor: bool,
    pw: &Password,
) -> Result<(), ApiError> {
    let history = match account {
        Some(a) => state.store.password_history(a, HISTORY_DEPTH as u32).await?,
        None => Vec::new(),
    };
    let mac = skeleton_mac(state, pw);
    let similar = history.iter().any(|h| ct_eq(&h.skeleton_mac, &mac));
    let mut reused = false;
    if !pw.is_oversized() {
        for h in &history {
            if state.hashes.verify(pw.clone(), Some(h.password_hash.clone())).await? {
                reused = true;
                break;
            }
        }
    }
    let words = personal_words(email);
    let ctx = PolicyContext {
        has_second_factor,
        user_inputs: words.iter().map(String::as_str).collect(),
        reused,
        similar_to_previous: similar,
    };
    let reasons = password_policy::check(pw, &ctx);
    if reasons.is_empty() { Ok(()) } else { Err(ApiError::Validation(reasons)) }
}

/// Records a password the account now has, for the reuse and similarity rules.
pub async fn remember(
    tx: &mut dyn Tx,
    account: AccountId,
    phc: &str,
    mac: Vec<u8>,
    now: Timestamp,
) -> Result<(), ApiError> {
    tx.insert_password_history(
        account,
        &PasswordHistoryRecord { password_hash: phc.to_owned(), skeleton_mac: mac, created_at: now },
    )
    .await?;
    Ok(())
}

/// Changes the password: the current one, a recent step-up, and the full policy. Other sessions
/// end, withdrawals lock for 24 h, the account's email is told. Returns the session's new token.
pub async fn change(
    state: &AppState,
    who: &UserSession,
    current: Password,
    new: Password,
    ip: Option<IpAddr>,
) -> Result<Applied, ApiError> {
    step_up::require(state, who, Requirement::RecentStepUp).await?;
    let now = state.clock.now();
    factors::check_code_throttle(state, who.account_id, now).await?;
    let account = state.store.account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    if !state.hashes.verify(current, Some(account.password_hash.clone())).await? {
        let mut tx = state.store.begin().await?;
        factors::count_wrong_code(&mut *tx, account.id, now).await?;
        tx.commit().await?;
        return Err(ApiError::Validation(vec![Reason::new(
            "current-password-wrong",
            "Your current password is not right.",
        )]));
    }
    let has_2fa = state.store.second_factors(account.id).await?.any();
    check_policy(state, Some(account.id), &account.email, has_2fa, &new).await?;
    let mac = skeleton_mac(state, &new);
    let phc = state.hashes.hash(new).await?;

    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    tx.set_password_hash(account.id, &phc).await?;
    remember(&mut *tx, account.id, &phc, mac, now).await?;
    let actor = Actor::User { account: account.id, session: Some(who.session_id) };
    audit(&mut *tx, Chain::Account(account.id), now, actor, AuditEvent::PasswordChanged).await?;
    let applied = credential_change::apply(
        &mut *tx,
        state,
        &account,
        CredentialEvent::PasswordChanged,
        Some(factors::acting(who)),
        None,
        ip,
        now,
    )
    .await?;
    tx.commit().await?;
    state.outbox_wake.notify_one();
    Ok(applied)
}

/// Mails a reset link if the address has a verified account; otherwise does nothing. The caller
/// answers `202` either way. A new link spends every earlier one.
pub async fn request_reset(state: &AppState, email: &str, ip: Option<IpAddr>) -> Result<(), ApiError> {
    let Ok(email) = Email::parse(email) else {
        return Err(ApiError::Validation(vec![Reason::new(
            "email-invalid",
            "That is not an email address.",
        )]));
    };
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let Some(account) =
        // A frozen account gets no reset link (the same answer as an unknown address): only support
        // loosens a freeze, and its recovery link goes to the address support verified.
        tx.lock_account_by_email_key(&email.key())
            .await?
            .filter(|a| a.email_verified_at.is_some() && a.status != custos_core::login::AccountStatus::Frozen)
    else {
        return Ok(());
    };
    tx.spend_links(account.id, LinkPurpose::ResetPassword, now).await?;
    let token = BearerToken::generate();
    let link = LinkTokenRecord {
        id: LinkTokenId::new(),
        token_hash: token.hash(),
        purpose: LinkPurpose::ResetPassword,
        account_id: account.id,
        subject: None,
        stamp_at_issue: account.security_stamp.clone(),
        created_at: now,
        expires_at: now.plus(LinkPurpose::ResetPassword.default_ttl()),
        used_at: None,
    };
    tx.insert_link_token(&link).await?;
    let recipient = Recipient::holder(&account);
    let notice = Notice::PasswordReset {
        reset_url: state.config.link(&format!("/reset-password/{}", token.expose())),
    };
    notify::email(&mut *tx, state, recipient, notice, format!("password_reset:{}", link.id), now).await?;
    audit(
        &mut *tx,
        Chain::Account(account.id),
        now,
        Actor::Anonymous { ip },
        AuditEvent::PasswordResetRequested,
    )
    .await?;
    tx.commit().await?;
    state.outbox_wake.notify_one();
    Ok(())
}

/// Sets a new password from a reset link. Every session ends, API keys are revoked, withdrawals
/// lock for 48 h (the matrix row for a reset).
pub async fn confirm_reset(
    state: &AppState,
    raw_token: &str,
    new: Password,
    ip: Option<IpAddr>,
) -> Result<(), ApiError> {
    let token = BearerToken::parse(raw_token).ok_or(ApiError::LinkInvalid)?;
    let now = state.clock.now();
    let account = link_account(state, &token, now).await?;
    let has_2fa = state.store.second_factors(account.id).await?.any();
    check_policy(state, Some(account.id), &account.email, has_2fa, &new).await?;
    let mac = skeleton_mac(state, &new);
    let phc = state.hashes.hash(new).await?;

    let mut tx = state.store.begin().await?;
    let (link, account) = super::open_link(&mut *tx, &token, LinkPurpose::ResetPassword, now).await?;
    if account.status == custos_core::login::AccountStatus::Frozen
        || !tx.mark_link_token_used(link.id, now).await?
    {
        return Err(ApiError::LinkInvalid);
    }
    tx.set_password_hash(account.id, &phc).await?;
    remember(&mut *tx, account.id, &phc, mac, now).await?;
    audit(&mut *tx, Chain::Account(account.id), now, Actor::Anonymous { ip }, AuditEvent::PasswordReset)
        .await?;
    credential_change::apply(&mut *tx, state, &account, CredentialEvent::PasswordReset, None, None, ip, now)
        .await?;
    tx.commit().await?;
    state.outbox_wake.notify_one();
    Ok(())
}

/// The account a reset link belongs to, if the link is still good (checked again in the write).
async fn link_account(
    state: &AppState,
    token: &BearerToken,
    now: Timestamp,
) -> Result<AccountRecord, ApiError> {
    let mut tx = state.store.begin().await?;
    let (_, account) = super::open_link(&mut *tx, token, LinkPurpose::ResetPassword, now).await?;
    Ok(account)
}
