-- Credentials and second factors: withdrawal locks, TOTP, recovery codes, password history,
-- and short-lived authentication challenges (second-factor login, emailed step-up codes).

ALTER TABLE accounts ADD COLUMN withdrawal_lock_until BIGINT;
ALTER TABLE accounts ADD COLUMN withdrawal_lock_reason TEXT;

-- One TOTP factor per account. The seed is sealed (XChaCha20-Poly1305, bound to the account).
-- An unconfirmed row is an enrolment in progress; last_step is the replay guard.
CREATE TABLE totp_factors (
    account_id   UUID PRIMARY KEY REFERENCES accounts(id),
    seed_sealed  BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    confirmed_at BIGINT,
    last_step    BIGINT
);

CREATE TABLE recovery_codes (
    id         UUID PRIMARY KEY,
    account_id UUID NOT NULL REFERENCES accounts(id),
    code_hash  BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT,
    UNIQUE (account_id, code_hash)
);

CREATE TABLE password_history (
    id            UUID PRIMARY KEY,
    account_id    UUID NOT NULL REFERENCES accounts(id),
    password_hash TEXT NOT NULL,
    skeleton_mac  BYTEA NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX password_history_by_account ON password_history (account_id, created_at);

CREATE TABLE auth_challenges (
    id         UUID PRIMARY KEY,
    token_hash BYTEA NOT NULL UNIQUE,
    account_id UUID NOT NULL REFERENCES accounts(id),
    purpose    TEXT NOT NULL,
    code_hash  BYTEA,
    session_id UUID,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    used_at    BIGINT
);
CREATE INDEX auth_challenges_by_account ON auth_challenges (account_id, purpose);
