-- A freeze's receipt is carried by its `AccountFrozen` audit record; the freeze row names that
-- record (chain and sequence number) instead of storing the receipt a second time. Rows written
-- before keep their own copy. SQLite cannot drop a NOT NULL constraint in place: the table is
-- rebuilt.
CREATE TABLE freezes_new (
    id           BLOB PRIMARY KEY NOT NULL,
    account_id   BLOB NOT NULL REFERENCES accounts(id),
    channel      TEXT NOT NULL,
    actor        TEXT NOT NULL,
    reason       TEXT NOT NULL,
    receipt      TEXT,
    audit_chain  TEXT,
    audit_seq    INTEGER,
    frozen_at    INTEGER NOT NULL,
    unfrozen_at  INTEGER,
    unfrozen_by  TEXT,
    approved_by  TEXT,
    CHECK (receipt IS NOT NULL OR (audit_chain IS NOT NULL AND audit_seq IS NOT NULL))
);
INSERT INTO freezes_new (id, account_id, channel, actor, reason, receipt, frozen_at, unfrozen_at, unfrozen_by, approved_by)
    SELECT id, account_id, channel, actor, reason, receipt, frozen_at, unfrozen_at, unfrozen_by, approved_by FROM freezes;
DROP TABLE freezes;
ALTER TABLE freezes_new RENAME TO freezes;
CREATE INDEX freezes_account ON freezes (account_id, frozen_at);
