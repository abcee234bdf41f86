-- The withdrawal address allowlist. An entry is usable once confirmed by email and cooled down
-- (usable_from); removed entries are kept for the record. The mode: on since enabled_at (NULL:
-- off), and a requested turn-off that takes effect at off_at.

CREATE TABLE allowlist_entries (
    id           BLOB PRIMARY KEY NOT NULL,
    account_id   BLOB NOT NULL REFERENCES accounts(id),
    asset        TEXT NOT NULL,
    network      TEXT NOT NULL,
    address      TEXT NOT NULL,
    memo         TEXT,
    label        TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    confirm_by   INTEGER NOT NULL,
    confirmed_at INTEGER,
    usable_from  INTEGER,
    removed_at   INTEGER,
    CHECK ((confirmed_at IS NULL) = (usable_from IS NULL))
);
CREATE INDEX allowlist_entries_account ON allowlist_entries (account_id, created_at);

CREATE TABLE allowlist_modes (
    account_id BLOB PRIMARY KEY NOT NULL REFERENCES accounts(id),
    enabled_at INTEGER,
    off_at     INTEGER,
    updated_at INTEGER NOT NULL,
    CHECK (off_at IS NULL OR enabled_at IS NOT NULL)
);
