//! What support does to a case from the console: reply (optionally moving it on), change its
//! state; each with the staff member's reason audited.

use custos_core::Reason;
use custos_core::Timestamp;
use custos_core::audit::{Actor, AuditEvent, Chain};
use custos_core::ids::{AccountId, IncidentId, IncidentMessageId};
use custos_core::incident::{IncidentState, MessageAuthor, MessageBody};
use custos_core::notice::Notice;
use custos_store::{IncidentMessageRecord, Tx};

use super::super::audit;
use super::super::notify::{self, Recipient};
use super::{IncidentView, MessageView, move_to, trusted_email};
use crate::error::ApiError;
use crate::state::AppState;

/// Why a member of staff acted, in the transaction of the action (`usecases::console` checks the
/// reason first). Nothing when no reason was given (a message needs none).
pub(crate) async fn staff_acted(
    tx: &mut dyn Tx,
    account: AccountId,
    actor: &Actor,
    action: custos_core::staff::StaffAction,
    subject: String,
    reason: Option<&str>,
    now: Timestamp,
) -> Result<(), ApiError> {
    let Some(reason) = reason else { return Ok(()) };
    let event = AuditEvent::StaffActed { action: action.as_str().into(), subject, reason: reason.to_owned() };
    audit(tx, Chain::Account(account), now, actor.clone(), event).await
}

fn staff_actor(staff_id: &str, display_name: &str) -> Actor {
    Actor::Staff { staff_id: staff_id.to_owned(), name: display_name.to_owned() }
}

/// A message from a member of staff, optionally with a state change, in one transaction; the
/// holder is told by email (anti-phishing code, no link) at the trusted address. The first staff
/// message is the SLA's first response.
pub async fn staff_reply(
    state: &AppState,
    id: IncidentId,
    staff_id: &str,
    display_name: &str,
    body: &str,
    new_state: Option<IncidentState>,
) -> Result<MessageView, ApiError> {
    staff_reply_because(state, id, staff_id, display_name, body, new_state, None).await
}

/// [`staff_reply`] with the staff member's reason (audited as `staff_acted` when given).
pub async fn staff_reply_because(
    state: &AppState,
    id: IncidentId,
    staff_id: &str,
    display_name: &str,
    body: &str,
    new_state: Option<IncidentState>,
    reason: Option<&str>,
) -> Result<MessageView, ApiError> {
    let body = MessageBody::parse(body).map_err(|r| ApiError::Validation(vec![r]))?;
    let now = state.clock.now();
    let actor = staff_actor(staff_id, display_name);
    let account_id = state.store.incident(id).await?.ok_or(ApiError::NotFound)?.account_id;
    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(account_id).await?.ok_or(ApiError::NotFound)?;
    let mut case = tx.incident_in_tx(id).await?.ok_or(ApiError::NotFound)?;
    if case.state == IncidentState::Closed {
        return Err(ApiError::Conflict(Reason::new("incident-closed", "This case is closed.")));
    }
    if let Some(to) = new_state {
        let event = move_to(&mut case, to, now)?;
        audit(&mut *tx, Chain::Account(account.id), now, actor.clone(), event).await?;
    }
    case.first_response_at.get_or_insert(now);
    case.updated_at = now;
    tx.update_incident(&case).await?;
    let author =
        MessageAuthor::Staff { staff_id: staff_id.to_owned(), display_name: display_name.to_owned() };
    let record = IncidentMessageRecord {
        id: IncidentMessageId::new(),
        incident_id: case.id,
        author: author.clone(),
        body: body.as_str().to_owned(),
        created_at: now,
    };
    tx.insert_incident_message(&record).await?;
    let event = AuditEvent::IncidentMessageAdded {
        incident: case.id,
        author: "staff".into(),
        staff_id: Some(staff_id.into()),
    };
    audit(&mut *tx, Chain::Account(account.id), now, actor.clone(), event).await?;
    let action = custos_core::staff::StaffAction::MessageUser;
    staff_acted(&mut *tx, account.id, &actor, action, format!("incident:{}", case.id), reason, now).await?;
    if let Some(to) = trusted_email(&mut *tx, &account, now).await? {
        let recipient = Recipient {
            account: Some(account.id),
            email: &to,
            anti_phishing_code: account.anti_phishing_code.as_deref(),
        };
        let notice =
            Notice::CaseReply { uid: account.uid.get(), staff_name: display_name.to_owned(), at: now };
        notify::email(&mut *tx, state, recipient, notice, format!("case_reply:{}", record.id), now).await?;
    }
    tx.commit().await?;
    state.outbox_wake.notify_one();
    Ok(MessageView::new(&record))
}

/// A state change by a member of staff (no message).
pub async fn staff_set_state(
    state: &AppState,
    id: IncidentId,
    staff_id: &str,
    to: IncidentState,
) -> Result<IncidentView, ApiError> {
    staff_set_state_because(state, id, (staff_id, staff_id), to, None).await
}

/// [`staff_set_state`] by `(staff ID, display name)` with the reason (audited as `staff_acted`).
pub async fn staff_set_state_because(
    state: &AppState,
    id: IncidentId,
    (staff_id, display_name): (&str, &str),
    to: IncidentState,
    reason: Option<&str>,
) -> Result<IncidentView, ApiError> {
    let now = state.clock.now();
    let actor = staff_actor(staff_id, display_name);
    let account_id = state.store.incident(id).await?.ok_or(ApiError::NotFound)?.account_id;
    let mut tx = state.store.begin().await?;
    tx.lock_account(account_id).await?.ok_or(ApiError::NotFound)?;
    let mut case = tx.incident_in_tx(id).await?.ok_or(ApiError::NotFound)?;
    let event = move_to(&mut case, to, now)?;
    tx.update_incident(&case).await?;
    audit(&mut *tx, Chain::Account(account_id), now, actor.clone(), event).await?;
    let action = custos_core::staff::StaffAction::ChangeCaseState;
    staff_acted(&mut *tx, account_id, &actor, action, format!("incident:{}", case.id), reason, now).await?;
    tx.commit().await?;
    Ok(IncidentView::new(&case, state))
}
