//! Password login: throttles, the same work for unknown accounts, devices, sessions, notices.

use std::net::IpAddr;

use custos_core::audit::{Actor, AuditEvent, Chain};
use custos_core::challenge::{ChallengePurpose, check_challenge};
use custos_core::crypto::{BearerToken, sha256};
use custos_core::email::Email;
use custos_core::ids::{ChallengeId, DeviceId, LoginEventId, SessionId};
use custos_core::login::{AccountStatus, LoginOutcome};
use custos_core::notice::Notice;
use custos_core::password::Password;
use custos_core::risk::{self, IpInfo, NewLogin, PriorLogin, Signal};
use custos_core::session::Aal;
use custos_core::throttle::ThrottleRule;
use custos_core::{Reason, Timestamp};
use custos_store::{AccountRecord, ChallengeRecord, DeviceRecord, LoginEventRecord, SessionRecord, Tx};

use super::notify::{self, Recipient};
use super::{audit, factors};
use crate::error::ApiError;
use crate::extract::Client;
use crate::state::AppState;

pub struct LoginRequest {
    pub email: String,
    pub password: Password,
}

/// What a successful login hands back: the session token (shown once), and the device key to
/// remember if the client had none.
pub struct LoginGranted {
    pub session_token: BearerToken,
    pub aal: Aal,
    pub session_id: SessionId,
    pub device_key: Option<String>,
    pub new_device: bool,
    pub expires_at: Timestamp,
}

impl LoginGranted {
    /// Call once the session's transaction has committed: a new device's notice is the only
    /// message a sign-in leaves in the outbox, so only then is the outbox woken.
    pub(crate) fn committed(&self, state: &AppState) {
        if self.new_device {
            state.outbox_wake.notify_one();
        }
    }
}

pub(crate) fn ip_key(ip: IpAddr) -> String {
    format!("login:ip:{ip}")
}

/// Keyed by a hash of the address, so unknown and known addresses are throttled alike.
pub(crate) fn account_key(email_key: &str) -> String {
    format!("login:account:{}", hex::encode(&sha256(email_key.as_bytes())[..16]))
}

/// The answer to a correct password: a session, or a challenge for the second factor.
pub enum LoginResult {
    Granted(LoginGranted),
    SecondFactorRequired { challenge: BearerToken, methods: Vec<&'static str>, expires_at: Timestamp },
}

pub async fn login(state: &AppState, req: LoginRequest, client: &Client) -> Result<LoginResult, ApiError> {
    let email = Email::parse(&req.email)
        .map_err(|e| ApiError::Validation(vec![Reason::new("email-invalid", e.to_string())]))?;
    if req.password.is_oversized() {
        return Err(ApiError::Validation(vec![Reason::new(
            "password-too-long",
            "Passwords are at most 1024 bytes.",
        )]));
    }
    let now = state.clock.now();
    // Everything the login needs before it hashes, in one read.
    let device = client.device_key_hash();
    let lookup = state
        .store
        .login_lookup(
            &email.key(),
            device.as_ref(),
            &ip_key(client.ip),
            &account_key(&email.key()),
            PRIOR_LOGINS,
        )
        .await?;
    let account = lookup.account;

    // A device that has signed in to this account before is exempt from the per-account throttle,
    // so a stranger hammering the address cannot keep its owner out (the per-IP throttle remains).
    let mut wait = super::throttle_wait_of(lookup.ip_throttle, ThrottleRule::LOGIN_PER_IP, now);
    if !lookup.known_device {
        wait =
            wait.max(super::throttle_wait_of(lookup.account_throttle, ThrottleRule::LOGIN_PER_ACCOUNT, now));
    }
    if let Some(retry_after) = wait {
        return Err(ApiError::Throttled { retry_after });
    }

    let ok = state.hashes.verify(req.password, account.as_ref().map(|a| a.password_hash.clone())).await?;

    let mut tx = state.store.begin().await?;
    let locked = match &account {
        Some(a) => tx.lock_account_with_device(a.id, device.as_ref()).await?,
        None => None,
    };
    let (account, known_device) = match locked {
        Some((a, known_device)) if ok => (a, known_device),
        other => {
            record_failure(&mut *tx, other.as_ref().map(|(a, _)| a), &email, client, now).await?;
            tx.commit().await?;
            return Err(ApiError::InvalidCredentials);
        }
    };
    if account.email_verified_at.is_none() {
        insert_event(&mut *tx, Some(&account), LoginOutcome::EmailNotVerified, None, client, now).await?;
        tx.commit().await?;
        return Err(ApiError::EmailNotVerified);
    }
    // A recovering account signs in with the password set through support's link; its session may
    // then only finish the recovery (see `extract::admit`).
    if !matches!(account.status, AccountStatus::Active | AccountStatus::Recovering) {
        insert_event(&mut *tx, Some(&account), LoginOutcome::AccountInactive, None, client, now).await?;
        tx.commit().await?;
        return Err(ApiError::AccountInactive);
    }

    let methods = factors::methods_of(&lookup.factors);
    if !methods.is_empty() {
        let challenge = BearerToken::generate();
        let purpose = ChallengePurpose::LoginSecondFactor;
        let expires_at = now.plus(purpose.ttl());
        tx.insert_challenge(&ChallengeRecord {
            id: ChallengeId::new(),
            token_hash: challenge.hash(),
            account_id: account.id,
            purpose,
            code_hash: None,
            session_id: None,
            created_at: now,
            expires_at,
            attempts: 0,
            used_at: None,
            code_sent_at: None,
            subject: None,
        })
        .await?;
        tx.commit().await?;
        return Ok(LoginResult::SecondFactorRequired { challenge, methods, expires_at });
    }

    let prior = Some(lookup.prior_sign_ins);
    let device = DeviceLookup::Read(known_device);
    let granted = start_session(&mut *tx, state, &account, client, Aal::Aal1, prior, device, now).await?;
    tx.clear_throttle(&account_key(&account.email_key)).await?;
    tx.commit().await?;
    granted.committed(state);
    Ok(LoginResult::Granted(granted))
}

/// Completes a login with the second factor. Wrong codes count against the account's code
/// throttle and the challenge's own attempt limit, and are recorded as login events.
pub async fn second_factor(
    state: &AppState,
    challenge: &str,
    method: factors::Method,
    code: &str,
    client: &Client,
) -> Result<LoginGranted, ApiError> {
    let now = state.clock.now();
    let unknown = || {
        ApiError::CodeRefused(Reason::new(
            "challenge-unknown",
            "Sign in again: this sign-in attempt is not valid.",
        ))
    };
    let challenge = BearerToken::parse(challenge).ok_or_else(unknown)?;
    let mut tx = state.store.begin().await?;
    let c = tx.challenge_by_hash(&challenge.hash()).await?.ok_or_else(unknown)?;
    let attempts = u32::try_from(c.attempts).unwrap_or(u32::MAX);
    if let Err(r) = check_challenge(
        c.purpose,
        ChallengePurpose::LoginSecondFactor,
        c.expires_at,
        c.used_at.is_some(),
        attempts,
        now,
    ) {
        return Err(ApiError::CodeRefused(Reason::new("challenge-expired", format!("{r}; sign in again."))));
    }
    drop(tx);
    factors::check_code_throttle(state, c.account_id, now).await?;
    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(c.account_id).await?.ok_or_else(unknown)?;
    if let Err(reason) =
        factors::verify_code(&mut *tx, state, account.id, method, code, Some((&challenge, &c)), now).await?
    {
        tx.count_challenge_attempt(c.id).await?;
        factors::count_wrong_code(&mut *tx, account.id, now).await?;
        insert_event(&mut *tx, Some(&account), LoginOutcome::SecondFactorFailed, None, client, now).await?;
        tx.commit().await?;
        return Err(ApiError::CodeRefused(reason));
    }
    if !tx.use_challenge(c.id, now).await? {
        return Err(unknown());
    }
    if account.status != AccountStatus::Active {
        return Err(ApiError::AccountInactive);
    }
    let mut granted =
        start_session(&mut *tx, state, &account, client, Aal::Aal2, None, DeviceLookup::NotRead, now).await?;
    tx.clear_throttle(&account_key(&account.email_key)).await?;
    if method == factors::Method::RecoveryCode {
        let actor = Actor::User { account: account.id, session: Some(granted.session_id) };
        audit(&mut *tx, Chain::Account(account.id), now, actor, AuditEvent::RecoveryCodeUsed).await?;
    }
    tx.commit().await?;
    state.outbox_wake.notify_one();
    granted.aal = Aal::Aal2;
    Ok(granted)
}

async fn record_failure(
    tx: &mut dyn Tx,
    account: Option<&AccountRecord>,
    email: &Email,
    client: &Client,
    now: Timestamp,
) -> Result<(), ApiError> {
    tx.record_failure(&ip_key(client.ip), now, ThrottleRule::LOGIN_PER_IP.window).await?;
    tx.record_failure(&account_key(&email.key()), now, ThrottleRule::LOGIN_PER_ACCOUNT.window).await?;
    if let Some(a) = account {
        insert_event(tx, Some(a), LoginOutcome::WrongCredentials, None, client, now).await?;
        audit(
            tx,
            Chain::Account(a.id),
            now,
            Actor::Anonymous { ip: Some(client.ip) },
            AuditEvent::LoginFailed {
                ip: Some(client.ip),
                reason: LoginOutcome::WrongCredentials.as_str().into(),
            },
        )
        .await?;
    }
    Ok(())
}

pub(crate) async fn insert_event(
    tx: &mut dyn Tx,
    account: Option<&AccountRecord>,
    outcome: LoginOutcome,
    device: Option<DeviceId>,
    client: &Client,
    now: Timestamp,
) -> Result<(), ApiError> {
    tx.insert_login_event(&LoginEventRecord {
        id: LoginEventId::new(),
        account_id: account.map(|a| a.id),
        at: now,
        outcome,
        ip: Some(client.ip),
        country: None,
        asn: None,
        device_id: device,
        user_agent: client.user_agent.clone(),
        signals: Vec::new(),
        session_id: None,
    })
    .await?;
    Ok(())
}

/// The risk signals of a successful sign-in on `account` (issue 6): what the IP databases say
/// about the address, compared with the account's earlier successful sign-ins.
async fn assess_login(
    state: &AppState,
    account: &AccountRecord,
    client: &Client,
    new_device: bool,
    prior: Option<Vec<custos_store::PriorSignIn>>,
    now: Timestamp,
) -> Result<(IpInfo, Vec<Signal>), ApiError> {
    let risk = &state.config.risk;
    let info = risk.ip_db.lookup(client.ip);
    // Up to 200 earlier sign-ins, usually from a handful of addresses: each looked up once.
    let mut located = std::collections::HashMap::new();
    let prior = match prior {
        Some(read) => read,
        None => state.store.prior_sign_ins(account.id, PRIOR_LOGINS).await?,
    };
    let prior: Vec<PriorLogin> = prior
        .into_iter()
        .map(|e| {
            // Where the earlier address is today, else the centroid of the country stored then.
            let location =
                e.ip.and_then(|ip| *located.entry(ip).or_insert_with(|| risk.ip_db.lookup(ip).location))
                    .or_else(|| e.country.as_deref().and_then(|c| risk.ip_db.centroid(c)));
            PriorLogin {
                at: e.at,
                ip: e.ip,
                country: e.country,
                asn: e.asn.and_then(|a| u32::try_from(a).ok()),
                location,
            }
        })
        .collect();
    let login = NewLogin { at: now, ip: client.ip, info: &info, new_device };
    let signals = risk::assess(&login, &prior, &risk.risky, &risk.travel);
    Ok((info, signals))
}

/// How many earlier sign-ins a new one is compared with.
const PRIOR_LOGINS: u32 = 200;

/// What the caller already read of the signing-in device, with the account row.
pub(crate) enum DeviceLookup {
    /// Not read: `start_session` reads it.
    NotRead,
    /// The account's device with the presented key, if it has one (read under the account lock).
    Read(Option<DeviceId>),
}

/// Opens a session on `account` (already locked in `tx`): finds or records the device, writes
/// the session, the login event, the audit record and — for a device never seen on this account —
/// a new-device notice. `prior` is the account's earlier sign-ins if the caller read them already
/// (a password login reads them with everything else before it hashes); otherwise they are read.
/// Call [`LoginGranted::committed`] once `tx` has committed.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn start_session(
    tx: &mut dyn Tx,
    state: &AppState,
    account: &AccountRecord,
    client: &Client,
    aal: Aal,
    prior: Option<Vec<custos_store::PriorSignIn>>,
    device: DeviceLookup,
    now: Timestamp,
) -> Result<LoginGranted, ApiError> {
    let (device_key, issued_key) = match &client.device_key {
        Some(k) => (k.clone(), None),
        None => {
            let k = BearerToken::generate().expose().to_owned();
            (k.clone(), Some(k))
        }
    };
    let key_hash = custos_core::crypto::TokenHash(sha256(device_key.as_bytes()));
    let known = match device {
        // A key issued just now belongs to no device yet.
        _ if issued_key.is_some() => None,
        DeviceLookup::Read(known) => known,
        DeviceLookup::NotRead => tx.device_by_key(account.id, &key_hash).await?.map(|d| d.id),
    };
    let (device_id, new_device) = match known {
        Some(id) => {
            tx.touch_device(id, now, Some(client.ip), &client.user_agent).await?;
            (id, false)
        }
        None => {
            let d = DeviceRecord {
                id: DeviceId::new(),
                account_id: account.id,
                key_hash,
                user_agent: client.user_agent.clone(),
                first_seen_at: now,
                last_seen_at: now,
                last_ip: Some(client.ip),
            };
            tx.insert_device(&d).await?;
            (d.id, true)
        }
    };

    let token = BearerToken::generate();
    let session = SessionRecord {
        id: SessionId::new(),
        account_id: account.id,
        token_hash: token.hash(),
        device_id,
        ip: Some(client.ip),
        user_agent: client.user_agent.clone(),
        aal,
        authenticated_at: now,
        // A second factor at sign-in is a step-up in itself.
        stepped_up_at: (aal == Aal::Aal2).then_some(now),
        created_at: now,
        last_seen_at: now,
        stamp_at_issue: account.security_stamp.clone(),
        revoked_at: None,
        revoke_reason: None,
    };
    tx.insert_session(&session).await?;
    let (info, signals) = assess_login(state, account, client, new_device, prior, now).await?;
    tx.insert_login_event(&LoginEventRecord {
        id: LoginEventId::new(),
        account_id: Some(account.id),
        at: now,
        outcome: LoginOutcome::Succeeded,
        ip: Some(client.ip),
        country: info.country.clone(),
        asn: info.asn.map(i64::from),
        device_id: Some(device_id),
        user_agent: client.user_agent.clone(),
        signals: signals.clone(),
        session_id: Some(session.id),
    })
    .await?;
    let chain = Chain::Account(account.id);
    let actor = Actor::User { account: account.id, session: Some(session.id) };
    if new_device {
        audit(tx, chain, now, actor.clone(), AuditEvent::DeviceFirstSeen { device: device_id }).await?;
        notify::email(
            tx,
            state,
            Recipient::holder(account),
            Notice::NewDeviceLogin {
                at: now,
                ip: client.ip.to_string(),
                user_agent: client.user_agent.clone(),
                signals: signals.iter().map(|s| s.detail.clone()).collect(),
            },
            format!("new_device_login:{}", session.id),
            now,
        )
        .await?;
    }
    audit(
        tx,
        chain,
        now,
        actor,
        AuditEvent::LoginSucceeded {
            session: session.id,
            device: device_id,
            ip: Some(client.ip),
            new_device,
        },
    )
    .await?;
    Ok(LoginGranted {
        session_token: token,
        aal,
        session_id: session.id,
        device_key: issued_key,
        new_device,
        expires_at: state.config.sessions.expires_at(now, now),
    })
}
