//! Server-rendered pages: register, verify, sign in, the security center, and (dev mode only)
//! the dev mailbox. Usable without JavaScript. Every form carries a double-submit CSRF token on
//! top of the Fetch-Metadata check every state change passes.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequest, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use custos_core::audit::RevokeReason;
use custos_core::crypto::{BearerToken, ct_eq};
use custos_core::ids::SessionId;
use custos_core::password::Password;
use serde::Deserialize;

use super::views;
use crate::config::Mode;
use crate::error::ApiError;
use crate::extract::{Client, CookieNames, PageUser};
use crate::state::AppState;
use crate::usecases::factors::Method;
use crate::usecases::{accounts, login, sessions};

// Credential pages: step-up, second factor, password, anti-phishing code, and the checklist.
mod anti_phishing;
mod confirm;
mod passkeys;
mod passwords;
mod posture;
mod two_factor;

pub fn router(state: &AppState) -> Router<AppState> {
    let r = Router::new()
        .route("/", get(home))
        .route("/login", get(login_form).post(login_submit))
        .route("/login/second-factor", post(login_second_factor))
        .route("/register", get(register_form).post(register_submit))
        .route("/verify-email/{token}", get(verify_page))
        .route("/verify-email", post(verify_submit))
        .route("/security", get(security_center))
        .route("/security/sessions/{id}/revoke", post(revoke_session))
        .route("/security/sessions/revoke-others", post(revoke_others))
        .route("/logout", post(logout))
        .route("/static/style.css", get(stylesheet))
        .merge(confirm::routes())
        .merge(two_factor::routes())
        .merge(passwords::routes())
        .merge(anti_phishing::routes())
        .merge(passkeys::routes());
    if state.config.mode == Mode::Dev { r.route("/dev/mailbox", get(dev_mailbox)) } else { r }
}

/// `axum::Form`, with rejections as problem+json.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Form), rejection(ApiError))]
pub struct Form<T>(pub T);

impl From<FormRejection> for ApiError {
    fn from(r: FormRejection) -> Self {
        match r {
            FormRejection::InvalidFormContentType(_) => ApiError::UnsupportedMediaType,
            other => ApiError::InvalidRequest(other.body_text()),
        }
    }
}

fn cookie<'c>(state: &AppState, name: &'static str, value: String) -> Cookie<'c> {
    let mut c = Cookie::new(name, value);
    c.set_path("/");
    c.set_http_only(true);
    c.set_secure(state.config.secure_cookies());
    c.set_same_site(SameSite::Lax);
    c
}

/// The form token for this browser, issuing one if it has none.
fn csrf_token(state: &AppState, jar: CookieJar) -> (CookieJar, String) {
    let name = CookieNames::for_state(state).csrf;
    if let Some(t) = jar.get(name).and_then(|c| BearerToken::parse(c.value())) {
        return (jar, t.expose().to_owned());
    }
    let t = BearerToken::generate().expose().to_owned();
    let mut c = cookie(state, name, t.clone());
    c.set_same_site(SameSite::Strict);
    (jar.add(c), t)
}

fn check_csrf(state: &AppState, jar: &CookieJar, submitted: &str) -> Result<(), ApiError> {
    let name = CookieNames::for_state(state).csrf;
    match jar.get(name) {
        Some(c) if !submitted.is_empty() && ct_eq(c.value().as_bytes(), submitted.as_bytes()) => Ok(()),
        _ => Err(ApiError::CsrfRejected),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "message.html")]
struct MessagePage {
    title: String,
    tone: &'static str,
    paragraphs: Vec<String>,
    /// A value the reader must be able to find again at a glance (label, value), e.g. the UID.
    highlight: Option<(String, String)>,
    next: Option<(String, String)>,
}

fn message(
    status: StatusCode,
    tone: &'static str,
    title: &str,
    paragraphs: &[&str],
    next: Option<(&str, &str)>,
) -> Response {
    let page = MessagePage {
        title: title.to_owned(),
        tone,
        paragraphs: paragraphs.iter().map(|p| (*p).to_owned()).collect(),
        highlight: None,
        next: next.map(|(l, u)| (l.to_owned(), u.to_owned())),
    };
    (status, page).into_response()
}

fn error_page(e: &ApiError) -> Response {
    let (status, _, title, detail) = e.parts();
    if let ApiError::Internal(cause) = e {
        tracing::error!(%cause, "page request failed");
    }
    message(status, "error", title, &[&detail], Some(("Back to the start", "/")))
}

async fn home(jar: CookieJar, State(state): State<AppState>) -> Redirect {
    if jar.get(CookieNames::for_state(&state).session).is_some() {
        Redirect::to("/security")
    } else {
        Redirect::to("/login")
    }
}

async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        include_str!("../../static/style.css"),
    )
        .into_response()
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
fn signed_in(state: &AppState, jar: CookieJar, granted: login::LoginGranted) -> Response {
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

#[derive(Deserialize)]
struct TokenForm {
    #[serde(default)]
    csrf: String,
    token: String,
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

#[derive(Template, WebTemplate)]
#[template(path = "security.html")]
struct SecurityPage {
    csrf: String,
    flash: Option<&'static str>,
    me: views::Me,
    sessions: Vec<views::SessionView>,
    devices: Vec<views::DeviceView>,
    activity: Vec<views::LoginView>,
    checklist: posture::Checklist,
    passkeys: passkeys::Section,
}

/// `2026-11-25T10:09:02.805511Z` as `25 Nov 2026, 10:09 UTC`; anything else unchanged.
fn readable_time(rfc3339: &str) -> String {
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let parts = (
        rfc3339.get(0..4),
        rfc3339.get(5..7).and_then(|m| m.parse::<usize>().ok()),
        rfc3339.get(8..10).and_then(|d| d.parse::<u8>().ok()),
        rfc3339.get(11..16),
    );
    match parts {
        (Some(y), Some(m @ 1..=12), Some(d), Some(hm)) if rfc3339.ends_with('Z') => {
            format!("{d} {} {y}, {hm} UTC", MONTHS[m - 1])
        }
        _ => rfc3339.to_owned(),
    }
}

impl SecurityPage {
    fn when(&self, rfc3339: &str) -> String {
        readable_time(rfc3339)
    }

    /// A user agent in words, e.g. `Chrome on Linux`. The full string stays in the page as a title.
    fn device_name(&self, ua: &str) -> String {
        let browser = [
            ("Edg/", "Edge"),
            ("OPR/", "Opera"),
            ("Firefox/", "Firefox"),
            ("FxiOS/", "Firefox"),
            ("HeadlessChrome/", "Headless Chrome"),
            ("CriOS/", "Chrome"),
            ("Chrome/", "Chrome"),
            ("Safari/", "Safari"),
        ]
        .iter()
        .find(|(needle, _)| ua.contains(needle))
        .map(|(_, name)| *name);
        let os = [
            ("iPhone", "iPhone"),
            ("iPad", "iPad"),
            ("Android", "Android"),
            ("Windows", "Windows"),
            ("Mac OS X", "macOS"),
            ("CrOS", "ChromeOS"),
            ("Linux", "Linux"),
        ]
        .iter()
        .find(|(needle, _)| ua.contains(needle))
        .map(|(_, name)| *name);
        match (browser, os) {
            (Some(b), Some(o)) => format!("{b} on {o}"),
            (Some(b), None) => b.to_owned(),
            (None, Some(o)) => format!("Unknown browser on {o}"),
            (None, None) if ua.trim().is_empty() => "Unknown browser or app".to_owned(),
            // An API client or script: its own name, e.g. `curl/8.5.0` → `curl`.
            (None, None) => ua.split(['/', ' ']).next().unwrap_or(ua).to_owned(),
        }
    }

    fn outcome_words(&self, outcome: &str) -> &'static str {
        match outcome {
            "succeeded" => "Signed in",
            "wrong_credentials" => "Wrong password",
            "email_not_verified" => "Refused: email not verified",
            "throttled" => "Refused: too many attempts",
            "account_inactive" => "Refused: account not active",
            _ => "Refused",
        }
    }

    /// Whether this sign-in is the one that introduced its device (the device was first seen then).
    fn is_new_device(&self, e: &views::LoginView) -> bool {
        e.outcome == "succeeded"
            && self
                .devices
                .iter()
                .any(|d| e.device_id.as_deref() == Some(d.id.as_str()) && d.first_seen_at == e.at)
    }
}

#[derive(Deserialize)]
struct Flash {
    done: Option<String>,
}

async fn security_center(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    jar: CookieJar,
    Query(q): Query<Flash>,
) -> Response {
    let load = async {
        Ok::<_, ApiError>((
            views::me(&state, &who).await?,
            views::sessions(&state, &who).await?,
            views::devices(&state, &who).await?,
            views::activity(&state, &who).await?,
        ))
    };
    let (me, mut sessions, mut devices, activity) = match load.await {
        Ok(v) => v,
        Err(e) => return error_page(&e),
    };
    let checklist = match posture::load(&state, &who).await {
        Ok(c) => c,
        Err(e) => return error_page(&e),
    };
    let passkeys = match passkeys::section(&state, &who).await {
        Ok(p) => p,
        Err(e) => return error_page(&e),
    };
    // This device first: the reader looks for "me" before judging the others.
    sessions.sort_by_key(|s| !s.current);
    devices.sort_by_key(|d| !d.current);
    let flash = match q.done.as_deref() {
        Some("session-ended") => Some("The session was ended. That device must sign in again."),
        Some("others-ended") => Some("Every other session was ended. Only this device is still signed in."),
        Some(other) => posture::flash(other).or_else(|| passkeys::flash(other)),
        None => None,
    };
    let (jar, csrf) = csrf_token(&state, jar);
    (jar, SecurityPage { csrf, flash, me, sessions, devices, activity, checklist, passkeys }).into_response()
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn revoke_session(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    jar: CookieJar,
    Path(id): Path<String>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let result = async {
        check_csrf(&state, &jar, &f.csrf)?;
        let id: SessionId = id.parse().map_err(|_| ApiError::NotFound)?;
        sessions::revoke(&state, &who, id, RevokeReason::RevokedByUser).await
    };
    match result.await {
        Ok(()) => Redirect::to("/security?done=session-ended").into_response(),
        Err(e) => error_page(&e),
    }
}

async fn revoke_others(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    jar: CookieJar,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let result = async {
        check_csrf(&state, &jar, &f.csrf)?;
        sessions::revoke_others(&state, &who).await
    };
    match result.await {
        Ok(_) => Redirect::to("/security?done=others-ended").into_response(),
        Err(e) => error_page(&e),
    }
}

async fn logout(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    jar: CookieJar,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &f.csrf) {
        return error_page(&e);
    }
    if let Err(e) = sessions::revoke(&state, &who, who.session_id, RevokeReason::Logout).await {
        return error_page(&e);
    }
    let jar = jar.remove(Cookie::build(CookieNames::for_state(&state).session).path("/"));
    (jar, Redirect::to("/login")).into_response()
}

struct MailView {
    subject: String,
    recipient: String,
    received_at: String,
    text_body: String,
    links: Vec<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "mailbox.html")]
struct MailboxPage {
    mail: Vec<MailView>,
}

async fn dev_mailbox(State(state): State<AppState>) -> Response {
    match state.store.dev_mail(50).await {
        Ok(mail) => MailboxPage {
            mail: mail
                .into_iter()
                .map(|m| MailView {
                    links: m
                        .text_body
                        .split_whitespace()
                        .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
                        .map(str::to_owned)
                        .collect(),
                    subject: m.subject,
                    recipient: m.recipient,
                    received_at: m.received_at.to_string(),
                    text_body: m.text_body,
                })
                .collect(),
        }
        .into_response(),
        Err(e) => error_page(&e.into()),
    }
}
