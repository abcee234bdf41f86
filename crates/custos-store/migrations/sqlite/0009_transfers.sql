-- Internal transfers between accounts: requested → held(until, reasons) → settled, or cancelled.

CREATE TABLE transfers (
    id              BLOB PRIMARY KEY NOT NULL,
    from_account    BLOB NOT NULL REFERENCES accounts(id),
    to_account      BLOB NOT NULL REFERENCES accounts(id),
    asset           TEXT NOT NULL,
    amount          TEXT NOT NULL,
    state           TEXT NOT NULL,
    hold_until      INTEGER,
    hold_reasons    TEXT,
    requested_via   TEXT NOT NULL,
    session_id      BLOB,
    api_key_id      TEXT,
    device_id       BLOB,
    ip              TEXT,
    idempotency_key TEXT,
    created_at      INTEGER NOT NULL,
    settled_at      INTEGER,
    cancelled_at    INTEGER,
    cancelled_by    TEXT,
    updated_at      INTEGER NOT NULL,
    UNIQUE (from_account, idempotency_key)
);
CREATE INDEX transfers_from ON transfers (from_account, created_at);
CREATE INDEX transfers_to ON transfers (to_account, created_at);
CREATE INDEX transfers_state ON transfers (state, hold_until);
