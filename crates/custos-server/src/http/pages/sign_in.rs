//! Signing in and joining: the login form and its second-factor step, registration, and the
//! email-verification link.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use custos_core::crypto::BearerToken;
use custos_core::password::Password;
use serde::Deserialize;

use super::TokenForm;
use super::{Form, MessagePage, check_csrf, cookie, csrf_token, error_page, message};
use crate::error::ApiError;
use crate::extract::{Client, CookieNames};
use crate::state::AppState;
use crate::usecases::factors::Method;
use crate::usecases::{accounts, login};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_form).post(login_submit))
        .route("/login/second-factor", post(login_second_factor))
        .route("/register", get(register_form).post(register_submit))
        .route("/verify-email/{token}", get(verify_page))
        .route("/verify-email", post(verify_submit))
}

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    email: String,
    error: Option<String>,
    /// Offer "Sign in with a passkey" (the server can be a WebAuthn relying party).
    passkeys: bool,
}

async fn login_form(State(state): State<AppState>, jar: CookieJar) -> impl IntoResponse {
    let (jar, csrf) = csrf_token(&state, jar);
    (jar, LoginPage { csrf, email: String::new(), error: None, passkeys: state.webauthn.is_some() })
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    csrf: String,
    email: String,
    password: String,
}

async fn login_submit(
    State(state): State<AppState>,
    client: Client,
    jar: CookieJar,
    Form(f): Form<LoginForm>,
) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &f.csrf) {
        return error_page(&e);
    }
    let req = login::LoginRequest { email: f.email.clone(), password: Password::new(f.password) };
    match login::login(&state, req, &client).await {
        Ok(login::LoginResult::Granted(granted)) => signed_in(&state, jar, granted),
        Ok(login::LoginResult::SecondFactorRequired { challenge, methods, .. }) => {
            let (jar, csrf) = csrf_token(&state, jar);
            let page = SecondFactorPage {
                csrf,
                challenge: challenge.expose().to_owned(),
                recovery_allowed: methods.contains(&"recovery_code"),
                totp_allowed: methods.contains(&"totp"),
                passkey_allowed: methods.contains(&"passkey") && state.webauthn.is_some(),
                error: None,
            };
            (jar, page).into_response()
        }
        Err(e) => {
            let text = match &e {
                ApiError::Throttled { retry_after } => {
                    format!("Too many attempts. Try again in {} seconds.", retry_after.as_secs().max(1))
                }
                ApiError::Validation(_) => "Enter your email address and password.".to_owned(),
                ApiError::Internal(_) => return error_page(&e),
                other => other.parts().3,
            };
            let (jar, csrf) = csrf_token(&state, jar);
            let page =
                LoginPage { csrf, email: f.email, error: Some(text), passkeys: state.webauthn.is_some() };
            (e.parts().0, jar, page).into_response()
        }
    }
}

/// Sets the session (and, for a new browser, device) cookie and goes to the security center.
pub(super) fn signed_in(state: &AppState, jar: CookieJar, granted: login::LoginGranted) -> Response {
    let names = CookieNames::for_state(state);
    let mut jar = jar.add(cookie(state, names.session, granted.session_token.expose().to_owned()));
    if let Some(device) = granted.device_key {
        let mut c = cookie(state, names.device, device);
        c.set_max_age(time::Duration::days(400));
        jar = jar.add(c);
    }
    (jar, Redirect::to("/security")).into_response()
}

#[derive(Template, WebTemplate)]
#[template(path = "second_factor.html")]
struct SecondFactorPage {
    csrf: String,
    challenge: String,
    recovery_allowed: bool,
    totp_allowed: bool,
    /// A passkey can answer (with `/static/passkeys.js`).
    passkey_allowed: bool,
    error: Option<String>,
}

#[derive(Deserialize)]
struct SecondFactorForm {
    #[serde(default)]
    csrf: String,
    challenge: String,
    #[serde(default)]
    method: String,
    code: String,
}

async fn login_second_factor(
    State(state): State<AppState>,
    client: Client,
    jar: CookieJar,
    Form(f): Form<SecondFactorForm>,
) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &f.csrf) {
        return error_page(&e);
    }
    let method = if f.method == "recovery_code" { Method::RecoveryCode } else { Method::Totp };
    match login::second_factor(&state, &f.challenge, method, &f.code, &client).await {
        Ok(granted) => signed_in(&state, jar, granted),
        Err(e @ ApiError::Internal(_)) => error_page(&e),
        Err(e) => {
            let expired = matches!(&e, ApiError::CodeRefused(r) if r.code.0.starts_with("challenge"));
            if expired {
                return message(
                    StatusCode::BAD_REQUEST,
                    "error",
                    "Sign in again",
                    &["This sign-in attempt has expired or was used up. Start again with your password."],
                    Some(("Sign in", "/login")),
                );
            }
            let text = match &e {
                ApiError::CodeRefused(r) => r.detail.clone(),
                ApiError::Throttled { retry_after } => {
                    format!("Too many wrong codes. Try again in {} seconds.", retry_after.as_secs().max(1))
                }
                other => other.parts().3,
            };
            let (jar, csrf) = csrf_token(&state, jar);
            let page = SecondFactorPage {
                csrf,
                challenge: f.challenge,
                recovery_allowed: true,
                totp_allowed: true,
                passkey_allowed: false,
                error: Some(text),
            };
            (e.parts().0, jar, page).into_response()
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "register.html")]
struct RegisterPage {
    csrf: String,
    email: String,
    phone: String,
    errors: Vec<(&'static str, String)>,
}

impl RegisterPage {
    fn field_error(&self, field: &str) -> Option<String> {
        let msgs: Vec<&str> =
            self.errors.iter().filter(|(f, _)| *f == field).map(|(_, m)| m.as_str()).collect();
        (!msgs.is_empty()).then(|| msgs.join(" "))
    }
}

async fn register_form(State(state): State<AppState>, jar: CookieJar) -> impl IntoResponse {
    let (jar, csrf) = csrf_token(&state, jar);
    (jar, RegisterPage { csrf, email: String::new(), phone: String::new(), errors: Vec::new() })
}

#[derive(Deserialize)]
struct RegisterForm {
    #[serde(default)]
    csrf: String,
    email: String,
    password: String,
    #[serde(default)]
    phone: String,
}

async fn register_submit(
    State(state): State<AppState>,
    client: Client,
    jar: CookieJar,
    Form(f): Form<RegisterForm>,
) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &f.csrf) {
        return error_page(&e);
    }
    let phone = Some(f.phone.clone()).filter(|p| !p.trim().is_empty());
    let reg = accounts::Registration { email: f.email.clone(), password: Password::new(f.password), phone };
    match accounts::register(&state, reg, Some(client.ip)).await {
        Ok(()) => message(
            StatusCode::ACCEPTED,
            "ok",
            "Check your inbox",
            &[
                "We sent a message to the address you gave. Open the link in it to confirm your address, then sign in.",
                "Nothing arrived after a few minutes? Check your spam folder.",
            ],
            Some(("Go to sign in", "/login")),
        ),
        Err(ApiError::Validation(reasons)) => {
            let errors = reasons
                .into_iter()
                .map(|r| {
                    let field = if r.code.0.starts_with("email") {
                        "email"
                    } else if r.code.0.starts_with("phone") {
                        "phone"
                    } else {
                        "password"
                    };
                    (field, r.detail)
                })
                .collect();
            let (jar, csrf) = csrf_token(&state, jar);
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                jar,
                RegisterPage { csrf, email: f.email, phone: f.phone, errors },
            )
                .into_response()
        }
        Err(e) => error_page(&e),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "verify.html")]
struct VerifyPage {
    csrf: String,
    token: String,
}

/// Shows a confirmation button and changes nothing: mail scanners prefetch links.
async fn verify_page(State(state): State<AppState>, jar: CookieJar, Path(token): Path<String>) -> Response {
    if BearerToken::parse(&token).is_none() {
        return error_page(&ApiError::LinkInvalid);
    }
    let (jar, csrf) = csrf_token(&state, jar);
    (jar, VerifyPage { csrf, token }).into_response()
}

async fn verify_submit(
    State(state): State<AppState>,
    client: Client,
    jar: CookieJar,
    Form(f): Form<TokenForm>,
) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &f.csrf) {
        return error_page(&e);
    }
    match accounts::verify_email(&state, &f.token, Some(client.ip)).await {
        Ok(uid) => (
            StatusCode::OK,
            MessagePage {
                title: "Address confirmed".to_owned(),
                tone: "ok",
                paragraphs: vec![
                    "Your account is ready. Quote your UID whenever you contact support; your security center shows it too."
                        .to_owned(),
                ],
                highlight: Some(("Your UID".to_owned(), uid.to_string())),
                next: Some(("Sign in".to_owned(), "/login".to_owned())),
            },
        )
            .into_response(),
        Err(e) => error_page(&e),
    }
}
