//! custos-store: persistence behind traits, with an embedded SQLite implementation (the default)
//! and a PostgreSQL one (production, several nodes). Both run the same conformance suite.
//!
//! Use cases open a [`Tx`] for every command: the state change, its audit records and its outbox
//! messages commit together or not at all (DESIGN principle 3). Reads that need no transaction —
//! the session check on every request, lists for pages — go through [`Reader`].
//!
//! Backend differences (locking, claiming work, time and id encodings) stay in this crate.

pub mod allowlist;
pub mod api_keys;
mod backend;
mod deferred;
pub mod factors;
pub mod freeze;
pub mod incidents;
mod json_rows;
pub mod links;
pub mod money;
pub mod outbox;
mod postgres;
mod records;
pub mod sessions;
mod sqlite;
pub mod staff;
pub mod throttles;

use std::sync::Arc;

pub use allowlist::*;
pub use api_keys::*;
pub use backend::{Reader, Tx};
pub use factors::*;
pub use freeze::*;
pub use incidents::*;
pub use links::*;
pub use money::*;
pub use outbox::*;
pub use records::*;
pub use sessions::*;
pub use staff::*;
pub use throttles::*;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write; names the constraint's subject (e.g. `email`, `uid`).
    #[error("conflict on {0}")]
    Conflict(&'static str),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("unsupported database URL (use sqlite: or postgres:)")]
    UnsupportedUrl,
    /// A statement on a transaction that has already committed or rolled back.
    #[error("the transaction has ended")]
    Ended,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A handle to the database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<dyn Backend>,
}

/// What a backend implements: transactions and plain reads.
#[async_trait::async_trait]
pub trait Backend: Reader + Send + Sync {
    /// Begins a write transaction. SQLite takes the write lock up front (`BEGIN IMMEDIATE`), so a
    /// transaction never fails half-way on a lock upgrade; PostgreSQL locks rows as it goes.
    async fn begin(&self) -> Result<Box<dyn Tx>>;
    async fn migrate(&self) -> Result<()>;
    fn backend_name(&self) -> &'static str;
    async fn close(&self);
    #[doc(hidden)]
    async fn execute_unchecked(&self, sql: &str) -> Result<u64>;
}

impl Store {
    /// Connects to `sqlite:PATH` (created if missing) or `postgres://…`.
    pub async fn connect(url: &str) -> Result<Self> {
        let inner: Arc<dyn Backend> = if url.starts_with("sqlite:") {
            Arc::new(sqlite::SqliteBackend::connect(url).await?)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Arc::new(postgres::PgBackend::connect(url).await?)
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        Ok(Self { inner })
    }

    pub async fn begin(&self) -> Result<Box<dyn Tx>> {
        self.inner.begin().await
    }

    pub async fn migrate(&self) -> Result<()> {
        self.inner.migrate().await
    }

    pub fn backend_name(&self) -> &'static str {
        self.inner.backend_name()
    }

    pub async fn close(&self) {
        self.inner.close().await
    }

    pub fn reader(&self) -> &dyn Reader {
        &*self.inner
    }
}

impl std::ops::Deref for Store {
    type Target = dyn Reader;
    fn deref(&self) -> &Self::Target {
        &*self.inner
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.inner.backend_name())
    }
}

pub(crate) fn conflict_or(e: sqlx::Error, subject: &'static str) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(subject),
        _ => StoreError::Database(e),
    }
}

mod sql;
mod sql_allowlist;
mod sql_api_keys;
mod sql_factors;
mod sql_freeze;
mod sql_incidents;
mod sql_links;
mod sql_money;
mod sql_outbox;
mod sql_sessions;
mod sql_staff;
mod sql_throttles;

/// Fresh, migrated databases for tests: one per test, never shared.
pub mod testing {
    use std::sync::Arc;

    use crate::{Backend, Result, Store};

    /// A new SQLite file in a new temporary directory (deleted with the returned guard).
    pub async fn fresh_sqlite() -> Result<(Store, TempDir)> {
        let dir = TempDir::new();
        let store = Store::connect(&format!("sqlite:{}", dir.path().join("custos.db").display())).await?;
        store.migrate().await?;
        Ok((store, dir))
    }

    /// A new schema on the PostgreSQL server at `base_url`, migrated.
    pub async fn fresh_postgres(base_url: &str) -> Result<Store> {
        let backend = crate::postgres::fresh_schema(base_url).await?;
        backend.migrate().await?;
        Ok(Store { inner: Arc::new(backend) })
    }

    /// The PostgreSQL URL for tests, from `CUSTOS_TEST_POSTGRES_URL`; `None` (and a loud line on
    /// stderr) when unset, so a skipped suite is never mistaken for a passing one.
    pub fn postgres_url(suite: &str) -> Option<String> {
        let url = std::env::var("CUSTOS_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty());
        if url.is_none() {
            eprintln!("SKIPPED: {suite} on PostgreSQL (set CUSTOS_TEST_POSTGRES_URL to run it)");
        }
        url
    }

    /// The statements a freeze's transaction runs on SQLite, as the store sends them, for the
    /// benchmark's SQL floor (`freeze_latency --sql-floor`: the same statements run in the
    /// benchmark's own thread with no worker thread and no use case around them). Parameters are
    /// numbered `$N` as in the store; each `*_COLUMNS` is its insert's column order.
    pub mod sqlite_freeze_statements {
        use crate::sql_freeze::{freeze_read_sql, freeze_sql};
        use crate::sql_money::balance_write_sql;

        /// `BEGIN IMMEDIATE` goes first; then this batch (`;`-separated): the lock with the
        /// audit head, the read, the set-based writes, the count of changed rows.
        pub const LOCK_AND_FREEZE: &str = freeze_sql!(lock_batch);
        /// The balance write and its ledger entry (`;`-separated).
        pub const BALANCE_WRITE: &str = balance_write_sql!(batch, "");
        pub const AUDIT_COLUMNS: &str = crate::backend::audit_columns!();
        pub const AUDIT_INSERT: &str = crate::backend::audit_insert!();
        pub const FREEZE_COLUMNS: &str = crate::sql_freeze::freeze_columns!();
        pub const FREEZE_INSERT: &str = freeze_sql!(insert);
        pub const OUTBOX_COLUMNS: &str = crate::backend::outbox_columns!();
        pub const OUTBOX_INSERT: &str = crate::backend::outbox_insert!();
        /// C1's one statement (`clear_throttle`), before its `COMMIT`.
        pub const CLEAR_THROTTLE: &str = crate::sql_throttles::CLEAR_THROTTLE;
    }

    /// A directory removed when dropped.
    #[derive(Debug)]
    pub struct TempDir(std::path::PathBuf);

    impl TempDir {
        pub fn new() -> Self {
            let p = std::env::temp_dir().join(format!("custos-test-{}", uuid::Uuid::new_v4().simple()));
            let _ = std::fs::create_dir_all(&p);
            Self(p)
        }
        pub fn path(&self) -> &std::path::Path {
            &self.0
        }
    }

    impl Default for TempDir {
        fn default() -> Self {
            Self::new()
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Store {
    /// Runs one statement as given. For tests that must prove the database itself refuses
    /// something (e.g. the append-only audit trigger); never used by application code.
    #[doc(hidden)]
    pub async fn execute_unchecked_for_tests(&self, sql: &str) -> Result<u64> {
        self.inner.execute_unchecked(sql).await
    }
}
