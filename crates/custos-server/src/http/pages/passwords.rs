//! Password pages: change it from the security center, and reset it by email when forgotten. The
//! emailed link shows a form and changes nothing (mail scanners prefetch links); only the POST acts.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::Cookie;
use custos_core::Reason;
use custos_core::crypto::BearerToken;
use custos_core::password::Password;
use custos_core::password_policy::{MIN_CHARS_SINGLE_FACTOR, MIN_CHARS_WITH_SECOND_FACTOR};
use serde::Deserialize;

use super::confirm::{Receipt, confirm_first, step_up_first, with_session};
use super::{Form, check_csrf, csrf_token, error_page, message, readable_time, views};
use crate::error::ApiError;
use crate::extract::{Client, CookieNames, PageUser};
use crate::state::AppState;
use crate::usecases::password;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/security/password", get(change_page).post(change))
        .route("/forgot-password", get(forgot_page).post(forgot))
        .route("/reset-password/{token}", get(reset_page))
        .route("/reset-password", post(reset))
}

/// Refusals by field: the policy's reasons go next to the new password, the rest where they belong.
fn field_errors(reasons: Vec<Reason>) -> Vec<(&'static str, String)> {
    reasons
        .into_iter()
        .map(|r| {
            let field = match r.code.0 {
                "current-password-wrong" => "current",
                "email-invalid" => "email",
                _ => "new",
            };
            (field, r.detail)
        })
        .collect()
}

/// Every refusal for `field`, each its own sentence, in the order the policy gave them.
fn errors_for(errors: &[(&'static str, String)], field: &str) -> Vec<String> {
    errors.iter().filter(|(f, _)| *f == field).map(|(_, m)| m.clone()).collect()
}

#[derive(Template, WebTemplate)]
#[template(path = "password_change.html")]
struct ChangePage {
    csrf: String,
    email: String,
    min_chars: usize,
    errors: Vec<(&'static str, String)>,
}

impl ChangePage {
    fn errors_on(&self, field: &str) -> Vec<String> {
        errors_for(&self.errors, field)
    }
}

async fn change_form(
    state: &AppState,
    who: &crate::extract::UserSession,
    jar: CookieJar,
    status: StatusCode,
    errors: Vec<(&'static str, String)>,
) -> Response {
    let me = match views::me(state, who).await {
        Ok(me) => me,
        Err(e) => return error_page(&e),
    };
    let min_chars = if me.totp_enabled { MIN_CHARS_WITH_SECOND_FACTOR } else { MIN_CHARS_SINGLE_FACTOR };
    let (jar, csrf) = csrf_token(state, jar);
    (status, jar, ChangePage { csrf, email: me.email, min_chars, errors }).into_response()
}

async fn change_page(State(state): State<AppState>, PageUser(who): PageUser, jar: CookieJar) -> Response {
    if let Some(r) = step_up_first(&state, &who, "/security/password").await {
        return r;
    }
    change_form(&state, &who, jar, StatusCode::OK, Vec::new()).await
}

#[derive(Deserialize)]
struct ChangeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

async fn change(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    client: Client,
    jar: CookieJar,
    Form(f): Form<ChangeForm>,
) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &f.csrf) {
        return error_page(&e);
    }
    let result = password::change(
        &state,
        &who,
        Password::new(f.current_password),
        Password::new(f.new_password),
        Some(client.ip),
    )
    .await;
    let applied = match result {
        Ok(a) => a,
        Err(ApiError::StepUpRequired(_)) => return confirm_first("/security/password"),
        Err(ApiError::Validation(reasons)) => {
            return change_form(&state, &who, jar, StatusCode::UNPROCESSABLE_ENTITY, field_errors(reasons))
                .await;
        }
        Err(ApiError::Throttled { retry_after }) => {
            let text =
                format!("Too many wrong attempts. Try again in {} seconds.", retry_after.as_secs().max(1));
            return change_form(&state, &who, jar, StatusCode::TOO_MANY_REQUESTS, vec![("current", text)])
                .await;
        }
        Err(e) => return error_page(&e),
    };
    let jar = match &applied.session_token {
        Some(token) => with_session(&state, jar, token),
        None => jar,
    };
    let mut paragraphs = vec![
        "Use your new password from now on. This browser stays signed in.".to_owned(),
        "Every other browser and app was signed out and must sign in again with the new password.".to_owned(),
    ];
    if let Some(until) = applied.withdrawal_lock_until {
        paragraphs.push(format!(
            "Withdrawals are paused until {}, in case it wasn't you who changed it. We emailed you about the change.",
            readable_time(&until.rfc3339())
        ));
    }
    let (jar, csrf) = csrf_token(&state, jar);
    (jar, Receipt { csrf, title: "Password changed", paragraphs }).into_response()
}

#[derive(Template, WebTemplate)]
#[template(path = "forgot_password.html")]
struct ForgotPage {
    csrf: String,
    email: String,
    error: Option<String>,
}

async fn forgot_page(State(state): State<AppState>, jar: CookieJar) -> Response {
    let (jar, csrf) = csrf_token(&state, jar);
    (jar, ForgotPage { csrf, email: String::new(), error: None }).into_response()
}

#[derive(Deserialize)]
struct ForgotForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

async fn forgot(
    State(state): State<AppState>,
    client: Client,
    jar: CookieJar,
    Form(f): Form<ForgotForm>,
) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &f.csrf) {
        return error_page(&e);
    }
    match password::request_reset(&state, &f.email, Some(client.ip)).await {
        // The same answer whether or not the address has an account.
        Ok(()) => message(
            StatusCode::ACCEPTED,
            "ok",
            "Check your inbox",
            &[
                "If an account uses this address, we've emailed it a link to choose a new password. The link works \
                 for 30 minutes, once; asking again replaces it.",
                "Nothing arrived after a few minutes? Check your spam folder, and that you typed the address you \
                 signed up with.",
            ],
            Some(("Back to sign in", "/login")),
        ),
        Err(ApiError::Validation(reasons)) => {
            let error = Some(reasons.into_iter().map(|r| r.detail).collect::<Vec<_>>().join(" "));
            let (jar, csrf) = csrf_token(&state, jar);
            (StatusCode::UNPROCESSABLE_ENTITY, jar, ForgotPage { csrf, email: f.email, error })
                .into_response()
        }
        Err(e) => error_page(&e),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "reset_password.html")]
struct ResetPage {
    csrf: String,
    token: String,
    errors: Vec<String>,
}

fn link_spent() -> Response {
    message(
        StatusCode::BAD_REQUEST,
        "error",
        "This link doesn't work any more",
        &[
            "Reset links work for 30 minutes, once, and only the newest one you asked for. Your password has not \
             been changed.",
        ],
        Some(("Ask for a new link", "/forgot-password")),
    )
}

/// Shows the form and changes nothing: mail scanners prefetch links.
async fn reset_page(State(state): State<AppState>, jar: CookieJar, Path(token): Path<String>) -> Response {
    if BearerToken::parse(&token).is_none() {
        return link_spent();
    }
    let (jar, csrf) = csrf_token(&state, jar);
    (jar, ResetPage { csrf, token, errors: Vec::new() }).into_response()
}

#[derive(Deserialize)]
struct ResetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    new_password: String,
}

async fn reset(
    State(state): State<AppState>,
    client: Client,
    jar: CookieJar,
    Form(f): Form<ResetForm>,
) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &f.csrf) {
        return error_page(&e);
    }
    match password::confirm_reset(&state, &f.token, Password::new(f.new_password), Some(client.ip)).await {
        Ok(()) => {
            // Every session ended, this browser's too: don't keep a dead cookie.
            let jar = jar.remove(Cookie::build(CookieNames::for_state(&state).session).path("/"));
            let page = message(
                StatusCode::OK,
                "ok",
                "Password reset",
                &[
                    "Your new password is set. Every browser and app that was signed in to your account has been \
                     signed out, this one included.",
                    "Withdrawals are paused for 48 hours, in case it wasn't you who asked for the reset. We emailed \
                     you about the change.",
                    "Sign in with your new password.",
                ],
                Some(("Sign in", "/login")),
            );
            (jar, page).into_response()
        }
        Err(ApiError::Validation(reasons)) => {
            let errors = reasons.into_iter().map(|r| r.detail).collect();
            let (jar, csrf) = csrf_token(&state, jar);
            (StatusCode::UNPROCESSABLE_ENTITY, jar, ResetPage { csrf, token: f.token, errors })
                .into_response()
        }
        Err(ApiError::LinkInvalid) => link_spent(),
        Err(e) => error_page(&e),
    }
}
