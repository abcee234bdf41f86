//! The staff and official-channel tables' SQL, written once and expanded per backend like
//! [`crate::sql_freeze`].

macro_rules! staff_columns {
    () => {
        "id, staff_code, email, email_key, name, role, status, password_hash, totp_seed_sealed, totp_last_step, security_stamp, setup_token_hash, setup_expires_at, created_at, created_by, enrolled_at, disabled_at"
    };
}
pub(crate) use staff_columns;

macro_rules! staff_session_columns {
    () => {
        "id, staff_id, token_hash, ip, user_agent, created_at, last_seen_at, stamp_at_issue, revoked_at, revoke_reason"
    };
}
pub(crate) use staff_session_columns;

macro_rules! impl_staff_sql {
    ($db:ty, $backend:ident, $tx:ident, for_update = $fu:literal) => {
        mod staff_sql {
            use custos_core::Timestamp;
            use custos_core::audit::RevokeReason;
            use custos_core::crypto::TokenHash;
            use custos_core::official_channel::ChannelKind;
            use custos_core::staff::{StaffCode, StaffId, StaffRole, StaffSessionId, StaffStatus};
            use sqlx::Row;

            use super::{$backend, $tx};
            use crate::backend::{corrupt, hash32, ip, micros, opt_ts, ts};
            use crate::sql_staff::{staff_columns, staff_session_columns};
            use crate::staff::*;
            use crate::{Result, conflict_or};

            type DbRow = <$db as sqlx::Database>::Row;

            fn staff_row(r: &DbRow) -> Result<StaffRecord> {
                Ok(StaffRecord {
                    id: StaffId::from_uuid(r.try_get("id")?),
                    code: StaffCode::parse(&r.try_get::<String, _>("staff_code")?)
                        .ok_or_else(|| corrupt("staff code"))?,
                    email: r.try_get("email")?,
                    email_key: r.try_get("email_key")?,
                    name: r.try_get("name")?,
                    role: StaffRole::parse(&r.try_get::<String, _>("role")?).ok_or_else(|| corrupt("staff role"))?,
                    status: StaffStatus::parse(&r.try_get::<String, _>("status")?)
                        .ok_or_else(|| corrupt("staff status"))?,
                    password_hash: r.try_get("password_hash")?,
                    totp_seed_sealed: r.try_get("totp_seed_sealed")?,
                    totp_last_step: r.try_get("totp_last_step")?,
                    security_stamp: r.try_get("security_stamp")?,
                    setup_token_hash: r.try_get::<Option<Vec<u8>>, _>("setup_token_hash")?.map(hash32).transpose()?,
                    setup_expires_at: opt_ts(r.try_get("setup_expires_at")?),
                    created_at: ts(r.try_get("created_at")?),
                    created_by: r.try_get("created_by")?,
                    enrolled_at: opt_ts(r.try_get("enrolled_at")?),
                    disabled_at: opt_ts(r.try_get("disabled_at")?),
                })
            }

            fn staff_session_row(r: &DbRow) -> Result<StaffSessionRecord> {
                Ok(StaffSessionRecord {
                    id: StaffSessionId::from_uuid(r.try_get("id")?),
                    staff_id: StaffId::from_uuid(r.try_get("staff_id")?),
                    token_hash: hash32(r.try_get("token_hash")?)?,
                    ip: ip(r.try_get("ip")?),
                    user_agent: r.try_get("user_agent")?,
                    created_at: ts(r.try_get("created_at")?),
                    last_seen_at: ts(r.try_get("last_seen_at")?),
                    stamp_at_issue: r.try_get("stamp_at_issue")?,
                    revoked_at: opt_ts(r.try_get("revoked_at")?),
                    revoke_reason: r.try_get("revoke_reason")?,
                })
            }

            fn channel_row(r: &DbRow) -> Result<OfficialChannelRecord> {
                Ok(OfficialChannelRecord {
                    id: r.try_get("id")?,
                    kind: ChannelKind::parse(&r.try_get::<String, _>("kind")?).ok_or_else(|| corrupt("channel kind"))?,
                    value: r.try_get("value")?,
                    note: r.try_get("note")?,
                    created_at: ts(r.try_get("created_at")?),
                    created_by: r.try_get("created_by")?,
                })
            }

            #[async_trait::async_trait]
            impl StaffTx for $tx {
                async fn insert_staff(&mut self, s: &StaffRecord) -> Result<()> {
                    sqlx::query(concat!(
                        "INSERT INTO staff (", staff_columns!(),
                        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
                    ))
                    .bind(s.id.as_uuid())
                    .bind(s.code.as_str())
                    .bind(&s.email)
                    .bind(&s.email_key)
                    .bind(&s.name)
                    .bind(s.role.as_str())
                    .bind(s.status.as_str())
                    .bind(&s.password_hash)
                    .bind(&s.totp_seed_sealed)
                    .bind(s.totp_last_step)
                    .bind(&s.security_stamp)
                    .bind(s.setup_token_hash.as_ref().map(|h| h.as_bytes().to_vec()))
                    .bind(s.setup_expires_at.map(micros))
                    .bind(micros(s.created_at))
                    .bind(&s.created_by)
                    .bind(s.enrolled_at.map(micros))
                    .bind(s.disabled_at.map(micros))
                    .execute(self.conn().await?)
                    .await
                    .map_err(|e| {
                        let code_clash = e.as_database_error().is_some_and(|d| d.message().contains("staff_code"));
                        conflict_or(e, if code_clash { "staff_code" } else { "email" })
                    })?;
                    Ok(())
                }

                async fn lock_staff(&mut self, id: StaffId) -> Result<Option<StaffRecord>> {
                    let row = sqlx::query(concat!("SELECT ", staff_columns!(), " FROM staff WHERE id = $1", $fu))
                        .bind(id.as_uuid())
                        .fetch_optional(self.conn().await?)
                        .await?;
                    row.as_ref().map(staff_row).transpose()
                }

                async fn lock_staff_by_email_key(&mut self, email_key: &str) -> Result<Option<StaffRecord>> {
                    let row = sqlx::query(concat!("SELECT ", staff_columns!(), " FROM staff WHERE email_key = $1", $fu))
                        .bind(email_key)
                        .fetch_optional(self.conn().await?)
                        .await?;
                    row.as_ref().map(staff_row).transpose()
                }

                async fn lock_staff_by_setup_hash(&mut self, hash: &TokenHash) -> Result<Option<StaffRecord>> {
                    let row = sqlx::query(concat!("SELECT ", staff_columns!(), " FROM staff WHERE setup_token_hash = $1", $fu))
                        .bind(hash.as_bytes())
                        .fetch_optional(self.conn().await?)
                        .await?;
                    row.as_ref().map(staff_row).transpose()
                }

                async fn set_staff_setup_token(&mut self, id: StaffId, hash: &TokenHash, expires_at: Timestamp) -> Result<()> {
                    sqlx::query("UPDATE staff SET setup_token_hash = $1, setup_expires_at = $2 WHERE id = $3 AND status = 'pending'")
                        .bind(hash.as_bytes())
                        .bind(micros(expires_at))
                        .bind(id.as_uuid())
                        .execute(self.conn().await?)
                        .await?;
                    Ok(())
                }

                async fn set_staff_setup_credentials(&mut self, id: StaffId, password_hash: &str, seed_sealed: &[u8]) -> Result<()> {
                    sqlx::query("UPDATE staff SET password_hash = $1, totp_seed_sealed = $2 WHERE id = $3 AND status = 'pending'")
                        .bind(password_hash)
                        .bind(seed_sealed)
                        .bind(id.as_uuid())
                        .execute(self.conn().await?)
                        .await?;
                    Ok(())
                }

                async fn activate_staff(&mut self, id: StaffId, step: i64, at: Timestamp) -> Result<()> {
                    sqlx::query(
                        "UPDATE staff SET status = 'active', totp_last_step = $1, enrolled_at = $2, \
                         setup_token_hash = NULL, setup_expires_at = NULL WHERE id = $3 AND status = 'pending'",
                    )
                    .bind(step)
                    .bind(micros(at))
                    .bind(id.as_uuid())
                    .execute(self.conn().await?)
                    .await?;
                    Ok(())
                }

                async fn accept_staff_totp_step(&mut self, id: StaffId, step: i64) -> Result<bool> {
                    let n = sqlx::query(
                        "UPDATE staff SET totp_last_step = $1 WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)",
                    )
                    .bind(step)
                    .bind(id.as_uuid())
                    .execute(self.conn().await?)
                    .await?
                    .rows_affected();
                    Ok(n == 1)
                }

                async fn disable_staff(&mut self, id: StaffId, stamp: &[u8], at: Timestamp) -> Result<()> {
                    sqlx::query(
                        "UPDATE staff SET status = 'disabled', security_stamp = $1, disabled_at = $2, \
                         setup_token_hash = NULL, setup_expires_at = NULL WHERE id = $3",
                    )
                    .bind(stamp)
                    .bind(micros(at))
                    .bind(id.as_uuid())
                    .execute(self.conn().await?)
                    .await?;
                    Ok(())
                }

                async fn insert_staff_session(&mut self, s: &StaffSessionRecord) -> Result<()> {
                    sqlx::query(concat!(
                        "INSERT INTO staff_sessions (", staff_session_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                    ))
                    .bind(s.id.as_uuid())
                    .bind(s.staff_id.as_uuid())
                    .bind(s.token_hash.as_bytes())
                    .bind(s.ip.map(|i| i.to_string()))
                    .bind(&s.user_agent)
                    .bind(micros(s.created_at))
                    .bind(micros(s.last_seen_at))
                    .bind(&s.stamp_at_issue)
                    .bind(s.revoked_at.map(micros))
                    .bind(&s.revoke_reason)
                    .execute(self.conn().await?)
                    .await?;
                    Ok(())
                }

                async fn revoke_staff_session(&mut self, id: StaffSessionId, at: Timestamp, why: RevokeReason) -> Result<bool> {
                    let n = sqlx::query(
                        "UPDATE staff_sessions SET revoked_at = $1, revoke_reason = $2 WHERE id = $3 AND revoked_at IS NULL",
                    )
                    .bind(micros(at))
                    .bind(why.as_str())
                    .bind(id.as_uuid())
                    .execute(self.conn().await?)
                    .await?
                    .rows_affected();
                    Ok(n == 1)
                }

                async fn revoke_staff_sessions(&mut self, staff: StaffId, at: Timestamp, why: RevokeReason) -> Result<u32> {
                    let n = sqlx::query(
                        "UPDATE staff_sessions SET revoked_at = $1, revoke_reason = $2 WHERE staff_id = $3 AND revoked_at IS NULL",
                    )
                    .bind(micros(at))
                    .bind(why.as_str())
                    .bind(staff.as_uuid())
                    .execute(self.conn().await?)
                    .await?
                    .rows_affected();
                    Ok(u32::try_from(n).unwrap_or(u32::MAX))
                }

                async fn insert_official_channel(&mut self, c: &OfficialChannelRecord) -> Result<()> {
                    sqlx::query(
                        "INSERT INTO official_channels (id, kind, value, note, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(c.id)
                    .bind(c.kind.as_str())
                    .bind(&c.value)
                    .bind(&c.note)
                    .bind(micros(c.created_at))
                    .bind(&c.created_by)
                    .execute(self.conn().await?)
                    .await
                    .map_err(|e| conflict_or(e, "official_channel"))?;
                    Ok(())
                }

                async fn delete_official_channel(&mut self, kind: ChannelKind, value: &str) -> Result<bool> {
                    let n = sqlx::query("DELETE FROM official_channels WHERE kind = $1 AND value = $2")
                        .bind(kind.as_str())
                        .bind(value)
                        .execute(self.conn().await?)
                        .await?
                        .rows_affected();
                    Ok(n == 1)
                }
            }

            #[async_trait::async_trait]
            impl StaffReader for $backend {
                async fn staff_by_email_key(&self, email_key: &str) -> Result<Option<StaffRecord>> {
                    let row = sqlx::query(concat!("SELECT ", staff_columns!(), " FROM staff WHERE email_key = $1"))
                        .bind(email_key)
                        .fetch_optional(&self.pool)
                        .await?;
                    row.as_ref().map(staff_row).transpose()
                }

                async fn staff_by_code(&self, code: &StaffCode) -> Result<Option<StaffRecord>> {
                    let row = sqlx::query(concat!("SELECT ", staff_columns!(), " FROM staff WHERE staff_code = $1"))
                        .bind(code.as_str())
                        .fetch_optional(&self.pool)
                        .await?;
                    row.as_ref().map(staff_row).transpose()
                }

                async fn staff_by_setup_hash(&self, hash: &TokenHash) -> Result<Option<StaffRecord>> {
                    let row = sqlx::query(concat!("SELECT ", staff_columns!(), " FROM staff WHERE setup_token_hash = $1"))
                        .bind(hash.as_bytes())
                        .fetch_optional(&self.pool)
                        .await?;
                    row.as_ref().map(staff_row).transpose()
                }

                async fn staff_list(&self) -> Result<Vec<StaffRecord>> {
                    let rows = sqlx::query(concat!("SELECT ", staff_columns!(), " FROM staff ORDER BY created_at, id"))
                        .fetch_all(&self.pool)
                        .await?;
                    rows.iter().map(staff_row).collect()
                }

                async fn staff_session_by_hash(&self, hash: &TokenHash) -> Result<Option<(StaffSessionRecord, StaffRecord)>> {
                    let row = sqlx::query(concat!("SELECT ", staff_session_columns!(), " FROM staff_sessions WHERE token_hash = $1"))
                        .bind(hash.as_bytes())
                        .fetch_optional(&self.pool)
                        .await?;
                    let Some(row) = row else { return Ok(None) };
                    let session = staff_session_row(&row)?;
                    let staff = sqlx::query(concat!("SELECT ", staff_columns!(), " FROM staff WHERE id = $1"))
                        .bind(session.staff_id.as_uuid())
                        .fetch_optional(&self.pool)
                        .await?;
                    let Some(staff) = staff else { return Ok(None) };
                    Ok(Some((session, staff_row(&staff)?)))
                }

                async fn touch_staff_session(&self, id: StaffSessionId, at: Timestamp) -> Result<()> {
                    sqlx::query("UPDATE staff_sessions SET last_seen_at = $1 WHERE id = $2")
                        .bind(micros(at))
                        .bind(id.as_uuid())
                        .execute(self.lone_writer().await?.ex())
                        .await?;
                    Ok(())
                }

                async fn official_channels(&self, kind: Option<ChannelKind>) -> Result<Vec<OfficialChannelRecord>> {
                    let rows = sqlx::query(
                        "SELECT id, kind, value, note, created_at, created_by FROM official_channels \
                         WHERE (CAST($1 AS TEXT) IS NULL OR kind = $1) ORDER BY kind, value",
                    )
                    .bind(kind.map(|k| k.as_str()))
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter().map(channel_row).collect()
                }
            }
        }
    };
}
pub(crate) use impl_staff_sql;
