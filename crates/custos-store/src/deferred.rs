//! Write-only statements a SQLite transaction holds back and sends as one batch.
//!
//! Every statement on SQLite is a hand-off to the connection's worker thread and back — on a
//! shared two-core machine about as long as the statement itself. Inserts whose answer nobody
//! reads (audit records, outbox messages, link tokens, a session, a login event, the freeze row,
//! an incident) need not wait for the next one: [`Deferred`] queues them, with their arguments,
//! and the transaction sends the queue as one multi-statement batch before the next statement
//! that could read what they wrote, and before `COMMIT`. A command still commits all its writes
//! or none (a failing queued statement fails the batch, and the transaction rolls back); only
//! the moment an error surfaces moves, which is why only statements whose failure no caller
//! branches on are queued.
//!
//! On PostgreSQL the same calls run at once (its extended protocol takes one statement at a time
//! and data-modifying CTEs would all see one snapshot), so the code that writes is the same for
//! both backends.

use sqlx::{Arguments, Database, Encode, Type};

/// Queued statements and their arguments, placeholders renumbered to one argument list.
pub(crate) struct Deferred<DB: Database> {
    sql: String,
    args: DB::Arguments,
    tables: Vec<&'static str>,
    error: Option<sqlx::error::BoxDynError>,
    /// The statement that opens the transaction, held back to travel with the first one sent.
    opening: Option<&'static str>,
    /// Whether the opening statement has been sent (always, for a queue that has none).
    opened: bool,
}

impl<DB: Database> Default for Deferred<DB> {
    fn default() -> Self {
        Self {
            sql: String::new(),
            args: Default::default(),
            tables: Vec::new(),
            error: None,
            opening: None,
            opened: true,
        }
    }
}

impl<DB: Database> Deferred<DB> {
    /// A queue whose first batch starts with `opening` (SQLite's `BEGIN IMMEDIATE`): the
    /// transaction opens with its first statement instead of a hand-off of its own.
    pub(crate) fn opening_with(opening: &'static str) -> Self {
        Self { opening: Some(opening), opened: false, ..Self::default() }
    }

    /// Whether the opening statement went out with a batch, so a transaction may be open.
    pub(crate) fn opened(&self) -> bool {
        self.opened
    }

    /// Queues `sql` (one statement or several), which writes `tables`; bind its arguments in order
    /// on the answer.
    pub(crate) fn push(&mut self, tables: &[&'static str], sql: &str) -> Binder<'_, DB> {
        if !self.sql.is_empty() {
            self.sql.push_str(";\n");
        }
        renumber_into(&mut self.sql, sql, self.args.len());
        for table in tables {
            if !self.tables.contains(table) {
                self.tables.push(table);
            }
        }
        Binder { queue: self }
    }

    /// Whether no statement is queued (a held-back opening does not count).
    pub(crate) fn is_empty(&self) -> bool {
        self.sql.is_empty()
    }

    /// Whether a statement reading `tables` must wait for the queue: when a queued statement
    /// writes one of them, or when the transaction has not been opened yet.
    pub(crate) fn touches(&self, tables: &[&str]) -> bool {
        self.opening.is_some() || self.tables.iter().any(|t| tables.contains(t))
    }

    /// The batch to send, leaving the queue empty; an argument that failed to encode fails it.
    pub(crate) fn take(&mut self) -> crate::Result<Option<(String, DB::Arguments)>> {
        if let Some(e) = self.error.take() {
            *self = Self::default();
            return Err(sqlx::Error::Encode(e).into());
        }
        let queued = std::mem::take(&mut self.sql);
        let sql = match self.opening.take() {
            Some(opening) if queued.is_empty() => opening.to_owned(),
            Some(opening) => format!("{opening};\n{queued}"),
            None if queued.is_empty() => return Ok(None),
            None => queued,
        };
        self.opened = true;
        let args = std::mem::take(&mut self.args);
        self.tables.clear();
        Ok(Some((sql, args)))
    }
}

/// Binds a queued statement's arguments, in the order of its `$1, $2, …`.
pub(crate) struct Binder<'a, DB: Database> {
    queue: &'a mut Deferred<DB>,
}

impl<DB: Database> Binder<'_, DB> {
    pub(crate) fn bind<'t, T: Encode<'t, DB> + Type<DB>>(self, value: T) -> Self {
        if let Err(e) = self.queue.args.add(value)
            && self.queue.error.is_none()
        {
            self.queue.error = Some(e);
        }
        self
    }
}

/// Appends `sql` to `out` with every `$N` placeholder outside a quoted string or identifier
/// raised by `offset` (in a SQLite batch, `$N` names argument N of the whole batch). Scans bytes
/// and copies the runs between placeholders whole: quotes, `$` and digits are ASCII, which never
/// occurs inside a multi-byte UTF-8 character. With nothing queued before (`offset` 0) the text
/// is appended as it is — the freeze's read-and-write batch, ~3 KB, was renumbered a character at
/// a time on every freeze.
fn renumber_into(out: &mut String, sql: &str, offset: usize) {
    if offset == 0 {
        out.push_str(sql);
        return;
    }
    let bytes = sql.as_bytes();
    let digits_from = |mut i: usize| {
        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    };
    let (mut quote, mut copied, mut i) = (None, 0, 0);
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'\'' || b == b'"' => quote = Some(b),
            None if b == b'$' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let end = digits_from(i + 1);
                if let Ok(n) = sql[i + 1..end].parse::<usize>() {
                    out.push_str(&sql[copied..=i]);
                    out.push_str(&(n + offset).to_string());
                    copied = end;
                }
                i = end;
                continue;
            }
            None => {}
        }
        i += 1;
    }
    out.push_str(&sql[copied..]);
}

/// The queue's methods on a backend's transaction (a struct with a `deferred` field and a
/// `raw()` method answering its connection): `write` queues (SQLite) or runs (PostgreSQL,
/// `immediate = true`) a write-only statement; `conn` is the connection with the queue sent first
/// — every other statement goes through it; `conn_reading` sends the queue only if it writes one
/// of the tables a read names; `with_queue` makes one statement of the queue and a read.
macro_rules! impl_write_queue {
    ($tx:ident, $db:ty, $conn:ty, immediate = $immediate:literal) => {
        impl $tx {
            /// Queues (or, on an immediate backend, runs) a statement that writes `tables` and whose
            /// answer nobody reads.
            async fn write<F>(&mut self, tables: &[&'static str], sql: &str, bind: F) -> crate::Result<()>
            where
                F: for<'q> FnOnce(crate::deferred::Binder<'q, $db>) -> crate::deferred::Binder<'q, $db>,
            {
                bind(self.deferred.push(tables, sql));
                if $immediate { self.flush().await } else { Ok(()) }
            }

            /// Sends what is queued, as one batch.
            async fn flush(&mut self) -> crate::Result<()> {
                if let Some((sql, args)) = self.deferred.take()? {
                    sqlx::query_with(sqlx::AssertSqlSafe(sql), args)
                        .execute(self.raw()?)
                        .await
                        .map_err(|e| crate::conflict_or(e, "queued write"))?;
                }
                Ok(())
            }

            /// The connection, everything queued sent first.
            async fn conn(&mut self) -> crate::Result<&mut $conn> {
                self.flush().await?;
                self.raw()
            }

            /// The connection for a statement that reads only `tables`: the queue goes first only
            /// if it writes one of them.
            async fn conn_reading(&mut self, tables: &[&str]) -> crate::Result<&mut $conn> {
                if self.deferred.touches(tables) {
                    self.flush().await?;
                }
                self.raw()
            }

            /// `sql` (a read, bound by `bind`) after everything queued, as one statement to run on
            /// `raw()`: the queue and the read share one hand-off. Only a read whose rows come from
            /// this last statement may use it (queued writes answer no rows).
            fn with_queue<F>(
                &mut self,
                sql: &str,
                bind: F,
            ) -> crate::Result<sqlx::query::Query<'static, $db, <$db as sqlx::Database>::Arguments>>
            where
                F: for<'q> FnOnce(crate::deferred::Binder<'q, $db>) -> crate::deferred::Binder<'q, $db>,
            {
                bind(self.deferred.push(&[], sql));
                let (sql, args) = self.deferred.take()?.unwrap_or_default();
                Ok(sqlx::query_with(sqlx::AssertSqlSafe(sql), args))
            }
        }
    };
}
pub(crate) use impl_write_queue;

#[cfg(test)]
mod tests {
    use super::*;

    fn renumber(sql: &str, offset: usize) -> String {
        let mut out = String::new();
        renumber_into(&mut out, sql, offset);
        out
    }

    #[test]
    fn placeholders_move_by_the_arguments_already_queued() {
        assert_eq!(
            renumber("INSERT INTO t (a, b) VALUES ($1, $2::numeric)", 10),
            "INSERT INTO t (a, b) VALUES ($11, $12::numeric)"
        );
        assert_eq!(renumber("SELECT $9, $10, $1", 0), "SELECT $9, $10, $1");
        assert_eq!(
            renumber("UPDATE t SET a = $12 WHERE b = $3", 100),
            "UPDATE t SET a = $112 WHERE b = $103"
        );
    }

    #[test]
    fn text_around_placeholders_is_copied_whole_whatever_its_characters() {
        assert_eq!(
            renumber("SELECT 'é$1€', $1 AS \"ü\", '—' || $2", 3),
            "SELECT 'é$1€', $4 AS \"ü\", '—' || $5"
        );
        assert_eq!(renumber("$1", 1), "$2");
        assert_eq!(renumber("x $", 1), "x $");
        assert_eq!(renumber("", 4), "");
    }

    #[test]
    fn dollars_in_strings_identifiers_and_alone_stay() {
        assert_eq!(renumber("SELECT '$1', \"$2\", $ 3, $x, $3", 5), "SELECT '$1', \"$2\", $ 3, $x, $8");
        assert_eq!(renumber("SELECT 'it''s $1', $1", 1), "SELECT 'it''s $1', $2");
    }

    #[test]
    fn the_queue_joins_statements_and_empties_on_take() {
        let mut q: Deferred<sqlx::Sqlite> = Deferred::default();
        assert!(q.is_empty());
        q.push(&["a"], "INSERT INTO a VALUES ($1, $2)").bind(1i64).bind("x");
        q.push(&["b"], "INSERT INTO b VALUES ($1)").bind(2i64);
        assert!(q.touches(&["b", "c"]) && !q.touches(&["c"]));
        let (sql, args) = q.take().unwrap().unwrap();
        assert_eq!(sql, "INSERT INTO a VALUES ($1, $2);\nINSERT INTO b VALUES ($3)");
        assert_eq!(args.len(), 3);
        assert!(q.is_empty() && !q.touches(&["a"]));
        assert!(q.take().unwrap().is_none());
    }
}
