-- Two tables every freeze (and every money movement) appends to, rebuilt so an insert writes one
-- B-tree fewer. Both are copied as they are; nothing reads them differently.
--
-- `ledger_entries` loses AUTOINCREMENT. Its only promise over a plain INTEGER PRIMARY KEY is that
-- a deleted row's number is never given again, and ledger entries are never deleted (the
-- append-only triggers, recreated below). Without it an insert no longer writes `sqlite_sequence`.
CREATE TABLE ledger_entries_new (
    seq             INTEGER PRIMARY KEY,
    account_id      BLOB NOT NULL REFERENCES accounts(id),
    asset           TEXT NOT NULL,
    kind            TEXT NOT NULL,
    available_delta TEXT NOT NULL,
    locked_delta    TEXT NOT NULL,
    reference       TEXT,
    created_at      INTEGER NOT NULL
);
INSERT INTO ledger_entries_new (seq, account_id, asset, kind, available_delta, locked_delta, reference, created_at)
    SELECT seq, account_id, asset, kind, available_delta, locked_delta, reference, created_at FROM ledger_entries;
-- DROP TABLE drops the table's triggers before it empties it, so the append-only trigger does not fire.
DROP TABLE ledger_entries;
ALTER TABLE ledger_entries_new RENAME TO ledger_entries;
DELETE FROM sqlite_sequence WHERE name = 'ledger_entries';
CREATE INDEX ledger_entries_account ON ledger_entries (account_id, seq);
CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;

-- `freezes` keyed by its id alone (WITHOUT ROWID): the table is its primary key's B-tree, where a
-- rowid table kept a second one for the key. Ids are UUIDv7, so new rows go at the end; rows are
-- small since the receipt lives in the audit record (0051).
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
) WITHOUT ROWID;
INSERT INTO freezes_new SELECT id, account_id, channel, actor, reason, receipt, audit_chain, audit_seq,
    frozen_at, unfrozen_at, unfrozen_by, approved_by FROM freezes;
DROP TABLE freezes;
ALTER TABLE freezes_new RENAME TO freezes;
CREATE INDEX freezes_account ON freezes (account_id, frozen_at);
