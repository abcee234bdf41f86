//! The statements both backends share for accounts, the audit chain and the reads of the hot path
//! and the login, expanded once per backend by [`impl_sql_store!`]. The other tables have a file
//! of their own beside this one (`sql_factors`, `sql_sessions`, `sql_links`, `sql_outbox`,
//! `sql_throttles`, `sql_money`, `sql_freeze`…), expanded the same way.
//!
//! A backend module defines `$backend { pool }` and `$tx { tx }`, plus the dialect hooks
//! `$tx::lock_chain` (serialise appends to one audit chain) and the `for_update` fragment
//! (`skip_locked` goes to `sql_outbox`); everything else is written once.
//!
//! A `LIMIT` taken from a bound parameter is written `LIMIT CAST($n AS BIGINT)`. SQLite (3.51,
//! as bundled) marks a limit that is a bare parameter as depending on the value bound and
//! recompiles the statement every time it is bound again, so a cached statement is parsed and
//! planned anew on every execution (6 % of a freeze benchmark's CPU, and every login's lookup);
//! through `CAST` the limit is an expression and the cached statement is reused. PostgreSQL reads
//! both the same way. `tests/sql_limits.rs` keeps it so.

/// The sign-ins a login is compared with, as one JSON array: among the last `$2` (or the
/// placeholder given) successful sign-ins of the account `$1` (or the SQL expression given), one
/// per distinct address, country and network, with the latest time it was seen. That is all the
/// risk signals ask of them — was this address, country or network seen before, and where was
/// the latest located sign-in — and an account that signs in from a handful of places answers a
/// handful of rows, not hundreds.
macro_rules! prior_sign_ins_sql {
    (@rows $account:literal, $limit:literal) => {
        concat!(
            "SELECT max(at) AS at, ip, country, asn FROM (",
            "SELECT at, ip, country, asn FROM login_events WHERE account_id = ", $account,
            " AND outcome = 'succeeded' ORDER BY at DESC LIMIT CAST(", $limit, " AS BIGINT)",
            ") recent GROUP BY ip, country, asn"
        )
    };
    ($dialect:ident) => {
        crate::sql::prior_sign_ins_sql!($dialect, "$1", "$2")
    };
    (sqlite, $account:literal, $limit:literal) => {
        concat!(
            "SELECT json_group_array(json_object('at', at, 'ip', ip, 'country', country, 'asn', asn)) FROM (",
            crate::sql::prior_sign_ins_sql!(@rows $account, $limit), ")"
        )
    };
    (postgres, $account:literal, $limit:literal) => {
        concat!(
            "SELECT coalesce(json_agg(json_build_object('at', at, 'ip', ip, 'country', country, 'asn', asn)), '[]')::text FROM (",
            crate::sql::prior_sign_ins_sql!(@rows $account, $limit), ") e"
        )
    };
}
pub(crate) use prior_sign_ins_sql;

macro_rules! impl_sql_store {
    ($db:ty, $backend:ident, $tx:ident, $dialect:ident, for_update = $fu:literal, head_on_lock = $hol:literal) => {
        use std::net::IpAddr;

        use custos_core::Timestamp;
        use custos_core::audit::{Actor, AuditEvent, AuditRecord, Chain, GENESIS, RevokeReason};
        use custos_core::crypto::TokenHash;
        use custos_core::ids::{AccountId, DeviceId, SessionId, Uid};
        use custos_core::login::AccountStatus;
        use custos_core::session::Aal;
        use sqlx::Row;

        use crate::backend::*;
        use crate::records::*;
        use crate::{Result, conflict_or};

        type DbRow = <$db as sqlx::Database>::Row;

        fn account_row(r: &DbRow) -> Result<AccountRecord> {
            Ok(AccountRecord {
                id: AccountId::from_uuid(r.try_get("id")?),
                uid: Uid::from_u64_unchecked(u64::try_from(r.try_get::<i64, _>("uid")?).map_err(|_| corrupt("uid"))?),
                email: r.try_get("email")?,
                email_key: r.try_get("email_key")?,
                email_verified_at: opt_ts(r.try_get("email_verified_at")?),
                phone: r.try_get("phone")?,
                status: AccountStatus::parse(&r.try_get::<String, _>("status")?).ok_or_else(|| corrupt("status"))?,
                password_hash: r.try_get("password_hash")?,
                security_stamp: r.try_get("security_stamp")?,
                anti_phishing_code: r.try_get("anti_phishing_code")?,
                created_at: ts(r.try_get("created_at")?),
                withdrawal_lock_until: opt_ts(r.try_get("withdrawal_lock_until")?),
                withdrawal_lock_reason: r.try_get("withdrawal_lock_reason")?,
                phone_verified_at: opt_ts(r.try_get("phone_verified_at")?),
                sms_enabled_at: opt_ts(r.try_get("sms_enabled_at")?),
            })
        }




        pub(crate) fn session_row(r: &DbRow) -> Result<SessionRecord> {
            session_row_as(r, "")
        }

        /// Reads a session whose columns carry `prefix` (see `session_columns_s!`).
        fn session_row_as(r: &DbRow, prefix: &str) -> Result<SessionRecord> {
            let c = |name: &str| -> String { format!("{prefix}{name}") };
            let reason: Option<String> = r.try_get(c("revoke_reason").as_str())?;
            Ok(SessionRecord {
                id: SessionId::from_uuid(r.try_get(c("id").as_str())?),
                account_id: AccountId::from_uuid(r.try_get(c("account_id").as_str())?),
                token_hash: hash32(r.try_get(c("token_hash").as_str())?)?,
                device_id: DeviceId::from_uuid(r.try_get(c("device_id").as_str())?),
                ip: ip(r.try_get(c("ip").as_str())?),
                user_agent: r.try_get(c("user_agent").as_str())?,
                aal: Aal::parse(&r.try_get::<String, _>(c("aal").as_str())?).ok_or_else(|| corrupt("aal"))?,
                authenticated_at: ts(r.try_get(c("authenticated_at").as_str())?),
                stepped_up_at: opt_ts(r.try_get(c("stepped_up_at").as_str())?),
                created_at: ts(r.try_get(c("created_at").as_str())?),
                last_seen_at: ts(r.try_get(c("last_seen_at").as_str())?),
                stamp_at_issue: r.try_get(c("stamp_at_issue").as_str())?,
                revoked_at: opt_ts(r.try_get(c("revoked_at").as_str())?),
                revoke_reason: reason.and_then(|s| serde_json::from_value(serde_json::Value::String(s)).ok()),
            })
        }

        fn second_factors_row(r: &DbRow) -> Result<SecondFactors> {
            let (totp, codes, sms, passkeys): (i64, i64, i64, i64) =
                (r.try_get("f_totp")?, r.try_get("f_codes")?, r.try_get("f_sms")?, r.try_get("f_passkeys")?);
            Ok(SecondFactors {
                totp: totp > 0,
                recovery_codes: u32::try_from(codes).unwrap_or(0),
                sms: sms > 0,
                passkeys: u32::try_from(passkeys).unwrap_or(0),
            })
        }





        fn audit_row(r: &DbRow) -> Result<AuditRecord> {
            let account: Option<uuid::Uuid> = r.try_get("account_id")?;
            let actor: String = r.try_get("actor")?;
            let event: String = r.try_get("event")?;
            let prev: Vec<u8> = r.try_get("prev_hash")?;
            let hash: Vec<u8> = r.try_get("hash")?;
            Ok(AuditRecord {
                chain: r.try_get("chain")?,
                seq: r.try_get("seq")?,
                at: ts(r.try_get("at")?),
                actor: serde_json::from_str(&actor).map_err(|_| corrupt("audit actor"))?,
                account: account.map(AccountId::from_uuid),
                event: serde_json::from_str(&event).map_err(|_| corrupt("audit event"))?,
                prev_hash: hash32(prev)?.0,
                hash: hash32(hash)?.0,
            })
        }

        pub(crate) fn ip_text(ip: Option<IpAddr>) -> Option<String> {
            ip.map(|i| i.to_string())
        }

        pub(crate) fn reason_text(why: RevokeReason) -> &'static str {
            why.as_str()
        }

        #[async_trait::async_trait]
        impl Tx for $tx {
            async fn insert_account(&mut self, a: &AccountRecord) -> Result<()> {
                sqlx::query(concat!("INSERT INTO accounts (", account_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"))
                    .bind(a.id.as_uuid())
                    .bind(a.uid.get() as i64)
                    .bind(&a.email)
                    .bind(&a.email_key)
                    .bind(a.email_verified_at.map(micros))
                    .bind(&a.phone)
                    .bind(a.status.as_str())
                    .bind(&a.password_hash)
                    .bind(&a.security_stamp)
                    .bind(&a.anti_phishing_code)
                    .bind(micros(a.created_at))
                    .bind(a.withdrawal_lock_until.map(micros))
                    .bind(&a.withdrawal_lock_reason)
                    .bind(a.phone_verified_at.map(micros))
                    .bind(a.sms_enabled_at.map(micros))
                    .execute(self.conn().await?)
                    .await
                    .map_err(|e| {
                        let uid_clash = e.as_database_error().and_then(|d| d.message().contains("uid").then_some(()));
                        conflict_or(e, if uid_clash.is_some() { "uid" } else { "email" })
                    })?;
                Ok(())
            }

            async fn lock_account(&mut self, id: AccountId) -> Result<Option<AccountRecord>> {
                Ok(self.lock_account_with_device(id, None).await?.map(|(account, _)| account))
            }

            async fn lock_account_with_device(
                &mut self,
                id: AccountId,
                device: Option<&TokenHash>,
            ) -> Result<Option<(AccountRecord, Option<DeviceId>)>> {
                // The device comes with the locked row, so a sign-in needs no read of its own for
                // it; without a key `$2` is NULL and matches nothing.
                let device_key = device.map(|d| d.as_bytes().to_vec());
                let device_of = |r: &DbRow| -> Result<Option<DeviceId>> {
                    Ok(r.try_get::<Option<uuid::Uuid>, _>("device_id")?.map(DeviceId::from_uuid))
                };
                if !$hol {
                    let row = sqlx::query(concat!(
                        "SELECT ", account_columns!(), ", ",
                        "(SELECT d.id FROM devices d WHERE d.account_id = accounts.id AND d.key_hash = $2) AS device_id ",
                        "FROM accounts WHERE id = $1", $fu
                    ))
                    .bind(id.as_uuid())
                    .bind(device_key)
                    .fetch_optional(self.conn().await?)
                    .await?;
                    let Some(r) = row else { return Ok(None) };
                    return Ok(Some((account_row(&r)?, device_of(&r)?)));
                }
                // Where the lock on the account is the lock on every writer (SQLite), the head of
                // the account's audit chain comes with the row: nearly every command that locks an
                // account appends to its chain, and this saves that append its read.
                // The read goes with whatever is queued — the transaction's held-back `BEGIN
                // IMMEDIATE`, when this is its first statement, as it is for most commands.
                let key = Chain::Account(id).key();
                let row = self
                    .with_queue(
                        concat!(
                            "SELECT ", account_with_audit_head!(), ", ",
                            "(SELECT d.id FROM devices d WHERE d.account_id = accounts.id AND d.key_hash = $2) AS device_id ",
                            "FROM accounts ", account_with_audit_head!(join "$3"),
                            "WHERE accounts.id = $1"
                        ),
                        |q| q.bind(id.as_uuid()).bind(device_key).bind(&key),
                    )?
                    .fetch_optional(self.raw()?)
                    .await
                    .map_err(|e| crate::conflict_or(e, "queued write"))?;
                let Some(r) = row else { return Ok(None) };
                if !self.audit_heads.contains_key(&key) {
                    self.audit_heads.insert(key, audit_head_of!(r));
                }
                Ok(Some((account_row(&r)?, device_of(&r)?)))
            }

            async fn lock_account_by_email_key(&mut self, email_key: &str) -> Result<Option<AccountRecord>> {
                let row = sqlx::query(concat!("SELECT ", account_columns!(), " FROM accounts WHERE email_key = $1", $fu))
                    .bind(email_key)
                    .fetch_optional(self.conn().await?)
                    .await?;
                row.as_ref().map(account_row).transpose()
            }

            async fn set_email_verified(&mut self, id: AccountId, at: Timestamp) -> Result<()> {
                sqlx::query("UPDATE accounts SET email_verified_at = $1 WHERE id = $2 AND email_verified_at IS NULL")
                    .bind(micros(at))
                    .bind(id.as_uuid())
                    .execute(self.conn().await?)
                    .await?;
                Ok(())
            }

            async fn set_security_stamp(&mut self, id: AccountId, stamp: &[u8]) -> Result<()> {
                sqlx::query("UPDATE accounts SET security_stamp = $1 WHERE id = $2")
                    .bind(stamp)
                    .bind(id.as_uuid())
                    .execute(self.conn().await?)
                    .await?;
                Ok(())
            }

            async fn set_password_hash(&mut self, id: AccountId, phc: &str) -> Result<()> {
                sqlx::query("UPDATE accounts SET password_hash = $1 WHERE id = $2")
                    .bind(phc)
                    .bind(id.as_uuid())
                    .execute(self.conn().await?)
                    .await?;
                Ok(())
            }

            async fn set_withdrawal_lock(&mut self, id: AccountId, until: Option<Timestamp>, reason: Option<&str>) -> Result<()> {
                sqlx::query("UPDATE accounts SET withdrawal_lock_until = $1, withdrawal_lock_reason = $2 WHERE id = $3")
                    .bind(until.map(micros))
                    .bind(reason)
                    .bind(id.as_uuid())
                    .execute(self.conn().await?)
                    .await?;
                Ok(())
            }

            async fn set_anti_phishing_code(&mut self, id: AccountId, code: Option<&str>) -> Result<()> {
                sqlx::query("UPDATE accounts SET anti_phishing_code = $1 WHERE id = $2")
                    .bind(code)
                    .bind(id.as_uuid())
                    .execute(self.conn().await?)
                    .await?;
                Ok(())
            }

            async fn set_email(&mut self, id: AccountId, email: &str, email_key: &str, verified_at: Timestamp) -> Result<()> {
                sqlx::query("UPDATE accounts SET email = $1, email_key = $2, email_verified_at = $3 WHERE id = $4")
                    .bind(email)
                    .bind(email_key)
                    .bind(micros(verified_at))
                    .bind(id.as_uuid())
                    .execute(self.conn().await?)
                    .await
                    .map_err(|e| conflict_or(e, "email"))?;
                Ok(())
            }

            async fn set_phone(&mut self, id: AccountId, phone: Option<&str>) -> Result<()> {
                sqlx::query("UPDATE accounts SET phone = $1 WHERE id = $2")
                    .bind(phone)
                    .bind(id.as_uuid())
                    .execute(self.conn().await?)
                    .await?;
                Ok(())
            }

            async fn set_verified_phone(&mut self, id: AccountId, phone: &str, at: Timestamp) -> Result<()> {
                sqlx::query("UPDATE accounts SET phone = $1, phone_verified_at = $2 WHERE id = $3")
                    .bind(phone)
                    .bind(micros(at))
                    .bind(id.as_uuid())
                    .execute(self.conn().await?)
                    .await?;
                Ok(())
            }

            async fn set_sms_enabled(&mut self, id: AccountId, since: Option<Timestamp>) -> Result<()> {
                sqlx::query("UPDATE accounts SET sms_enabled_at = $1 WHERE id = $2")
                    .bind(since.map(micros))
                    .bind(id.as_uuid())
                    .execute(self.conn().await?)
                    .await?;
                Ok(())
            }

            async fn append_audit(&mut self, chain: Chain, at: Timestamp, actor: Actor, event: AuditEvent) -> Result<AuditRecord> {
                let key = chain.key();
                // A chain this transaction appended to already is locked by it, and its head is
                // the record it wrote: no lock or read again.
                let head = match self.audit_heads.get(&key) {
                    Some(head) => *head,
                    None => {
                        self.lock_chain(&key).await?;
                        // Queued writes never hold this chain's records: a chain written in this
                        // transaction has its head above, so the read need not send the queue.
                        let head = sqlx::query("SELECT seq, hash FROM audit_records WHERE chain = $1 ORDER BY seq DESC LIMIT 1")
                            .bind(&key)
                            .fetch_optional(self.conn_reading(&[]).await?)
                            .await?;
                        match head {
                            Some(r) => (r.try_get::<i64, _>("seq")?, hash32(r.try_get("hash")?)?.0),
                            None => (0, GENESIS),
                        }
                    }
                };
                // The event is stored as the hash encoded it (sorted keys): encoded once.
                let (rec, event) = AuditRecord::next_encoded(chain, head, at, actor, event);
                let actor = serde_json::to_string(&rec.actor).map_err(|_| corrupt("audit actor"))?;
                let sql = crate::backend::audit_insert!();
                self.write(&["audit_records"], sql, |q| {
                    q.bind(&rec.chain)
                        .bind(rec.seq)
                        .bind(micros(rec.at))
                        .bind(rec.account.map(|a| a.as_uuid()))
                        .bind(actor)
                        .bind(event)
                        .bind(&rec.prev_hash[..])
                        .bind(&rec.hash[..])
                })
                .await
                .map_err(|e| match e {
                    crate::StoreError::Conflict(_) => crate::StoreError::Conflict("audit sequence"),
                    e => e,
                })?;
                self.audit_heads.insert(key, (rec.seq, rec.hash));
                Ok(rec)
            }

            async fn commit(self: Box<Self>) -> Result<()> {
                (*self).flush_and_commit().await
            }

            async fn rollback(self: Box<Self>) -> Result<()> {
                (*self).roll_back().await
            }
        }

        #[async_trait::async_trait]
        impl Reader for $backend {
            async fn session_with_account(&self, hash: &TokenHash) -> Result<Option<SessionWithAccount>> {
                let row = sqlx::query(
                    "SELECT s.id, s.account_id, s.token_hash, s.device_id, s.ip, s.user_agent, s.aal, s.authenticated_at, \
                            s.stepped_up_at, s.created_at, s.last_seen_at, s.stamp_at_issue, s.revoked_at, s.revoke_reason, \
                            a.security_stamp AS account_stamp, a.status AS account_status, a.uid AS account_uid, \
                            a.withdrawal_lock_until AS account_lock_until \
                     FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.token_hash = $1",
                )
                .bind(hash.as_bytes())
                .fetch_optional(&self.pool)
                .await?;
                let Some(r) = row else { return Ok(None) };
                Ok(Some(SessionWithAccount {
                    session: session_row(&r)?,
                    account_stamp: r.try_get("account_stamp")?,
                    account_status: AccountStatus::parse(&r.try_get::<String, _>("account_status")?)
                        .ok_or_else(|| corrupt("status"))?,
                    account_uid: Uid::from_u64_unchecked(
                        u64::try_from(r.try_get::<i64, _>("account_uid")?).map_err(|_| corrupt("uid"))?,
                    ),
                    account_withdrawal_lock_until: opt_ts(r.try_get("account_lock_until")?),
                }))
            }

            async fn session_overview(&self, hash: &TokenHash) -> Result<Option<SessionOverview>> {
                let row = sqlx::query(concat!(
                    "SELECT a.*, ", session_columns_s!(), ", ", second_factor_counts!(joined),
                    " FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.token_hash = $1"
                ))
                .bind(hash.as_bytes())
                .fetch_optional(&self.pool)
                .await?;
                let Some(r) = row else { return Ok(None) };
                Ok(Some(SessionOverview {
                    session: session_row_as(&r, "s_")?,
                    account: account_row(&r)?,
                    factors: second_factors_row(&r)?,
                }))
            }

            async fn touch_session(&self, id: SessionId, at: Timestamp) -> Result<()> {
                sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $1")
                    .bind(micros(at))
                    .bind(id.as_uuid())
                    .execute(self.lone_writer().await?.ex())
                    .await?;
                Ok(())
            }

            async fn account(&self, id: AccountId) -> Result<Option<AccountRecord>> {
                let row = sqlx::query(concat!("SELECT ", account_columns!(), " FROM accounts WHERE id = $1"))
                    .bind(id.as_uuid())
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(account_row).transpose()
            }

            async fn account_by_uid(&self, uid: Uid) -> Result<Option<AccountRecord>> {
                let row = sqlx::query(concat!("SELECT ", account_columns!(), " FROM accounts WHERE uid = $1"))
                    .bind(uid.get() as i64)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(account_row).transpose()
            }

            async fn account_by_email_key(&self, email_key: &str) -> Result<Option<AccountRecord>> {
                let row = sqlx::query(concat!("SELECT ", account_columns!(), " FROM accounts WHERE email_key = $1"))
                    .bind(email_key)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(account_row).transpose()
            }

            async fn prior_sign_ins(&self, account: AccountId, limit: u32) -> Result<Vec<PriorSignIn>> {
                // One row of JSON, not a row per sign-in (an account may have hundreds).
                let json: String = sqlx::query_scalar(crate::sql::prior_sign_ins_sql!($dialect))
                    .bind(account.as_uuid())
                    .bind(i64::from(limit))
                    .fetch_one(&self.pool)
                    .await?;
                crate::json_rows::prior_sign_ins(&json)
            }

            async fn login_lookup(
                &self,
                email_key: &str,
                device: Option<&TokenHash>,
                ip_key: &str,
                account_key: &str,
                prior_limit: u32,
            ) -> Result<LoginLookup> {
                let r = sqlx::query(concat!(
                    "SELECT ", account_columns!(), ", ", second_factor_counts!(joined), ", ",
                    "(SELECT COUNT(*) FROM devices d WHERE d.account_id = a.id AND d.key_hash = $2) AS known_device, ",
                    "ti.failures AS ip_failures, ti.window_start AS ip_window_start, ti.last_failure_at AS ip_last_failure_at, ",
                    "ta.failures AS ac_failures, ta.window_start AS ac_window_start, ta.last_failure_at AS ac_last_failure_at, (",
                    crate::sql::prior_sign_ins_sql!($dialect, "(SELECT id FROM accounts WHERE email_key = $1)", "$5"),
                    ") AS prior_sign_ins ",
                    "FROM (SELECT 1 AS one) x ",
                    "LEFT JOIN accounts a ON a.email_key = $1 ",
                    "LEFT JOIN throttles ti ON ti.key = $3 ",
                    "LEFT JOIN throttles ta ON ta.key = $4"
                ))
                .bind(email_key)
                .bind(device.map(|d| d.as_bytes().to_vec()))
                .bind(ip_key)
                .bind(account_key)
                .bind(i64::from(prior_limit))
                .fetch_one(&self.pool)
                .await?;
                let throttle = |p: &str| -> Result<Option<ThrottleState>> {
                    let failures: Option<i32> = r.try_get(format!("{p}_failures").as_str())?;
                    let Some(failures) = failures else { return Ok(None) };
                    Ok(Some(ThrottleState {
                        failures: u32::try_from(failures).unwrap_or(0),
                        window_start: ts(r.try_get(format!("{p}_window_start").as_str())?),
                        last_failure_at: ts(r.try_get(format!("{p}_last_failure_at").as_str())?),
                    }))
                };
                let account = match r.try_get::<Option<uuid::Uuid>, _>("id")? {
                    Some(_) => Some(account_row(&r)?),
                    None => None,
                };
                let found = account.is_some();
                Ok(LoginLookup {
                    factors: if found { second_factors_row(&r)? } else { SecondFactors::default() },
                    known_device: found && r.try_get::<i64, _>("known_device")? > 0,
                    account,
                    ip_throttle: throttle("ip")?,
                    account_throttle: throttle("ac")?,
                    prior_sign_ins: match r.try_get::<Option<String>, _>("prior_sign_ins")? {
                        Some(json) if found => crate::json_rows::prior_sign_ins(&json)?,
                        _ => Vec::new(),
                    },
                })
            }

            async fn password_history(&self, account: AccountId, limit: u32) -> Result<Vec<PasswordHistoryRecord>> {
                let rows = sqlx::query("SELECT password_hash, skeleton_mac, created_at FROM password_history WHERE account_id = $1 ORDER BY created_at DESC, id DESC LIMIT CAST($2 AS BIGINT)")
                    .bind(account.as_uuid())
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok(PasswordHistoryRecord {
                            password_hash: r.try_get("password_hash")?,
                            skeleton_mac: r.try_get("skeleton_mac")?,
                            created_at: ts(r.try_get("created_at")?),
                        })
                    })
                    .collect()
            }

            async fn second_factors(&self, account: AccountId) -> Result<SecondFactors> {
                // One round trip: this runs on every security-center page.
                let r = sqlx::query(concat!("SELECT ", second_factor_counts!("$1")))
                    .bind(account.as_uuid())
                    .fetch_one(&self.pool)
                    .await?;
                second_factors_row(&r)
            }

            async fn passkeys(&self, account: AccountId) -> Result<Vec<PasskeyRecord>> {
                let rows = sqlx::query(concat!("SELECT ", passkey_columns!(), " FROM passkeys WHERE account_id = $1 ORDER BY created_at, id"))
                    .bind(account.as_uuid())
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(factors_sql::passkey_row).collect()
            }

            async fn audit_chains(&self) -> Result<Vec<String>> {
                Ok(sqlx::query_scalar("SELECT DISTINCT chain FROM audit_records ORDER BY chain")
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn audit_records(&self, chain: &str, after: i64, limit: u32) -> Result<Vec<AuditRecord>> {
                let rows = sqlx::query(concat!("SELECT ", audit_columns!(), " FROM audit_records WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT CAST($3 AS BIGINT)"))
                    .bind(chain)
                    .bind(after)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(audit_row).collect()
            }
        }
    };
}

pub(crate) use impl_sql_store;
