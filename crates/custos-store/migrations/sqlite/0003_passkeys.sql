-- Passkeys (WebAuthn): registered credentials, and the state of ceremonies in flight between the
-- request that hands out options and the one that brings the authenticator's answer.

-- `passkey` is webauthn-rs's `Passkey` as JSON: public key, signature counter, backup flags. It
-- holds nothing secret, but it is what a signature is checked against, so only custos writes it.
CREATE TABLE passkeys (
    id            BLOB PRIMARY KEY NOT NULL,
    account_id    BLOB NOT NULL REFERENCES accounts(id),
    credential_id BLOB NOT NULL UNIQUE,
    passkey       TEXT NOT NULL,
    name          TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
);
CREATE INDEX passkeys_by_account ON passkeys (account_id, created_at);

-- One row per ceremony, found by the SHA-256 of the handle the client sends back. Bound to an
-- account and session (registration, step-up), to a login challenge (second factor), or to
-- nothing yet (passkey sign-in: the credential names the account). Single use.
CREATE TABLE passkey_ceremonies (
    id           BLOB PRIMARY KEY NOT NULL,
    token_hash   BLOB NOT NULL UNIQUE,
    purpose      TEXT NOT NULL,
    account_id   BLOB REFERENCES accounts(id),
    session_id   BLOB,
    challenge_id BLOB,
    state        TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER
);
CREATE INDEX passkey_ceremonies_by_expiry ON passkey_ceremonies (expires_at);
