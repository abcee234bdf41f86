//! Incident cases over the JSON API: the holder reports a problem, lists their cases, reads and
//! writes the thread. A case of another account answers 404, exactly like one that does not exist.

use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::json::Json;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::UserSession;
use crate::state::AppState;
use crate::usecases::incidents::{self, CaseView, FactsEdit, IncidentView, MessageView, Report};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(report, list))
        .routes(routes!(thread, post_message))
        .routes(routes!(edit_facts))
}

/// A report of a problem with the account. Attachments are not supported.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportBody {
    /// When you noticed the problem (RFC 3339).
    pub noticed_at: String,
    /// What happened, in your words (1–4000 characters).
    pub description: String,
    /// What was done without you, one item per line.
    #[serde(default)]
    pub unauthorised_actions: Option<Vec<String>>,
    /// What you already did about it (changed your email password, …).
    #[serde(default)]
    pub measures_taken: Option<Vec<String>>,
    /// Not supported: a request that sends it is refused with `attachments-not-supported`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub attachments: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageBodyIn {
    /// 1–4000 characters; line breaks allowed, no other control characters. Shown as text.
    pub body: String,
    /// Not supported: a request that sends it is refused with `attachments-not-supported`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub attachments: Option<serde_json::Value>,
}

fn refuse_attachments(a: &Option<serde_json::Value>) -> Result<(), ApiError> {
    match a {
        Some(_) => Err(ApiError::Validation(vec![custos_core::incident::attachments_refused()])),
        None => Ok(()),
    }
}

/// Report a problem: opens your case (or adds to your open one), pre-filled from what custos
/// knows — the diagnosis' first indicator and what was done without you.
#[utoipa::path(post, path = "/api/v1/incidents", tag = "incidents", security(("session" = [])), request_body = ReportBody,
    responses((status = 200, body = IncidentView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 413, body = Problem), (status = 422, body = Problem)))]
async fn report(
    State(state): State<AppState>,
    who: UserSession,
    Json(b): Json<ReportBody>,
) -> ApiResult<Json<IncidentView>> {
    refuse_attachments(&b.attachments)?;
    let r = Report {
        noticed_at: b.noticed_at,
        description: b.description,
        unauthorised_actions: b.unauthorised_actions.unwrap_or_default(),
        measures_taken: b.measures_taken.unwrap_or_default(),
    };
    Ok(Json(incidents::report(&state, &who, &r).await?))
}

/// Your cases, newest first, each with its facts and SLA clock.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", security(("session" = [])),
    responses((status = 200, body = Vec<IncidentView>), (status = 401, body = Problem)))]
async fn list(State(state): State<AppState>, who: UserSession) -> ApiResult<Json<Vec<IncidentView>>> {
    Ok(Json(incidents::list(&state, &who).await?))
}

/// One of your cases with its thread, oldest message first.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/messages", tag = "incidents", security(("session" = [])),
    params(("id" = String, Path, description = "The case id")),
    responses((status = 200, body = CaseView), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn thread(
    State(state): State<AppState>,
    who: UserSession,
    Path(id): Path<String>,
) -> ApiResult<Json<CaseView>> {
    Ok(Json(incidents::thread(&state, &who, &id).await?))
}

/// Write to support on one of your cases. A message on a resolved case reopens it.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/messages", tag = "incidents", security(("session" = [])),
    params(("id" = String, Path, description = "The case id")), request_body = MessageBodyIn,
    responses((status = 200, body = MessageView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 413, body = Problem),
        (status = 422, body = Problem)))]
async fn post_message(
    State(state): State<AppState>,
    who: UserSession,
    Path(id): Path<String>,
    Json(b): Json<MessageBodyIn>,
) -> ApiResult<Json<MessageView>> {
    refuse_attachments(&b.attachments)?;
    Ok(Json(incidents::post_message(&state, &who, &id, &b.body).await?))
}

/// Corrections to a case's facts; a field left out stays as it is.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FactsBody {
    /// When the trouble started (RFC 3339, not in the future).
    pub detected_at: Option<String>,
    /// Replaces the list (one item per line, at most 50 lines of 500 characters).
    pub unauthorised_actions: Option<Vec<String>>,
    /// Replaces the list.
    pub measures_taken: Option<Vec<String>>,
}

/// Correct the facts custos filled in on one of your open cases.
#[utoipa::path(put, path = "/api/v1/incidents/{id}/facts", tag = "incidents", security(("session" = [])),
    params(("id" = String, Path, description = "The case id")), request_body = FactsBody,
    responses((status = 200, body = IncidentView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 413, body = Problem),
        (status = 422, body = Problem)))]
async fn edit_facts(
    State(state): State<AppState>,
    who: UserSession,
    Path(id): Path<String>,
    Json(b): Json<FactsBody>,
) -> ApiResult<Json<IncidentView>> {
    let edit = FactsEdit {
        detected_at: b.detected_at,
        unauthorised_actions: b.unauthorised_actions,
        measures_taken: b.measures_taken,
    };
    Ok(Json(incidents::edit_facts(&state, &who, &id, &edit).await?))
}
