//! Internal transfers between UIDs, through the same egress gate as withdrawals. Allowed: settled
//! at once (sender debited, receiver credited, one transaction). Held: the amount is reserved
//! until the hold ends — the money worker settles it then — and the sender (or a freeze) can
//! cancel it until it does.

use std::net::IpAddr;

use custos_core::Reason;
use custos_core::Timestamp;
use custos_core::asset;
use custos_core::audit::{Actor, AuditEvent, Chain};
use custos_core::egress::{self, Allowlist, Decision, Facts, Outflow, Policy};
use custos_core::ids::{AccountId, TransferId, Uid};
use custos_core::ledger::{EntryKind, Move};
use custos_core::money::Amount;
use custos_core::notice::Notice;
use custos_core::transfer::{TransferEvent, TransferState};
use custos_core::webhook::WebhookEvent;
use custos_store::{AccountRecord, RequestedVia, StoreError, TransferRecord, Tx};
use serde::{Deserialize, Serialize};

use super::notify::{self, Recipient};
use super::withdrawals::{Requester, StoredReason, gate_via, sent_today};
use super::{audit, ledger};
use crate::error::ApiError;
use crate::extract::UserSession;
use crate::state::AppState;

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    /// The receiving account's public UID.
    pub to_uid: u64,
    pub asset: String,
    /// Decimal string in the asset's units.
    pub amount: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TransferView {
    pub id: String,
    /// `sent` or `received`, from the viewer's side.
    pub direction: &'static str,
    /// The other account's UID.
    pub counterparty_uid: u64,
    pub asset: String,
    pub amount: String,
    pub state: &'static str,
    pub cancellable: bool,
    pub hold_until: Option<String>,
    #[schema(value_type = Vec<crate::error::ReasonDoc>)]
    pub hold_reasons: Vec<StoredReason>,
    pub requested_via: &'static str,
    pub api_key_id: Option<String>,
    pub ip: Option<String>,
    pub created_at: String,
    pub settled_at: Option<String>,
    pub cancelled_at: Option<String>,
    pub cancelled_by: Option<String>,
}

impl TransferView {
    fn new(t: &TransferRecord, viewer: AccountId, counterparty_uid: u64, decimals: u8) -> Self {
        let sent = t.from_account == viewer;
        Self {
            id: t.id.to_string(),
            direction: if sent { "sent" } else { "received" },
            counterparty_uid,
            asset: t.asset.clone(),
            amount: t.amount.format(decimals),
            state: t.state.as_str(),
            cancellable: sent && t.state.cancellable(),
            hold_until: t.hold_until.filter(|_| t.state == TransferState::Held).map(|u| u.rfc3339()),
            hold_reasons: if sent {
                t.hold_reasons.as_deref().and_then(|j| serde_json::from_str(j).ok()).unwrap_or_default()
            } else {
                Vec::new()
            },
            // Who asked and from where is the sender's business only.
            requested_via: if sent { t.requested_via.as_str() } else { "" },
            api_key_id: t.api_key_id.clone().filter(|_| sent),
            ip: t.ip.filter(|_| sent).map(|i| i.to_string()),
            created_at: t.created_at.rfc3339(),
            settled_at: t.settled_at.map(|u| u.rfc3339()),
            cancelled_at: t.cancelled_at.map(|u| u.rfc3339()),
            cancelled_by: t.cancelled_by.clone().filter(|_| sent),
        }
    }
}

async fn view(state: &AppState, t: &TransferRecord, viewer: AccountId) -> Result<TransferView, ApiError> {
    let other = if t.from_account == viewer { t.to_account } else { t.from_account };
    let uid = state.store.account(other).await?.map(|a| a.uid.get()).unwrap_or(0);
    let decimals = asset::find(&state.config.money.assets, &t.asset).map(|a| a.decimals).unwrap_or(0);
    Ok(TransferView::new(t, viewer, uid, decimals))
}

fn refuse(code: &'static str, detail: impl Into<String>) -> ApiError {
    ApiError::Validation(vec![Reason::new(code, detail)])
}

/// Sends value to another account. The gate decides as for a withdrawal (no allowlist: the
/// destination is an account here, not an address); a deny changes nothing.
pub async fn request(
    state: &AppState,
    who: &Requester,
    req: &TransferRequest,
    idempotency_key: Option<&str>,
    ip: Option<IpAddr>,
) -> Result<TransferView, ApiError> {
    let money = &state.config.money;
    let spec = asset::find(&money.assets, &req.asset).ok_or_else(|| {
        refuse("unknown-asset", format!("{:?} is not an asset on this platform.", req.asset))
    })?;
    let amount = Amount::parse_positive(&req.amount, spec.decimals)
        .map_err(|e| refuse("amount-invalid", e.to_string()))?;
    let (from, actor) = match who {
        Requester::Session(s) => {
            (s.account_id, Actor::User { account: s.account_id, session: Some(s.session_id) })
        }
        Requester::ApiKey { account_id, .. } => {
            (*account_id, Actor::User { account: *account_id, session: None })
        }
    };
    // A UID is public (people quote it to be paid), so saying none exists reveals nothing private.
    let to = match Uid::from_u64(req.to_uid) {
        Some(uid) => state.store.account_by_uid(uid).await?,
        None => None,
    }
    .ok_or_else(|| refuse("unknown-recipient", "No account has this UID."))?;
    if to.id == from {
        return Err(refuse("transfer-to-self", "Choose another account's UID."));
    }
    let via = gate_via(state, who, ip).await?;

    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let (sender, receiver) = lock_pair(&mut *tx, from, to.id).await?;
    if let Some(k) = idempotency_key
        && let Some(earlier) = tx.transfer_by_idempotency_key(from, k).await?
    {
        let same = earlier.to_account == to.id && earlier.asset == spec.code && earlier.amount == amount;
        return if same {
            tx.rollback().await?;
            view(state, &earlier, from).await
        } else {
            Err(ApiError::Conflict(Reason::new(
                "idempotency-key-reused",
                "This Idempotency-Key was used for a different transfer.",
            )))
        };
    }
    let balance = tx.lock_balance(from, spec.code, now).await?;
    let facts = Facts {
        status: sender.status,
        withdrawal_lock_until: sender.withdrawal_lock_until,
        // The withdrawal allowlist lists chain addresses; a transfer goes to a UID on this
        // platform, where the traced funds can still be held. It never applies here.
        allowlist: Allowlist::Off,
        available: balance.available,
        sent_last_24h: sent_today(&mut *tx, from, spec.code, now).await?,
        limit_24h: spec.daily_limit,
        min_amount: Amount::from_atomic(1),
        destination_used_before: true,
    };
    let policy = Policy {
        step_up_window: state.config.step_up_window,
        hold_for: money.hold_for,
        new_device_age: money.new_device_age,
        large_amount: spec.large_amount,
    };
    let gate = egress::Request { outflow: Outflow::Transfer, amount, fee: Amount::ZERO, via };
    let decision = egress::decide(&gate, &facts, &policy, now);
    let (session_id, device_id, api_key_id, requested_via) = match who {
        Requester::Session(s) => (Some(s.session_id), Some(s.device_id), None, RequestedVia::Session),
        Requester::ApiKey { key_id, .. } => (None, None, Some(key_id.clone()), RequestedVia::ApiKey),
    };
    let mut t = TransferRecord {
        id: TransferId::new(),
        from_account: from,
        to_account: to.id,
        asset: spec.code.to_owned(),
        amount,
        state: TransferState::Requested,
        hold_until: None,
        hold_reasons: None,
        requested_via,
        session_id,
        api_key_id,
        device_id,
        ip,
        idempotency_key: idempotency_key.map(str::to_owned),
        created_at: now,
        settled_at: None,
        cancelled_at: None,
        cancelled_by: None,
        updated_at: now,
    };
    let reference = t.id.to_string();
    match decision {
        Decision::Deny { reasons } => {
            tx.rollback().await?;
            return Err(ApiError::Refused(reasons));
        }
        Decision::Allow => {
            t.state = transition(&t, TransferEvent::Settle)?;
            t.settled_at = Some(now);
            ledger::apply(
                &mut *tx,
                from,
                spec.code,
                EntryKind::TransferOut,
                Move::Debit(amount),
                Some(&reference),
                now,
            )
            .await?;
            ledger::apply(
                &mut *tx,
                to.id,
                spec.code,
                EntryKind::TransferIn,
                Move::Credit(amount),
                Some(&reference),
                now,
            )
            .await?;
        }
        Decision::Hold { until, reasons } => {
            t.state = transition(&t, TransferEvent::Hold)?;
            t.hold_until = Some(until);
            t.hold_reasons =
                Some(serde_json::to_string(&reasons).map_err(|e| ApiError::Internal(e.to_string()))?);
            ledger::apply(
                &mut *tx,
                from,
                spec.code,
                EntryKind::TransferReserved,
                Move::Reserve(amount),
                Some(&reference),
                now,
            )
            .await?;
        }
    }
    match tx.insert_transfer(&t).await {
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::Conflict(Reason::new(
                "idempotency-key-reused",
                "This Idempotency-Key was already used.",
            )));
        }
        other => other?,
    }
    let shown = t.amount.format(spec.decimals);
    audit(
        &mut *tx,
        Chain::Account(from),
        now,
        actor,
        AuditEvent::TransferRequested {
            transfer: reference.clone(),
            amount: format!("{shown} {}", spec.code),
        },
    )
    .await?;
    let status = match t.state {
        TransferState::Held => format!(
            "held until {} — you can cancel it until then",
            t.hold_until.map(|u| u.to_string()).unwrap_or_default()
        ),
        _ => "settled".to_owned(),
    };
    notify::email(
        &mut *tx,
        state,
        Recipient::holder(&sender),
        Notice::TransferStatus {
            outgoing: true,
            asset: spec.code.to_owned(),
            amount: shown.clone(),
            counterparty_uid: receiver.uid.get(),
            status,
        },
        format!("transfer_requested:{}", t.id),
        now,
    )
    .await?;
    if t.state == TransferState::Settled {
        tell_receiver(&mut *tx, state, &sender, &receiver, &t, &shown, now).await?;
    }
    announce(&mut *tx, state, &sender, &receiver, &t, WebhookEvent::TransferCreated, now).await?;
    tx.commit().await?;
    state.outbox_wake.notify_one();
    Ok(TransferView::new(&t, from, receiver.uid.get(), spec.decimals))
}

fn transition(t: &TransferRecord, e: TransferEvent) -> Result<TransferState, ApiError> {
    t.state.apply(e).map_err(|err| ApiError::Internal(err.to_string()))
}

async fn tell_receiver(
    tx: &mut dyn Tx,
    state: &AppState,
    sender: &AccountRecord,
    receiver: &AccountRecord,
    t: &TransferRecord,
    shown: &str,
    now: Timestamp,
) -> Result<(), ApiError> {
    notify::email(
        tx,
        state,
        Recipient::holder(receiver),
        Notice::TransferStatus {
            outgoing: false,
            asset: t.asset.clone(),
            amount: shown.to_owned(),
            counterparty_uid: sender.uid.get(),
            status: "settled".into(),
        },
        format!("transfer_received:{}", t.id),
        now,
    )
    .await?;
    Ok(())
}

async fn announce(
    tx: &mut dyn Tx,
    state: &AppState,
    sender: &AccountRecord,
    receiver: &AccountRecord,
    t: &TransferRecord,
    event: WebhookEvent,
    now: Timestamp,
) -> Result<(), ApiError> {
    let decimals = asset::find(&state.config.money.assets, &t.asset).map(|a| a.decimals).unwrap_or(0);
    let data = serde_json::json!({
        "from_uid": sender.uid.get(),
        "to_uid": receiver.uid.get(),
        "transfer": TransferView::new(t, sender.id, receiver.uid.get(), decimals),
    });
    notify::webhook(tx, state, Some(sender.id), event, data, format!("{}:{}", event.as_str(), t.id), now)
        .await
}

/// Who stops a transfer.
#[derive(Debug, Clone)]
pub enum TransferCancelledBy {
    Sender(UserSession),
}

/// Cancels a transfer that has not settled; the reservation returns to the sender's balance.
pub async fn cancel(
    state: &AppState,
    id: TransferId,
    by: &TransferCancelledBy,
) -> Result<TransferView, ApiError> {
    let TransferCancelledBy::Sender(who) = by;
    let found = state.store.transfer(id).await?.filter(|t| t.from_account == who.account_id);
    let found = found.ok_or(ApiError::NotFound)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let (sender, receiver) = lock_pair(&mut *tx, found.from_account, found.to_account).await?;
    let mut t = tx.lock_transfer(id).await?.ok_or(ApiError::NotFound)?;
    if !t.state.cancellable() {
        return Err(ApiError::Conflict(Reason::new(
            "transfer-final",
            "It has settled: the money is in the other account. Contact support through the official website.",
        )));
    }
    t.state = transition(&t, TransferEvent::Cancel)?;
    t.cancelled_at = Some(now);
    t.cancelled_by = Some("user".into());
    t.updated_at = now;
    let reference = t.id.to_string();
    ledger::apply(
        &mut *tx,
        t.from_account,
        &t.asset,
        EntryKind::TransferReleased,
        Move::Release(t.amount),
        Some(&reference),
        now,
    )
    .await?;
    tx.update_transfer(&t).await?;
    audit(
        &mut *tx,
        Chain::Account(t.from_account),
        now,
        Actor::User { account: who.account_id, session: Some(who.session_id) },
        AuditEvent::TransferCancelled { transfer: reference, by: "user".into() },
    )
    .await?;
    announce(&mut *tx, state, &sender, &receiver, &t, WebhookEvent::TransferCancelled, now).await?;
    tx.commit().await?;
    state.outbox_wake.notify_one();
    view(state, &t, who.account_id).await
}

/// Locks sender and receiver in id order, so two transfers in opposite directions cannot
/// deadlock; returns them as (sender, receiver).
async fn lock_pair(
    tx: &mut dyn Tx,
    from: AccountId,
    to: AccountId,
) -> Result<(AccountRecord, AccountRecord), ApiError> {
    let (first, second) = if from.as_uuid() < to.as_uuid() { (from, to) } else { (to, from) };
    let a1 = tx.lock_account(first).await?.ok_or(ApiError::NotFound)?;
    let a2 = tx.lock_account(second).await?.ok_or(ApiError::NotFound)?;
    Ok(if a1.id == from { (a1, a2) } else { (a2, a1) })
}

/// Settles held transfers whose hold has ended (called by the money worker). Returns how many.
pub async fn settle_due(state: &AppState) -> Result<usize, ApiError> {
    let now = state.clock.now();
    let mut settled = 0;
    for id in state.store.transfers_due(now, 50).await? {
        let Some(found) = state.store.transfer(id).await? else { continue };
        let mut tx = state.store.begin().await?;
        let (sender, receiver) = lock_pair(&mut *tx, found.from_account, found.to_account).await?;
        let Some(mut t) = tx.lock_transfer(id).await? else { continue };
        if t.state != TransferState::Held || t.hold_until.is_some_and(|u| u > now) {
            continue;
        }
        t.state = transition(&t, TransferEvent::Release)?;
        t.settled_at = Some(now);
        t.updated_at = now;
        let reference = t.id.to_string();
        ledger::apply(
            &mut *tx,
            t.from_account,
            &t.asset,
            EntryKind::TransferOut,
            Move::Settle(t.amount),
            Some(&reference),
            now,
        )
        .await?;
        ledger::apply(
            &mut *tx,
            t.to_account,
            &t.asset,
            EntryKind::TransferIn,
            Move::Credit(t.amount),
            Some(&reference),
            now,
        )
        .await?;
        tx.update_transfer(&t).await?;
        let decimals = asset::find(&state.config.money.assets, &t.asset).map(|a| a.decimals).unwrap_or(0);
        tell_receiver(&mut *tx, state, &sender, &receiver, &t, &t.amount.format(decimals), now).await?;
        tx.commit().await?;
        settled += 1;
    }
    Ok(settled)
}

pub async fn history(state: &AppState, account: AccountId) -> Result<Vec<TransferView>, ApiError> {
    let rows = state.store.transfers(account, 200).await?;
    let mut out = Vec::with_capacity(rows.len());
    for t in &rows {
        out.push(view(state, t, account).await?);
    }
    Ok(out)
}
