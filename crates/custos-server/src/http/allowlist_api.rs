//! The withdrawal address allowlist over the JSON API (`docs` in the OpenAPI document): list,
//! add, remove, turn on or off, and confirm an entry with its emailed token.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::json::Json;
use crate::error::{ApiResult, Problem};
use crate::extract::{Client, UserSession};
use crate::state::AppState;
use crate::usecases::allowlist::{self, AllowlistView, EntryView, NewEntryRequest};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_allowlist, add_entry))
        .routes(routes!(remove_entry))
        .routes(routes!(set_mode))
        .routes(routes!(confirm_entry))
}

/// The allowlist: its mode (and when a pending turn-off takes effect), the delays, and every
/// entry with its state and the time it becomes usable.
#[utoipa::path(get, path = "/api/v1/allowlist", tag = "allowlist", security(("session" = [])),
    responses((status = 200, body = AllowlistView), (status = 401, body = Problem)))]
async fn get_allowlist(State(state): State<AppState>, who: UserSession) -> ApiResult<Json<AllowlistView>> {
    Ok(Json(allowlist::list(&state, &who).await?))
}

/// Add an address. It needs a recent step-up with a second factor (403 `step-up-required`); the
/// address is checked against the network's format (422 `address-invalid`, `unknown-asset`,
/// `unknown-network`, `memo-*`, `label-invalid`); the same destination twice or more than 200
/// entries is 409 (`allowlist-entry-duplicate`, `allowlist-full`). A link to confirm it is
/// emailed; once confirmed it cools down (24 h by default) before withdrawals may use it.
#[utoipa::path(post, path = "/api/v1/allowlist", tag = "allowlist", security(("session" = [])),
    request_body = NewEntryRequest,
    responses((status = 201, body = EntryView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn add_entry(
    State(state): State<AppState>,
    who: UserSession,
    client: Client,
    Json(b): Json<NewEntryRequest>,
) -> ApiResult<(StatusCode, Json<EntryView>)> {
    let e = allowlist::add(&state, &who, &b, Some(client.ip)).await?;
    Ok((StatusCode::CREATED, Json(e)))
}

/// Remove an entry at once (no step-up: removing only tightens). The owner is emailed.
#[utoipa::path(delete, path = "/api/v1/allowlist/{id}", tag = "allowlist", security(("session" = [])),
    params(("id" = String, Path, description = "The entry id")),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn remove_entry(
    State(state): State<AppState>,
    who: UserSession,
    client: Client,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    allowlist::remove(&state, &who, &id, Some(client.ip)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ModeBody {
    enabled: bool,
}

/// Turn the allowlist on (at once, no step-up; it also cancels a pending turn-off) or off (needs
/// a recent step-up with a second factor; takes effect after 48 h by default, is enforced until
/// then, and is emailed). Asking for what is already so changes nothing.
#[utoipa::path(put, path = "/api/v1/allowlist/mode", tag = "allowlist", security(("session" = [])),
    request_body = ModeBody,
    responses((status = 200, body = AllowlistView), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn set_mode(
    State(state): State<AppState>,
    who: UserSession,
    client: Client,
    Json(b): Json<ModeBody>,
) -> ApiResult<Json<AllowlistView>> {
    Ok(Json(allowlist::set_mode(&state, &who, b.enabled, Some(client.ip)).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ConfirmBody {
    /// The token from the emailed confirmation link.
    token: String,
}

/// Confirm an entry with the token from its emailed link (what the link's page does); its cooling
/// period starts now.
#[utoipa::path(post, path = "/api/v1/allowlist/confirm", tag = "allowlist", request_body = ConfirmBody,
    responses((status = 200, body = EntryView), (status = 400, body = Problem), (status = 403, body = Problem)))]
async fn confirm_entry(
    State(state): State<AppState>,
    client: Client,
    Json(b): Json<ConfirmBody>,
) -> ApiResult<Json<EntryView>> {
    Ok(Json(allowlist::confirm(&state, &b.token, Some(client.ip)).await?))
}
