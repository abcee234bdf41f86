//! Passkeys over the JSON API: add (two steps), list, rename, remove; and use one — as the second
//! factor after a password, to step up, or to sign in alone.
//!
//! Every ceremony is two calls. The first answers `{ceremony, options, expires_at}`: hand
//! `options.publicKey` to `PublicKeyCredential.parseCreationOptionsFromJSON` (adding) or
//! `parseRequestOptionsFromJSON` (using), call `navigator.credentials.create/get`, and send
//! `credential.toJSON()` back with `ceremony` to the matching `…/finish`. A refused answer (wrong
//! challenge, wrong origin, a signature counter that went backwards…) is `400 code-refused` with
//! the reason `webauthn-refused`, and counts like a wrong code.

use axum::extract::{Path, State};
use custos_core::ids::PasskeyId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use super::api::{LoginResponse, session_response};
use super::json::Json;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Client, UserSession};
use crate::state::AppState;
use crate::usecases::passkeys::{self, Ceremony, PasskeyInfo};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(rename, remove))
        .routes(routes!(register_start))
        .routes(routes!(register_finish))
        .routes(routes!(step_up_start))
        .routes(routes!(step_up_finish))
        .routes(routes!(login_start))
        .routes(routes!(login_finish))
        .routes(routes!(sign_in_start))
        .routes(routes!(sign_in_finish))
}

#[derive(Serialize, ToSchema)]
pub struct CeremonyOptions {
    /// Send it back with the authenticator's answer, within five minutes. Works once.
    pub ceremony: String,
    /// `{"publicKey": …}`: pass `publicKey` to `PublicKeyCredential.parseCreationOptionsFromJSON`
    /// (adding a passkey) or `parseRequestOptionsFromJSON` (using one).
    #[schema(value_type = Object)]
    pub options: Value,
    /// RFC 3339.
    pub expires_at: String,
}

impl From<Ceremony> for CeremonyOptions {
    fn from(c: Ceremony) -> Self {
        Self {
            ceremony: c.handle.expose().to_owned(),
            options: c.options,
            expires_at: c.expires_at.rfc3339(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PasskeyView {
    pub id: String,
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339; absent until it is first used.
    pub last_used_at: Option<String>,
}

impl From<&PasskeyInfo> for PasskeyView {
    fn from(p: &PasskeyInfo) -> Self {
        Self {
            id: p.id.to_string(),
            name: p.name.clone(),
            created_at: p.created_at.rfc3339(),
            last_used_at: p.last_used_at.map(|t| t.rfc3339()),
        }
    }
}

fn passkey_id(id: &str) -> Result<PasskeyId, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound)
}

/// The account's passkeys, oldest first.
#[utoipa::path(get, path = "/api/v1/security/passkeys", tag = "security", security(("session" = [])),
    responses((status = 200, body = Vec<PasskeyView>), (status = 401, body = Problem)))]
async fn list(State(state): State<AppState>, who: UserSession) -> ApiResult<Json<Vec<PasskeyView>>> {
    Ok(Json(passkeys::list(&state, &who).await?.iter().map(PasskeyView::from).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameBody {
    /// 1–64 characters.
    name: String,
}

/// Rename a passkey.
#[utoipa::path(patch, path = "/api/v1/security/passkeys/{id}", tag = "security", security(("session" = [])),
    params(("id" = String, Path, description = "Passkey id")), request_body = RenameBody,
    responses((status = 200, body = PasskeyView), (status = "4XX", body = Problem)))]
async fn rename(
    State(state): State<AppState>,
    who: UserSession,
    Path(id): Path<String>,
    Json(b): Json<RenameBody>,
) -> ApiResult<Json<PasskeyView>> {
    let info = passkeys::rename(&state, &who, passkey_id(&id)?, &b.name).await?;
    Ok(Json(PasskeyView::from(&info)))
}

#[derive(Serialize, ToSchema)]
pub struct SessionToken {
    /// The session continues under this token; the old one no longer works.
    session_token: String,
}

/// Remove a passkey (needs a recent step-up). Ends other sessions and pauses withdrawals for 24
/// hours; removing the last second factor also removes the recovery codes.
#[utoipa::path(delete, path = "/api/v1/security/passkeys/{id}", tag = "security", security(("session" = [])),
    params(("id" = String, Path, description = "Passkey id")),
    responses((status = 200, body = SessionToken), (status = "4XX", body = Problem)))]
async fn remove(
    State(state): State<AppState>,
    who: UserSession,
    client: Client,
    Path(id): Path<String>,
) -> ApiResult<Json<SessionToken>> {
    let token = passkeys::remove(&state, &who, passkey_id(&id)?, Some(client.ip)).await?;
    Ok(Json(SessionToken { session_token: token.expose().to_owned() }))
}

/// Start adding a passkey (needs a recent step-up).
#[utoipa::path(post, path = "/api/v1/security/passkeys/register/start", tag = "security", security(("session" = [])),
    responses((status = 200, body = CeremonyOptions), (status = "4XX", body = Problem)))]
async fn register_start(State(state): State<AppState>, who: UserSession) -> ApiResult<Json<CeremonyOptions>> {
    Ok(Json(passkeys::start_registration(&state, &who).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterFinishBody {
    ceremony: String,
    /// `credential.toJSON()` of the credential `navigator.credentials.create` made.
    #[schema(value_type = Object)]
    credential: RegisterPublicKeyCredential,
    /// What to call it, e.g. "Work laptop" (default "Passkey", "Passkey 2", …).
    name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PasskeyAdded {
    passkey: PasskeyView,
    /// The session continues at `aal2` under this token; the old one no longer works.
    session_token: String,
    /// Ten single-use codes, shown once, when the account had none.
    recovery_codes: Option<Vec<String>>,
}

/// Finish adding a passkey with the authenticator's answer.
#[utoipa::path(post, path = "/api/v1/security/passkeys/register/finish", tag = "security", security(("session" = [])),
    request_body = RegisterFinishBody,
    responses((status = 200, body = PasskeyAdded), (status = "4XX", body = Problem), (status = 429, body = Problem)))]
async fn register_finish(
    State(state): State<AppState>,
    who: UserSession,
    client: Client,
    Json(b): Json<RegisterFinishBody>,
) -> ApiResult<Json<PasskeyAdded>> {
    let added = passkeys::finish_registration(
        &state,
        &who,
        &b.ceremony,
        &b.credential,
        b.name.as_deref(),
        Some(client.ip),
    )
    .await?;
    Ok(Json(PasskeyAdded {
        passkey: PasskeyView::from(&added.passkey),
        session_token: added.session_token.expose().to_owned(),
        recovery_codes: added.recovery_codes,
    }))
}

/// Start a step-up with a passkey.
#[utoipa::path(post, path = "/api/v1/auth/step-up/passkey/start", tag = "auth", security(("session" = [])),
    responses((status = 200, body = CeremonyOptions), (status = "4XX", body = Problem)))]
async fn step_up_start(State(state): State<AppState>, who: UserSession) -> ApiResult<Json<CeremonyOptions>> {
    Ok(Json(passkeys::start_step_up(&state, &who).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssertionBody {
    ceremony: String,
    /// `credential.toJSON()` of the credential `navigator.credentials.get` returned.
    #[schema(value_type = Object)]
    credential: PublicKeyCredential,
}

/// Finish a step-up with a passkey: the session becomes `aal2` under a new token.
#[utoipa::path(post, path = "/api/v1/auth/step-up/passkey/finish", tag = "auth", security(("session" = [])),
    request_body = AssertionBody,
    responses((status = 200, body = SessionToken), (status = "4XX", body = Problem), (status = 429, body = Problem)))]
async fn step_up_finish(
    State(state): State<AppState>,
    who: UserSession,
    Json(b): Json<AssertionBody>,
) -> ApiResult<Json<SessionToken>> {
    let token = passkeys::finish_step_up(&state, &who, &b.ceremony, &b.credential).await?;
    Ok(Json(SessionToken { session_token: token.expose().to_owned() }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginChallengeBody {
    /// The challenge from `POST /api/v1/auth/login` (when `methods` includes `passkey`).
    challenge: String,
}

/// After the password: options for answering the sign-in challenge with a passkey.
#[utoipa::path(post, path = "/api/v1/auth/login/passkey/start", tag = "auth", request_body = LoginChallengeBody,
    responses((status = 200, body = CeremonyOptions), (status = "4XX", body = Problem)))]
async fn login_start(
    State(state): State<AppState>,
    Json(b): Json<LoginChallengeBody>,
) -> ApiResult<Json<CeremonyOptions>> {
    Ok(Json(passkeys::start_login_second_factor(&state, &b.challenge).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginAssertionBody {
    challenge: String,
    ceremony: String,
    /// `credential.toJSON()` of the credential `navigator.credentials.get` returned.
    #[schema(value_type = Object)]
    credential: PublicKeyCredential,
}

/// Complete a sign-in with a passkey as the second factor.
#[utoipa::path(post, path = "/api/v1/auth/login/passkey/finish", tag = "auth", request_body = LoginAssertionBody,
    responses((status = 200, body = LoginResponse), (status = "4XX", body = Problem), (status = 429, body = Problem)))]
async fn login_finish(
    State(state): State<AppState>,
    client: Client,
    Json(b): Json<LoginAssertionBody>,
) -> ApiResult<Json<LoginResponse>> {
    let g = passkeys::finish_login_second_factor(&state, &b.challenge, &b.ceremony, &b.credential, &client)
        .await?;
    Ok(Json(session_response(g)))
}

/// Start signing in with a passkey alone (no email, no password).
#[utoipa::path(post, path = "/api/v1/auth/passkey/start", tag = "auth",
    responses((status = 200, body = CeremonyOptions), (status = "4XX", body = Problem), (status = 429, body = Problem)))]
async fn sign_in_start(State(state): State<AppState>, client: Client) -> ApiResult<Json<CeremonyOptions>> {
    Ok(Json(passkeys::start_sign_in(&state, &client).await?.into()))
}

/// Sign in with a passkey alone. The session starts at `aal2`.
#[utoipa::path(post, path = "/api/v1/auth/passkey/finish", tag = "auth", request_body = AssertionBody,
    responses((status = 200, body = LoginResponse), (status = "4XX", body = Problem), (status = 429, body = Problem)))]
async fn sign_in_finish(
    State(state): State<AppState>,
    client: Client,
    Json(b): Json<AssertionBody>,
) -> ApiResult<Json<LoginResponse>> {
    let g = passkeys::finish_sign_in(&state, &b.ceremony, &b.credential, &client).await?;
    Ok(Json(session_response(g)))
}
