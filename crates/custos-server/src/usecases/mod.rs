//! Application services: one use case per command, one transaction per use case. Each loads what
//! it needs, decides with `custos-core`, and writes the change, its audit records and its outbox
//! messages in one transaction (DESIGN principle 3). Handlers parse, call one of these, render.

pub mod accounts;
pub mod login;
pub mod notify;
pub mod operator;
pub mod sessions;

use custos_core::Timestamp;
use custos_core::audit::{Actor, AuditEvent, Chain};
use custos_store::Tx;

use crate::error::ApiError;

/// Appends one audit record; the common case of a use case writing to an account's chain.
pub(crate) async fn audit(
    tx: &mut dyn Tx,
    chain: Chain,
    at: Timestamp,
    actor: Actor,
    event: AuditEvent,
) -> Result<(), ApiError> {
    tx.append_audit(chain, at, actor, event).await?;
    Ok(())
}
