-- A freeze revokes every API key of the account by moving this cut instead of writing each key:
-- a key created at or before it is revoked (reason `account_frozen`, at the cut) whatever its row
-- says. Every read of a key goes through the account row (`api_key_columns!`), so the freeze's
-- one account update is the revocation; the freeze's follow-up writes it into the key rows soon
-- after, so a later freeze's cut never redates an earlier revocation.
ALTER TABLE accounts ADD COLUMN api_keys_cut_at INTEGER;
