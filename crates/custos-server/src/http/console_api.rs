//! The support console's API under `/api/v1/support/`: the queue, the case view and the case
//! actions (docs/support-staff.md, "Support console"). Every route takes a [`StaffSession`]; the
//! use cases in [`crate::usecases::console`] check the role first, audit reads and actions.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use custos_core::freeze::FreezeReceipt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::json::Json;
use crate::error::{ApiResult, Problem};
use crate::extract_staff::StaffSession;
use crate::state::AppState;
use crate::usecases::console::{self, NoteView, QueueItem, StaffCaseView};
use crate::usecases::incidents::{IncidentView, MessageView};
use crate::usecases::withdrawals::WithdrawalView;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(queue))
        .routes(routes!(case))
        .routes(routes!(message))
        .routes(routes!(note))
        .routes(routes!(assign))
        .routes(routes!(set_state))
        .routes(routes!(freeze))
        .routes(routes!(cancel_withdrawal))
        .routes(routes!(intercept_withdrawal))
}

/// Open cases ordered by SLA: breached first, then the soonest first response due, then the
/// soonest resolution due (agent and up).
#[utoipa::path(get, path = "/api/v1/support/queue", tag = "support", security(("staff_session" = [])),
    responses((status = 200, body = Vec<QueueItem>), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn queue(State(state): State<AppState>, who: StaffSession) -> ApiResult<Json<Vec<QueueItem>>> {
    Ok(Json(console::queue(&state, &who).await?))
}

/// A case: facts, state, assignee, SLA, the thread, internal notes and one timeline of the
/// account (agents: the last 30 days, at most 200 items; analysts and up: everything). The read
/// is recorded in the account's audit chain.
#[utoipa::path(get, path = "/api/v1/support/incidents/{id}", tag = "support", security(("staff_session" = [])),
    params(("id" = String, Path, description = "The case id")),
    responses((status = 200, body = StaffCaseView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
async fn case(
    State(state): State<AppState>,
    who: StaffSession,
    Path(id): Path<String>,
) -> ApiResult<Json<StaffCaseView>> {
    Ok(Json(console::case(&state, &who, &id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffMessage {
    /// 1–4000 characters; shown to the holder with your name and staff ID.
    #[serde(default)]
    pub body: String,
    /// Optional here; recorded in the audit trail when given.
    pub reason: Option<String>,
}

/// A message to the holder. They are emailed a notice (with their anti-phishing code, no link)
/// and see it on their case pages with your name and staff ID.
#[utoipa::path(post, path = "/api/v1/support/incidents/{id}/messages", tag = "support",
    security(("staff_session" = [])), request_body = StaffMessage,
    params(("id" = String, Path, description = "The case id")),
    responses((status = 201, body = MessageView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn message(
    State(state): State<AppState>,
    who: StaffSession,
    Path(id): Path<String>,
    Json(b): Json<StaffMessage>,
) -> ApiResult<(StatusCode, Json<MessageView>)> {
    let m = console::message(&state, &who, &id, &b.body, b.reason.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(m)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffNote {
    /// 1–4000 characters. Staff only: never shown to the holder.
    #[serde(default)]
    pub body: String,
}

/// An internal note on the case: for staff only, never shown to the holder or on the case link.
#[utoipa::path(post, path = "/api/v1/support/incidents/{id}/notes", tag = "support",
    security(("staff_session" = [])), request_body = StaffNote,
    params(("id" = String, Path, description = "The case id")),
    responses((status = 201, body = NoteView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn note(
    State(state): State<AppState>,
    who: StaffSession,
    Path(id): Path<String>,
    Json(b): Json<StaffNote>,
) -> ApiResult<(StatusCode, Json<NoteView>)> {
    Ok((StatusCode::CREATED, Json(console::note(&state, &who, &id, &b.body).await?)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Assign {
    /// `me`, `none`, or the staff ID (`CS-…`) of an active member of staff.
    #[serde(default)]
    pub staff_id: String,
    /// Required, 1–500 characters; recorded in the audit trail.
    pub reason: Option<String>,
}

/// Assign the case.
#[utoipa::path(post, path = "/api/v1/support/incidents/{id}/assign", tag = "support",
    security(("staff_session" = [])), request_body = Assign,
    params(("id" = String, Path, description = "The case id")),
    responses((status = 200, body = IncidentView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn assign(
    State(state): State<AppState>,
    who: StaffSession,
    Path(id): Path<String>,
    Json(b): Json<Assign>,
) -> ApiResult<Json<IncidentView>> {
    Ok(Json(console::assign(&state, &who, &id, &b.staff_id, b.reason.as_deref()).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetState {
    /// `triage`, `investigating`, `waiting_on_user`, `resolved`, `closed` (as the table allows).
    #[serde(default)]
    pub state: String,
    /// Required, 1–500 characters; recorded in the audit trail.
    pub reason: Option<String>,
}

/// Move the case to another state; the transition table decides (`409
/// incident-transition-refused` otherwise).
#[utoipa::path(post, path = "/api/v1/support/incidents/{id}/state", tag = "support",
    security(("staff_session" = [])), request_body = SetState,
    params(("id" = String, Path, description = "The case id")),
    responses((status = 200, body = IncidentView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn set_state(
    State(state): State<AppState>,
    who: StaffSession,
    Path(id): Path<String>,
    Json(b): Json<SetState>,
) -> ApiResult<Json<IncidentView>> {
    Ok(Json(console::set_state(&state, &who, &id, &b.state, b.reason.as_deref()).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithReason {
    /// Required, 1–500 characters; recorded in the audit trail.
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffFreezeAnswer {
    /// True when the account was frozen already; the receipt is then the first freeze's.
    pub already_frozen: bool,
    #[schema(value_type = Object)]
    pub receipt: FreezeReceipt,
}

/// Freeze the account (channel `support`, agent and up: freezing only tightens). Opens or adds to
/// the account's case like every freeze. The private case link goes to the holder, not to staff.
#[utoipa::path(post, path = "/api/v1/support/accounts/{uid}/freeze", tag = "support",
    security(("staff_session" = [])), request_body = WithReason,
    params(("uid" = String, Path, description = "The account's UID")),
    responses((status = 200, body = StaffFreezeAnswer), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn freeze(
    State(state): State<AppState>,
    who: StaffSession,
    Path(uid): Path<String>,
    Json(b): Json<WithReason>,
) -> ApiResult<Json<StaffFreezeAnswer>> {
    let f = console::freeze_account(&state, &who, &uid, b.reason.as_deref()).await?;
    Ok(Json(StaffFreezeAnswer { already_frozen: f.already_frozen, receipt: f.receipt }))
}

/// Cancel a withdrawal the wallet does not have yet: the funds come back at once. A processing
/// one is `409 withdrawal-processing` (intercept it instead).
#[utoipa::path(post, path = "/api/v1/support/withdrawals/{id}/cancel", tag = "support",
    security(("staff_session" = [])), request_body = WithReason,
    params(("id" = String, Path, description = "The withdrawal id")),
    responses((status = 200, body = WithdrawalView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn cancel_withdrawal(
    State(state): State<AppState>,
    who: StaffSession,
    Path(id): Path<String>,
    Json(b): Json<WithReason>,
) -> ApiResult<Json<WithdrawalView>> {
    Ok(Json(console::stop_withdrawal(&state, &who, &id, b.reason.as_deref(), false).await?))
}

/// Ask the wallet to stop a withdrawal it is processing; the answer is recorded. Stopped: it is
/// cancelled and the funds come back. Too late (broadcast) or the wallet unreachable: `409
/// withdrawal-not-intercepted`, saying which (with the TxID when it was sent).
#[utoipa::path(post, path = "/api/v1/support/withdrawals/{id}/intercept", tag = "support",
    security(("staff_session" = [])), request_body = WithReason,
    params(("id" = String, Path, description = "The withdrawal id")),
    responses((status = 200, body = WithdrawalView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn intercept_withdrawal(
    State(state): State<AppState>,
    who: StaffSession,
    Path(id): Path<String>,
    Json(b): Json<WithReason>,
) -> ApiResult<Json<WithdrawalView>> {
    Ok(Json(console::stop_withdrawal(&state, &who, &id, b.reason.as_deref(), true).await?))
}
