//! The link tokens' SQL, written once and expanded per backend like [`crate::sql_allowlist`].

macro_rules! impl_links_sql {
    ($db:ty, $tx:ident) => {
        mod links_sql {
            use custos_core::Timestamp;
            use custos_core::crypto::TokenHash;
            use custos_core::ids::{AccountId, LinkTokenId};
            use custos_core::link_token::LinkPurpose;
            use sqlx::Row;

            use super::$tx;
            use crate::backend::*;
            use crate::records::*;
            use crate::Result;

            type DbRow = <$db as sqlx::Database>::Row;

            fn link_row(r: &DbRow) -> Result<LinkTokenRecord> {
                Ok(LinkTokenRecord {
                    id: LinkTokenId::from_uuid(r.try_get("id")?),
                    token_hash: hash32(r.try_get("token_hash")?)?,
                    purpose: LinkPurpose::parse(&r.try_get::<String, _>("purpose")?).ok_or_else(|| corrupt("purpose"))?,
                    account_id: AccountId::from_uuid(r.try_get("account_id")?),
                    subject: r.try_get("subject")?,
                    stamp_at_issue: r.try_get("stamp_at_issue")?,
                    created_at: ts(r.try_get("created_at")?),
                    expires_at: ts(r.try_get("expires_at")?),
                    used_at: opt_ts(r.try_get("used_at")?),
                })
            }

            #[async_trait::async_trait]
            impl crate::links::LinkTx for $tx {
            async fn insert_link_token(&mut self, t: &LinkTokenRecord) -> Result<()> {
                self.write(&["link_tokens"], concat!("INSERT INTO link_tokens (", link_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"), |q| {
                    q
                        .bind(t.id.as_uuid())
                        .bind(t.token_hash.as_bytes())
                        .bind(t.purpose.as_str())
                        .bind(t.account_id.as_uuid())
                        .bind(&t.subject)
                        .bind(&t.stamp_at_issue)
                        .bind(micros(t.created_at))
                        .bind(micros(t.expires_at))
                        .bind(t.used_at.map(micros))
                })
                .await
                .map_err(|e| match e {
                    crate::StoreError::Conflict(_) => crate::StoreError::Conflict("link token"),
                    e => e,
                })?;
                Ok(())
            }

            async fn link_token_by_hash(&mut self, hash: &TokenHash) -> Result<Option<LinkTokenRecord>> {
                let row = sqlx::query(concat!("SELECT ", link_columns!(), " FROM link_tokens WHERE token_hash = $1"))
                    .bind(hash.as_bytes())
                    .fetch_optional(self.conn().await?)
                    .await?;
                row.as_ref().map(link_row).transpose()
            }

            async fn spend_links(&mut self, account: AccountId, purpose: LinkPurpose, at: Timestamp) -> Result<u32> {
                let done = sqlx::query("UPDATE link_tokens SET used_at = $1 WHERE account_id = $2 AND purpose = $3 AND used_at IS NULL")
                    .bind(micros(at))
                    .bind(account.as_uuid())
                    .bind(purpose.as_str())
                    .execute(self.conn().await?)
                    .await?;
                Ok(u32::try_from(done.rows_affected()).unwrap_or(u32::MAX))
            }

            async fn mark_link_token_used(&mut self, id: LinkTokenId, at: Timestamp) -> Result<bool> {
                let done = sqlx::query("UPDATE link_tokens SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
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
pub(crate) use impl_links_sql;
