-- The registry of official channels users can check (issue 6 item 5). `value` is the canonical
-- form custos-core's `official_channel::normalise` gives; staff IDs are not stored here (they
-- come from the staff table).

CREATE TABLE official_channels (
    id         UUID PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('domain', 'email', 'phone', 'social')),
    value      TEXT NOT NULL,
    note       TEXT,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    UNIQUE (kind, value)
);
