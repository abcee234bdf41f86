//! The staff API under `/api/v1/support/` and the public channel check `/api/v1/verify`.
//!
//! Every staff route takes a [`StaffSession`] (so its signature says "staff only") and asks
//! [`StaffCaller::require`] for its action before doing anything: outside the role it answers
//! `403 refused` with reason `staff-role-insufficient`, and nothing changes.

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use custos_core::password::Password;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::json::Json;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::Client;
use crate::extract_staff::StaffSession;
use crate::state::AppState;
use crate::usecases::official_channels::{self, Registrar, VerifyAnswer};
use crate::usecases::staff::{self, StaffLogin};
use crate::usecases::support::{self, AccountSummary};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(setup_credentials))
        .routes(routes!(setup_confirm))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(account_summary))
        .routes(routes!(list_channels, add_channel, remove_channel))
        .routes(routes!(verify))
}

/// `axum::extract::Query`, with rejections as problem+json.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::InvalidRequest(r.body_text())
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupCredentials {
    /// The token from the setup link `custos staff create` printed.
    pub token: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TotpToEnrol {
    /// Scan it (as a QR code) into an authenticator app, or type `secret`.
    pub otpauth_uri: String,
    pub secret: String,
}

/// Staff setup, step one: choose a password (customer policy); answers the authenticator app to
/// enrol. The account stays unusable until step two.
#[utoipa::path(post, path = "/api/v1/support/setup", tag = "support", request_body = SetupCredentials,
    responses((status = 200, body = TotpToEnrol), (status = 400, body = Problem), (status = 422, body = Problem)))]
async fn setup_credentials(
    State(state): State<AppState>,
    Json(body): Json<SetupCredentials>,
) -> ApiResult<Json<TotpToEnrol>> {
    let e = staff::setup_credentials(&state, &body.token, Password::new(body.password)).await?;
    Ok(Json(TotpToEnrol { otpauth_uri: e.otpauth_uri, secret: e.secret }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupConfirm {
    pub token: String,
    /// The six-digit code the app shows.
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Enrolled {
    /// The public staff ID (`CS-123456`) users see beside your messages.
    pub staff_id: String,
}

/// Staff setup, step two: a code from the app confirms it; the account becomes active and the
/// setup link is spent.
#[utoipa::path(post, path = "/api/v1/support/setup/confirm", tag = "support", request_body = SetupConfirm,
    responses((status = 200, body = Enrolled), (status = 400, body = Problem), (status = 409, body = Problem)))]
async fn setup_confirm(
    State(state): State<AppState>,
    Json(body): Json<SetupConfirm>,
) -> ApiResult<Json<Enrolled>> {
    let code = staff::setup_confirm(&state, &body.token, &body.code).await?;
    Ok(Json(Enrolled { staff_id: code.to_string() }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffLoginBody {
    pub email: String,
    pub password: String,
    /// The authenticator app's current code: staff always sign in with both.
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffLoginAnswer {
    /// Send as `Authorization: Bearer …` to `/api/v1/support/…`.
    pub session_token: String,
    pub staff_id: String,
    pub role: String,
    pub aal: &'static str,
    pub expires_at: String,
}

/// Staff sign-in: password and TOTP code at once. Every refusal is the same `401
/// invalid-credentials`; repeated failures are throttled per account and per address.
#[utoipa::path(post, path = "/api/v1/support/login", tag = "support", request_body = StaffLoginBody,
    responses((status = 200, body = StaffLoginAnswer), (status = 401, body = Problem), (status = 429, body = Problem)))]
async fn login(
    State(state): State<AppState>,
    client: Client,
    Json(body): Json<StaffLoginBody>,
) -> ApiResult<Json<StaffLoginAnswer>> {
    let req = StaffLogin { email: body.email, password: Password::new(body.password), code: body.code };
    let g = staff::login(&state, req, &client).await?;
    Ok(Json(StaffLoginAnswer {
        session_token: g.token.expose().to_owned(),
        staff_id: g.code.to_string(),
        role: g.role.as_str().to_owned(),
        aal: "aal2",
        expires_at: g.expires_at.rfc3339(),
    }))
}

/// End this staff session.
#[utoipa::path(post, path = "/api/v1/support/logout", tag = "support", security(("staff_session" = [])),
    responses((status = 204), (status = 401, body = Problem)))]
async fn logout(State(state): State<AppState>, who: StaffSession) -> ApiResult<StatusCode> {
    staff::logout(&state, &who).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffMe {
    pub staff_id: String,
    pub name: String,
    pub email: String,
    pub role: String,
}

/// Who this staff session belongs to.
#[utoipa::path(get, path = "/api/v1/support/me", tag = "support", security(("staff_session" = [])),
    responses((status = 200, body = StaffMe), (status = 401, body = Problem)))]
async fn me(who: StaffSession) -> Json<StaffMe> {
    Json(StaffMe {
        staff_id: who.code.to_string(),
        name: who.name.clone(),
        email: who.email.clone(),
        role: who.role.as_str().to_owned(),
    })
}

/// An account's summary for support (agent and up): status, sessions, second factors, recent
/// sign-ins with their risk signals. Never secrets. The read is recorded in the account's audit
/// chain with the staff member as actor.
#[utoipa::path(get, path = "/api/v1/support/accounts/{uid}", tag = "support", security(("staff_session" = [])),
    params(("uid" = String, Path, description = "The account's UID")),
    responses((status = 200, body = AccountSummary), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
async fn account_summary(
    State(state): State<AppState>,
    who: StaffSession,
    Path(uid): Path<String>,
) -> ApiResult<Json<AccountSummary>> {
    Ok(Json(support::account_summary(&state, &who, &uid).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OfficialChannel {
    pub kind: String,
    pub value: String,
    pub note: Option<String>,
    pub created_at: String,
    pub created_by: String,
}

impl From<custos_store::OfficialChannelRecord> for OfficialChannel {
    fn from(c: custos_store::OfficialChannelRecord) -> Self {
        Self {
            kind: c.kind.as_str().to_owned(),
            value: c.value,
            note: c.note,
            created_at: c.created_at.rfc3339(),
            created_by: c.created_by,
        }
    }
}

/// The registry (any staff role).
#[utoipa::path(get, path = "/api/v1/support/official-channels", tag = "support", security(("staff_session" = [])),
    responses((status = 200, body = Vec<OfficialChannel>), (status = 401, body = Problem)))]
async fn list_channels(
    State(state): State<AppState>,
    _who: StaffSession,
) -> ApiResult<Json<Vec<OfficialChannel>>> {
    Ok(Json(official_channels::list(&state).await?.into_iter().map(Into::into).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChannel {
    /// `domain | email | phone | social`
    pub kind: String,
    pub value: String,
    pub note: Option<String>,
}

/// Register an official channel (admin). Audited.
#[utoipa::path(post, path = "/api/v1/support/official-channels", tag = "support", security(("staff_session" = [])),
    request_body = NewChannel,
    responses((status = 201, body = OfficialChannel), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn add_channel(
    State(state): State<AppState>,
    who: StaffSession,
    Json(body): Json<NewChannel>,
) -> ApiResult<(StatusCode, Json<OfficialChannel>)> {
    let c =
        official_channels::add(&state, Registrar::Staff(&who), &body.kind, &body.value, body.note.as_deref())
            .await?;
    Ok((StatusCode::CREATED, Json(c.into())))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ChannelRef {
    pub kind: Option<String>,
    pub value: Option<String>,
}

/// Remove an official channel (admin). Audited.
#[utoipa::path(delete, path = "/api/v1/support/official-channels", tag = "support", security(("staff_session" = [])),
    params(ChannelRef),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn remove_channel(
    State(state): State<AppState>,
    who: StaffSession,
    Query(q): Query<ChannelRef>,
) -> ApiResult<StatusCode> {
    official_channels::remove(
        &state,
        Registrar::Staff(&who),
        q.kind.as_deref().unwrap_or(""),
        q.value.as_deref().unwrap_or(""),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct VerifyQuery {
    /// The web address, email sender, phone number, social handle or staff ID to check.
    pub channel: Option<String>,
    /// `domain | email | phone | social | staff`; guessed from the value when absent.
    pub kind: Option<String>,
}

/// Is this really us? Public, no sign-in; throttled per address. Answers whether the value is an
/// official channel and warns when it imitates one.
#[utoipa::path(get, path = "/api/v1/verify", tag = "verify", params(VerifyQuery),
    responses((status = 200, body = VerifyAnswer), (status = 422, body = Problem), (status = 429, body = Problem)))]
async fn verify(
    State(state): State<AppState>,
    client: Client,
    Query(q): Query<VerifyQuery>,
) -> ApiResult<Json<VerifyAnswer>> {
    let channel = q.channel.unwrap_or_default();
    Ok(Json(official_channels::verify(&state, &client, &channel, q.kind.as_deref()).await?))
}
