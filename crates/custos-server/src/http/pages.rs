//! Server-rendered pages: the router, the helpers every page shares, and the security center;
//! register, verify and sign in live in `sign_in`, the dev mailbox in `dev_mailbox`. Usable
//! without JavaScript. Every form carries a double-submit CSRF token on top of the
//! Fetch-Metadata check every state change passes.

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
use serde::Deserialize;

use super::views;
use crate::config::Mode;
use crate::error::ApiError;
use crate::extract::{CookieNames, PageUser};
use crate::state::AppState;
use crate::usecases::sessions;

// Signing in and registering, and (dev mode only) the dev mailbox.
mod dev_mailbox;
mod sign_in;

// Credential pages: step-up, second factor, password, anti-phishing code, and the checklist.
mod allowlist;
mod anti_phishing;
mod api_keys;
mod confirm;
mod diagnosis;
mod freeze;
mod funds;
mod incidents;
mod panic_code;
mod passkeys;
mod passwords;
mod posture;
mod support;
mod support_case;
mod two_factor;
mod verify_channel;

pub fn router(state: &AppState) -> Router<AppState> {
    let r = Router::new()
        .route("/", get(home))
        .route("/security", get(security_center))
        .route("/security/sessions/{id}/revoke", post(revoke_session))
        .route("/security/sessions/revoke-others", post(revoke_others))
        .route("/logout", post(logout))
        .route("/static/style.css", get(stylesheet))
        .merge(sign_in::routes())
        .merge(confirm::routes())
        .merge(two_factor::routes())
        .merge(passwords::routes())
        .merge(anti_phishing::routes())
        .merge(passkeys::routes())
        .merge(funds::routes())
        .merge(api_keys::routes())
        .merge(freeze::routes())
        .merge(panic_code::routes())
        .merge(allowlist::routes())
        .merge(diagnosis::routes())
        .merge(support::routes())
        .merge(support_case::routes())
        .merge(verify_channel::routes())
        .merge(incidents::routes());
    if state.config.mode == Mode::Dev { r.merge(dev_mailbox::routes()) } else { r }
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

    fn signal_words(&self, code: &str) -> &'static str {
        signal_words(code)
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

/// A risk signal's code in a few words, for tags.
fn signal_words(code: &str) -> &'static str {
    match code {
        "new-device" => "new device",
        "new-ip" => "new address",
        "new-country" => "new country",
        "new-asn" => "new network",
        "impossible-travel" => "impossible travel",
        "risky-network" => "VPN, hosting or Tor",
        "session-moved" => "session moved",
        _ => "unusual",
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

/// A form that carries only its CSRF token (every button that posts to a page).
#[derive(Deserialize)]
pub(crate) struct CsrfOnly {
    #[serde(default)]
    pub(crate) csrf: String,
}

/// A form that carries its CSRF token and an emailed link's token (every "confirm" page).
#[derive(Deserialize)]
pub(crate) struct TokenForm {
    #[serde(default)]
    pub(crate) csrf: String,
    #[serde(default)]
    pub(crate) token: String,
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
