-- The moving withdrawals' index (0052) again, its states spelled as ORs instead of one IN list.
-- SQLite evaluates a partial index's condition for the old and the new row of every update, and
-- an IN list there cost ~8 µs a row: a freeze cancelling twenty withdrawals spent ~0.24 ms of
-- its transaction on this index alone (measured with Python's sqlite3 on a copy of the benchmark
-- database: 333 µs for the twenty-row UPDATE with the IN list, 92 µs with the ORs). The query
-- that reads the index (`withdrawals_due`) names the states the same way, so the planner still
-- matches it. PostgreSQL gets the same spelling so the backends stay alike.
DROP INDEX withdrawals_moving;
CREATE INDEX withdrawals_moving ON withdrawals (state, updated_at)
    WHERE (state = 'requested' OR state = 'awaiting_confirmation' OR state = 'held' OR state = 'queued' OR state = 'processing' OR state = 'broadcast');
