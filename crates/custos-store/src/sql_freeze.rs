//! The freeze tables' SQL, written once and expanded per backend like [`crate::sql_money`]. The
//! set-based statements name the cancellable states literally; they are the states
//! `WithdrawalState::cancellable` and `TransferState::cancellable` accept (the conformance suite
//! checks it).

macro_rules! freeze_columns {
    () => {
        "id, account_id, channel, actor, reason, receipt, audit_chain, audit_seq, frozen_at, unfrozen_at, unfrozen_by, approved_by"
    };
}
pub(crate) use freeze_columns;

/// A freeze row with its receipt: its own copy, or the one its `AccountFrozen` record carries.
/// Followed by the statement's `WHERE` (on `f`) and order.
macro_rules! freeze_select {
    (sqlite) => {
        concat!(
            "SELECT f.id, f.account_id, f.channel, f.actor, f.reason, f.audit_chain, f.audit_seq, f.frozen_at, ",
            "f.unfrozen_at, f.unfrozen_by, f.approved_by, coalesce(f.receipt, json_extract(a.event, '$.receipt')) AS receipt ",
            "FROM freezes f LEFT JOIN audit_records a ON a.chain = f.audit_chain AND a.seq = f.audit_seq "
        )
    };
    (postgres) => {
        concat!(
            "SELECT f.id, f.account_id, f.channel, f.actor, f.reason, f.audit_chain, f.audit_seq, f.frozen_at, ",
            "f.unfrozen_at, f.unfrozen_by, f.approved_by, coalesce(f.receipt, (a.event::json -> 'receipt')::text) AS receipt ",
            "FROM freezes f LEFT JOIN audit_records a ON a.chain = f.audit_chain AND a.seq = f.audit_seq "
        )
    };
}
pub(crate) use freeze_select;

/// The freeze's read: one JSON array per table (a row per session, key, withdrawal and transfer
/// would cost a hand-off per row between SQLite's worker thread and the caller), as the select
/// list of one row. Sessions, keys, withdrawals and transfers come as arrays of columns, in the
/// order `json_rows` names (no key to write, read and match per field). Parameters are [`freeze_sql!`]'s: `$3` account, `$6` the on-chain lookback
/// start, `$7` the contact-change window start. The dialects differ only in their JSON functions
/// and how a UUID prints; rows are sorted by the caller.
macro_rules! freeze_read_sql {
    // Keys an earlier freeze's cut revoked are not live (`sql_api_keys::api_key_select!`).
    (@not_cut) => {
        "AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = $3 AND k.created_at <= a.api_keys_cut_at)"
    };
    (@withdrawals_where) => {
        "WHERE account_id = $3 AND (state IN ('requested', 'awaiting_confirmation', 'held', 'queued', 'processing') OR \
         (state IN ('broadcast', 'confirmed') AND (broadcast_at IS NULL OR broadcast_at >= $5)))"
    };
    (batch) => {
        concat!(
            "(SELECT json_group_array(json_array(hex(id), ip, user_agent, created_at)) ",
            "FROM sessions WHERE account_id = $3 AND revoked_at IS NULL ",
            "AND stamp_at_issue = (SELECT security_stamp FROM accounts WHERE id = $3)) AS sessions, ",
            "(SELECT json_group_array(json_array(id, label, scopes, created_at)) ",
            "FROM api_keys k WHERE k.account_id = $3 AND k.revoked_at IS NULL ", freeze_read_sql!(@not_cut), ") AS api_keys, ",
            "(SELECT json_group_array(json_array(hex(id), state, asset, network, address, CAST(amount AS TEXT), ",
            "CAST(fee AS TEXT), txid, broadcast_at, created_at)) FROM withdrawals ", freeze_read_sql!(@withdrawals_where),
            ") AS withdrawals, ",
            "(SELECT json_group_array(json_array(hex(t.id), t.state, t.asset, CAST(t.amount AS TEXT), a.uid, ",
            "t.created_at)) FROM transfers t ",
            "JOIN accounts a ON a.id = t.to_account WHERE t.from_account = $3 AND t.state IN ('requested', 'held')) AS transfers, ",
            "(SELECT json_group_array(json_object('id', hex(id), 'kind', kind, 'previous', previous, ",
            "'changed_at', changed_at)) FROM contact_changes WHERE account_id = $3 AND changed_at >= $6) AS contact_changes, ",
            "(SELECT json_group_array(json_object('asset', asset, 'available', CAST(available AS TEXT), ",
            "'locked', CAST(locked AS TEXT))) FROM balances WHERE account_id = $3) AS balances"
        )
    };
    (cte) => {
        concat!(
            "(SELECT coalesce(json_agg(json_build_array(id, ip, user_agent, created_at)), '[]')::text ",
            "FROM sessions WHERE account_id = $3 AND revoked_at IS NULL ",
            "AND stamp_at_issue = (SELECT security_stamp FROM accounts WHERE id = $3)) AS sessions, ",
            "(SELECT coalesce(json_agg(json_build_array(id, label, scopes, created_at)), '[]')::text ",
            "FROM api_keys k WHERE k.account_id = $3 AND k.revoked_at IS NULL ", freeze_read_sql!(@not_cut), ") AS api_keys, ",
            "(SELECT coalesce(json_agg(json_build_array(id, state, asset, network, address, amount::text, fee::text, ",
            "txid, broadcast_at, created_at)), '[]')::text FROM withdrawals ",
            freeze_read_sql!(@withdrawals_where), ") AS withdrawals, ",
            "(SELECT coalesce(json_agg(json_build_array(t.id, t.state, t.asset, t.amount::text, a.uid, t.created_at)), ",
            "'[]')::text FROM transfers t ",
            "JOIN accounts a ON a.id = t.to_account WHERE t.from_account = $3 AND t.state IN ('requested', 'held')) AS transfers, ",
            "(SELECT coalesce(json_agg(json_build_object('id', id, 'kind', kind, 'previous', previous, ",
            "'changed_at', changed_at)), '[]')::text FROM contact_changes WHERE account_id = $3 AND changed_at >= $6) AS contact_changes, ",
            "(SELECT coalesce(json_agg(json_build_object('asset', asset, 'available', available::text, ",
            "'locked', locked::text)), '[]')::text FROM b) AS balances"
        )
    };
}
pub(crate) use freeze_read_sql;

/// The freeze: its read, its writes and what they touched, in one trip. $1 status, $2 stamp, $3
/// account, $4 time, $5 on-chain lookback start, $6 contact-change window start. Sessions and API
/// keys are read (those live, for the receipt) but not written: the new stamp ends every session
/// (`SessionRecord::stands`) and the account's key cut, moved to the freeze's time, revokes every
/// key (`sql_api_keys::api_key_select!`), however many there are.
macro_rules! freeze_sql {
    (account) => { "UPDATE accounts SET status = $1, security_stamp = $2, api_keys_cut_at = $4 WHERE id = $3" };
    (withdrawals) => {
        "UPDATE withdrawals SET state = 'cancelled', cancelled_at = $4, cancelled_by = 'freeze', updated_at = $4 \
         WHERE account_id = $3 AND state IN ('requested', 'awaiting_confirmation', 'held', 'queued')"
    };
    (transfers) => {
        "UPDATE transfers SET state = 'cancelled', cancelled_at = $4, cancelled_by = 'freeze', updated_at = $4 \
         WHERE from_account = $3 AND state IN ('requested', 'held')"
    };
    // SQLite: one batch (one trip to its worker thread; `$N` binds by number in every statement of
    // the batch) answering two rows: the read, before the writes, and how many rows the writes
    // changed. `BEGIN IMMEDIATE` keeps every other writer out and the writes select with the
    // read's own predicates, so they touch exactly the rows read that those predicates pick;
    // SQLite's count of changed rows (`total_changes()` after less before) confirms it. The
    // account is left as it is when an earlier freeze of record stands (see `lock_batch`), and
    // then so is everything else: the other writes apply only once the account has this freeze's
    // stamp.
    (batch) => {
        concat!(
            "SELECT total_changes() AS changes_before, ", freeze_read_sql!(batch), "; ",
            freeze_sql!(account), " AND NOT (", freeze_sql!(@of_record), "); ",
            freeze_sql!(withdrawals), " AND ", freeze_sql!(@stamped), "; ",
            freeze_sql!(transfers), " AND ", freeze_sql!(@stamped), "; ",
            "SELECT total_changes() AS changes_after"
        )
    };
    // SQLite, for an account not locked yet: the row `Tx::lock_account` reads (with the head of
    // the account's audit chain, `$7`), and whether an earlier freeze of record stands, as they
    // were before the batch that follows — one trip for the lock and the freeze. The
    // transaction's `BEGIN IMMEDIATE` goes with it.
    (lock_batch) => {
        concat!(
            "SELECT ", crate::backend::account_with_audit_head!(), ", ",
            "(", freeze_sql!(@of_record), ") AS frozen_of_record FROM accounts ",
            crate::backend::account_with_audit_head!(join "$7"),
            "WHERE accounts.id = $3; ",
            freeze_sql!(batch)
        )
    };
    (insert) => {
        concat!(
            "INSERT INTO freezes (", crate::sql_freeze::freeze_columns!(), ") ",
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        )
    };
    (@of_record) => { "status = 'frozen' AND EXISTS (SELECT 1 FROM freezes WHERE account_id = $3)" };
    (@stamped) => { "EXISTS (SELECT 1 FROM accounts WHERE id = $3 AND security_stamp = $2)" };
    // PostgreSQL: one statement answering one row. Data-modifying CTEs all run, referenced or not;
    // the read's subqueries see the snapshot the statement started with, so they read the rows
    // as they were before the writes. The balances are locked as `lock_balance` locks them.
    (cte) => {
        concat!(
            "WITH b AS (SELECT asset, available, locked FROM balances WHERE account_id = $3 FOR UPDATE), ",
            "a AS (", freeze_sql!(account), " RETURNING id), ",
            "w AS (", freeze_sql!(withdrawals), " RETURNING id), ",
            "t AS (", freeze_sql!(transfers), " RETURNING id) ",
            "SELECT ", freeze_read_sql!(cte), ", ",
            "(SELECT coalesce(json_agg(id), '[]')::text FROM w) AS cancelled_withdrawals, ",
            "(SELECT coalesce(json_agg(id), '[]')::text FROM t) AS cancelled_transfers"
        )
    };
}
pub(crate) use freeze_sql;

/// What the freeze's writes touched, from its answer: on SQLite the rows read that the writes'
/// predicates pick, once the count of changed rows agrees (see `freeze_sql!(batch)`); on
/// PostgreSQL the ids its CTEs returned.
macro_rules! freeze_applied {
    (batch, $read:expr, $touched:expr, $rows:expr, $part:expr) => {{
        let before: i64 = $read.try_get("changes_before")?;
        let after: i64 = $touched.try_get("changes_after")?;
        crate::json_rows::applied_as_read($rows, after - before)?
    }};
    (cte, $read:expr, $touched:expr, $rows:expr, $part:expr) => {{
        let _one_row = $read;
        crate::json_rows::applied(
            $rows,
            &$part($touched, "cancelled_withdrawals")?,
            &$part($touched, "cancelled_transfers")?,
        )?
    }};
}
pub(crate) use freeze_applied;

/// [`crate::FreezeTx::lock_and_freeze_account`]. SQLite: one batch (`freeze_sql!(lock_batch)`)
/// answering the locked row (none without the account), the read and the count of changed rows.
/// PostgreSQL: the lock, then the freeze's one statement unless the account is frozen.
macro_rules! lock_and_freeze {
    (batch, $self:ident, $account:ident, $w:ident) => {{
        let chain = custos_core::audit::Chain::Account($account).key();
        let query =
            $self.with_queue(freeze_sql!(lock_batch), |q| bind_freeze(q, $account, &$w).bind(&chain))?;
        let (locked, rows, applied) = run_freeze(query, $self.raw()?, true).await?;
        let Some(locked) = &locked else { return Ok(None) };
        let found = super::account_row(locked)?;
        if !$self.audit_heads.contains_key(&chain) {
            $self.audit_heads.insert(chain, crate::backend::audit_head_of!(locked));
        }
        if locked.try_get::<bool, _>("frozen_of_record")? {
            return Ok(Some((found, None)));
        }
        Ok(Some((found, Some((rows, applied)))))
    }};
    (cte, $self:ident, $account:ident, $w:ident) => {{
        use crate::backend::Tx;
        let Some(found) = $self.lock_account($account).await? else { return Ok(None) };
        if found.status == AccountStatus::Frozen {
            return Ok(Some((found, None)));
        }
        let frozen = $self.freeze_account($account, $w).await?;
        Ok(Some((found, Some(frozen))))
    }};
}
pub(crate) use lock_and_freeze;

macro_rules! impl_freeze_sql {
    ($db:ty, $backend:ident, $tx:ident, $mode:ident, $dialect:ident) => {
        mod freeze_sql {
            use custos_core::Timestamp;
            use custos_core::crypto::TokenHash;
            use custos_core::freeze::FreezeChannel;
            use custos_core::ids::{AccountId, FreezeId};
            use custos_core::login::AccountStatus;
            use sqlx::Row;

            use super::{$backend, $tx};
            use crate::Result;
            use crate::backend::{corrupt, hash32, micros, opt_ts, ts};
            use crate::freeze::*;
            use crate::sql_freeze::{freeze_applied, freeze_read_sql, freeze_select, freeze_sql, lock_and_freeze};
            use crate::AccountRecord;

            type DbRow = <$db as sqlx::Database>::Row;

            fn freeze_row(r: &DbRow) -> Result<FreezeRecord> {
                // Missing when the audit record it names is: never, as records are append-only.
                let receipt: Option<String> = r.try_get("receipt")?;
                let receipt = receipt.ok_or_else(|| corrupt("freeze receipt"))?;
                let chain: Option<String> = r.try_get("audit_chain")?;
                let seq: Option<i64> = r.try_get("audit_seq")?;
                Ok(FreezeRecord {
                    id: FreezeId::from_uuid(r.try_get("id")?),
                    account_id: AccountId::from_uuid(r.try_get("account_id")?),
                    channel: FreezeChannel::parse(&r.try_get::<String, _>("channel")?)
                        .ok_or_else(|| corrupt("freeze channel"))?,
                    actor: r.try_get("actor")?,
                    reason: r.try_get("reason")?,
                    receipt: serde_json::from_str(&receipt).map_err(|_| corrupt("freeze receipt"))?,
                    receipt_record: chain.zip(seq).map(|(chain, seq)| AuditPosition { chain, seq }),
                    frozen_at: ts(r.try_get("frozen_at")?),
                    unfrozen_at: opt_ts(r.try_get("unfrozen_at")?),
                    unfrozen_by: r.try_get("unfrozen_by")?,
                    approved_by: r.try_get("approved_by")?,
                })
            }

            /// Binds `freeze_sql!`'s `$1` to `$6`.
            fn bind_freeze<'q>(
                q: crate::deferred::Binder<'q, $db>,
                account: AccountId,
                w: &FreezeWrite<'_>,
            ) -> crate::deferred::Binder<'q, $db> {
                q.bind(AccountStatus::Frozen.as_str())
                    .bind(w.stamp.to_vec())
                    .bind(account.as_uuid())
                    .bind(micros(w.at))
                    .bind(micros(w.on_chain_since))
                    .bind(micros(w.contacts_since))
            }

            /// A freeze's answer: the locked account's row when the batch locks it, the rows read and
            /// what the writes touched.
            type Answer = (Option<DbRow>, FreezeRows, FreezeApplied);

            /// Runs a freeze's batch (or statement), decoding the read the moment its row arrives:
            /// on SQLite the writes after it in the batch run on the connection's thread meanwhile.
            /// Rows are told apart by their columns: the lock's (when `locking`; missing without the
            /// account), the read, and the one saying what the writes touched (on PostgreSQL, the
            /// read's own).
            async fn run_freeze(
                query: sqlx::query::Query<'static, $db, <$db as sqlx::Database>::Arguments>,
                conn: &mut <$db as sqlx::Database>::Connection,
                locking: bool,
            ) -> Result<Answer> {
                use futures_util::TryStreamExt;
                let part = |r: &DbRow, col: &str| -> Result<String> { Ok(r.try_get::<String, _>(col)?) };
                let has = |r: &DbRow, col: &str| r.try_column(col).is_ok();
                let (mut locked, mut read, mut touched, mut rows) = (None, None, None, None);
                let mut answer = query.fetch(conn);
                while let Some(r) = answer.try_next().await.map_err(|e| crate::conflict_or(e, "queued write"))? {
                    if has(&r, "frozen_of_record") {
                        locked = Some(r);
                        continue;
                    }
                    if has(&r, "sessions") {
                        let mut read_rows = crate::json_rows::rows(
                            &part(&r, "sessions")?,
                            &part(&r, "api_keys")?,
                            &part(&r, "withdrawals")?,
                            &part(&r, "transfers")?,
                        )?;
                        read_rows.contact_changes = crate::json_rows::contact_changes(&part(&r, "contact_changes")?)?;
                        read_rows.balances = crate::json_rows::balances(&part(&r, "balances")?)?;
                        rows = Some(read_rows);
                    }
                    if has(&r, "changes_after") || has(&r, "cancelled_withdrawals") {
                        touched = Some(r);
                    } else {
                        read = Some(r);
                    }
                }
                let (Some(rows), Some(touched)) = (rows, touched) else { return Err(corrupt("freeze answer")) };
                // No account to lock, or one an earlier freeze of record left frozen (left as it
                // was): the writes changed nothing, and nothing is applied.
                let left_alone = match &locked {
                    Some(l) => l.try_get::<bool, _>("frozen_of_record")?,
                    None => locking,
                };
                if left_alone {
                    return Ok((locked, rows, FreezeApplied::default()));
                }
                let read = read.as_ref().unwrap_or(&touched);
                let applied = freeze_applied!($mode, read, &touched, &rows, part);
                Ok((locked, rows, applied))
            }

            #[async_trait::async_trait]
            impl FreezeTx for $tx {
                async fn freeze_account(&mut self, account: AccountId, w: FreezeWrite<'_>) -> Result<(FreezeRows, FreezeApplied)> {
                    // With whatever is queued before it: one trip.
                    let query = self.with_queue(freeze_sql!($mode), |q| bind_freeze(q, account, &w))?;
                    let (_, rows, applied) = run_freeze(query, self.raw()?, false).await?;
                    Ok((rows, applied))
                }

                async fn lock_and_freeze_account(
                    &mut self,
                    account: AccountId,
                    w: FreezeWrite<'_>,
                ) -> Result<Option<(AccountRecord, Option<(FreezeRows, FreezeApplied)>)>> {
                    lock_and_freeze!($mode, self, account, w)
                }

                async fn set_account_status(&mut self, account: AccountId, status: AccountStatus) -> Result<()> {
                    sqlx::query("UPDATE accounts SET status = $1 WHERE id = $2")
                        .bind(status.as_str())
                        .bind(account.as_uuid())
                        .execute(self.conn().await?)
                        .await?;
                    Ok(())
                }

                async fn set_status_and_stamp(&mut self, account: AccountId, status: AccountStatus, stamp: &[u8]) -> Result<()> {
                    sqlx::query("UPDATE accounts SET status = $1, security_stamp = $2 WHERE id = $3")
                        .bind(status.as_str())
                        .bind(stamp)
                        .bind(account.as_uuid())
                        .execute(self.conn().await?)
                        .await?;
                    Ok(())
                }

                async fn insert_freeze(&mut self, f: &FreezeRecord) -> Result<()> {
                    // Stored once: in the audit record when the freeze names one.
                    let receipt = match &f.receipt_record {
                        Some(_) => None,
                        None => Some(serde_json::to_string(&f.receipt).map_err(|e| corrupt(&e.to_string()))?),
                    };
                    self.write(&["freezes"], freeze_sql!(insert), |q| {
                        q
                            .bind(f.id.as_uuid())
                            .bind(f.account_id.as_uuid())
                            .bind(f.channel.as_str())
                            .bind(&f.actor)
                            .bind(&f.reason)
                            .bind(receipt)
                            .bind(f.receipt_record.as_ref().map(|p| p.chain.as_str()))
                            .bind(f.receipt_record.as_ref().map(|p| p.seq))
                            .bind(micros(f.frozen_at))
                            .bind(f.unfrozen_at.map(micros))
                            .bind(&f.unfrozen_by)
                            .bind(&f.approved_by)
                    })
                    .await?;
                    Ok(())
                }

                async fn latest_freeze(&mut self, account: AccountId) -> Result<Option<FreezeRecord>> {
                    let row = sqlx::query(concat!(
                        freeze_select!($dialect), "WHERE f.account_id = $1 ORDER BY f.frozen_at DESC, f.id DESC LIMIT 1"
                    ))
                    .bind(account.as_uuid())
                    .fetch_optional(self.conn().await?)
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
                    .execute(self.conn().await?)
                    .await?
                    .rows_affected();
                    Ok(n == 1)
                }

                async fn set_panic_code(&mut self, account: AccountId, hash: Option<&TokenHash>, at: Timestamp) -> Result<()> {
                    sqlx::query("DELETE FROM panic_codes WHERE account_id = $1")
                        .bind(account.as_uuid())
                        .execute(self.conn().await?)
                        .await?;
                    if let Some(h) = hash {
                        sqlx::query("INSERT INTO panic_codes (account_id, code_hash, created_at) VALUES ($1, $2, $3)")
                            .bind(account.as_uuid())
                            .bind(h.as_bytes())
                            .bind(micros(at))
                            .execute(self.conn().await?)
                            .await?;
                    }
                    Ok(())
                }

                async fn panic_code_hash(&mut self, account: AccountId) -> Result<Option<TokenHash>> {
                    let h: Option<Vec<u8>> = sqlx::query_scalar("SELECT code_hash FROM panic_codes WHERE account_id = $1")
                        .bind(account.as_uuid())
                        .fetch_optional(self.conn().await?)
                        .await?;
                    h.map(hash32).transpose()
                }
            }

            #[async_trait::async_trait]
            impl FreezeReader for $backend {
                async fn freezes(&self, account: AccountId) -> Result<Vec<FreezeRecord>> {
                    let rows = sqlx::query(concat!(
                        freeze_select!($dialect), "WHERE f.account_id = $1 ORDER BY f.frozen_at DESC, f.id DESC"
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
