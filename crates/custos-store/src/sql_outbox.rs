//! The outbox's and the development mailbox's SQL, written once and expanded per backend like
//! [`crate::sql_allowlist`]. SQLite's writes outside a transaction go through its one writer
//! (`lone_writer`).

macro_rules! impl_outbox_sql {
    ($db:ty, $backend:ident, $tx:ident, skip_locked = $sl:literal) => {
        mod outbox_sql {
            use std::time::Duration;

            use custos_core::Timestamp;
            use custos_core::ids::{AccountId, OutboxId};
            use sqlx::Row;

            use super::{$backend, $tx};
            use crate::backend::*;
            use crate::records::*;
            use crate::Result;

            type DbRow = <$db as sqlx::Database>::Row;

            fn outbox_row(r: &DbRow) -> Result<OutboxRecord> {
                let account: Option<uuid::Uuid> = r.try_get("account_id")?;
                Ok(OutboxRecord {
                    id: OutboxId::from_uuid(r.try_get("id")?),
                    topic: OutboxTopic::parse(&r.try_get::<String, _>("topic")?).ok_or_else(|| corrupt("topic"))?,
                    idempotency_key: r.try_get("idempotency_key")?,
                    account_id: account.map(AccountId::from_uuid),
                    recipient: r.try_get("recipient")?,
                    payload: r.try_get("payload")?,
                    created_at: ts(r.try_get("created_at")?),
                    attempts: r.try_get("attempts")?,
                    next_attempt_at: ts(r.try_get("next_attempt_at")?),
                    delivered_at: opt_ts(r.try_get("delivered_at")?),
                    last_error: r.try_get("last_error")?,
                })
            }

            #[async_trait::async_trait]
            impl crate::outbox::OutboxTx for $tx {
            async fn enqueue(&mut self, m: &OutboxRecord) -> Result<()> {
                self.write(&["outbox"], crate::backend::outbox_insert!(), |q| {
                    q
                        .bind(m.id.as_uuid())
                        .bind(m.topic.as_str())
                        .bind(&m.idempotency_key)
                        .bind(m.account_id.map(|a| a.as_uuid()))
                        .bind(&m.recipient)
                        .bind(&m.payload)
                        .bind(micros(m.created_at))
                        .bind(m.attempts)
                        .bind(micros(m.next_attempt_at))
                        .bind(m.delivered_at.map(micros))
                        .bind(&m.last_error)
                })
                .await?;
                Ok(())
            }

            async fn pending_outbox_of(&mut self, account: AccountId, topic: OutboxTopic) -> Result<Vec<OutboxRecord>> {
                // `next_attempt_at >= 0` lets the planner read the index of undelivered messages
                // (`outbox_due`) rather than every message ever sent.
                let rows = sqlx::query(concat!(
                    "SELECT ", outbox_columns!(), " FROM outbox WHERE delivered_at IS NULL AND next_attempt_at >= 0 \
                     AND account_id = $1 AND topic = $2 ORDER BY created_at, id"
                ))
                .bind(account.as_uuid())
                .bind(topic.as_str())
                .fetch_all(self.conn().await?)
                .await?;
                rows.iter().map(outbox_row).collect()
            }

            async fn outbox_count_since(&mut self, recipient: &str, since: Timestamp, key_prefixes: &[&str]) -> Result<u32> {
                let mut total = 0i64;
                for prefix in key_prefixes {
                    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE recipient = $1 AND created_at >= $2 AND substr(idempotency_key, 1, length($3)) = $3")
                        .bind(recipient)
                        .bind(micros(since))
                        .bind(*prefix)
                        .fetch_one(self.conn().await?)
                        .await?;
                    total += n;
                }
                Ok(u32::try_from(total).unwrap_or(u32::MAX))
            }
            }

            #[async_trait::async_trait]
            impl crate::outbox::OutboxReader for $backend {
            async fn claim_outbox(&self, now: Timestamp, lease: Duration, limit: u32) -> Result<Vec<OutboxRecord>> {
                // Most polls find nothing due. A reader says so without taking the writer (on SQLite
                // an UPDATE takes the write lock even when it matches no row), so an idle outbox
                // never makes a command wait.
                let due: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM outbox WHERE delivered_at IS NULL AND next_attempt_at <= $1 \
                     AND (lease_until IS NULL OR lease_until <= $1))",
                )
                .bind(micros(now))
                .fetch_one(&self.pool)
                .await?;
                if !due {
                    return Ok(Vec::new());
                }
                // The claim conditions are repeated outside the subquery: on PostgreSQL a row that
                // another worker claimed meanwhile is re-checked after its lock is released and skipped.
                let rows = sqlx::query(concat!(
                    "UPDATE outbox SET lease_until = $1, attempts = attempts + 1 \
                     WHERE id IN (SELECT id FROM outbox WHERE delivered_at IS NULL AND next_attempt_at <= $2 \
                                  AND (lease_until IS NULL OR lease_until <= $2) ORDER BY next_attempt_at LIMIT CAST($3 AS BIGINT)", $sl, ") \
                       AND delivered_at IS NULL AND (lease_until IS NULL OR lease_until <= $2) \
                     RETURNING ", outbox_columns!()))
                .bind(micros(now) + duration_micros(lease))
                .bind(micros(now))
                .bind(i64::from(limit))
                .fetch_all(self.lone_writer().await?.ex())
                .await?;
                rows.iter().map(outbox_row).collect()
            }

            async fn outbox_delivered(&self, id: OutboxId, at: Timestamp, purge_payload: bool) -> Result<()> {
                let sql = if purge_payload {
                    "UPDATE outbox SET delivered_at = $1, lease_until = NULL, last_error = NULL, payload = NULL WHERE id = $2"
                } else {
                    "UPDATE outbox SET delivered_at = $1, lease_until = NULL, last_error = NULL WHERE id = $2"
                };
                sqlx::query(sql).bind(micros(at)).bind(id.as_uuid()).execute(self.lone_writer().await?.ex()).await?;
                Ok(())
            }

            async fn outbox_failed(&self, id: OutboxId, next_attempt_at: Timestamp, error: &str) -> Result<()> {
                sqlx::query("UPDATE outbox SET next_attempt_at = $1, lease_until = NULL, last_error = $2 WHERE id = $3")
                    .bind(micros(next_attempt_at))
                    .bind(error)
                    .bind(id.as_uuid())
                    .execute(self.lone_writer().await?.ex())
                    .await?;
                Ok(())
            }

            async fn outbox_message(&self, id: OutboxId) -> Result<Option<OutboxRecord>> {
                let row = sqlx::query(concat!("SELECT ", outbox_columns!(), " FROM outbox WHERE id = $1"))
                    .bind(id.as_uuid())
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(outbox_row).transpose()
            }

            async fn outbox_by_key(&self, key: &str) -> Result<Option<OutboxRecord>> {
                let row = sqlx::query(concat!("SELECT ", outbox_columns!(), " FROM outbox WHERE idempotency_key = $1"))
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(outbox_row).transpose()
            }

            async fn outbox_pending(&self, limit: u32) -> Result<Vec<OutboxRecord>> {
                let rows = sqlx::query(concat!("SELECT ", outbox_columns!(), " FROM outbox WHERE delivered_at IS NULL ORDER BY created_at LIMIT CAST($1 AS BIGINT)"))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(outbox_row).collect()
            }

            async fn store_dev_mail(&self, m: &DevMail) -> Result<()> {
                sqlx::query("INSERT INTO dev_mailbox (id, message_id, recipient, subject, text_body, html_body, received_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (message_id) DO NOTHING")
                    .bind(uuid::Uuid::now_v7())
                    .bind(&m.message_id)
                    .bind(&m.recipient)
                    .bind(&m.subject)
                    .bind(&m.text_body)
                    .bind(&m.html_body)
                    .bind(micros(m.received_at))
                    .execute(self.lone_writer().await?.ex())
                    .await?;
                Ok(())
            }

            async fn dev_mail(&self, limit: u32) -> Result<Vec<DevMail>> {
                let rows = sqlx::query("SELECT message_id, recipient, subject, text_body, html_body, received_at FROM dev_mailbox ORDER BY received_at DESC, id DESC LIMIT CAST($1 AS BIGINT)")
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok(DevMail {
                            message_id: r.try_get("message_id")?,
                            recipient: r.try_get("recipient")?,
                            subject: r.try_get("subject")?,
                            text_body: r.try_get("text_body")?,
                            html_body: r.try_get("html_body")?,
                            received_at: ts(r.try_get("received_at")?),
                        })
                    })
                    .collect()
            }
            }
        }
    };
}
pub(crate) use impl_outbox_sql;
