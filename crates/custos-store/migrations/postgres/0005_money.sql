-- Money out, part one: balances, the ledger, idempotent integration events, withdrawals, service
-- tokens. Amounts are non-negative integers of atomic units as NUMERIC(39,0) (decimal text on
-- SQLite); all arithmetic happens in Rust on locked rows, never in SQL.

CREATE TABLE balances (
    account_id UUID NOT NULL REFERENCES accounts(id),
    asset      TEXT NOT NULL,
    available  NUMERIC(39,0) NOT NULL CHECK (available >= 0),
    locked     NUMERIC(39,0) NOT NULL CHECK (locked >= 0),
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, asset)
);

-- Append-only, one row per move of one balance, in one global order.
CREATE TABLE ledger_entries (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id      UUID NOT NULL REFERENCES accounts(id),
    asset           TEXT NOT NULL,
    kind            TEXT NOT NULL,
    available_delta NUMERIC(39,0) NOT NULL,
    locked_delta    NUMERIC(39,0) NOT NULL,
    reference       TEXT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX ledger_entries_account ON ledger_entries (account_id, seq);

CREATE FUNCTION ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are append-only';
END;
$$;
CREATE TRIGGER ledger_entries_no_update_or_delete BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_append_only();

-- Integration events already applied, by the sender's event id, with a digest of their content so
-- a replay with different content is refused rather than silently ignored.
CREATE TABLE ledger_events (
    event_id    TEXT PRIMARY KEY,
    digest      BYTEA NOT NULL,
    received_at BIGINT NOT NULL
);

CREATE TABLE withdrawals (
    id              UUID PRIMARY KEY,
    account_id      UUID NOT NULL REFERENCES accounts(id),
    asset           TEXT NOT NULL,
    network         TEXT NOT NULL,
    address         TEXT NOT NULL,
    memo            TEXT,
    amount          NUMERIC(39,0) NOT NULL,
    fee             NUMERIC(39,0) NOT NULL,
    state           TEXT NOT NULL,
    hold_until      BIGINT,
    hold_reasons    TEXT,
    txid            TEXT,
    requested_via   TEXT NOT NULL,
    session_id      UUID,
    api_key_id      TEXT,
    device_id       UUID,
    ip              TEXT,
    idempotency_key TEXT,
    created_at      BIGINT NOT NULL,
    confirmed_at    BIGINT,
    queued_at       BIGINT,
    processing_at   BIGINT,
    broadcast_at    BIGINT,
    completed_at    BIGINT,
    cancelled_at    BIGINT,
    cancelled_by    TEXT,
    intercept       TEXT,
    failure         TEXT,
    updated_at      BIGINT NOT NULL,
    UNIQUE (account_id, idempotency_key)
);
CREATE INDEX withdrawals_account ON withdrawals (account_id, created_at);
CREATE INDEX withdrawals_state ON withdrawals (state, updated_at);

CREATE TABLE service_tokens (
    id         UUID PRIMARY KEY,
    name       TEXT NOT NULL,
    token_hash BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
