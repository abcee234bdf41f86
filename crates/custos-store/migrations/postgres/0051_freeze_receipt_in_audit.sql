-- A freeze's receipt is carried by its `AccountFrozen` audit record; the freeze row names that
-- record (chain and sequence number) instead of storing the receipt a second time. Rows written
-- before keep their own copy.
ALTER TABLE freezes ALTER COLUMN receipt DROP NOT NULL;
ALTER TABLE freezes ADD COLUMN audit_chain TEXT, ADD COLUMN audit_seq BIGINT;
ALTER TABLE freezes ADD CONSTRAINT freezes_receipt_kept
    CHECK (receipt IS NOT NULL OR (audit_chain IS NOT NULL AND audit_seq IS NOT NULL));
