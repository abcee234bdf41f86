-- Credentials and second factors: withdrawal locks, TOTP, recovery codes, password history,
-- and short-lived authentication challenges (second-factor login, emailed step-up codes).

ALTER TABLE accounts ADD COLUMN withdrawal_lock_until INTEGER;
ALTER TABLE accounts ADD COLUMN withdrawal_lock_reason TEXT;

-- One TOTP factor per account. The seed is sealed (XChaCha20-Poly1305, bound to the account).
-- An unconfirmed row is an enrolment in progress; last_step is the replay guard.
CREATE TABLE totp_factors (
    account_id   BLOB PRIMARY KEY REFERENCES accounts(id),
    seed_sealed  BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    confirmed_at INTEGER,
    last_step    INTEGER
);

CREATE TABLE recovery_codes (
    id         BLOB PRIMARY KEY NOT NULL,
    account_id BLOB NOT NULL REFERENCES accounts(id),
    code_hash  BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    used_at    INTEGER,
    UNIQUE (account_id, code_hash)
);

CREATE TABLE password_history (
    id            BLOB PRIMARY KEY NOT NULL,
    account_id    BLOB NOT NULL REFERENCES accounts(id),
    password_hash TEXT NOT NULL,
    skeleton_mac  BLOB NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX password_history_by_account ON password_history (account_id, created_at);

CREATE TABLE auth_challenges (
    id         BLOB PRIMARY KEY NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,
    account_id BLOB NOT NULL REFERENCES accounts(id),
    purpose    TEXT NOT NULL,
    code_hash  BLOB,
    session_id BLOB,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    used_at    INTEGER
);
CREATE INDEX auth_challenges_by_account ON auth_challenges (account_id, purpose);
