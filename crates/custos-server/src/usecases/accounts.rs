//! Registration and email verification.

use custos_core::Reason;
use custos_core::audit::{Actor, AuditEvent, Chain};
use custos_core::crypto::{BearerToken, new_security_stamp};
use custos_core::email::Email;
use custos_core::ids::{AccountId, LinkTokenId, Uid};
use custos_core::link_token::LinkPurpose;
use custos_core::login::AccountStatus;
use custos_core::notice::Notice;
use custos_core::password::Password;
use custos_core::password_policy::{self, PolicyContext};
use custos_store::{AccountRecord, LinkTokenRecord, StoreError};

use super::audit;
use super::notify::{self, Recipient};
use crate::error::ApiError;
use crate::state::AppState;

pub struct Registration {
    pub email: String,
    pub password: Password,
    pub phone: Option<String>,
}

/// E.164: `+` and 8 to 15 digits.
pub fn parse_phone(s: &str) -> Option<String> {
    let digits = s.trim().strip_prefix('+')?;
    (digits.len() >= 8 && digits.len() <= 15 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("+{digits}"))
}

/// Validates everything at once, so the user sees every reason in one answer.
pub fn validate(reg: &Registration) -> Result<(Email, Option<String>), ApiError> {
    let mut reasons = Vec::new();
    let email =
        Email::parse(&reg.email).map_err(|e| reasons.push(Reason::new("email-invalid", e.to_string()))).ok();
    // The full policy; a new account has no second factor yet, so 15 characters at least.
    let words = password_policy::personal_words(&reg.email);
    let ctx = PolicyContext { user_inputs: words.iter().map(String::as_str).collect(), ..Default::default() };
    reasons.extend(password_policy::check(&reg.password, &ctx));
    let phone = match reg.phone.as_deref() {
        None | Some("") => None,
        Some(p) => {
            let parsed = parse_phone(p);
            if parsed.is_none() {
                reasons.push(Reason::new(
                    "phone-invalid",
                    "Write the number in international form, e.g. +4915112345678.",
                ));
            }
            parsed
        }
    };
    match email {
        Some(email) if reasons.is_empty() => Ok((email, phone)),
        _ => Err(ApiError::Validation(reasons)),
    }
}

/// Registers an account, or — if the address is taken — mails its owner a notice instead. The
/// caller sees the same `202` either way, after the same Argon2 work.
pub async fn register(
    state: &AppState,
    reg: Registration,
    actor_ip: Option<std::net::IpAddr>,
) -> Result<(), ApiError> {
    let (email, phone) = validate(&reg)?;
    let mac = super::password::skeleton_mac(state, &reg.password);
    let password_hash = state.hashes.hash(reg.password).await?;
    // A random nine-digit UID collides rarely; when it does, the whole transaction is retried.
    for _ in 0..5 {
        match register_once(state, &email, phone.clone(), (&password_hash, &mac), actor_ip).await? {
            Attempt::Done => return Ok(()),
            Attempt::UidTaken => continue,
        }
    }
    Err(ApiError::Internal("could not allocate a unique UID".into()))
}

enum Attempt {
    Done,
    UidTaken,
}

async fn register_once(
    state: &AppState,
    email: &Email,
    phone: Option<String>,
    (password_hash, mac): (&str, &[u8]),
    ip: Option<std::net::IpAddr>,
) -> Result<Attempt, ApiError> {
    let now = state.clock.now();
    let actor = Actor::Anonymous { ip };
    let mut tx = state.store.begin().await?;
    if let Some(existing) = tx.lock_account_by_email_key(&email.key()).await? {
        notify::email(
            &mut *tx,
            state,
            Recipient::holder(&existing),
            Notice::AlreadyRegistered { login_url: state.config.link("/login") },
            format!("already_registered:{}", uuid::Uuid::now_v7()),
            now,
        )
        .await?;
        audit(
            &mut *tx,
            Chain::Account(existing.id),
            now,
            actor,
            AuditEvent::RegistrationAttemptedForExistingEmail,
        )
        .await?;
        tx.commit().await?;
        state.outbox_wake.notify_one();
        return Ok(Attempt::Done);
    }

    let account = AccountRecord {
        id: AccountId::new(),
        uid: Uid::random(),
        email: email.as_str().to_owned(),
        email_key: email.key(),
        email_verified_at: None,
        phone,
        status: AccountStatus::Active,
        password_hash: password_hash.to_owned(),
        security_stamp: new_security_stamp(),
        anti_phishing_code: None,
        created_at: now,
        withdrawal_lock_until: None,
        withdrawal_lock_reason: None,
        phone_verified_at: None,
        sms_enabled_at: None,
    };
    match tx.insert_account(&account).await {
        Ok(()) => {}
        // A concurrent registration of the same address won the race: answer as for a taken address.
        Err(StoreError::Conflict("email")) => return Ok(Attempt::Done),
        Err(StoreError::Conflict("uid")) => return Ok(Attempt::UidTaken),
        Err(e) => return Err(e.into()),
    }
    super::password::remember(&mut *tx, account.id, password_hash, mac.to_vec(), now).await?;
    let domain = email.as_str().rsplit_once('@').map(|(_, d)| d.to_owned()).unwrap_or_default();
    audit(
        &mut *tx,
        Chain::Account(account.id),
        now,
        actor,
        AuditEvent::AccountRegistered { uid: account.uid.get(), email_domain: domain },
    )
    .await?;
    send_verification(&mut *tx, state, &account, now).await?;
    tx.commit().await?;
    state.outbox_wake.notify_one();
    Ok(Attempt::Done)
}

/// Issues a verification link and queues the email that carries it.
pub(crate) async fn send_verification(
    tx: &mut dyn custos_store::Tx,
    state: &AppState,
    account: &AccountRecord,
    now: custos_core::Timestamp,
) -> Result<(), ApiError> {
    let token = BearerToken::generate();
    let link = LinkTokenRecord {
        id: LinkTokenId::new(),
        token_hash: token.hash(),
        purpose: LinkPurpose::VerifyEmail,
        account_id: account.id,
        subject: Some(account.email_key.clone()),
        stamp_at_issue: account.security_stamp.clone(),
        created_at: now,
        expires_at: now.plus(LinkPurpose::VerifyEmail.default_ttl()),
        used_at: None,
    };
    tx.insert_link_token(&link).await?;
    notify::email(
        tx,
        state,
        Recipient::holder(account),
        Notice::VerifyEmail { verify_url: state.config.link(&format!("/verify-email/{}", token.expose())) },
        format!("verify_email:{}", link.id),
        now,
    )
    .await?;
    Ok(())
}

/// Spends a verification link. Every failure — malformed, unknown, expired, used, or issued for
/// an address the account no longer has — is the same `link-invalid` to the caller.
pub async fn verify_email(
    state: &AppState,
    raw_token: &str,
    ip: Option<std::net::IpAddr>,
) -> Result<Uid, ApiError> {
    let token = BearerToken::parse(raw_token).ok_or(ApiError::LinkInvalid)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let (link, account) = super::open_link(&mut *tx, &token, LinkPurpose::VerifyEmail, now).await?;
    if link.subject.as_deref() != Some(account.email_key.as_str())
        || !tx.mark_link_token_used(link.id, now).await?
    {
        return Err(ApiError::LinkInvalid);
    }
    tx.set_email_verified(account.id, now).await?;
    audit(&mut *tx, Chain::Account(account.id), now, Actor::Anonymous { ip }, AuditEvent::EmailVerified)
        .await?;
    tx.commit().await?;
    Ok(account.uid)
}
