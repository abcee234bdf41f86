-- Staff accounts, separate from customer accounts (issue 6). A staff member is `pending` until
-- the setup link is completed with a password and a confirmed authenticator app; the setup token
-- is stored as its SHA-256 and cleared on completion. The TOTP seed is sealed with the totp-seed
-- key, bound to the staff id.

CREATE TABLE staff (
    id                BLOB PRIMARY KEY NOT NULL,
    staff_code        TEXT NOT NULL UNIQUE,
    email             TEXT NOT NULL,
    email_key         TEXT NOT NULL UNIQUE,
    name              TEXT NOT NULL,
    role              TEXT NOT NULL CHECK (role IN ('agent', 'analyst', 'admin')),
    status            TEXT NOT NULL CHECK (status IN ('pending', 'active', 'disabled')),
    password_hash     TEXT,
    totp_seed_sealed  BLOB,
    totp_last_step    INTEGER,
    security_stamp    BLOB NOT NULL,
    setup_token_hash  BLOB UNIQUE,
    setup_expires_at  INTEGER,
    created_at        INTEGER NOT NULL,
    created_by        TEXT NOT NULL,
    enrolled_at       INTEGER,
    disabled_at       INTEGER,
    CHECK (status <> 'active' OR (password_hash IS NOT NULL AND totp_seed_sealed IS NOT NULL))
);

-- Every staff session is aal2 (password and TOTP at once), so it has no assurance column.
CREATE TABLE staff_sessions (
    id             BLOB PRIMARY KEY NOT NULL,
    staff_id       BLOB NOT NULL REFERENCES staff(id),
    token_hash     BLOB NOT NULL UNIQUE,
    ip             TEXT,
    user_agent     TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    last_seen_at   INTEGER NOT NULL,
    stamp_at_issue BLOB NOT NULL,
    revoked_at     INTEGER,
    revoke_reason  TEXT
);
CREATE INDEX staff_sessions_by_staff ON staff_sessions (staff_id, created_at);
