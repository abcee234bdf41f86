//! Security settings and step-up over the JSON API: TOTP, recovery codes, step-up, password
//! change and reset, anti-phishing code, posture.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use custos_core::password::Password;
use custos_core::posture::Posture;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::json::Json;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Client, UserSession};
use crate::state::AppState;
use crate::usecases::{bindings, factors, password, settings, sms, step_up};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(totp_begin, totp_remove))
        .routes(routes!(totp_confirm))
        .routes(routes!(recovery_codes))
        .routes(routes!(step_up_handler))
        .routes(routes!(step_up_email))
        .routes(routes!(change_password))
        .routes(routes!(reset_request))
        .routes(routes!(reset_confirm))
        .routes(routes!(anti_phishing_code))
        .routes(routes!(posture))
        .routes(routes!(change_email))
        .routes(routes!(request_phone))
        .routes(routes!(confirm_phone))
        .routes(routes!(sms_factor))
        .routes(routes!(login_sms_code))
        .routes(routes!(step_up_sms))
        .routes(routes!(confirm_email_change))
}

#[derive(Serialize, ToSchema)]
pub struct TotpEnrolment {
    /// Scan this in an authenticator app (or its QR code).
    otpauth_uri: String,
    /// The same secret in base32, for typing in by hand.
    secret: String,
    /// The URI as an SVG QR code.
    qr_svg: String,
}

/// Start enrolling an authenticator app (needs a recent step-up). Confirm it with its first code.
#[utoipa::path(post, path = "/api/v1/security/totp", tag = "security", security(("session" = [])),
    responses((status = 200, body = TotpEnrolment), (status = 403, body = Problem), (status = 409, body = Problem)))]
async fn totp_begin(State(state): State<AppState>, who: UserSession) -> ApiResult<Json<TotpEnrolment>> {
    let e = factors::begin_totp(&state, &who).await?;
    let qr_svg = super::qr::svg(&e.otpauth_uri).unwrap_or_default();
    Ok(Json(TotpEnrolment { otpauth_uri: e.otpauth_uri, secret: e.secret, qr_svg }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    code: String,
}

#[derive(Serialize, ToSchema)]
pub struct TotpConfirmed {
    /// The session continues at `aal2` under this token; the old one no longer works.
    session_token: String,
    /// Ten single-use codes, shown once, when the account had none.
    recovery_codes: Option<Vec<String>>,
}

/// Confirm an authenticator app with its first code.
#[utoipa::path(post, path = "/api/v1/security/totp/confirm", tag = "security", security(("session" = [])), request_body = CodeBody,
    responses((status = 200, body = TotpConfirmed), (status = "4XX", body = Problem), (status = 429, body = Problem)))]
async fn totp_confirm(
    State(state): State<AppState>,
    who: UserSession,
    client: Client,
    Json(b): Json<CodeBody>,
) -> ApiResult<Json<TotpConfirmed>> {
    let c = factors::confirm_totp(&state, &who, &b.code, Some(client.ip)).await?;
    Ok(Json(TotpConfirmed {
        session_token: c.session_token.expose().to_owned(),
        recovery_codes: c.recovery_codes,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct NewSessionToken {
    /// The session continues under this token; the old one no longer works.
    session_token: String,
}

/// Remove the authenticator app (needs a recent step-up with it). Ends other sessions and pauses
/// withdrawals for 24 hours.
#[utoipa::path(delete, path = "/api/v1/security/totp", tag = "security", security(("session" = [])),
    responses((status = 200, body = NewSessionToken), (status = "4XX", body = Problem)))]
async fn totp_remove(
    State(state): State<AppState>,
    who: UserSession,
    client: Client,
) -> ApiResult<Json<NewSessionToken>> {
    let token = factors::remove_totp(&state, &who, Some(client.ip)).await?;
    Ok(Json(NewSessionToken { session_token: token.expose().to_owned() }))
}

#[derive(Serialize, ToSchema)]
pub struct RecoveryCodes {
    recovery_codes: Vec<String>,
}

/// Generate ten new recovery codes (needs a recent step-up); the old set stops working.
#[utoipa::path(post, path = "/api/v1/security/recovery-codes", tag = "security", security(("session" = [])),
    responses((status = 200, body = RecoveryCodes), (status = "4XX", body = Problem)))]
async fn recovery_codes(
    State(state): State<AppState>,
    who: UserSession,
    client: Client,
) -> ApiResult<Json<RecoveryCodes>> {
    Ok(Json(RecoveryCodes {
        recovery_codes: factors::regenerate_recovery_codes(&state, &who, Some(client.ip)).await?,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepUpBody {
    /// `totp`, `recovery_code`, or `email_code` (after `POST /api/v1/auth/step-up/email`).
    method: String,
    code: String,
    /// With `email_code`: the challenge from `POST /api/v1/auth/step-up/email`.
    challenge: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SteppedUp {
    session_token: String,
}

/// Step up the current session. With a second factor: its code. Without one: the emailed code.
#[utoipa::path(post, path = "/api/v1/auth/step-up", tag = "auth", security(("session" = [])), request_body = StepUpBody,
    responses((status = 200, body = SteppedUp), (status = "4XX", body = Problem), (status = 429, body = Problem)))]
async fn step_up_handler(
    State(state): State<AppState>,
    who: UserSession,
    Json(b): Json<StepUpBody>,
) -> ApiResult<Json<SteppedUp>> {
    let token = if b.method == "sms" {
        let challenge = b.challenge.as_deref().ok_or_else(|| {
            ApiError::Validation(vec![custos_core::Reason::new(
                "challenge-missing",
                "Send the challenge from step-up/sms.",
            )])
        })?;
        sms::with_code(&state, &who, challenge, &b.code).await?
    } else if b.method == "email_code" {
        let challenge = b.challenge.as_deref().ok_or_else(|| {
            ApiError::Validation(vec![custos_core::Reason::new(
                "challenge-missing",
                "Send the challenge from step-up/email.",
            )])
        })?;
        step_up::with_email_code(&state, &who, challenge, &b.code).await?
    } else {
        step_up::with_code(&state, &who, factors::parse_method(&b.method)?, &b.code).await?
    };
    Ok(Json(SteppedUp { session_token: token.expose().to_owned() }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    password: String,
}

#[derive(Serialize, ToSchema)]
pub struct EmailChallenge {
    /// Send it back with the emailed code to `POST /api/v1/auth/step-up` (method `email_code`).
    challenge: String,
}

/// For accounts without a second factor: confirm the password, and a code is emailed.
#[utoipa::path(post, path = "/api/v1/auth/step-up/email", tag = "auth", security(("session" = [])), request_body = PasswordBody,
    responses((status = 200, body = EmailChallenge), (status = "4XX", body = Problem), (status = 429, body = Problem)))]
async fn step_up_email(
    State(state): State<AppState>,
    who: UserSession,
    client: Client,
    Json(b): Json<PasswordBody>,
) -> ApiResult<Json<EmailChallenge>> {
    let c = step_up::start_email(&state, &who, Password::new(b.password), Some(client.ip)).await?;
    Ok(Json(EmailChallenge { challenge: c.expose().to_owned() }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordBody {
    current_password: String,
    new_password: String,
}

#[derive(Serialize, ToSchema)]
pub struct PasswordChanged {
    /// This session continues under the new token; every other session has ended.
    session_token: Option<String>,
    /// Withdrawals are paused until then (RFC 3339).
    withdrawal_lock_until: Option<String>,
}

/// Change the password (current password and a recent step-up).
#[utoipa::path(post, path = "/api/v1/security/password", tag = "security", security(("session" = [])), request_body = ChangePasswordBody,
    responses((status = 200, body = PasswordChanged), (status = "4XX", body = Problem), (status = 429, body = Problem)))]
async fn change_password(
    State(state): State<AppState>,
    who: UserSession,
    client: Client,
    Json(b): Json<ChangePasswordBody>,
) -> ApiResult<Json<PasswordChanged>> {
    let applied = password::change(
        &state,
        &who,
        Password::new(b.current_password),
        Password::new(b.new_password),
        Some(client.ip),
    )
    .await?;
    Ok(Json(PasswordChanged {
        session_token: applied.session_token.map(|t| t.expose().to_owned()),
        withdrawal_lock_until: applied.withdrawal_lock_until.map(|t| t.rfc3339()),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailBody {
    email: String,
}

/// Ask for a password-reset link. The answer is the same whether or not the address has an account.
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth", request_body = EmailBody,
    responses((status = 202), (status = "4XX", body = Problem)))]
async fn reset_request(
    State(state): State<AppState>,
    client: Client,
    Json(b): Json<EmailBody>,
) -> ApiResult<impl IntoResponse> {
    password::request_reset(&state, &b.email, Some(client.ip)).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetBody {
    token: String,
    new_password: String,
}

/// Set a new password from a reset link. Every session ends; withdrawals pause for 48 hours.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", tag = "auth", request_body = ResetBody,
    responses((status = 204), (status = "4XX", body = Problem)))]
async fn reset_confirm(
    State(state): State<AppState>,
    client: Client,
    Json(b): Json<ResetBody>,
) -> ApiResult<StatusCode> {
    password::confirm_reset(&state, &b.token, Password::new(b.new_password), Some(client.ip)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Set or change the anti-phishing code (needs a recent step-up).
#[utoipa::path(put, path = "/api/v1/security/anti-phishing-code", tag = "security", security(("session" = [])), request_body = CodeBody,
    responses((status = 204), (status = "4XX", body = Problem)))]
async fn anti_phishing_code(
    State(state): State<AppState>,
    who: UserSession,
    client: Client,
    Json(b): Json<CodeBody>,
) -> ApiResult<StatusCode> {
    settings::set_anti_phishing_code(&state, &who, &b.code, Some(client.ip)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The account's security checklist, score and next steps.
#[utoipa::path(get, path = "/api/v1/security/posture", tag = "security", security(("session" = [])),
    responses((status = 200, body = Object), (status = 401, body = Problem)))]
async fn posture(State(state): State<AppState>, who: UserSession) -> ApiResult<Json<Posture>> {
    Ok(Json(settings::posture(&state, &who).await?))
}

/// Ask to change the account's email address (needs a recent step-up). A link goes to the new
/// address; the current one is told. Nothing changes until the link is used.
#[utoipa::path(post, path = "/api/v1/security/email", tag = "security", security(("session" = [])), request_body = EmailBody,
    responses((status = 202), (status = "4XX", body = Problem)))]
async fn change_email(
    State(state): State<AppState>,
    who: UserSession,
    client: Client,
    Json(b): Json<EmailBody>,
) -> ApiResult<StatusCode> {
    bindings::request_email_change(&state, &who, &b.email, Some(client.ip)).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    token: String,
}

/// Complete an email change with the token from the link sent to the new address. Every session
/// ends, withdrawals pause for 48 hours, and both addresses are told.
#[utoipa::path(post, path = "/api/v1/security/email/confirm", tag = "security", request_body = TokenBody,
    responses((status = 204), (status = "4XX", body = Problem)))]
async fn confirm_email_change(
    State(state): State<AppState>,
    client: Client,
    Json(b): Json<TokenBody>,
) -> ApiResult<StatusCode> {
    bindings::confirm_email_change(&state, &b.token, Some(client.ip)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneBody {
    /// E.164, e.g. `+4915112345678`.
    phone: String,
}

#[derive(Serialize, ToSchema)]
pub struct Challenge {
    /// Send it back with the texted code.
    challenge: String,
}

/// Bind a phone number (needs a recent step-up): a code is texted to it.
#[utoipa::path(post, path = "/api/v1/security/phone", tag = "security", security(("session" = [])), request_body = PhoneBody,
    responses((status = 200, body = Challenge), (status = "4XX", body = Problem)))]
async fn request_phone(
    State(state): State<AppState>,
    who: UserSession,
    Json(b): Json<PhoneBody>,
) -> ApiResult<Json<Challenge>> {
    let c = sms::request_phone(&state, &who, &b.phone).await?;
    Ok(Json(Challenge { challenge: c.expose().to_owned() }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChallengeCodeBody {
    challenge: String,
    code: String,
}

#[derive(Serialize, ToSchema)]
pub struct MaybeNewSession {
    /// When the change ended other sessions, this session continues under this new token.
    session_token: Option<String>,
    withdrawal_lock_until: Option<String>,
}

impl From<crate::usecases::credential_change::Applied> for MaybeNewSession {
    fn from(a: crate::usecases::credential_change::Applied) -> Self {
        Self {
            session_token: a.session_token.map(|t| t.expose().to_owned()),
            withdrawal_lock_until: a.withdrawal_lock_until.map(|t| t.rfc3339()),
        }
    }
}

/// Confirm a phone number with the texted code. Replacing a number tells the old one by text.
#[utoipa::path(post, path = "/api/v1/security/phone/confirm", tag = "security", security(("session" = [])), request_body = ChallengeCodeBody,
    responses((status = 200, body = MaybeNewSession), (status = "4XX", body = Problem), (status = 429, body = Problem)))]
async fn confirm_phone(
    State(state): State<AppState>,
    who: UserSession,
    client: Client,
    Json(b): Json<ChallengeCodeBody>,
) -> ApiResult<Json<MaybeNewSession>> {
    Ok(Json(sms::confirm_phone(&state, &who, &b.challenge, &b.code, Some(client.ip)).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnabledBody {
    enabled: bool,
}

/// Turn SMS codes on or off as a second factor (needs a recent step-up and a confirmed number).
#[utoipa::path(put, path = "/api/v1/security/sms", tag = "security", security(("session" = [])), request_body = EnabledBody,
    responses((status = 200, body = MaybeNewSession), (status = "4XX", body = Problem)))]
async fn sms_factor(
    State(state): State<AppState>,
    who: UserSession,
    client: Client,
    Json(b): Json<EnabledBody>,
) -> ApiResult<Json<MaybeNewSession>> {
    Ok(Json(sms::set_factor(&state, &who, b.enabled, Some(client.ip)).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChallengeBody {
    challenge: String,
}

/// Text a code for a pending second-factor sign-in (at most once a minute).
#[utoipa::path(post, path = "/api/v1/auth/login/sms", tag = "auth", request_body = ChallengeBody,
    responses((status = 202), (status = "4XX", body = Problem), (status = 429, body = Problem)))]
async fn login_sms_code(
    State(state): State<AppState>,
    Json(b): Json<ChallengeBody>,
) -> ApiResult<StatusCode> {
    sms::send_login_code(&state, &b.challenge).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Start a step-up by SMS; answer at `POST /api/v1/auth/step-up` with method `sms`.
#[utoipa::path(post, path = "/api/v1/auth/step-up/sms", tag = "auth", security(("session" = [])),
    responses((status = 200, body = Challenge), (status = "4XX", body = Problem), (status = 429, body = Problem)))]
async fn step_up_sms(State(state): State<AppState>, who: UserSession) -> ApiResult<Json<Challenge>> {
    let c = sms::start_step_up(&state, &who).await?;
    Ok(Json(Challenge { challenge: c.expose().to_owned() }))
}
