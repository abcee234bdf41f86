-- Foundation schema. Timestamps are BIGINT microseconds since the Unix epoch (UTC) on both
-- backends: exact round trips, so audit hashes verify after a read-back, and the same comparisons
-- in SQL everywhere. Read them with to_timestamp(at / 1e6).

CREATE TABLE accounts (
    id                 UUID PRIMARY KEY,
    uid                BIGINT NOT NULL UNIQUE,
    email              TEXT NOT NULL,
    email_key          TEXT NOT NULL UNIQUE,
    email_verified_at  BIGINT,
    phone              TEXT,
    status             TEXT NOT NULL DEFAULT 'active',
    password_hash      TEXT NOT NULL,
    security_stamp     BYTEA NOT NULL,
    anti_phishing_code TEXT,
    created_at         BIGINT NOT NULL
);

CREATE TABLE devices (
    id            UUID PRIMARY KEY,
    account_id    UUID NOT NULL REFERENCES accounts(id),
    key_hash      BYTEA NOT NULL,
    user_agent    TEXT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    last_ip       TEXT,
    UNIQUE (account_id, key_hash)
);

CREATE TABLE sessions (
    id               UUID PRIMARY KEY,
    account_id       UUID NOT NULL REFERENCES accounts(id),
    token_hash       BYTEA NOT NULL UNIQUE,
    device_id        UUID NOT NULL REFERENCES devices(id),
    ip               TEXT,
    user_agent       TEXT NOT NULL,
    aal              TEXT NOT NULL,
    authenticated_at BIGINT NOT NULL,
    stepped_up_at    BIGINT,
    created_at       BIGINT NOT NULL,
    last_seen_at     BIGINT NOT NULL,
    stamp_at_issue   BYTEA NOT NULL,
    revoked_at       BIGINT,
    revoke_reason    TEXT
);
CREATE INDEX sessions_by_account ON sessions (account_id, created_at);

CREATE TABLE login_events (
    id           UUID PRIMARY KEY,
    account_id   UUID REFERENCES accounts(id),
    at           BIGINT NOT NULL,
    outcome      TEXT NOT NULL,
    ip           TEXT,
    country      TEXT,
    asn          BIGINT,
    device_id    UUID,
    user_agent   TEXT NOT NULL,
    signals      TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX login_events_by_account ON login_events (account_id, at);

CREATE TABLE link_tokens (
    id             UUID PRIMARY KEY,
    token_hash     BYTEA NOT NULL UNIQUE,
    purpose        TEXT NOT NULL,
    account_id     UUID NOT NULL REFERENCES accounts(id),
    subject        TEXT,
    stamp_at_issue BYTEA NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT
);
CREATE INDEX link_tokens_by_account ON link_tokens (account_id, purpose);

CREATE TABLE audit_records (
    chain      TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    at         BIGINT NOT NULL,
    account_id UUID,
    actor      TEXT NOT NULL,
    event      TEXT NOT NULL,
    prev_hash  BYTEA NOT NULL,
    hash       BYTEA NOT NULL,
    PRIMARY KEY (chain, seq)
);
CREATE FUNCTION audit_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit records are append-only';
END;
$$;
CREATE TRIGGER audit_records_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_records
    FOR EACH ROW EXECUTE FUNCTION audit_records_append_only();
CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON audit_records
    FOR EACH STATEMENT EXECUTE FUNCTION audit_records_append_only();

CREATE TABLE outbox (
    id              UUID PRIMARY KEY,
    topic           TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    account_id      UUID,
    recipient       TEXT NOT NULL,
    payload         BYTEA,
    created_at      BIGINT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT,
    delivered_at    BIGINT,
    last_error      TEXT
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE delivered_at IS NULL;
CREATE INDEX outbox_by_recipient ON outbox (recipient, created_at);

CREATE TABLE throttles (
    key             TEXT PRIMARY KEY,
    failures        INTEGER NOT NULL,
    window_start    BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL
);

CREATE TABLE dev_mailbox (
    id          UUID PRIMARY KEY,
    message_id  TEXT NOT NULL UNIQUE,
    recipient   TEXT NOT NULL,
    subject     TEXT NOT NULL,
    text_body   TEXT NOT NULL,
    html_body   TEXT NOT NULL,
    received_at BIGINT NOT NULL
);
