//! Passkeys on the pages. WebAuthn has no HTML form, so adding a passkey and using one are the only
//! things on custos pages that need JavaScript: one same-origin script, `/static/passkeys.js`
//! (allowed by the CSP's `script-src 'self'`; nothing inline, nothing from elsewhere). It fetches
//! the options from the JSON API and brings the authenticator's answer to the endpoints here,
//! which check the form token and set the session cookie: finishing a registration or a step-up
//! reissues the session token, and a sign-in starts a session. Renaming and removing are plain
//! forms that work without JavaScript.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use custos_core::ids::PasskeyId;
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use super::CsrfOnly;
use super::confirm::{step_up_first, with_session};
use super::sign_in::signed_in;
use super::{Form, check_csrf, error_page, message};
use crate::error::ApiError;
use crate::extract::{Client, PageUser, UserSession};
use crate::http::json::Json;
use crate::state::AppState;
use crate::usecases::passkeys;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/static/passkeys.js", get(script))
        .route("/security/passkeys/register", post(register))
        .route("/security/passkeys/step-up", post(step_up))
        .route("/security/passkeys/{id}/rename", post(rename))
        .route("/security/passkeys/{id}/remove", post(remove))
        .route("/login/passkey", post(sign_in))
        .route("/login/second-factor/passkey", post(second_factor))
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../../static/passkeys.js"),
    )
        .into_response()
}

/// The security center's "Passkeys" section.
pub(super) struct Section {
    /// Whether this server can be a WebAuthn relying party (a host name, not an IP address).
    pub available: bool,
    pub items: Vec<Item>,
    /// Adding or removing needs a step-up first; the section says so before anyone tries.
    pub confirm_first: bool,
}

pub(super) struct Item {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

pub(super) async fn section(state: &AppState, who: &UserSession) -> Result<Section, ApiError> {
    let items = passkeys::list(state, who)
        .await?
        .into_iter()
        .map(|p| Item {
            id: p.id.to_string(),
            name: p.name,
            created_at: p.created_at.rfc3339(),
            last_used_at: p.last_used_at.map(|t| t.rfc3339()),
        })
        .collect();
    let confirm_first = matches!(
        crate::usecases::step_up::require(state, who, custos_core::step_up::Requirement::RecentStepUp).await,
        Err(ApiError::StepUpRequired(_))
    );
    Ok(Section { available: state.webauthn.is_some(), items, confirm_first })
}

/// The note the security center shows after a passkey change sent the browser back to it.
pub(super) fn flash(done: &str) -> Option<&'static str> {
    Some(match done {
        "passkey-added" => {
            "Passkey added. You can now sign in with it instead of your password, and it is asked for as your \
             second factor."
        }
        "passkey-renamed" => "Passkey renamed.",
        "passkey-removed" => {
            "Passkey removed. Your other sessions were signed out, and withdrawals are paused for 24 hours."
        }
        "confirmed" => "Confirmed. For the next few minutes you can change your security settings.",
        _ => return None,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    #[serde(default)]
    csrf: String,
    ceremony: String,
    credential: RegisterPublicKeyCredential,
    name: Option<String>,
}

#[derive(Serialize)]
struct Added {
    name: String,
    /// Shown once, when the account had none.
    recovery_codes: Option<Vec<String>>,
}

async fn register(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    client: Client,
    jar: CookieJar,
    Json(b): Json<RegisterBody>,
) -> Response {
    let result = async {
        check_csrf(&state, &jar, &b.csrf)?;
        passkeys::finish_registration(
            &state,
            &who,
            &b.ceremony,
            &b.credential,
            b.name.as_deref(),
            Some(client.ip),
        )
        .await
    };
    match result.await {
        Ok(added) => {
            let jar = with_session(&state, jar, &added.session_token);
            let body = Added { name: added.passkey.name, recovery_codes: added.recovery_codes };
            (jar, axum::Json(body)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssertionBody {
    #[serde(default)]
    csrf: String,
    ceremony: String,
    credential: PublicKeyCredential,
}

async fn step_up(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    jar: CookieJar,
    Json(b): Json<AssertionBody>,
) -> Response {
    let result = async {
        check_csrf(&state, &jar, &b.csrf)?;
        passkeys::finish_step_up(&state, &who, &b.ceremony, &b.credential).await
    };
    match result.await {
        Ok(token) => (with_session(&state, jar, &token), StatusCode::NO_CONTENT).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Sign-in with a passkey alone; on success the session cookie is set and the browser goes on
/// to the security center (the script follows the redirect).
async fn sign_in(
    State(state): State<AppState>,
    client: Client,
    jar: CookieJar,
    Json(b): Json<AssertionBody>,
) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &b.csrf) {
        return e.into_response();
    }
    match passkeys::finish_sign_in(&state, &b.ceremony, &b.credential, &client).await {
        Ok(granted) => signed_in(&state, jar, granted),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecondFactorBody {
    #[serde(default)]
    csrf: String,
    challenge: String,
    ceremony: String,
    credential: PublicKeyCredential,
}

async fn second_factor(
    State(state): State<AppState>,
    client: Client,
    jar: CookieJar,
    Json(b): Json<SecondFactorBody>,
) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &b.csrf) {
        return e.into_response();
    }
    match passkeys::finish_login_second_factor(&state, &b.challenge, &b.ceremony, &b.credential, &client)
        .await
    {
        Ok(granted) => signed_in(&state, jar, granted),
        Err(e) => e.into_response(),
    }
}

fn passkey_id(id: &str) -> Result<PasskeyId, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound)
}

#[derive(Deserialize)]
struct RenameForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

async fn rename(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    jar: CookieJar,
    Path(id): Path<String>,
    Form(f): Form<RenameForm>,
) -> Response {
    let result = async {
        check_csrf(&state, &jar, &f.csrf)?;
        passkeys::rename(&state, &who, passkey_id(&id)?, &f.name).await
    };
    match result.await {
        Ok(_) => Redirect::to("/security?done=passkey-renamed").into_response(),
        Err(ApiError::Validation(reasons)) => {
            let detail = reasons.iter().map(|r| r.detail.as_str()).collect::<Vec<_>>().join(" ");
            let text = format!("That name can't be used: {detail}.");
            message(
                StatusCode::UNPROCESSABLE_ENTITY,
                "error",
                "Passkey not renamed",
                &[&text],
                Some(("Back to the security center", "/security")),
            )
        }
        Err(e) => error_page(&e),
    }
}

async fn remove(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    client: Client,
    jar: CookieJar,
    Path(id): Path<String>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &f.csrf) {
        return error_page(&e);
    }
    if let Some(confirm) = step_up_first(&state, &who, "/security").await {
        return confirm;
    }
    let id = match passkey_id(&id) {
        Ok(id) => id,
        Err(e) => return error_page(&e),
    };
    match passkeys::remove(&state, &who, id, Some(client.ip)).await {
        Ok(token) => (with_session(&state, jar, &token), Redirect::to("/security?done=passkey-removed"))
            .into_response(),
        Err(e) => error_page(&e),
    }
}
