//! Step-up: checking that a session has recently proved itself, and the two ways to prove it —
//! a second-factor code, or (for accounts without one) the password plus an emailed code.

use std::net::IpAddr;

use custos_core::audit::{Actor, AuditEvent, Chain};
use custos_core::challenge::{ChallengePurpose, check_challenge, new_numeric_code};
use custos_core::crypto::{BearerToken, ct_eq};
use custos_core::ids::ChallengeId;
use custos_core::notice::Notice;
use custos_core::password::Password;
use custos_core::session::Aal;
use custos_core::step_up::{self, Requirement, StepUpFacts};
use custos_core::{Reason, Timestamp};
use custos_store::{ChallengeRecord, Reissue};

use super::audit;
use super::factors::{self, Method};
use super::notify::{self, Recipient};
use crate::error::ApiError;
use crate::extract::UserSession;
use crate::state::AppState;

/// Refuses with `step-up-required` (and the methods to use) unless the session qualifies.
pub async fn require(state: &AppState, who: &UserSession, need: Requirement) -> Result<(), ApiError> {
    let f = state.store.second_factors(who.account_id).await?;
    let facts = StepUpFacts {
        aal: who.aal,
        stepped_up_at: who.stepped_up_at,
        has_totp: f.totp,
        has_passkey: f.passkeys > 0,
        has_sms: f.sms,
        has_recovery_codes: f.recovery_codes > 0,
    };
    step_up::check(&facts, need, state.clock.now(), state.config.step_up_window)
        .map_err(ApiError::StepUpRequired)
}

/// Steps up with a second-factor code; the session becomes `aal2` under a new token.
pub async fn with_code(
    state: &AppState,
    who: &UserSession,
    method: Method,
    code: &str,
) -> Result<BearerToken, ApiError> {
    let now = state.clock.now();
    factors::check_code_throttle(state, who.account_id, now).await?;
    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    if let Err(reason) = factors::verify_code(&mut *tx, state, account.id, method, code, None, now).await? {
        factors::count_wrong_code(&mut *tx, account.id, now).await?;
        tx.commit().await?;
        return Err(ApiError::CodeRefused(reason));
    }
    let token = reissue(&mut *tx, who, &account.security_stamp, Aal::Aal2, now).await?;
    let actor = Actor::User { account: account.id, session: Some(who.session_id) };
    audit(
        &mut *tx,
        Chain::Account(account.id),
        now,
        actor,
        AuditEvent::SteppedUp { method: method.as_str().into() },
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

pub(crate) async fn reissue(
    tx: &mut dyn custos_store::Tx,
    who: &UserSession,
    stamp: &[u8],
    aal: Aal,
    now: Timestamp,
) -> Result<BearerToken, ApiError> {
    let token = BearerToken::generate();
    let r = Reissue {
        token_hash: token.hash(),
        aal,
        stepped_up_at: Some(now),
        stamp: stamp.to_vec(),
        issued_under: stamp.to_vec(),
    };
    // A freeze (or a credential change) that committed after this request was admitted ended the
    // session by moving the stamp on: it stays ended.
    if !tx.reissue_session(who.session_id, &r).await? {
        return Err(ApiError::Unauthenticated);
    }
    Ok(token)
}

/// First half of a step-up for an account without a second factor: the password again, then a
/// code goes to the account's email. Returns the challenge to answer with that code.
pub async fn start_email(
    state: &AppState,
    who: &UserSession,
    password: Password,
    ip: Option<IpAddr>,
) -> Result<BearerToken, ApiError> {
    let now = state.clock.now();
    if state.store.second_factors(who.account_id).await?.any() {
        return Err(ApiError::Conflict(Reason::new(
            "use-second-factor",
            "This account has a second factor: step up with it instead.",
        )));
    }
    factors::check_code_throttle(state, who.account_id, now).await?;
    let account = state.store.account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    let ok = state.hashes.verify(password, Some(account.password_hash.clone())).await?;
    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    if !ok {
        factors::count_wrong_code(&mut *tx, account.id, now).await?;
        tx.commit().await?;
        return Err(ApiError::CodeRefused(Reason::new("password-wrong", "That password is not right.")));
    }
    let challenge = BearerToken::generate();
    let code = new_numeric_code();
    let record = ChallengeRecord {
        id: ChallengeId::new(),
        token_hash: challenge.hash(),
        account_id: account.id,
        purpose: ChallengePurpose::StepUpEmail,
        code_hash: Some(factors::challenge_code_hash(&challenge, &code)),
        session_id: Some(who.session_id),
        created_at: now,
        expires_at: now.plus(ChallengePurpose::StepUpEmail.ttl()),
        attempts: 0,
        used_at: None,
        code_sent_at: None,
        subject: None,
    };
    tx.insert_challenge(&record).await?;
    let recipient = Recipient::holder(&account);
    notify::email(
        &mut *tx,
        state,
        recipient,
        Notice::StepUpCode { code },
        format!("step_up_code:{}", record.id),
        now,
    )
    .await?;
    let _ = ip;
    tx.commit().await?;
    state.outbox_wake.notify_one();
    Ok(challenge)
}

/// Second half: the emailed code. The session keeps `aal1` (no second factor was shown) but is
/// stepped up, under a new token.
pub async fn with_email_code(
    state: &AppState,
    who: &UserSession,
    challenge: &str,
    code: &str,
) -> Result<BearerToken, ApiError> {
    let now = state.clock.now();
    factors::check_code_throttle(state, who.account_id, now).await?;
    let refused = |code: &'static str, detail: &str| ApiError::CodeRefused(Reason::new(code, detail));
    let challenge = BearerToken::parse(challenge)
        .ok_or_else(|| refused("challenge-unknown", "Start the step-up again."))?;
    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    let c = tx
        .challenge_by_hash(&challenge.hash())
        .await?
        .filter(|c| c.account_id == account.id && c.session_id == Some(who.session_id))
        .ok_or_else(|| refused("challenge-unknown", "Start the step-up again."))?;
    let attempts = u32::try_from(c.attempts).unwrap_or(u32::MAX);
    if let Err(r) = check_challenge(
        c.purpose,
        ChallengePurpose::StepUpEmail,
        c.expires_at,
        c.used_at.is_some(),
        attempts,
        now,
    ) {
        return Err(refused("challenge-expired", &format!("{r}; start the step-up again.")));
    }
    let expected =
        c.code_hash.ok_or_else(|| ApiError::Internal("step-up challenge without a code".into()))?;
    if !ct_eq(expected.as_bytes(), factors::challenge_code_hash(&challenge, code).as_bytes()) {
        tx.count_challenge_attempt(c.id).await?;
        factors::count_wrong_code(&mut *tx, account.id, now).await?;
        tx.commit().await?;
        return Err(refused("code-wrong", "That code is not right."));
    }
    if !tx.use_challenge(c.id, now).await? {
        return Err(refused("challenge-used", "That code was already used."));
    }
    let token = reissue(&mut *tx, who, &account.security_stamp, who.aal, now).await?;
    let actor = Actor::User { account: account.id, session: Some(who.session_id) };
    audit(
        &mut *tx,
        Chain::Account(account.id),
        now,
        actor,
        AuditEvent::SteppedUp { method: "password_and_email_code".into() },
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}
