//! The withdrawal address allowlist's tables: entries (with their confirmation and cooling times)
//! and each account's mode. The store keeps what `custos-core::allowlist` checked; it decides
//! nothing — states and the egress fact are computed in the core from these times.

use custos_core::Timestamp;
use custos_core::allowlist::{Entry, Mode};
use custos_core::ids::{AccountId, AllowlistEntryId};

use crate::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowlistEntryRecord {
    pub id: AllowlistEntryId,
    pub account_id: AccountId,
    pub asset: String,
    pub network: String,
    /// Canonical form (as `asset::validate_address` returns it).
    pub address: String,
    pub memo: Option<String>,
    pub label: String,
    pub created_at: Timestamp,
    /// When the emailed confirmation link stops working.
    pub confirm_by: Timestamp,
    pub confirmed_at: Option<Timestamp>,
    /// End of the cooling period; set together with `confirmed_at`.
    pub usable_from: Option<Timestamp>,
    pub removed_at: Option<Timestamp>,
}

impl AllowlistEntryRecord {
    /// What the core decides with.
    pub fn facts(&self) -> Entry {
        Entry {
            asset: self.asset.clone(),
            network: self.network.clone(),
            address: self.address.clone(),
            memo: self.memo.clone(),
            confirm_by: self.confirm_by,
            confirmed_at: self.confirmed_at,
            usable_from: self.usable_from,
            removed_at: self.removed_at,
        }
    }
}

/// An account's allowlist mode as stored; an account that never touched it is off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AllowlistModeRecord {
    /// On since (NULL: off).
    pub enabled_at: Option<Timestamp>,
    /// A requested turn-off takes effect at this time.
    pub off_at: Option<Timestamp>,
}

impl AllowlistModeRecord {
    pub fn mode(&self) -> Mode {
        Mode::from_stored(self.enabled_at, self.off_at)
    }
}

/// Allowlist writes, inside a command's transaction (after the account row is locked).
#[async_trait::async_trait]
pub trait AllowlistTx: Send {
    async fn insert_allowlist_entry(&mut self, e: &AllowlistEntryRecord) -> Result<()>;
    /// The account's entries that were not removed, oldest first.
    async fn allowlist_entries_of(&mut self, account: AccountId) -> Result<Vec<AllowlistEntryRecord>>;
    /// The entry, if it belongs to `account` (removed ones included).
    async fn allowlist_entry_of(
        &mut self,
        account: AccountId,
        id: AllowlistEntryId,
    ) -> Result<Option<AllowlistEntryRecord>>;
    /// Confirms an unconfirmed, unremoved entry; false if there is none such.
    async fn confirm_allowlist_entry(
        &mut self,
        id: AllowlistEntryId,
        at: Timestamp,
        usable_from: Timestamp,
    ) -> Result<bool>;
    /// Removes one unremoved entry of `account`; false if there is none with this id.
    async fn remove_allowlist_entry(
        &mut self,
        account: AccountId,
        id: AllowlistEntryId,
        at: Timestamp,
    ) -> Result<bool>;
    async fn allowlist_mode_of(&mut self, account: AccountId) -> Result<AllowlistModeRecord>;
    async fn set_allowlist_mode(
        &mut self,
        account: AccountId,
        mode: AllowlistModeRecord,
        at: Timestamp,
    ) -> Result<()>;
}

/// Allowlist reads for pages and lists.
#[async_trait::async_trait]
pub trait AllowlistReader: Send + Sync {
    /// The account's entries that were not removed, newest first.
    async fn allowlist_entries(&self, account: AccountId) -> Result<Vec<AllowlistEntryRecord>>;
    async fn allowlist_mode(&self, account: AccountId) -> Result<AllowlistModeRecord>;
}
