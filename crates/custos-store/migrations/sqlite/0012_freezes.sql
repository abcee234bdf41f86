-- The kill switch: every freeze with its receipt (what was revoked, cancelled, left in flight),
-- and the unfreeze that ended it (two operators). The latest row of an account is its answer
-- when it is frozen again.

CREATE TABLE freezes (
    id           BLOB PRIMARY KEY NOT NULL,
    account_id   BLOB NOT NULL REFERENCES accounts(id),
    channel      TEXT NOT NULL,
    actor        TEXT NOT NULL,
    reason       TEXT NOT NULL,
    receipt      TEXT NOT NULL,
    frozen_at    INTEGER NOT NULL,
    unfrozen_at  INTEGER,
    unfrozen_by  TEXT,
    approved_by  TEXT
);
CREATE INDEX freezes_account ON freezes (account_id, frozen_at);

-- The offline panic code (freeze only): one per account, SHA-256 at rest.
CREATE TABLE panic_codes (
    account_id  BLOB PRIMARY KEY NOT NULL REFERENCES accounts(id),
    code_hash   BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);

-- A freeze finds (and cancels, in one statement) the withdrawals of one account still open.
CREATE INDEX withdrawals_open ON withdrawals (account_id, state);
