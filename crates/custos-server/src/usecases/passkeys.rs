//! Passkeys (WebAuthn, checked by webauthn-rs): adding one, listing, renaming and removing them,
//! and using one — as the second factor after a password, to step up, and to sign in alone.
//!
//! Every ceremony is two requests: the first hands out options and stores the ceremony state
//! (`passkey_ceremonies`, single use, five minutes), the second brings the authenticator's
//! answer. All three kinds of authentication use webauthn-rs's discoverable-credential state and
//! are finished against the passkey *as stored now*, read under the account lock: a signature
//! counter that went backwards since the options were handed out is still caught.
//!
//! The WebAuthn user handle is the account id: opaque, stable, and no personal data.

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use custos_core::audit::{Actor, AuditEvent, Chain};
use custos_core::credential_matrix::CredentialEvent;
use custos_core::crypto::BearerToken;
use custos_core::ids::{AccountId, CeremonyId, ChallengeId, PasskeyId, SessionId};
use custos_core::passkey::{CeremonyPurpose, PasskeyName, check_ceremony};
use custos_core::session::Aal;
use custos_core::step_up::Requirement;
use custos_core::{Reason, Timestamp};
use custos_store::{CeremonyRecord, PasskeyRecord, Tx};
use serde_json::{Value, json};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Webauthn, WebauthnBuilder, WebauthnError,
};

use super::credential_change::{self, Acting};
use super::{audit, factors, step_up};
use crate::config::Config;
use crate::error::ApiError;
use crate::extract::UserSession;
use crate::state::AppState;

/// More than anyone needs; bounds what one account can make the server verify against.
pub const MAX_PER_ACCOUNT: usize = 20;

/// The relying party: RP id = the public URL's host, origin = its origin (exactly: no other
/// port, no subdomain). `None` when the host is an IP address, which WebAuthn does not allow.
pub fn relying_party(config: &Config) -> Option<Webauthn> {
    let host = config.public_url.domain()?;
    let origin = Url::parse(&config.public_origin()).ok()?;
    let built = WebauthnBuilder::new(host, &origin)
        .and_then(|b| b.rp_name("custos").timeout(CeremonyPurpose::Register.ttl()).build());
    match built {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, "passkeys are off: the public URL cannot be a WebAuthn relying party");
            None
        }
    }
}

pub(super) fn rp(state: &AppState) -> Result<&Webauthn, ApiError> {
    state.webauthn.as_ref().ok_or_else(|| {
        ApiError::Conflict(Reason::new(
            "passkeys-unavailable",
            "Passkeys need custos to be served under a host name (CUSTOS_PUBLIC_URL), not an IP address.",
        ))
    })
}

fn internal(what: &'static str) -> impl Fn(serde_json::Error) -> ApiError {
    move |e| ApiError::Internal(format!("{what}: {e}"))
}

/// A refused authenticator answer, in words. webauthn-rs checks the challenge, the origin, the
/// RP id hash, user verification, the signature and the signature counter (WebAuthn §7.1, §7.2).
fn refused(e: &WebauthnError) -> Reason {
    tracing::info!(error = %e, "passkey answer refused");
    let detail = match e {
        WebauthnError::MismatchedChallenge => "The passkey answered a different request. Start again.",
        WebauthnError::InvalidRPOrigin => "The passkey was used on another site than this one.",
        WebauthnError::InvalidRPIDHash => "The passkey belongs to another site.",
        WebauthnError::CredentialPossibleCompromise => {
            "This passkey's use counter went backwards, so it may have been copied. It was not accepted: \
             use another method, and remove the passkey if you did not copy it."
        }
        WebauthnError::UserNotVerified | WebauthnError::UserNotPresent => {
            "The passkey did not confirm it was you (PIN, fingerprint or face). Try again."
        }
        WebauthnError::CredentialNotFound => "That passkey is not registered to this account.",
        WebauthnError::InvalidClientDataType => "The answer is for another kind of request.",
        _ => "The passkey's answer could not be verified.",
    };
    Reason::new("webauthn-refused", detail)
}

pub(super) fn not_registered() -> Reason {
    Reason::new("webauthn-refused", "That passkey is not registered here.")
}

/// Options for the browser, and the handle to send back with the answer.
pub struct Ceremony {
    pub handle: BearerToken,
    /// `{"publicKey": …}`: `publicKey` goes to `PublicKeyCredential.parseCreationOptionsFromJSON`
    /// (registration) or `parseRequestOptionsFromJSON` (authentication).
    pub options: Value,
    pub expires_at: Timestamp,
}

/// What a ceremony is bound to; it can only be answered in the same context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Binding {
    pub(super) account: Option<AccountId>,
    pub(super) session: Option<SessionId>,
    pub(super) challenge: Option<ChallengeId>,
}

impl Binding {
    fn session(who: &UserSession) -> Self {
        Self { account: Some(who.account_id), session: Some(who.session_id), challenge: None }
    }
}

pub(super) async fn open_ceremony(
    tx: &mut dyn Tx,
    purpose: CeremonyPurpose,
    binding: Binding,
    state: String,
    options: Value,
    now: Timestamp,
) -> Result<Ceremony, ApiError> {
    let handle = BearerToken::generate();
    let expires_at = now.plus(purpose.ttl());
    tx.insert_ceremony(&CeremonyRecord {
        id: CeremonyId::new(),
        token_hash: handle.hash(),
        purpose,
        account_id: binding.account,
        session_id: binding.session,
        challenge_id: binding.challenge,
        state,
        created_at: now,
        expires_at,
        used_at: None,
    })
    .await?;
    Ok(Ceremony { handle, options, expires_at })
}

/// Finds the ceremony for `handle` and spends it. `Ok(Err(_))` is a refusal; nothing was spent
/// unless the ceremony was live and bound as expected (then it is spent whatever follows).
pub(super) async fn take_ceremony(
    tx: &mut dyn Tx,
    handle: &str,
    purpose: CeremonyPurpose,
    binding: Binding,
    now: Timestamp,
) -> Result<Result<CeremonyRecord, Reason>, ApiError> {
    let unknown = || Reason::new("ceremony-unknown", "This passkey request is not valid. Start again.");
    let Some(handle) = BearerToken::parse(handle) else { return Ok(Err(unknown())) };
    let Some(c) = tx.ceremony_by_hash(&handle.hash()).await? else { return Ok(Err(unknown())) };
    let bound = Binding { account: c.account_id, session: c.session_id, challenge: c.challenge_id };
    if bound != binding {
        return Ok(Err(unknown()));
    }
    if let Err(r) = check_ceremony(c.purpose, purpose, c.expires_at, c.used_at.is_some(), now) {
        return Ok(Err(Reason::new("ceremony-expired", format!("{r}; start again."))));
    }
    if !tx.use_ceremony(c.id, now).await? {
        return Ok(Err(Reason::new("ceremony-expired", "This passkey request was already answered.")));
    }
    Ok(Ok(c))
}

fn stored(p: &PasskeyRecord) -> Result<Passkey, ApiError> {
    serde_json::from_str(&p.passkey).map_err(internal("stored passkey"))
}

/// Authentication options. webauthn-rs's discoverable state carries no credential list (the
/// answer is checked against the passkey stored now); `allow` lists the account's credentials
/// in the options when the account is known, so non-discoverable credentials work too. The
/// modal dialog is ours to choose in the browser, so no `mediation` is suggested.
pub(super) fn request_options(rp: &Webauthn, allow: &[PasskeyRecord]) -> Result<(Value, String), ApiError> {
    let (rcr, auth) =
        rp.start_discoverable_authentication().map_err(|e| ApiError::Internal(format!("webauthn: {e}")))?;
    let mut options = serde_json::to_value(&rcr).map_err(internal("request options"))?;
    if let Some(o) = options.as_object_mut() {
        o.remove("mediation");
    }
    if !allow.is_empty() {
        options["publicKey"]["allowCredentials"] = allow
            .iter()
            .map(|p| json!({"type": "public-key", "id": URL_SAFE_NO_PAD.encode(&p.credential_id)}))
            .collect();
    }
    Ok((options, serde_json::to_string(&auth).map_err(internal("authentication state"))?))
}

/// Checks an assertion against the passkey stored now (under the account lock) and, when it
/// holds, stores the passkey's new counter and last use. `account` restricts which account the
/// credential must belong to.
pub(super) async fn verify_assertion(
    tx: &mut dyn Tx,
    rp: &Webauthn,
    account: AccountId,
    ceremony: &CeremonyRecord,
    credential: &PublicKeyCredential,
    now: Timestamp,
) -> Result<Result<PasskeyRecord, Reason>, ApiError> {
    let Some(record) = tx
        .passkey_by_credential_id(credential.get_credential_id())
        .await?
        .filter(|p| p.account_id == account)
    else {
        return Ok(Err(not_registered()));
    };
    let auth: DiscoverableAuthentication =
        serde_json::from_str(&ceremony.state).map_err(internal("authentication state"))?;
    let mut passkey = stored(&record)?;
    match rp.finish_discoverable_authentication_v2(credential, auth, &passkey) {
        Err(e) => Ok(Err(refused(&e))),
        Ok(result) => {
            passkey.update_credential(&result);
            let json = serde_json::to_string(&passkey).map_err(internal("passkey"))?;
            tx.record_passkey_use(record.id, &json, now).await?;
            Ok(Ok(record))
        }
    }
}

/// A passkey as its holder sees it.
#[derive(Debug, Clone)]
pub struct PasskeyInfo {
    pub id: PasskeyId,
    pub name: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

impl From<&PasskeyRecord> for PasskeyInfo {
    fn from(p: &PasskeyRecord) -> Self {
        Self { id: p.id, name: p.name.clone(), created_at: p.created_at, last_used_at: p.last_used_at }
    }
}

pub async fn list(state: &AppState, who: &UserSession) -> Result<Vec<PasskeyInfo>, ApiError> {
    Ok(state.store.passkeys(who.account_id).await?.iter().map(PasskeyInfo::from).collect())
}

fn parse_name(name: &str) -> Result<PasskeyName, ApiError> {
    PasskeyName::parse(name)
        .map_err(|e| ApiError::Validation(vec![Reason::new("passkey-name-invalid", e.to_string())]))
}

/// Starts adding a passkey (needs a recent step-up). Credentials already on the account are
/// excluded, so one authenticator is not registered twice.
pub async fn start_registration(state: &AppState, who: &UserSession) -> Result<Ceremony, ApiError> {
    let rp = rp(state)?;
    step_up::require(state, who, Requirement::RecentStepUp).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    let existing = tx.passkeys_of(account.id).await?;
    if existing.len() >= MAX_PER_ACCOUNT {
        return Err(ApiError::Conflict(Reason::new(
            "too-many-passkeys",
            format!("An account can have at most {MAX_PER_ACCOUNT} passkeys. Remove one you no longer use."),
        )));
    }
    let exclude: Vec<_> = existing.iter().map(|p| p.credential_id.clone()).collect();
    let (ccr, registration) = rp
        .start_passkey_registration(
            account.id.as_uuid(),
            &account.email,
            &account.email,
            (!exclude.is_empty()).then_some(exclude),
        )
        .map_err(|e| ApiError::Internal(format!("webauthn: {e}")))?;
    let mut options = serde_json::to_value(&ccr).map_err(internal("creation options"))?;
    // A discoverable credential, so the passkey can also sign in without a password. Browsers
    // treat "preferred" as "required" where they can, and still accept security keys that can't.
    if let Some(sel) = options["publicKey"]["authenticatorSelection"].as_object_mut() {
        sel.insert("residentKey".into(), json!("preferred"));
    }
    let reg_state = serde_json::to_string(&registration).map_err(internal("registration state"))?;
    let ceremony =
        open_ceremony(&mut *tx, CeremonyPurpose::Register, Binding::session(who), reg_state, options, now)
            .await?;
    tx.commit().await?;
    Ok(ceremony)
}

pub struct PasskeyAdded {
    pub passkey: PasskeyInfo,
    /// The session continues at `aal2` under this new token.
    pub session_token: BearerToken,
    /// Shown once, when the account had none.
    pub recovery_codes: Option<Vec<String>>,
}

/// Finishes adding a passkey with the authenticator's answer. Like confirming an authenticator
/// app, it proves the new factor: the session becomes `aal2` (with a new token).
pub async fn finish_registration(
    state: &AppState,
    who: &UserSession,
    handle: &str,
    credential: &RegisterPublicKeyCredential,
    name: Option<&str>,
    ip: Option<IpAddr>,
) -> Result<PasskeyAdded, ApiError> {
    let rp = rp(state)?;
    let name = name.filter(|n| !n.trim().is_empty()).map(parse_name).transpose()?;
    step_up::require(state, who, Requirement::RecentStepUp).await?;
    let now = state.clock.now();
    factors::check_code_throttle(state, who.account_id, now).await?;
    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    let ceremony =
        match take_ceremony(&mut *tx, handle, CeremonyPurpose::Register, Binding::session(who), now).await? {
            Ok(c) => c,
            Err(reason) => return Err(ApiError::CodeRefused(reason)),
        };
    let registration: PasskeyRegistration =
        serde_json::from_str(&ceremony.state).map_err(internal("registration state"))?;
    let passkey = match rp.finish_passkey_registration(credential, &registration) {
        Ok(p) => p,
        Err(e) => {
            factors::count_wrong_code(&mut *tx, account.id, now).await?;
            tx.commit().await?;
            return Err(ApiError::CodeRefused(refused(&e)));
        }
    };
    // webauthn-rs: "You MUST assert that the registered CredentialID has not previously been
    // registered to any other account."
    if tx.passkey_by_credential_id(passkey.cred_id()).await?.is_some() {
        tx.commit().await?;
        return Err(ApiError::Conflict(Reason::new(
            "passkey-already-registered",
            "This passkey is registered already.",
        )));
    }
    let existing = tx.passkeys_of(account.id).await?.len();
    let name = name.unwrap_or_else(|| PasskeyName::default_for(existing));
    let record = PasskeyRecord {
        id: PasskeyId::new(),
        account_id: account.id,
        credential_id: passkey.cred_id().clone(),
        passkey: serde_json::to_string(&passkey).map_err(internal("passkey"))?,
        name: name.as_str().to_owned(),
        created_at: now,
        last_used_at: None,
    };
    tx.insert_passkey(&record).await?;
    let recovery_codes = if tx.unused_recovery_codes(account.id).await? == 0 {
        Some(factors::new_recovery_codes(&mut *tx, account.id, now).await?)
    } else {
        None
    };
    let actor = Actor::User { account: account.id, session: Some(who.session_id) };
    let event = AuditEvent::PasskeyAdded { name: record.name.clone() };
    audit(&mut *tx, Chain::Account(account.id), now, actor, event).await?;
    credential_change::apply(
        &mut *tx,
        state,
        &account,
        CredentialEvent::PasskeyAdded,
        Some(factors::acting(who)),
        None,
        ip,
        now,
    )
    .await?;
    let session_token = step_up::reissue(&mut *tx, who, &account.security_stamp, Aal::Aal2, now).await?;
    tx.commit().await?;
    state.outbox_wake.notify_one();
    Ok(PasskeyAdded { passkey: PasskeyInfo::from(&record), session_token, recovery_codes })
}

/// Renames a passkey. Changes no credential, so no step-up; it is still on the record.
pub async fn rename(
    state: &AppState,
    who: &UserSession,
    id: PasskeyId,
    name: &str,
) -> Result<PasskeyInfo, ApiError> {
    let name = parse_name(name)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    let mut record =
        tx.passkeys_of(account.id).await?.into_iter().find(|p| p.id == id).ok_or(ApiError::NotFound)?;
    if record.name != name.as_str() {
        tx.rename_passkey(account.id, id, name.as_str()).await?;
        let actor = Actor::User { account: account.id, session: Some(who.session_id) };
        let event = AuditEvent::PasskeyRenamed { from: record.name.clone(), to: name.as_str().to_owned() };
        audit(&mut *tx, Chain::Account(account.id), now, actor, event).await?;
        record.name = name.as_str().to_owned();
    }
    tx.commit().await?;
    Ok(PasskeyInfo::from(&record))
}

/// Removes a passkey (needs a recent step-up). Loosening: the matrix ends other sessions and
/// locks withdrawals. The last second factor takes its recovery codes with it, and the session
/// drops to `aal1`. Returns the session's new token.
pub async fn remove(
    state: &AppState,
    who: &UserSession,
    id: PasskeyId,
    ip: Option<IpAddr>,
) -> Result<BearerToken, ApiError> {
    step_up::require(state, who, Requirement::RecentStepUp).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    let record =
        tx.passkeys_of(account.id).await?.into_iter().find(|p| p.id == id).ok_or(ApiError::NotFound)?;
    if !tx.delete_passkey(account.id, id).await? {
        return Err(ApiError::NotFound);
    }
    let factor_left = factors::has_second_factor(&mut *tx, &account).await?;
    if !factor_left {
        tx.replace_recovery_codes(account.id, &[], now).await?;
    }
    let actor = Actor::User { account: account.id, session: Some(who.session_id) };
    audit(&mut *tx, Chain::Account(account.id), now, actor, AuditEvent::PasskeyRemoved { name: record.name })
        .await?;
    let acting = factors::acting(who);
    let acting = if factor_left { acting } else { Acting { aal: Aal::Aal1, ..acting } };
    let applied = credential_change::apply(
        &mut *tx,
        state,
        &account,
        CredentialEvent::PasskeyRemoved,
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

/// Starts a step-up with a passkey.
pub async fn start_step_up(state: &AppState, who: &UserSession) -> Result<Ceremony, ApiError> {
    let rp = rp(state)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    let passkeys = tx.passkeys_of(account.id).await?;
    if passkeys.is_empty() {
        return Err(ApiError::Conflict(Reason::new("no-passkey", "This account has no passkey.")));
    }
    let (options, auth) = request_options(rp, &passkeys)?;
    let ceremony =
        open_ceremony(&mut *tx, CeremonyPurpose::StepUp, Binding::session(who), auth, options, now).await?;
    tx.commit().await?;
    Ok(ceremony)
}

/// Steps up with a passkey; the session becomes `aal2` under a new token.
pub async fn finish_step_up(
    state: &AppState,
    who: &UserSession,
    handle: &str,
    credential: &PublicKeyCredential,
) -> Result<BearerToken, ApiError> {
    let rp = rp(state)?;
    let now = state.clock.now();
    factors::check_code_throttle(state, who.account_id, now).await?;
    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    let ceremony =
        match take_ceremony(&mut *tx, handle, CeremonyPurpose::StepUp, Binding::session(who), now).await? {
            Ok(c) => c,
            Err(reason) => return Err(ApiError::CodeRefused(reason)),
        };
    if let Err(reason) = verify_assertion(&mut *tx, rp, account.id, &ceremony, credential, now).await? {
        factors::count_wrong_code(&mut *tx, account.id, now).await?;
        tx.commit().await?;
        return Err(ApiError::CodeRefused(reason));
    }
    let token = step_up::reissue(&mut *tx, who, &account.security_stamp, Aal::Aal2, now).await?;
    let actor = Actor::User { account: account.id, session: Some(who.session_id) };
    let event = AuditEvent::SteppedUp { method: "passkey".into() };
    audit(&mut *tx, Chain::Account(account.id), now, actor, event).await?;
    tx.commit().await?;
    Ok(token)
}

pub use super::passkey_sign_in::{
    finish_login_second_factor, finish_sign_in, start_login_second_factor, start_sign_in,
};
