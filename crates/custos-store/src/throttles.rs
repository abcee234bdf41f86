//! Failure counters behind the throttles, kept in the database so they hold across nodes and
//! restarts; stored per backend by `sql_throttles`.

use std::time::Duration;

use custos_core::Timestamp;

use crate::Result;
use crate::records::*;

/// Counting and clearing failures inside a command's transaction; part of [`crate::Tx`].
#[async_trait::async_trait]
pub trait ThrottleTx: Send {
    async fn record_failure(&mut self, key: &str, now: Timestamp, window: Duration) -> Result<ThrottleState>;
    async fn clear_throttle(&mut self, key: &str) -> Result<()>;
}

/// A counter read outside any transaction; part of [`crate::Reader`]. (The login's own read takes
/// its counters with the account in one statement, `Reader::login_lookup`.)
#[async_trait::async_trait]
pub trait ThrottleReader: Send + Sync {
    async fn throttle_state(&self, key: &str) -> Result<Option<ThrottleState>>;
}
