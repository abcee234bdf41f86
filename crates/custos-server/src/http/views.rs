//! Read models: what the API returns and the pages show, built from store records.

use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::{SessionWithOverview, UserSession};
use crate::state::AppState;
use custos_store::{AccountRecord, SecondFactors};

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// Public account number; absent until the email address is verified.
    pub uid: Option<String>,
    pub email: String,
    pub email_verified: bool,
    /// Masked, e.g. `+49••••••78`.
    pub phone: Option<String>,
    pub status: &'static str,
    pub created_at: String,
    pub anti_phishing_code_set: bool,
    /// Masked, e.g. `bl•••••er`.
    pub anti_phishing_code: Option<String>,
    pub totp_enabled: bool,
    /// Registered passkeys (each one a second factor, and a way to sign in without a password).
    pub passkeys: u32,
    pub recovery_codes_left: u32,
    /// Withdrawals are paused until then (RFC 3339), after a credential change.
    pub withdrawal_lock_until: Option<String>,
    pub session: CurrentSession,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CurrentSession {
    pub id: String,
    pub aal: &'static str,
    pub authenticated_at: String,
}

pub fn mask_phone(p: &str) -> String {
    let n = p.chars().count();
    p.chars().enumerate().map(|(i, c)| if i < 3 || i + 2 >= n { c } else { '•' }).collect()
}

impl Me {
    pub fn new(a: &AccountRecord, s: &UserSession, f: SecondFactors, now: custos_core::Timestamp) -> Self {
        Self {
            uid: a.email_verified_at.map(|_| a.uid.to_string()),
            email: a.email.clone(),
            email_verified: a.email_verified_at.is_some(),
            phone: a.phone.as_deref().map(mask_phone),
            status: a.status.as_str(),
            created_at: a.created_at.rfc3339(),
            anti_phishing_code_set: a.anti_phishing_code.is_some(),
            anti_phishing_code: a.anti_phishing_code.as_deref().map(custos_core::anti_phishing::mask),
            totp_enabled: f.totp,
            passkeys: f.passkeys,
            recovery_codes_left: f.recovery_codes,
            withdrawal_lock_until: a.withdrawal_lock_until.filter(|t| *t > now).map(|t| t.rfc3339()),
            session: CurrentSession {
                id: s.session_id.to_string(),
                aal: s.aal.as_str(),
                authenticated_at: s.authenticated_at.rfc3339(),
            },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: String,
    pub current: bool,
    pub active: bool,
    pub device_id: String,
    pub ip: Option<String>,
    pub user_agent: String,
    pub aal: &'static str,
    pub created_at: String,
    pub last_seen_at: String,
    pub revoked_at: Option<String>,
    pub revoke_reason: Option<&'static str>,
}

pub async fn sessions(state: &AppState, who: &UserSession) -> Result<Vec<SessionView>, ApiError> {
    let now = state.clock.now();
    let policy = state.config.sessions;
    let account = state.store.account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    let stamp = &account.security_stamp;
    Ok(state
        .store
        .sessions(who.account_id, 50)
        .await?
        .into_iter()
        .map(|s| SessionView {
            id: s.id.to_string(),
            current: s.id == who.session_id,
            active: s.stands(stamp) && now < policy.expires_at(s.created_at, s.last_seen_at),
            revoke_reason: s.ended_because(stamp).map(|r| r.as_str()),
            device_id: s.device_id.to_string(),
            ip: s.ip.map(|i| i.to_string()),
            user_agent: s.user_agent,
            aal: s.aal.as_str(),
            created_at: s.created_at.rfc3339(),
            last_seen_at: s.last_seen_at.rfc3339(),
            revoked_at: s.revoked_at.map(|t| t.rfc3339()),
        })
        .collect())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceView {
    pub id: String,
    pub current: bool,
    pub user_agent: String,
    pub first_seen_at: String,
    pub last_seen_at: String,
    pub last_ip: Option<String>,
}

pub async fn devices(state: &AppState, who: &UserSession) -> Result<Vec<DeviceView>, ApiError> {
    Ok(state
        .store
        .devices(who.account_id)
        .await?
        .into_iter()
        .map(|d| DeviceView {
            id: d.id.to_string(),
            current: d.id == who.device_id,
            user_agent: d.user_agent,
            first_seen_at: d.first_seen_at.rfc3339(),
            last_seen_at: d.last_seen_at.rfc3339(),
            last_ip: d.last_ip.map(|i| i.to_string()),
        })
        .collect())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginView {
    pub at: String,
    pub outcome: &'static str,
    pub ip: Option<String>,
    pub country: Option<String>,
    pub asn: Option<i64>,
    pub device_id: Option<String>,
    pub user_agent: String,
    /// Risk signals of a successful sign-in: `new-device`, `new-ip`, `new-country`, `new-asn`,
    /// `impossible-travel`, `risky-network`, each with its evidence in words.
    pub signals: Vec<SignalView>,
    /// The signals put withdrawals and transfers from this sign-in's session on hold.
    pub high_risk: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SignalView {
    pub code: &'static str,
    pub detail: String,
}

impl From<&custos_core::risk::Signal> for SignalView {
    fn from(s: &custos_core::risk::Signal) -> Self {
        Self { code: s.code.as_str(), detail: s.detail.clone() }
    }
}

pub async fn activity(state: &AppState, who: &UserSession) -> Result<Vec<LoginView>, ApiError> {
    Ok(state
        .store
        .login_events(who.account_id, 50)
        .await?
        .into_iter()
        .map(|e| LoginView {
            at: e.at.rfc3339(),
            outcome: e.outcome.as_str(),
            ip: e.ip.map(|i| i.to_string()),
            country: e.country,
            asn: e.asn,
            device_id: e.device_id.map(|d| d.to_string()),
            user_agent: e.user_agent,
            high_risk: custos_core::risk::is_high_risk(&e.signals.iter().map(|s| s.code).collect::<Vec<_>>()),
            signals: e.signals.iter().map(SignalView::from).collect(),
        })
        .collect())
}

/// The signed-in account as the API and the security center show it.
pub async fn me(state: &AppState, who: &UserSession) -> Result<Me, ApiError> {
    let account = state.store.account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    let factors = state.store.second_factors(who.account_id).await?;
    Ok(Me::new(&account, who, factors, state.clock.now()))
}

/// `/me` from the single read its extractor made.
pub fn me_from(state: &AppState, who: &SessionWithOverview) -> Me {
    Me::new(&who.account, &who.session, who.factors, state.clock.now())
}
