//! The sessions', devices' and sign-in events' SQL, written once and expanded per backend like
//! [`crate::sql_allowlist`].

macro_rules! impl_sessions_sql {
    ($db:ty, $backend:ident, $tx:ident) => {
        mod sessions_sql {
            use std::net::IpAddr;

            use custos_core::Timestamp;
            use custos_core::audit::RevokeReason;
            use custos_core::crypto::TokenHash;
            use custos_core::ids::{AccountId, DeviceId, LoginEventId, SessionId};
            use custos_core::login::LoginOutcome;
            use sqlx::Row;

            use super::{$backend, $tx, ip_text, reason_text, session_row};
            use crate::backend::*;
            use crate::records::*;
            use crate::{Result, conflict_or};

            type DbRow = <$db as sqlx::Database>::Row;

            fn device_row(r: &DbRow) -> Result<DeviceRecord> {
                Ok(DeviceRecord {
                    id: DeviceId::from_uuid(r.try_get("id")?),
                    account_id: AccountId::from_uuid(r.try_get("account_id")?),
                    key_hash: hash32(r.try_get("key_hash")?)?,
                    user_agent: r.try_get("user_agent")?,
                    first_seen_at: ts(r.try_get("first_seen_at")?),
                    last_seen_at: ts(r.try_get("last_seen_at")?),
                    last_ip: ip(r.try_get("last_ip")?),
                })
            }

            fn login_row(r: &DbRow) -> Result<LoginEventRecord> {
                let account: Option<uuid::Uuid> = r.try_get("account_id")?;
                let device: Option<uuid::Uuid> = r.try_get("device_id")?;
                let signals: String = r.try_get("signals")?;
                let session: Option<uuid::Uuid> = r.try_get("session_id")?;
                Ok(LoginEventRecord {
                    id: LoginEventId::from_uuid(r.try_get("id")?),
                    account_id: account.map(AccountId::from_uuid),
                    at: ts(r.try_get("at")?),
                    outcome: LoginOutcome::parse(&r.try_get::<String, _>("outcome")?).ok_or_else(|| corrupt("outcome"))?,
                    ip: ip(r.try_get("ip")?),
                    country: r.try_get("country")?,
                    asn: r.try_get("asn")?,
                    device_id: device.map(DeviceId::from_uuid),
                    user_agent: r.try_get("user_agent")?,
                    signals: serde_json::from_str(&signals).map_err(|_| corrupt("signals"))?,
                    session_id: session.map(SessionId::from_uuid),
                })
            }

            #[async_trait::async_trait]
            impl crate::sessions::SessionTx for $tx {
            async fn reissue_session(&mut self, id: SessionId, new: &Reissue) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE sessions SET token_hash = $1, aal = $2, stepped_up_at = $3, stamp_at_issue = $4 \
                     WHERE id = $5 AND revoked_at IS NULL AND stamp_at_issue = $6",
                )
                .bind(new.token_hash.as_bytes())
                .bind(new.aal.as_str())
                .bind(new.stepped_up_at.map(micros))
                .bind(&new.stamp)
                .bind(id.as_uuid())
                .bind(&new.issued_under)
                .execute(self.conn().await?)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn device_by_key(&mut self, account: AccountId, key_hash: &TokenHash) -> Result<Option<DeviceRecord>> {
                let row = sqlx::query(concat!("SELECT ", device_columns!(), " FROM devices WHERE account_id = $1 AND key_hash = $2"))
                    .bind(account.as_uuid())
                    .bind(key_hash.as_bytes())
                    .fetch_optional(self.conn().await?)
                    .await?;
                row.as_ref().map(device_row).transpose()
            }

            async fn insert_device(&mut self, d: &DeviceRecord) -> Result<()> {
                sqlx::query(concat!("INSERT INTO devices (", device_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7)"))
                    .bind(d.id.as_uuid())
                    .bind(d.account_id.as_uuid())
                    .bind(d.key_hash.as_bytes())
                    .bind(&d.user_agent)
                    .bind(micros(d.first_seen_at))
                    .bind(micros(d.last_seen_at))
                    .bind(ip_text(d.last_ip))
                    .execute(self.conn().await?)
                    .await
                    .map_err(|e| conflict_or(e, "device"))?;
                Ok(())
            }

            async fn touch_device(&mut self, id: DeviceId, at: Timestamp, ip: Option<IpAddr>, user_agent: &str) -> Result<()> {
                self.write(&["devices"], "UPDATE devices SET last_seen_at = $1, last_ip = $2, user_agent = $3 WHERE id = $4", |q| {
                    q
                        .bind(micros(at))
                        .bind(ip_text(ip))
                        .bind(user_agent)
                        .bind(id.as_uuid())
                })
                .await?;
                Ok(())
            }

            async fn insert_session(&mut self, s: &SessionRecord) -> Result<()> {
                self.write(&["sessions"], concat!("INSERT INTO sessions (", session_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"), |q| {
                    q
                        .bind(s.id.as_uuid())
                        .bind(s.account_id.as_uuid())
                        .bind(s.token_hash.as_bytes())
                        .bind(s.device_id.as_uuid())
                        .bind(ip_text(s.ip))
                        .bind(&s.user_agent)
                        .bind(s.aal.as_str())
                        .bind(micros(s.authenticated_at))
                        .bind(s.stepped_up_at.map(micros))
                        .bind(micros(s.created_at))
                        .bind(micros(s.last_seen_at))
                        .bind(&s.stamp_at_issue)
                        .bind(s.revoked_at.map(micros))
                        .bind(s.revoke_reason.map(reason_text))
                })
                .await
                .map_err(|e| match e {
                    crate::StoreError::Conflict(_) => crate::StoreError::Conflict("session"),
                    e => e,
                })?;
                Ok(())
            }

            async fn session_by_token_hash(&mut self, hash: &TokenHash) -> Result<Option<SessionRecord>> {
                let row = sqlx::query(concat!("SELECT ", session_columns!(), " FROM sessions WHERE token_hash = $1"))
                    .bind(hash.as_bytes())
                    .fetch_optional(self.conn().await?)
                    .await?;
                row.as_ref().map(session_row).transpose()
            }

            async fn revoke_session(&mut self, account: AccountId, id: SessionId, at: Timestamp, why: RevokeReason) -> Result<bool> {
                let done = sqlx::query("UPDATE sessions SET revoked_at = $1, revoke_reason = $2 WHERE id = $3 AND account_id = $4 AND revoked_at IS NULL")
                    .bind(micros(at))
                    .bind(reason_text(why))
                    .bind(id.as_uuid())
                    .bind(account.as_uuid())
                    .execute(self.conn().await?)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn revoke_sessions(&mut self, account: AccountId, keep: Option<SessionId>, at: Timestamp, why: RevokeReason) -> Result<u32> {
                let done = match keep {
                    Some(keep) => sqlx::query("UPDATE sessions SET revoked_at = $1, revoke_reason = $2 WHERE account_id = $3 AND revoked_at IS NULL AND id <> $4")
                        .bind(micros(at))
                        .bind(reason_text(why))
                        .bind(account.as_uuid())
                        .bind(keep.as_uuid())
                        .execute(self.conn().await?)
                        .await?,
                    None => sqlx::query("UPDATE sessions SET revoked_at = $1, revoke_reason = $2 WHERE account_id = $3 AND revoked_at IS NULL")
                        .bind(micros(at))
                        .bind(reason_text(why))
                        .bind(account.as_uuid())
                        .execute(self.conn().await?)
                        .await?,
                };
                Ok(u32::try_from(done.rows_affected()).unwrap_or(u32::MAX))
            }

            async fn insert_login_event(&mut self, e: &LoginEventRecord) -> Result<()> {
                self.write(&["login_events"], concat!("INSERT INTO login_events (", login_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"), |q| {
                    q
                        .bind(e.id.as_uuid())
                        .bind(e.account_id.map(|a| a.as_uuid()))
                        .bind(micros(e.at))
                        .bind(e.outcome.as_str())
                        .bind(ip_text(e.ip))
                        .bind(&e.country)
                        .bind(e.asn)
                        .bind(e.device_id.map(|d| d.as_uuid()))
                        .bind(&e.user_agent)
                        .bind(serde_json::to_string(&e.signals).unwrap_or_else(|_| "[]".into()))
                        .bind(e.session_id.map(|s| s.as_uuid()))
                })
                .await?;
                Ok(())
            }
            }

            #[async_trait::async_trait]
            impl crate::sessions::SessionReader for $backend {
            async fn sessions(&self, account: AccountId, limit: u32) -> Result<Vec<SessionRecord>> {
                let rows = sqlx::query(concat!("SELECT ", session_columns!(), " FROM sessions WHERE account_id = $1 ORDER BY created_at DESC LIMIT CAST($2 AS BIGINT)"))
                    .bind(account.as_uuid())
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(session_row).collect()
            }

            async fn devices(&self, account: AccountId) -> Result<Vec<DeviceRecord>> {
                let rows = sqlx::query(concat!("SELECT ", device_columns!(), " FROM devices WHERE account_id = $1 ORDER BY last_seen_at DESC"))
                    .bind(account.as_uuid())
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(device_row).collect()
            }

            async fn login_events(&self, account: AccountId, limit: u32) -> Result<Vec<LoginEventRecord>> {
                let rows = sqlx::query(concat!("SELECT ", login_columns!(), " FROM login_events WHERE account_id = $1 ORDER BY at DESC LIMIT CAST($2 AS BIGINT)"))
                    .bind(account.as_uuid())
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(login_row).collect()
            }

            async fn login_event_of_session(&self, session: SessionId) -> Result<Option<LoginEventRecord>> {
                let row = sqlx::query(concat!("SELECT ", login_columns!(), " FROM login_events WHERE session_id = $1 ORDER BY at DESC LIMIT 1"))
                    .bind(session.as_uuid())
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(login_row).transpose()
            }
            }
        }
    };
}
pub(crate) use impl_sessions_sql;
