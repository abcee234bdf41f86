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

macro_rules! impl_freeze_sql {
    ($db:ty, $backend:ident, $tx:ident) => {
        mod freeze_sql {
            use custos_core::Timestamp;
            use custos_core::api_key::ApiKeyId;
            use custos_core::audit::RevokeReason;
            use custos_core::crypto::TokenHash;
            use custos_core::freeze::FreezeChannel;
            use custos_core::ids::{AccountId, FreezeId, TransferId, Uid, WithdrawalId};
            use custos_core::login::AccountStatus;
            use sqlx::Row;

            use super::api_keys_sql::api_key_row;
            use super::money_sql::{transfer_row, withdrawal_row};
            use super::{$backend, $tx, session_row};
            use crate::Result;
            use crate::backend::{corrupt, hash32, micros, opt_ts, session_columns, ts};
            use crate::freeze::*;
            use crate::sql_api_keys::api_key_columns;
            use crate::sql_freeze::freeze_columns;
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
                    let sessions = sqlx::query(concat!(
                        "SELECT ", session_columns!(), " FROM sessions WHERE account_id = $1 AND revoked_at IS NULL ORDER BY created_at, id"
                    ))
                    .bind(a)
                    .fetch_all(&mut *self.tx)
                    .await?;
                    let keys = sqlx::query(concat!(
                        "SELECT ", api_key_columns!(), " FROM api_keys WHERE account_id = $1 AND revoked_at IS NULL ORDER BY created_at, id"
                    ))
                    .bind(a)
                    .fetch_all(&mut *self.tx)
                    .await?;
                    let withdrawals = sqlx::query(concat!(
                        "SELECT ", withdrawal_columns!(), " FROM withdrawals WHERE account_id = $1 AND (",
                        "state IN ('requested', 'awaiting_confirmation', 'held', 'queued', 'processing') OR ",
                        "(state IN ('broadcast', 'confirmed') AND (broadcast_at IS NULL OR broadcast_at >= $2))",
                        ") ORDER BY created_at, id"
                    ))
                    .bind(a)
                    .bind(micros(on_chain_since))
                    .fetch_all(&mut *self.tx)
                    .await?;
                    let transfers = sqlx::query(concat!(
                        "SELECT ", transfer_columns!(),
                        ", (SELECT accounts.uid FROM accounts WHERE accounts.id = transfers.to_account) AS to_uid",
                        " FROM transfers WHERE from_account = $1 AND state IN ('requested', 'held') ORDER BY created_at, id"
                    ))
                    .bind(a)
                    .fetch_all(&mut *self.tx)
                    .await?;
                    Ok(FreezeRows {
                        sessions: sessions.iter().map(session_row).collect::<Result<_>>()?,
                        api_keys: keys.iter().map(api_key_row).collect::<Result<_>>()?,
                        withdrawals: withdrawals.iter().map(withdrawal_row).collect::<Result<_>>()?,
                        transfers: transfers
                            .iter()
                            .map(|r| {
                                let uid = u64::try_from(r.try_get::<i64, _>("to_uid")?).map_err(|_| corrupt("uid"))?;
                                Ok((transfer_row(r)?, Uid::from_u64_unchecked(uid)))
                            })
                            .collect::<Result<_>>()?,
                    })
                }

                async fn cancel_open_withdrawals(&mut self, account: AccountId, at: Timestamp) -> Result<Vec<WithdrawalId>> {
                    let ids: Vec<uuid::Uuid> = sqlx::query_scalar(
                        "UPDATE withdrawals SET state = 'cancelled', cancelled_at = $1, cancelled_by = 'freeze', updated_at = $1 \
                         WHERE account_id = $2 AND state IN ('requested', 'awaiting_confirmation', 'held', 'queued') RETURNING id",
                    )
                    .bind(micros(at))
                    .bind(account.as_uuid())
                    .fetch_all(&mut *self.tx)
                    .await?;
                    let mut ids: Vec<WithdrawalId> = ids.into_iter().map(WithdrawalId::from_uuid).collect();
                    ids.sort();
                    Ok(ids)
                }

                async fn cancel_unsettled_transfers(&mut self, account: AccountId, at: Timestamp) -> Result<Vec<TransferId>> {
                    let ids: Vec<uuid::Uuid> = sqlx::query_scalar(
                        "UPDATE transfers SET state = 'cancelled', cancelled_at = $1, cancelled_by = 'freeze', updated_at = $1 \
                         WHERE from_account = $2 AND state IN ('requested', 'held') RETURNING id",
                    )
                    .bind(micros(at))
                    .bind(account.as_uuid())
                    .fetch_all(&mut *self.tx)
                    .await?;
                    let mut ids: Vec<TransferId> = ids.into_iter().map(TransferId::from_uuid).collect();
                    ids.sort();
                    Ok(ids)
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

                async fn revoke_all_api_keys(&mut self, account: AccountId, at: Timestamp) -> Result<Vec<ApiKeyId>> {
                    crate::api_keys::ApiKeyTx::revoke_api_keys(self, account, at, RevokeReason::AccountFrozen).await
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
