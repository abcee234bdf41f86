//! The API-key tables' SQL, written once and expanded per backend like [`crate::sql_money`].
//! No dialect fragments are needed: both backends take the same statements.

macro_rules! api_key_columns {
    () => {
        "id, account_id, label, kind, public_key, secret_sealed, scopes, ip_allowlist, created_at, valid_until, revoked_at, revoke_reason, last_used_at, last_used_ip, created_by_session, created_ip"
    };
}
pub(crate) use api_key_columns;

/// A key as every read sees it: revoked (reason `account_frozen`, at the cut) when it was created
/// at or before its account's `api_keys_cut_at`, which a freeze moves instead of writing each key.
/// Followed by the statement's `WHERE` (on `k`).
macro_rules! api_key_select {
    () => {
        concat!(
            "SELECT k.id, k.account_id, k.label, k.kind, k.public_key, k.secret_sealed, k.scopes, k.ip_allowlist, ",
            "k.created_at, k.valid_until, ",
            "CASE WHEN k.revoked_at IS NULL AND k.created_at <= a.api_keys_cut_at THEN a.api_keys_cut_at ",
            "ELSE k.revoked_at END AS revoked_at, ",
            "CASE WHEN k.revoked_at IS NULL AND k.created_at <= a.api_keys_cut_at THEN 'account_frozen' ",
            "ELSE k.revoke_reason END AS revoke_reason, ",
            "k.last_used_at, k.last_used_ip, k.created_by_session, k.created_ip ",
            "FROM api_keys k JOIN accounts a ON a.id = k.account_id "
        )
    };
}
pub(crate) use api_key_select;

/// `api_keys` rows the account's cut has not revoked (for statements on the bare table).
macro_rules! api_key_not_cut {
    () => {
        "NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = api_keys.account_id AND api_keys.created_at <= a.api_keys_cut_at)"
    };
}
pub(crate) use api_key_not_cut;

macro_rules! impl_api_keys_sql {
    ($db:ty, $backend:ident, $tx:ident) => {
        mod api_keys_sql {
            use std::net::IpAddr;

            use custos_core::Timestamp;
            use custos_core::api_key::{ApiKeyId, IpAllowlist, KeyKind, Scopes};
            use custos_core::audit::RevokeReason;
            use custos_core::ids::{AccountId, SessionId};
            use sqlx::Row;

            use super::{$backend, $tx};
            use crate::api_keys::*;
            use crate::backend::{corrupt, ip, micros, opt_ts, ts};
            use crate::sql_api_keys::{api_key_columns, api_key_not_cut, api_key_select};
            use crate::{Result, conflict_or};

            type DbRow = <$db as sqlx::Database>::Row;

            fn list(text: &str) -> Vec<&str> {
                text.split(',').filter(|s| !s.is_empty()).collect()
            }

            pub(super) fn api_key_row(r: &DbRow) -> Result<ApiKeyRecord> {
                let id: String = r.try_get("id")?;
                Ok(ApiKeyRecord {
                    id: ApiKeyId::parse(&id).ok_or_else(|| corrupt("api key id"))?,
                    account_id: AccountId::from_uuid(r.try_get("account_id")?),
                    label: r.try_get("label")?,
                    kind: KeyKind::parse(&r.try_get::<String, _>("kind")?)
                        .ok_or_else(|| corrupt("api key kind"))?,
                    public_key: r.try_get("public_key")?,
                    secret_sealed: r.try_get("secret_sealed")?,
                    scopes: Scopes::parse(&list(&r.try_get::<String, _>("scopes")?))
                        .map_err(|_| corrupt("api key scopes"))?,
                    ip_allowlist: IpAllowlist::parse(&list(&r.try_get::<String, _>("ip_allowlist")?))
                        .map_err(|_| corrupt("api key ip allowlist"))?,
                    created_at: ts(r.try_get("created_at")?),
                    valid_until: ts(r.try_get("valid_until")?),
                    revoked_at: opt_ts(r.try_get("revoked_at")?),
                    revoke_reason: r.try_get("revoke_reason")?,
                    last_used_at: opt_ts(r.try_get("last_used_at")?),
                    last_used_ip: ip(r.try_get("last_used_ip")?),
                    created_by_session: r
                        .try_get::<Option<uuid::Uuid>, _>("created_by_session")?
                        .map(SessionId::from_uuid),
                    created_ip: ip(r.try_get("created_ip")?),
                })
            }

            #[async_trait::async_trait]
            impl ApiKeyTx for $tx {
                async fn insert_api_key(&mut self, k: &ApiKeyRecord) -> Result<()> {
                    sqlx::query(concat!(
                        "INSERT INTO api_keys (", api_key_columns!(), ") \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
                    ))
                    .bind(k.id.as_str())
                    .bind(k.account_id.as_uuid())
                    .bind(&k.label)
                    .bind(k.kind.as_str())
                    .bind(&k.public_key)
                    .bind(&k.secret_sealed)
                    .bind(k.scopes.as_strs().join(","))
                    .bind(k.ip_allowlist.as_strings().join(","))
                    .bind(micros(k.created_at))
                    .bind(micros(k.valid_until))
                    .bind(k.revoked_at.map(micros))
                    .bind(&k.revoke_reason)
                    .bind(k.last_used_at.map(micros))
                    .bind(k.last_used_ip.map(|i| i.to_string()))
                    .bind(k.created_by_session.map(|s| s.as_uuid()))
                    .bind(k.created_ip.map(|i| i.to_string()))
                    .execute(self.conn().await?)
                    .await
                    .map_err(|e| conflict_or(e, "api key"))?;
                    Ok(())
                }

                async fn api_key_of(&mut self, account: AccountId, id: &ApiKeyId) -> Result<Option<ApiKeyRecord>> {
                    let row = sqlx::query(concat!(
                        api_key_select!(), "WHERE k.id = $1 AND k.account_id = $2"
                    ))
                    .bind(id.as_str())
                    .bind(account.as_uuid())
                    .fetch_optional(self.conn().await?)
                    .await?;
                    row.as_ref().map(api_key_row).transpose()
                }

                async fn revoke_api_key(
                    &mut self,
                    account: AccountId,
                    id: &ApiKeyId,
                    at: Timestamp,
                    why: RevokeReason,
                ) -> Result<bool> {
                    let n = sqlx::query(concat!(
                        "UPDATE api_keys SET revoked_at = $1, revoke_reason = $2 \
                         WHERE id = $3 AND account_id = $4 AND revoked_at IS NULL AND ",
                        api_key_not_cut!()
                    ))
                    .bind(micros(at))
                    .bind(why.as_str())
                    .bind(id.as_str())
                    .bind(account.as_uuid())
                    .execute(self.conn().await?)
                    .await?
                    .rows_affected();
                    Ok(n == 1)
                }

                async fn revoke_api_keys(
                    &mut self,
                    account: AccountId,
                    at: Timestamp,
                    why: RevokeReason,
                ) -> Result<Vec<ApiKeyId>> {
                    let ids: Vec<String> = sqlx::query_scalar(concat!(
                        "UPDATE api_keys SET revoked_at = $1, revoke_reason = $2 \
                         WHERE account_id = $3 AND revoked_at IS NULL AND ",
                        api_key_not_cut!(),
                        " RETURNING id"
                    ))
                    .bind(micros(at))
                    .bind(why.as_str())
                    .bind(account.as_uuid())
                    .fetch_all(self.conn().await?)
                    .await?;
                    let mut ids = ids
                        .iter()
                        .map(|s| ApiKeyId::parse(s).ok_or_else(|| corrupt("api key id")))
                        .collect::<Result<Vec<_>>>()?;
                    ids.sort();
                    Ok(ids)
                }

                async fn settle_api_key_cut(&mut self, account: AccountId) -> Result<()> {
                    sqlx::query(
                        "UPDATE api_keys SET revoked_at = (SELECT api_keys_cut_at FROM accounts WHERE id = $1), \
                         revoke_reason = 'account_frozen' WHERE account_id = $1 AND revoked_at IS NULL \
                         AND created_at <= (SELECT api_keys_cut_at FROM accounts WHERE id = $1)",
                    )
                    .bind(account.as_uuid())
                    .execute(self.conn().await?)
                    .await?;
                    Ok(())
                }

                async fn record_api_nonce(
                    &mut self,
                    key: &ApiKeyId,
                    nonce: &str,
                    expires_at: Timestamp,
                    now: Timestamp,
                ) -> Result<bool> {
                    sqlx::query("DELETE FROM api_key_nonces WHERE key_id = $1 AND expires_at <= $2")
                        .bind(key.as_str())
                        .bind(micros(now))
                        .execute(self.conn().await?)
                        .await?;
                    // DO NOTHING rather than a unique violation: PostgreSQL would abort the
                    // transaction, and a replay is an answer, not an error.
                    let inserted = sqlx::query(
                        "INSERT INTO api_key_nonces (key_id, nonce, expires_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (key_id, nonce) DO NOTHING",
                    )
                    .bind(key.as_str())
                    .bind(nonce)
                    .bind(micros(expires_at))
                    .execute(self.conn().await?)
                    .await?
                    .rows_affected();
                    Ok(inserted == 1)
                }

                async fn touch_api_key(&mut self, id: &ApiKeyId, at: Timestamp, ip: Option<IpAddr>) -> Result<()> {
                    sqlx::query("UPDATE api_keys SET last_used_at = $1, last_used_ip = $2 WHERE id = $3")
                        .bind(micros(at))
                        .bind(ip.map(|i| i.to_string()))
                        .bind(id.as_str())
                        .execute(self.conn().await?)
                        .await?;
                    Ok(())
                }
            }

            #[async_trait::async_trait]
            impl ApiKeyReader for $backend {
                async fn api_key(&self, id: &ApiKeyId) -> Result<Option<ApiKeyRecord>> {
                    let row = sqlx::query(concat!(api_key_select!(), "WHERE k.id = $1"))
                        .bind(id.as_str())
                        .fetch_optional(&self.pool)
                        .await?;
                    row.as_ref().map(api_key_row).transpose()
                }

                async fn api_keys(&self, account: AccountId) -> Result<Vec<ApiKeyRecord>> {
                    let rows = sqlx::query(concat!(
                        api_key_select!(), "WHERE k.account_id = $1 ORDER BY k.created_at DESC, k.id"
                    ))
                    .bind(account.as_uuid())
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter().map(api_key_row).collect()
                }
            }
        }
    };
}
pub(crate) use impl_api_keys_sql;
