//! The support console (issue 6 item 4): the queue of open cases ordered by SLA, the case view
//! with one timeline, and the case actions. Every handler's first step is the role check
//! ([`StaffCaller::require`]); every read of user data is audited on the account's chain
//! ([`audit_staff_read`]) in the transaction of the read; every action is audited with the staff
//! member as actor and their reason (`staff_acted`) in the transaction of the change.

use custos_core::Reason;
use custos_core::audit::{AuditEvent, Chain};
use custos_core::ids::{IncidentId, Uid, WithdrawalId};
use custos_core::incident::{IncidentState, MessageBody};
use custos_core::login::AccountStatus;
use custos_core::staff::{StaffAction, StaffCode, StaffStatus, parse_reason};
use custos_store::{IncidentNoteRecord, IncidentRecord};
use serde::Serialize;
use utoipa::ToSchema;

use super::audit;
use super::case_timeline::{self, CaseTimeline};
use super::freeze::{self, Frozen};
use super::incidents::{self, IncidentView, MessageView};
use super::staff::StaffCaller;
use super::support::audit_staff_read;
use super::withdrawals::{self, CancelledBy, WithdrawalView};
use crate::error::ApiError;
use crate::state::AppState;

/// The most cases the queue lists.
pub const QUEUE_LIMIT: u32 = 500;

#[derive(Debug, Serialize, ToSchema)]
pub struct Assignee {
    pub staff_id: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueueItem {
    pub id: String,
    pub uid: u64,
    /// `new`, `triage`, `investigating`, `waiting_on_user`, `resolved`.
    pub state: &'static str,
    pub origin: String,
    pub opened_at: String,
    pub assignee: Option<Assignee>,
    /// True when the first response or the resolution is overdue.
    pub breached: bool,
    /// "first response: due in 12 min · resolution: due in 71 h 48 min".
    pub sla_words: String,
    pub sla: incidents::SlaView,
}

/// The reason every action needs, checked before anything is read: `422 reason-required`,
/// `reason-too-long` or `reason-invalid`.
fn reason(r: Option<&str>) -> Result<String, ApiError> {
    parse_reason(r).map_err(|e| ApiError::Validation(vec![e]))
}

fn case_id(id: &str) -> Result<IncidentId, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound)
}

async fn assignee(state: &AppState, code: Option<&str>) -> Result<Option<Assignee>, ApiError> {
    let Some(code) = code.and_then(StaffCode::parse) else { return Ok(None) };
    let name = state.store.staff_by_code(&code).await?.map(|s| s.name).unwrap_or_default();
    Ok(Some(Assignee { staff_id: code.to_string(), name }))
}

/// `GET /api/v1/support/queue`: open cases, breached first, then the soonest first response due,
/// then the soonest resolution due. Reading the queue reads no account's data beyond its UID and
/// state, so it is not an account read; opening a case is.
pub async fn queue(state: &AppState, staff: &StaffCaller) -> Result<Vec<QueueItem>, ApiError> {
    staff.require(StaffAction::ReadQueue)?;
    let now = state.clock.now();
    let mut cases: Vec<(IncidentRecord, custos_core::incident::SlaClock)> = state
        .store
        .open_incidents(QUEUE_LIMIT)
        .await?
        .into_iter()
        .map(|c| {
            let clock = state.config.sla.clock(c.opened_at, c.first_response_at, c.resolved_at, now);
            (c, clock)
        })
        .collect();
    cases.sort_by_key(|(c, clock)| (clock.queue_key(), c.opened_at));
    let mut out = Vec::with_capacity(cases.len());
    for (c, clock) in cases {
        let view = IncidentView::new(&c, state);
        let (not_breached, _, _) = clock.queue_key();
        out.push(QueueItem {
            id: c.id.to_string(),
            uid: c.facts.uid,
            state: c.state.as_str(),
            origin: c.origin.as_string(),
            opened_at: c.opened_at.rfc3339(),
            assignee: assignee(state, c.assignee.as_deref()).await?,
            breached: !not_breached,
            sla_words: format!(
                "first response: {} · resolution: {}",
                view.sla.first_response.words, view.sla.resolution.words
            ),
            sla: view.sla,
        });
    }
    Ok(out)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NoteView {
    pub id: String,
    pub staff_id: String,
    pub staff_name: String,
    pub body: String,
    pub at: String,
}

impl NoteView {
    fn new(n: &IncidentNoteRecord) -> Self {
        Self {
            id: n.id.to_string(),
            staff_id: n.staff_id.clone(),
            staff_name: n.staff_name.clone(),
            body: n.body.clone(),
            at: n.created_at.rfc3339(),
        }
    }
}

/// The case as staff see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct StaffCaseView {
    pub incident: IncidentView,
    pub assignee: Option<Assignee>,
    /// `active | frozen | recovering | closed`.
    pub account_status: String,
    /// The thread the holder sees (user, staff and system messages).
    pub messages: Vec<MessageView>,
    /// Internal notes: staff only, never shown to the holder.
    pub notes: Vec<NoteView>,
    pub timeline: CaseTimeline,
    /// The states this case may move to (the core transition table).
    pub next_states: Vec<&'static str>,
}

/// `GET /api/v1/support/incidents/{id}`: the case, its thread and notes, and one timeline; the
/// read is audited on the account's chain (`staff_read_account {what: "case:<id>"}`).
pub async fn case(state: &AppState, staff: &StaffCaller, id: &str) -> Result<StaffCaseView, ApiError> {
    staff.require(StaffAction::ReadCase)?;
    let id = case_id(id)?;
    let found = state.store.incident(id).await?.ok_or(ApiError::NotFound)?;
    let found = incidents::ensure_filled(state, found).await?;
    let full = staff.require(StaffAction::ReadFullTimeline).is_ok();
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(found.account_id).await?.ok_or(ApiError::NotFound)?;
    let what = if full { format!("case:{id} (full timeline)") } else { format!("case:{id}") };
    audit_staff_read(&mut *tx, staff, account.id, &what, now).await?;
    let case = tx.incident_in_tx(id).await?.ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    let messages = state.store.incident_messages(id).await?;
    let notes = state.store.incident_notes(id).await?;
    let timeline = case_timeline::build(state, account.id, &messages, &notes, full).await?;
    let next_states =
        IncidentState::ALL.into_iter().filter(|s| case.state.may_become(*s)).map(|s| s.as_str()).collect();
    Ok(StaffCaseView {
        incident: IncidentView::new(&case, state),
        assignee: assignee(state, case.assignee.as_deref()).await?,
        account_status: account.status.as_str().to_owned(),
        messages: messages.iter().map(MessageView::new).collect(),
        notes: notes.iter().map(NoteView::new).collect(),
        timeline,
        next_states,
    })
}

/// `POST …/incidents/{id}/messages`: a message to the holder (through
/// [`incidents::staff_reply_because`]); the reason is optional here (the message speaks for itself)
/// but checked when given.
pub async fn message(
    state: &AppState,
    staff: &StaffCaller,
    id: &str,
    body: &str,
    why: Option<&str>,
) -> Result<MessageView, ApiError> {
    staff.require(StaffAction::MessageUser)?;
    let why = match why.map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) => Some(reason(Some(r))?),
        None => None,
    };
    let id = case_id(id)?;
    incidents::staff_reply_because(state, id, staff.code.as_str(), &staff.name, body, None, why.as_deref())
        .await
}

/// `POST …/incidents/{id}/notes`: an internal note (never shown to the holder, never emailed).
pub async fn note(state: &AppState, staff: &StaffCaller, id: &str, body: &str) -> Result<NoteView, ApiError> {
    staff.require(StaffAction::AddNote)?;
    let body = MessageBody::parse(body).map_err(|r| ApiError::Validation(vec![r]))?;
    let id = case_id(id)?;
    let account_id = state.store.incident(id).await?.ok_or(ApiError::NotFound)?.account_id;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.lock_account(account_id).await?.ok_or(ApiError::NotFound)?;
    let case = tx.incident_in_tx(id).await?.ok_or(ApiError::NotFound)?;
    let record = IncidentNoteRecord {
        id: uuid::Uuid::now_v7(),
        incident_id: case.id,
        staff_id: staff.code.as_str().to_owned(),
        staff_name: staff.name.clone(),
        body: body.as_str().to_owned(),
        created_at: now,
    };
    tx.insert_incident_note(&record).await?;
    audit(
        &mut *tx,
        Chain::Account(account_id),
        now,
        staff.actor(),
        AuditEvent::IncidentNoteAdded { incident: case.id },
    )
    .await?;
    tx.commit().await?;
    Ok(NoteView::new(&record))
}

/// `POST …/incidents/{id}/assign`: to `me` or an active member of staff by staff ID; `none`
/// unassigns. An unknown or disabled staff ID is `422 assignee-invalid`.
pub async fn assign(
    state: &AppState,
    staff: &StaffCaller,
    id: &str,
    to: &str,
    why: Option<&str>,
) -> Result<IncidentView, ApiError> {
    staff.require(StaffAction::ChangeCaseState)?;
    let why = reason(why)?;
    let id = case_id(id)?;
    let to = to.trim();
    let assignee = if to.eq_ignore_ascii_case("me") {
        Some(staff.code.clone())
    } else if to.eq_ignore_ascii_case("none") {
        None
    } else {
        let invalid = || {
            ApiError::Validation(vec![Reason::new(
                "assignee-invalid",
                "Assign to \"me\", \"none\" or the staff ID (CS-…) of an active member of staff.",
            )])
        };
        let code = StaffCode::parse(to).ok_or_else(invalid)?;
        match state.store.staff_by_code(&code).await? {
            Some(s) if s.status == StaffStatus::Active => Some(code),
            _ => return Err(invalid()),
        }
    };
    let account_id = state.store.incident(id).await?.ok_or(ApiError::NotFound)?.account_id;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.lock_account(account_id).await?.ok_or(ApiError::NotFound)?;
    let mut case = tx.incident_in_tx(id).await?.ok_or(ApiError::NotFound)?;
    if case.state == IncidentState::Closed {
        return Err(ApiError::Conflict(Reason::new("incident-closed", "This case is closed.")));
    }
    case.assignee = assignee.map(|c| c.to_string());
    case.updated_at = now;
    tx.update_incident(&case).await?;
    let actor = staff.actor();
    let event = AuditEvent::IncidentAssigned { incident: case.id, assignee: case.assignee.clone() };
    audit(&mut *tx, Chain::Account(account_id), now, actor.clone(), event).await?;
    let subject = format!("incident:{}", case.id);
    incidents::staff_acted(
        &mut *tx,
        account_id,
        &actor,
        StaffAction::ChangeCaseState,
        subject,
        Some(&why),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(IncidentView::new(&case, state))
}

/// `POST …/incidents/{id}/state`: the core's transition table decides; a refused move is `409
/// incident-transition-refused`, an unknown state `422 state-invalid`.
pub async fn set_state(
    state: &AppState,
    staff: &StaffCaller,
    id: &str,
    to: &str,
    why: Option<&str>,
) -> Result<IncidentView, ApiError> {
    staff.require(StaffAction::ChangeCaseState)?;
    let mut reasons = Vec::new();
    let why = parse_reason(why).map_err(|e| reasons.push(e)).ok();
    let to = IncidentState::parse(to.trim()).ok_or_else(|| {
        reasons.push(Reason::new(
            "state-invalid",
            "The state is one of new, triage, investigating, waiting_on_user, resolved, closed.",
        ))
    });
    let (Some(why), Ok(to)) = (why, to) else { return Err(ApiError::Validation(reasons)) };
    let id = case_id(id)?;
    incidents::staff_set_state_because(state, id, (staff.code.as_str(), &staff.name), to, Some(&why)).await
}

/// `POST …/accounts/{uid}/freeze`: the freeze use case with the staff member as actor (channel
/// `support`); the freeze opens or adds to the account's case like every freeze.
pub async fn freeze_account(
    state: &AppState,
    staff: &StaffCaller,
    uid: &str,
    why: Option<&str>,
) -> Result<Frozen, ApiError> {
    staff.require(StaffAction::FreezeAccount)?;
    let why = reason(why)?;
    let uid = Uid::parse(uid).ok_or(ApiError::NotFound)?;
    let account = state.store.account_by_uid(uid).await?.ok_or(ApiError::NotFound)?;
    freeze::by_staff(state, account.id, staff, &why).await
}

/// `POST …/withdrawals/{id}/cancel` (`intercept: false`, only before the wallet has it) and
/// `…/intercept` (`intercept: true`, only while it is processing: the wallet is asked, the answer
/// recorded; stopped → cancelled and funds back, too late → `409 withdrawal-not-intercepted` with
/// the TxID). The same code path as the holder's cancel.
pub async fn stop_withdrawal(
    state: &AppState,
    staff: &StaffCaller,
    id: &str,
    why: Option<&str>,
    intercept: bool,
) -> Result<WithdrawalView, ApiError> {
    staff.require(if intercept {
        StaffAction::InterceptWithdrawal
    } else {
        StaffAction::CancelWithdrawal
    })?;
    let why = reason(why)?;
    let id: WithdrawalId = id.parse().map_err(|_| ApiError::NotFound)?;
    let by = CancelledBy::Staff {
        staff_id: staff.code.as_str().to_owned(),
        name: staff.name.clone(),
        reason: why,
        intercept,
    };
    withdrawals::cancel(state, id, &by).await
}

/// Whether the account behind a case is frozen (the case page shows a freeze button when not).
pub fn is_frozen(status: &str) -> bool {
    status == AccountStatus::Frozen.as_str()
}
