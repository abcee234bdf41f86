//! The wallet worker's index (`withdrawals_moving`, migrations 0052 and 0055) and the query that reads it
//! (`withdrawals_due`) name the states a withdrawal is still moving in: exactly the states that
//! are not final. A state added to the machine must be added to both, or the worker would not
//! find withdrawals in it.

use custos_core::withdrawal::WithdrawalState;

/// As ORs: SQLite evaluates an IN list in a partial index's condition slowly (migration 0055).
const MOVING: &str = "(state = 'requested' OR state = 'awaiting_confirmation' OR state = 'held' OR state = 'queued' \
                      OR state = 'processing' OR state = 'broadcast')";

#[test]
fn the_moving_states_are_the_states_that_are_not_final() {
    let listed: Vec<&str> = MOVING
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(" OR ")
        .map(|s| s.trim_start_matches("state = ").trim_matches('\''))
        .collect();
    let not_final: Vec<&str> =
        WithdrawalState::ALL.iter().filter(|s| !s.is_final()).map(|s| s.as_str()).collect();
    assert_eq!(listed, not_final);
}

#[test]
fn the_index_and_the_query_name_the_same_states() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in [
        "migrations/sqlite/0055_withdrawals_moving_or.sql",
        "migrations/postgres/0055_withdrawals_moving_or.sql",
        "src/sql_money.rs",
    ] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        assert!(text.contains(MOVING), "{file} does not name the moving states as {MOVING}");
    }
}
