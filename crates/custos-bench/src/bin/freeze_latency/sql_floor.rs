//! The SQL floor (`--sql-floor`, SQLite only): what the freeze's statements cost with nothing
//! around them. The statements the store sends for a freeze (`custos_store::testing::
//! sqlite_freeze_statements`: the lock, the read, the set-based writes, the balance write and its
//! ledger entry, the receipt-carrying audit record, the freeze row, the outbox messages, `COMMIT`)
//! run in this thread through rusqlite: no worker thread to hand them to, no sqlx, no Rust of the
//! use case (plan, receipt, audit encoding, notices). The inserts carry the values the last
//! measured freeze wrote (its rows read back), with fresh keys, so every row is as big as the use
//! case makes it. C1's statement runs the same way in the same round. Their ratio is what the
//! freeze's SQL and pages alone cost against one durable commit on this machine: a lower bound
//! for any implementation of this freeze over this schema.
//!
//! Beside them, the Rust floor: the least Rust any implementation of the issue's freeze runs —
//! the plan, the receipt and the `AccountFrozen` record's canonical encoding and hash (core's own
//! functions) — on the last measured freeze's facts. The use case also decodes the read, formats
//! amounts, checks the plan against the writes, renders and seals the notices: not counted.
//!
//! A second variant, the core, leaves out what is not needed to stop the attacker: the receipt
//! (its audit record carries only the freeze's header) and the outbox messages.
//!
//! Every account is prepared before the floor starts (through the store, as the main loop
//! prepares them), and the read runs once untimed just before each timed freeze, so the pages it
//! reads are in this connection's cache as the store's writer has them right after preparing:
//! the floor is a best case.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use custos_core::api_key::ApiKeyId;
use custos_core::audit::{Actor, AuditEvent, AuditRecord, Chain};
use custos_core::crypto::new_security_stamp;
use custos_core::freeze::{self, FreezeChannel, FreezeReceipt, ReceiptHeader, Snapshot};
use custos_core::ids::{AccountId, FreezeId};
use custos_core::withdrawal::WithdrawalState;
use custos_store::testing::sqlite_freeze_statements as sql;
use rusqlite::Connection;
use rusqlite::types::Value;

/// The rows the last measured freeze wrote, read back: what the floor's inserts carry.
struct Written {
    audit: Vec<Value>,
    freeze: Vec<Value>,
    outbox: Vec<Vec<Value>>,
    /// The balance after the freeze (available, locked) and the ledger entry's kind and deltas.
    balance: (Value, Value),
    ledger: (Value, Value, Value),
}

/// Which parts of the freeze a timed run includes.
#[derive(Clone, Copy, PartialEq)]
pub enum Variant {
    /// Everything the store runs for a freeze.
    Whole,
    /// No receipt in the audit record, no outbox messages.
    Core,
}

pub struct SqlFloor {
    conn: Connection,
    written: Written,
    rounds: u64,
    pub c1: Vec<Duration>,
    pub whole: Vec<Duration>,
    pub core: Vec<Duration>,
    /// The WAL frames one whole freeze and one core freeze wrote (an untimed warm-up round).
    pub frames: (i64, i64),
    /// The Rust floor, each round (see the module's note).
    pub rust: Vec<Duration>,
    facts: Snapshot,
    /// Each kept whole freeze's steps, in [`STEPS`]' order.
    pub steps: Vec<[Duration; STEPS.len()]>,
}

/// The whole freeze's steps, as the floor times them one after another.
pub const STEPS: [&str; 12] = [
    "`BEGIN IMMEDIATE`",
    "the lock: the account row and its audit chain's head",
    "the read (sessions, keys, withdrawals, transfers, contact changes, balances as JSON)",
    "the account: status, stamp, key cut",
    "the twenty withdrawals cancelled",
    "the transfers cancelled (none)",
    "the count of changed rows",
    "the balance write and its ledger entry",
    "the `AccountFrozen` record (11 KB)",
    "the freeze row",
    "the outbox messages (the email, the case follow-up)",
    "`COMMIT` (the WAL frames and the sync)",
];

const THROTTLE_KEY: &str = "bench:sql-floor";

impl SqlFloor {
    /// Opens the database at `db` as the store's writer is opened (WAL, `synchronous=FULL`,
    /// checkpoints left to the floor: see [`Self::round`]), and reads back what `frozen`'s freeze
    /// wrote.
    pub fn open(db: &Path, frozen: AccountId, receipt: &FreezeReceipt) -> anyhow::Result<Self> {
        let conn = Connection::open(db)?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.set_prepared_statement_cache_capacity(64);
        let journal: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        anyhow::ensure!(journal == "wal", "the store's database is not in WAL mode ({journal})");
        let written = written_by(&conn, frozen).context("reading back the measured freeze's rows")?;
        Ok(Self {
            conn,
            written,
            rounds: 0,
            c1: Vec::new(),
            whole: Vec::new(),
            core: Vec::new(),
            frames: (0, 0),
            steps: Vec::new(),
            rust: Vec::new(),
            facts: facts_of(receipt)?,
        })
    }

    /// One round: C1, then the whole freeze of `whole`, then the core of `core` (both accounts
    /// prepared as the main loop prepares them). Kept when `keep`.
    pub fn round(&mut self, whole_account: AccountId, core: AccountId, keep: bool) -> anyhow::Result<()> {
        // The WAL rewound now and then, as the store's checkpoint task rewinds it (untimed).
        self.rounds += 1;
        if self.rounds.is_multiple_of(100) {
            self.conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))?;
        }
        self.conn.execute(
            "INSERT INTO throttles (key, failures, window_start, last_failure_at) VALUES (?1, 1, 0, 0)",
            [THROTTLE_KEY],
        )?;
        let t = Instant::now();
        self.exec("BEGIN IMMEDIATE")?;
        let mut clear = self.conn.prepare_cached(sql::CLEAR_THROTTLE)?;
        clear.raw_bind_parameter(1, THROTTLE_KEY)?;
        anyhow::ensure!(clear.raw_execute()? == 1, "C1 deleted no row");
        drop(clear);
        self.exec("COMMIT")?;
        let c1 = t.elapsed();
        // In one round that is not kept, each freeze's WAL frames are counted too.
        let count = !keep && self.rounds == 3;
        let before = if count { self.wal_frames()? } else { 0 };
        let (whole, steps) = self.freeze(whole_account, Variant::Whole)?;
        let between = if count { self.wal_frames()? } else { 0 };
        let (core, _) = self.freeze(core, Variant::Core)?;
        let rust = self.rust(whole_account)?;
        if count {
            let after = self.wal_frames()?;
            self.frames = (written_since(before, between), written_since(between, after));
        }
        if keep {
            self.c1.push(c1);
            self.whole.push(whole);
            self.core.push(core);
            self.steps.push(steps);
            self.rust.push(rust);
        }
        Ok(())
    }

    /// The Rust floor once: plan, receipt, record (see the module's note).
    fn rust(&self, account: AccountId) -> anyhow::Result<Duration> {
        let at = custos_core::Timestamp::from_micros(i64::try_from(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_micros(),
        )?);
        let t = Instant::now();
        let plan = freeze::plan_for(&self.facts);
        let header = ReceiptHeader {
            uid: 1,
            frozen_at: at,
            channel: FreezeChannel::Policy,
            reason: "benchmark".into(),
        };
        let receipt = freeze::receipt(header, &self.facts, &plan, &[]);
        let event = AuditEvent::AccountFrozen {
            channel: FreezeChannel::Policy.as_str().to_owned(),
            reason: "benchmark".into(),
            receipt: Box::new(receipt),
        };
        let record =
            AuditRecord::next_encoded(Chain::Account(account), (1, [7; 32]), at, Actor::System, event);
        let elapsed = t.elapsed();
        let (_, encoded) = std::hint::black_box(record);
        anyhow::ensure!(
            encoded.len() > 8_000,
            "the Rust floor's record is {} bytes, not the receipt's",
            encoded.len()
        );
        Ok(elapsed)
    }

    /// The frames in the WAL, after a passive checkpoint (which may let the next write rewind it).
    fn wal_frames(&self) -> anyhow::Result<i64> {
        Ok(self.conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))?)
    }

    fn exec(&self, statement: &str) -> anyhow::Result<()> {
        self.conn.prepare_cached(statement)?.raw_execute()?;
        Ok(())
    }

    /// Freezes `account` with the store's statements; answers the time from `BEGIN IMMEDIATE` to
    /// the end of `COMMIT`, and each step's (see [`STEPS`]).
    fn freeze(
        &self,
        account: AccountId,
        variant: Variant,
    ) -> anyhow::Result<(Duration, [Duration; STEPS.len()])> {
        let now =
            i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_micros())?;
        let month = 30 * 86_400 * 1_000_000;
        let chain = Chain::Account(account).key();
        let id = Value::Blob(account.as_uuid().as_bytes().to_vec());
        let params = [
            ("$1", Value::Text("frozen".into())),
            ("$2", Value::Blob(new_security_stamp())),
            ("$3", id.clone()),
            ("$4", Value::Integer(now)),
            ("$5", Value::Integer(now - month)),
            ("$6", Value::Integer(now - month)),
            ("$7", Value::Text(chain.clone())),
        ];
        let batch: Vec<&str> =
            sql::LOCK_AND_FREEZE.split(';').map(str::trim).filter(|s| !s.is_empty()).collect();
        // Untimed: the read alone, in a read transaction of its own, so its pages are in the
        // cache (see the module's note).
        self.exec("BEGIN")?;
        self.run(batch[1], &params, &mut |_, _| Ok(()))?;
        self.exec("COMMIT")?;

        let mut steps = [Duration::ZERO; STEPS.len()];
        let (t, mut step) = (Instant::now(), 0);
        let mut lap = t;
        let mut mark = |steps: &mut [Duration; STEPS.len()]| {
            let now = Instant::now();
            steps[step] += now - lap;
            (step, lap) = (step + 1, now);
        };
        self.exec("BEGIN IMMEDIATE")?;
        mark(&mut steps);
        let (mut head_seq, mut before, mut after) = (0i64, None, None);
        for statement in &batch {
            self.run(statement, &params, &mut |name, v| {
                match (name, v) {
                    ("head_seq", Value::Integer(s)) => head_seq = *s,
                    ("changes_before", Value::Integer(n)) => before = Some(*n),
                    ("changes_after", Value::Integer(n)) => after = Some(*n),
                    _ => {}
                }
                Ok(())
            })?;
            mark(&mut steps);
        }
        let changed = after.zip(before).map(|(a, b)| a - b);
        anyhow::ensure!(
            changed == Some(1 + super::WITHDRAWALS as i64),
            "the floor's freeze changed {changed:?} rows, not the account and its withdrawals"
        );
        let w = &self.written;
        let (available, locked) = w.balance.clone();
        let (kind, available_delta, locked_delta) = w.ledger.clone();
        let balance = [
            ("$1", available),
            ("$2", locked),
            ("$3", Value::Integer(now)),
            ("$4", id.clone()),
            ("$5", Value::Text("BTC".into())),
            ("$6", kind),
            ("$7", available_delta),
            ("$8", locked_delta),
            ("$9", Value::Text(format!("freeze:{}", uuid_text()))),
        ];
        for statement in sql::BALANCE_WRITE.split(';').map(str::trim) {
            self.run(statement, &balance, &mut |_, _| Ok(()))?;
        }
        mark(&mut steps);
        let seq = head_seq + 1;
        let mut audit = w.audit.clone();
        audit[0] = Value::Text(chain.clone());
        audit[1] = Value::Integer(seq);
        audit[2] = Value::Integer(now);
        audit[3] = id.clone();
        if variant == Variant::Core {
            audit[5] = Value::Text(
                r#"{"AccountFrozen":{"channel":"policy","reason":"benchmark","receipt":{}}}"#.into(),
            );
        }
        self.insert(sql::AUDIT_INSERT, audit)?;
        mark(&mut steps);
        let mut freeze = w.freeze.clone();
        freeze[0] = fresh_id();
        freeze[1] = id.clone();
        freeze[6] = Value::Text(chain);
        freeze[7] = Value::Integer(seq);
        freeze[8] = Value::Integer(now);
        self.insert(sql::FREEZE_INSERT, freeze)?;
        mark(&mut steps);
        if variant == Variant::Whole {
            for (n, message) in w.outbox.iter().enumerate() {
                let mut m = message.clone();
                m[0] = fresh_id();
                m[2] = Value::Text(format!("sql-floor:{}:{n}", uuid_text()));
                m[3] = id.clone();
                m[6] = Value::Integer(now);
                m[7] = Value::Integer(0);
                m[8] = Value::Integer(now);
                m[9] = Value::Null;
                m[10] = Value::Null;
                // A delivered message's payload is purged: the case follow-up's sealed payload is
                // some 220 bytes when queued.
                if m[5] == Value::Null {
                    m[5] = Value::Blob(vec![0x5a; 224]);
                }
                self.insert(sql::OUTBOX_INSERT, m)?;
            }
        }
        mark(&mut steps);
        self.exec("COMMIT")?;
        mark(&mut steps);
        Ok((t.elapsed(), steps))
    }

    /// Runs one statement with the `$N` parameters it names, reading every column of every row
    /// (as the store decodes its answers); `seen` gets each column by name.
    fn run(
        &self,
        statement: &str,
        params: &[(&str, Value)],
        seen: &mut dyn FnMut(&str, &Value) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let mut st = self.conn.prepare_cached(statement).with_context(|| statement.to_owned())?;
        for (name, value) in params {
            if let Some(i) = st.parameter_index(name)? {
                st.raw_bind_parameter(i, value)?;
            }
        }
        let names: Vec<String> = st.column_names().iter().map(|s| (*s).to_owned()).collect();
        let mut rows = st.raw_query();
        while let Some(row) = rows.next()? {
            for (i, name) in names.iter().enumerate() {
                let v: Value = row.get(i)?;
                seen(name, &v)?;
            }
        }
        Ok(())
    }

    fn insert(&self, statement: &str, values: Vec<Value>) -> anyhow::Result<()> {
        let mut st = self.conn.prepare_cached(statement)?;
        for (i, v) in values.iter().enumerate() {
            st.raw_bind_parameter(i + 1, v)?;
        }
        anyhow::ensure!(st.raw_execute()? == 1, "an insert wrote no row: {statement}");
        Ok(())
    }
}

/// The frames one transaction wrote, from the WAL's frame count before and after it: fewer after
/// means the transaction rewound the WAL and wrote them from its start.
fn written_since(before: i64, after: i64) -> i64 {
    if after >= before { after - before } else { after }
}

fn fresh_id() -> Value {
    Value::Blob(FreezeId::new().as_uuid().as_bytes().to_vec())
}

fn uuid_text() -> String {
    FreezeId::new().as_uuid().simple().to_string()
}

/// The facts a freeze found, as its receipt lists them: what the Rust floor plans and records.
fn facts_of(r: &FreezeReceipt) -> anyhow::Result<Snapshot> {
    let sessions = r.sessions_revoked.iter().map(|s| {
        Ok(freeze::SessionFact {
            id: s.id.parse().map_err(|_| anyhow!("session id"))?,
            ip: s.ip.clone(),
            user_agent: s.user_agent.clone(),
            created_at: s.created_at,
        })
    });
    let api_keys = r.api_keys_revoked.iter().map(|k| {
        Ok(freeze::ApiKeyFact {
            id: ApiKeyId::parse(&k.id).ok_or_else(|| anyhow!("key id"))?,
            label: k.label.clone(),
            scopes: k.scopes.clone(),
        })
    });
    let withdrawals = r.withdrawals_cancelled.iter().map(|w| {
        Ok(freeze::WithdrawalFact {
            id: w.id.parse().map_err(|_| anyhow!("withdrawal id"))?,
            state: WithdrawalState::parse(&w.state).ok_or_else(|| anyhow!("withdrawal state"))?,
            asset: w.asset.clone(),
            network: w.network.clone(),
            amount: w.amount.clone(),
            address: w.address.clone(),
            txid: w.txid.clone(),
            broadcast_at: None,
        })
    });
    Ok(Snapshot {
        sessions: sessions.collect::<anyhow::Result<_>>()?,
        api_keys: api_keys.collect::<anyhow::Result<_>>()?,
        withdrawals: withdrawals.collect::<anyhow::Result<_>>()?,
        transfers: Vec::new(),
    })
}

/// What the freeze of `account` wrote, read back in each insert's column order.
fn written_by(conn: &Connection, account: AccountId) -> anyhow::Result<Written> {
    let id = account.as_uuid().as_bytes().to_vec();
    let row = |r: &rusqlite::Row<'_>| -> rusqlite::Result<Vec<Value>> {
        (0..r.as_ref().column_count()).map(|i| r.get(i)).collect()
    };
    let freeze = conn.query_row(
        &format!("SELECT {} FROM freezes WHERE account_id = ?1", sql::FREEZE_COLUMNS),
        [&id],
        row,
    )?;
    let (Value::Text(chain), Value::Integer(seq), Value::Integer(frozen_at)) =
        (&freeze[6], &freeze[7], &freeze[8])
    else {
        return Err(anyhow!("the freeze row names no audit record"));
    };
    let audit = conn.query_row(
        &format!("SELECT {} FROM audit_records WHERE chain = ?1 AND seq = ?2", sql::AUDIT_COLUMNS),
        rusqlite::params![chain, seq],
        row,
    )?;
    let mut st = conn.prepare(&format!(
        "SELECT {} FROM outbox WHERE account_id = ?1 AND created_at = ?2 ORDER BY rowid",
        sql::OUTBOX_COLUMNS
    ))?;
    let outbox =
        st.query_map(rusqlite::params![&id, frozen_at], row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    anyhow::ensure!(!outbox.is_empty(), "the freeze queued no outbox message");
    let balance = conn.query_row(
        "SELECT available, locked FROM balances WHERE account_id = ?1 AND asset = 'BTC'",
        [&id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let ledger = conn.query_row(
        "SELECT kind, available_delta, locked_delta FROM ledger_entries WHERE account_id = ?1 \
         AND reference LIKE 'freeze:%'",
        [&id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    Ok(Written { audit, freeze, outbox, balance, ledger })
}
