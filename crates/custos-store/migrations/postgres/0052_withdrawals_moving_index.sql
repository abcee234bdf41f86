-- The wallet worker looks withdrawals up by state only while they are still moving. The index it
-- reads now holds those alone: a withdrawal that ends (confirmed, cancelled, rejected, failed)
-- leaves it instead of being filed again under its final state, so the index stays the size of
-- the live queue rather than of all history, and a freeze that cancels twenty withdrawals writes
-- removals only. `withdrawals_due` names these states in its query so the planner may use it.
DROP INDEX withdrawals_state;
CREATE INDEX withdrawals_moving ON withdrawals (state, updated_at)
    WHERE state IN ('requested', 'awaiting_confirmation', 'held', 'queued', 'processing', 'broadcast');
