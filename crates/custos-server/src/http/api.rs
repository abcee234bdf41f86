//! The JSON API under `/api/v1`, documented in the OpenAPI document it is built with.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use custos_core::audit::RevokeReason;
use custos_core::ids::SessionId;
use custos_core::password::Password;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::json::Json;
use super::views;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Client, SessionWithOverview, UserSession};
use crate::state::AppState;
use crate::usecases::{accounts, diagnosis, login, sessions};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(verify_email))
        .routes(routes!(login_handler))
        .routes(routes!(login_second_factor))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(revoke_other_sessions))
        .routes(routes!(revoke_all_sessions))
        .routes(routes!(list_devices))
        .routes(routes!(activity))
        .routes(routes!(diagnosis_handler))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    /// ASCII only; the domain is lower-cased.
    email: String,
    /// At least 15 characters, at most 1 024 bytes.
    password: String,
    /// E.164, e.g. `+4915112345678`.
    phone: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Accepted {
    status: &'static str,
    detail: &'static str,
}

/// Register an account. The answer is the same whether or not the address already has an
/// account; its owner then gets a notice instead of a verification link.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterBody,
    responses((status = 202, body = Accepted), (status = "4XX", body = Problem), (status = 503, body = Problem)))]
async fn register(
    State(state): State<AppState>,
    client: Client,
    Json(b): Json<RegisterBody>,
) -> ApiResult<impl IntoResponse> {
    let reg = accounts::Registration { email: b.email, password: Password::new(b.password), phone: b.phone };
    accounts::register(&state, reg, Some(client.ip)).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted { status: "accepted", detail: "Check your inbox: we sent a message to that address." }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    token: String,
}

#[derive(Serialize, ToSchema)]
pub struct Verified {
    /// The public account number, shown from now on.
    uid: String,
}

/// Verify an email address with the token from the emailed link.
#[utoipa::path(post, path = "/api/v1/auth/verify-email", tag = "auth", request_body = TokenBody,
    responses((status = 200, body = Verified), (status = "4XX", body = Problem)))]
async fn verify_email(
    State(state): State<AppState>,
    client: Client,
    Json(b): Json<TokenBody>,
) -> ApiResult<Json<Verified>> {
    let uid = accounts::verify_email(&state, &b.token, Some(client.ip)).await?;
    Ok(Json(Verified { uid: uid.to_string() }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    email: String,
    password: String,
}

/// Either a session, or — when the account has a second factor — a challenge to answer at
/// `POST /api/v1/auth/login/second-factor`.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginAnswer {
    Session(LoginResponse),
    SecondFactor(SecondFactorRequired),
}

#[derive(Serialize, ToSchema)]
pub struct SecondFactorRequired {
    second_factor_required: bool,
    /// Answer it within five minutes.
    challenge: String,
    /// e.g. `["totp", "recovery_code"]`
    methods: Vec<&'static str>,
    expires_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`. Shown once.
    session_token: String,
    session_id: String,
    aal: &'static str,
    expires_at: String,
    /// Present when the request named no device: send it back as `X-Custos-Device` from now on.
    device_token: Option<String>,
    new_device: bool,
}

/// Sign in with email and password. With a second factor enrolled, the answer is a challenge.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, body = LoginAnswer), (status = "4XX", body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
async fn login_handler(
    State(state): State<AppState>,
    client: Client,
    Json(b): Json<LoginBody>,
) -> ApiResult<Json<LoginAnswer>> {
    let req = login::LoginRequest { email: b.email, password: Password::new(b.password) };
    Ok(Json(match login::login(&state, req, &client).await? {
        login::LoginResult::Granted(g) => LoginAnswer::Session(session_response(g)),
        login::LoginResult::SecondFactorRequired { challenge, methods, expires_at } => {
            LoginAnswer::SecondFactor(SecondFactorRequired {
                second_factor_required: true,
                challenge: challenge.expose().to_owned(),
                methods,
                expires_at: expires_at.rfc3339(),
            })
        }
    }))
}

pub(crate) fn session_response(g: login::LoginGranted) -> LoginResponse {
    LoginResponse {
        session_token: g.session_token.expose().to_owned(),
        session_id: g.session_id.to_string(),
        aal: g.aal.as_str(),
        expires_at: g.expires_at.rfc3339(),
        device_token: g.device_key,
        new_device: g.new_device,
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecondFactorBody {
    challenge: String,
    /// `totp` or `recovery_code`
    method: String,
    code: String,
}

/// Complete a sign-in with a second factor.
#[utoipa::path(post, path = "/api/v1/auth/login/second-factor", tag = "auth", request_body = SecondFactorBody,
    responses((status = 200, body = LoginResponse), (status = "4XX", body = Problem), (status = 429, body = Problem)))]
async fn login_second_factor(
    State(state): State<AppState>,
    client: Client,
    Json(b): Json<SecondFactorBody>,
) -> ApiResult<Json<LoginResponse>> {
    let method = crate::usecases::factors::parse_method(&b.method)?;
    let g = login::second_factor(&state, &b.challenge, method, &b.code, &client).await?;
    Ok(Json(session_response(g)))
}

/// End the current session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("session" = [])),
    responses((status = 204), (status = 401, body = Problem)))]
async fn logout(State(state): State<AppState>, who: UserSession) -> ApiResult<StatusCode> {
    sessions::revoke(&state, &who, who.session_id, RevokeReason::Logout).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in account.
#[utoipa::path(get, path = "/api/v1/me", tag = "account", security(("session" = [])),
    responses((status = 200, body = views::Me), (status = 401, body = Problem)))]
async fn me(State(state): State<AppState>, who: SessionWithOverview) -> ApiResult<Json<views::Me>> {
    Ok(Json(views::me_from(&state, &who)))
}

/// Sessions of the signed-in account, newest first, including recently ended ones.
#[utoipa::path(get, path = "/api/v1/sessions", tag = "sessions", security(("session" = [])),
    responses((status = 200, body = Vec<views::SessionView>), (status = 401, body = Problem)))]
async fn list_sessions(
    State(state): State<AppState>,
    who: UserSession,
) -> ApiResult<Json<Vec<views::SessionView>>> {
    Ok(Json(views::sessions(&state, &who).await?))
}

/// Revoke one session of the signed-in account.
#[utoipa::path(delete, path = "/api/v1/sessions/{id}", tag = "sessions", security(("session" = [])),
    params(("id" = String, Path, description = "Session id")),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn revoke_session(
    State(state): State<AppState>,
    who: UserSession,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id: SessionId = id.parse().map_err(|_| ApiError::NotFound)?;
    sessions::revoke(&state, &who, id, RevokeReason::RevokedByUser).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct Revoked {
    revoked: u32,
}

/// Revoke every session except the current one.
#[utoipa::path(post, path = "/api/v1/sessions/revoke-others", tag = "sessions", security(("session" = [])),
    responses((status = 200, body = Revoked), (status = 401, body = Problem)))]
async fn revoke_other_sessions(State(state): State<AppState>, who: UserSession) -> ApiResult<Json<Revoked>> {
    Ok(Json(Revoked { revoked: sessions::revoke_others(&state, &who).await? }))
}

/// Sign out everywhere, this session included, by rotating the account's security stamp.
#[utoipa::path(post, path = "/api/v1/sessions/revoke-all", tag = "sessions", security(("session" = [])),
    responses((status = 200, body = Revoked), (status = 401, body = Problem)))]
async fn revoke_all_sessions(State(state): State<AppState>, who: UserSession) -> ApiResult<Json<Revoked>> {
    Ok(Json(Revoked { revoked: sessions::sign_out_everywhere(&state, &who).await? }))
}

/// Devices that have signed in to the account.
#[utoipa::path(get, path = "/api/v1/devices", tag = "sessions", security(("session" = [])),
    responses((status = 200, body = Vec<views::DeviceView>), (status = 401, body = Problem)))]
async fn list_devices(
    State(state): State<AppState>,
    who: UserSession,
) -> ApiResult<Json<Vec<views::DeviceView>>> {
    Ok(Json(views::devices(&state, &who).await?))
}

/// Recent sign-in activity, newest first.
#[utoipa::path(get, path = "/api/v1/activity", tag = "account", security(("session" = [])),
    responses((status = 200, body = Vec<views::LoginView>), (status = 401, body = Problem)))]
async fn activity(State(state): State<AppState>, who: UserSession) -> ApiResult<Json<Vec<views::LoginView>>> {
    Ok(Json(views::activity(&state, &who).await?))
}

/// "Was I hacked?": the emergency protocol's diagnose step over the account's last 30 days —
/// indicators of compromise with their evidence, benign explanations with theirs, a verdict
/// (`compromised`, `suspicious` — treat as confirmed — or `no_indicators`), next steps and hints
/// about how an attacker got in. Reads only.
#[utoipa::path(get, path = "/api/v1/security/diagnosis", tag = "security", security(("session" = [])),
    responses((status = 200, body = diagnosis::DiagnosisView), (status = 401, body = Problem)))]
async fn diagnosis_handler(
    State(state): State<AppState>,
    who: UserSession,
) -> ApiResult<Json<diagnosis::DiagnosisView>> {
    Ok(Json(diagnosis::diagnose(&state, &who).await?))
}
