//! The money tables: balances, the ledger, integration events, withdrawals, service tokens.
//!
//! Amounts cross this boundary as [`Amount`]s; on disk they are decimal text (SQLite) or
//! `NUMERIC(39,0)` (PostgreSQL). No arithmetic happens in SQL: a command locks the balance row,
//! computes the new balance with [`custos_core::ledger`], and writes it with its ledger entry.

use std::net::IpAddr;

use custos_core::Timestamp;
use custos_core::crypto::TokenHash;
use custos_core::ids::{AccountId, DeviceId, ServiceTokenId, SessionId, TransferId, WithdrawalId};
use custos_core::ledger::{Balance, Delta, EntryKind};
use custos_core::money::Amount;
use custos_core::transfer::TransferState;
use custos_core::withdrawal::WithdrawalState;

use crate::Result;

#[derive(Debug, Clone)]
pub struct LedgerEntryRecord {
    pub seq: i64,
    pub account_id: AccountId,
    pub asset: String,
    pub kind: EntryKind,
    pub delta: Delta,
    /// What caused it: a withdrawal id, a transfer id, the integration event id.
    pub reference: Option<String>,
    pub created_at: Timestamp,
}

/// The ledger entry written with a balance change.
#[derive(Debug, Clone, Copy)]
pub struct NewEntry<'a> {
    pub kind: EntryKind,
    pub delta: Delta,
    pub reference: Option<&'a str>,
}

/// Who asked for an outflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestedVia {
    Session,
    ApiKey,
}

impl RequestedVia {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::ApiKey => "api_key",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Session, Self::ApiKey].into_iter().find(|v| v.as_str() == s)
    }
}

#[derive(Debug, Clone)]
pub struct WithdrawalRecord {
    pub id: WithdrawalId,
    pub account_id: AccountId,
    pub asset: String,
    pub network: String,
    pub address: String,
    pub memo: Option<String>,
    pub amount: Amount,
    pub fee: Amount,
    pub state: WithdrawalState,
    /// While `held`: when the hold ends. Kept afterwards as a record of the hold.
    pub hold_until: Option<Timestamp>,
    /// The gate's hold reasons as JSON (`[{code, detail, until}]`), decided at request time and
    /// applied once the owner confirms.
    pub hold_reasons: Option<String>,
    pub txid: Option<String>,
    pub requested_via: RequestedVia,
    pub session_id: Option<SessionId>,
    pub api_key_id: Option<String>,
    pub device_id: Option<DeviceId>,
    pub ip: Option<IpAddr>,
    pub idempotency_key: Option<String>,
    pub created_at: Timestamp,
    pub confirmed_at: Option<Timestamp>,
    pub queued_at: Option<Timestamp>,
    pub processing_at: Option<Timestamp>,
    pub broadcast_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    pub cancelled_at: Option<Timestamp>,
    /// `user`, `support:<name>`, `freeze`, `expired`, `wallet`…
    pub cancelled_by: Option<String>,
    /// The wallet's answer to an interception request (`intercepted`, `too_late: <txid>`, an error).
    pub intercept: Option<String>,
    pub failure: Option<String>,
    pub updated_at: Timestamp,
}

impl WithdrawalRecord {
    /// Amount plus fee: what is reserved while it is pending and what leaves when it is sent.
    pub fn total(&self) -> Option<Amount> {
        self.amount.checked_add(self.fee)
    }
}

#[derive(Debug, Clone)]
pub struct TransferRecord {
    pub id: TransferId,
    pub from_account: AccountId,
    pub to_account: AccountId,
    pub asset: String,
    pub amount: Amount,
    pub state: TransferState,
    pub hold_until: Option<Timestamp>,
    /// The gate's hold reasons as JSON, like a withdrawal's.
    pub hold_reasons: Option<String>,
    pub requested_via: RequestedVia,
    pub session_id: Option<SessionId>,
    pub api_key_id: Option<String>,
    pub device_id: Option<DeviceId>,
    pub ip: Option<IpAddr>,
    pub idempotency_key: Option<String>,
    pub created_at: Timestamp,
    pub settled_at: Option<Timestamp>,
    pub cancelled_at: Option<Timestamp>,
    pub cancelled_by: Option<String>,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct ServiceTokenRecord {
    pub id: ServiceTokenId,
    pub name: String,
    pub token_hash: TokenHash,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// Money writes, inside a command's transaction.
#[async_trait::async_trait]
pub trait MoneyTx: Send {
    /// The balance, row-locked until commit (a zero balance row is created on first use).
    async fn lock_balance(&mut self, account: AccountId, asset: &str, now: Timestamp) -> Result<Balance>;
    /// Writes the new balance (of a row locked by [`MoneyTx::lock_balance`]) and the ledger entry
    /// that explains the change (its global sequence number is the store's to give).
    async fn write_balance(
        &mut self,
        account: AccountId,
        asset: &str,
        balance: Balance,
        entry: NewEntry<'_>,
        now: Timestamp,
    ) -> Result<()>;
    /// Records an integration event id. `None` when it is new; otherwise the digest recorded the
    /// first time (the caller compares it with this event's).
    async fn record_ledger_event(
        &mut self,
        event_id: &str,
        digest: &[u8],
        now: Timestamp,
    ) -> Result<Option<Vec<u8>>>;

    /// `Conflict("withdrawal")` when the account already used the idempotency key.
    async fn insert_withdrawal(&mut self, w: &WithdrawalRecord) -> Result<()>;
    async fn lock_withdrawal(&mut self, id: WithdrawalId) -> Result<Option<WithdrawalRecord>>;
    /// Writes every mutable field of a withdrawal locked by [`MoneyTx::lock_withdrawal`].
    async fn update_withdrawal(&mut self, w: &WithdrawalRecord) -> Result<()>;
    async fn withdrawal_by_idempotency_key(
        &mut self,
        account: AccountId,
        key: &str,
    ) -> Result<Option<WithdrawalRecord>>;
    /// Withdrawals of `asset` requested since `since` that still count against the daily limit
    /// (everything but cancelled, rejected and failed ones).
    async fn withdrawn_since(
        &mut self,
        account: AccountId,
        asset: &str,
        since: Timestamp,
    ) -> Result<Vec<Amount>>;
    /// Whether a withdrawal to this destination has ever been broadcast from this account.
    async fn address_used_before(
        &mut self,
        account: AccountId,
        asset: &str,
        network: &str,
        address: &str,
    ) -> Result<bool>;

    async fn insert_service_token(&mut self, t: &ServiceTokenRecord) -> Result<()>;

    /// `Conflict("transfer")` when the sender already used the idempotency key.
    async fn insert_transfer(&mut self, t: &TransferRecord) -> Result<()>;
    async fn lock_transfer(&mut self, id: TransferId) -> Result<Option<TransferRecord>>;
    /// Writes state, hold and timestamps of a transfer locked by [`MoneyTx::lock_transfer`].
    async fn update_transfer(&mut self, t: &TransferRecord) -> Result<()>;
    async fn transfer_by_idempotency_key(
        &mut self,
        account: AccountId,
        key: &str,
    ) -> Result<Option<TransferRecord>>;
    /// Transfers of `asset` sent since `since` that still count against the daily limit (not cancelled).
    async fn transferred_since(
        &mut self,
        account: AccountId,
        asset: &str,
        since: Timestamp,
    ) -> Result<Vec<Amount>>;

    /// Records a quote; false when one for this asset and instant was already there (kept as is).
    async fn insert_price(&mut self, asset: &str, at: Timestamp, price: Amount) -> Result<bool>;
}

/// Money reads that need no transaction.
#[async_trait::async_trait]
pub trait MoneyReader: Send + Sync {
    /// The account's balances, by asset code.
    async fn balances(&self, account: AccountId) -> Result<Vec<(String, Balance)>>;
    /// Newest first.
    async fn ledger_entries(&self, account: AccountId, limit: u32) -> Result<Vec<LedgerEntryRecord>>;
    /// Newest first.
    async fn withdrawals(&self, account: AccountId, limit: u32) -> Result<Vec<WithdrawalRecord>>;
    async fn withdrawal(&self, id: WithdrawalId) -> Result<Option<WithdrawalRecord>>;
    /// Ids of withdrawals in `state` that are due at `due`, oldest first: `held` ones whose hold
    /// ends by then, others last changed by then (the wallet worker subtracts its delays). None for
    /// a final state.
    async fn withdrawals_due(
        &self,
        state: WithdrawalState,
        due: Timestamp,
        limit: u32,
    ) -> Result<Vec<WithdrawalId>>;
    async fn service_token_by_hash(&self, hash: &TokenHash) -> Result<Option<ServiceTokenRecord>>;
    /// Sent and received, newest first.
    async fn transfers(&self, account: AccountId, limit: u32) -> Result<Vec<TransferRecord>>;
    async fn transfer(&self, id: TransferId) -> Result<Option<TransferRecord>>;
    /// Held transfers whose hold ends by `due`, oldest first.
    async fn transfers_due(&self, due: Timestamp, limit: u32) -> Result<Vec<TransferId>>;
    /// Quotes with `from <= at <= to`, oldest first, at most `limit`.
    async fn prices_between(&self, from: Timestamp, to: Timestamp, limit: u32) -> Result<Vec<PriceRecord>>;
}

/// One quote of the price feed: quote atomic units (six decimals) per whole unit of `asset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceRecord {
    pub asset: String,
    pub at: Timestamp,
    pub price: Amount,
}
