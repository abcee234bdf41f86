//! Staff accounts, their sessions, and the official-channel registry (issue 6). Staff live in
//! their own tables, apart from customer accounts: a customer session can never be a staff one.

use custos_core::Timestamp;
use custos_core::audit::RevokeReason;
use custos_core::crypto::TokenHash;
use custos_core::official_channel::ChannelKind;
use custos_core::staff::{StaffCode, StaffId, StaffRole, StaffSessionId, StaffStatus};

use crate::Result;

#[derive(Debug, Clone)]
pub struct StaffRecord {
    pub id: StaffId,
    pub code: StaffCode,
    pub email: String,
    pub email_key: String,
    pub name: String,
    pub role: StaffRole,
    pub status: StaffStatus,
    /// None until the setup link sets it.
    pub password_hash: Option<String>,
    /// Sealed with the totp-seed key, bound to the staff id. Set (unconfirmed) during setup.
    pub totp_seed_sealed: Option<Vec<u8>>,
    pub totp_last_step: Option<i64>,
    pub security_stamp: Vec<u8>,
    pub setup_token_hash: Option<TokenHash>,
    pub setup_expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    /// The operator who ran `custos staff create`.
    pub created_by: String,
    pub enrolled_at: Option<Timestamp>,
    pub disabled_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct StaffSessionRecord {
    pub id: StaffSessionId,
    pub staff_id: StaffId,
    pub token_hash: TokenHash,
    pub ip: Option<std::net::IpAddr>,
    pub user_agent: String,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub stamp_at_issue: Vec<u8>,
    pub revoked_at: Option<Timestamp>,
    pub revoke_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficialChannelRecord {
    pub id: uuid::Uuid,
    /// Never `Staff`: staff IDs come from the staff table.
    pub kind: ChannelKind,
    /// Canonical form (`official_channel::normalise`).
    pub value: String,
    pub note: Option<String>,
    pub created_at: Timestamp,
    pub created_by: String,
}

#[async_trait::async_trait]
pub trait StaffTx: Send {
    /// Conflict("email") or Conflict("staff_code").
    async fn insert_staff(&mut self, s: &StaffRecord) -> Result<()>;
    /// Locks the row (PostgreSQL `FOR UPDATE`).
    async fn lock_staff(&mut self, id: StaffId) -> Result<Option<StaffRecord>>;
    async fn lock_staff_by_email_key(&mut self, email_key: &str) -> Result<Option<StaffRecord>>;
    async fn lock_staff_by_setup_hash(&mut self, hash: &TokenHash) -> Result<Option<StaffRecord>>;
    /// A new setup link for a pending staff member (the old one dies: one hash per row).
    async fn set_staff_setup_token(
        &mut self,
        id: StaffId,
        hash: &TokenHash,
        expires_at: Timestamp,
    ) -> Result<()>;
    /// Setup, step one: the chosen password and a new (unconfirmed) sealed seed.
    async fn set_staff_setup_credentials(
        &mut self,
        id: StaffId,
        password_hash: &str,
        seed_sealed: &[u8],
    ) -> Result<()>;
    /// Setup, step two: active, the setup token cleared, the first accepted step stored.
    async fn activate_staff(&mut self, id: StaffId, step: i64, at: Timestamp) -> Result<()>;
    /// Records an accepted TOTP step; false if an equal or later one was accepted (replay).
    async fn accept_staff_totp_step(&mut self, id: StaffId, step: i64) -> Result<bool>;
    /// Disabled, with a new stamp (every session and derived token dies with the old one).
    async fn disable_staff(&mut self, id: StaffId, stamp: &[u8], at: Timestamp) -> Result<()>;
    async fn insert_staff_session(&mut self, s: &StaffSessionRecord) -> Result<()>;
    /// Revokes one live session; false if it was not live.
    async fn revoke_staff_session(
        &mut self,
        id: StaffSessionId,
        at: Timestamp,
        why: RevokeReason,
    ) -> Result<bool>;
    /// Revokes every live session of the staff member; returns how many.
    async fn revoke_staff_sessions(
        &mut self,
        staff: StaffId,
        at: Timestamp,
        why: RevokeReason,
    ) -> Result<u32>;

    /// Conflict("official_channel") when the (kind, value) is registered already.
    async fn insert_official_channel(&mut self, c: &OfficialChannelRecord) -> Result<()>;
    /// False if there was no such entry.
    async fn delete_official_channel(&mut self, kind: ChannelKind, value: &str) -> Result<bool>;
}

#[async_trait::async_trait]
pub trait StaffReader: Send + Sync {
    async fn staff_by_email_key(&self, email_key: &str) -> Result<Option<StaffRecord>>;
    async fn staff_by_code(&self, code: &StaffCode) -> Result<Option<StaffRecord>>;
    async fn staff_by_setup_hash(&self, hash: &TokenHash) -> Result<Option<StaffRecord>>;
    /// Every staff member, oldest first.
    async fn staff_list(&self) -> Result<Vec<StaffRecord>>;
    /// The hot path of every staff request: the session and its staff member in one read.
    async fn staff_session_by_hash(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(StaffSessionRecord, StaffRecord)>>;
    async fn touch_staff_session(&self, id: StaffSessionId, at: Timestamp) -> Result<()>;
    /// The registry, optionally of one kind, ordered by kind and value.
    async fn official_channels(&self, kind: Option<ChannelKind>) -> Result<Vec<OfficialChannelRecord>>;
}
