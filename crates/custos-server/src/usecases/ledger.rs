//! The ledger: every balance change is a checked [`Move`] written with its entry, and money
//! arrives from the exchange through idempotent integration events.

use std::collections::HashSet;

use custos_core::Reason;
use custos_core::Timestamp;
use custos_core::asset;
use custos_core::crypto::sha256;
use custos_core::ids::{AccountId, Uid};
use custos_core::ledger::{Balance, EntryKind, LedgerError, Move};
use custos_core::money::Amount;
use custos_store::{NewEntry, Tx};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::state::AppState;

/// Applies one move to one balance inside `tx`: lock the row, check, write the balance and its
/// entry. Refusals leave the balance untouched.
pub(crate) async fn apply(
    tx: &mut dyn Tx,
    account: AccountId,
    asset: &str,
    kind: EntryKind,
    m: Move,
    reference: Option<&str>,
    now: Timestamp,
) -> Result<Balance, ApiError> {
    let before = tx.lock_balance(account, asset, now).await?;
    apply_to(tx, account, asset, before, kind, m, reference, now).await
}

/// [`apply`] to a balance the transaction has already read under its lock (`before`).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn apply_to(
    tx: &mut dyn Tx,
    account: AccountId,
    asset: &str,
    before: Balance,
    kind: EntryKind,
    m: Move,
    reference: Option<&str>,
    now: Timestamp,
) -> Result<Balance, ApiError> {
    let after = before.apply(m).map_err(|e| match e {
        LedgerError::InsufficientAvailable => ApiError::Validation(vec![Reason::new(
            "insufficient-balance",
            "The available balance does not cover this.",
        )]),
        LedgerError::Overflow => {
            ApiError::Validation(vec![Reason::new("amount-overflow", "The balance would overflow.")])
        }
        // A reservation released twice would be a bug, never a user error.
        LedgerError::InsufficientLocked => ApiError::Internal(format!("ledger: {e} ({asset})")),
    })?;
    tx.write_balance(account, asset, after, NewEntry { kind, delta: m.delta(), reference }, now).await?;
    Ok(after)
}

/// Largest batch the integration endpoint takes at once.
pub const MAX_BATCH: usize = 250;

/// One event from the exchange's books.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LedgerEvent {
    /// The sender's unique id for this event; sending it again is harmless.
    pub event_id: String,
    /// `deposit`, `trade_fill` or `fee`.
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// The account's public UID.
    pub uid: u64,
    pub asset: String,
    /// Decimal string in the asset's units. Trade fills may be negative (`"-0.5"`: the side the
    /// account gave up); deposits and fees are positive (a fee is taken from the balance).
    pub amount: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Deposit,
    TradeFill,
    Fee,
}

#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct IngestReport {
    /// Events applied now.
    pub applied: u32,
    /// Events already applied earlier (same id, same content): skipped.
    pub duplicates: u32,
}

/// Applies a batch in one transaction: either every new event is applied or none is. An event id
/// seen before with the same content is skipped; with different content the batch is refused.
pub async fn ingest(state: &AppState, events: &[LedgerEvent]) -> Result<IngestReport, ApiError> {
    let mut reasons = Vec::new();
    if events.is_empty() || events.len() > MAX_BATCH {
        reasons.push(Reason::new("batch-size", format!("Send between 1 and {MAX_BATCH} events.")));
    }
    let mut seen = HashSet::new();
    let mut planned = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        let at = |code: &'static str, what: &str| Reason::new(code, format!("events[{i}]: {what}"));
        if e.event_id.is_empty() || e.event_id.len() > 128 {
            reasons.push(at("event-id-invalid", "event_id must be 1–128 characters."));
        } else if !seen.insert(e.event_id.as_str()) {
            reasons.push(at("event-id-duplicated", "the same event_id appears twice in this batch."));
        }
        let Some(spec) = asset::find(&state.config.money.assets, &e.asset) else {
            reasons.push(at("unknown-asset", "unknown asset."));
            continue;
        };
        let (negative, digits) = match e.amount.strip_prefix('-') {
            Some(rest) if e.kind == EventKind::TradeFill => (true, rest),
            _ => (false, e.amount.as_str()),
        };
        let amount = match Amount::parse_positive(digits, spec.decimals) {
            Ok(a) => a,
            Err(err) => {
                reasons.push(at("amount-invalid", &err.to_string()));
                continue;
            }
        };
        let Some(uid) = Uid::from_u64(e.uid) else {
            reasons.push(at("unknown-account", "no account has this UID."));
            continue;
        };
        let Some(account) = state.store.account_by_uid(uid).await? else {
            reasons.push(at("unknown-account", "no account has this UID."));
            continue;
        };
        let (kind, m) = match (e.kind, negative) {
            (EventKind::Deposit, _) => (EntryKind::Deposit, Move::Credit(amount)),
            (EventKind::TradeFill, false) => (EntryKind::TradeFill, Move::Credit(amount)),
            (EventKind::TradeFill, true) => (EntryKind::TradeFill, Move::Debit(amount)),
            (EventKind::Fee, _) => (EntryKind::Fee, Move::Debit(amount)),
        };
        let digest = sha256(&serde_json::to_vec(e).map_err(|err| ApiError::Internal(err.to_string()))?);
        planned.push((e.event_id.as_str(), account.id, spec.code, kind, m, digest));
    }
    if !reasons.is_empty() {
        return Err(ApiError::Validation(reasons));
    }
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let mut report = IngestReport { applied: 0, duplicates: 0 };
    for (event_id, account, asset, kind, m, digest) in planned {
        match tx.record_ledger_event(event_id, &digest, now).await? {
            None => {
                apply(&mut *tx, account, asset, kind, m, Some(event_id), now).await?;
                report.applied += 1;
            }
            Some(earlier) if earlier == digest => report.duplicates += 1,
            Some(_) => {
                return Err(ApiError::Conflict(Reason::new(
                    "event-id-reused",
                    format!(
                        "Event {event_id} was applied before with different content; nothing was applied."
                    ),
                )));
            }
        }
    }
    tx.commit().await?;
    Ok(report)
}

/// A balance for display: decimal strings in the asset's units.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BalanceView {
    pub asset: String,
    pub available: String,
    pub locked: String,
}

pub async fn balances(state: &AppState, account: AccountId) -> Result<Vec<BalanceView>, ApiError> {
    let held = state.store.balances(account).await?;
    Ok(state
        .config
        .money
        .assets
        .iter()
        .map(|spec| {
            let b = held.iter().find(|(code, _)| code == spec.code).map(|(_, b)| *b).unwrap_or_default();
            BalanceView {
                asset: spec.code.to_owned(),
                available: b.available.format(spec.decimals),
                locked: b.locked.format(spec.decimals),
            }
        })
        .collect())
}
