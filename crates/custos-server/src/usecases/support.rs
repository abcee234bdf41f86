//! What support staff read about a customer. Every read of user data is an audit event on the
//! customer's own chain, with the staff member as actor (DESIGN "Audit": staff reads of user
//! data are audit events too), written in the same transaction as the read, so there is no read
//! without its record. Staff never see secrets: password hashes, TOTP seeds, tokens, codes and
//! security stamps are not in these views.

use custos_core::audit::{AuditEvent, Chain};
use custos_core::ids::{AccountId, Uid};
use custos_core::staff::StaffAction;
use custos_store::Tx;
use serde::Serialize;

use super::staff::StaffCaller;
use crate::error::ApiError;
use crate::state::AppState;

/// Records that `staff` read `what` of `account`. The console calls this inside the transaction of
/// every read it serves.
pub async fn audit_staff_read(
    tx: &mut dyn Tx,
    staff: &StaffCaller,
    account: AccountId,
    what: &str,
    at: custos_core::Timestamp,
) -> Result<(), ApiError> {
    super::audit(
        tx,
        Chain::Account(account),
        at,
        staff.actor(),
        AuditEvent::StaffReadAccount { what: what.into() },
    )
    .await
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LoginSummary {
    /// RFC 3339.
    pub at: String,
    pub outcome: String,
    pub ip: Option<String>,
    pub country: Option<String>,
    pub asn: Option<i64>,
    pub user_agent: String,
    /// Risk signals with their evidence.
    #[schema(value_type = Vec<Object>)]
    pub signals: Vec<custos_core::risk::Signal>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AccountSummary {
    /// The UID, as a string.
    pub uid: String,
    pub email: String,
    pub email_verified: bool,
    /// `active | frozen | recovering | closed`
    pub status: String,
    /// Live (not revoked) sessions.
    pub sessions_live: u32,
    pub withdrawal_lock_until: Option<String>,
    pub second_factors: Vec<&'static str>,
    /// Newest first, at most 20.
    pub recent_logins: Vec<LoginSummary>,
    pub created_at: String,
}

const RECENT_LOGINS: u32 = 20;

/// `GET /api/v1/support/accounts/{uid}` (agent and up). Unknown UID: `NotFound`.
pub async fn account_summary(
    state: &AppState,
    staff: &StaffCaller,
    uid: &str,
) -> Result<AccountSummary, ApiError> {
    staff.require(StaffAction::ReadAccountSummary)?;
    let uid = Uid::parse(uid).ok_or(ApiError::NotFound)?;
    let found = state.store.account_by_uid(uid).await?.ok_or(ApiError::NotFound)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(found.id).await?.ok_or(ApiError::NotFound)?;
    audit_staff_read(&mut *tx, staff, account.id, "account_summary", now).await?;
    let sessions = state.store.sessions(account.id, 500).await?;
    let events = state.store.login_events(account.id, RECENT_LOGINS).await?;
    let factors = state.store.second_factors(account.id).await?;
    tx.commit().await?;
    let mut second_factors = Vec::new();
    if factors.totp {
        second_factors.push("totp");
    }
    if factors.passkeys > 0 {
        second_factors.push("passkey");
    }
    if factors.sms {
        second_factors.push("sms");
    }
    if factors.recovery_codes > 0 {
        second_factors.push("recovery_codes");
    }
    Ok(AccountSummary {
        uid: account.uid.to_string(),
        email: account.email,
        email_verified: account.email_verified_at.is_some(),
        status: account.status.as_str().to_owned(),
        sessions_live: u32::try_from(sessions.iter().filter(|s| s.stands(&account.security_stamp)).count())
            .unwrap_or(u32::MAX),
        withdrawal_lock_until: account.withdrawal_lock_until.filter(|t| *t > now).map(|t| t.rfc3339()),
        second_factors,
        recent_logins: events
            .into_iter()
            .map(|e| LoginSummary {
                at: e.at.rfc3339(),
                outcome: e.outcome.as_str().to_owned(),
                ip: e.ip.map(|i| i.to_string()),
                country: e.country,
                asn: e.asn,
                user_agent: e.user_agent,
                signals: e.signals,
            })
            .collect(),
        created_at: account.created_at.rfc3339(),
    })
}
