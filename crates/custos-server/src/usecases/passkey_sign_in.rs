//! Signing in with a passkey: as the second factor after a password (answering the login
//! challenge), or alone (a discoverable credential names its account). Either way the session
//! starts at `aal2`: a passkey with user verification is something you have plus something you
//! know or are.

use custos_core::audit::{Actor, AuditEvent, Chain};
use custos_core::challenge::{ChallengePurpose, check_challenge};
use custos_core::crypto::BearerToken;
use custos_core::ids::AccountId;
use custos_core::login::{AccountStatus, LoginOutcome};
use custos_core::passkey::CeremonyPurpose;
use custos_core::session::Aal;
use custos_core::throttle::ThrottleRule;
use custos_core::{Reason, Timestamp};
use custos_store::{ChallengeRecord, Tx};
use webauthn_rs::prelude::{PublicKeyCredential, Uuid};

use super::login::{self, LoginGranted};
use super::passkeys::{
    Binding, Ceremony, not_registered, open_ceremony, request_options, rp, take_ceremony, verify_assertion,
};
use super::{audit, factors};
use crate::error::ApiError;
use crate::extract::Client;
use crate::state::AppState;

fn challenge_unknown() -> ApiError {
    ApiError::CodeRefused(Reason::new(
        "challenge-unknown",
        "Sign in again: this sign-in attempt is not valid.",
    ))
}

/// The login challenge `challenge` names, if it may still be answered.
async fn live_challenge(
    tx: &mut dyn Tx,
    challenge: &str,
    now: Timestamp,
) -> Result<ChallengeRecord, ApiError> {
    let token = BearerToken::parse(challenge).ok_or_else(challenge_unknown)?;
    let c = tx.challenge_by_hash(&token.hash()).await?.ok_or_else(challenge_unknown)?;
    let attempts = u32::try_from(c.attempts).unwrap_or(u32::MAX);
    check_challenge(
        c.purpose,
        ChallengePurpose::LoginSecondFactor,
        c.expires_at,
        c.used_at.is_some(),
        attempts,
        now,
    )
    .map_err(|r| ApiError::CodeRefused(Reason::new("challenge-expired", format!("{r}; sign in again."))))?;
    Ok(c)
}

fn login_binding(c: &ChallengeRecord) -> Binding {
    Binding { account: Some(c.account_id), session: None, challenge: Some(c.id) }
}

/// After a correct password: options for answering the login challenge with a passkey.
pub async fn start_login_second_factor(state: &AppState, challenge: &str) -> Result<Ceremony, ApiError> {
    let rp = rp(state)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let c = live_challenge(&mut *tx, challenge, now).await?;
    let passkeys = tx.passkeys_of(c.account_id).await?;
    if passkeys.is_empty() {
        return Err(ApiError::CodeRefused(Reason::new(
            "no-passkey",
            "This account has no passkey: use another method.",
        )));
    }
    let (options, auth) = request_options(rp, &passkeys)?;
    let purpose = CeremonyPurpose::LoginSecondFactor;
    let ceremony = open_ceremony(&mut *tx, purpose, login_binding(&c), auth, options, now).await?;
    tx.commit().await?;
    Ok(ceremony)
}

/// Completes a login with a passkey as the second factor. A refused answer counts against the
/// account's code throttle and the challenge's attempts, and is recorded as a login event.
pub async fn finish_login_second_factor(
    state: &AppState,
    challenge: &str,
    handle: &str,
    credential: &PublicKeyCredential,
    client: &Client,
) -> Result<LoginGranted, ApiError> {
    let rp = rp(state)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let c = live_challenge(&mut *tx, challenge, now).await?;
    drop(tx);
    factors::check_code_throttle(state, c.account_id, now).await?;
    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(c.account_id).await?.ok_or_else(challenge_unknown)?;
    let purpose = CeremonyPurpose::LoginSecondFactor;
    let ceremony = match take_ceremony(&mut *tx, handle, purpose, login_binding(&c), now).await? {
        Ok(ceremony) => ceremony,
        Err(reason) => return Err(ApiError::CodeRefused(reason)),
    };
    if let Err(reason) = verify_assertion(&mut *tx, rp, account.id, &ceremony, credential, now).await? {
        tx.count_challenge_attempt(c.id).await?;
        factors::count_wrong_code(&mut *tx, account.id, now).await?;
        login::insert_event(&mut *tx, Some(&account), LoginOutcome::SecondFactorFailed, None, client, now)
            .await?;
        tx.commit().await?;
        return Err(ApiError::CodeRefused(reason));
    }
    if !tx.use_challenge(c.id, now).await? {
        return Err(challenge_unknown());
    }
    if account.status != AccountStatus::Active {
        return Err(ApiError::AccountInactive);
    }
    open_session(tx, state, &account, client, now).await
}

async fn check_ip_throttle(state: &AppState, client: &Client, now: Timestamp) -> Result<(), ApiError> {
    let key = login::ip_key(client.ip);
    match super::throttle_wait(state, &key, ThrottleRule::LOGIN_PER_IP, now).await? {
        Some(retry_after) => Err(ApiError::Throttled { retry_after }),
        None => Ok(()),
    }
}

/// Options for signing in with a passkey alone. Nobody is known yet, so the options name no
/// credential and the ceremony is bound to nothing; expired ceremonies are swept out here.
pub async fn start_sign_in(state: &AppState, client: &Client) -> Result<Ceremony, ApiError> {
    let rp = rp(state)?;
    let now = state.clock.now();
    check_ip_throttle(state, client, now).await?;
    let (options, auth) = request_options(rp, &[])?;
    let mut tx = state.store.begin().await?;
    tx.purge_ceremonies(now).await?;
    let ceremony =
        open_ceremony(&mut *tx, CeremonyPurpose::SignIn, Binding::default(), auth, options, now).await?;
    tx.commit().await?;
    Ok(ceremony)
}

/// A refused passkey sign-in: counted against the address (like a wrong password) and, when the
/// credential named an account, against that account's code throttle, and recorded there.
/// The `aal2` session a passkey earns, opened in `tx`, which then commits.
async fn open_session(
    mut tx: Box<dyn Tx>,
    state: &AppState,
    account: &custos_store::AccountRecord,
    client: &Client,
    now: Timestamp,
) -> Result<LoginGranted, ApiError> {
    let device = login::DeviceLookup::NotRead;
    let granted =
        login::start_session(&mut *tx, state, account, client, Aal::Aal2, None, device, now).await?;
    tx.clear_throttle(&login::account_key(&account.email_key)).await?;
    tx.commit().await?;
    granted.committed(state);
    Ok(granted)
}

async fn refuse_sign_in(
    mut tx: Box<dyn Tx>,
    account: Option<&custos_store::AccountRecord>,
    client: &Client,
    reason: Reason,
    now: Timestamp,
) -> Result<LoginGranted, ApiError> {
    tx.record_failure(&login::ip_key(client.ip), now, ThrottleRule::LOGIN_PER_IP.window).await?;
    if let Some(a) = account {
        factors::count_wrong_code(&mut *tx, a.id, now).await?;
        login::insert_event(&mut *tx, Some(a), LoginOutcome::PasskeyRefused, None, client, now).await?;
        let event = AuditEvent::LoginFailed {
            ip: Some(client.ip),
            reason: LoginOutcome::PasskeyRefused.as_str().into(),
        };
        audit(&mut *tx, Chain::Account(a.id), now, Actor::Anonymous { ip: Some(client.ip) }, event).await?;
    }
    tx.commit().await?;
    Err(ApiError::CodeRefused(reason))
}

/// Signs in with a passkey alone. The user handle the authenticator returns must name the
/// account the credential is registered to (WebAuthn §7.2 step 6). Account status and email
/// verification are checked only after the passkey's answer holds, as a password login does.
pub async fn finish_sign_in(
    state: &AppState,
    handle: &str,
    credential: &PublicKeyCredential,
    client: &Client,
) -> Result<LoginGranted, ApiError> {
    let rp = rp(state)?;
    let now = state.clock.now();
    check_ip_throttle(state, client, now).await?;
    let mut tx = state.store.begin().await?;
    let ceremony =
        match take_ceremony(&mut *tx, handle, CeremonyPurpose::SignIn, Binding::default(), now).await? {
            Ok(c) => c,
            Err(reason) => return Err(ApiError::CodeRefused(reason)),
        };
    let user =
        credential.get_user_unique_id().and_then(|b| Uuid::from_slice(b).ok()).map(AccountId::from_uuid);
    let owner = tx.passkey_by_credential_id(credential.get_credential_id()).await?.map(|p| p.account_id);
    let account_id = match (user, owner) {
        (Some(u), Some(o)) if u == o => o,
        _ => return refuse_sign_in(tx, None, client, not_registered(), now).await,
    };
    let Some(account) = tx.lock_account(account_id).await? else {
        return refuse_sign_in(tx, None, client, not_registered(), now).await;
    };
    factors::check_code_throttle(state, account.id, now).await?;
    if let Err(reason) = verify_assertion(&mut *tx, rp, account.id, &ceremony, credential, now).await? {
        return refuse_sign_in(tx, Some(&account), client, reason, now).await;
    }
    if account.email_verified_at.is_none() {
        login::insert_event(&mut *tx, Some(&account), LoginOutcome::EmailNotVerified, None, client, now)
            .await?;
        tx.commit().await?;
        return Err(ApiError::EmailNotVerified);
    }
    if account.status != AccountStatus::Active {
        login::insert_event(&mut *tx, Some(&account), LoginOutcome::AccountInactive, None, client, now)
            .await?;
        tx.commit().await?;
        return Err(ApiError::AccountInactive);
    }
    open_session(tx, state, &account, client, now).await
}
