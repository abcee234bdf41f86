//! Withdrawals: request (through the egress gate), confirm by emailed link, cancel or intercept,
//! and the history. The wallet side — holds running out, broadcasting, confirming — is in
//! [`crate::wallet`].
//!
//! Every state change goes through [`WithdrawalState::apply`], so no path reaches the wallet
//! without the gate's decision (`requested → awaiting_confirmation` is only taken on an allow or a
//! hold) and the owner's confirmation.

use std::net::IpAddr;
use std::time::Duration;

use custos_core::Reason;
use custos_core::Timestamp;
use custos_core::asset::{self, AssetSpec, MemoRule, Network};
use custos_core::audit::{Actor, AuditEvent, Chain};
use custos_core::crypto::BearerToken;
use custos_core::egress::{self, Allowlist, Decision, Facts, Outflow, Policy, Via};
use custos_core::ids::{AccountId, LinkTokenId, WithdrawalId};
use custos_core::ledger::{EntryKind, Move};
use custos_core::link_token::LinkPurpose;
use custos_core::login::AccountStatus;
use custos_core::money::Amount;
use custos_core::notice::{Notice, WithdrawalSummary};
use custos_core::step_up::Requirement;
use custos_core::webhook::WebhookEvent;
use custos_core::withdrawal::{Event, WithdrawalState};
use custos_store::{AccountRecord, LinkTokenRecord, RequestedVia, StoreError, Tx, WithdrawalRecord};
use serde::Deserialize;

use super::notify::{self, Recipient};
use super::{audit, ledger, step_up};
use crate::error::ApiError;
use crate::extract::UserSession;
use crate::state::AppState;

mod cancel;
mod view;
pub(crate) use cancel::release;
pub use cancel::{CancelledBy, cancel};
use view::stored_reasons;
pub use view::{StoredReason, WithdrawalView};

/// What the caller asks for. Amounts are decimal strings in the asset's units.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawalRequest {
    pub asset: String,
    pub network: String,
    pub address: String,
    #[serde(default)]
    pub memo: Option<String>,
    pub amount: String,
}

/// Who asks: a signed-in session, or a signed API-key request that was already authenticated.
#[derive(Debug, Clone)]
pub enum Requester {
    Session(UserSession),
    ApiKey {
        account_id: AccountId,
        key_id: String,
        /// The key carries the `withdraw` scope.
        has_scope: bool,
        /// The request came from an address on the key's allowlist.
        ip_allowed: bool,
    },
}

impl Requester {
    /// A signed API-key request: whether the key has the scope the outflow needs (`withdraw`,
    /// `transfer`) and the request came from its allowlist is for the egress gate to weigh; a key
    /// that is unusable altogether (revoked, expired) was already refused by the extractor.
    pub fn api_key(
        caller: &crate::extract_api_key::ApiKeyCaller,
        scope: custos_core::api_key::Scope,
        state: &AppState,
    ) -> Self {
        let reasons = caller.authorize(scope, caller.peer, state.clock.now()).err().unwrap_or_default();
        let has = |code: &str| reasons.iter().any(|r| r.code.0 == code);
        Self::ApiKey {
            account_id: caller.account_id,
            key_id: caller.key.id.to_string(),
            has_scope: !has("api-key-scope-missing"),
            ip_allowed: !has("api-key-ip-not-allowed"),
        }
    }

    fn account_id(&self) -> AccountId {
        match self {
            Self::Session(s) => s.account_id,
            Self::ApiKey { account_id, .. } => *account_id,
        }
    }
}

/// The checked request: a known asset and network, a valid address and memo, a positive amount
/// with no more decimals than the asset has.
struct Checked<'a> {
    spec: &'a AssetSpec,
    network: &'a Network,
    address: String,
    memo: Option<String>,
    amount: Amount,
}

fn check<'a>(assets: &'a [AssetSpec], r: &WithdrawalRequest) -> Result<Checked<'a>, ApiError> {
    let refuse = |code: &'static str, detail: String| ApiError::Validation(vec![Reason::new(code, detail)]);
    let spec = asset::find(assets, &r.asset).ok_or_else(|| {
        refuse("unknown-asset", format!("{:?} is not an asset withdrawals support.", r.asset))
    })?;
    let network = spec.network(&r.network).ok_or_else(|| {
        refuse("unknown-network", format!("{} cannot be withdrawn on {:?}.", spec.code, r.network))
    })?;
    let mut reasons = Vec::new();
    let address = match asset::validate_address(network.format, r.address.trim()) {
        Ok(a) => Some(a),
        Err(e) => {
            reasons.push(Reason::new("address-invalid", format!("{}: {e}.", network.name)));
            None
        }
    };
    let memo = r.memo.as_deref().map(str::trim).filter(|m| !m.is_empty()).map(str::to_owned);
    match (network.memo, &memo) {
        (MemoRule::Required, None) => {
            reasons.push(Reason::new("memo-required", "This network needs a memo (tag) for this address."))
        }
        (MemoRule::None, Some(_)) => {
            reasons.push(Reason::new("memo-not-allowed", "This network does not use memos."))
        }
        (_, Some(m)) if m.len() > 64 || m.chars().any(char::is_control) => {
            reasons.push(Reason::new("memo-invalid", "A memo is at most 64 printable characters."))
        }
        _ => {}
    }
    let amount = match Amount::parse_positive(&r.amount, spec.decimals) {
        Ok(a) => Some(a),
        Err(e) => {
            reasons.push(Reason::new("amount-invalid", e.to_string()));
            None
        }
    };
    match (address, amount) {
        (Some(address), Some(amount)) if reasons.is_empty() => {
            Ok(Checked { spec, network, address, memo, amount })
        }
        _ => Err(ApiError::Validation(reasons)),
    }
}

pub(crate) fn summary(w: &WithdrawalRecord, assets: &[AssetSpec]) -> WithdrawalSummary {
    let v = WithdrawalView::new(w, assets);
    WithdrawalSummary {
        asset: v.asset,
        network: v.network,
        amount: v.amount,
        fee: v.fee,
        address: v.address,
        memo: v.memo,
        txid: v.txid,
        requested_at: w.created_at,
        ip: v.ip,
    }
}

fn idempotency_conflict() -> ApiError {
    ApiError::Conflict(Reason::new(
        "idempotency-key-reused",
        "This Idempotency-Key was used for a different withdrawal.",
    ))
}

/// How the gate sees the requester. A session must have stepped up with a second factor recently
/// (asked here first, so the caller learns the methods to step up with); its device's age feeds
/// the new-device hold, the risk signals of the sign-in that opened it the risky-login hold, and
/// the request's address against the sign-in's the session-moved hold.
pub(crate) async fn gate_via(state: &AppState, who: &Requester, ip: Option<IpAddr>) -> Result<Via, ApiError> {
    match who {
        Requester::Session(s) => {
            step_up::require(state, s, Requirement::RecentAal2).await?;
            let first_seen = state
                .store
                .devices(s.account_id)
                .await?
                .iter()
                .find(|d| d.id == s.device_id)
                .map(|d| d.first_seen_at)
                .ok_or(ApiError::Unauthenticated)?;
            let login = state.store.login_event_of_session(s.session_id).await?;
            let codes: Vec<_> = login.iter().flat_map(|e| e.signals.iter().map(|s| s.code)).collect();
            let risk = &state.config.risk;
            let session_moved = match (login, ip) {
                (Some(e), Some(ip)) => {
                    let at_login = e.ip.map(|i| risk.ip_db.lookup(i)).unwrap_or_default();
                    custos_core::risk::session_moved(e.ip, &at_login, ip, &risk.ip_db.lookup(ip), &risk.risky)
                        .is_some()
                }
                _ => false,
            };
            Ok(Via::Session {
                aal: s.aal,
                stepped_up_at: s.stepped_up_at,
                device_first_seen_at: first_seen,
                risky_login: custos_core::risk::is_high_risk(&codes),
                session_moved,
            })
        }
        Requester::ApiKey { has_scope, ip_allowed, .. } => {
            Ok(Via::ApiKey { has_scope: *has_scope, ip_allowed: *ip_allowed })
        }
    }
}

/// What left (or is on its way out of) the account in `asset` over the last 24 hours:
/// withdrawals and internal transfers together, against one daily limit.
pub(crate) async fn sent_today(
    tx: &mut dyn Tx,
    account: AccountId,
    asset: &str,
    now: Timestamp,
) -> Result<Amount, ApiError> {
    let since = now.minus(Duration::from_secs(24 * 3600));
    let mut amounts = tx.withdrawn_since(account, asset, since).await?;
    amounts.extend(tx.transferred_since(account, asset, since).await?);
    // Overflow cannot be reached with real balances; if it were, the limit is certainly exceeded.
    Ok(amounts
        .into_iter()
        .try_fold(Amount::ZERO, Amount::checked_add)
        .unwrap_or(Amount::from_atomic(u128::MAX)))
}

/// What the withdrawal allowlist says about this destination now (read under the account lock,
/// so a concurrent change to the list is either wholly before or wholly after this request).
async fn allowlist_fact(
    tx: &mut dyn Tx,
    account: AccountId,
    destination: &custos_core::allowlist::Destination<'_>,
    now: Timestamp,
) -> Result<Allowlist, ApiError> {
    let mode = tx.allowlist_mode_of(account).await?.mode();
    if !mode.enforced(now) {
        return Ok(Allowlist::Off);
    }
    let entries: Vec<_> = tx.allowlist_entries_of(account).await?.iter().map(|e| e.facts()).collect();
    Ok(custos_core::allowlist::egress_fact(mode, &entries, destination, now))
}

/// The allowlist's deny reasons for a withdrawal's stored destination, asked again when its owner
/// confirms it: an allowlist turned on (or an entry removed) after the request tightens it too.
pub(crate) async fn allowlist_reasons_now(
    tx: &mut dyn Tx,
    w: &WithdrawalRecord,
    now: Timestamp,
) -> Result<Vec<Reason>, ApiError> {
    let destination = custos_core::allowlist::Destination {
        asset: &w.asset,
        network: &w.network,
        address: &w.address,
        memo: w.memo.as_deref(),
    };
    let fact = allowlist_fact(tx, w.account_id, &destination, now).await?;
    Ok(egress::allowlist_reasons(fact, now))
}

/// Requests a withdrawal. The gate decides with everything it needs; a deny changes nothing.
/// An allow or a hold reserves amount + fee and emails the confirmation link; a hold is applied
/// when the owner confirms. The same `idempotency_key` returns the first result.
pub async fn request(
    state: &AppState,
    who: &Requester,
    req: &WithdrawalRequest,
    idempotency_key: Option<&str>,
    ip: Option<IpAddr>,
) -> Result<WithdrawalView, ApiError> {
    let money = &state.config.money;
    let c = check(&money.assets, req)?;
    if let Some(k) = idempotency_key
        && (k.is_empty() || k.len() > 128)
    {
        return Err(ApiError::Validation(vec![Reason::new(
            "idempotency-key-invalid",
            "An Idempotency-Key is 1–128 characters.",
        )]));
    }
    let via = gate_via(state, who, ip).await?;
    let now = state.clock.now();
    let account_id = who.account_id();
    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(account_id).await?.ok_or(ApiError::Unauthenticated)?;
    if let Some(k) = idempotency_key
        && let Some(earlier) = tx.withdrawal_by_idempotency_key(account_id, k).await?
    {
        let same = earlier.asset == c.spec.code
            && earlier.network == c.network.code
            && earlier.address == c.address
            && earlier.memo == c.memo
            && earlier.amount == c.amount;
        return if same {
            Ok(WithdrawalView::new(&earlier, &money.assets))
        } else {
            Err(idempotency_conflict())
        };
    }
    let balance = tx.lock_balance(account_id, c.spec.code, now).await?;
    let sent_last_24h = sent_today(&mut *tx, account_id, c.spec.code, now).await?;
    let used_before = tx.address_used_before(account_id, c.spec.code, c.network.code, &c.address).await?;
    let destination = custos_core::allowlist::Destination {
        asset: c.spec.code,
        network: c.network.code,
        address: &c.address,
        memo: c.memo.as_deref(),
    };
    let allowlist = allowlist_fact(&mut *tx, account_id, &destination, now).await?;
    let facts = Facts {
        status: account.status,
        withdrawal_lock_until: account.withdrawal_lock_until,
        allowlist,
        available: balance.available,
        sent_last_24h,
        limit_24h: c.spec.daily_limit,
        min_amount: c.network.min_withdrawal,
        destination_used_before: used_before,
    };
    let request = egress::Request { outflow: Outflow::Withdrawal, amount: c.amount, fee: c.network.fee, via };
    let policy = Policy {
        step_up_window: state.config.step_up_window,
        hold_for: money.hold_for,
        new_device_age: money.new_device_age,
        large_amount: c.spec.large_amount,
    };
    let hold_reasons = match egress::decide(&request, &facts, &policy, now) {
        Decision::Deny { reasons } => {
            drop(tx);
            return Err(ApiError::Refused(reasons));
        }
        Decision::Allow => Vec::new(),
        Decision::Hold { reasons, .. } => reasons,
    };

    let id = WithdrawalId::new();
    let total = c.amount.checked_add(c.network.fee).ok_or_else(|| ApiError::Internal("overflow".into()))?;
    ledger::apply(
        &mut *tx,
        account_id,
        c.spec.code,
        EntryKind::WithdrawalReserved,
        Move::Reserve(total),
        Some(&id.to_string()),
        now,
    )
    .await?;
    let state_after = WithdrawalState::Requested
        .apply(Event::AskConfirmation)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let (session_id, device_id, api_key_id, requested_via) = match who {
        Requester::Session(s) => (Some(s.session_id), Some(s.device_id), None, RequestedVia::Session),
        Requester::ApiKey { key_id, .. } => (None, None, Some(key_id.clone()), RequestedVia::ApiKey),
    };
    let w = WithdrawalRecord {
        id,
        account_id,
        asset: c.spec.code.to_owned(),
        network: c.network.code.to_owned(),
        address: c.address,
        memo: c.memo,
        amount: c.amount,
        fee: c.network.fee,
        state: state_after,
        hold_until: None,
        hold_reasons: if hold_reasons.is_empty() {
            None
        } else {
            Some(serde_json::to_string(&hold_reasons).map_err(|e| ApiError::Internal(e.to_string()))?)
        },
        txid: None,
        requested_via,
        session_id,
        api_key_id,
        device_id,
        ip,
        idempotency_key: idempotency_key.map(str::to_owned),
        created_at: now,
        confirmed_at: None,
        queued_at: None,
        processing_at: None,
        broadcast_at: None,
        completed_at: None,
        cancelled_at: None,
        cancelled_by: None,
        intercept: None,
        failure: None,
        updated_at: now,
    };
    match tx.insert_withdrawal(&w).await {
        Err(StoreError::Conflict(_)) => return Err(idempotency_conflict()),
        other => other?,
    }
    let token = BearerToken::generate();
    let link = LinkTokenRecord {
        id: LinkTokenId::new(),
        token_hash: token.hash(),
        purpose: LinkPurpose::ConfirmWithdrawal,
        account_id,
        subject: Some(id.to_string()),
        stamp_at_issue: account.security_stamp.clone(),
        created_at: now,
        expires_at: now.plus(money.confirm_ttl),
        used_at: None,
    };
    tx.insert_link_token(&link).await?;
    let actor = match who {
        Requester::Session(s) => Actor::User { account: account_id, session: Some(s.session_id) },
        Requester::ApiKey { .. } => Actor::User { account: account_id, session: None },
    };
    audit(
        &mut *tx,
        Chain::Account(account_id),
        now,
        actor,
        AuditEvent::WithdrawalRequested {
            withdrawal: id.to_string(),
            asset: w.asset.clone(),
            amount: w.amount.format(c.spec.decimals),
        },
    )
    .await?;
    let confirm_url = state.config.link(&format!("/confirm-withdrawal/{}", token.expose()));
    notify::email(
        &mut *tx,
        state,
        Recipient::holder(&account),
        Notice::ConfirmWithdrawal {
            summary: summary(&w, &money.assets),
            confirm_url,
            expires_at: link.expires_at,
        },
        format!("confirm_withdrawal:{id}"),
        now,
    )
    .await?;
    announce(&mut *tx, state, &account, &w, WebhookEvent::WithdrawalCreated, now).await?;
    tx.commit().await?;
    state.outbox_wake.notify_one();
    Ok(WithdrawalView::new(&w, &money.assets))
}

/// Queues the lifecycle webhook for the exchange (Standard Webhooks, from the outbox).
pub(crate) async fn announce(
    tx: &mut dyn Tx,
    state: &AppState,
    account: &AccountRecord,
    w: &WithdrawalRecord,
    event: WebhookEvent,
    now: Timestamp,
) -> Result<(), ApiError> {
    let data = serde_json::json!({
        "uid": account.uid.get(),
        "withdrawal": WithdrawalView::new(w, &state.config.money.assets),
    });
    notify::webhook(tx, state, Some(account.id), event, data, format!("{}:{}", event.as_str(), w.id), now)
        .await
}

/// What the confirmation page shows before anything is done (GET changes nothing).
pub async fn preview(state: &AppState, token: &str) -> Result<WithdrawalView, ApiError> {
    let token = BearerToken::parse(token).ok_or(ApiError::LinkInvalid)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let (link, _) = super::open_link(&mut *tx, &token, LinkPurpose::ConfirmWithdrawal, now).await?;
    let id = link_subject(&link)?;
    let w = tx.lock_withdrawal(id).await?.ok_or(ApiError::LinkInvalid)?;
    tx.rollback().await?;
    Ok(WithdrawalView::new(&w, &state.config.money.assets))
}

fn link_subject(link: &LinkTokenRecord) -> Result<WithdrawalId, ApiError> {
    link.subject.as_deref().and_then(|s| s.parse().ok()).ok_or(ApiError::LinkInvalid)
}

/// Confirms by the emailed link: the withdrawal is queued for the wallet, or held until its hold
/// ends (the hold starts now). Refused when the account is no longer active, or when the
/// withdrawal allowlist now refuses its address.
pub async fn confirm(state: &AppState, token: &str, ip: Option<IpAddr>) -> Result<WithdrawalView, ApiError> {
    let token = BearerToken::parse(token).ok_or(ApiError::LinkInvalid)?;
    let now = state.clock.now();
    let money = &state.config.money;
    let mut tx = state.store.begin().await?;
    let (link, account) = super::open_link(&mut *tx, &token, LinkPurpose::ConfirmWithdrawal, now).await?;
    let id = link_subject(&link)?;
    let mut w = tx.lock_withdrawal(id).await?.ok_or(ApiError::LinkInvalid)?;
    if w.account_id != account.id || w.state != WithdrawalState::AwaitingConfirmation {
        return Err(ApiError::LinkInvalid);
    }
    if account.status != AccountStatus::Active {
        return Err(ApiError::AccountInactive);
    }
    let denied = allowlist_reasons_now(&mut *tx, &w, now).await?;
    if !denied.is_empty() {
        // Nothing changes: unconfirmed, it is cancelled (and its funds released) when its link expires.
        return Err(ApiError::Refused(denied));
    }
    if !tx.mark_link_token_used(link.id, now).await? {
        return Err(ApiError::LinkInvalid);
    }
    let reasons = stored_reasons(&w);
    w.confirmed_at = Some(now);
    w.updated_at = now;
    if reasons.is_empty() {
        w.state = transition(&w, Event::Confirmed)?;
        w.queued_at = Some(now);
        audit(
            &mut *tx,
            Chain::Account(account.id),
            now,
            Actor::Anonymous { ip },
            AuditEvent::WithdrawalConfirmed { withdrawal: id.to_string() },
        )
        .await?;
    } else {
        w.state = transition(&w, Event::Hold)?;
        let until = now.plus(money.hold_for);
        w.hold_until = Some(until);
        let reasons: Vec<StoredReason> =
            reasons.into_iter().map(|r| StoredReason { until: Some(until), ..r }).collect();
        w.hold_reasons =
            Some(serde_json::to_string(&reasons).map_err(|e| ApiError::Internal(e.to_string()))?);
        audit(
            &mut *tx,
            Chain::Account(account.id),
            now,
            Actor::Anonymous { ip },
            AuditEvent::WithdrawalHeld {
                withdrawal: id.to_string(),
                reasons: reasons.iter().map(|r| r.code.clone()).collect(),
            },
        )
        .await?;
        notify::email(
            &mut *tx,
            state,
            Recipient::holder(&account),
            Notice::WithdrawalStatus {
                summary: summary(&w, &money.assets),
                status: format!(
                    "held until {until} ({}); you can cancel it until then",
                    reasons.iter().map(|r| r.detail.as_str()).collect::<Vec<_>>().join(" ")
                ),
            },
            format!("withdrawal_held:{id}"),
            now,
        )
        .await?;
        announce(&mut *tx, state, &account, &w, WebhookEvent::WithdrawalHeld, now).await?;
    }
    tx.update_withdrawal(&w).await?;
    tx.commit().await?;
    state.outbox_wake.notify_one();
    Ok(WithdrawalView::new(&w, &money.assets))
}

pub(crate) fn transition(w: &WithdrawalRecord, e: Event) -> Result<WithdrawalState, ApiError> {
    w.state.apply(e).map_err(|err| ApiError::Internal(err.to_string()))
}

pub async fn history(state: &AppState, account: AccountId) -> Result<Vec<WithdrawalView>, ApiError> {
    let rows = state.store.withdrawals(account, 200).await?;
    Ok(rows.iter().map(|w| WithdrawalView::new(w, &state.config.money.assets)).collect())
}
