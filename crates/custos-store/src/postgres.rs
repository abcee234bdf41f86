//! PostgreSQL, for production and several nodes. Commands lock the account row
//! (`SELECT … FOR UPDATE`); outbox workers claim with `FOR UPDATE SKIP LOCKED`; appends to one audit
//! chain are serialised with a transaction-scoped advisory lock on the chain's name.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

pub(crate) struct PgBackend {
    pool: PgPool,
}

pub(crate) struct PgTx {
    tx: sqlx::Transaction<'static, sqlx::Postgres>,
    /// Chains this transaction appended to: (seq, hash) of the record it wrote last.
    audit_heads: std::collections::HashMap<String, (i64, [u8; 32])>,
    /// Always empty between calls: PostgreSQL runs each write at once (see `deferred`).
    deferred: crate::deferred::Deferred<sqlx::Postgres>,
}

crate::deferred::impl_write_queue!(PgTx, sqlx::Postgres, sqlx::PgConnection, immediate = true);

impl PgBackend {
    pub(crate) async fn connect(url: &str) -> crate::Result<Self> {
        Self::connect_with(PgConnectOptions::from_str(url)?).await
    }

    pub(crate) async fn connect_with(options: PgConnectOptions) -> crate::Result<Self> {
        let pool = PgPoolOptions::new().max_connections(16).connect_with(options).await?;
        Ok(Self { pool })
    }
}

/// A write outside any transaction runs on any pooled connection: PostgreSQL has no one writer.
pub(crate) struct LoneWriter<'a>(&'a PgPool);

impl<'a> LoneWriter<'a> {
    pub(crate) fn ex(&mut self) -> &'a PgPool {
        self.0
    }
}

impl PgBackend {
    pub(crate) async fn lone_writer(&self) -> crate::Result<LoneWriter<'_>> {
        Ok(LoneWriter(&self.pool))
    }
}

impl PgTx {
    fn raw(&mut self) -> crate::Result<&mut sqlx::PgConnection> {
        Ok(&mut *self.tx)
    }

    async fn flush_and_commit(mut self) -> crate::Result<()> {
        self.flush().await?;
        self.tx.commit().await?;
        Ok(())
    }

    async fn roll_back(self) -> crate::Result<()> {
        self.tx.rollback().await?;
        Ok(())
    }

    async fn lock_chain(&mut self, chain: &str) -> crate::Result<()> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(chain)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl crate::Backend for PgBackend {
    async fn begin(&self) -> crate::Result<Box<dyn crate::Tx>> {
        let tx = self.pool.begin().await?;
        Ok(Box::new(PgTx { tx, audit_heads: Default::default(), deferred: Default::default() }))
    }

    async fn migrate(&self) -> crate::Result<()> {
        sqlx::migrate!("./migrations/postgres").run(&self.pool).await?;
        Ok(())
    }

    fn backend_name(&self) -> &'static str {
        "postgres"
    }

    async fn close(&self) {
        self.pool.close().await
    }

    async fn execute_unchecked(&self, sql: &str) -> crate::Result<u64> {
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(&self.pool).await?.rows_affected())
    }
}

crate::sql::impl_sql_store!(
    sqlx::Postgres,
    PgBackend,
    PgTx,
    postgres,
    for_update = " FOR UPDATE",
    head_on_lock = false
);

crate::sql_money::impl_money_sql!(
    sqlx::Postgres,
    PgBackend,
    PgTx,
    cte,
    for_update = " FOR UPDATE",
    numeric = "::numeric"
);

crate::sql_factors::impl_factors_sql!(sqlx::Postgres, PgTx);

crate::sql_outbox::impl_outbox_sql!(sqlx::Postgres, PgBackend, PgTx, skip_locked = " FOR UPDATE SKIP LOCKED");

crate::sql_sessions::impl_sessions_sql!(sqlx::Postgres, PgBackend, PgTx);

crate::sql_links::impl_links_sql!(sqlx::Postgres, PgTx);

crate::sql_throttles::impl_throttles_sql!(sqlx::Postgres, PgBackend, PgTx);

crate::sql_api_keys::impl_api_keys_sql!(sqlx::Postgres, PgBackend, PgTx);

crate::sql_freeze::impl_freeze_sql!(sqlx::Postgres, PgBackend, PgTx, cte, postgres);
crate::sql_allowlist::impl_allowlist_sql!(sqlx::Postgres, PgBackend, PgTx);
crate::sql_staff::impl_staff_sql!(sqlx::Postgres, PgBackend, PgTx, for_update = " FOR UPDATE");
crate::sql_incidents::impl_incidents_sql!(sqlx::Postgres, PgBackend, PgTx);

/// A fresh, empty schema on the server at `base_url`, migrated: one per test.
pub(crate) async fn fresh_schema(base_url: &str) -> crate::Result<PgBackend> {
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let admin = PgPoolOptions::new().max_connections(1).connect(base_url).await?;
    // The name is ours (hex from a UUID), not input, so building it into SQL is safe.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&admin).await?;
    admin.close().await;
    let options = PgConnectOptions::from_str(base_url)?.options([("search_path", schema.as_str())]);
    PgBackend::connect_with(options).await
}
