//! The embedded default: one SQLite file in WAL mode with `synchronous=FULL` (DESIGN "Durability"),
//! foreign keys on, a busy timeout, and write transactions that take the write lock up front.

use std::str::FromStr;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub(crate) struct SqliteBackend {
    pool: SqlitePool,
}

pub(crate) struct SqliteTx {
    tx: sqlx::Transaction<'static, sqlx::Sqlite>,
    /// Chains this transaction appended to: (seq, hash) of the record it wrote last.
    audit_heads: std::collections::HashMap<String, (i64, [u8; 32])>,
    /// Write-only statements not sent yet (see `deferred`).
    deferred: crate::deferred::Deferred<sqlx::Sqlite>,
}

crate::deferred::impl_write_queue!(SqliteTx, sqlx::Sqlite, sqlx::SqliteConnection, immediate = false);

impl SqliteBackend {
    pub(crate) async fn connect(url: &str) -> crate::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(std::time::Duration::from_secs(10));
        // No health check on acquire: the database is a file in this process, and sqlx's check
        // (a ping through the connection's worker thread) would add a round trip to every read.
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }
}

impl SqliteTx {
    /// BEGIN IMMEDIATE already serialises every writer, so appends to a chain are serialised too.
    async fn lock_chain(&mut self, _chain: &str) -> crate::Result<()> {
        Ok(())
    }
}

#[async_trait::async_trait]
impl crate::Backend for SqliteBackend {
    async fn begin(&self) -> crate::Result<Box<dyn crate::Tx>> {
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(Box::new(SqliteTx { tx, audit_heads: Default::default(), deferred: Default::default() }))
    }

    async fn migrate(&self) -> crate::Result<()> {
        sqlx::migrate!("./migrations/sqlite").run(&self.pool).await?;
        Ok(())
    }

    fn backend_name(&self) -> &'static str {
        "sqlite"
    }

    async fn close(&self) {
        self.pool.close().await
    }

    async fn execute_unchecked(&self, sql: &str) -> crate::Result<u64> {
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(&self.pool).await?.rows_affected())
    }
}

crate::sql::impl_sql_store!(
    sqlx::Sqlite,
    SqliteBackend,
    SqliteTx,
    sqlite,
    for_update = "",
    skip_locked = "",
    head_on_lock = true
);

crate::sql_money::impl_money_sql!(
    sqlx::Sqlite,
    SqliteBackend,
    SqliteTx,
    batch,
    for_update = "",
    numeric = ""
);

crate::sql_api_keys::impl_api_keys_sql!(sqlx::Sqlite, SqliteBackend, SqliteTx);

crate::sql_freeze::impl_freeze_sql!(sqlx::Sqlite, SqliteBackend, SqliteTx, batch);
crate::sql_allowlist::impl_allowlist_sql!(sqlx::Sqlite, SqliteBackend, SqliteTx);
crate::sql_staff::impl_staff_sql!(sqlx::Sqlite, SqliteBackend, SqliteTx, for_update = "");
crate::sql_incidents::impl_incidents_sql!(sqlx::Sqlite, SqliteBackend, SqliteTx);
