//! SMS: proving a phone number, the SMS second factor, and texted codes for sign-in and step-up.
//! Codes: six digits, 10 minutes, 5 attempts per challenge, one text per 60 seconds per challenge,
//! the anti-phishing code in every text.

use std::net::IpAddr;

use custos_core::audit::{Actor, AuditEvent, Chain};
use custos_core::challenge::{ChallengePurpose, SMS_RESEND_AFTER, check_challenge, new_numeric_code};
use custos_core::credential_matrix::CredentialEvent;
use custos_core::crypto::BearerToken;
use custos_core::ids::ChallengeId;
use custos_core::notice::SmsText;
use custos_core::phone::Phone;
use custos_core::step_up::Requirement;
use custos_core::{Reason, Timestamp};
use custos_store::{AccountRecord, ChallengeRecord, Tx};

use super::credential_change::{self, Applied, Previous};
use super::{audit, factors, notify, step_up};
use crate::error::ApiError;
use crate::extract::UserSession;
use crate::state::AppState;

fn refused(code: &'static str, detail: &str) -> ApiError {
    ApiError::CodeRefused(Reason::new(code, detail))
}

/// Texts a fresh code for `c` (refusing within a minute of the last text) and records its hash.
async fn text_code(
    tx: &mut dyn Tx,
    state: &AppState,
    account: &AccountRecord,
    phone: &str,
    (token, c): (&BearerToken, &ChallengeRecord),
    purpose: &str,
    now: Timestamp,
) -> Result<(), ApiError> {
    if let Some(sent) = c.code_sent_at {
        let open_at = sent.plus(SMS_RESEND_AFTER);
        if now < open_at {
            return Err(ApiError::Throttled { retry_after: open_at.since(now) });
        }
    }
    let code = new_numeric_code();
    tx.set_challenge_code(c.id, &factors::challenge_code_hash(token, &code), now).await?;
    let text = SmsText::Code { code, purpose: purpose.to_owned() };
    notify::sms(tx, state, account, phone, text, format!("sms_code:{}:{}", c.id, now.as_micros()), now)
        .await?;
    Ok(())
}

fn new_challenge(
    account: &AccountRecord,
    purpose: ChallengePurpose,
    who: Option<&UserSession>,
    subject: Option<String>,
    now: Timestamp,
) -> (BearerToken, ChallengeRecord) {
    let token = BearerToken::generate();
    let c = ChallengeRecord {
        id: ChallengeId::new(),
        token_hash: token.hash(),
        account_id: account.id,
        purpose,
        code_hash: None,
        session_id: who.map(|w| w.session_id),
        created_at: now,
        expires_at: now.plus(purpose.ttl()),
        attempts: 0,
        used_at: None,
        code_sent_at: None,
        subject,
    };
    (token, c)
}

/// Starts binding a phone number (step-up required): a code is texted to it. Returns the challenge.
pub async fn request_phone(
    state: &AppState,
    who: &UserSession,
    phone: &str,
) -> Result<BearerToken, ApiError> {
    let phone = Phone::parse(phone).ok_or_else(|| {
        ApiError::Validation(vec![Reason::new(
            "phone-invalid",
            "Write the number in international form, e.g. +4915112345678.",
        )])
    })?;
    step_up::require(state, who, Requirement::RecentStepUp).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    let (token, c) = new_challenge(
        &account,
        ChallengePurpose::PhoneVerification,
        Some(who),
        Some(phone.as_str().to_owned()),
        now,
    );
    tx.insert_challenge(&c).await?;
    text_code(&mut *tx, state, &account, phone.as_str(), (&token, &c), "confirming your phone number", now)
        .await?;
    tx.commit().await?;
    state.outbox_wake.notify_one();
    Ok(token)
}

/// Loads a live challenge of `purpose` for this session's account (and session, when bound).
async fn live_challenge(
    tx: &mut dyn Tx,
    raw: &str,
    purpose: ChallengePurpose,
    who: Option<&UserSession>,
    now: Timestamp,
) -> Result<(BearerToken, ChallengeRecord), ApiError> {
    let token = BearerToken::parse(raw).ok_or_else(|| refused("challenge-unknown", "Start again."))?;
    let c = tx
        .challenge_by_hash(&token.hash())
        .await?
        .filter(|c| who.is_none_or(|w| c.account_id == w.account_id && c.session_id == Some(w.session_id)))
        .ok_or_else(|| refused("challenge-unknown", "Start again."))?;
    let attempts = u32::try_from(c.attempts).unwrap_or(u32::MAX);
    check_challenge(c.purpose, purpose, c.expires_at, c.used_at.is_some(), attempts, now)
        .map_err(|r| refused("challenge-expired", &format!("{r}; start again.")))?;
    Ok((token, c))
}

/// Binds the number once its code comes back. A replaced number is told by text, the account's
/// email too (the matrix: 48 h withdrawal lock, other sessions end). Returns the session's new
/// token when the change rotated it.
pub async fn confirm_phone(
    state: &AppState,
    who: &UserSession,
    challenge: &str,
    code: &str,
    ip: Option<IpAddr>,
) -> Result<Applied, ApiError> {
    let now = state.clock.now();
    factors::check_code_throttle(state, who.account_id, now).await?;
    let mut tx = state.store.begin().await?;
    let mut account = tx.lock_account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    let (token, c) =
        live_challenge(&mut *tx, challenge, ChallengePurpose::PhoneVerification, Some(who), now).await?;
    if let Err(reason) =
        factors::verify_code(&mut *tx, state, account.id, factors::Method::Sms, code, Some((&token, &c)), now)
            .await?
    {
        tx.count_challenge_attempt(c.id).await?;
        factors::count_wrong_code(&mut *tx, account.id, now).await?;
        tx.commit().await?;
        return Err(ApiError::CodeRefused(reason));
    }
    let phone =
        c.subject.clone().ok_or_else(|| ApiError::Internal("phone challenge without a number".into()))?;
    if !tx.use_challenge(c.id, now).await? {
        return Err(refused("challenge-used", "That code was already used."));
    }
    let previous = account.phone_verified_at.and(account.phone.clone()).filter(|p| *p != phone);
    tx.set_verified_phone(account.id, &phone, now).await?;
    account.phone = Some(phone);
    account.phone_verified_at = Some(now);
    let actor = Actor::User { account: account.id, session: Some(who.session_id) };
    audit(&mut *tx, Chain::Account(account.id), now, actor, AuditEvent::PhoneChanged).await?;
    let (event, prev) = match &previous {
        Some(p) => (CredentialEvent::PhoneChanged, Some(Previous::Phone(p))),
        None => (CredentialEvent::PhoneVerified, None),
    };
    let applied =
        credential_change::apply(&mut *tx, state, &account, event, Some(factors::acting(who)), prev, ip, now)
            .await?;
    tx.commit().await?;
    state.outbox_wake.notify_one();
    Ok(applied)
}

/// Turns the SMS second factor on (needs a verified number) or off (loosening: the matrix ends
/// other sessions and locks withdrawals for 24 h). Step-up required either way.
pub async fn set_factor(
    state: &AppState,
    who: &UserSession,
    enabled: bool,
    ip: Option<IpAddr>,
) -> Result<Applied, ApiError> {
    step_up::require(state, who, Requirement::RecentStepUp).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    if enabled && account.phone_verified_at.is_none() {
        return Err(ApiError::Conflict(Reason::new("phone-not-verified", "Confirm a phone number first.")));
    }
    if enabled == account.sms_enabled_at.is_some() {
        return Ok(Applied::default());
    }
    tx.set_sms_enabled(account.id, enabled.then_some(now)).await?;
    let actor = Actor::User { account: account.id, session: Some(who.session_id) };
    let (audit_event, event) = if enabled {
        (AuditEvent::SmsFactorEnabled, CredentialEvent::SmsEnabled)
    } else {
        (AuditEvent::SmsFactorDisabled, CredentialEvent::SmsDisabled)
    };
    audit(&mut *tx, Chain::Account(account.id), now, actor, audit_event).await?;
    let applied =
        credential_change::apply(&mut *tx, state, &account, event, Some(factors::acting(who)), None, ip, now)
            .await?;
    tx.commit().await?;
    state.outbox_wake.notify_one();
    Ok(applied)
}

fn sms_phone(account: &AccountRecord) -> Result<&str, ApiError> {
    match (&account.phone, account.phone_verified_at, account.sms_enabled_at) {
        (Some(p), Some(_), Some(_)) => Ok(p),
        _ => Err(ApiError::Conflict(Reason::new(
            "sms-not-enabled",
            "SMS codes are not turned on for this account.",
        ))),
    }
}

/// Texts a code for a pending second-factor sign-in.
pub async fn send_login_code(state: &AppState, challenge: &str) -> Result<(), ApiError> {
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let (token, c) =
        live_challenge(&mut *tx, challenge, ChallengePurpose::LoginSecondFactor, None, now).await?;
    let account =
        tx.lock_account(c.account_id).await?.ok_or_else(|| refused("challenge-unknown", "Start again."))?;
    let phone = sms_phone(&account)?.to_owned();
    text_code(&mut *tx, state, &account, &phone, (&token, &c), "signing in", now).await?;
    tx.commit().await?;
    state.outbox_wake.notify_one();
    Ok(())
}

/// Starts a step-up by SMS: a code is texted; answer with [`with_code`].
pub async fn start_step_up(state: &AppState, who: &UserSession) -> Result<BearerToken, ApiError> {
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    let phone = sms_phone(&account)?.to_owned();
    let (token, c) = new_challenge(&account, ChallengePurpose::StepUpSms, Some(who), None, now);
    tx.insert_challenge(&c).await?;
    text_code(&mut *tx, state, &account, &phone, (&token, &c), "confirming a change", now).await?;
    tx.commit().await?;
    state.outbox_wake.notify_one();
    Ok(token)
}

/// Steps up with a texted code: the session becomes `aal2` under a new token.
pub async fn with_code(
    state: &AppState,
    who: &UserSession,
    challenge: &str,
    code: &str,
) -> Result<BearerToken, ApiError> {
    let now = state.clock.now();
    factors::check_code_throttle(state, who.account_id, now).await?;
    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    let (token, c) = live_challenge(&mut *tx, challenge, ChallengePurpose::StepUpSms, Some(who), now).await?;
    if let Err(reason) =
        factors::verify_code(&mut *tx, state, account.id, factors::Method::Sms, code, Some((&token, &c)), now)
            .await?
    {
        tx.count_challenge_attempt(c.id).await?;
        factors::count_wrong_code(&mut *tx, account.id, now).await?;
        tx.commit().await?;
        return Err(ApiError::CodeRefused(reason));
    }
    if !tx.use_challenge(c.id, now).await? {
        return Err(refused("challenge-used", "That code was already used."));
    }
    let new_token =
        step_up::reissue(&mut *tx, who, &account.security_stamp, custos_core::session::Aal::Aal2, now)
            .await?;
    let actor = Actor::User { account: account.id, session: Some(who.session_id) };
    audit(&mut *tx, Chain::Account(account.id), now, actor, AuditEvent::SteppedUp { method: "sms".into() })
        .await?;
    tx.commit().await?;
    Ok(new_token)
}
