//! Staff accounts: created by an operator with a one-time setup link, enrolled with a password
//! *and* an authenticator app before first use, signed in with both at once (always aal2),
//! disabled with every session ended in the same transaction.
//!
//! Staff events go to the system chain with the staff member (or the operator) as actor; reads of
//! a customer's data go to that customer's chain ([`crate::usecases::support`]).

use std::net::IpAddr;

use custos_core::audit::{Actor, AuditEvent, Chain, RevokeReason};
use custos_core::crypto::{BearerToken, KeyPurpose, ct_eq, new_security_stamp, sha256};
use custos_core::email::Email;
use custos_core::password::Password;
use custos_core::staff::{
    SETUP_TTL, StaffAction, StaffCode, StaffId, StaffRole, StaffSessionId, StaffStatus, authorize,
    parse_display_name,
};
use custos_core::throttle::ThrottleRule;
use custos_core::{Reason, Timestamp, totp};
use custos_store::{StaffRecord, StaffSessionRecord, StoreError};

use super::audit;
use crate::error::ApiError;
use crate::extract::Client;
use crate::state::AppState;

/// A signed-in staff member, as the [`crate::extract_staff::StaffSession`] extractor proves.
#[derive(Debug, Clone)]
pub struct StaffCaller {
    pub staff_id: StaffId,
    pub session_id: StaffSessionId,
    pub code: StaffCode,
    pub name: String,
    pub role: StaffRole,
    pub email: String,
}

impl StaffCaller {
    /// The first thing a staff handler does: refuse with `403 staff-role-insufficient` (and change
    /// nothing) unless the role may take `action`.
    pub fn require(&self, action: StaffAction) -> Result<(), ApiError> {
        authorize(self.role, action).map_err(|r| ApiError::Refused(vec![r]))
    }

    pub fn actor(&self) -> Actor {
        Actor::Staff { staff_id: self.code.as_str().to_owned(), name: self.name.clone() }
    }
}

fn staff_actor(s: &StaffRecord) -> Actor {
    Actor::Staff { staff_id: s.code.as_str().to_owned(), name: s.name.clone() }
}

/// What `custos staff create` prints.
#[derive(Debug)]
pub struct CreatedStaff {
    pub code: StaffCode,
    pub email: String,
    pub role: StaffRole,
    /// `{public URL}/support/setup/{token}`: shown once, valid for [`SETUP_TTL`].
    pub setup_link: String,
    pub expires_at: Timestamp,
}

pub struct NewStaff {
    pub email: String,
    pub name: String,
    pub role: String,
}

/// Creates a pending staff member and its one-time setup link. No password is accepted here: the
/// staff member chooses one on the setup page, where they must also enrol an authenticator app.
pub async fn create(state: &AppState, new: NewStaff, operator: &str) -> Result<CreatedStaff, ApiError> {
    let mut reasons = Vec::new();
    let email = Email::parse(&new.email).map_err(|e| Reason::new("email-invalid", e.to_string()));
    let name = parse_display_name(&new.name);
    let role = StaffRole::parse(&new.role)
        .ok_or_else(|| Reason::new("staff-role-invalid", "The role is one of agent, analyst or admin."));
    for r in [email.as_ref().err(), name.as_ref().err(), role.as_ref().err()].into_iter().flatten() {
        reasons.push(r.clone());
    }
    let (Ok(email), Ok(name), Ok(role)) = (email, name, role) else {
        return Err(ApiError::Validation(reasons));
    };
    for _ in 0..5 {
        let now = state.clock.now();
        let token = BearerToken::generate();
        let expires_at = now.plus(SETUP_TTL);
        let record = StaffRecord {
            id: StaffId::new(),
            code: StaffCode::random(),
            email: email.as_str().to_owned(),
            email_key: email.key(),
            name: name.clone(),
            role,
            status: StaffStatus::Pending,
            password_hash: None,
            totp_seed_sealed: None,
            totp_last_step: None,
            security_stamp: new_security_stamp(),
            setup_token_hash: Some(token.hash()),
            setup_expires_at: Some(expires_at),
            created_at: now,
            created_by: operator.to_owned(),
            enrolled_at: None,
            disabled_at: None,
        };
        let mut tx = state.store.begin().await?;
        match tx.insert_staff(&record).await {
            Ok(()) => {}
            Err(StoreError::Conflict("staff_code")) => continue,
            Err(StoreError::Conflict(_)) => {
                return Err(ApiError::Validation(vec![Reason::new(
                    "email-taken",
                    "A staff member with this address already exists.",
                )]));
            }
            Err(e) => return Err(e.into()),
        }
        let event = AuditEvent::StaffCreated {
            staff_id: record.code.as_str().to_owned(),
            role: role.as_str().to_owned(),
            email_domain: email.as_str().rsplit('@').next().unwrap_or("").to_owned(),
        };
        audit(&mut *tx, Chain::System, now, Actor::Operator { name: operator.to_owned() }, event).await?;
        tx.commit().await?;
        return Ok(CreatedStaff {
            code: record.code,
            email: record.email,
            role,
            setup_link: state.config.link(&format!("/support/setup/{}", token.expose())),
            expires_at,
        });
    }
    Err(ApiError::Internal("could not allocate a unique staff ID".into()))
}

/// `custos staff setup-link`: a new one-time setup link for a staff member who has not finished
/// setting up (the old link dies). An enrolled or disabled member gets none: `Conflict`.
pub async fn reissue_setup_link(
    state: &AppState,
    email: &str,
    operator: &str,
) -> Result<CreatedStaff, ApiError> {
    let email = Email::parse(email).map_err(|_| ApiError::NotFound)?;
    let now = state.clock.now();
    let token = BearerToken::generate();
    let expires_at = now.plus(SETUP_TTL);
    let mut tx = state.store.begin().await?;
    let staff = tx.lock_staff_by_email_key(&email.key()).await?.ok_or(ApiError::NotFound)?;
    if staff.status != StaffStatus::Pending {
        return Err(ApiError::Conflict(Reason::new(
            "staff-not-pending",
            "Only a staff member who has not finished setting up gets a new setup link.",
        )));
    }
    tx.set_staff_setup_token(staff.id, &token.hash(), expires_at).await?;
    let event = AuditEvent::StaffSetupLinkIssued { staff_id: staff.code.as_str().to_owned() };
    audit(&mut *tx, Chain::System, now, Actor::Operator { name: operator.to_owned() }, event).await?;
    tx.commit().await?;
    Ok(CreatedStaff {
        code: staff.code,
        email: staff.email,
        role: staff.role,
        setup_link: state.config.link(&format!("/support/setup/{}", token.expose())),
        expires_at,
    })
}

/// `custos staff list`.
pub async fn list(state: &AppState) -> Result<Vec<StaffRecord>, ApiError> {
    Ok(state.store.staff_list().await?)
}

/// `custos staff disable`: disabled, stamp rotated, every session revoked — one transaction, so the
/// next request of any of their sessions, on any node, is refused. Their staff ID answers "no
/// longer valid" on the public verification from then on. Unknown address: `NotFound`.
pub async fn disable(state: &AppState, email: &str, operator: &str) -> Result<u32, ApiError> {
    let email = Email::parse(email).map_err(|_| ApiError::NotFound)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let staff = tx.lock_staff_by_email_key(&email.key()).await?.ok_or(ApiError::NotFound)?;
    if staff.status == StaffStatus::Disabled {
        return Ok(0);
    }
    tx.disable_staff(staff.id, &new_security_stamp(), now).await?;
    let revoked = tx.revoke_staff_sessions(staff.id, now, RevokeReason::AccountFrozen).await?;
    let event =
        AuditEvent::StaffDisabled { staff_id: staff.code.as_str().to_owned(), sessions_revoked: revoked };
    audit(&mut *tx, Chain::System, now, Actor::Operator { name: operator.to_owned() }, event).await?;
    tx.commit().await?;
    Ok(revoked)
}

/// A pending staff member behind a live setup token; every refusal is `link-invalid`.
async fn pending_by_token(state: &AppState, token: &str) -> Result<StaffRecord, ApiError> {
    let token = BearerToken::parse(token).ok_or(ApiError::LinkInvalid)?;
    let staff = state.store.staff_by_setup_hash(&token.hash()).await?.ok_or(ApiError::LinkInvalid)?;
    check_pending(&staff, state.clock.now())?;
    Ok(staff)
}

fn check_pending(staff: &StaffRecord, now: Timestamp) -> Result<(), ApiError> {
    let live = staff.status == StaffStatus::Pending && staff.setup_expires_at.is_some_and(|t| now < t);
    if live { Ok(()) } else { Err(ApiError::LinkInvalid) }
}

/// What the setup page shows before anything is submitted.
pub struct SetupView {
    pub email: String,
    pub name: String,
    pub code: StaffCode,
    pub role: StaffRole,
}

pub async fn setup_view(state: &AppState, token: &str) -> Result<SetupView, ApiError> {
    let s = pending_by_token(state, token).await?;
    Ok(SetupView { email: s.email, name: s.name, code: s.code, role: s.role })
}

/// The authenticator app to enrol: shown once, on the setup page.
pub struct TotpEnrolment {
    pub otpauth_uri: String,
    pub secret: String,
}

fn seed_context(id: StaffId) -> Vec<u8> {
    format!("staff:{id}").into_bytes()
}

/// Setup, step one: checks the password against the customer policy, stores its hash and a new
/// sealed TOTP seed (unconfirmed), and returns the seed to show. The account stays pending — and
/// unusable — until step two confirms a code from the app. Repeating step one replaces both.
pub async fn setup_credentials(
    state: &AppState,
    token: &str,
    password: Password,
) -> Result<TotpEnrolment, ApiError> {
    let staff = pending_by_token(state, token).await?;
    // Same policy as customers; a staff member's second factor is not enrolled yet, so the
    // single-factor minimum length applies.
    super::password::check_policy(state, None, &staff.email, false, &password).await?;
    let hash = state.hashes.hash(password).await?;
    let seed = totp::new_seed();
    let sealed = state.config.keys.seal(KeyPurpose::TotpSeed, &seed_context(staff.id), &seed);
    let token = BearerToken::parse(token).ok_or(ApiError::LinkInvalid)?;
    let mut tx = state.store.begin().await?;
    let staff = tx.lock_staff_by_setup_hash(&token.hash()).await?.ok_or(ApiError::LinkInvalid)?;
    check_pending(&staff, state.clock.now())?;
    tx.set_staff_setup_credentials(staff.id, &hash, &sealed).await?;
    tx.commit().await?;
    let label = format!("staff {}", staff.email);
    Ok(TotpEnrolment {
        otpauth_uri: totp::otpauth_uri(&seed, &label, "custos support").unwrap_or_default(),
        secret: totp::seed_base32(&seed),
    })
}

/// Setup, step two: a code from the app confirms the seed; the staff member becomes active and the
/// setup link is spent.
pub async fn setup_confirm(state: &AppState, token: &str, code: &str) -> Result<StaffCode, ApiError> {
    let now = state.clock.now();
    let token = BearerToken::parse(token).ok_or(ApiError::LinkInvalid)?;
    let mut tx = state.store.begin().await?;
    let staff = tx.lock_staff_by_setup_hash(&token.hash()).await?.ok_or(ApiError::LinkInvalid)?;
    check_pending(&staff, now)?;
    let (Some(_), Some(sealed)) = (&staff.password_hash, &staff.totp_seed_sealed) else {
        return Err(ApiError::Conflict(Reason::new(
            "staff-setup-incomplete",
            "Choose a password first; then scan the code and confirm it.",
        )));
    };
    let seed = state
        .config
        .keys
        .open(KeyPurpose::TotpSeed, &seed_context(staff.id), sealed)
        .map_err(|e| ApiError::Internal(format!("staff totp seed: {e}")))?;
    let step = totp::verify(&seed, code, now, None).map_err(|r| {
        ApiError::CodeRefused(Reason::new(
            "totp-code-wrong",
            format!("{r}. Enter the code the app shows now."),
        ))
    })?;
    let step = i64::try_from(step).map_err(|_| ApiError::Internal("totp step out of range".into()))?;
    tx.activate_staff(staff.id, step, now).await?;
    let event = AuditEvent::StaffEnrolled { staff_id: staff.code.as_str().to_owned() };
    audit(&mut *tx, Chain::System, now, staff_actor(&staff), event).await?;
    tx.commit().await?;
    Ok(staff.code)
}

fn ip_key(ip: IpAddr) -> String {
    format!("staff-login:ip:{ip}")
}

fn account_key(email_key: &str) -> String {
    format!("staff-login:account:{}", hex::encode(&sha256(email_key.as_bytes())[..16]))
}

pub struct StaffLogin {
    pub email: String,
    pub password: Password,
    pub code: String,
}

pub struct StaffGranted {
    pub token: BearerToken,
    pub code: StaffCode,
    pub role: StaffRole,
    pub expires_at: Timestamp,
}

/// Password and TOTP code in one step (every staff session is aal2). Throttled per account and
/// per address with growing delays, never a lockout. Any refusal — unknown address, wrong password,
/// wrong or replayed code, pending or disabled account — is the same `invalid-credentials`, after
/// the same Argon2 work, so the form reveals nothing about who works here.
pub async fn login(state: &AppState, req: StaffLogin, client: &Client) -> Result<StaffGranted, ApiError> {
    let email = Email::parse(&req.email)
        .map_err(|e| ApiError::Validation(vec![Reason::new("email-invalid", e.to_string())]))?;
    if req.password.is_oversized() {
        return Err(ApiError::Validation(vec![Reason::new(
            "password-too-long",
            "Passwords are at most 1024 bytes.",
        )]));
    }
    let now = state.clock.now();
    let wait = super::throttle_wait(state, &ip_key(client.ip), ThrottleRule::LOGIN_PER_IP, now).await?.max(
        super::throttle_wait(state, &account_key(&email.key()), ThrottleRule::LOGIN_PER_ACCOUNT, now).await?,
    );
    if let Some(retry_after) = wait {
        return Err(ApiError::Throttled { retry_after });
    }
    let found = state.store.staff_by_email_key(&email.key()).await?;
    let password_ok =
        state.hashes.verify(req.password, found.as_ref().and_then(|s| s.password_hash.clone())).await?;

    let mut tx = state.store.begin().await?;
    let staff = match &found {
        Some(s) => tx.lock_staff(s.id).await?,
        None => None,
    };
    let mut granted = None;
    if let Some(staff) = staff.as_ref().filter(|s| password_ok && s.status == StaffStatus::Active)
        && let Some(step) = check_code(state, staff, &req.code, now)?
        && tx.accept_staff_totp_step(staff.id, step).await?
    {
        granted = Some(staff);
    }
    let Some(staff) = granted else {
        tx.record_failure(&ip_key(client.ip), now, ThrottleRule::LOGIN_PER_IP.window).await?;
        tx.record_failure(&account_key(&email.key()), now, ThrottleRule::LOGIN_PER_ACCOUNT.window).await?;
        let actor = Actor::Anonymous { ip: Some(client.ip) };
        audit(&mut *tx, Chain::System, now, actor, AuditEvent::StaffSignInFailed { ip: Some(client.ip) })
            .await?;
        tx.commit().await?;
        return Err(ApiError::InvalidCredentials);
    };
    let token = BearerToken::generate();
    tx.insert_staff_session(&StaffSessionRecord {
        id: StaffSessionId::new(),
        staff_id: staff.id,
        token_hash: token.hash(),
        ip: Some(client.ip),
        user_agent: client.user_agent.clone(),
        created_at: now,
        last_seen_at: now,
        stamp_at_issue: staff.security_stamp.clone(),
        revoked_at: None,
        revoke_reason: None,
    })
    .await?;
    tx.clear_throttle(&account_key(&staff.email_key)).await?;
    let event = AuditEvent::StaffSignedIn { staff_id: staff.code.as_str().to_owned(), ip: Some(client.ip) };
    audit(&mut *tx, Chain::System, now, staff_actor(staff), event).await?;
    tx.commit().await?;
    Ok(StaffGranted {
        token,
        code: staff.code.clone(),
        role: staff.role,
        expires_at: state.config.sessions.expires_at(now, now),
    })
}

/// The step of a correct code, `None` for a wrong one.
fn check_code(
    state: &AppState,
    staff: &StaffRecord,
    code: &str,
    now: Timestamp,
) -> Result<Option<i64>, ApiError> {
    let Some(sealed) = &staff.totp_seed_sealed else { return Ok(None) };
    let seed = state
        .config
        .keys
        .open(KeyPurpose::TotpSeed, &seed_context(staff.id), sealed)
        .map_err(|e| ApiError::Internal(format!("staff totp seed: {e}")))?;
    let last = staff.totp_last_step.and_then(|s| u64::try_from(s).ok());
    Ok(totp::verify(&seed, code, now, last).ok().and_then(|s| i64::try_from(s).ok()))
}

/// Ends the caller's own session.
pub async fn logout(state: &AppState, who: &StaffCaller) -> Result<(), ApiError> {
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.lock_staff(who.staff_id).await?.ok_or(ApiError::Unauthenticated)?;
    tx.revoke_staff_session(who.session_id, now, RevokeReason::Logout).await?;
    let event = AuditEvent::StaffSignedOut { staff_id: who.code.as_str().to_owned() };
    audit(&mut *tx, Chain::System, now, who.actor(), event).await?;
    tx.commit().await?;
    Ok(())
}

/// Whether a stamp still matches (constant time), for the extractor.
pub(crate) fn stamp_matches(issued: &[u8], current: &[u8]) -> bool {
    ct_eq(issued, current)
}
