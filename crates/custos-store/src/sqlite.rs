//! The embedded default: one SQLite file in WAL mode with `synchronous=FULL` (DESIGN "Durability"),
//! foreign keys on, a busy timeout, and write transactions that take the write lock up front, one
//! at a time on one writer connection, which the few writes made outside a transaction share
//! ([`LoneWriter`]); reads outside transactions use a pool.

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
    /// Copies the WAL back into the database file, off every command's commit (see
    /// [`checkpoint_in_background`]).
    checkpointer: tokio::task::JoinHandle<()>,
}

/// How often the background checkpoint runs.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);
/// What a WAL file is cut back to when it is rewound (bytes): a burst of writes may grow it, and
/// it should not keep that size.
const WAL_SIZE_LIMIT: &str = "67108864";

/// Past this many frames (16 MiB; SQLite's own automatic checkpoint starts at 1,000), a WAL that the
/// background checkpoint copied but that was never rewound is finished with the writer held.
const REWIND_AFTER_FRAMES: i64 = 4096;

/// Keeps the WAL short without making a command pay for it. SQLite's own automatic checkpoint
/// runs inside the `COMMIT` of whichever transaction takes the WAL past 1,000 pages: that command
/// then copies every page back and syncs the database file before it answers (a freeze that
/// happened to be that transaction took several times as long: most of the freeze benchmark's
/// p99). The writer connection has it turned off; this task checkpoints every
/// [`CHECKPOINT_EVERY`] on a reader connection instead. `PASSIVE` copies what no reader still
/// needs and never waits for, or blocks, the writer or a reader; once the whole WAL is copied, the
/// writer's next transaction rewinds it and cuts the file back to [`WAL_SIZE_LIMIT`].
///
/// Under a steady stream of writes the writer appends while the copy runs, so the WAL is never
/// wholly copied when a transaction begins, and it is never rewound: it grows without end, and
/// every commit extends the file, which makes its sync slower (the freeze benchmark saw the WAL
/// pass 200 MB in seconds once every write went through the writer). So when the WAL holds more
/// than [`REWIND_AFTER_FRAMES`] after the copy, the task takes the writer, as a transaction does,
/// and copies the few frames appended meanwhile; the next transaction then rewinds the WAL.
/// Commands wait for that short second copy only, and only when the WAL has grown.
fn checkpoint_in_background(pool: SqlitePool, writer: Arc<Mutex<Writer>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let frames = match passive_checkpoint(&pool).await {
                Ok(frames) => frames,
                Err(_) if pool.is_closed() => return,
                Err(e) => {
                    tracing::warn!(error = %e, "a WAL checkpoint failed; the next round retries");
                    continue;
                }
            };
            if frames <= REWIND_AFTER_FRAMES {
                continue;
            }
            let mut writer = writer.lock().await;
            let Some(conn) = writer.as_mut() else { continue };
            if let Err(e) = passive_checkpoint(conn).await {
                tracing::warn!(error = %e, "finishing a WAL checkpoint on the writer failed; the next round retries");
            }
        }
    })
}

/// Runs `PRAGMA wal_checkpoint(PASSIVE)`; answers how many frames the WAL holds.
async fn passive_checkpoint<'c, E>(on: E) -> crate::Result<i64>
where
    E: sqlx::Executor<'c, Database = sqlx::Sqlite>,
{
    // Columns: whether it was blocked, the frames in the WAL, the frames copied.
    let (_, frames, _): (i64, i64, i64) =
        sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(on).await?;
    Ok(frames)
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

impl Drop for SqliteBackend {
    fn drop(&mut self) {
        self.checkpointer.abort();
    }
}

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
        // Every write statement is prepared on the writer: room for all of them. Its commits leave
        // the WAL to the background checkpoint.
        let options = options
            .statement_cache_capacity(512)
            .pragma("wal_autocheckpoint", "0")
            .pragma("journal_size_limit", WAL_SIZE_LIMIT);
        let writer = Arc::new(Mutex::new(Some(SqliteConnection::connect_with(&options).await?)));
        let checkpointer = checkpoint_in_background(pool.clone(), writer.clone());
        Ok(Self { pool, writer, options, checkpointer })
    }
}

/// The writer, taken for one write statement outside any transaction (an autocommit: a session
/// touched, an outbox delivery marked). Every write goes through the one writer, so none of them
/// meets SQLite's lock held by another connection (its busy handler would sleep a millisecond or
/// more, and a transaction's `BEGIN IMMEDIATE` would sleep behind the lone write likewise), and
/// the writer's page cache stays valid (a write from a pool connection discards it).
pub(crate) struct LoneWriter(OwnedMutexGuard<Writer>);

impl LoneWriter {
    pub(crate) fn ex(&mut self) -> &mut SqliteConnection {
        self.0.as_mut().expect("the writer is opened before it is handed out")
    }
}

impl SqliteBackend {
    /// Waits for the writer, first come first served and at most [`WRITER_WAIT`] (as long as
    /// SQLite's busy timeout would have let it wait for the write lock), reopening it if a failure
    /// left it unusable. Transactions take it here too ([`crate::Backend::begin`]). A lone
    /// statement that fails leaves no transaction open (it was its own).
    pub(crate) async fn lone_writer(&self) -> crate::Result<LoneWriter> {
        let mut writer = tokio::time::timeout(WRITER_WAIT, self.writer.clone().lock_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?;
        if writer.is_none() {
            *writer = Some(SqliteConnection::connect_with(&self.options).await?);
        }
        Ok(LoneWriter(writer))
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
        let LoneWriter(writer) = self.lone_writer().await?;
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
        self.checkpointer.abort();
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

crate::sql_factors::impl_factors_sql!(sqlx::Sqlite, SqliteTx);

crate::sql_outbox::impl_outbox_sql!(sqlx::Sqlite, SqliteBackend, SqliteTx, skip_locked = "");

crate::sql_sessions::impl_sessions_sql!(sqlx::Sqlite, SqliteBackend, SqliteTx);

crate::sql_links::impl_links_sql!(sqlx::Sqlite, SqliteTx);

crate::sql_throttles::impl_throttles_sql!(sqlx::Sqlite, SqliteBackend, SqliteTx);

crate::sql_api_keys::impl_api_keys_sql!(sqlx::Sqlite, SqliteBackend, SqliteTx);

crate::sql_freeze::impl_freeze_sql!(sqlx::Sqlite, SqliteBackend, SqliteTx, batch, sqlite);
crate::sql_allowlist::impl_allowlist_sql!(sqlx::Sqlite, SqliteBackend, SqliteTx);
crate::sql_staff::impl_staff_sql!(sqlx::Sqlite, SqliteBackend, SqliteTx, for_update = "");
crate::sql_incidents::impl_incidents_sql!(sqlx::Sqlite, SqliteBackend, SqliteTx);
