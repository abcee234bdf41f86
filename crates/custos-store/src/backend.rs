//! The store's traits, and the SQL both backends share.
//!
//! The SQL is written once, in [`impl_sql_store!`] and the `sql_*` files beside it, and expanded
//! for each backend with that backend's dialect fragments (row locks, `SKIP LOCKED`). Both schemas
//! use the same column types as far as sqlx is concerned (INTEGER microseconds, UUIDs, byte
//! strings, text), so the same statements bind and decode on both.

use std::time::Duration;

use custos_core::Timestamp;
use custos_core::audit::{Actor, AuditEvent, AuditRecord, Chain};
use custos_core::crypto::TokenHash;
use custos_core::ids::{AccountId, DeviceId, SessionId, Uid};

use crate::Result;
use crate::records::*;

/// A write transaction. Dropping it without [`Tx::commit`] rolls everything back.
///
/// Inserts nobody reads back at once — audit records, outbox messages, link tokens, sessions,
/// login events, device touches, throttle clears, the freeze row, incidents, their messages and
/// contact changes — are queued on SQLite and sent as one batch before the next statement that
/// could see them, and before `COMMIT` (see `deferred`). All-or-nothing is unchanged; what moves
/// is when such an insert's error surfaces: at the next statement or at commit, not at the call.
#[async_trait::async_trait]
pub trait Tx:
    crate::money::MoneyTx
    + crate::api_keys::ApiKeyTx
    + crate::allowlist::AllowlistTx
    + crate::freeze::FreezeTx
    + crate::staff::StaffTx
    + crate::incidents::IncidentTx
    + crate::factors::FactorTx
    + crate::outbox::OutboxTx
    + crate::sessions::SessionTx
    + crate::links::LinkTx
    + crate::throttles::ThrottleTx
    + Send
{
    // Accounts. Every command that touches an account calls `lock_account*` first (DESIGN
    // "Concurrency"): PostgreSQL `SELECT … FOR UPDATE`; SQLite already holds the write lock.
    async fn insert_account(&mut self, a: &AccountRecord) -> Result<()>;
    async fn lock_account(&mut self, id: AccountId) -> Result<Option<AccountRecord>>;
    /// `lock_account`, and the account's device with this key hash if it has one.
    async fn lock_account_with_device(
        &mut self,
        id: AccountId,
        device: Option<&TokenHash>,
    ) -> Result<Option<(AccountRecord, Option<DeviceId>)>>;
    async fn lock_account_by_email_key(&mut self, email_key: &str) -> Result<Option<AccountRecord>>;
    async fn set_email_verified(&mut self, id: AccountId, at: Timestamp) -> Result<()>;
    async fn set_security_stamp(&mut self, id: AccountId, stamp: &[u8]) -> Result<()>;
    async fn set_password_hash(&mut self, id: AccountId, phc: &str) -> Result<()>;
    /// Sets the withdrawal lock as given; callers compute it with `extend_lock` so it never shortens.
    async fn set_withdrawal_lock(
        &mut self,
        id: AccountId,
        until: Option<Timestamp>,
        reason: Option<&str>,
    ) -> Result<()>;
    async fn set_anti_phishing_code(&mut self, id: AccountId, code: Option<&str>) -> Result<()>;
    /// Conflict("email") when another account has the address.
    async fn set_email(
        &mut self,
        id: AccountId,
        email: &str,
        email_key: &str,
        verified_at: Timestamp,
    ) -> Result<()>;
    async fn set_phone(&mut self, id: AccountId, phone: Option<&str>) -> Result<()>;
    /// Binds a number proved by a texted code.
    async fn set_verified_phone(&mut self, id: AccountId, phone: &str, at: Timestamp) -> Result<()>;
    async fn set_sms_enabled(&mut self, id: AccountId, since: Option<Timestamp>) -> Result<()>;

    /// Appends to the chain, linking to its current head. Serialised per chain.
    async fn append_audit(
        &mut self,
        chain: Chain,
        at: Timestamp,
        actor: Actor,
        event: AuditEvent,
    ) -> Result<AuditRecord>;

    async fn commit(self: Box<Self>) -> Result<()>;
    async fn rollback(self: Box<Self>) -> Result<()>;
}

/// Reads and single-statement writes that need no enclosing transaction.
#[async_trait::async_trait]
pub trait Reader:
    crate::money::MoneyReader
    + crate::api_keys::ApiKeyReader
    + crate::allowlist::AllowlistReader
    + crate::freeze::FreezeReader
    + crate::staff::StaffReader
    + crate::incidents::IncidentReader
    + crate::outbox::OutboxReader
    + crate::sessions::SessionReader
    + crate::throttles::ThrottleReader
    + Send
    + Sync
{
    /// The hot path: one indexed read for every authenticated request.
    async fn session_with_account(&self, hash: &TokenHash) -> Result<Option<SessionWithAccount>>;
    /// The session, its account and the account's second-factor counts in one round trip: what
    /// `/me` shows, so the overview costs the same single read as any authenticated request.
    async fn session_overview(&self, hash: &TokenHash) -> Result<Option<SessionOverview>>;
    async fn touch_session(&self, id: SessionId, at: Timestamp) -> Result<()>;
    async fn account(&self, id: AccountId) -> Result<Option<AccountRecord>>;
    async fn account_by_uid(&self, uid: Uid) -> Result<Option<AccountRecord>>;
    async fn account_by_email_key(&self, email_key: &str) -> Result<Option<AccountRecord>>;
    /// Where the account's latest `limit` successful sign-ins came from — one entry per distinct
    /// address, country and network, with the latest time it was seen — newest first: only what a
    /// new sign-in's risk signals compare with, so every login reads little.
    async fn prior_sign_ins(&self, account: AccountId, limit: u32) -> Result<Vec<PriorSignIn>>;
    /// The account's passwords, newest first (the current one included).
    async fn password_history(&self, account: AccountId, limit: u32) -> Result<Vec<PasswordHistoryRecord>>;
    /// Which second factors the account has confirmed (read without locking, for pages and login).
    async fn second_factors(&self, account: AccountId) -> Result<SecondFactors>;
    /// The account's passkeys, oldest first.
    async fn passkeys(&self, account: AccountId) -> Result<Vec<PasskeyRecord>>;

    /// [`LoginLookup`] for the address `email_key`, the device key hash presented (if any), the
    /// throttle keys `ip_key` and `account_key`, and at most `prior_limit` earlier sign-ins (as
    /// [`Reader::prior_sign_ins`]): one statement.
    async fn login_lookup(
        &self,
        email_key: &str,
        device: Option<&TokenHash>,
        ip_key: &str,
        account_key: &str,
        prior_limit: u32,
    ) -> Result<LoginLookup>;

    async fn audit_chains(&self) -> Result<Vec<String>>;
    /// Records of one chain with `seq > after`, in order, at most `limit`.
    async fn audit_records(&self, chain: &str, after: i64, limit: u32) -> Result<Vec<AuditRecord>>;
}

pub(crate) fn micros(t: Timestamp) -> i64 {
    t.as_micros()
}

pub(crate) fn ts(v: i64) -> Timestamp {
    Timestamp::from_micros(v)
}

pub(crate) fn opt_ts(v: Option<i64>) -> Option<Timestamp> {
    v.map(Timestamp::from_micros)
}

pub(crate) fn hash32(v: Vec<u8>) -> Result<TokenHash> {
    TokenHash::from_slice(&v).ok_or_else(|| crate::StoreError::Corrupt("hash is not 32 bytes".into()))
}

pub(crate) fn ip(v: Option<String>) -> Option<std::net::IpAddr> {
    v.and_then(|s| s.parse().ok())
}

pub(crate) fn corrupt(what: &str) -> crate::StoreError {
    crate::StoreError::Corrupt(what.to_owned())
}

pub(crate) fn duration_micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

// Column lists as macros, so `concat!` can build whole statements at compile time (sqlx 0.9
// refuses run-time SQL unless it is marked; only genuinely dynamic SQL should be).
macro_rules! account_columns {
    () => {
        "id, uid, email, email_key, email_verified_at, phone, status, password_hash, security_stamp, anti_phishing_code, created_at, withdrawal_lock_until, withdrawal_lock_reason, phone_verified_at, sms_enabled_at"
    };
}
pub(crate) use account_columns;

/// The locked account row with the head of its audit chain: the select list, and the join (the
/// chain's key bound as `$chain`), read back by [`audit_head_of`]. Where the lock on the account
/// is the lock on every writer (SQLite), the append that nearly every such command makes then
/// needs no read of its own.
macro_rules! account_with_audit_head {
    () => {
        concat!(crate::backend::account_columns!(), ", h.seq AS head_seq, h.hash AS head_hash")
    };
    (join $chain:literal) => {
        concat!(
            "LEFT JOIN (SELECT seq, hash FROM audit_records WHERE chain = ",
            $chain,
            " ORDER BY seq DESC LIMIT 1) h ON 1 = 1 "
        )
    };
}
pub(crate) use account_with_audit_head;

/// The audit-chain head read with [`account_with_audit_head`]: `(seq, hash)` of the chain's last
/// record, or `(0, GENESIS)` for a chain with none.
macro_rules! audit_head_of {
    ($row:expr) => {
        match $row.try_get::<Option<i64>, _>("head_seq")? {
            Some(seq) => (seq, crate::backend::hash32($row.try_get("head_hash")?)?.0),
            None => (0, custos_core::audit::GENESIS),
        }
    };
}
pub(crate) use audit_head_of;

macro_rules! session_columns {
    () => {
        "id, account_id, token_hash, device_id, ip, user_agent, aal, authenticated_at, stepped_up_at, created_at, last_seen_at, stamp_at_issue, revoked_at, revoke_reason"
    };
}
pub(crate) use session_columns;

/// The session columns under an `s_` prefix, for joins with `accounts` (whose column names overlap).
macro_rules! session_columns_s {
    () => {
        "s.id AS s_id, s.account_id AS s_account_id, s.token_hash AS s_token_hash, s.device_id AS s_device_id, s.ip AS s_ip, s.user_agent AS s_user_agent, s.aal AS s_aal, s.authenticated_at AS s_authenticated_at, s.stepped_up_at AS s_stepped_up_at, s.created_at AS s_created_at, s.last_seen_at AS s_last_seen_at, s.stamp_at_issue AS s_stamp_at_issue, s.revoked_at AS s_revoked_at, s.revoke_reason AS s_revoke_reason"
    };
}
pub(crate) use session_columns_s;

/// Second-factor counts of the account whose id is the SQL expression given (`$1`, `a.id`), as
/// `f_totp`, `f_codes`, `f_sms`, `f_passkeys`. With `joined`, the account row is already in the
/// statement as `a`, and the SMS factor is read from it rather than by a fourth lookup.
macro_rules! second_factor_counts {
    (joined) => {
        concat!(
            second_factor_counts!(@tables "a.id"),
            "CAST(CASE WHEN a.sms_enabled_at IS NOT NULL AND a.phone_verified_at IS NOT NULL THEN 1 ELSE 0 END AS BIGINT) AS f_sms"
        )
    };
    ($account:literal) => {
        concat!(
            second_factor_counts!(@tables $account),
            "(SELECT COUNT(*) FROM accounts WHERE id = ",
            $account,
            " AND sms_enabled_at IS NOT NULL AND phone_verified_at IS NOT NULL) AS f_sms"
        )
    };
    (@tables $account:literal) => {
        concat!(
            "(SELECT COUNT(*) FROM totp_factors WHERE account_id = ",
            $account,
            " AND confirmed_at IS NOT NULL) AS f_totp, ",
            "(SELECT COUNT(*) FROM recovery_codes WHERE account_id = ",
            $account,
            " AND used_at IS NULL) AS f_codes, ",
            "(SELECT COUNT(*) FROM passkeys WHERE account_id = ",
            $account,
            ") AS f_passkeys, "
        )
    };
}
pub(crate) use second_factor_counts;

macro_rules! device_columns {
    () => {
        "id, account_id, key_hash, user_agent, first_seen_at, last_seen_at, last_ip"
    };
}
pub(crate) use device_columns;

macro_rules! link_columns {
    () => {
        "id, token_hash, purpose, account_id, subject, stamp_at_issue, created_at, expires_at, used_at"
    };
}
pub(crate) use link_columns;

macro_rules! outbox_columns {
    () => {
        "id, topic, idempotency_key, account_id, recipient, payload, created_at, attempts, next_attempt_at, delivered_at, last_error"
    };
}
pub(crate) use outbox_columns;

/// An outbox message's insert, `$1`… in [`outbox_columns`]' order; a key already queued is left be.
macro_rules! outbox_insert {
    () => {
        concat!(
            "INSERT INTO outbox (",
            crate::backend::outbox_columns!(),
            ") ",
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (idempotency_key) DO NOTHING"
        )
    };
}
pub(crate) use outbox_insert;

macro_rules! login_columns {
    () => {
        "id, account_id, at, outcome, ip, country, asn, device_id, user_agent, signals, session_id"
    };
}
pub(crate) use login_columns;

macro_rules! audit_columns {
    () => {
        "chain, seq, at, account_id, actor, event, prev_hash, hash"
    };
}
pub(crate) use audit_columns;

/// An audit record's insert, `$1`… in [`audit_columns`]' order.
macro_rules! audit_insert {
    () => {
        concat!(
            "INSERT INTO audit_records (",
            crate::backend::audit_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        )
    };
}
pub(crate) use audit_insert;

macro_rules! challenge_columns {
    () => {
        "id, token_hash, account_id, purpose, code_hash, session_id, created_at, expires_at, attempts, used_at, code_sent_at, subject"
    };
}
pub(crate) use challenge_columns;

macro_rules! passkey_columns {
    () => {
        "id, account_id, credential_id, passkey, name, created_at, last_used_at"
    };
}
pub(crate) use passkey_columns;

macro_rules! ceremony_columns {
    () => {
        "id, token_hash, purpose, account_id, session_id, challenge_id, state, created_at, expires_at, used_at"
    };
}
pub(crate) use ceremony_columns;
