//! The embedded default: one SQLite file in WAL mode with `synchronous=FULL` (DESIGN "Durability"),
//! foreign keys on, a busy timeout, and write transactions that take the write lock up front, one
//! at a time on one writer connection; reads outside transactions use a pool.

use std::str::FromStr;
use std::sync::Arc;

use sqlx::Connection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// The writer connection, or `None` after a failure left it unusable (the next transaction opens
/// a new one).
type Writer = Option<SqliteConnection>;

/// How long a write transaction waits for the writer (and any statement for SQLite's lock).
const WRITER_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

pub(crate) struct SqliteBackend {
    /// Reads outside a transaction (WAL: they never wait for the writer).
    pool: SqlitePool,
    /// The one connection write transactions take turns on, outside any pool. SQLite admits one
    /// writer at a time anyway; waiting for this lock is first come, first served (SQLite's own
    /// busy handler sleeps and retries), handing it on costs no round trip (a pool pings every
    /// connection given back), and the connection's page cache stays valid from one command to the
    /// next (a connection discards its cache whenever another connection has written).
    writer: Arc<Mutex<Writer>>,
    options: SqliteConnectOptions,
}

/// A write transaction, holding the writer connection. custos opens and ends it itself rather
/// than through `sqlx::Transaction`, so that `BEGIN IMMEDIATE` travels with the first statement
/// and `COMMIT` with the last batch of queued writes — hand-offs to the connection's worker
/// thread saved on every command. Dropped while open (an error returned early), it is rolled back
/// before the next transaction gets the connection.
pub(crate) struct SqliteTx {
    /// `None` once committed or rolled back.
    conn: Option<OwnedMutexGuard<Writer>>,
    /// Chains this transaction appended to: (seq, hash) of the record it wrote last.
    audit_heads: std::collections::HashMap<String, (i64, [u8; 32])>,
    /// Write-only statements not sent yet (see `deferred`).
    deferred: crate::deferred::Deferred<sqlx::Sqlite>,
}

impl Drop for SqliteTx {
    /// An open transaction dropped without commit or rollback (an early return on an error) is
    /// rolled back before the writer is handed on (the task doing it holds the writer); if that
    /// fails, the connection is dropped, which closes it and rolls back, and the next transaction
    /// opens a new one.
    fn drop(&mut self) {
        let Some(mut writer) = self.conn.take() else { return };
        if !self.deferred.opened() {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    let rolled_back = match writer.as_mut() {
                        Some(conn) => sqlx::query("ROLLBACK").execute(conn).await.map(|_| ()),
                        None => Ok(()),
                    };
                    if let Err(e) = rolled_back {
                        tracing::warn!(error = %e, "rolling back a dropped transaction failed; reopening the writer");
                        *writer = None;
                    }
                });
            }
            // Dropping the connection closes it, which rolls back.
            Err(_) => *writer = None,
        }
    }
}

crate::deferred::impl_write_queue!(SqliteTx, sqlx::Sqlite, sqlx::SqliteConnection, immediate = false);

impl SqliteBackend {
    pub(crate) async fn connect(url: &str) -> crate::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(WRITER_WAIT);
        // No health check on acquire: the database is a file in this process, and sqlx's check
        // (a ping through the connection's worker thread) would add a round trip to every read.
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        // Every write statement is prepared on the writer: room for all of them.
        let options = options.statement_cache_capacity(512);
        let writer = SqliteConnection::connect_with(&options).await?;
        Ok(Self { pool, writer: Arc::new(Mutex::new(Some(writer))), options })
    }
}

impl SqliteTx {
    fn raw(&mut self) -> crate::Result<&mut SqliteConnection> {
        self.conn.as_mut().and_then(|w| w.as_mut()).ok_or(crate::StoreError::Ended)
    }

    /// Sends what is queued and `COMMIT` as one batch (a transaction that never sent a statement
    /// and queued none has nothing to commit).
    async fn flush_and_commit(mut self) -> crate::Result<()> {
        if self.deferred.opened() || !self.deferred.is_empty() {
            self.deferred.push(&[], "COMMIT");
            self.flush().await?;
        }
        self.conn.take();
        Ok(())
    }

    async fn roll_back(mut self) -> crate::Result<()> {
        if self.deferred.opened() {
            sqlx::query("ROLLBACK").execute(self.raw()?).await?;
        }
        self.conn.take();
        Ok(())
    }

    /// BEGIN IMMEDIATE already serialises every writer, so appends to a chain are serialised too.
    async fn lock_chain(&mut self, _chain: &str) -> crate::Result<()> {
        Ok(())
    }
}

#[async_trait::async_trait]
impl crate::Backend for SqliteBackend {
    async fn begin(&self) -> crate::Result<Box<dyn crate::Tx>> {
        // As long as SQLite's busy timeout would have let it wait for the write lock.
        let mut writer = tokio::time::timeout(WRITER_WAIT, self.writer.clone().lock_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?;
        if writer.is_none() {
            *writer = Some(SqliteConnection::connect_with(&self.options).await?);
        }
        Ok(Box::new(SqliteTx {
            conn: Some(writer),
            audit_heads: Default::default(),
            deferred: crate::deferred::Deferred::opening_with("BEGIN IMMEDIATE"),
        }))
    }

    async fn migrate(&self) -> crate::Result<()> {
        sqlx::migrate!("./migrations/sqlite").run(&self.pool).await?;
        Ok(())
    }

    fn backend_name(&self) -> &'static str {
        "sqlite"
    }

    async fn close(&self) {
        if let Some(writer) = self.writer.lock().await.take() {
            let _ = writer.close().await;
        }
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

crate::sql_freeze::impl_freeze_sql!(sqlx::Sqlite, SqliteBackend, SqliteTx, batch, sqlite);
crate::sql_allowlist::impl_allowlist_sql!(sqlx::Sqlite, SqliteBackend, SqliteTx);
crate::sql_staff::impl_staff_sql!(sqlx::Sqlite, SqliteBackend, SqliteTx, for_update = "");
crate::sql_incidents::impl_incidents_sql!(sqlx::Sqlite, SqliteBackend, SqliteTx);
