//! The outbox (messages written in a command's transaction, delivered after it commits) and the
//! development mailbox, stored per backend by `sql_outbox`.

use std::time::Duration;

use custos_core::Timestamp;
use custos_core::ids::{AccountId, OutboxId};

use crate::Result;
use crate::records::*;

/// The outbox inside a command's transaction; part of [`crate::Tx`].
#[async_trait::async_trait]
pub trait OutboxTx: Send {
    /// Writes an outbox row; a row with the same idempotency key already present is kept as is.
    async fn enqueue(&mut self, m: &OutboxRecord) -> Result<()>;
    /// The undelivered messages of `topic` queued for `account`, oldest first (a freeze finds the
    /// case follow-up an earlier freeze left pending).
    async fn pending_outbox_of(
        &mut self,
        account: AccountId,
        topic: OutboxTopic,
    ) -> Result<Vec<OutboxRecord>>;
    /// Messages written to `recipient` since `since` (per-recipient throttle).
    /// Only rows whose idempotency key starts with one of `key_prefixes` count (the caller names
    /// the kinds of message it throttles).
    async fn outbox_count_since(
        &mut self,
        recipient: &str,
        since: Timestamp,
        key_prefixes: &[&str],
    ) -> Result<u32>;
}

/// The delivery side: the outbox worker's claims and marks, operators' views, the development
/// mailbox. Part of [`crate::Reader`].
#[async_trait::async_trait]
pub trait OutboxReader: Send + Sync {
    /// Claims due, undelivered messages for `lease` (a conditional update, so two workers never
    /// claim the same row), counting the attempt.
    async fn claim_outbox(&self, now: Timestamp, lease: Duration, limit: u32) -> Result<Vec<OutboxRecord>>;
    async fn outbox_delivered(&self, id: OutboxId, at: Timestamp, purge_payload: bool) -> Result<()>;
    async fn outbox_failed(&self, id: OutboxId, next_attempt_at: Timestamp, error: &str) -> Result<()>;
    async fn outbox_message(&self, id: OutboxId) -> Result<Option<OutboxRecord>>;
    /// The message queued under `key` (idempotency keys are unique), delivered or not.
    async fn outbox_by_key(&self, key: &str) -> Result<Option<OutboxRecord>>;
    /// Undelivered messages, oldest first (operators and tests watch delivery with it).
    async fn outbox_pending(&self, limit: u32) -> Result<Vec<OutboxRecord>>;

    /// Idempotent by message id.
    async fn store_dev_mail(&self, m: &DevMail) -> Result<()>;
    async fn dev_mail(&self, limit: u32) -> Result<Vec<DevMail>>;
}
