//! Incident cases (issue 6, "report"): opened for every freeze and by the holder's report; a thread
//! between the holder and support; the private case link.
//!
//! A freeze must stay fast, so it only queues the case (a follow-up in the outbox, carrying the
//! link its receipt shows, `case_followup::case_for_freeze`); right after the freeze commits, a task opens the
//! case with what the freeze knew (UID, email, the receipt as the measures taken) and the
//! diagnosis, which reads the account's last month, fills in the detection time and the
//! unauthorised actions (`case_followup::open_in_background`). The outbox worker retries the first step, the
//! case page runs it if its link arrives first, and any reader that finds the facts still pending
//! runs the second — so a crash between the steps loses nothing.
//!
//! The case link (`LinkPurpose::CaseAccess`) reads and adds to one case, survives the security
//! stamp, and is emailed only to an address that predates the last email change (see
//! [`trusted_email`]), never to one an attacker may have set.

use std::time::Duration;

use custos_core::Timestamp;
use custos_core::audit::{Actor, AuditEvent, Chain};
use custos_core::email::Email;
use custos_core::ids::{AccountId, IncidentId, IncidentMessageId};
use custos_core::incident::{self, IncidentFacts, IncidentOrigin, IncidentState, MessageAuthor, MessageBody};
use custos_core::webhook::WebhookEvent;
use custos_core::{Reason, diagnosis as core_diagnosis};
use custos_store::{AccountRecord, ContactChange, ContactKind, IncidentMessageRecord, IncidentRecord, Tx};

use super::notify;
use super::{audit, diagnosis};
use crate::error::ApiError;
use crate::extract::UserSession;
use crate::state::AppState;

mod link;
mod staff;
mod view;
pub use link::{case_by_link, post_by_link};
pub(crate) use link::{case_url, link_for_frozen, store_case_link};
pub(crate) use staff::staff_acted;
pub use staff::{staff_reply, staff_reply_because, staff_set_state, staff_set_state_because};
pub use view::{CaseView, FactsView, IncidentView, MessageView, SlaTargetView, SlaView};

/// How far back a binding change makes the current address untrusted for the case link.
pub const TRUSTED_CONTACT_WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);

/// The private case link a receipt shows, and where (if anywhere) it was emailed.
#[derive(Debug, Clone)]
pub struct CaseLink {
    pub url: String,
    /// The masked address it went to; `None`: no address predating the last change exists.
    pub emailed_to: Option<String>,
}

/// The address the case link (and notices about the case) may go to: the one bound before the
/// first email change of the last 30 days, or the current one if it did not change since — and
/// only if it was ever verified. An attacker who changed the email never receives the link.
pub(crate) async fn trusted_email(
    tx: &mut dyn Tx,
    account: &AccountRecord,
    now: Timestamp,
) -> Result<Option<String>, ApiError> {
    let changes = tx.contact_changes_since(account.id, trusted_window_start(now)).await?;
    Ok(trusted_email_of(account, &changes))
}

/// Where [`trusted_email`] looks back from.
pub(crate) fn trusted_window_start(now: Timestamp) -> Timestamp {
    now.minus(TRUSTED_CONTACT_WINDOW)
}

/// [`trusted_email`], given the contact changes since [`trusted_window_start`], oldest first.
pub(super) fn trusted_email_of(account: &AccountRecord, changes: &[ContactChange]) -> Option<String> {
    match changes.iter().find(|c| c.kind == ContactKind::Email) {
        Some(first) => Some(first.previous.clone()),
        None => account.email_verified_at.map(|_| account.email.clone()),
    }
}

/// Records the contact a binding change replaced (called by the credential-change matrix).
pub(crate) async fn record_previous_contact(
    tx: &mut dyn Tx,
    account: AccountId,
    kind: ContactKind,
    previous: &str,
    now: Timestamp,
) -> Result<(), ApiError> {
    tx.record_contact_change(account, kind, previous, now).await?;
    Ok(())
}

pub(super) fn mask(email: &str) -> String {
    Email::parse(email).map(|e| e.masked()).unwrap_or_else(|_| "•••".into())
}

async fn add_message(
    tx: &mut dyn Tx,
    case: &IncidentRecord,
    author: MessageAuthor,
    body: &MessageBody,
    actor: Actor,
    now: Timestamp,
) -> Result<(), ApiError> {
    tx.insert_incident_message(&IncidentMessageRecord {
        id: IncidentMessageId::new(),
        incident_id: case.id,
        author: author.clone(),
        body: body.as_str().to_owned(),
        created_at: now,
    })
    .await?;
    let staff_id = match &author {
        MessageAuthor::Staff { staff_id, .. } => Some(staff_id.clone()),
        _ => None,
    };
    let event =
        AuditEvent::IncidentMessageAdded { incident: case.id, author: author.kind().into(), staff_id };
    audit(tx, Chain::Account(case.account_id), now, actor, event).await
}

/// Moves `case` to `to` (checked against the core's table) and audits it; the caller writes the row.
pub(crate) fn move_to(
    case: &mut IncidentRecord,
    to: IncidentState,
    now: Timestamp,
) -> Result<AuditEvent, ApiError> {
    if !case.state.may_become(to) {
        return Err(ApiError::Conflict(Reason::new(
            "incident-transition-refused",
            format!("A case that is {} cannot become {}.", case.state.as_str(), to.as_str()),
        )));
    }
    let from = case.state;
    case.state = to;
    case.updated_at = now;
    if to == IncidentState::Resolved {
        case.resolved_at = Some(now);
    } else if from == IncidentState::Resolved {
        case.resolved_at = None;
    }
    Ok(AuditEvent::IncidentStateChanged {
        incident: case.id,
        from: from.as_str().into(),
        to: to.as_str().into(),
    })
}

pub(super) async fn open_case(
    tx: &mut dyn Tx,
    state: &AppState,
    account: &AccountRecord,
    origin: IncidentOrigin,
    measures_taken: Vec<String>,
    actor: Actor,
    now: Timestamp,
) -> Result<IncidentRecord, ApiError> {
    let case = IncidentRecord {
        id: IncidentId::new(),
        account_id: account.id,
        state: IncidentState::New,
        origin,
        facts: IncidentFacts {
            uid: account.uid.get(),
            email: account.email.clone(),
            detected_at: None,
            unauthorised_actions: Vec::new(),
            measures_taken,
        },
        facts_filled_at: None,
        opened_at: now,
        updated_at: now,
        first_response_at: None,
        resolved_at: None,
        assignee: None,
    };
    tx.insert_incident(&case).await?;
    let chain = Chain::Account(account.id);
    let event = AuditEvent::IncidentOpened { incident: case.id, origin: origin.as_string() };
    audit(tx, chain, now, actor, event).await?;
    let data = serde_json::json!({
        "uid": account.uid.get(),
        "incident": case.id,
        "origin": origin.as_string(),
        "opened_at": now.rfc3339(),
    });
    notify::webhook(
        tx,
        state,
        Some(account.id),
        WebhookEvent::IncidentOpened,
        data,
        format!("incident_opened:{}", case.id),
        now,
    )
    .await?;
    Ok(case)
}

/// The second step of a freeze (and the first of a report): the diagnosis fills in the detection
/// time and the unauthorised actions of the account's open case, once. Facts the holder edited
/// are kept.
pub async fn fill_facts(state: &AppState, account: AccountId) -> Result<(), ApiError> {
    let t = diagnosis::timeline(state, account).await?;
    let d = core_diagnosis::diagnose(&t);
    let (detected, actions) = incident::facts_from_diagnosis(&d);
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    if tx.lock_account(account).await?.is_none() {
        return Ok(());
    }
    let Some(mut case) = tx.open_incident_of(account).await? else { return Ok(()) };
    if case.facts_filled_at.is_some() {
        return Ok(());
    }
    case.facts.detected_at = Some(match (case.facts.detected_at, detected) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b).unwrap_or(case.opened_at),
    });
    let mut merged = actions;
    for a in std::mem::take(&mut case.facts.unauthorised_actions) {
        if !merged.contains(&a) {
            merged.push(a);
        }
    }
    merged.truncate(incident::MAX_FACT_ITEMS);
    case.facts.unauthorised_actions = merged;
    case.facts_filled_at = Some(now);
    case.updated_at = now;
    tx.update_incident(&case).await?;
    let text = format!(
        "custos filled in the facts from its diagnosis of the last 30 days (verdict: {}); the measures taken \
         include what any freeze did. Add what you know in a message.",
        d.verdict.as_str().replace('_', " ")
    );
    add_message(&mut *tx, &case, MessageAuthor::System, &MessageBody::system(&text), Actor::System, now)
        .await?;
    let fields = vec!["detected_at".into(), "unauthorised_actions".into()];
    audit(
        &mut *tx,
        Chain::Account(account),
        now,
        Actor::System,
        AuditEvent::IncidentFactsEdited { incident: case.id, fields },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn ensure_filled(
    state: &AppState,
    case: IncidentRecord,
) -> Result<IncidentRecord, ApiError> {
    if case.facts_filled_at.is_some() || !case.state.is_open() {
        return Ok(case);
    }
    fill_facts(state, case.account_id).await?;
    Ok(state.store.incident(case.id).await?.unwrap_or(case))
}

async fn case_view(state: &AppState, case: IncidentRecord) -> Result<CaseView, ApiError> {
    let case = ensure_filled(state, case).await?;
    let messages = state.store.incident_messages(case.id).await?;
    Ok(CaseView {
        incident: IncidentView::new(&case, state),
        messages: messages.iter().map(MessageView::new).collect(),
    })
}

// ---- The holder, signed in ----

/// What a report says.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub noticed_at: String,
    pub description: String,
    pub unauthorised_actions: Vec<String>,
    pub measures_taken: Vec<String>,
}

fn parse_time(s: &str) -> Option<Timestamp> {
    time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
        .ok()
        .map(Timestamp::from_offset_datetime)
}

/// Opens the holder's case, or adds the report to their open one: the description becomes their
/// message, the lists are added to the facts, and the detection time is the earlier of what they
/// noticed and the diagnosis' first indicator.
pub async fn report(state: &AppState, who: &UserSession, r: &Report) -> Result<IncidentView, ApiError> {
    let now = state.clock.now();
    let mut reasons = Vec::new();
    let noticed = match parse_time(&r.noticed_at) {
        Some(t)
            if t <= now.plus(Duration::from_secs(300))
                && t >= now.minus(Duration::from_secs(366 * 86_400)) =>
        {
            Some(t.min(now))
        }
        _ => {
            reasons.push(Reason::new(
                "noticed-at-invalid",
                "Say when you noticed the problem as an RFC 3339 time within the last year, not in the future.",
            ));
            None
        }
    };
    let body = MessageBody::parse(&r.description).map_err(|e| reasons.push(e)).ok();
    let actions = incident::parse_fact_lines("unauthorised-actions-invalid", &r.unauthorised_actions)
        .map_err(|e| reasons.push(e))
        .ok();
    let measures = incident::parse_fact_lines("measures-taken-invalid", &r.measures_taken)
        .map_err(|e| reasons.push(e))
        .ok();
    let (Some(noticed), Some(body), Some(actions), Some(measures)) = (noticed, body, actions, measures)
    else {
        return Err(ApiError::Validation(reasons));
    };
    let actor = Actor::User { account: who.account_id, session: Some(who.session_id) };
    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    let chain = Chain::Account(account.id);
    let mut case = match tx.open_incident_of(account.id).await? {
        Some(c) => c,
        None => {
            open_case(&mut *tx, state, &account, IncidentOrigin::UserReport, vec![], actor.clone(), now)
                .await?
        }
    };
    if let Some(to) = case.state.after_new_report() {
        let event = move_to(&mut case, to, now)?;
        audit(&mut *tx, chain, now, actor.clone(), event).await?;
    }
    case.facts.detected_at = Some(case.facts.detected_at.map_or(noticed, |d| d.min(noticed)));
    for a in actions {
        if !case.facts.unauthorised_actions.contains(&a) {
            case.facts.unauthorised_actions.push(a);
        }
    }
    case.facts.measures_taken.extend(measures);
    case.facts.unauthorised_actions.truncate(incident::MAX_FACT_ITEMS);
    case.facts.measures_taken.truncate(incident::MAX_FACT_ITEMS);
    case.updated_at = now;
    tx.update_incident(&case).await?;
    let fields = vec!["detected_at".into(), "unauthorised_actions".into(), "measures_taken".into()];
    audit(&mut *tx, chain, now, actor.clone(), AuditEvent::IncidentFactsEdited { incident: case.id, fields })
        .await?;
    add_message(&mut *tx, &case, MessageAuthor::User, &body, actor, now).await?;
    tx.commit().await?;
    state.outbox_wake.notify_one();
    let case = ensure_filled(state, case).await?;
    Ok(IncidentView::new(&case, state))
}

/// The holder's cases, newest first.
pub async fn list(state: &AppState, who: &UserSession) -> Result<Vec<IncidentView>, ApiError> {
    let mut out = Vec::new();
    for c in state.store.incidents_of(who.account_id).await? {
        let c = ensure_filled(state, c).await?;
        out.push(IncidentView::new(&c, state));
    }
    Ok(out)
}

/// The holder's own case; another account's (or none) is `NotFound`, with no hint which.
async fn own_case(state: &AppState, who: &UserSession, id: &str) -> Result<IncidentRecord, ApiError> {
    let id: IncidentId = id.parse().map_err(|_| ApiError::NotFound)?;
    match state.store.incident(id).await? {
        Some(c) if c.account_id == who.account_id => Ok(c),
        _ => Err(ApiError::NotFound),
    }
}

pub async fn thread(state: &AppState, who: &UserSession, id: &str) -> Result<CaseView, ApiError> {
    let case = own_case(state, who, id).await?;
    case_view(state, case).await
}

async fn post_user_message(
    state: &AppState,
    id: IncidentId,
    body: &str,
    actor: Actor,
) -> Result<MessageView, ApiError> {
    let body = MessageBody::parse(body).map_err(|r| ApiError::Validation(vec![r]))?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let account =
        tx.lock_account(actor_account(&actor, id, state).await?).await?.ok_or(ApiError::NotFound)?;
    let mut case =
        tx.incident_in_tx(id).await?.filter(|c| c.account_id == account.id).ok_or(ApiError::NotFound)?;
    if case.state == IncidentState::Closed {
        return Err(ApiError::Conflict(Reason::new(
            "incident-closed",
            "This case is closed. Report the problem again to open a new one.",
        )));
    }
    if let Some(to) = case.state.after_user_message() {
        let event = move_to(&mut case, to, now)?;
        audit(&mut *tx, Chain::Account(account.id), now, actor.clone(), event).await?;
    }
    case.updated_at = now;
    tx.update_incident(&case).await?;
    let record = IncidentMessageRecord {
        id: IncidentMessageId::new(),
        incident_id: case.id,
        author: MessageAuthor::User,
        body: body.as_str().to_owned(),
        created_at: now,
    };
    tx.insert_incident_message(&record).await?;
    let event = AuditEvent::IncidentMessageAdded { incident: case.id, author: "user".into(), staff_id: None };
    audit(&mut *tx, Chain::Account(account.id), now, actor, event).await?;
    tx.commit().await?;
    Ok(MessageView::new(&record))
}

async fn actor_account(actor: &Actor, id: IncidentId, state: &AppState) -> Result<AccountId, ApiError> {
    match actor {
        Actor::User { account, .. } => Ok(*account),
        _ => Ok(state.store.incident(id).await?.ok_or(ApiError::NotFound)?.account_id),
    }
}

pub async fn post_message(
    state: &AppState,
    who: &UserSession,
    id: &str,
    body: &str,
) -> Result<MessageView, ApiError> {
    let case = own_case(state, who, id).await?;
    post_user_message(
        state,
        case.id,
        body,
        Actor::User { account: who.account_id, session: Some(who.session_id) },
    )
    .await
}

/// The holder's corrections to the facts; `None` leaves a fact as it is.
#[derive(Debug, Clone, Default)]
pub struct FactsEdit {
    pub detected_at: Option<String>,
    pub unauthorised_actions: Option<Vec<String>>,
    pub measures_taken: Option<Vec<String>>,
}

/// The holder corrects the facts of their open case (detection time, unauthorised actions,
/// measures taken); UID and email are the account's. Every reason is given at once.
pub async fn edit_facts(
    state: &AppState,
    who: &UserSession,
    id: &str,
    edit: &FactsEdit,
) -> Result<IncidentView, ApiError> {
    let case = own_case(state, who, id).await?;
    let case = ensure_filled(state, case).await?;
    let now = state.clock.now();
    let mut reasons = Vec::new();
    let detected = match edit.detected_at.as_deref().map(parse_time) {
        None => None,
        Some(Some(t)) if t <= now => Some(t),
        Some(_) => {
            reasons.push(Reason::new("detected-at-invalid", "Give the time as RFC 3339, not in the future."));
            None
        }
    };
    let lists = |field, v: &Option<Vec<String>>, reasons: &mut Vec<Reason>| match v {
        None => None,
        Some(lines) => incident::parse_fact_lines(field, lines).map_err(|r| reasons.push(r)).ok(),
    };
    let actions = lists("unauthorised-actions-invalid", &edit.unauthorised_actions, &mut reasons);
    let measures = lists("measures-taken-invalid", &edit.measures_taken, &mut reasons);
    if !reasons.is_empty() {
        return Err(ApiError::Validation(reasons));
    }
    let actor = Actor::User { account: who.account_id, session: Some(who.session_id) };
    let mut tx = state.store.begin().await?;
    tx.lock_account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    let mut case = tx.incident_in_tx(case.id).await?.ok_or(ApiError::NotFound)?;
    if case.state == IncidentState::Closed {
        return Err(ApiError::Conflict(Reason::new("incident-closed", "This case is closed.")));
    }
    let mut fields = Vec::new();
    if let Some(t) = detected {
        case.facts.detected_at = Some(t);
        fields.push("detected_at".to_owned());
    }
    if let Some(a) = actions {
        case.facts.unauthorised_actions = a;
        fields.push("unauthorised_actions".to_owned());
    }
    if let Some(m) = measures {
        case.facts.measures_taken = m;
        fields.push("measures_taken".to_owned());
    }
    if !fields.is_empty() {
        case.updated_at = now;
        tx.update_incident(&case).await?;
        let event = AuditEvent::IncidentFactsEdited { incident: case.id, fields };
        audit(&mut *tx, Chain::Account(case.account_id), now, actor, event).await?;
    }
    tx.commit().await?;
    Ok(IncidentView::new(&case, state))
}
