-- Foundation schema. Timestamps are INTEGER microseconds since the Unix epoch (UTC) on both
-- backends: exact round trips, so audit hashes verify after a read-back, and the same comparisons
-- in SQL everywhere. Ids are UUIDs (16-byte BLOBs here, uuid on PostgreSQL).

CREATE TABLE accounts (
    id                 BLOB PRIMARY KEY NOT NULL,
    uid                INTEGER NOT NULL UNIQUE,
    email              TEXT NOT NULL,
    email_key          TEXT NOT NULL UNIQUE,
    email_verified_at  INTEGER,
    phone              TEXT,
    status             TEXT NOT NULL DEFAULT 'active',
    password_hash      TEXT NOT NULL,
    security_stamp     BLOB NOT NULL,
    anti_phishing_code TEXT,
    created_at         INTEGER NOT NULL
);

CREATE TABLE devices (
    id            BLOB PRIMARY KEY NOT NULL,
    account_id    BLOB NOT NULL REFERENCES accounts(id),
    key_hash      BLOB NOT NULL,
    user_agent    TEXT NOT NULL,
    first_seen_at INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    last_ip       TEXT,
    UNIQUE (account_id, key_hash)
);

CREATE TABLE sessions (
    id               BLOB PRIMARY KEY NOT NULL,
    account_id       BLOB NOT NULL REFERENCES accounts(id),
    token_hash       BLOB NOT NULL UNIQUE,
    device_id        BLOB NOT NULL REFERENCES devices(id),
    ip               TEXT,
    user_agent       TEXT NOT NULL,
    aal              TEXT NOT NULL,
    authenticated_at INTEGER NOT NULL,
    stepped_up_at    INTEGER,
    created_at       INTEGER NOT NULL,
    last_seen_at     INTEGER NOT NULL,
    stamp_at_issue   BLOB NOT NULL,
    revoked_at       INTEGER,
    revoke_reason    TEXT
);
CREATE INDEX sessions_by_account ON sessions (account_id, created_at);

CREATE TABLE login_events (
    id           BLOB PRIMARY KEY NOT NULL,
    account_id   BLOB REFERENCES accounts(id),
    at           INTEGER NOT NULL,
    outcome      TEXT NOT NULL,
    ip           TEXT,
    country      TEXT,
    asn          INTEGER,
    device_id    BLOB,
    user_agent   TEXT NOT NULL,
    signals      TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX login_events_by_account ON login_events (account_id, at);

CREATE TABLE link_tokens (
    id             BLOB PRIMARY KEY NOT NULL,
    token_hash     BLOB NOT NULL UNIQUE,
    purpose        TEXT NOT NULL,
    account_id     BLOB NOT NULL REFERENCES accounts(id),
    subject        TEXT,
    stamp_at_issue BLOB NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER
);
CREATE INDEX link_tokens_by_account ON link_tokens (account_id, purpose);

CREATE TABLE audit_records (
    chain      TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    at         INTEGER NOT NULL,
    account_id BLOB,
    actor      TEXT NOT NULL,
    event      TEXT NOT NULL,
    prev_hash  BLOB NOT NULL,
    hash       BLOB NOT NULL,
    PRIMARY KEY (chain, seq)
);
CREATE TRIGGER audit_records_no_update BEFORE UPDATE ON audit_records
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER audit_records_no_delete BEFORE DELETE ON audit_records
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;

CREATE TABLE outbox (
    id              BLOB PRIMARY KEY NOT NULL,
    topic           TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    account_id      BLOB,
    recipient       TEXT NOT NULL,
    payload         BLOB,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    delivered_at    INTEGER,
    last_error      TEXT
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE delivered_at IS NULL;
CREATE INDEX outbox_by_recipient ON outbox (recipient, created_at);

CREATE TABLE throttles (
    key             TEXT PRIMARY KEY NOT NULL,
    failures        INTEGER NOT NULL,
    window_start    INTEGER NOT NULL,
    last_failure_at INTEGER NOT NULL
);

CREATE TABLE dev_mailbox (
    id          BLOB PRIMARY KEY NOT NULL,
    message_id  TEXT NOT NULL UNIQUE,
    recipient   TEXT NOT NULL,
    subject     TEXT NOT NULL,
    text_body   TEXT NOT NULL,
    html_body   TEXT NOT NULL,
    received_at INTEGER NOT NULL
);
