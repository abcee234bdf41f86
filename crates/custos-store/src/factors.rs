//! Second factors, passkeys and step-up challenges: the records and ceremonies that prove the
//! holder, stored per backend by `sql_factors`.

use custos_core::Timestamp;
use custos_core::crypto::TokenHash;
use custos_core::ids::{AccountId, CeremonyId, ChallengeId, PasskeyId};

use crate::Result;
use crate::records::*;

/// The factor tables' writes and the reads a command makes under its lock; part of [`crate::Tx`].
#[async_trait::async_trait]
pub trait FactorTx: Send {
    // Second factors
    async fn totp_factor(&mut self, account: AccountId) -> Result<Option<TotpRecord>>;
    /// Starts (or restarts) an enrolment: replaces any unconfirmed row; a confirmed factor is kept
    /// (Conflict("totp")) — resetting one is an explicit removal first.
    async fn begin_totp_enrolment(
        &mut self,
        account: AccountId,
        seed_sealed: &[u8],
        at: Timestamp,
    ) -> Result<()>;
    async fn confirm_totp(&mut self, account: AccountId, at: Timestamp, step: i64) -> Result<()>;
    /// Records an accepted step; false if an equal or later step was already accepted (replay).
    async fn accept_totp_step(&mut self, account: AccountId, step: i64) -> Result<bool>;
    async fn delete_totp(&mut self, account: AccountId) -> Result<bool>;
    /// Replaces every recovery code of the account with these hashes.
    async fn replace_recovery_codes(
        &mut self,
        account: AccountId,
        hashes: &[TokenHash],
        at: Timestamp,
    ) -> Result<()>;
    /// Spends one unused code; false if there is none with this hash.
    async fn use_recovery_code(
        &mut self,
        account: AccountId,
        hash: &TokenHash,
        at: Timestamp,
    ) -> Result<bool>;
    async fn unused_recovery_codes(&mut self, account: AccountId) -> Result<u32>;

    // Passkeys
    /// Conflict("passkey") when the credential id is registered already (to any account).
    async fn insert_passkey(&mut self, p: &PasskeyRecord) -> Result<()>;
    async fn passkeys_of(&mut self, account: AccountId) -> Result<Vec<PasskeyRecord>>;
    async fn passkey_by_credential_id(&mut self, credential_id: &[u8]) -> Result<Option<PasskeyRecord>>;
    /// Stores the passkey's new state (signature counter, backup flags) after a successful use.
    async fn record_passkey_use(&mut self, id: PasskeyId, passkey: &str, at: Timestamp) -> Result<()>;
    /// False if the account has no passkey with this id.
    async fn rename_passkey(&mut self, account: AccountId, id: PasskeyId, name: &str) -> Result<bool>;
    /// False if the account has no passkey with this id.
    async fn delete_passkey(&mut self, account: AccountId, id: PasskeyId) -> Result<bool>;
    async fn insert_ceremony(&mut self, c: &CeremonyRecord) -> Result<()>;
    async fn ceremony_by_hash(&mut self, hash: &TokenHash) -> Result<Option<CeremonyRecord>>;
    /// Spends a ceremony; false if it was already spent.
    async fn use_ceremony(&mut self, id: CeremonyId, at: Timestamp) -> Result<bool>;
    /// Deletes ceremonies that expired before `before`; returns how many.
    async fn purge_ceremonies(&mut self, before: Timestamp) -> Result<u32>;

    async fn insert_password_history(
        &mut self,
        account: AccountId,
        entry: &PasswordHistoryRecord,
    ) -> Result<()>;

    // Challenges
    async fn insert_challenge(&mut self, c: &ChallengeRecord) -> Result<()>;
    async fn challenge_by_hash(&mut self, hash: &TokenHash) -> Result<Option<ChallengeRecord>>;
    async fn count_challenge_attempt(&mut self, id: ChallengeId) -> Result<()>;
    /// Attaches a (new) texted code to a challenge.
    async fn set_challenge_code(
        &mut self,
        id: ChallengeId,
        code_hash: &TokenHash,
        sent_at: Timestamp,
    ) -> Result<()>;
    /// Spends a challenge; false if it was already spent.
    async fn use_challenge(&mut self, id: ChallengeId, at: Timestamp) -> Result<bool>;
}
