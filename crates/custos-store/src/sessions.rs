//! Who is signed in where: sessions, the devices they run on, and the sign-in events that opened
//! them. Stored per backend by `sql_sessions`.

use custos_core::Timestamp;
use custos_core::audit::RevokeReason;
use custos_core::crypto::TokenHash;
use custos_core::ids::{AccountId, DeviceId, SessionId};

use crate::Result;
use crate::records::*;

/// Sessions, devices and sign-in events inside a command's transaction; part of [`crate::Tx`].
#[async_trait::async_trait]
pub trait SessionTx: Send {
    /// Gives a live session a new token (and assurance, step-up time and stamp): after a step-up,
    /// and after a change that rotated the stamp, the acting session continues under a new token.
    /// `false` (nothing written) if the session was revoked or no longer carries
    /// `new.issued_under`.
    async fn reissue_session(&mut self, id: SessionId, new: &Reissue) -> Result<bool>;

    // Devices
    async fn device_by_key(
        &mut self,
        account: AccountId,
        key_hash: &TokenHash,
    ) -> Result<Option<DeviceRecord>>;
    async fn insert_device(&mut self, d: &DeviceRecord) -> Result<()>;
    async fn touch_device(
        &mut self,
        id: DeviceId,
        at: Timestamp,
        ip: Option<std::net::IpAddr>,
        user_agent: &str,
    ) -> Result<()>;

    // Sessions
    async fn insert_session(&mut self, s: &SessionRecord) -> Result<()>;
    async fn session_by_token_hash(&mut self, hash: &TokenHash) -> Result<Option<SessionRecord>>;
    /// Revokes one live session of `account`; false if it was not live (or not theirs).
    async fn revoke_session(
        &mut self,
        account: AccountId,
        id: SessionId,
        at: Timestamp,
        why: RevokeReason,
    ) -> Result<bool>;
    /// Revokes every live session of `account` except `keep`; returns how many.
    async fn revoke_sessions(
        &mut self,
        account: AccountId,
        keep: Option<SessionId>,
        at: Timestamp,
        why: RevokeReason,
    ) -> Result<u32>;

    async fn insert_login_event(&mut self, e: &LoginEventRecord) -> Result<()>;
}

/// The account's sessions, devices and sign-in events as pages and the console list them; part of
/// [`crate::Reader`]. (The hot path, a session with its account, is [`crate::Reader`]'s own.)
#[async_trait::async_trait]
pub trait SessionReader: Send + Sync {
    async fn sessions(&self, account: AccountId, limit: u32) -> Result<Vec<SessionRecord>>;
    async fn devices(&self, account: AccountId) -> Result<Vec<DeviceRecord>>;
    async fn login_events(&self, account: AccountId, limit: u32) -> Result<Vec<LoginEventRecord>>;
    /// The successful sign-in that opened `session` (none for sessions from before risk signals).
    async fn login_event_of_session(&self, session: SessionId) -> Result<Option<LoginEventRecord>>;
}
