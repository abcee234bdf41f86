//! The freeze tables' SQL, written once and expanded per backend like [`crate::sql_money`]. The
//! set-based statements name the cancellable states literally; they are the states
//! `WithdrawalState::cancellable` and `TransferState::cancellable` accept (the conformance suite
//! checks it).

macro_rules! freeze_columns {
    () => {
        "id, account_id, channel, actor, reason, receipt, frozen_at, unfrozen_at, unfrozen_by, approved_by"
    };
}
pub(crate) use freeze_columns;

/// The freeze's reads, each row tagged with its `part` so one batch can carry all four.
macro_rules! freeze_read_sql {
    (sessions) => {
        concat!(
            "SELECT 's' AS part, ", session_columns!(),
            " FROM sessions WHERE account_id = $1 AND revoked_at IS NULL ORDER BY created_at, id"
        )
    };
    (api_keys) => {
        concat!(
            "SELECT 'k' AS part, ", api_key_columns!(),
            " FROM api_keys WHERE account_id = $1 AND revoked_at IS NULL ORDER BY created_at, id"
        )
    };
    (withdrawals) => {
        concat!(
            "SELECT 'w' AS part, ", withdrawal_columns!(), " FROM withdrawals WHERE account_id = $1 AND (",
            "state IN ('requested', 'awaiting_confirmation', 'held', 'queued', 'processing') OR ",
            "(state IN ('broadcast', 'confirmed') AND (broadcast_at IS NULL OR broadcast_at >= $2))",
            ") ORDER BY created_at, id"
        )
    };
    (transfers) => {
        concat!(
            "SELECT 't' AS part, ", transfer_columns!(),
            ", (SELECT accounts.uid FROM accounts WHERE accounts.id = transfers.to_account) AS to_uid",
            " FROM transfers WHERE from_account = $1 AND state IN ('requested', 'held') ORDER BY created_at, id"
        )
    };
}
pub(crate) use freeze_read_sql;

/// The freeze's writes. $1 status, $2 stamp, $3 account, $4 time, $5 revoke reason. Each returns
/// the ids it touched as (`part`, `uuid`, `text_id`).
macro_rules! freeze_write_sql {
    (account) => { "UPDATE accounts SET status = $1, security_stamp = $2 WHERE id = $3" };
    (sessions) => {
        "UPDATE sessions SET revoked_at = $4, revoke_reason = $5 WHERE account_id = $3 AND revoked_at IS NULL"
    };
    (api_keys) => {
        "UPDATE api_keys SET revoked_at = $4, revoke_reason = $5 WHERE account_id = $3 AND revoked_at IS NULL"
    };
    (withdrawals) => {
        "UPDATE withdrawals SET state = 'cancelled', cancelled_at = $4, cancelled_by = 'freeze', updated_at = $4 \
         WHERE account_id = $3 AND state IN ('requested', 'awaiting_confirmation', 'held', 'queued')"
    };
    (transfers) => {
        "UPDATE transfers SET state = 'cancelled', cancelled_at = $4, cancelled_by = 'freeze', updated_at = $4 \
         WHERE from_account = $3 AND state IN ('requested', 'held')"
    };
    // SQLite: one batch of five statements (one trip to its worker thread; `$N` binds by number
    // in every statement of the batch).
    (batch) => {
        concat!(
            freeze_write_sql!(account), "; ",
            freeze_write_sql!(sessions), " RETURNING 's' AS part, id AS uuid, NULL AS text_id; ",
            freeze_write_sql!(api_keys), " RETURNING 'k' AS part, NULL AS uuid, id AS text_id; ",
            freeze_write_sql!(withdrawals), " RETURNING 'w' AS part, id AS uuid, NULL AS text_id; ",
            freeze_write_sql!(transfers), " RETURNING 't' AS part, id AS uuid, NULL AS text_id"
        )
    };
    // PostgreSQL: one statement; data-modifying CTEs all run, referenced or not.
    (cte) => {
        concat!(
            "WITH a AS (", freeze_write_sql!(account), " RETURNING id), ",
            "s AS (", freeze_write_sql!(sessions), " RETURNING id), ",
            "k AS (", freeze_write_sql!(api_keys), " RETURNING id), ",
            "w AS (", freeze_write_sql!(withdrawals), " RETURNING id), ",
            "t AS (", freeze_write_sql!(transfers), " RETURNING id) ",
            "SELECT 's'::text AS part, id AS uuid, NULL::text AS text_id FROM s ",
            "UNION ALL SELECT 'k', NULL, id FROM k ",
            "UNION ALL SELECT 'w', id, NULL FROM w ",
            "UNION ALL SELECT 't', id, NULL FROM t"
        )
    };
}
pub(crate) use freeze_write_sql;

macro_rules! impl_freeze_sql {
    // The four reads: one batch on SQLite…
    (@reads batch, $tx_:expr, $a:expr, $since:expr) => {
        sqlx::query(concat!(
            freeze_read_sql!(sessions), "; ", freeze_read_sql!(api_keys), "; ",
            freeze_read_sql!(withdrawals), "; ", freeze_read_sql!(transfers)
        ))
        .bind($a)
        .bind(micros($since))
        .fetch_all($tx_)
        .await?
    };
    // …one statement per round trip on PostgreSQL (its extended protocol takes no batches).
    (@reads cte, $tx_:expr, $a:expr, $since:expr) => {{
        let mut rows = sqlx::query(freeze_read_sql!(sessions)).bind($a).fetch_all(&mut *$tx_).await?;
        rows.extend(sqlx::query(freeze_read_sql!(api_keys)).bind($a).fetch_all(&mut *$tx_).await?);
        rows.extend(
            sqlx::query(freeze_read_sql!(withdrawals)).bind($a).bind(micros($since)).fetch_all(&mut *$tx_).await?,
        );
        rows.extend(sqlx::query(freeze_read_sql!(transfers)).bind($a).fetch_all(&mut *$tx_).await?);
        rows
    }};
    ($db:ty, $backend:ident, $tx:ident, $mode:ident) => {
        mod freeze_sql {
            use custos_core::Timestamp;
            use custos_core::api_key::ApiKeyId;
            use custos_core::audit::RevokeReason;
            use custos_core::crypto::TokenHash;
            use custos_core::freeze::FreezeChannel;
            use custos_core::ids::{AccountId, FreezeId, SessionId, TransferId, Uid, WithdrawalId};
            use custos_core::login::AccountStatus;
            use sqlx::Row;

            use super::api_keys_sql::api_key_row;
            use super::money_sql::{transfer_row, withdrawal_row};
            use super::{$backend, $tx, session_row};
            use crate::Result;
            use crate::backend::{corrupt, hash32, micros, opt_ts, session_columns, ts};
            use crate::freeze::*;
            use crate::sql_api_keys::api_key_columns;
            use crate::sql_freeze::{freeze_columns, freeze_read_sql, freeze_write_sql, impl_freeze_sql};
            use crate::sql_money::{transfer_columns, withdrawal_columns};

            type DbRow = <$db as sqlx::Database>::Row;

            fn freeze_row(r: &DbRow) -> Result<FreezeRecord> {
                let receipt: String = r.try_get("receipt")?;
                Ok(FreezeRecord {
                    id: FreezeId::from_uuid(r.try_get("id")?),
                    account_id: AccountId::from_uuid(r.try_get("account_id")?),
                    channel: FreezeChannel::parse(&r.try_get::<String, _>("channel")?)
                        .ok_or_else(|| corrupt("freeze channel"))?,
                    actor: r.try_get("actor")?,
                    reason: r.try_get("reason")?,
                    receipt: serde_json::from_str(&receipt).map_err(|_| corrupt("freeze receipt"))?,
                    frozen_at: ts(r.try_get("frozen_at")?),
                    unfrozen_at: opt_ts(r.try_get("unfrozen_at")?),
                    unfrozen_by: r.try_get("unfrozen_by")?,
                    approved_by: r.try_get("approved_by")?,
                })
            }

            #[async_trait::async_trait]
            impl FreezeTx for $tx {
                async fn freeze_rows(&mut self, account: AccountId, on_chain_since: Timestamp) -> Result<FreezeRows> {
                    let a = account.as_uuid();
                    let rows: Vec<DbRow> = impl_freeze_sql!(@reads $mode, &mut *self.tx, a, on_chain_since);
                    let mut out = FreezeRows::default();
                    for r in &rows {
                        match r.try_get::<String, _>("part")?.as_str() {
                            "s" => out.sessions.push(session_row(r)?),
                            "k" => out.api_keys.push(api_key_row(r)?),
                            "w" => out.withdrawals.push(withdrawal_row(r)?),
                            "t" => {
                                let uid = u64::try_from(r.try_get::<i64, _>("to_uid")?).map_err(|_| corrupt("uid"))?;
                                out.transfers.push((transfer_row(r)?, Uid::from_u64_unchecked(uid)));
                            }
                            _ => return Err(corrupt("freeze read part")),
                        }
                    }
                    Ok(out)
                }

                async fn apply_freeze(&mut self, account: AccountId, stamp: &[u8], at: Timestamp) -> Result<FreezeApplied> {
                    let rows = sqlx::query(freeze_write_sql!($mode))
                        .bind(AccountStatus::Frozen.as_str())
                        .bind(stamp)
                        .bind(account.as_uuid())
                        .bind(micros(at))
                        .bind(RevokeReason::AccountFrozen.as_str())
                        .fetch_all(&mut *self.tx)
                        .await?;
                    let mut out = FreezeApplied::default();
                    for r in &rows {
                        let uuid = || -> Result<uuid::Uuid> { Ok(r.try_get::<uuid::Uuid, _>("uuid")?) };
                        match r.try_get::<String, _>("part")?.as_str() {
                            "s" => out.sessions.push(SessionId::from_uuid(uuid()?)),
                            "k" => out.api_keys.push(
                                ApiKeyId::parse(&r.try_get::<String, _>("text_id")?).ok_or_else(|| corrupt("api key id"))?,
                            ),
                            "w" => out.withdrawals.push(WithdrawalId::from_uuid(uuid()?)),
                            "t" => out.transfers.push(TransferId::from_uuid(uuid()?)),
                            _ => return Err(corrupt("freeze write part")),
                        }
                    }
                    out.sessions.sort();
                    out.api_keys.sort();
                    out.withdrawals.sort();
                    out.transfers.sort();
                    Ok(out)
                }

                async fn set_account_status(&mut self, account: AccountId, status: AccountStatus) -> Result<()> {
                    sqlx::query("UPDATE accounts SET status = $1 WHERE id = $2")
                        .bind(status.as_str())
                        .bind(account.as_uuid())
                        .execute(&mut *self.tx)
                        .await?;
                    Ok(())
                }

                async fn set_status_and_stamp(&mut self, account: AccountId, status: AccountStatus, stamp: &[u8]) -> Result<()> {
                    sqlx::query("UPDATE accounts SET status = $1, security_stamp = $2 WHERE id = $3")
                        .bind(status.as_str())
                        .bind(stamp)
                        .bind(account.as_uuid())
                        .execute(&mut *self.tx)
                        .await?;
                    Ok(())
                }

                async fn insert_freeze(&mut self, f: &FreezeRecord) -> Result<()> {
                    let receipt = serde_json::to_string(&f.receipt).map_err(|e| corrupt(&e.to_string()))?;
                    sqlx::query(concat!(
                        "INSERT INTO freezes (", freeze_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                    ))
                    .bind(f.id.as_uuid())
                    .bind(f.account_id.as_uuid())
                    .bind(f.channel.as_str())
                    .bind(&f.actor)
                    .bind(&f.reason)
                    .bind(receipt)
                    .bind(micros(f.frozen_at))
                    .bind(f.unfrozen_at.map(micros))
                    .bind(&f.unfrozen_by)
                    .bind(&f.approved_by)
                    .execute(&mut *self.tx)
                    .await?;
                    Ok(())
                }

                async fn latest_freeze(&mut self, account: AccountId) -> Result<Option<FreezeRecord>> {
                    let row = sqlx::query(concat!(
                        "SELECT ", freeze_columns!(), " FROM freezes WHERE account_id = $1 ORDER BY frozen_at DESC, id DESC LIMIT 1"
                    ))
                    .bind(account.as_uuid())
                    .fetch_optional(&mut *self.tx)
                    .await?;
                    row.as_ref().map(freeze_row).transpose()
                }

                async fn close_freeze(&mut self, id: FreezeId, at: Timestamp, unfrozen_by: &str, approved_by: &str) -> Result<bool> {
                    let n = sqlx::query(
                        "UPDATE freezes SET unfrozen_at = $1, unfrozen_by = $2, approved_by = $3 WHERE id = $4 AND unfrozen_at IS NULL",
                    )
                    .bind(micros(at))
                    .bind(unfrozen_by)
                    .bind(approved_by)
                    .bind(id.as_uuid())
                    .execute(&mut *self.tx)
                    .await?
                    .rows_affected();
                    Ok(n == 1)
                }

                async fn set_panic_code(&mut self, account: AccountId, hash: Option<&TokenHash>, at: Timestamp) -> Result<()> {
                    sqlx::query("DELETE FROM panic_codes WHERE account_id = $1")
                        .bind(account.as_uuid())
                        .execute(&mut *self.tx)
                        .await?;
                    if let Some(h) = hash {
                        sqlx::query("INSERT INTO panic_codes (account_id, code_hash, created_at) VALUES ($1, $2, $3)")
                            .bind(account.as_uuid())
                            .bind(h.as_bytes())
                            .bind(micros(at))
                            .execute(&mut *self.tx)
                            .await?;
                    }
                    Ok(())
                }

                async fn panic_code_hash(&mut self, account: AccountId) -> Result<Option<TokenHash>> {
                    let h: Option<Vec<u8>> = sqlx::query_scalar("SELECT code_hash FROM panic_codes WHERE account_id = $1")
                        .bind(account.as_uuid())
                        .fetch_optional(&mut *self.tx)
                        .await?;
                    h.map(hash32).transpose()
                }
            }

            #[async_trait::async_trait]
            impl FreezeReader for $backend {
                async fn freezes(&self, account: AccountId) -> Result<Vec<FreezeRecord>> {
                    let rows = sqlx::query(concat!(
                        "SELECT ", freeze_columns!(), " FROM freezes WHERE account_id = $1 ORDER BY frozen_at DESC, id DESC"
                    ))
                    .bind(account.as_uuid())
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter().map(freeze_row).collect()
                }

                async fn has_panic_code(&self, account: AccountId) -> Result<bool> {
                    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM panic_codes WHERE account_id = $1")
                        .bind(account.as_uuid())
                        .fetch_one(&self.pool)
                        .await?;
                    Ok(n > 0)
                }
            }
        }
    };
}
pub(crate) use impl_freeze_sql;
