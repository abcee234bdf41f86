//! The kill switch (issue 5): freeze an account from every channel in one transaction.
//!
//! Every channel — the security center, the "Not you? Disable account" link, the offline panic
//! code, an operator, an automatic policy — ends in [`freeze_locked`]: with the account row locked
//! (so no withdrawal, transfer, key or session can be written for it concurrently), `custos-core`
//! plans the freeze and the store applies it with one statement per table; the freeze row with its
//! receipt, one `AccountFrozen` audit record carrying the receipt, and the notices (email, SMS,
//! webhook) commit with it or not at all.
//!
//! After the commit nothing issued before it works, on any node: custos keeps no session or key
//! cache — every request reads its session or key, and the account's status and stamp, from the
//! store — so the next request anywhere sees the revocation.

use std::collections::BTreeMap;
use std::net::IpAddr;

use custos_core::Reason;
use custos_core::Timestamp;
use custos_core::asset;
use custos_core::audit::{Actor, AuditEvent, Chain};
use custos_core::crypto::{BearerToken, new_security_stamp};
use custos_core::freeze::{
    self, ApiKeyFact, BEYOND_REACH_LOOKBACK, FreezeChannel, FreezePlan, FreezeReceipt, Interception,
    ReceiptHeader, SessionFact, Snapshot, TransferFact, WithdrawalFact,
};
use custos_core::ids::{FreezeId, Uid};
use custos_core::ledger::{EntryKind, Move};
use custos_core::link_token::LinkPurpose;
use custos_core::login::AccountStatus;
use custos_core::money::Amount;
use custos_core::withdrawal::Event;
use custos_store::{AccountRecord, AuditPosition, FreezeApplied, FreezeRecord, FreezeRows, FreezeWrite, Tx};

pub use super::freeze_notices::{channel_words, receipt_lines};
use super::ledger;
use super::withdrawals::{release, transition};
use crate::error::ApiError;
use crate::extract::UserSession;
use crate::state::AppState;

/// Who freezes. Each maps to a channel and an audit actor.
#[derive(Debug, Clone)]
pub enum FreezeBy {
    /// The holder, signed in (security center page or API).
    Session(UserSession),
    /// Whoever opened a disable link from a security email.
    EmailLink { ip: Option<IpAddr> },
    /// Whoever knew the account's panic code.
    PanicCode { ip: Option<IpAddr> },
    /// An operator at the command line, by the name they gave.
    Operator { name: String },
    /// A member of staff in the support console (channel `support`), by staff ID and name.
    Staff { staff_id: String, name: String },
    /// An automatic policy inside custos, by its name.
    Policy { name: String },
}

impl FreezeBy {
    pub fn channel(&self) -> FreezeChannel {
        match self {
            Self::Session(_) => FreezeChannel::SecurityCenter,
            Self::EmailLink { .. } => FreezeChannel::EmailLink,
            Self::PanicCode { .. } => FreezeChannel::PanicCode,
            Self::Operator { .. } | Self::Staff { .. } => FreezeChannel::Support,
            Self::Policy { .. } => FreezeChannel::Policy,
        }
    }

    fn actor(&self, account: custos_core::ids::AccountId) -> Actor {
        match self {
            Self::Session(s) => Actor::User { account, session: Some(s.session_id) },
            Self::EmailLink { ip } | Self::PanicCode { ip } => Actor::Anonymous { ip: *ip },
            Self::Operator { name } => Actor::Operator { name: name.clone() },
            Self::Staff { staff_id, name } => Actor::Staff { staff_id: staff_id.clone(), name: name.clone() },
            Self::Policy { .. } => Actor::System,
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Session(s) => format!("the account holder, session {}", s.session_id),
            Self::EmailLink { ip } => format!("a disable link from a security email{}", from(*ip)),
            Self::PanicCode { ip } => format!("the account's panic code{}", from(*ip)),
            Self::Operator { name } => format!("support ({name})"),
            Self::Staff { staff_id, name } => format!("support ({name}, staff ID {staff_id})"),
            Self::Policy { name } => format!("automatic policy {name}"),
        }
    }
}

fn from(ip: Option<IpAddr>) -> String {
    ip.map(|i| format!(", from {i}")).unwrap_or_default()
}

/// What a freeze answers: the receipt, and whether this request froze the account or found it
/// frozen already (then the receipt is the first freeze's, and nothing changed).
#[derive(Debug, Clone)]
pub struct Frozen {
    pub receipt: FreezeReceipt,
    pub already_frozen: bool,
    /// The private link to the account's incident case (see `usecases::incidents`).
    pub case: Option<super::incidents::CaseLink>,
    /// The account and the outbox key of the follow-up that opens its case once the freeze has
    /// committed (`case_followup::case_for_freeze`).
    follow_up: Option<(custos_core::ids::AccountId, String)>,
}

impl Frozen {
    /// Call once the freeze's transaction has committed: wakes the outbox for the notices and
    /// starts the follow-up that opens the case and fills its facts. Neither may start earlier —
    /// the follow-up would wait on the lock the freeze holds, and both would compete with the
    /// freeze for the CPU.
    pub(crate) fn committed(&self, state: &AppState) {
        state.outbox_wake.notify_one();
        if let Some((account, key)) = &self.follow_up {
            super::case_followup::open_in_background(state, *account, key.clone());
        }
    }
}

const MAX_REASON: usize = 500;

pub(crate) fn default_reason(by: &FreezeBy) -> String {
    match by.channel() {
        FreezeChannel::SecurityCenter => "frozen by the account holder",
        FreezeChannel::EmailLink => "\"Not you? Disable account\" link used",
        FreezeChannel::PanicCode => "panic code used",
        FreezeChannel::Support => "frozen by support",
        FreezeChannel::Policy => "frozen by an automatic policy",
    }
    .to_owned()
}

fn reason_or_default(reason: Option<&str>, by: &FreezeBy) -> Result<String, ApiError> {
    let r = reason.map(str::trim).filter(|r| !r.is_empty());
    match r {
        Some(r) if r.chars().count() > MAX_REASON || r.chars().any(|c| c.is_control() && c != '\n') => {
            Err(ApiError::Validation(vec![Reason::new(
                "reason-invalid",
                "A reason is at most 500 printable characters.",
            )]))
        }
        Some(r) => Ok(r.to_owned()),
        None => Ok(default_reason(by)),
    }
}

/// Freezes the holder's own account from a live session (no step-up: freezing only tightens).
pub async fn by_session(
    state: &AppState,
    who: &UserSession,
    reason: Option<&str>,
) -> Result<Frozen, ApiError> {
    let by = FreezeBy::Session(who.clone());
    let reason = reason_or_default(reason, &by)?;
    let mut tx = state.store.begin().await?;
    let (_, frozen) = lock_and_freeze(state, &mut *tx, who.account_id, &by, &reason)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    tx.commit().await?;
    frozen.committed(state);
    Ok(frozen)
}

/// What the disable page shows before anything is done (GET changes nothing).
#[derive(Debug, Clone)]
pub struct LinkPreview {
    pub uid: u64,
    /// `j•••@example.com`: enough to recognise one's own account, not to learn an address.
    pub email_hint: String,
    pub already_frozen: bool,
}

fn email_hint(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}•••@{domain}")
        }
        None => "•••".into(),
    }
}

/// Checks a disable link and says whose account it freezes. Forged, malformed and expired links
/// are `link-invalid`.
pub async fn preview_link(state: &AppState, token: &str) -> Result<LinkPreview, ApiError> {
    let token = BearerToken::parse(token).ok_or(ApiError::LinkInvalid)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let (_, account) = super::open_link(&mut *tx, &token, LinkPurpose::DisableAccount, now).await?;
    tx.rollback().await?;
    Ok(LinkPreview {
        uid: account.uid.get(),
        email_hint: email_hint(&account.email),
        already_frozen: account.status == AccountStatus::Frozen,
    })
}

/// Freezes with a disable link. It works with no session and after the attacker changed the
/// password, email or second factor (the stamp does not kill it); used again after a freeze — by
/// this or any channel — it answers the existing receipt.
pub async fn by_link(state: &AppState, token: &str, ip: Option<IpAddr>) -> Result<Frozen, ApiError> {
    let token = BearerToken::parse(token).ok_or(ApiError::LinkInvalid)?;
    let by = FreezeBy::EmailLink { ip };
    let reason = default_reason(&by);
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let (_, account) = super::open_link(&mut *tx, &token, LinkPurpose::DisableAccount, now).await?;
    let frozen = freeze_locked(state, &mut *tx, &account, &by, &reason).await?;
    tx.commit().await?;
    frozen.committed(state);
    Ok(frozen)
}

/// Freezes by an operator's command (`custos freeze`), audited under the operator's name.
pub async fn by_operator(
    state: &AppState,
    uid: Uid,
    reason: &str,
    operator: &str,
) -> Result<Frozen, ApiError> {
    let name = operator.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(ApiError::Validation(vec![Reason::new(
            "operator-invalid",
            "Name the operator (1–100 characters).",
        )]));
    }
    let found = state.store.account_by_uid(uid).await?.ok_or(ApiError::NotFound)?;
    by_policy_or_operator(state, found.id, FreezeBy::Operator { name: name.to_owned() }, Some(reason)).await
}

/// Freezes from the support console: the staff member's identity is the actor, the reason (already
/// checked by the console) is the freeze's, and why they acted is audited in the same transaction.
pub async fn by_staff(
    state: &AppState,
    account: custos_core::ids::AccountId,
    staff: &super::staff::StaffCaller,
    reason: &str,
) -> Result<Frozen, ApiError> {
    let by = FreezeBy::Staff { staff_id: staff.code.as_str().to_owned(), name: staff.name.clone() };
    let mut tx = state.store.begin().await?;
    let (account, frozen) =
        lock_and_freeze(state, &mut *tx, account, &by, reason).await?.ok_or(ApiError::NotFound)?;
    if !frozen.already_frozen {
        let event = custos_core::audit::AuditEvent::StaffActed {
            action: custos_core::staff::StaffAction::FreezeAccount.as_str().into(),
            subject: format!("account:{}", account.uid),
            reason: reason.to_owned(),
        };
        super::audit(
            &mut *tx,
            custos_core::audit::Chain::Account(account.id),
            state.clock.now(),
            staff.actor(),
            event,
        )
        .await?;
    }
    tx.commit().await?;
    frozen.committed(state);
    Ok(frozen)
}

/// Freezes for an automatic policy inside custos (channel `policy`), e.g. a risk rule.
pub async fn by_policy(
    state: &AppState,
    account: custos_core::ids::AccountId,
    policy: &str,
    reason: &str,
) -> Result<Frozen, ApiError> {
    by_policy_or_operator(state, account, FreezeBy::Policy { name: policy.to_owned() }, Some(reason)).await
}

async fn by_policy_or_operator(
    state: &AppState,
    account: custos_core::ids::AccountId,
    by: FreezeBy,
    reason: Option<&str>,
) -> Result<Frozen, ApiError> {
    let reason = reason_or_default(reason, &by)?;
    let mut tx = state.store.begin().await?;
    let (_, frozen) =
        lock_and_freeze(state, &mut *tx, account, &by, &reason).await?.ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    frozen.committed(state);
    Ok(frozen)
}

/// Locks the account and freezes it, inside `tx`: the lock and the freeze's read and writes go to
/// the store together where it can take them so (`FreezeTx::lock_and_freeze_account`). `None`
/// without the account; else the account as it was locked, and what the freeze answers.
pub(crate) async fn lock_and_freeze(
    state: &AppState,
    tx: &mut dyn Tx,
    account: custos_core::ids::AccountId,
    by: &FreezeBy,
    reason: &str,
) -> Result<Option<(AccountRecord, Frozen)>, ApiError> {
    let now = state.clock.now();
    let answer = tx.lock_and_freeze_account(account, write(&new_security_stamp(), now)).await?;
    let frozen = match answer {
        None => return Ok(None),
        // Left as it was: frozen already (`freeze_locked` answers the earlier receipt).
        Some((account, None)) => {
            let frozen = freeze_locked(state, tx, &account, by, reason).await?;
            (account, frozen)
        }
        Some((account, Some((rows, applied)))) => {
            let frozen = complete(state, tx, &account, by, reason, &rows, &applied, now).await?;
            (account, frozen)
        }
    };
    Ok(Some(frozen))
}

/// What a freeze at `now` writes and reads: `stamp` is the account's new one.
fn write(stamp: &[u8], now: Timestamp) -> FreezeWrite<'_> {
    FreezeWrite {
        stamp,
        at: now,
        on_chain_since: now.minus(BEYOND_REACH_LOOKBACK),
        contacts_since: super::incidents::trusted_window_start(now),
    }
}

/// The freeze itself, inside `tx`, with `account` already locked by it.
pub(crate) async fn freeze_locked(
    state: &AppState,
    tx: &mut dyn Tx,
    account: &AccountRecord,
    by: &FreezeBy,
    reason: &str,
) -> Result<Frozen, ApiError> {
    let now = state.clock.now();
    // Only a frozen account answers with its earlier receipt; an active one needs no lookup.
    let existing = match account.status {
        AccountStatus::Frozen => tx.latest_freeze(account.id).await?.map(|f| f.receipt),
        _ => None,
    };
    if let Some(receipt) = freeze::already_frozen(account.status, existing) {
        let case = match super::incidents::link_for_frozen(state, tx, account, now).await? {
            Some(case) => Some(case),
            // The first freeze's follow-up has not opened the case yet: the link it will make valid.
            None => super::case_followup::pending_link(state, tx, account.id).await?,
        };
        return Ok(Frozen { receipt, already_frozen: true, case, follow_up: None });
    }
    // The read and the set-based writes go to the store together; the plan is made from the rows
    // as they were, and what the writes touched must be exactly the plan (`apply`), or nothing
    // commits.
    let (rows, applied) = tx.freeze_account(account.id, write(&new_security_stamp(), now)).await?;
    complete(state, tx, account, by, reason, &rows, &applied, now).await
}

/// The rest of a freeze once the store has read and written: the plan, which the writes must have
/// matched; the reservations released and the wallet asked; the receipt in one `AccountFrozen`
/// record and the freeze row; the notices; the case link.
#[allow(clippy::too_many_arguments)]
async fn complete(
    state: &AppState,
    tx: &mut dyn Tx,
    account: &AccountRecord,
    by: &FreezeBy,
    reason: &str,
    rows: &FreezeRows,
    applied: &FreezeApplied,
    now: Timestamp,
) -> Result<Frozen, ApiError> {
    let snapshot = snapshot(state, rows);
    let plan = freeze::plan_for(&snapshot);
    let freeze_id = FreezeId::new();
    let interceptions = apply(state, tx, account, rows, applied, &plan, freeze_id, now).await?;
    let header = ReceiptHeader {
        uid: account.uid.get(),
        frozen_at: now,
        channel: by.channel(),
        reason: reason.to_owned(),
    };
    let receipt = freeze::receipt(header, &snapshot, &plan, &interceptions);
    // The receipt is stored once, in the `AccountFrozen` record; the freeze row names the record.
    // It moves into the record and back out, and through the freeze row: never copied.
    let record = tx
        .append_audit(
            Chain::Account(account.id),
            now,
            by.actor(account.id),
            AuditEvent::AccountFrozen {
                channel: by.channel().as_str().to_owned(),
                reason: reason.to_owned(),
                receipt: Box::new(receipt),
            },
        )
        .await?;
    let AuditEvent::AccountFrozen { receipt, .. } = record.event else {
        return Err(ApiError::Internal("freeze: the audit record lost its receipt".into()));
    };
    let freeze = FreezeRecord {
        id: freeze_id,
        account_id: account.id,
        channel: by.channel(),
        actor: by.describe(),
        reason: reason.to_owned(),
        receipt: *receipt,
        receipt_record: Some(AuditPosition { chain: record.chain, seq: record.seq }),
        frozen_at: now,
        unfrozen_at: None,
        unfrozen_by: None,
        approved_by: None,
    };
    tx.insert_freeze(&freeze).await?;
    let receipt = freeze.receipt;
    super::freeze_notices::tell(state, tx, account, &receipt, now).await?;
    let (case, follow_up) =
        super::case_followup::case_for_freeze(state, tx, account, freeze_id, rows, now).await?;
    Ok(Frozen { receipt, already_frozen: false, case: Some(case), follow_up: Some((account.id, follow_up)) })
}

/// The rows as core sees them: amounts formatted, transfer counterparties by UID.
fn snapshot(state: &AppState, rows: &FreezeRows) -> Snapshot {
    let assets = &state.config.money.assets;
    let decimals = |code: &str| asset::find(assets, code).map(|a| a.decimals).unwrap_or(0);
    // Everything comes from `rows`, read in the freeze's own transaction: waiting for a second
    // pooled connection while holding the account lock could starve the pool (every other
    // connection may be a command queued on that lock).
    let transfers = rows
        .transfers
        .iter()
        .map(|t| TransferFact {
            id: t.id,
            state: t.state,
            asset: t.asset.clone(),
            amount: t.amount.format(decimals(&t.asset)),
            to_uid: t.to_uid.get(),
        })
        .collect();
    Snapshot {
        sessions: rows
            .sessions
            .iter()
            .map(|s| SessionFact {
                id: s.id,
                ip: s.ip.map(|i| i.to_string()),
                user_agent: s.user_agent.clone(),
                created_at: s.created_at,
            })
            .collect(),
        api_keys: rows
            .api_keys
            .iter()
            .map(|k| ApiKeyFact {
                id: k.id.clone(),
                label: k.label.clone(),
                scopes: k.scopes.as_strs().iter().map(|s| (*s).to_owned()).collect(),
            })
            .collect(),
        withdrawals: rows
            .withdrawals
            .iter()
            .map(|w| WithdrawalFact {
                id: w.id,
                state: w.state,
                asset: w.asset.clone(),
                network: w.network.clone(),
                amount: w.amount.format(decimals(&w.asset)),
                address: w.address.clone(),
                txid: w.txid.clone(),
                broadcast_at: w.broadcast_at,
            })
            .collect(),
        transfers,
    }
}

fn add<'a>(
    sums: &mut BTreeMap<(&'a str, bool), Amount>,
    key: (&'a str, bool),
    amount: Amount,
) -> Result<(), ApiError> {
    let sum = sums.entry(key).or_insert(Amount::ZERO);
    *sum = sum.checked_add(amount).ok_or_else(|| ApiError::Internal("overflow".into()))?;
    Ok(())
}

fn drift(what: &str) -> ApiError {
    // The account row is locked: nothing else can change these rows. If a statement touched other
    // rows than planned, something outside custos wrote them; refuse and roll back.
    ApiError::Internal(format!("freeze: the store touched other {what} than planned"))
}

/// Completes the plan: the set-based writes (status, stamp, revocations, cancellations — done
/// by the store's `freeze_account`) must have touched exactly what the plan names; one balance
/// write per asset released; the wallet is asked about each withdrawal it is processing. Returns
/// the wallet's answers.
#[allow(clippy::too_many_arguments)]
async fn apply(
    state: &AppState,
    tx: &mut dyn Tx,
    account: &AccountRecord,
    rows: &FreezeRows,
    applied: &FreezeApplied,
    plan: &FreezePlan,
    freeze_id: FreezeId,
    now: Timestamp,
) -> Result<Vec<Interception>, ApiError> {
    if applied.sessions != plan.revoke_sessions {
        return Err(drift("sessions"));
    }
    if applied.api_keys != plan.revoke_api_keys {
        return Err(drift("API keys"));
    }
    if applied.withdrawals != plan.cancel_withdrawals {
        return Err(drift("withdrawals"));
    }
    if applied.transfers != plan.cancel_transfers {
        return Err(drift("transfers"));
    }
    // Reservations come back per asset and kind: one balance write and one ledger entry each,
    // referencing the freeze — its receipt, and every row's `cancelled_by = 'freeze'`, name what
    // the entry covers. (Per-row entries would cost three statements per withdrawal inside the
    // one transaction that must stay short.)
    let mut released: BTreeMap<(&str, bool), Amount> = BTreeMap::new();
    let cancelled_withdrawals = rows.withdrawals.iter().filter(|w| plan.cancel_withdrawals.contains(&w.id));
    for w in cancelled_withdrawals {
        let total = w.total().ok_or_else(|| ApiError::Internal("overflow".into()))?;
        add(&mut released, (&w.asset, true), total)?;
    }
    for t in rows.transfers.iter().filter(|t| plan.cancel_transfers.contains(&t.id)) {
        add(&mut released, (&t.asset, false), t.amount)?;
    }
    let reference = format!("freeze:{freeze_id}");
    for ((asset, withdrawals), amount) in released {
        let kind = if withdrawals { EntryKind::WithdrawalReleased } else { EntryKind::TransferReleased };
        let m = Move::Release(amount);
        // The balance came with the freeze's read, under the account's lock; a reservation with no
        // balance row read would be odd — then the balance is locked and read on its own.
        match rows.balances.iter().find(|b| b.asset == asset) {
            Some(held) => {
                ledger::apply_to(tx, account.id, asset, held.balance, kind, m, Some(&reference), now).await?
            }
            None => ledger::apply(tx, account.id, asset, kind, m, Some(&reference), now).await?,
        };
    }
    let mut answers = Vec::with_capacity(plan.intercept_withdrawals.len());
    for id in &plan.intercept_withdrawals {
        let mut w = tx.lock_withdrawal(*id).await?.ok_or_else(|| drift("withdrawals"))?;
        let outcome = state.wallet.intercept(&w, now).await;
        w.intercept = Some(outcome.describe());
        w.updated_at = now;
        if outcome.stopped() {
            w.state = transition(&w, Event::Intercepted)?;
            w.cancelled_at = Some(now);
            w.cancelled_by = Some("freeze".into());
            release(tx, &w, now).await?;
        }
        tx.update_withdrawal(&w).await?;
        answers.push(Interception {
            withdrawal: w.id,
            stopped: outcome.stopped(),
            outcome: outcome.describe(),
            txid: match &outcome {
                crate::wallet::InterceptOutcome::TooLate { txid } => Some(txid.clone()),
                _ => None,
            },
        });
    }
    Ok(answers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_disable_page_hints_at_the_address_without_showing_it() {
        assert_eq!(email_hint("jane.doe@example.com"), "j•••@example.com");
        assert_eq!(email_hint("nonsense"), "•••");
    }
}
