-- Internal transfers between accounts: requested → held(until, reasons) → settled, or cancelled.

CREATE TABLE transfers (
    id              UUID PRIMARY KEY,
    from_account    UUID NOT NULL REFERENCES accounts(id),
    to_account      UUID NOT NULL REFERENCES accounts(id),
    asset           TEXT NOT NULL,
    amount          NUMERIC(39,0) NOT NULL,
    state           TEXT NOT NULL,
    hold_until      BIGINT,
    hold_reasons    TEXT,
    requested_via   TEXT NOT NULL,
    session_id      UUID,
    api_key_id      TEXT,
    device_id       UUID,
    ip              TEXT,
    idempotency_key TEXT,
    created_at      BIGINT NOT NULL,
    settled_at      BIGINT,
    cancelled_at    BIGINT,
    cancelled_by    TEXT,
    updated_at      BIGINT NOT NULL,
    UNIQUE (from_account, idempotency_key)
);
CREATE INDEX transfers_from ON transfers (from_account, created_at);
CREATE INDEX transfers_to ON transfers (to_account, created_at);
CREATE INDEX transfers_state ON transfers (state, hold_until);
