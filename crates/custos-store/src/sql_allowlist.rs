//! The allowlist tables' SQL, written once and expanded per backend like [`crate::sql_api_keys`].
//! Both backends take the same statements (`ON CONFLICT … DO UPDATE` is SQLite ≥ 3.24 and
//! PostgreSQL alike).

macro_rules! allowlist_columns {
    () => {
        "id, account_id, asset, network, address, memo, label, created_at, confirm_by, confirmed_at, usable_from, removed_at"
    };
}
pub(crate) use allowlist_columns;

macro_rules! impl_allowlist_sql {
    ($db:ty, $backend:ident, $tx:ident) => {
        mod allowlist_sql {
            use custos_core::Timestamp;
            use custos_core::ids::{AccountId, AllowlistEntryId};
            use sqlx::Row;

            use super::{$backend, $tx};
            use crate::Result;
            use crate::allowlist::*;
            use crate::backend::{micros, opt_ts, ts};
            use crate::sql_allowlist::allowlist_columns;

            type DbRow = <$db as sqlx::Database>::Row;

            fn entry_row(r: &DbRow) -> Result<AllowlistEntryRecord> {
                Ok(AllowlistEntryRecord {
                    id: AllowlistEntryId::from_uuid(r.try_get("id")?),
                    account_id: AccountId::from_uuid(r.try_get("account_id")?),
                    asset: r.try_get("asset")?,
                    network: r.try_get("network")?,
                    address: r.try_get("address")?,
                    memo: r.try_get("memo")?,
                    label: r.try_get("label")?,
                    created_at: ts(r.try_get("created_at")?),
                    confirm_by: ts(r.try_get("confirm_by")?),
                    confirmed_at: opt_ts(r.try_get("confirmed_at")?),
                    usable_from: opt_ts(r.try_get("usable_from")?),
                    removed_at: opt_ts(r.try_get("removed_at")?),
                })
            }

            fn mode_row(r: Option<&DbRow>) -> Result<AllowlistModeRecord> {
                match r {
                    None => Ok(AllowlistModeRecord::default()),
                    Some(r) => Ok(AllowlistModeRecord {
                        enabled_at: opt_ts(r.try_get("enabled_at")?),
                        off_at: opt_ts(r.try_get("off_at")?),
                    }),
                }
            }

            #[async_trait::async_trait]
            impl AllowlistTx for $tx {
                async fn insert_allowlist_entry(&mut self, e: &AllowlistEntryRecord) -> Result<()> {
                    sqlx::query(concat!(
                        "INSERT INTO allowlist_entries (", allowlist_columns!(), ") \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
                    ))
                    .bind(e.id.as_uuid())
                    .bind(e.account_id.as_uuid())
                    .bind(&e.asset)
                    .bind(&e.network)
                    .bind(&e.address)
                    .bind(&e.memo)
                    .bind(&e.label)
                    .bind(micros(e.created_at))
                    .bind(micros(e.confirm_by))
                    .bind(e.confirmed_at.map(micros))
                    .bind(e.usable_from.map(micros))
                    .bind(e.removed_at.map(micros))
                    .execute(self.conn().await?)
                    .await?;
                    Ok(())
                }

                async fn allowlist_entries_of(&mut self, account: AccountId) -> Result<Vec<AllowlistEntryRecord>> {
                    let rows = sqlx::query(concat!(
                        "SELECT ", allowlist_columns!(),
                        " FROM allowlist_entries WHERE account_id = $1 AND removed_at IS NULL ORDER BY created_at, id"
                    ))
                    .bind(account.as_uuid())
                    .fetch_all(self.conn().await?)
                    .await?;
                    rows.iter().map(entry_row).collect()
                }

                async fn allowlist_entry_of(
                    &mut self,
                    account: AccountId,
                    id: AllowlistEntryId,
                ) -> Result<Option<AllowlistEntryRecord>> {
                    let row = sqlx::query(concat!(
                        "SELECT ", allowlist_columns!(), " FROM allowlist_entries WHERE id = $1 AND account_id = $2"
                    ))
                    .bind(id.as_uuid())
                    .bind(account.as_uuid())
                    .fetch_optional(self.conn().await?)
                    .await?;
                    row.as_ref().map(entry_row).transpose()
                }

                async fn confirm_allowlist_entry(
                    &mut self,
                    id: AllowlistEntryId,
                    at: Timestamp,
                    usable_from: Timestamp,
                ) -> Result<bool> {
                    let n = sqlx::query(
                        "UPDATE allowlist_entries SET confirmed_at = $1, usable_from = $2 \
                         WHERE id = $3 AND confirmed_at IS NULL AND removed_at IS NULL",
                    )
                    .bind(micros(at))
                    .bind(micros(usable_from))
                    .bind(id.as_uuid())
                    .execute(self.conn().await?)
                    .await?
                    .rows_affected();
                    Ok(n == 1)
                }

                async fn remove_allowlist_entry(
                    &mut self,
                    account: AccountId,
                    id: AllowlistEntryId,
                    at: Timestamp,
                ) -> Result<bool> {
                    let n = sqlx::query(
                        "UPDATE allowlist_entries SET removed_at = $1 \
                         WHERE id = $2 AND account_id = $3 AND removed_at IS NULL",
                    )
                    .bind(micros(at))
                    .bind(id.as_uuid())
                    .bind(account.as_uuid())
                    .execute(self.conn().await?)
                    .await?
                    .rows_affected();
                    Ok(n == 1)
                }

                async fn allowlist_mode_of(&mut self, account: AccountId) -> Result<AllowlistModeRecord> {
                    let row = sqlx::query("SELECT enabled_at, off_at FROM allowlist_modes WHERE account_id = $1")
                        .bind(account.as_uuid())
                        .fetch_optional(self.conn().await?)
                        .await?;
                    mode_row(row.as_ref())
                }

                async fn set_allowlist_mode(
                    &mut self,
                    account: AccountId,
                    mode: AllowlistModeRecord,
                    at: Timestamp,
                ) -> Result<()> {
                    sqlx::query(
                        "INSERT INTO allowlist_modes (account_id, enabled_at, off_at, updated_at) \
                         VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (account_id) DO UPDATE SET \
                         enabled_at = excluded.enabled_at, off_at = excluded.off_at, updated_at = excluded.updated_at",
                    )
                    .bind(account.as_uuid())
                    .bind(mode.enabled_at.map(micros))
                    .bind(mode.off_at.map(micros))
                    .bind(micros(at))
                    .execute(self.conn().await?)
                    .await?;
                    Ok(())
                }
            }

            #[async_trait::async_trait]
            impl AllowlistReader for $backend {
                async fn allowlist_entries(&self, account: AccountId) -> Result<Vec<AllowlistEntryRecord>> {
                    let rows = sqlx::query(concat!(
                        "SELECT ", allowlist_columns!(),
                        " FROM allowlist_entries WHERE account_id = $1 AND removed_at IS NULL \
                         ORDER BY created_at DESC, id"
                    ))
                    .bind(account.as_uuid())
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter().map(entry_row).collect()
                }

                async fn allowlist_mode(&self, account: AccountId) -> Result<AllowlistModeRecord> {
                    let row = sqlx::query("SELECT enabled_at, off_at FROM allowlist_modes WHERE account_id = $1")
                        .bind(account.as_uuid())
                        .fetch_optional(&self.pool)
                        .await?;
                    mode_row(row.as_ref())
                }
            }
        }
    };
}
pub(crate) use impl_allowlist_sql;
