//! Second factors: TOTP enrolment and removal, recovery codes, and verifying a code — the one
//! check shared by second-factor login and step-up.

use std::time::Duration;

use custos_core::audit::{Actor, AuditEvent, Chain};
use custos_core::credential_matrix::CredentialEvent;
use custos_core::crypto::{BearerToken, KeyPurpose, TokenHash, ct_eq, sha256};
use custos_core::ids::AccountId;
use custos_core::session::Aal;
use custos_core::step_up::Requirement;
use custos_core::throttle::ThrottleRule;
use custos_core::{Reason, Timestamp, recovery_code, totp};
use custos_store::{AccountRecord, ChallengeRecord, Reissue, StoreError, Tx};

use super::credential_change::{self, Acting};
use super::{audit, step_up};
use crate::error::ApiError;
use crate::extract::UserSession;
use crate::state::AppState;

pub const RECOVERY_CODES: usize = 10;

/// Ways to prove a second factor with a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Totp,
    RecoveryCode,
    /// A texted code; it belongs to the challenge it was sent for.
    Sms,
}

impl Method {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "totp" => Some(Self::Totp),
            "recovery_code" => Some(Self::RecoveryCode),
            "sms" => Some(Self::Sms),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::RecoveryCode => "recovery_code",
            Self::Sms => "sms",
        }
    }
}

/// A code sent by email or SMS is bound to its challenge: only `SHA-256(challenge ‖ code)` is
/// stored, so the database alone cannot be searched for a six-digit code.
pub fn challenge_code_hash(challenge: &BearerToken, code: &str) -> TokenHash {
    TokenHash(sha256(format!("{}:{}", challenge.expose(), code.trim()).as_bytes()))
}

pub fn parse_method(s: &str) -> Result<Method, ApiError> {
    Method::parse(s).ok_or_else(|| {
        ApiError::Validation(vec![Reason::new("method-unknown", "Use one of: totp, recovery_code, sms.")])
    })
}

fn code_key(account: AccountId) -> String {
    format!("codes:account:{account}")
}

/// Refuses at once while the account's wrong-code throttle is closed.
pub async fn check_code_throttle(
    state: &AppState,
    account: AccountId,
    now: Timestamp,
) -> Result<(), ApiError> {
    match super::throttle_wait(state, &code_key(account), ThrottleRule::CODES_PER_ACCOUNT, now).await? {
        Some(retry_after) => Err(ApiError::Throttled { retry_after }),
        None => Ok(()),
    }
}

/// Counts a wrong code against the account's throttle (inside the caller's transaction, which
/// the caller commits before answering, so the count survives the refusal).
pub async fn count_wrong_code(tx: &mut dyn Tx, account: AccountId, now: Timestamp) -> Result<(), ApiError> {
    tx.record_failure(&code_key(account), now, ThrottleRule::CODES_PER_ACCOUNT.window).await?;
    Ok(())
}

fn seed_context(account: AccountId) -> Vec<u8> {
    account.as_uuid().as_bytes().to_vec()
}

pub(crate) async fn new_recovery_codes(
    tx: &mut dyn Tx,
    account: AccountId,
    now: Timestamp,
) -> Result<Vec<String>, ApiError> {
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code::generate()).collect();
    let hashes: Vec<TokenHash> = codes.iter().map(|c| recovery_code::hash(c)).collect();
    tx.replace_recovery_codes(account, &hashes, now).await?;
    Ok(codes)
}

/// Verifies a code for `account` in `tx`. `Ok(Err(reason))` is a refusal the caller must record
/// (count it, commit) before answering; `Err` is a failure of the machinery.
pub async fn verify_code(
    tx: &mut dyn Tx,
    state: &AppState,
    account: AccountId,
    method: Method,
    code: &str,
    challenge: Option<(&BearerToken, &ChallengeRecord)>,
    now: Timestamp,
) -> Result<Result<(), Reason>, ApiError> {
    if code.len() > 64 {
        return Ok(Err(Reason::new("code-malformed", "That is not a code.")));
    }
    match method {
        Method::Totp => {
            let Some(factor) = tx.totp_factor(account).await?.filter(|f| f.confirmed_at.is_some()) else {
                return Ok(Err(Reason::new("factor-not-enrolled", "No authenticator app is enrolled.")));
            };
            let seed = state
                .config
                .keys
                .open(KeyPurpose::TotpSeed, &seed_context(account), &factor.seed_sealed)
                .map_err(|e| ApiError::Internal(format!("TOTP seed: {e}")))?;
            let last = factor.last_step.and_then(|s| u64::try_from(s).ok());
            match totp::verify(&seed, code, now, last) {
                Ok(step) => {
                    // The conditional update is the replay guard even against a concurrent request.
                    if tx.accept_totp_step(account, i64::try_from(step).unwrap_or(i64::MAX)).await? {
                        Ok(Ok(()))
                    } else {
                        Ok(Err(Reason::new(
                            "code-replayed",
                            "That code was already used; wait for the next one.",
                        )))
                    }
                }
                Err(totp::TotpRefusal::Malformed) => {
                    Ok(Err(Reason::new("code-malformed", "A code is six digits.")))
                }
                Err(totp::TotpRefusal::Wrong) => Ok(Err(Reason::new(
                    "code-wrong",
                    "That code is not right. Check your device's clock, and use the newest code.",
                ))),
                Err(totp::TotpRefusal::Replayed) => Ok(Err(Reason::new(
                    "code-replayed",
                    "That code was already used; wait for the next one.",
                ))),
            }
        }
        Method::Sms => {
            let Some((token, c)) = challenge.filter(|(_, c)| c.account_id == account) else {
                return Ok(Err(Reason::new("challenge-missing", "Ask for a texted code first.")));
            };
            let Some(expected) = c.code_hash else {
                return Ok(Err(Reason::new("code-not-sent", "Ask for a texted code first.")));
            };
            if ct_eq(expected.as_bytes(), challenge_code_hash(token, code).as_bytes()) {
                Ok(Ok(()))
            } else {
                Ok(Err(Reason::new("code-wrong", "That code is not right.")))
            }
        }
        Method::RecoveryCode => {
            if tx.use_recovery_code(account, &recovery_code::hash(code), now).await? {
                Ok(Ok(()))
            } else {
                Ok(Err(Reason::new("code-wrong", "That recovery code is not valid or was already used.")))
            }
        }
    }
}

pub struct TotpEnrolment {
    pub otpauth_uri: String,
    pub secret: String,
}

/// Starts enrolling an authenticator app: a new seed, sealed at rest, waiting for its first code.
pub async fn begin_totp(state: &AppState, who: &UserSession) -> Result<TotpEnrolment, ApiError> {
    step_up::require(state, who, Requirement::RecentStepUp).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    let seed = totp::new_seed();
    let sealed = state.config.keys.seal(KeyPurpose::TotpSeed, &seed_context(account.id), &seed);
    match tx.begin_totp_enrolment(account.id, &sealed, now).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::Conflict(Reason::new(
                "totp-already-enrolled",
                "An authenticator app is already enrolled. Remove it first to enrol another.",
            )));
        }
        Err(e) => return Err(e.into()),
    }
    tx.commit().await?;
    let label = format!("{} ({})", account.email, account.uid);
    Ok(TotpEnrolment {
        otpauth_uri: totp::otpauth_uri(&seed, &label, "custos")
            .ok_or_else(|| ApiError::Internal("otpauth URI".into()))?,
        secret: totp::seed_base32(&seed),
    })
}

pub struct TotpConfirmed {
    /// The session continues at `aal2` under this new token.
    pub session_token: BearerToken,
    /// Shown once, when the account had none.
    pub recovery_codes: Option<Vec<String>>,
}

/// Confirms an enrolment with its first code. The session becomes `aal2` (with a new token).
pub async fn confirm_totp(
    state: &AppState,
    who: &UserSession,
    code: &str,
    ip: Option<std::net::IpAddr>,
) -> Result<TotpConfirmed, ApiError> {
    let now = state.clock.now();
    check_code_throttle(state, who.account_id, now).await?;
    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    let Some(factor) = tx.totp_factor(account.id).await?.filter(|f| f.confirmed_at.is_none()) else {
        return Err(ApiError::Conflict(Reason::new(
            "no-enrolment-pending",
            "Start an enrolment first (POST /api/v1/security/totp).",
        )));
    };
    let seed = state
        .config
        .keys
        .open(KeyPurpose::TotpSeed, &seed_context(account.id), &factor.seed_sealed)
        .map_err(|e| ApiError::Internal(format!("TOTP seed: {e}")))?;
    let step = match totp::verify(&seed, code, now, None) {
        Ok(step) => step,
        Err(_) => {
            count_wrong_code(&mut *tx, account.id, now).await?;
            tx.commit().await?;
            return Err(ApiError::CodeRefused(Reason::new(
                "code-wrong",
                "That code is not right. Scan the code again or check your device's clock.",
            )));
        }
    };
    tx.confirm_totp(account.id, now, i64::try_from(step).unwrap_or(i64::MAX)).await?;
    let recovery_codes = if tx.unused_recovery_codes(account.id).await? == 0 {
        Some(new_recovery_codes(&mut *tx, account.id, now).await?)
    } else {
        None
    };
    let actor = Actor::User { account: account.id, session: Some(who.session_id) };
    audit(&mut *tx, Chain::Account(account.id), now, actor.clone(), AuditEvent::TotpEnabled).await?;
    if account.status == custos_core::login::AccountStatus::Recovering {
        // The new password was set through support's link (nobody can sign in otherwise) and the
        // second factor is new: recovery is complete. The withdrawal lock runs on.
        tx.set_account_status(account.id, custos_core::login::AccountStatus::Active).await?;
        audit(&mut *tx, Chain::Account(account.id), now, actor, AuditEvent::RecoveryCompleted).await?;
    }
    credential_change::apply(
        &mut *tx,
        state,
        &account,
        CredentialEvent::TotpEnabled,
        Some(acting(who)),
        None,
        ip,
        now,
    )
    .await?;
    let token = BearerToken::generate();
    let reissue = Reissue {
        token_hash: token.hash(),
        aal: Aal::Aal2,
        stepped_up_at: Some(now),
        stamp: account.security_stamp.clone(),
        issued_under: account.security_stamp.clone(),
    };
    if !tx.reissue_session(who.session_id, &reissue).await? {
        return Err(ApiError::Unauthenticated);
    }
    tx.commit().await?;
    state.outbox_wake.notify_one();
    Ok(TotpConfirmed { session_token: token, recovery_codes })
}

pub fn acting(who: &UserSession) -> Acting {
    Acting { session: who.session_id, aal: who.aal, stepped_up_at: who.stepped_up_at }
}

/// Whether the account (locked in `tx`) has a second factor, read inside the transaction.
pub(crate) async fn has_second_factor(tx: &mut dyn Tx, account: &AccountRecord) -> Result<bool, ApiError> {
    let totp = tx.totp_factor(account.id).await?.is_some_and(|f| f.confirmed_at.is_some());
    let sms = account.sms_enabled_at.is_some() && account.phone_verified_at.is_some();
    Ok(totp || sms || !tx.passkeys_of(account.id).await?.is_empty())
}

/// Removes the authenticator app (and, when it was the last factor, the recovery codes that back
/// it). Loosening: the matrix ends other sessions and locks withdrawals. Returns the session's
/// new token.
pub async fn remove_totp(
    state: &AppState,
    who: &UserSession,
    ip: Option<std::net::IpAddr>,
) -> Result<BearerToken, ApiError> {
    step_up::require(state, who, Requirement::RecentStepUp).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    if !tx.delete_totp(account.id).await? {
        return Err(ApiError::NotFound);
    }
    let factor_left = has_second_factor(&mut *tx, &account).await?;
    if !factor_left {
        tx.replace_recovery_codes(account.id, &[], now).await?;
    }
    let actor = Actor::User { account: account.id, session: Some(who.session_id) };
    audit(&mut *tx, Chain::Account(account.id), now, actor, AuditEvent::TotpDisabled).await?;
    // Without a factor the session can no longer claim aal2.
    let acting = if factor_left { acting(who) } else { Acting { aal: Aal::Aal1, ..acting(who) } };
    let applied = credential_change::apply(
        &mut *tx,
        state,
        &account,
        CredentialEvent::TotpDisabled,
        Some(acting),
        None,
        ip,
        now,
    )
    .await?;
    tx.commit().await?;
    state.outbox_wake.notify_one();
    applied.session_token.ok_or_else(|| ApiError::Internal("matrix did not reissue the session".into()))
}

/// A new set of ten recovery codes; the old set stops working. Shown once.
pub async fn regenerate_recovery_codes(
    state: &AppState,
    who: &UserSession,
    ip: Option<std::net::IpAddr>,
) -> Result<Vec<String>, ApiError> {
    step_up::require(state, who, Requirement::RecentStepUp).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    if !has_second_factor(&mut *tx, &account).await? {
        return Err(ApiError::Conflict(Reason::new(
            "no-second-factor",
            "Recovery codes back up a second factor; add a passkey or an authenticator app first.",
        )));
    }
    let codes = new_recovery_codes(&mut *tx, account.id, now).await?;
    let actor = Actor::User { account: account.id, session: Some(who.session_id) };
    audit(&mut *tx, Chain::Account(account.id), now, actor, AuditEvent::RecoveryCodesGenerated).await?;
    credential_change::apply(
        &mut *tx,
        state,
        &account,
        CredentialEvent::RecoveryCodesRegenerated,
        Some(acting(who)),
        None,
        ip,
        now,
    )
    .await?;
    tx.commit().await?;
    state.outbox_wake.notify_one();
    Ok(codes)
}

/// Used by the login flow: does this account need a second factor, and which methods can it use?
pub fn methods_of(f: &custos_store::SecondFactors) -> Vec<&'static str> {
    let mut methods = Vec::new();
    if f.totp {
        methods.push("totp");
    }
    if f.passkeys > 0 {
        methods.push("passkey");
    }
    if f.sms {
        methods.push("sms");
    }
    if f.any() && f.recovery_codes > 0 {
        methods.push("recovery_code");
    }
    methods
}

pub const CHALLENGE_TTL: Duration = Duration::from_secs(300);
