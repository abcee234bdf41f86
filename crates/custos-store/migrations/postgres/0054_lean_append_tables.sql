-- SQLite's 0054 rebuilds `ledger_entries` without AUTOINCREMENT and `freezes` WITHOUT ROWID, so
-- each insert there writes one B-tree fewer. PostgreSQL pays neither cost (a heap has no hidden
-- rowid B-tree, and a sequence logs its values ahead in batches): nothing to change. Kept so both
-- backends number their migrations alike.
SELECT 1;
