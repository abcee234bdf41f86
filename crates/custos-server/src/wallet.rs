//! The wallet side of withdrawals: the connector to the exchange's wallet service, and the worker
//! that moves confirmed withdrawals along — holds that ran out → `queued` → `processing` →
//! `broadcast` (the funds leave the ledger) → `confirmed` — and cancels those whose confirmation
//! link ran out. Every step is its own transaction that locks the withdrawal and re-checks its
//! state, so several nodes can run the worker at once.

use std::sync::Arc;

use custos_core::Timestamp;
use custos_core::audit::{Actor, AuditEvent, Chain};
use custos_core::crypto::sha256;
use custos_core::ids::WithdrawalId;
use custos_core::ledger::{EntryKind, Move};
use custos_core::notice::Notice;
use custos_core::webhook::WebhookEvent;
use custos_core::withdrawal::{Event, WithdrawalState};
use custos_store::WithdrawalRecord;
use tokio::sync::watch;

use crate::config::{MoneyConfig, WalletConfig, WalletKind};
use crate::error::ApiError;
use crate::state::AppState;
use crate::usecases::notify::{self, Recipient};
use crate::usecases::withdrawals::{self, CancelledBy, transition};
use crate::usecases::{audit, ledger};

/// The wallet's answer to "stop this one".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterceptOutcome {
    /// Stopped before it was signed and broadcast.
    Intercepted,
    /// Already broadcast: final.
    TooLate { txid: String },
    /// The wallet could not be asked (it is down, or answered nonsense); nothing is known.
    Unreachable(String),
}

impl InterceptOutcome {
    pub fn stopped(&self) -> bool {
        matches!(self, Self::Intercepted)
    }
    pub fn describe(&self) -> String {
        match self {
            Self::Intercepted => "intercepted".into(),
            Self::TooLate { txid } => format!("too late: already broadcast as {txid}"),
            Self::Unreachable(e) => format!("wallet unreachable: {e}"),
        }
    }
}

mod http;
pub use http::HttpWallet;

/// Where a withdrawal the wallet has stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalletStep {
    Pending,
    /// The wallet has no such withdrawal: the hand-over after the claim did not arrive, so it is
    /// handed over again (submissions are idempotent by withdrawal id).
    Unknown,
    Broadcast {
        txid: String,
    },
    Confirmed,
    Failed(String),
}

/// The exchange's wallet service, as custos needs it.
#[async_trait::async_trait]
pub trait WalletConnector: Send + Sync {
    /// Hands a withdrawal to the wallet (it is now `processing`).
    async fn submit(&self, w: &WithdrawalRecord, now: Timestamp) -> Result<(), String>;
    /// Asks how a `processing` or `broadcast` withdrawal stands.
    async fn status(&self, w: &WithdrawalRecord, now: Timestamp) -> WalletStep;
    /// Asks the wallet to stop a `processing` withdrawal.
    async fn intercept(&self, w: &WithdrawalRecord, now: Timestamp) -> InterceptOutcome;
}

/// The default connector: a wallet that signs and broadcasts `broadcast_delay` after it was
/// handed a withdrawal, with a deterministic TxID, and sees it confirmed `confirm_delay` later.
/// Interception succeeds until the broadcast moment.
pub struct SimulatedWallet {
    cfg: WalletConfig,
}

impl SimulatedWallet {
    pub fn new(cfg: WalletConfig) -> Self {
        Self { cfg }
    }

    fn txid(w: &WithdrawalRecord) -> String {
        hex::encode(sha256(format!("custos-simulated-wallet:{}", w.id).as_bytes()))
    }

    fn broadcast_at(&self, w: &WithdrawalRecord) -> Option<Timestamp> {
        w.processing_at.map(|t| t.plus(self.cfg.broadcast_delay))
    }
}

#[async_trait::async_trait]
impl WalletConnector for SimulatedWallet {
    async fn submit(&self, _w: &WithdrawalRecord, _now: Timestamp) -> Result<(), String> {
        Ok(())
    }

    async fn status(&self, w: &WithdrawalRecord, now: Timestamp) -> WalletStep {
        match w.state {
            WithdrawalState::Processing if self.broadcast_at(w).is_some_and(|t| now >= t) => {
                WalletStep::Broadcast { txid: Self::txid(w) }
            }
            WithdrawalState::Broadcast
                if w.broadcast_at.is_some_and(|t| now >= t.plus(self.cfg.confirm_delay)) =>
            {
                WalletStep::Confirmed
            }
            _ => WalletStep::Pending,
        }
    }

    async fn intercept(&self, w: &WithdrawalRecord, now: Timestamp) -> InterceptOutcome {
        match self.broadcast_at(w) {
            Some(t) if now < t => InterceptOutcome::Intercepted,
            _ => InterceptOutcome::TooLate { txid: Self::txid(w) },
        }
    }
}

pub fn connector(money: &MoneyConfig) -> Arc<dyn WalletConnector> {
    match &money.wallet.connector {
        WalletKind::Simulated => Arc::new(SimulatedWallet::new(money.wallet.clone())),
        WalletKind::Http { url, secret } => {
            Arc::new(HttpWallet::new(url.clone(), secret.clone(), money.assets.clone()))
        }
    }
}

const BATCH: u32 = 50;

/// Runs until `shutdown` changes.
pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    loop {
        if let Err(e) = tick(&state).await {
            tracing::error!(error = %e, "wallet worker: pass failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(state.config.money.wallet.poll) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// One pass over everything due. Returns how many withdrawals moved.
pub async fn tick(state: &AppState) -> Result<usize, ApiError> {
    let now = state.clock.now();
    let money = &state.config.money;
    let mut moved = 0;
    let expired_before = now.minus(money.confirm_ttl);
    for id in
        state.store.withdrawals_due(WithdrawalState::AwaitingConfirmation, expired_before, BATCH).await?
    {
        match withdrawals::cancel(state, id, &CancelledBy::Expiry).await {
            Ok(_) => moved += 1,
            Err(e) => tracing::warn!(%id, error = %e, "wallet worker: expiring a withdrawal failed"),
        }
    }
    for state_now in [
        WithdrawalState::Held,
        WithdrawalState::Queued,
        WithdrawalState::Processing,
        WithdrawalState::Broadcast,
    ] {
        for id in state.store.withdrawals_due(state_now, now, BATCH).await? {
            match step(state, id, state_now).await {
                Ok(true) => moved += 1,
                Ok(false) => {}
                Err(e) => tracing::warn!(%id, error = %e, "wallet worker: step failed"),
            }
        }
    }
    moved += crate::usecases::transfers::settle_due(state).await?;
    if moved > 0 {
        state.outbox_wake.notify_one();
    }
    Ok(moved)
}

/// Moves one withdrawal one step, if it is still in `expected` and its step is due. The wallet is
/// asked before the transaction and handed a claimed withdrawal after it commits, so a slow wallet
/// never holds the account lock; the state is checked again under the lock.
async fn step(state: &AppState, id: WithdrawalId, expected: WithdrawalState) -> Result<bool, ApiError> {
    let now = state.clock.now();
    let Some(seen) = state.store.withdrawal(id).await? else { return Ok(false) };
    if seen.state != expected {
        return Ok(false);
    }
    let report = match expected {
        WithdrawalState::Processing | WithdrawalState::Broadcast => {
            match state.wallet.status(&seen, now).await {
                WalletStep::Pending => return Ok(false),
                WalletStep::Unknown => {
                    if expected == WithdrawalState::Processing {
                        resubmit(state, &seen, now).await;
                    }
                    return Ok(false);
                }
                report => Some(report),
            }
        }
        _ => None,
    };
    // Lock order everywhere: account, then withdrawal.
    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(seen.account_id).await?.ok_or(ApiError::NotFound)?;
    let Some(mut w) = tx.lock_withdrawal(id).await? else { return Ok(false) };
    if w.state != expected {
        return Ok(false);
    }
    let chain = Chain::Account(w.account_id);
    let mut effects = Effects::default();
    match (expected, report) {
        (WithdrawalState::Held, _) => {
            if w.hold_until.is_some_and(|t| t > now) {
                return Ok(false);
            }
            // Tightening reaches what is already held: an allowlist turned on (or an entry
            // removed) during the hold stops the withdrawal instead of releasing it.
            if !withdrawals::allowlist_reasons_now(&mut *tx, &w, now).await?.is_empty() {
                drop(tx);
                withdrawals::cancel(state, id, &CancelledBy::Allowlist).await?;
                return Ok(true);
            }
            w.state = transition(&w, Event::Release)?;
            w.queued_at = Some(now);
            let event = AuditEvent::WithdrawalQueued { withdrawal: id.to_string() };
            audit(&mut *tx, chain, now, Actor::System, event).await?;
        }
        (WithdrawalState::Queued, _) => {
            w.state = transition(&w, Event::Claim)?;
            w.processing_at = Some(now);
        }
        (_, Some(report)) => {
            if !apply_report(&mut *tx, &mut w, report, now, &mut effects).await? {
                return Ok(false);
            }
        }
        _ => return Ok(false),
    }
    finish(state, tx, &account, &mut w, effects, now).await?;
    if w.state == WithdrawalState::Processing {
        resubmit(state, &w, now).await;
    }
    Ok(true)
}

/// Hands a `processing` withdrawal to the wallet. A failure leaves it `processing`: the next pass
/// asks the wallet, which answers `Unknown`, and it is handed over again.
async fn resubmit(state: &AppState, w: &WithdrawalRecord, now: Timestamp) {
    if let Err(e) = state.wallet.submit(w, now).await {
        tracing::warn!(id = %w.id, error = %e, "the wallet did not take a withdrawal; will retry");
    }
}

/// What a step tells the owner and the webhook receiver.
#[derive(Default)]
struct Effects {
    status_mail: Option<String>,
    webhook: Option<WebhookEvent>,
}

/// Applies the wallet's word about a `processing` or `broadcast` withdrawal. `false` when the
/// report does not fit the state (it is ignored; the caller decides whether that is an error).
async fn apply_report(
    tx: &mut dyn custos_store::Tx,
    w: &mut WithdrawalRecord,
    report: WalletStep,
    now: Timestamp,
    effects: &mut Effects,
) -> Result<bool, ApiError> {
    let chain = Chain::Account(w.account_id);
    let wid = w.id.to_string();
    match (w.state, report) {
        (WithdrawalState::Processing, WalletStep::Broadcast { txid }) => {
            w.state = transition(w, Event::Broadcast)?;
            w.broadcast_at = Some(now);
            w.txid = Some(txid.clone());
            let total = w.total().ok_or_else(|| ApiError::Internal("overflow".into()))?;
            ledger::apply(
                tx,
                w.account_id,
                &w.asset,
                EntryKind::WithdrawalSent,
                Move::Settle(total),
                Some(&wid),
                now,
            )
            .await?;
            let event = AuditEvent::WithdrawalBroadcast { withdrawal: wid, txid: txid.clone() };
            audit(tx, chain, now, Actor::System, event).await?;
            effects.status_mail = Some(format!("sent on chain (transaction {txid})"));
            effects.webhook = Some(WebhookEvent::WithdrawalBroadcast);
        }
        (WithdrawalState::Broadcast, WalletStep::Confirmed) => {
            w.state = transition(w, Event::ConfirmOnChain)?;
            w.completed_at = Some(now);
            effects.webhook = Some(WebhookEvent::WithdrawalConfirmed);
        }
        (WithdrawalState::Processing, WalletStep::Failed(reason)) => {
            w.state = transition(w, Event::Fail)?;
            w.failure = Some(reason.clone());
            withdrawals::release(tx, w, now).await?;
            let event = AuditEvent::WithdrawalFailed { withdrawal: wid, reason: reason.clone() };
            audit(tx, chain, now, Actor::System, event).await?;
            effects.status_mail = Some(format!("failed ({reason}); the funds are back in your balance"));
        }
        (state_now, other) => {
            tracing::warn!(id = %w.id, ?other, state = state_now.as_str(), "wallet answer does not fit the state; ignored");
            return Ok(false);
        }
    }
    Ok(true)
}

/// Writes the moved withdrawal, its notices and webhook, and commits.
async fn finish(
    state: &AppState,
    mut tx: Box<dyn custos_store::Tx>,
    account: &custos_store::AccountRecord,
    w: &mut WithdrawalRecord,
    effects: Effects,
    now: Timestamp,
) -> Result<(), ApiError> {
    w.updated_at = now;
    tx.update_withdrawal(w).await?;
    if let Some(event) = effects.webhook {
        withdrawals::announce(&mut *tx, state, account, w, event, now).await?;
    }
    if let Some(status) = effects.status_mail {
        let to = Recipient::holder(account);
        let summary = withdrawals::summary(w, &state.config.money.assets);
        let key = format!("withdrawal_{}:{}", w.state.as_str(), w.id);
        notify::email(&mut *tx, state, to, Notice::WithdrawalStatus { summary, status }, key, now).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// What the wallet service reports on the integration API (`POST
/// /api/v1/integration/wallet/withdrawals/{id}`): broadcast with a TxID, confirmed on chain, or
/// failed. A report that repeats what is already recorded changes nothing and succeeds, so the
/// wallet may retry; one that does not fit the withdrawal's state is refused.
pub async fn report(
    state: &AppState,
    id: WithdrawalId,
    report: WalletStep,
) -> Result<WithdrawalRecord, ApiError> {
    let now = state.clock.now();
    let owner = state.store.withdrawal(id).await?.ok_or(ApiError::NotFound)?.account_id;
    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(owner).await?.ok_or(ApiError::NotFound)?;
    let mut w = tx.lock_withdrawal(id).await?.ok_or(ApiError::NotFound)?;
    let repeat = match (&report, w.state) {
        (WalletStep::Broadcast { txid }, WithdrawalState::Broadcast | WithdrawalState::Confirmed) => {
            w.txid.as_deref() == Some(txid.as_str())
        }
        (WalletStep::Confirmed, WithdrawalState::Confirmed) => true,
        (WalletStep::Failed(_), WithdrawalState::Failed) => true,
        _ => false,
    };
    if repeat {
        return Ok(w);
    }
    let mut effects = Effects::default();
    if !apply_report(&mut *tx, &mut w, report.clone(), now, &mut effects).await? {
        return Err(ApiError::Conflict(custos_core::reason::Reason::new(
            "wallet-report-out-of-order",
            format!("The withdrawal is {}; the report ({report:?}) does not fit it.", w.state.as_str()),
        )));
    }
    finish(state, tx, &account, &mut w, effects, now).await?;
    state.outbox_wake.notify_one();
    Ok(w)
}
