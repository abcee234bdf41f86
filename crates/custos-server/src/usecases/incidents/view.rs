//! Incident cases as the holder and the API see them.

use custos_core::Timestamp;
use custos_core::incident::{MessageAuthor, SlaTarget};
use custos_store::{IncidentMessageRecord, IncidentRecord};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct FactsView {
    pub uid: u64,
    pub email: String,
    /// RFC 3339; the first indicator of the diagnosis, or what the holder said.
    pub detected_at: Option<String>,
    pub unauthorised_actions: Vec<String>,
    pub measures_taken: Vec<String>,
    /// True until the diagnosis has filled in the detection time and the unauthorised actions.
    pub pending: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SlaTargetView {
    /// `due`, `breached` or `met`.
    pub status: &'static str,
    pub due: String,
    /// "due in 12 min", "breached 3 h ago", "met".
    pub words: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SlaView {
    pub first_response: SlaTargetView,
    pub resolution: SlaTargetView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentView {
    pub id: String,
    /// `new`, `triage`, `investigating`, `waiting_on_user`, `resolved`, `closed`.
    pub state: &'static str,
    pub state_words: &'static str,
    /// `freeze:<channel>` or `user_report`.
    pub origin: String,
    pub opened_at: String,
    pub updated_at: String,
    pub facts: FactsView,
    pub sla: SlaView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    pub id: String,
    /// `user`, `staff` or `system`.
    pub author: &'static str,
    /// Staff messages: the member of staff as the holder sees them, and their staff id.
    pub staff_name: Option<String>,
    pub staff_id: Option<String>,
    pub body: String,
    pub at: String,
}

fn target(t: SlaTarget, now: Timestamp) -> SlaTargetView {
    let (status, due) = match t {
        SlaTarget::Met { due, .. } => ("met", due),
        SlaTarget::Due { due } => ("due", due),
        SlaTarget::Breached { due } => ("breached", due),
    };
    SlaTargetView { status, due: due.rfc3339(), words: t.words(now) }
}

impl IncidentView {
    pub fn new(c: &IncidentRecord, state: &AppState) -> Self {
        let now = state.clock.now();
        let sla = state.config.sla.clock(c.opened_at, c.first_response_at, c.resolved_at, now);
        Self {
            id: c.id.to_string(),
            state: c.state.as_str(),
            state_words: c.state.words(),
            origin: c.origin.as_string(),
            opened_at: c.opened_at.rfc3339(),
            updated_at: c.updated_at.rfc3339(),
            facts: FactsView {
                uid: c.facts.uid,
                email: c.facts.email.clone(),
                detected_at: c.facts.detected_at.map(|t| t.rfc3339()),
                unauthorised_actions: c.facts.unauthorised_actions.clone(),
                measures_taken: c.facts.measures_taken.clone(),
                pending: c.facts_filled_at.is_none(),
            },
            sla: SlaView {
                first_response: target(sla.first_response, now),
                resolution: target(sla.resolution, now),
            },
        }
    }
}

impl MessageView {
    pub fn new(m: &IncidentMessageRecord) -> Self {
        let (staff_name, staff_id) = match &m.author {
            MessageAuthor::Staff { staff_id, display_name } => {
                (Some(display_name.clone()), Some(staff_id.clone()))
            }
            _ => (None, None),
        };
        Self {
            id: m.id.to_string(),
            author: m.author.kind(),
            staff_name,
            staff_id,
            body: m.body.clone(),
            at: m.created_at.rfc3339(),
        }
    }
}

/// A case and its thread, as the holder sees them.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseView {
    pub incident: IncidentView,
    pub messages: Vec<MessageView>,
}
