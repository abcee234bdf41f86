-- Money out, part one: balances, the ledger, idempotent integration events, withdrawals, service
-- tokens. Amounts are non-negative integers of atomic units stored as decimal text here
-- (NUMERIC(39,0) on PostgreSQL); all arithmetic happens in Rust on locked rows, never in SQL.

CREATE TABLE balances (
    account_id BLOB NOT NULL REFERENCES accounts(id),
    asset      TEXT NOT NULL,
    available  TEXT NOT NULL CHECK (available NOT GLOB '*[^0-9]*' AND available <> ''),
    locked     TEXT NOT NULL CHECK (locked NOT GLOB '*[^0-9]*' AND locked <> ''),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, asset)
);

-- Append-only, one row per move of one balance, in one global order.
CREATE TABLE ledger_entries (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id      BLOB NOT NULL REFERENCES accounts(id),
    asset           TEXT NOT NULL,
    kind            TEXT NOT NULL,
    available_delta TEXT NOT NULL,
    locked_delta    TEXT NOT NULL,
    reference       TEXT,
    created_at      INTEGER NOT NULL
);
CREATE INDEX ledger_entries_account ON ledger_entries (account_id, seq);

CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;

-- Integration events already applied, by the sender's event id, with a digest of their content so
-- a replay with different content is refused rather than silently ignored.
CREATE TABLE ledger_events (
    event_id    TEXT PRIMARY KEY NOT NULL,
    digest      BLOB NOT NULL,
    received_at INTEGER NOT NULL
);

CREATE TABLE withdrawals (
    id              BLOB PRIMARY KEY NOT NULL,
    account_id      BLOB NOT NULL REFERENCES accounts(id),
    asset           TEXT NOT NULL,
    network         TEXT NOT NULL,
    address         TEXT NOT NULL,
    memo            TEXT,
    amount          TEXT NOT NULL,
    fee             TEXT NOT NULL,
    state           TEXT NOT NULL,
    hold_until      INTEGER,
    hold_reasons    TEXT,
    txid            TEXT,
    -- session | api_key
    requested_via   TEXT NOT NULL,
    session_id      BLOB,
    api_key_id      TEXT,
    device_id       BLOB,
    ip              TEXT,
    idempotency_key TEXT,
    created_at      INTEGER NOT NULL,
    confirmed_at    INTEGER,
    queued_at       INTEGER,
    processing_at   INTEGER,
    broadcast_at    INTEGER,
    completed_at    INTEGER,
    cancelled_at    INTEGER,
    cancelled_by    TEXT,
    intercept       TEXT,
    failure         TEXT,
    updated_at      INTEGER NOT NULL,
    UNIQUE (account_id, idempotency_key)
);
CREATE INDEX withdrawals_account ON withdrawals (account_id, created_at);
CREATE INDEX withdrawals_state ON withdrawals (state, updated_at);

CREATE TABLE service_tokens (
    id         BLOB PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
