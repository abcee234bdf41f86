//! The API-key tables: keys (public key or sealed HMAC secret, scopes, IP allowlist, lifetime, last
//! use) and the nonces of signed requests still inside their freshness window.
//!
//! The store keeps what `custos-core::api_key` parsed; it decides nothing. Scopes and allowlists
//! are stored as comma-separated text in their canonical forms and parsed again on the way out, so
//! a row that no longer parses is reported as corrupt rather than widened.

use std::net::IpAddr;

use custos_core::Timestamp;
use custos_core::api_key::{ApiKeyId, IpAllowlist, KeyKind, Scopes};
use custos_core::audit::RevokeReason;
use custos_core::ids::{AccountId, SessionId};

use crate::Result;

#[derive(Debug, Clone)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub account_id: AccountId,
    pub label: String,
    pub kind: KeyKind,
    /// Ed25519 keys: the 32 raw bytes of the public key.
    pub public_key: Option<Vec<u8>>,
    /// HMAC keys: the secret sealed with `KeyPurpose::ApiSecret`, bound to the key id and account.
    pub secret_sealed: Option<Vec<u8>>,
    pub scopes: Scopes,
    pub ip_allowlist: IpAllowlist,
    pub created_at: Timestamp,
    pub valid_until: Timestamp,
    pub revoked_at: Option<Timestamp>,
    /// Why it was revoked ([`RevokeReason::as_str`]).
    pub revoke_reason: Option<String>,
    pub last_used_at: Option<Timestamp>,
    pub last_used_ip: Option<IpAddr>,
    pub created_by_session: Option<SessionId>,
    pub created_ip: Option<IpAddr>,
}

impl ApiKeyRecord {
    /// Neither revoked nor past its `valid_until` at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && now < self.valid_until
    }
}

/// API-key writes, inside a command's transaction.
#[async_trait::async_trait]
pub trait ApiKeyTx: Send {
    /// `Conflict("api key")` if the id exists already.
    async fn insert_api_key(&mut self, k: &ApiKeyRecord) -> Result<()>;
    /// The key, if it belongs to `account`.
    async fn api_key_of(&mut self, account: AccountId, id: &ApiKeyId) -> Result<Option<ApiKeyRecord>>;
    /// Revokes one unrevoked key of `account`; false if there is none with this id.
    async fn revoke_api_key(
        &mut self,
        account: AccountId,
        id: &ApiKeyId,
        at: Timestamp,
        why: RevokeReason,
    ) -> Result<bool>;
    /// Revokes every unrevoked key of `account`; returns their ids.
    async fn revoke_api_keys(
        &mut self,
        account: AccountId,
        at: Timestamp,
        why: RevokeReason,
    ) -> Result<Vec<ApiKeyId>>;
    /// Writes the revocation a freeze made by moving the account's cut (`api_keys_cut_at`) into
    /// the rows of the keys it covers, so a later cut never redates it. Reads already see it.
    async fn settle_api_key_cut(&mut self, account: AccountId) -> Result<()>;
    /// Records a signed request's nonce until `expires_at`. False when the (key, nonce) pair is
    /// already recorded (a replay) — detected without a unique violation, so a PostgreSQL
    /// transaction stays usable. Forgets this key's nonces that expired by `now` first.
    async fn record_api_nonce(
        &mut self,
        key: &ApiKeyId,
        nonce: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool>;
    /// Notes a successful signed request.
    async fn touch_api_key(&mut self, id: &ApiKeyId, at: Timestamp, ip: Option<IpAddr>) -> Result<()>;
}

/// API-key reads that need no transaction.
#[async_trait::async_trait]
pub trait ApiKeyReader: Send + Sync {
    /// The hot path of a signed request: one read by primary key (with its account's row, whose
    /// cut may have revoked it).
    async fn api_key(&self, id: &ApiKeyId) -> Result<Option<ApiKeyRecord>>;
    /// The account's keys, revoked and expired ones included, newest first.
    async fn api_keys(&self, account: AccountId) -> Result<Vec<ApiKeyRecord>>;
}
