//! API keys: create, list, revoke one, revoke all. `custos-core::api_key` decides what a key may be;
//! this module stores it with its audit record and the email that announces it.
//!
//! A key that can move money (withdraw, transfer) is a credential change in the matrix's sense
//! (`MoneyApiKeyCreated`): it needs a recent `aal2` step-up, like every other way of moving money,
//! and the matrix row is applied in the same transaction.

use std::net::IpAddr;

use custos_core::Reason;
use custos_core::Timestamp;
use custos_core::api_key::{
    ApiKeyId, HmacSecret, IpAllowlist, KeyKind, KeyLabel, Scopes, check_key_material, plan_new_key,
};
use custos_core::audit::{Actor, AuditEvent, Chain, RevokeReason};
use custos_core::credential_matrix::CredentialEvent;
use custos_core::crypto::KeyPurpose;
use custos_core::ids::AccountId;
use custos_core::notice::Notice;
use custos_core::step_up::Requirement;
use custos_core::webhook::WebhookEvent;
use custos_store::{AccountRecord, ApiKeyRecord, Tx};

use super::notify::{self, Recipient};
use super::{audit, credential_change, factors, step_up};
use crate::error::ApiError;
use crate::extract::UserSession;
use crate::state::AppState;

/// A create request as it arrived; every field is checked by `custos-core`.
#[derive(Debug, Clone, Default)]
pub struct NewKey {
    pub label: String,
    pub kind: String,
    pub public_key: Option<String>,
    pub scopes: Vec<String>,
    pub ip_allowlist: Vec<String>,
    /// RFC 3339.
    pub valid_until: Option<String>,
}

/// A key as created. `secret` is the HMAC secret, present this once and never again.
#[derive(Debug)]
pub struct Created {
    pub key: ApiKeyRecord,
    pub secret: Option<HmacSecret>,
}

/// What sealing binds an HMAC secret to: a sealed secret copied onto another key or account does
/// not open.
pub(crate) fn secret_context(id: &ApiKeyId, account: AccountId) -> Vec<u8> {
    format!("api-secret:{id}:{account}").into_bytes()
}

fn parse_time(s: &str) -> Result<Timestamp, Reason> {
    time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
        .map(Timestamp::from_offset_datetime)
        .map_err(|_| {
            Reason::new(
                "api-key-valid-until-malformed",
                "valid_until must be an RFC 3339 time such as 2027-01-31T00:00:00Z.",
            )
        })
}

struct Plan {
    label: KeyLabel,
    kind: KeyKind,
    public_key: Option<[u8; 32]>,
    scopes: Scopes,
    ips: IpAllowlist,
    valid_until: Timestamp,
}

/// Checks every field and reports every problem at once.
fn plan(state: &AppState, req: &NewKey, now: Timestamp) -> Result<Plan, Vec<Reason>> {
    let mut reasons = Vec::new();
    let label = KeyLabel::parse(&req.label).map_err(|r| reasons.push(r)).ok();
    let kind = KeyKind::parse(&req.kind);
    if kind.is_none() {
        reasons.push(Reason::new("api-key-kind-unknown", "kind must be \"ed25519\" or \"hmac-sha256\"."));
    }
    let public_key =
        kind.and_then(|k| check_key_material(k, req.public_key.as_deref()).map_err(|r| reasons.push(r)).ok());
    let scopes = Scopes::parse(&req.scopes).map_err(|r| reasons.extend(r)).ok();
    let ips = IpAllowlist::parse(&req.ip_allowlist).map_err(|r| reasons.extend(r)).ok();
    let requested = match req.valid_until.as_deref().filter(|s| !s.trim().is_empty()) {
        None => Ok(None),
        Some(s) => parse_time(s).map(Some).map_err(|r| reasons.push(r)),
    };
    let valid_until = match (scopes, &ips, requested) {
        (Some(scopes), Some(ips), Ok(requested)) => {
            plan_new_key(scopes, ips, requested, &state.config.api_keys.keys, now)
                .map_err(|r| reasons.extend(r))
                .ok()
        }
        _ => None,
    };
    match (label, kind, public_key, scopes, ips, valid_until) {
        (Some(label), Some(kind), Some(public_key), Some(scopes), Some(ips), Some(valid_until))
            if reasons.is_empty() =>
        {
            let public_key = public_key.map(|k| *k.as_bytes());
            Ok(Plan { label, kind, public_key, scopes, ips, valid_until })
        }
        _ => Err(reasons),
    }
}

fn actor(who: &UserSession) -> Actor {
    Actor::User { account: who.account_id, session: Some(who.session_id) }
}

fn recipient(account: &AccountRecord) -> Recipient<'_> {
    Recipient::holder(account)
}

/// Creates a key for the caller's account. A key with a money scope needs a recent `aal2` step-up
/// and goes through the credential matrix (`MoneyApiKeyCreated`).
pub async fn create(
    state: &AppState,
    who: &UserSession,
    req: NewKey,
    ip: Option<IpAddr>,
) -> Result<Created, ApiError> {
    let now = state.clock.now();
    let p = plan(state, &req, now).map_err(ApiError::Validation)?;
    if p.scopes.moves_money() {
        step_up::require(state, who, Requirement::RecentAal2).await?;
    }
    let id = ApiKeyId::generate();
    let secret = (p.kind == KeyKind::HmacSha256).then(HmacSecret::generate);
    let secret_sealed = secret.as_ref().map(|s| {
        state.config.keys.seal(KeyPurpose::ApiSecret, &secret_context(&id, who.account_id), s.key_material())
    });
    let key = ApiKeyRecord {
        id,
        account_id: who.account_id,
        label: p.label.as_str().to_owned(),
        kind: p.kind,
        public_key: p.public_key.map(|k| k.to_vec()),
        secret_sealed,
        scopes: p.scopes,
        ip_allowlist: p.ips,
        created_at: now,
        valid_until: p.valid_until,
        revoked_at: None,
        revoke_reason: None,
        last_used_at: None,
        last_used_ip: None,
        created_by_session: Some(who.session_id),
        created_ip: ip,
    };

    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    tx.insert_api_key(&key).await?;
    let scopes: Vec<String> = key.scopes.as_strs().into_iter().map(str::to_owned).collect();
    let ip_allowlist = key.ip_allowlist.as_strings();
    let event = AuditEvent::ApiKeyCreated {
        key_id: key.id.to_string(),
        scopes: scopes.clone(),
        ip_allowlist: ip_allowlist.clone(),
        valid_until: key.valid_until,
    };
    audit(&mut *tx, Chain::Account(account.id), now, actor(who), event).await?;
    if key.scopes.moves_money() {
        credential_change::apply(
            &mut *tx,
            state,
            &account,
            CredentialEvent::MoneyApiKeyCreated,
            Some(factors::acting(who)),
            None,
            ip,
            now,
        )
        .await?;
    }
    let notice = Notice::ApiKeyCreated {
        key_id: key.id.to_string(),
        label: key.label.clone(),
        key_kind: key.kind.as_str().to_owned(),
        scopes,
        ip_allowlist,
        valid_until: key.valid_until,
        at: now,
        ip: ip.map(|i| i.to_string()),
    };
    let idempotency_key = format!("api_key_created:{}", key.id);
    notify::email(&mut *tx, state, recipient(&account), notice, idempotency_key, now).await?;
    let data = serde_json::json!({
        "uid": account.uid.get(),
        "key_id": key.id.to_string(),
        "kind": key.kind.as_str(),
        "scopes": key.scopes.as_strs(),
        "ip_allowlist": key.ip_allowlist.as_strings(),
        "valid_until": key.valid_until.rfc3339(),
    });
    let hook_key = format!("api_key.created:{}", key.id);
    notify::webhook(&mut *tx, state, Some(account.id), WebhookEvent::ApiKeyCreated, data, hook_key, now)
        .await?;
    tx.commit().await?;
    state.outbox_wake.notify_one();
    Ok(Created { key, secret })
}

/// The caller's keys, newest first, revoked and expired ones included. Records hold no secret in
/// the clear; callers show none.
pub async fn list(state: &AppState, who: &UserSession) -> Result<Vec<ApiKeyRecord>, ApiError> {
    Ok(state.store.api_keys(who.account_id).await?)
}

/// Revokes one of the caller's keys. Another account's key, or an id that is not a key id, is "not
/// found" — the answer never says whether it exists elsewhere. Revoking a revoked key changes
/// nothing and succeeds.
pub async fn revoke(
    state: &AppState,
    who: &UserSession,
    id: &str,
    ip: Option<IpAddr>,
) -> Result<(), ApiError> {
    let id = ApiKeyId::parse(id).ok_or(ApiError::NotFound)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    let key = tx.api_key_of(account.id, &id).await?.ok_or(ApiError::NotFound)?;
    if !tx.revoke_api_key(account.id, &id, now, RevokeReason::RevokedByUser).await? {
        return Ok(());
    }
    let event = AuditEvent::ApiKeyRevoked { key_id: id.to_string() };
    audit(&mut *tx, Chain::Account(account.id), now, actor(who), event).await?;
    announce_revoked(&mut *tx, state, &account, &id, RevokeReason::RevokedByUser, now).await?;
    let notice = Notice::ApiKeysRevoked {
        keys: vec![(id.to_string(), key.label)],
        at: now,
        ip: ip.map(|i| i.to_string()),
    };
    notify::email(&mut *tx, state, recipient(&account), notice, format!("api_key_revoked:{id}"), now).await?;
    tx.commit().await?;
    state.outbox_wake.notify_one();
    Ok(())
}

/// Revokes every live key of the caller's account; returns how many. Never needs a step-up:
/// revoking only tightens.
pub async fn revoke_all(state: &AppState, who: &UserSession, ip: Option<IpAddr>) -> Result<u32, ApiError> {
    let now = state.clock.now();
    // Labels for the notice only; which keys are revoked is decided under the account lock below.
    let labels: Vec<(ApiKeyId, String)> =
        state.store.api_keys(who.account_id).await?.into_iter().map(|k| (k.id, k.label)).collect();
    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    let revoked = tx.revoke_api_keys(account.id, now, RevokeReason::RevokedByUser).await?;
    if revoked.is_empty() {
        return Ok(0);
    }
    for id in &revoked {
        let event = AuditEvent::ApiKeyRevoked { key_id: id.to_string() };
        audit(&mut *tx, Chain::Account(account.id), now, actor(who), event).await?;
        announce_revoked(&mut *tx, state, &account, id, RevokeReason::RevokedByUser, now).await?;
    }
    let keys = revoked
        .iter()
        .map(|id| {
            let label = labels.iter().find(|(k, _)| k == id).map(|(_, l)| l.clone()).unwrap_or_default();
            (id.to_string(), label)
        })
        .collect();
    let notice = Notice::ApiKeysRevoked { keys, at: now, ip: ip.map(|i| i.to_string()) };
    let idempotency_key = format!("api_keys_revoked:{}:{}", account.id, now.as_micros());
    notify::email(&mut *tx, state, recipient(&account), notice, idempotency_key, now).await?;
    tx.commit().await?;
    state.outbox_wake.notify_one();
    Ok(u32::try_from(revoked.len()).unwrap_or(u32::MAX))
}

/// Tells the exchange a key stopped working (it may cache keys at its gateway).
async fn announce_revoked(
    tx: &mut dyn Tx,
    state: &AppState,
    account: &custos_store::AccountRecord,
    id: &ApiKeyId,
    reason: RevokeReason,
    now: Timestamp,
) -> Result<(), ApiError> {
    let data =
        serde_json::json!({ "uid": account.uid.get(), "key_id": id.to_string(), "reason": reason.as_str() });
    let key = format!("api_key.revoked:{id}");
    notify::webhook(tx, state, Some(account.id), WebhookEvent::ApiKeyRevoked, data, key, now).await
}

/// Revokes every live key of an account inside a command that changed a credential (the matrix's
/// `revoke_api_keys`), with an audit record per key. Returns how many.
pub(crate) async fn revoke_for_credential_change(
    tx: &mut dyn Tx,
    account: AccountId,
    actor: Actor,
    now: Timestamp,
) -> Result<u32, ApiError> {
    let revoked = tx.revoke_api_keys(account, now, RevokeReason::CredentialChanged).await?;
    for id in &revoked {
        let event = AuditEvent::ApiKeyRevoked { key_id: id.to_string() };
        audit(tx, Chain::Account(account), now, actor.clone(), event).await?;
    }
    Ok(u32::try_from(revoked.len()).unwrap_or(u32::MAX))
}
