-- The support console (issue 6 item 4): who is working a case, and internal notes staff keep on
-- it. Notes are never shown to the holder: they have their own table so no query for the thread
-- can reach them.

-- The public staff ID (`CS-123456`) of the member of staff working the case; NULL: nobody yet.
ALTER TABLE incidents ADD COLUMN assignee TEXT;

CREATE TABLE incident_notes (
    id           UUID PRIMARY KEY,
    incident_id  UUID NOT NULL REFERENCES incidents(id),
    staff_id     TEXT NOT NULL,
    staff_name   TEXT NOT NULL,
    body         TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX incident_notes_case ON incident_notes (incident_id, created_at);
