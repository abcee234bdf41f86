-- API keys. An Ed25519 key keeps only its public key; an HMAC key its secret sealed with the
-- api-secret key (bound to key id and account). Scopes and the IP allowlist are comma-separated
-- canonical text, parsed again by custos-core on the way out.

CREATE TABLE api_keys (
    id                 TEXT PRIMARY KEY NOT NULL,
    account_id         BLOB NOT NULL REFERENCES accounts(id),
    label              TEXT NOT NULL,
    kind               TEXT NOT NULL CHECK (kind IN ('ed25519', 'hmac-sha256')),
    public_key         BLOB,
    secret_sealed      BLOB,
    scopes             TEXT NOT NULL,
    ip_allowlist       TEXT NOT NULL,
    created_at         INTEGER NOT NULL,
    valid_until        INTEGER NOT NULL,
    revoked_at         INTEGER,
    revoke_reason      TEXT,
    last_used_at       INTEGER,
    last_used_ip       TEXT,
    created_by_session BLOB,
    created_ip         TEXT,
    CHECK ((kind = 'ed25519' AND public_key IS NOT NULL AND secret_sealed IS NULL)
        OR (kind = 'hmac-sha256' AND secret_sealed IS NOT NULL AND public_key IS NULL))
);
CREATE INDEX api_keys_account ON api_keys (account_id, created_at);

-- Nonces of signed requests, kept until their timestamp leaves the freshness window.
CREATE TABLE api_key_nonces (
    key_id     TEXT NOT NULL,
    nonce      TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (key_id, nonce)
);
