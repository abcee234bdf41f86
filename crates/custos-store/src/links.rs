//! Emailed link tokens (confirm an address, a withdrawal, disable the account, open a case…),
//! stored hashed per backend by `sql_links`.

use custos_core::Timestamp;
use custos_core::crypto::TokenHash;
use custos_core::ids::{AccountId, LinkTokenId};
use custos_core::link_token::LinkPurpose;

use crate::Result;
use crate::records::*;

/// Link tokens inside a command's transaction; part of [`crate::Tx`].
#[async_trait::async_trait]
pub trait LinkTx: Send {
    async fn insert_link_token(&mut self, t: &LinkTokenRecord) -> Result<()>;
    async fn link_token_by_hash(&mut self, hash: &TokenHash) -> Result<Option<LinkTokenRecord>>;
    /// Spends every unspent link of `purpose` for the account ("only the newest is valid").
    async fn spend_links(&mut self, account: AccountId, purpose: LinkPurpose, at: Timestamp) -> Result<u32>;
    /// Spends a single-use token; false if it was already spent (a concurrent use lost the race).
    async fn mark_link_token_used(&mut self, id: LinkTokenId, at: Timestamp) -> Result<bool>;
}
