-- The withdrawal address allowlist. An entry is usable once confirmed by email and cooled down
-- (usable_from); removed entries are kept for the record. The mode: on since enabled_at (NULL:
-- off), and a requested turn-off that takes effect at off_at.

CREATE TABLE allowlist_entries (
    id           UUID PRIMARY KEY,
    account_id   UUID NOT NULL REFERENCES accounts(id),
    asset        TEXT NOT NULL,
    network      TEXT NOT NULL,
    address      TEXT NOT NULL,
    memo         TEXT,
    label        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    confirm_by   BIGINT NOT NULL,
    confirmed_at BIGINT,
    usable_from  BIGINT,
    removed_at   BIGINT,
    CHECK ((confirmed_at IS NULL) = (usable_from IS NULL))
);
CREATE INDEX allowlist_entries_account ON allowlist_entries (account_id, created_at);

CREATE TABLE allowlist_modes (
    account_id UUID PRIMARY KEY REFERENCES accounts(id),
    enabled_at BIGINT,
    off_at     BIGINT,
    updated_at BIGINT NOT NULL,
    CHECK (off_at IS NULL OR enabled_at IS NOT NULL)
);
