//! The money tables' SQL, written once and expanded per backend like [`crate::sql`]. The one
//! dialect fragment: `$n` is appended to every amount placeholder (`::numeric` on PostgreSQL,
//! nothing on SQLite), and amounts are read back as text on both.

macro_rules! withdrawal_columns {
    () => {
        "id, account_id, asset, network, address, memo, CAST(amount AS TEXT) AS amount, CAST(fee AS TEXT) AS fee, state, hold_until, hold_reasons, txid, requested_via, session_id, api_key_id, device_id, ip, idempotency_key, created_at, confirmed_at, queued_at, processing_at, broadcast_at, completed_at, cancelled_at, cancelled_by, intercept, failure, updated_at"
    };
}
pub(crate) use withdrawal_columns;

macro_rules! transfer_columns {
    () => {
        "id, from_account, to_account, asset, CAST(amount AS TEXT) AS amount, state, hold_until, hold_reasons, requested_via, session_id, api_key_id, device_id, ip, idempotency_key, created_at, settled_at, cancelled_at, cancelled_by, updated_at"
    };
}
pub(crate) use transfer_columns;

/// A balance write and its ledger entry, together: two statements queued as one on SQLite (sent
/// with the transaction's next batch), one statement on PostgreSQL. $1 available, $2 locked, $3 time,
/// $4 account, $5 asset, $6 kind, $7 available delta, $8 locked delta, $9 reference.
macro_rules! balance_write_sql {
    (@update $n:literal) => {
        concat!(
            "UPDATE balances SET available = $1", $n, ", locked = $2", $n, ", updated_at = $3 ",
            "WHERE account_id = $4 AND asset = $5"
        )
    };
    (@insert $n:literal) => {
        concat!(
            "INSERT INTO ledger_entries (account_id, asset, kind, available_delta, locked_delta, reference, created_at) ",
            "VALUES ($4, $5, $6, $7", $n, ", $8", $n, ", $9, $3)"
        )
    };
    (batch, $n:literal) => {
        concat!(balance_write_sql!(@update $n), "; ", balance_write_sql!(@insert $n))
    };
    (cte, $n:literal) => {
        concat!("WITH b AS (", balance_write_sql!(@update $n), ") ", balance_write_sql!(@insert $n))
    };
}
pub(crate) use balance_write_sql;

macro_rules! impl_money_sql {
    ($db:ty, $backend:ident, $tx:ident, $mode:ident, for_update = $fu:literal, numeric = $n:literal) => {
        mod money_sql {
            use custos_core::Timestamp;
            use custos_core::crypto::TokenHash;
            use custos_core::ids::{AccountId, DeviceId, ServiceTokenId, SessionId, WithdrawalId};
            use custos_core::ledger::{Balance, Delta, EntryKind, Signed};
            use custos_core::money::Amount;
            use custos_core::withdrawal::WithdrawalState;
            use sqlx::Row;

            use super::{$backend, $tx};
            use crate::backend::{corrupt, hash32, ip, micros, opt_ts, ts};
            use crate::money::*;
            use crate::sql_money::{balance_write_sql, transfer_columns, withdrawal_columns};
            use custos_core::ids::TransferId;
            use custos_core::transfer::TransferState;
            use crate::{Result, conflict_or};

            type DbRow = <$db as sqlx::Database>::Row;

            fn amount(r: &DbRow, col: &str) -> Result<Amount> {
                Amount::from_storage(&r.try_get::<String, _>(col)?).ok_or_else(|| corrupt(col))
            }

            fn signed(r: &DbRow, col: &str) -> Result<Signed> {
                Signed::from_storage(&r.try_get::<String, _>(col)?).ok_or_else(|| corrupt(col))
            }

            fn balance_row(r: &DbRow) -> Result<Balance> {
                Ok(Balance { available: amount(r, "available")?, locked: amount(r, "locked")? })
            }

            pub(super) fn withdrawal_row(r: &DbRow) -> Result<WithdrawalRecord> {
                Ok(WithdrawalRecord {
                    id: WithdrawalId::from_uuid(r.try_get("id")?),
                    account_id: AccountId::from_uuid(r.try_get("account_id")?),
                    asset: r.try_get("asset")?,
                    network: r.try_get("network")?,
                    address: r.try_get("address")?,
                    memo: r.try_get("memo")?,
                    amount: amount(r, "amount")?,
                    fee: amount(r, "fee")?,
                    state: WithdrawalState::parse(&r.try_get::<String, _>("state")?)
                        .ok_or_else(|| corrupt("withdrawal state"))?,
                    hold_until: opt_ts(r.try_get("hold_until")?),
                    hold_reasons: r.try_get("hold_reasons")?,
                    txid: r.try_get("txid")?,
                    requested_via: RequestedVia::parse(&r.try_get::<String, _>("requested_via")?)
                        .ok_or_else(|| corrupt("requested_via"))?,
                    session_id: r.try_get::<Option<uuid::Uuid>, _>("session_id")?.map(SessionId::from_uuid),
                    api_key_id: r.try_get("api_key_id")?,
                    device_id: r.try_get::<Option<uuid::Uuid>, _>("device_id")?.map(DeviceId::from_uuid),
                    ip: ip(r.try_get("ip")?),
                    idempotency_key: r.try_get("idempotency_key")?,
                    created_at: ts(r.try_get("created_at")?),
                    confirmed_at: opt_ts(r.try_get("confirmed_at")?),
                    queued_at: opt_ts(r.try_get("queued_at")?),
                    processing_at: opt_ts(r.try_get("processing_at")?),
                    broadcast_at: opt_ts(r.try_get("broadcast_at")?),
                    completed_at: opt_ts(r.try_get("completed_at")?),
                    cancelled_at: opt_ts(r.try_get("cancelled_at")?),
                    cancelled_by: r.try_get("cancelled_by")?,
                    intercept: r.try_get("intercept")?,
                    failure: r.try_get("failure")?,
                    updated_at: ts(r.try_get("updated_at")?),
                })
            }

            fn entry_row(r: &DbRow) -> Result<LedgerEntryRecord> {
                Ok(LedgerEntryRecord {
                    seq: r.try_get("seq")?,
                    account_id: AccountId::from_uuid(r.try_get("account_id")?),
                    asset: r.try_get("asset")?,
                    kind: EntryKind::parse(&r.try_get::<String, _>("kind")?)
                        .ok_or_else(|| corrupt("ledger kind"))?,
                    delta: Delta { available: signed(r, "available_delta")?, locked: signed(r, "locked_delta")? },
                    reference: r.try_get("reference")?,
                    created_at: ts(r.try_get("created_at")?),
                })
            }

            pub(super) fn transfer_row(r: &DbRow) -> Result<TransferRecord> {
                Ok(TransferRecord {
                    id: TransferId::from_uuid(r.try_get("id")?),
                    from_account: AccountId::from_uuid(r.try_get("from_account")?),
                    to_account: AccountId::from_uuid(r.try_get("to_account")?),
                    asset: r.try_get("asset")?,
                    amount: amount(r, "amount")?,
                    state: TransferState::parse(&r.try_get::<String, _>("state")?)
                        .ok_or_else(|| corrupt("transfer state"))?,
                    hold_until: opt_ts(r.try_get("hold_until")?),
                    hold_reasons: r.try_get("hold_reasons")?,
                    requested_via: RequestedVia::parse(&r.try_get::<String, _>("requested_via")?)
                        .ok_or_else(|| corrupt("requested_via"))?,
                    session_id: r.try_get::<Option<uuid::Uuid>, _>("session_id")?.map(SessionId::from_uuid),
                    api_key_id: r.try_get("api_key_id")?,
                    device_id: r.try_get::<Option<uuid::Uuid>, _>("device_id")?.map(DeviceId::from_uuid),
                    ip: ip(r.try_get("ip")?),
                    idempotency_key: r.try_get("idempotency_key")?,
                    created_at: ts(r.try_get("created_at")?),
                    settled_at: opt_ts(r.try_get("settled_at")?),
                    cancelled_at: opt_ts(r.try_get("cancelled_at")?),
                    cancelled_by: r.try_get("cancelled_by")?,
                    updated_at: ts(r.try_get("updated_at")?),
                })
            }

            fn service_token_row(r: &DbRow) -> Result<ServiceTokenRecord> {
                Ok(ServiceTokenRecord {
                    id: ServiceTokenId::from_uuid(r.try_get("id")?),
                    name: r.try_get("name")?,
                    token_hash: hash32(r.try_get("token_hash")?)?,
                    created_at: ts(r.try_get("created_at")?),
                    revoked_at: opt_ts(r.try_get("revoked_at")?),
                })
            }

            #[async_trait::async_trait]
            impl MoneyTx for $tx {
                async fn lock_balance(&mut self, account: AccountId, asset: &str, now: Timestamp) -> Result<Balance> {
                    // One statement makes the row if missing and reads it; on PostgreSQL the
                    // conflict's no-op update takes the row lock a `FOR UPDATE` would.
                    let r = sqlx::query(concat!(
                        "INSERT INTO balances (account_id, asset, available, locked, updated_at) \
                         VALUES ($1, $2, '0'", $n, ", '0'", $n, ", $3) \
                         ON CONFLICT (account_id, asset) DO UPDATE SET account_id = excluded.account_id \
                         RETURNING CAST(available AS TEXT) AS available, CAST(locked AS TEXT) AS locked"
                    ))
                    .bind(account.as_uuid())
                    .bind(asset)
                    .bind(micros(now))
                    .fetch_one(self.conn().await?)
                    .await?;
                    balance_row(&r)
                }

                async fn write_balance(
                    &mut self,
                    account: AccountId,
                    asset: &str,
                    balance: Balance,
                    entry: NewEntry<'_>,
                    now: Timestamp,
                ) -> Result<()> {
                    let NewEntry { kind, delta, reference } = entry;
                    self.write(&["balances", "ledger_entries"], balance_write_sql!($mode, $n), |q| {
                        q.bind(balance.available.to_storage())
                            .bind(balance.locked.to_storage())
                            .bind(micros(now))
                            .bind(account.as_uuid())
                            .bind(asset)
                            .bind(kind.as_str())
                            .bind(delta.available.to_storage())
                            .bind(delta.locked.to_storage())
                            .bind(reference)
                    })
                    .await
                }

                async fn record_ledger_event(
                    &mut self,
                    event_id: &str,
                    digest: &[u8],
                    now: Timestamp,
                ) -> Result<Option<Vec<u8>>> {
                    let inserted = sqlx::query(
                        "INSERT INTO ledger_events (event_id, digest, received_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (event_id) DO NOTHING",
                    )
                    .bind(event_id)
                    .bind(digest)
                    .bind(micros(now))
                    .execute(self.conn().await?)
                    .await?
                    .rows_affected();
                    if inserted == 1 {
                        return Ok(None);
                    }
                    let earlier: Vec<u8> = sqlx::query_scalar("SELECT digest FROM ledger_events WHERE event_id = $1")
                        .bind(event_id)
                        .fetch_one(self.conn().await?)
                        .await?;
                    Ok(Some(earlier))
                }

                async fn insert_withdrawal(&mut self, w: &WithdrawalRecord) -> Result<()> {
                    let inserted = sqlx::query(concat!(
                        "INSERT INTO withdrawals (id, account_id, asset, network, address, memo, amount, fee, state, \
                         requested_via, session_id, api_key_id, device_id, ip, idempotency_key, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7", $n, ", $8", $n, ", $9, $10, $11, $12, $13, $14, $15, $16, $16) \
                         ON CONFLICT DO NOTHING"
                    ))
                    .bind(w.id.as_uuid())
                    .bind(w.account_id.as_uuid())
                    .bind(&w.asset)
                    .bind(&w.network)
                    .bind(&w.address)
                    .bind(&w.memo)
                    .bind(w.amount.to_storage())
                    .bind(w.fee.to_storage())
                    .bind(w.state.as_str())
                    .bind(w.requested_via.as_str())
                    .bind(w.session_id.map(|s| s.as_uuid()))
                    .bind(&w.api_key_id)
                    .bind(w.device_id.map(|d| d.as_uuid()))
                    .bind(w.ip.map(|i| i.to_string()))
                    .bind(&w.idempotency_key)
                    .bind(micros(w.created_at))
                    .execute(self.conn().await?)
                    .await?
                    .rows_affected();
                    // DO NOTHING rather than a unique violation: PostgreSQL would abort the
                    // transaction, and the caller wants to read the earlier withdrawal next.
                    if inserted == 0 {
                        return Err(crate::StoreError::Conflict("withdrawal"));
                    }
                    self.update_withdrawal(w).await
                }

                async fn lock_withdrawal(&mut self, id: WithdrawalId) -> Result<Option<WithdrawalRecord>> {
                    let row = sqlx::query(concat!("SELECT ", withdrawal_columns!(), " FROM withdrawals WHERE id = $1", $fu))
                        .bind(id.as_uuid())
                        .fetch_optional(self.conn().await?)
                        .await?;
                    row.as_ref().map(withdrawal_row).transpose()
                }

                async fn update_withdrawal(&mut self, w: &WithdrawalRecord) -> Result<()> {
                    sqlx::query(
                        "UPDATE withdrawals SET state = $1, hold_until = $2, hold_reasons = $3, txid = $4, \
                         confirmed_at = $5, queued_at = $6, processing_at = $7, broadcast_at = $8, completed_at = $9, \
                         cancelled_at = $10, cancelled_by = $11, intercept = $12, failure = $13, updated_at = $14 \
                         WHERE id = $15",
                    )
                    .bind(w.state.as_str())
                    .bind(w.hold_until.map(micros))
                    .bind(&w.hold_reasons)
                    .bind(&w.txid)
                    .bind(w.confirmed_at.map(micros))
                    .bind(w.queued_at.map(micros))
                    .bind(w.processing_at.map(micros))
                    .bind(w.broadcast_at.map(micros))
                    .bind(w.completed_at.map(micros))
                    .bind(w.cancelled_at.map(micros))
                    .bind(&w.cancelled_by)
                    .bind(&w.intercept)
                    .bind(&w.failure)
                    .bind(micros(w.updated_at))
                    .bind(w.id.as_uuid())
                    .execute(self.conn().await?)
                    .await?;
                    Ok(())
                }

                async fn withdrawal_by_idempotency_key(
                    &mut self,
                    account: AccountId,
                    key: &str,
                ) -> Result<Option<WithdrawalRecord>> {
                    let row = sqlx::query(concat!(
                        "SELECT ", withdrawal_columns!(), " FROM withdrawals WHERE account_id = $1 AND idempotency_key = $2"
                    ))
                    .bind(account.as_uuid())
                    .bind(key)
                    .fetch_optional(self.conn().await?)
                    .await?;
                    row.as_ref().map(withdrawal_row).transpose()
                }

                async fn withdrawn_since(
                    &mut self,
                    account: AccountId,
                    asset: &str,
                    since: Timestamp,
                ) -> Result<Vec<Amount>> {
                    let rows = sqlx::query(
                        "SELECT CAST(amount AS TEXT) AS amount FROM withdrawals \
                         WHERE account_id = $1 AND asset = $2 AND created_at >= $3 \
                         AND state NOT IN ('cancelled', 'rejected', 'failed')",
                    )
                    .bind(account.as_uuid())
                    .bind(asset)
                    .bind(micros(since))
                    .fetch_all(self.conn().await?)
                    .await?;
                    rows.iter().map(|r| amount(r, "amount")).collect()
                }

                async fn address_used_before(
                    &mut self,
                    account: AccountId,
                    asset: &str,
                    network: &str,
                    address: &str,
                ) -> Result<bool> {
                    let n: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM withdrawals WHERE account_id = $1 AND asset = $2 AND network = $3 \
                         AND address = $4 AND state IN ('broadcast', 'confirmed')",
                    )
                    .bind(account.as_uuid())
                    .bind(asset)
                    .bind(network)
                    .bind(address)
                    .fetch_one(self.conn().await?)
                    .await?;
                    Ok(n > 0)
                }

                async fn insert_service_token(&mut self, t: &ServiceTokenRecord) -> Result<()> {
                    sqlx::query(
                        "INSERT INTO service_tokens (id, name, token_hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(t.id.as_uuid())
                    .bind(&t.name)
                    .bind(t.token_hash.as_bytes())
                    .bind(micros(t.created_at))
                    .bind(t.revoked_at.map(micros))
                    .execute(self.conn().await?)
                    .await
                    .map_err(|e| conflict_or(e, "service token"))?;
                    Ok(())
                }

                async fn insert_transfer(&mut self, t: &TransferRecord) -> Result<()> {
                    let inserted = sqlx::query(concat!(
                        "INSERT INTO transfers (id, from_account, to_account, asset, amount, state, requested_via, \
                         session_id, api_key_id, device_id, ip, idempotency_key, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5", $n, ", $6, $7, $8, $9, $10, $11, $12, $13, $13) ON CONFLICT DO NOTHING"
                    ))
                    .bind(t.id.as_uuid())
                    .bind(t.from_account.as_uuid())
                    .bind(t.to_account.as_uuid())
                    .bind(&t.asset)
                    .bind(t.amount.to_storage())
                    .bind(t.state.as_str())
                    .bind(t.requested_via.as_str())
                    .bind(t.session_id.map(|s| s.as_uuid()))
                    .bind(&t.api_key_id)
                    .bind(t.device_id.map(|d| d.as_uuid()))
                    .bind(t.ip.map(|i| i.to_string()))
                    .bind(&t.idempotency_key)
                    .bind(micros(t.created_at))
                    .execute(self.conn().await?)
                    .await?
                    .rows_affected();
                    if inserted == 0 {
                        return Err(crate::StoreError::Conflict("transfer"));
                    }
                    self.update_transfer(t).await
                }

                async fn lock_transfer(&mut self, id: TransferId) -> Result<Option<TransferRecord>> {
                    let row = sqlx::query(concat!("SELECT ", transfer_columns!(), " FROM transfers WHERE id = $1", $fu))
                        .bind(id.as_uuid())
                        .fetch_optional(self.conn().await?)
                        .await?;
                    row.as_ref().map(transfer_row).transpose()
                }

                async fn update_transfer(&mut self, t: &TransferRecord) -> Result<()> {
                    sqlx::query(
                        "UPDATE transfers SET state = $1, hold_until = $2, hold_reasons = $3, settled_at = $4, \
                         cancelled_at = $5, cancelled_by = $6, updated_at = $7 WHERE id = $8",
                    )
                    .bind(t.state.as_str())
                    .bind(t.hold_until.map(micros))
                    .bind(&t.hold_reasons)
                    .bind(t.settled_at.map(micros))
                    .bind(t.cancelled_at.map(micros))
                    .bind(&t.cancelled_by)
                    .bind(micros(t.updated_at))
                    .bind(t.id.as_uuid())
                    .execute(self.conn().await?)
                    .await?;
                    Ok(())
                }

                async fn transfer_by_idempotency_key(
                    &mut self,
                    account: AccountId,
                    key: &str,
                ) -> Result<Option<TransferRecord>> {
                    let row = sqlx::query(concat!(
                        "SELECT ", transfer_columns!(), " FROM transfers WHERE from_account = $1 AND idempotency_key = $2"
                    ))
                    .bind(account.as_uuid())
                    .bind(key)
                    .fetch_optional(self.conn().await?)
                    .await?;
                    row.as_ref().map(transfer_row).transpose()
                }

                async fn transferred_since(
                    &mut self,
                    account: AccountId,
                    asset: &str,
                    since: Timestamp,
                ) -> Result<Vec<Amount>> {
                    let rows = sqlx::query(
                        "SELECT CAST(amount AS TEXT) AS amount FROM transfers \
                         WHERE from_account = $1 AND asset = $2 AND created_at >= $3 AND state <> 'cancelled'",
                    )
                    .bind(account.as_uuid())
                    .bind(asset)
                    .bind(micros(since))
                    .fetch_all(self.conn().await?)
                    .await?;
                    rows.iter().map(|r| amount(r, "amount")).collect()
                }

                async fn insert_price(&mut self, asset: &str, at: Timestamp, price: Amount) -> Result<bool> {
                    let done = sqlx::query(concat!(
                        "INSERT INTO prices (asset, at, price) VALUES ($1, $2, $3", $n, ") ON CONFLICT (asset, at) DO NOTHING"
                    ))
                    .bind(asset)
                    .bind(micros(at))
                    .bind(price.to_storage())
                    .execute(self.conn().await?)
                    .await?;
                    Ok(done.rows_affected() == 1)
                }
            }

            #[async_trait::async_trait]
            impl MoneyReader for $backend {
                async fn prices_between(&self, from: Timestamp, to: Timestamp, limit: u32) -> Result<Vec<PriceRecord>> {
                    let rows = sqlx::query(
                        "SELECT asset, at, CAST(price AS TEXT) AS price FROM prices \
                         WHERE at >= $1 AND at <= $2 ORDER BY at, asset LIMIT CAST($3 AS BIGINT)",
                    )
                    .bind(micros(from))
                    .bind(micros(to))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter()
                        .map(|r| Ok(PriceRecord { asset: r.try_get("asset")?, at: ts(r.try_get("at")?), price: amount(r, "price")? }))
                        .collect()
                }

                async fn balances(&self, account: AccountId) -> Result<Vec<(String, Balance)>> {
                    let rows = sqlx::query(
                        "SELECT asset, CAST(available AS TEXT) AS available, CAST(locked AS TEXT) AS locked \
                         FROM balances WHERE account_id = $1 ORDER BY asset",
                    )
                    .bind(account.as_uuid())
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter().map(|r| Ok((r.try_get("asset")?, balance_row(r)?))).collect()
                }

                async fn ledger_entries(&self, account: AccountId, limit: u32) -> Result<Vec<LedgerEntryRecord>> {
                    let rows = sqlx::query(
                        "SELECT seq, account_id, asset, kind, CAST(available_delta AS TEXT) AS available_delta, \
                         CAST(locked_delta AS TEXT) AS locked_delta, reference, created_at \
                         FROM ledger_entries WHERE account_id = $1 ORDER BY seq DESC LIMIT CAST($2 AS BIGINT)",
                    )
                    .bind(account.as_uuid())
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter().map(entry_row).collect()
                }

                async fn withdrawals(&self, account: AccountId, limit: u32) -> Result<Vec<WithdrawalRecord>> {
                    let rows = sqlx::query(concat!(
                        "SELECT ", withdrawal_columns!(),
                        " FROM withdrawals WHERE account_id = $1 ORDER BY created_at DESC, id LIMIT CAST($2 AS BIGINT)"
                    ))
                    .bind(account.as_uuid())
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter().map(withdrawal_row).collect()
                }

                async fn withdrawal(&self, id: WithdrawalId) -> Result<Option<WithdrawalRecord>> {
                    let row = sqlx::query(concat!("SELECT ", withdrawal_columns!(), " FROM withdrawals WHERE id = $1"))
                        .bind(id.as_uuid())
                        .fetch_optional(&self.pool)
                        .await?;
                    row.as_ref().map(withdrawal_row).transpose()
                }

                async fn withdrawals_due(
                    &self,
                    state: WithdrawalState,
                    due: Timestamp,
                    limit: u32,
                ) -> Result<Vec<WithdrawalId>> {
                    // A final state is never due; the others are those the `withdrawals_moving`
                    // index holds, named here as its condition names them (as ORs, migration
                    // 0055) so the planner may use it.
                    if state.is_final() {
                        return Ok(Vec::new());
                    }
                    let ids: Vec<uuid::Uuid> = sqlx::query_scalar(
                        "SELECT id FROM withdrawals WHERE state = $1 \
                         AND (state = 'requested' OR state = 'awaiting_confirmation' OR state = 'held' OR state = 'queued' OR state = 'processing' OR state = 'broadcast') \
                         AND (CASE WHEN state = 'held' THEN hold_until ELSE updated_at END) <= $2 \
                         ORDER BY updated_at, id LIMIT CAST($3 AS BIGINT)",
                    )
                    .bind(state.as_str())
                    .bind(micros(due))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(ids.into_iter().map(WithdrawalId::from_uuid).collect())
                }

                async fn service_token_by_hash(&self, hash: &TokenHash) -> Result<Option<ServiceTokenRecord>> {
                    let row = sqlx::query(
                        "SELECT id, name, token_hash, created_at, revoked_at FROM service_tokens WHERE token_hash = $1",
                    )
                    .bind(hash.as_bytes())
                    .fetch_optional(&self.pool)
                    .await?;
                    row.as_ref().map(service_token_row).transpose()
                }

                async fn transfers(&self, account: AccountId, limit: u32) -> Result<Vec<TransferRecord>> {
                    let rows = sqlx::query(concat!(
                        "SELECT ", transfer_columns!(),
                        " FROM transfers WHERE from_account = $1 OR to_account = $1 ORDER BY created_at DESC, id LIMIT CAST($2 AS BIGINT)"
                    ))
                    .bind(account.as_uuid())
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter().map(transfer_row).collect()
                }

                async fn transfer(&self, id: TransferId) -> Result<Option<TransferRecord>> {
                    let row = sqlx::query(concat!("SELECT ", transfer_columns!(), " FROM transfers WHERE id = $1"))
                        .bind(id.as_uuid())
                        .fetch_optional(&self.pool)
                        .await?;
                    row.as_ref().map(transfer_row).transpose()
                }

                async fn transfers_due(&self, due: Timestamp, limit: u32) -> Result<Vec<TransferId>> {
                    let ids: Vec<uuid::Uuid> = sqlx::query_scalar(
                        "SELECT id FROM transfers WHERE state = 'held' AND hold_until <= $1 ORDER BY hold_until, id LIMIT CAST($2 AS BIGINT)",
                    )
                    .bind(micros(due))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(ids.into_iter().map(TransferId::from_uuid).collect())
                }
            }
        }
    };
}
pub(crate) use impl_money_sql;
