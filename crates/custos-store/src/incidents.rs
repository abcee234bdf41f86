//! Incident cases and their message threads, and the contacts binding changes replaced.
//!
//! The store decides nothing: `custos-core::incident` says which state may follow which and what
//! a message may hold; the use cases call these inside the command's transaction.

use custos_core::Timestamp;
use custos_core::ids::{AccountId, IncidentId, IncidentMessageId};
use custos_core::incident::{IncidentFacts, IncidentOrigin, IncidentState, MessageAuthor};

use crate::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentRecord {
    pub id: IncidentId,
    pub account_id: AccountId,
    pub state: IncidentState,
    pub origin: IncidentOrigin,
    pub facts: IncidentFacts,
    /// When the diagnosis filled the facts in (`None`: not yet).
    pub facts_filled_at: Option<Timestamp>,
    pub opened_at: Timestamp,
    pub updated_at: Timestamp,
    /// Support's first message (the SLA's first response).
    pub first_response_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    /// The staff ID (`CS-…`) of the member of staff working the case.
    pub assignee: Option<String>,
}

/// An internal note on a case: for staff only, never shown to the holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentNoteRecord {
    pub id: uuid::Uuid,
    pub incident_id: IncidentId,
    pub staff_id: String,
    pub staff_name: String,
    pub body: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentMessageRecord {
    pub id: IncidentMessageId,
    pub incident_id: IncidentId,
    pub author: MessageAuthor,
    pub body: String,
    pub created_at: Timestamp,
}

/// Which contact a binding change replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactKind {
    Email,
    Phone,
}

impl ContactKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "email" => Some(Self::Email),
            "phone" => Some(Self::Phone),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Phone => "phone",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactChange {
    pub kind: ContactKind,
    /// The contact bound before the change.
    pub previous: String,
    pub changed_at: Timestamp,
}

#[async_trait::async_trait]
pub trait IncidentTx: Send {
    /// Conflict("incident") when the account has an open case already.
    async fn insert_incident(&mut self, i: &IncidentRecord) -> Result<()>;
    /// The account's open (not closed) case. Call with the account locked.
    async fn open_incident_of(&mut self, account: AccountId) -> Result<Option<IncidentRecord>>;
    async fn incident_in_tx(&mut self, id: IncidentId) -> Result<Option<IncidentRecord>>;
    /// Writes state, facts and the SLA times; false if there is no such case.
    async fn update_incident(&mut self, i: &IncidentRecord) -> Result<bool>;
    async fn insert_incident_message(&mut self, m: &IncidentMessageRecord) -> Result<()>;
    async fn insert_incident_note(&mut self, n: &IncidentNoteRecord) -> Result<()>;
    async fn record_contact_change(
        &mut self,
        account: AccountId,
        kind: ContactKind,
        previous: &str,
        at: Timestamp,
    ) -> Result<()>;
    /// The account's binding changes since `since`, oldest first.
    async fn contact_changes_since(
        &mut self,
        account: AccountId,
        since: Timestamp,
    ) -> Result<Vec<ContactChange>>;
}

#[async_trait::async_trait]
pub trait IncidentReader: Send + Sync {
    async fn incident(&self, id: IncidentId) -> Result<Option<IncidentRecord>>;
    /// The account's cases, newest first.
    async fn incidents_of(&self, account: AccountId) -> Result<Vec<IncidentRecord>>;
    /// The thread, oldest first.
    async fn incident_messages(&self, id: IncidentId) -> Result<Vec<IncidentMessageRecord>>;
    /// Open cases, oldest first (the support queue orders them by SLA).
    async fn open_incidents(&self, limit: u32) -> Result<Vec<IncidentRecord>>;
    /// The internal notes, oldest first.
    async fn incident_notes(&self, id: IncidentId) -> Result<Vec<IncidentNoteRecord>>;
}
