//! The factor tables' SQL (TOTP, recovery codes, passkeys and their ceremonies, password history,
//! step-up challenges), written once and expanded per backend like [`crate::sql_allowlist`].

macro_rules! impl_factors_sql {
    ($db:ty, $tx:ident) => {
        mod factors_sql {
            use custos_core::Timestamp;
            use custos_core::challenge::ChallengePurpose;
            use custos_core::crypto::TokenHash;
            use custos_core::ids::{AccountId, CeremonyId, ChallengeId, PasskeyId, SessionId};
            use custos_core::passkey::CeremonyPurpose;
            use sqlx::Row;

            use super::$tx;
            use crate::backend::*;
            use crate::records::*;
            use crate::{Result, conflict_or};

            type DbRow = <$db as sqlx::Database>::Row;

            fn challenge_row(r: &DbRow) -> Result<ChallengeRecord> {
                let code: Option<Vec<u8>> = r.try_get("code_hash")?;
                let session: Option<uuid::Uuid> = r.try_get("session_id")?;
                Ok(ChallengeRecord {
                    id: ChallengeId::from_uuid(r.try_get("id")?),
                    token_hash: hash32(r.try_get("token_hash")?)?,
                    account_id: AccountId::from_uuid(r.try_get("account_id")?),
                    purpose: ChallengePurpose::parse(&r.try_get::<String, _>("purpose")?).ok_or_else(|| corrupt("purpose"))?,
                    code_hash: code.map(hash32).transpose()?,
                    session_id: session.map(SessionId::from_uuid),
                    created_at: ts(r.try_get("created_at")?),
                    expires_at: ts(r.try_get("expires_at")?),
                    attempts: r.try_get("attempts")?,
                    used_at: opt_ts(r.try_get("used_at")?),
                    code_sent_at: opt_ts(r.try_get("code_sent_at")?),
                    subject: r.try_get("subject")?,
                })
            }

            pub(crate) fn passkey_row(r: &DbRow) -> Result<PasskeyRecord> {
                Ok(PasskeyRecord {
                    id: PasskeyId::from_uuid(r.try_get("id")?),
                    account_id: AccountId::from_uuid(r.try_get("account_id")?),
                    credential_id: r.try_get("credential_id")?,
                    passkey: r.try_get("passkey")?,
                    name: r.try_get("name")?,
                    created_at: ts(r.try_get("created_at")?),
                    last_used_at: opt_ts(r.try_get("last_used_at")?),
                })
            }

            fn ceremony_row(r: &DbRow) -> Result<CeremonyRecord> {
                let account: Option<uuid::Uuid> = r.try_get("account_id")?;
                let session: Option<uuid::Uuid> = r.try_get("session_id")?;
                let challenge: Option<uuid::Uuid> = r.try_get("challenge_id")?;
                Ok(CeremonyRecord {
                    id: CeremonyId::from_uuid(r.try_get("id")?),
                    token_hash: hash32(r.try_get("token_hash")?)?,
                    purpose: CeremonyPurpose::parse(&r.try_get::<String, _>("purpose")?).ok_or_else(|| corrupt("ceremony purpose"))?,
                    account_id: account.map(AccountId::from_uuid),
                    session_id: session.map(SessionId::from_uuid),
                    challenge_id: challenge.map(ChallengeId::from_uuid),
                    state: r.try_get("state")?,
                    created_at: ts(r.try_get("created_at")?),
                    expires_at: ts(r.try_get("expires_at")?),
                    used_at: opt_ts(r.try_get("used_at")?),
                })
            }

            #[async_trait::async_trait]
            impl crate::factors::FactorTx for $tx {
            async fn set_challenge_code(&mut self, id: ChallengeId, code_hash: &TokenHash, sent_at: Timestamp) -> Result<()> {
                sqlx::query("UPDATE auth_challenges SET code_hash = $1, code_sent_at = $2 WHERE id = $3")
                    .bind(code_hash.as_bytes())
                    .bind(micros(sent_at))
                    .bind(id.as_uuid())
                    .execute(self.conn().await?)
                    .await?;
                Ok(())
            }

            async fn totp_factor(&mut self, account: AccountId) -> Result<Option<TotpRecord>> {
                let row = sqlx::query("SELECT account_id, seed_sealed, created_at, confirmed_at, last_step FROM totp_factors WHERE account_id = $1")
                    .bind(account.as_uuid())
                    .fetch_optional(self.conn().await?)
                    .await?;
                row.map(|r| {
                    Ok(TotpRecord {
                        account_id: AccountId::from_uuid(r.try_get("account_id")?),
                        seed_sealed: r.try_get("seed_sealed")?,
                        created_at: ts(r.try_get("created_at")?),
                        confirmed_at: opt_ts(r.try_get("confirmed_at")?),
                        last_step: r.try_get("last_step")?,
                    })
                })
                .transpose()
            }

            async fn begin_totp_enrolment(&mut self, account: AccountId, seed_sealed: &[u8], at: Timestamp) -> Result<()> {
                // Checked first rather than left to the key: a failed statement would abort a
                // PostgreSQL transaction, and the caller may want to carry on and report.
                let confirmed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM totp_factors WHERE account_id = $1 AND confirmed_at IS NOT NULL")
                    .bind(account.as_uuid())
                    .fetch_one(self.conn().await?)
                    .await?;
                if confirmed > 0 {
                    return Err(crate::StoreError::Conflict("totp"));
                }
                sqlx::query("DELETE FROM totp_factors WHERE account_id = $1 AND confirmed_at IS NULL")
                    .bind(account.as_uuid())
                    .execute(self.conn().await?)
                    .await?;
                sqlx::query("INSERT INTO totp_factors (account_id, seed_sealed, created_at) VALUES ($1, $2, $3)")
                    .bind(account.as_uuid())
                    .bind(seed_sealed)
                    .bind(micros(at))
                    .execute(self.conn().await?)
                    .await
                    .map_err(|e| conflict_or(e, "totp"))?;
                Ok(())
            }

            async fn confirm_totp(&mut self, account: AccountId, at: Timestamp, step: i64) -> Result<()> {
                sqlx::query("UPDATE totp_factors SET confirmed_at = $1, last_step = $2 WHERE account_id = $3 AND confirmed_at IS NULL")
                    .bind(micros(at))
                    .bind(step)
                    .bind(account.as_uuid())
                    .execute(self.conn().await?)
                    .await?;
                Ok(())
            }

            async fn accept_totp_step(&mut self, account: AccountId, step: i64) -> Result<bool> {
                let done = sqlx::query("UPDATE totp_factors SET last_step = $1 WHERE account_id = $2 AND confirmed_at IS NOT NULL AND (last_step IS NULL OR last_step < $1)")
                    .bind(step)
                    .bind(account.as_uuid())
                    .execute(self.conn().await?)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn delete_totp(&mut self, account: AccountId) -> Result<bool> {
                let done = sqlx::query("DELETE FROM totp_factors WHERE account_id = $1")
                    .bind(account.as_uuid())
                    .execute(self.conn().await?)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn replace_recovery_codes(&mut self, account: AccountId, hashes: &[TokenHash], at: Timestamp) -> Result<()> {
                sqlx::query("DELETE FROM recovery_codes WHERE account_id = $1")
                    .bind(account.as_uuid())
                    .execute(self.conn().await?)
                    .await?;
                for h in hashes {
                    sqlx::query("INSERT INTO recovery_codes (id, account_id, code_hash, created_at) VALUES ($1, $2, $3, $4)")
                        .bind(uuid::Uuid::now_v7())
                        .bind(account.as_uuid())
                        .bind(h.as_bytes())
                        .bind(micros(at))
                        .execute(self.conn().await?)
                        .await?;
                }
                Ok(())
            }

            async fn use_recovery_code(&mut self, account: AccountId, hash: &TokenHash, at: Timestamp) -> Result<bool> {
                let done = sqlx::query("UPDATE recovery_codes SET used_at = $1 WHERE account_id = $2 AND code_hash = $3 AND used_at IS NULL")
                    .bind(micros(at))
                    .bind(account.as_uuid())
                    .bind(hash.as_bytes())
                    .execute(self.conn().await?)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn unused_recovery_codes(&mut self, account: AccountId) -> Result<u32> {
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM recovery_codes WHERE account_id = $1 AND used_at IS NULL")
                    .bind(account.as_uuid())
                    .fetch_one(self.conn().await?)
                    .await?;
                Ok(u32::try_from(n).unwrap_or(0))
            }

            async fn insert_passkey(&mut self, p: &PasskeyRecord) -> Result<()> {
                // Checked first rather than left to the key: a failed statement would abort a
                // PostgreSQL transaction.
                let taken: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM passkeys WHERE credential_id = $1")
                    .bind(&p.credential_id)
                    .fetch_one(self.conn().await?)
                    .await?;
                if taken > 0 {
                    return Err(crate::StoreError::Conflict("passkey"));
                }
                sqlx::query(concat!("INSERT INTO passkeys (", passkey_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7)"))
                    .bind(p.id.as_uuid())
                    .bind(p.account_id.as_uuid())
                    .bind(&p.credential_id)
                    .bind(&p.passkey)
                    .bind(&p.name)
                    .bind(micros(p.created_at))
                    .bind(p.last_used_at.map(micros))
                    .execute(self.conn().await?)
                    .await
                    .map_err(|e| conflict_or(e, "passkey"))?;
                Ok(())
            }

            async fn passkeys_of(&mut self, account: AccountId) -> Result<Vec<PasskeyRecord>> {
                let rows = sqlx::query(concat!("SELECT ", passkey_columns!(), " FROM passkeys WHERE account_id = $1 ORDER BY created_at, id"))
                    .bind(account.as_uuid())
                    .fetch_all(self.conn().await?)
                    .await?;
                rows.iter().map(passkey_row).collect()
            }

            async fn passkey_by_credential_id(&mut self, credential_id: &[u8]) -> Result<Option<PasskeyRecord>> {
                let row = sqlx::query(concat!("SELECT ", passkey_columns!(), " FROM passkeys WHERE credential_id = $1"))
                    .bind(credential_id)
                    .fetch_optional(self.conn().await?)
                    .await?;
                row.as_ref().map(passkey_row).transpose()
            }

            async fn record_passkey_use(&mut self, id: PasskeyId, passkey: &str, at: Timestamp) -> Result<()> {
                sqlx::query("UPDATE passkeys SET passkey = $1, last_used_at = $2 WHERE id = $3")
                    .bind(passkey)
                    .bind(micros(at))
                    .bind(id.as_uuid())
                    .execute(self.conn().await?)
                    .await?;
                Ok(())
            }

            async fn rename_passkey(&mut self, account: AccountId, id: PasskeyId, name: &str) -> Result<bool> {
                let done = sqlx::query("UPDATE passkeys SET name = $1 WHERE id = $2 AND account_id = $3")
                    .bind(name)
                    .bind(id.as_uuid())
                    .bind(account.as_uuid())
                    .execute(self.conn().await?)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn delete_passkey(&mut self, account: AccountId, id: PasskeyId) -> Result<bool> {
                let done = sqlx::query("DELETE FROM passkeys WHERE id = $1 AND account_id = $2")
                    .bind(id.as_uuid())
                    .bind(account.as_uuid())
                    .execute(self.conn().await?)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn insert_ceremony(&mut self, c: &CeremonyRecord) -> Result<()> {
                sqlx::query(concat!("INSERT INTO passkey_ceremonies (", ceremony_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"))
                    .bind(c.id.as_uuid())
                    .bind(c.token_hash.as_bytes())
                    .bind(c.purpose.as_str())
                    .bind(c.account_id.map(|a| a.as_uuid()))
                    .bind(c.session_id.map(|s| s.as_uuid()))
                    .bind(c.challenge_id.map(|c| c.as_uuid()))
                    .bind(&c.state)
                    .bind(micros(c.created_at))
                    .bind(micros(c.expires_at))
                    .bind(c.used_at.map(micros))
                    .execute(self.conn().await?)
                    .await?;
                Ok(())
            }

            async fn ceremony_by_hash(&mut self, hash: &TokenHash) -> Result<Option<CeremonyRecord>> {
                let row = sqlx::query(concat!("SELECT ", ceremony_columns!(), " FROM passkey_ceremonies WHERE token_hash = $1"))
                    .bind(hash.as_bytes())
                    .fetch_optional(self.conn().await?)
                    .await?;
                row.as_ref().map(ceremony_row).transpose()
            }

            async fn use_ceremony(&mut self, id: CeremonyId, at: Timestamp) -> Result<bool> {
                let done = sqlx::query("UPDATE passkey_ceremonies SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
                    .bind(micros(at))
                    .bind(id.as_uuid())
                    .execute(self.conn().await?)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn purge_ceremonies(&mut self, before: Timestamp) -> Result<u32> {
                let done = sqlx::query("DELETE FROM passkey_ceremonies WHERE expires_at < $1")
                    .bind(micros(before))
                    .execute(self.conn().await?)
                    .await?;
                Ok(u32::try_from(done.rows_affected()).unwrap_or(u32::MAX))
            }

            async fn insert_password_history(&mut self, account: AccountId, e: &PasswordHistoryRecord) -> Result<()> {
                sqlx::query("INSERT INTO password_history (id, account_id, password_hash, skeleton_mac, created_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(uuid::Uuid::now_v7())
                    .bind(account.as_uuid())
                    .bind(&e.password_hash)
                    .bind(&e.skeleton_mac)
                    .bind(micros(e.created_at))
                    .execute(self.conn().await?)
                    .await?;
                Ok(())
            }

            async fn insert_challenge(&mut self, c: &ChallengeRecord) -> Result<()> {
                sqlx::query(concat!("INSERT INTO auth_challenges (", challenge_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"))
                    .bind(c.id.as_uuid())
                    .bind(c.token_hash.as_bytes())
                    .bind(c.account_id.as_uuid())
                    .bind(c.purpose.as_str())
                    .bind(c.code_hash.as_ref().map(|h| h.as_bytes().to_vec()))
                    .bind(c.session_id.map(|s| s.as_uuid()))
                    .bind(micros(c.created_at))
                    .bind(micros(c.expires_at))
                    .bind(c.attempts)
                    .bind(c.used_at.map(micros))
                    .bind(c.code_sent_at.map(micros))
                    .bind(&c.subject)
                    .execute(self.conn().await?)
                    .await?;
                Ok(())
            }

            async fn challenge_by_hash(&mut self, hash: &TokenHash) -> Result<Option<ChallengeRecord>> {
                let row = sqlx::query(concat!("SELECT ", challenge_columns!(), " FROM auth_challenges WHERE token_hash = $1"))
                    .bind(hash.as_bytes())
                    .fetch_optional(self.conn().await?)
                    .await?;
                row.as_ref().map(challenge_row).transpose()
            }

            async fn count_challenge_attempt(&mut self, id: ChallengeId) -> Result<()> {
                sqlx::query("UPDATE auth_challenges SET attempts = attempts + 1 WHERE id = $1")
                    .bind(id.as_uuid())
                    .execute(self.conn().await?)
                    .await?;
                Ok(())
            }

            async fn use_challenge(&mut self, id: ChallengeId, at: Timestamp) -> Result<bool> {
                let done = sqlx::query("UPDATE auth_challenges SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
                    .bind(micros(at))
                    .bind(id.as_uuid())
                    .execute(self.conn().await?)
                    .await?;
                Ok(done.rows_affected() == 1)
            }
            }
        }
    };
}
pub(crate) use impl_factors_sql;
