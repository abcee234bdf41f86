//! "Confirm it's you": the step-up pages (DESIGN "Step-up"). A credential page whose form needs a
//! recent step-up sends the browser here first, with `next` naming the page to come back to. An
//! account with a second factor steps up with its code; one without, with its password and then a
//! code sent to its email. Every step-up reissues the session token — the old one is dead — so the
//! cookie is set again before the browser goes back.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use custos_core::challenge::ChallengePurpose;
use custos_core::crypto::BearerToken;
use custos_core::password::Password;
use custos_core::step_up::Requirement;
use serde::Deserialize;

use super::{Form, check_csrf, cookie, csrf_token, error_page, views};
use crate::error::ApiError;
use crate::extract::{Client, CookieNames, PageUser, UserSession};
use crate::state::AppState;
use crate::usecases::factors::Method;
use crate::usecases::step_up;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/security/confirm", get(confirm_page).post(confirm_with_code))
        .route("/security/confirm/email", post(send_email_code))
        .route("/security/confirm/email-code", post(confirm_with_email_code))
}

/// `next` when it is a page of the security center, else `/security`. Only our own paths, in a
/// small character set (no scheme, no `//`, no query): never an open redirect, and always a
/// value a `Location` header can carry.
pub(super) fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.len() <= 100
                && n.strip_prefix("/security")
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
                && !n.contains("//")
                && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-_".contains(&b)) =>
        {
            n
        }
        _ => "/security",
    }
}

/// The confirmation page, coming back to `next` afterwards.
pub(super) fn confirm_first(next: &str) -> Response {
    Redirect::to(&format!("/security/confirm?next={}", safe_next(Some(next)))).into_response()
}

/// For a page whose form needs a recent step-up: `Some(redirect)` to the confirmation page while
/// the session has none, so the person confirms before typing rather than after.
pub(super) async fn step_up_first(state: &AppState, who: &UserSession, here: &str) -> Option<Response> {
    match step_up::require(state, who, Requirement::RecentStepUp).await {
        Ok(()) => None,
        Err(ApiError::StepUpRequired(_)) => Some(confirm_first(here)),
        Err(e) => Some(error_page(&e)),
    }
}

/// The session continues under `token` (a step-up or credential change reissued it).
pub(super) fn with_session(state: &AppState, jar: CookieJar, token: &BearerToken) -> CookieJar {
    jar.add(cookie(state, CookieNames::for_state(state).session, token.expose().to_owned()))
}

/// What a credential change did and what happens next, for a person who is still signed in.
#[derive(Template, WebTemplate)]
#[template(path = "receipt.html")]
pub(super) struct Receipt {
    pub csrf: String,
    pub title: &'static str,
    pub paragraphs: Vec<String>,
}

/// A refusal the person can fix by trying again, in words; `None` for anything else.
pub(super) fn refusal_text(e: &ApiError) -> Option<String> {
    match e {
        ApiError::CodeRefused(r) | ApiError::Conflict(r) => Some(r.detail.clone()),
        ApiError::Validation(rs) => Some(rs.iter().map(|r| r.detail.as_str()).collect::<Vec<_>>().join(" ")),
        ApiError::Throttled { retry_after } => {
            Some(format!("Too many wrong attempts. Try again in {} seconds.", retry_after.as_secs().max(1)))
        }
        _ => None,
    }
}

/// Codes are typed from phones that show `123 456`: the spaces are not part of the code.
pub(super) fn squeeze(code: &str) -> String {
    code.split_whitespace().collect()
}

/// What the person was about to do, for the page's first sentence.
fn purpose(next: &str) -> &'static str {
    const PURPOSES: [(&str, &str); 6] = [
        ("/security/password", "change your password"),
        ("/security/allowlist", "change your withdrawal allowlist"),
        ("/security/two-factor/remove", "remove your authenticator app"),
        ("/security/two-factor", "add an authenticator app"),
        ("/security/recovery-codes", "make new recovery codes"),
        ("/security/anti-phishing-code", "set your anti-phishing code"),
    ];
    PURPOSES.iter().find(|(p, _)| next.starts_with(p)).map_or("change your security settings", |(_, w)| w)
}

#[derive(Template, WebTemplate)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    csrf: String,
    next: String,
    purpose: &'static str,
    minutes: u64,
    totp: bool,
    /// A passkey can confirm (with `/static/passkeys.js`; see `confirm_passkey.html`).
    passkey: bool,
    recovery: bool,
    password: bool,
    /// Nothing to confirm with: a second factor must be enrolled first.
    enrol: bool,
    /// Where the refusal goes: `code`, `recovery`, `password`, or `form` (above the form).
    error_on: &'static str,
    error: Option<String>,
}

impl ConfirmPage {
    fn error_for(&self, field: &str) -> Option<&str> {
        self.error.as_deref().filter(|_| self.error_on == field)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "confirm_email_code.html")]
struct EmailCodePage {
    csrf: String,
    next: String,
    purpose: &'static str,
    challenge: String,
    email: String,
    minutes: u64,
    error: Option<String>,
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn confirm_page(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    jar: CookieJar,
    Query(q): Query<NextQuery>,
) -> Response {
    let next = safe_next(q.next.as_deref()).to_owned();
    render(&state, &who, jar, next, StatusCode::OK, "", None).await
}

/// The page offering the methods that would satisfy the step-up now — or, when the session
/// already has a recent one, straight on to `next`.
async fn render(
    state: &AppState,
    who: &UserSession,
    jar: CookieJar,
    next: String,
    status: StatusCode,
    error_on: &'static str,
    error: Option<String>,
) -> Response {
    let needed = match step_up::require(state, who, Requirement::RecentStepUp).await {
        Ok(()) => return Redirect::to(&next).into_response(),
        Err(ApiError::StepUpRequired(n)) => n,
        Err(e) => return error_page(&e),
    };
    let (jar, csrf) = csrf_token(state, jar);
    let page = ConfirmPage {
        csrf,
        purpose: purpose(&next),
        next,
        minutes: state.config.step_up_window.as_secs() / 60,
        totp: needed.methods.contains(&"totp"),
        passkey: needed.methods.contains(&"passkey") && state.webauthn.is_some(),
        recovery: needed.methods.contains(&"recovery_code"),
        password: needed.methods.contains(&"password_and_email_code"),
        enrol: needed.enrol_second_factor,
        error_on,
        error,
    };
    (status, jar, page).into_response()
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    code: String,
}

async fn confirm_with_code(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    jar: CookieJar,
    Form(f): Form<CodeForm>,
) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &f.csrf) {
        return error_page(&e);
    }
    let next = safe_next(Some(&f.next)).to_owned();
    let (method, field, code) = if f.method == "recovery_code" {
        (Method::RecoveryCode, "recovery", f.code.trim().to_owned())
    } else {
        (Method::Totp, "code", squeeze(&f.code))
    };
    match step_up::with_code(&state, &who, method, &code).await {
        Ok(token) => (with_session(&state, jar, &token), Redirect::to(&next)).into_response(),
        Err(e) => match refusal_text(&e) {
            Some(text) => render(&state, &who, jar, next, e.parts().0, field, Some(text)).await,
            None => error_page(&e),
        },
    }
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    password: String,
}

async fn send_email_code(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    client: Client,
    jar: CookieJar,
    Form(f): Form<PasswordForm>,
) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &f.csrf) {
        return error_page(&e);
    }
    let next = safe_next(Some(&f.next)).to_owned();
    match step_up::start_email(&state, &who, Password::new(f.password), Some(client.ip)).await {
        Ok(challenge) => email_code_page(&state, &who, jar, next, challenge.expose().to_owned(), None).await,
        // A second factor was enrolled meanwhile: the page offers it instead.
        Err(ApiError::Conflict(_)) => Redirect::to(&format!("/security/confirm?next={next}")).into_response(),
        Err(e) => match refusal_text(&e) {
            Some(text) => render(&state, &who, jar, next, e.parts().0, "password", Some(text)).await,
            None => error_page(&e),
        },
    }
}

async fn email_code_page(
    state: &AppState,
    who: &UserSession,
    jar: CookieJar,
    next: String,
    challenge: String,
    error: Option<(StatusCode, String)>,
) -> Response {
    let email = match views::me(state, who).await {
        Ok(me) => me.email,
        Err(e) => return error_page(&e),
    };
    let (jar, csrf) = csrf_token(state, jar);
    let (status, error) = match error {
        Some((s, text)) => (s, Some(text)),
        None => (StatusCode::OK, None),
    };
    let page = EmailCodePage {
        csrf,
        purpose: purpose(&next),
        next,
        challenge,
        email,
        minutes: ChallengePurpose::StepUpEmail.ttl().as_secs() / 60,
        error,
    };
    (status, jar, page).into_response()
}

#[derive(Deserialize)]
struct EmailCodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    challenge: String,
    #[serde(default)]
    code: String,
}

async fn confirm_with_email_code(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    jar: CookieJar,
    Form(f): Form<EmailCodeForm>,
) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &f.csrf) {
        return error_page(&e);
    }
    let next = safe_next(Some(&f.next)).to_owned();
    match step_up::with_email_code(&state, &who, &f.challenge, &squeeze(&f.code)).await {
        Ok(token) => (with_session(&state, jar, &token), Redirect::to(&next)).into_response(),
        // The challenge itself is spent (expired, used, too many tries): start from the password.
        Err(ApiError::CodeRefused(r)) if r.code.0.starts_with("challenge") => {
            let text =
                "That code has expired or was used up. Enter your password again and we'll send a new one.";
            render(&state, &who, jar, next, StatusCode::BAD_REQUEST, "password", Some(text.to_owned())).await
        }
        Err(e) => match refusal_text(&e) {
            Some(text) => {
                email_code_page(&state, &who, jar, next, f.challenge, Some((e.parts().0, text))).await
            }
            None => error_page(&e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_is_a_security_center_page_or_the_security_center() {
        assert_eq!(safe_next(Some("/security/password")), "/security/password");
        assert_eq!(safe_next(Some("/security")), "/security");
        assert_eq!(safe_next(None), "/security");
        for hostile in [
            "https://evil.example/security",
            "//evil.example/security",
            "/security//evil.example",
            "/securityevil",
            "/security/../login",
            "/security/\\evil.example",
            "/security/x\r\nSet-Cookie: a=b",
            "/security?next=//evil.example",
            "/login",
            "",
        ] {
            assert_eq!(safe_next(Some(hostile)), "/security", "{hostile:?}");
        }
    }
}
