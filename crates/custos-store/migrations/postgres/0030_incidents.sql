-- Incident cases (issue 6): opened by every freeze and by the holder's report; at most one open
-- (not closed) case per account. The four facts are one JSON document; `facts_filled_at` is set
-- once the diagnosis has filled them in (a freeze opens the case first, then fills it).

CREATE TABLE incidents (
    id                 UUID PRIMARY KEY,
    account_id         UUID NOT NULL REFERENCES accounts(id),
    state              TEXT NOT NULL,
    origin             TEXT NOT NULL,
    facts              TEXT NOT NULL,
    facts_filled_at    BIGINT,
    opened_at          BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    first_response_at  BIGINT,
    resolved_at        BIGINT
);
CREATE UNIQUE INDEX incidents_one_open ON incidents (account_id) WHERE state <> 'closed';
CREATE INDEX incidents_queue ON incidents (state, opened_at);

CREATE TABLE incident_messages (
    id           UUID PRIMARY KEY,
    incident_id  UUID NOT NULL REFERENCES incidents(id),
    author       TEXT NOT NULL,
    staff_id     TEXT,
    staff_name   TEXT,
    body         TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX incident_messages_thread ON incident_messages (incident_id, created_at);

-- The contact a binding change replaced (`email` or `phone`), so a case link goes only to an
-- address that predates the change, never to one an attacker may have set.
CREATE TABLE contact_changes (
    id          UUID PRIMARY KEY,
    account_id  UUID NOT NULL REFERENCES accounts(id),
    kind        TEXT NOT NULL,
    previous    TEXT NOT NULL,
    changed_at  BIGINT NOT NULL
);
CREATE INDEX contact_changes_account ON contact_changes (account_id, changed_at);
