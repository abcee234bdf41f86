//! Stopping a withdrawal: cancelled before the wallet has it (by its owner, its expired link, the
//! allowlist, or support), or intercepted while the wallet is processing it; the reservation
//! released. The freeze cancels and intercepts too, set-based, in its own transaction
//! ([`super::super::freeze`]).

use custos_core::Reason;
use custos_core::Timestamp;
use custos_core::audit::{Actor, AuditEvent, Chain};
use custos_core::ids::{AccountId, WithdrawalId};
use custos_core::ledger::{EntryKind, Move};
use custos_core::link_token::LinkPurpose;
use custos_core::notice::Notice;
use custos_core::staff::StaffAction;
use custos_core::webhook::WebhookEvent;
use custos_core::withdrawal::Event;
use custos_store::{Tx, WithdrawalRecord};

use super::super::notify::{self, Recipient};
use super::super::{audit, ledger};
use super::{WithdrawalView, announce, summary, transition};
use crate::error::ApiError;
use crate::extract::UserSession;
use crate::state::AppState;

/// Who cancelled: recorded with the withdrawal and in the audit trail.
#[derive(Debug, Clone)]
pub enum CancelledBy {
    Owner(UserSession),
    /// The confirmation link ran out.
    Expiry,
    /// Its hold ended, but the withdrawal allowlist (turned on, or the entry removed, since it was
    /// requested) no longer lets it go to its address.
    Allowlist,
    /// A member of staff in the support console: `intercept` says which button they pressed —
    /// cancel (only before the wallet has it) or intercept (only while it is `processing`).
    Staff {
        staff_id: String,
        name: String,
        reason: String,
        intercept: bool,
    },
}

impl CancelledBy {
    fn label(&self) -> &'static str {
        match self {
            Self::Owner(_) => "user",
            Self::Expiry => "expired",
            Self::Allowlist => "allowlist",
            Self::Staff { .. } => "support",
        }
    }
}

/// Cancels before the wallet has it (funds return at once), or asks the wallet to intercept it
/// while it is processing and records the answer. Broadcast withdrawals are final.
pub async fn cancel(
    state: &AppState,
    id: WithdrawalId,
    by: &CancelledBy,
) -> Result<WithdrawalView, ApiError> {
    let now = state.clock.now();
    let money = &state.config.money;
    // Lock order everywhere: account, then withdrawal.
    let owner = state.store.withdrawal(id).await?.ok_or(ApiError::NotFound)?.account_id;
    if let CancelledBy::Owner(s) = by
        && s.account_id != owner
    {
        return Err(ApiError::NotFound);
    }
    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(owner).await?.ok_or(ApiError::NotFound)?;
    let mut w = tx.lock_withdrawal(id).await?.ok_or(ApiError::NotFound)?;
    if let CancelledBy::Staff { intercept, .. } = by {
        staff_may_stop(&w, *intercept)?;
    }
    if w.state.cancellable() {
        w.state = transition(&w, Event::Cancel)?;
    } else if w.state.interceptable() {
        let outcome = state.wallet.intercept(&w, now).await;
        w.intercept = Some(outcome.describe());
        audit(
            &mut *tx,
            Chain::Account(w.account_id),
            now,
            actor_of(by, w.account_id),
            AuditEvent::WithdrawalIntercepted { withdrawal: id.to_string(), outcome: outcome.describe() },
        )
        .await?;
        if !outcome.stopped() {
            w.updated_at = now;
            tx.update_withdrawal(&w).await?;
            staff_acted(&mut *tx, by, &w, now).await?;
            tx.commit().await?;
            return Err(ApiError::Conflict(Reason::new(
                "withdrawal-not-intercepted",
                format!("The wallet could not stop it: {}.", outcome.describe()),
            )));
        }
        w.state = transition(&w, Event::Intercepted)?;
    } else {
        return Err(ApiError::Conflict(Reason::new(
            "withdrawal-final",
            match &w.txid {
                Some(txid) => format!(
                    "It was already sent (transaction {txid}): a blockchain does not give money back."
                ),
                None => format!("It is {} and can no longer be cancelled.", w.state.as_str()),
            },
        )));
    }
    w.cancelled_at = Some(now);
    w.cancelled_by = Some(by.label().to_owned());
    w.updated_at = now;
    release(&mut *tx, &w, now).await?;
    tx.update_withdrawal(&w).await?;
    tx.spend_links(w.account_id, LinkPurpose::ConfirmWithdrawal, now).await?;
    staff_acted(&mut *tx, by, &w, now).await?;
    audit(
        &mut *tx,
        Chain::Account(w.account_id),
        now,
        actor_of(by, w.account_id),
        AuditEvent::WithdrawalCancelled { withdrawal: id.to_string(), by: by.label().to_owned() },
    )
    .await?;
    notify::email(
        &mut *tx,
        state,
        Recipient::holder(&account),
        Notice::WithdrawalStatus {
            summary: summary(&w, &money.assets),
            status: match by {
                CancelledBy::Owner(_) => "cancelled; the funds are back in your balance".into(),
                CancelledBy::Staff { .. } => "stopped by support; the funds are back in your balance".into(),
                CancelledBy::Expiry => "cancelled because it was not confirmed in time".into(),
                CancelledBy::Allowlist => {
                    "cancelled because your withdrawal allowlist does not allow this address \
                                           now; the funds are back in your balance"
                        .into()
                }
            },
        },
        format!("withdrawal_cancelled:{id}"),
        now,
    )
    .await?;
    announce(&mut *tx, state, &account, &w, WebhookEvent::WithdrawalCancelled, now).await?;
    tx.commit().await?;
    state.outbox_wake.notify_one();
    Ok(WithdrawalView::new(&w, &money.assets))
}

/// A staff member's cancel is only for a withdrawal the wallet does not have yet, their intercept
/// only for one it is processing; anything else is `409` with the reason, and nothing changes.
fn staff_may_stop(w: &WithdrawalRecord, intercept: bool) -> Result<(), ApiError> {
    match (intercept, w.state.cancellable(), w.state.interceptable()) {
        (false, true, _) | (true, _, true) => Ok(()),
        (false, _, true) => Err(ApiError::Conflict(Reason::new(
            "withdrawal-processing",
            "The wallet is processing it: intercept it instead (the wallet is asked to stop it).",
        ))),
        (true, true, _) => Err(ApiError::Conflict(Reason::new(
            "withdrawal-not-processing",
            "The wallet does not have it yet: cancel it instead.",
        ))),
        _ => Err(ApiError::Conflict(Reason::new(
            "withdrawal-final",
            match &w.txid {
                Some(txid) => format!("It was already sent (transaction {txid}): it cannot be stopped."),
                None => format!("It is {} and can no longer be stopped.", w.state.as_str()),
            },
        ))),
    }
}

/// Why a member of staff stopped a withdrawal, audited with the stop.
async fn staff_acted(
    tx: &mut dyn Tx,
    by: &CancelledBy,
    w: &WithdrawalRecord,
    now: Timestamp,
) -> Result<(), ApiError> {
    let CancelledBy::Staff { reason, intercept, .. } = by else { return Ok(()) };
    let action = if *intercept { StaffAction::InterceptWithdrawal } else { StaffAction::CancelWithdrawal };
    let event = AuditEvent::StaffActed {
        action: action.as_str().into(),
        subject: format!("withdrawal:{}", w.id),
        reason: reason.clone(),
    };
    audit(tx, Chain::Account(w.account_id), now, actor_of(by, w.account_id), event).await
}

fn actor_of(by: &CancelledBy, account: AccountId) -> Actor {
    match by {
        CancelledBy::Owner(s) => Actor::User { account, session: Some(s.session_id) },
        CancelledBy::Staff { staff_id, name, .. } => {
            Actor::Staff { staff_id: staff_id.clone(), name: name.clone() }
        }
        CancelledBy::Expiry | CancelledBy::Allowlist => Actor::System,
    }
}

/// Gives a stopped withdrawal's reservation back to the available balance.
pub(crate) async fn release(tx: &mut dyn Tx, w: &WithdrawalRecord, now: Timestamp) -> Result<(), ApiError> {
    let total = w.total().ok_or_else(|| ApiError::Internal("overflow".into()))?;
    ledger::apply(
        tx,
        w.account_id,
        &w.asset,
        EntryKind::WithdrawalReleased,
        Move::Release(total),
        Some(&w.id.to_string()),
        now,
    )
    .await?;
    Ok(())
}
