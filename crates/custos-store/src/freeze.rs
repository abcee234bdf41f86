//! The kill switch's tables: freezes with their receipts, and panic codes; plus the reads and
//! set-based writes a freeze makes on sessions, keys, withdrawals and transfers (one statement per
//! table, whatever the account holds).
//!
//! The store decides nothing: `custos-core::freeze` plans, the use case checks that the rows these
//! statements touched are exactly the plan's.

use custos_core::Timestamp;
use custos_core::api_key::ApiKeyId;
use custos_core::crypto::TokenHash;
use custos_core::freeze::{FreezeChannel, FreezeReceipt};
use custos_core::ids::{AccountId, FreezeId, SessionId, TransferId, Uid, WithdrawalId};
use custos_core::login::AccountStatus;

use custos_core::api_key::Scopes;
use custos_core::money::Amount;
use custos_core::transfer::TransferState;
use custos_core::withdrawal::WithdrawalState;

use crate::Result;
use crate::incidents::ContactChange;

#[derive(Debug, Clone)]
pub struct FreezeRecord {
    pub id: FreezeId,
    pub account_id: AccountId,
    pub channel: FreezeChannel,
    /// Who froze it, in words (`user`, `anonymous 203.0.113.9`, `operator alice`, `policy …`).
    pub actor: String,
    pub reason: String,
    pub receipt: FreezeReceipt,
    /// The audit record that carries the receipt (the freeze's `AccountFrozen` record). When set,
    /// the receipt is stored there only and read back from it; when not, the row keeps its own.
    pub receipt_record: Option<AuditPosition>,
    pub frozen_at: Timestamp,
    pub unfrozen_at: Option<Timestamp>,
    pub unfrozen_by: Option<String>,
    pub approved_by: Option<String>,
}

/// Where an audit record is: its chain's key and its sequence number in that chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPosition {
    pub chain: String,
    pub seq: i64,
}

/// Everything a freeze acts on, read under the account's row lock: what the receipt names and the
/// plan needs of each row, no more (read as one JSON document per table in one statement, so a
/// freeze of an account holding a hundred rows costs one round trip and one row).
#[derive(Debug, Clone, Default)]
pub struct FreezeRows {
    /// Not revoked, oldest first.
    pub sessions: Vec<LiveSession>,
    /// Not revoked, oldest first.
    pub api_keys: Vec<LiveApiKey>,
    /// Not yet final or on chain, plus those broadcast (or confirmed) since `on_chain_since`,
    /// oldest first.
    pub withdrawals: Vec<OpenWithdrawal>,
    /// Sent by the account and not settled or cancelled, each with the receiving account's UID
    /// (read in the same statement: a freeze must not wait for another connection, nor lock the
    /// receiver, while it holds the sender's row lock), oldest first.
    pub transfers: Vec<OpenTransfer>,
    /// Contact changes since `contacts_since`, oldest first (who may receive the case link).
    pub contact_changes: Vec<ContactChange>,
    /// The account's balances, by asset (what released reservations go back to). Read under the
    /// account's lock, and on PostgreSQL locked themselves (`FOR UPDATE`), like `lock_balance`.
    pub balances: Vec<HeldBalance>,
}

/// One asset's balance of the account, as the freeze read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldBalance {
    pub asset: String,
    pub balance: custos_core::ledger::Balance,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSession {
    pub id: SessionId,
    pub ip: Option<std::net::IpAddr>,
    pub user_agent: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveApiKey {
    pub id: ApiKeyId,
    pub label: String,
    pub scopes: Scopes,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenWithdrawal {
    pub id: WithdrawalId,
    pub state: WithdrawalState,
    pub asset: String,
    pub network: String,
    pub address: String,
    pub amount: Amount,
    pub fee: Amount,
    pub txid: Option<String>,
    pub broadcast_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

impl OpenWithdrawal {
    /// Amount plus fee: what its reservation holds.
    pub fn total(&self) -> Option<Amount> {
        self.amount.checked_add(self.fee)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenTransfer {
    pub id: TransferId,
    pub state: TransferState,
    pub asset: String,
    pub amount: Amount,
    pub to_uid: Uid,
    pub created_at: Timestamp,
}

/// What a freeze writes, and how far back it reads (see [`FreezeTx::freeze_account`]).
#[derive(Debug, Clone, Copy)]
pub struct FreezeWrite<'a> {
    /// The account's new security stamp: it ends every session issued under the old one.
    pub stamp: &'a [u8],
    /// The freeze's time: the account's key cut, and when the withdrawals and transfers were
    /// cancelled.
    pub at: Timestamp,
    /// Withdrawals broadcast since then are read (the receipt lists them as beyond reach).
    pub on_chain_since: Timestamp,
    /// Contact changes since then are read (the trusted address for the case link).
    pub contacts_since: Timestamp,
}

/// What [`FreezeTx::freeze_account`]'s writes touched, each list sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FreezeApplied {
    pub sessions: Vec<SessionId>,
    pub api_keys: Vec<ApiKeyId>,
    pub withdrawals: Vec<WithdrawalId>,
    pub transfers: Vec<TransferId>,
}

impl FreezeApplied {
    pub(crate) fn sort(&mut self) {
        self.sessions.sort();
        self.api_keys.sort();
        self.withdrawals.sort();
        self.transfers.sort();
    }
}

#[async_trait::async_trait]
pub trait FreezeTx: Send {
    /// The freeze's reads and writes in one round trip. Reads everything a freeze acts on, the
    /// account's contact changes since `contacts_since` and its balances — as they were before the
    /// writes — then applies the set-based writes: status `frozen`, the new stamp (which ends every
    /// session) and the key cut at `at` (which revokes every API key, `account_frozen`); every withdrawal the
    /// wallet does not have yet (`requested`, `awaiting_confirmation`, `held`, `queued`) and every
    /// unsettled transfer the account sent cancelled, marked `cancelled_by = 'freeze'`. Answers
    /// the rows read and what the writes touched; the caller plans from the first and must find
    /// the plan equal to the second, or roll back. One batch on SQLite (the read, the writes, then
    /// how many rows they changed: under its one writer they touch exactly the rows read that their
    /// predicates pick), one statement on PostgreSQL (its data-modifying CTEs and the read share
    /// one snapshot; the CTEs return what they touched). Reservations are the caller's to
    /// release.
    async fn freeze_account(
        &mut self,
        account: AccountId,
        w: FreezeWrite<'_>,
    ) -> Result<(FreezeRows, FreezeApplied)>;
    /// Locks the account as `Tx::lock_account` does and freezes it as [`Self::freeze_account`]
    /// does, in one round trip on SQLite (one batch). Answers `None` without the account; else the
    /// account as it was before, with what the freeze read and touched — or `None` there when the
    /// account was left as it was: frozen by an earlier freeze of record, whose receipt stands (on
    /// PostgreSQL, frozen at all: the caller then looks for that receipt).
    async fn lock_and_freeze_account(
        &mut self,
        account: AccountId,
        w: FreezeWrite<'_>,
    ) -> Result<Option<(crate::AccountRecord, Option<(FreezeRows, FreezeApplied)>)>>;
    async fn set_account_status(&mut self, account: AccountId, status: AccountStatus) -> Result<()>;
    /// Sets the status and rotates the security stamp in one statement (a freeze, an unfreeze).
    async fn set_status_and_stamp(
        &mut self,
        account: AccountId,
        status: AccountStatus,
        stamp: &[u8],
    ) -> Result<()>;
    async fn insert_freeze(&mut self, f: &FreezeRecord) -> Result<()>;
    /// The account's most recent freeze.
    async fn latest_freeze(&mut self, account: AccountId) -> Result<Option<FreezeRecord>>;
    /// Closes a freeze; false if it was already closed.
    async fn close_freeze(
        &mut self,
        id: FreezeId,
        at: Timestamp,
        unfrozen_by: &str,
        approved_by: &str,
    ) -> Result<bool>;
    /// Sets (replacing any) or removes the account's panic code.
    async fn set_panic_code(
        &mut self,
        account: AccountId,
        hash: Option<&TokenHash>,
        at: Timestamp,
    ) -> Result<()>;
    async fn panic_code_hash(&mut self, account: AccountId) -> Result<Option<TokenHash>>;
}

#[async_trait::async_trait]
pub trait FreezeReader: Send + Sync {
    /// The account's freezes, newest first.
    async fn freezes(&self, account: AccountId) -> Result<Vec<FreezeRecord>>;
    /// Whether the account has a panic code (pages show it; the code itself is never readable).
    async fn has_panic_code(&self, account: AccountId) -> Result<bool>;
}
