//! Two-factor pages: enrol an authenticator app (QR code and key, then its first code), the
//! recovery codes shown once, removing the app, and a new set of recovery codes.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use super::confirm::{Receipt, confirm_first, refusal_text, squeeze, step_up_first, with_session};
use super::{CsrfOnly, Form, check_csrf, csrf_token, error_page, message, readable_time, views};
use crate::error::ApiError;
use crate::extract::{Client, PageUser};
use crate::http::qr;
use crate::state::AppState;
use crate::usecases::factors;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/security/two-factor", get(setup_page).post(begin))
        .route("/security/two-factor/confirm", axum::routing::post(confirm))
        .route("/security/two-factor/remove", get(remove_page).post(remove))
        .route("/security/recovery-codes", get(recovery_codes_page).post(regenerate_recovery_codes))
}

/// A page that explains one action and asks for it with a single button.
#[derive(Template, WebTemplate)]
#[template(path = "action.html")]
struct ActionPage {
    csrf: String,
    title: &'static str,
    paragraphs: Vec<String>,
    warning: Option<String>,
    action: &'static str,
    button: &'static str,
    danger: bool,
}

async fn setup_page(State(state): State<AppState>, PageUser(who): PageUser, jar: CookieJar) -> Response {
    if let Some(r) = step_up_first(&state, &who, "/security/two-factor").await {
        return r;
    }
    match views::me(&state, &who).await {
        Ok(me) if me.totp_enabled => return Redirect::to("/security").into_response(),
        Ok(_) => {}
        Err(e) => return error_page(&e),
    }
    let (jar, csrf) = csrf_token(&state, jar);
    let page = ActionPage {
        csrf,
        title: "Add an authenticator app",
        paragraphs: vec![
            "An authenticator app on your phone shows a six-digit code that changes every 30 seconds. Once it is \
             added, signing in and security changes ask for that code too, so a stolen password is no longer enough."
                .to_owned(),
            "Any standard app works, for example Aegis, Google Authenticator, Microsoft Authenticator or 1Password. \
             Have it ready, then continue: we show a QR code to scan."
                .to_owned(),
        ],
        warning: None,
        action: "/security/two-factor",
        button: "Show the QR code",
        danger: false,
    };
    (jar, page).into_response()
}

#[derive(Template, WebTemplate)]
#[template(path = "two_factor_scan.html")]
struct ScanPage {
    csrf: String,
    qr_svg: String,
    otpauth_uri: String,
    secret: String,
    error: Option<String>,
}

impl ScanPage {
    /// The key in groups of four, as people type it.
    fn grouped_secret(&self) -> String {
        let chars: Vec<char> = self.secret.chars().collect();
        chars.chunks(4).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join(" ")
    }
}

fn scan_page(csrf: String, otpauth_uri: String, secret: String, error: Option<String>) -> ScanPage {
    // `qr::svg` builds the whole SVG itself from the URI's modules: nothing of the input reaches
    // the markup as text, so it is safe to embed.
    let qr_svg = qr::svg(&otpauth_uri).unwrap_or_default();
    ScanPage { csrf, qr_svg, otpauth_uri, secret, error }
}

async fn begin(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    jar: CookieJar,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &f.csrf) {
        return error_page(&e);
    }
    match factors::begin_totp(&state, &who).await {
        Ok(e) => {
            let (jar, csrf) = csrf_token(&state, jar);
            (jar, scan_page(csrf, e.otpauth_uri, e.secret, None)).into_response()
        }
        Err(ApiError::StepUpRequired(_)) => confirm_first("/security/two-factor"),
        Err(ApiError::Conflict(r)) => message(
            StatusCode::CONFLICT,
            "warn",
            "An authenticator app is already on",
            &[&r.detail],
            Some(("Back to the security center", "/security")),
        ),
        Err(e) => error_page(&e),
    }
}

#[derive(Deserialize)]
struct ConfirmForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    /// The enrolment being confirmed, carried only to show the QR code again after a wrong code;
    /// the seed that counts is the one sealed in the store.
    #[serde(default)]
    otpauth_uri: String,
    #[serde(default)]
    secret: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "recovery_codes.html")]
struct RecoveryCodesPage {
    csrf: String,
    codes: Vec<String>,
    /// Shown right after enrolling (rather than after asking for a new set).
    enrolled: bool,
}

async fn confirm(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    client: Client,
    jar: CookieJar,
    Form(f): Form<ConfirmForm>,
) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &f.csrf) {
        return error_page(&e);
    }
    match factors::confirm_totp(&state, &who, &squeeze(&f.code), Some(client.ip)).await {
        Ok(c) => {
            let jar = with_session(&state, jar, &c.session_token);
            match c.recovery_codes {
                Some(codes) => {
                    let (jar, csrf) = csrf_token(&state, jar);
                    (jar, RecoveryCodesPage { csrf, codes, enrolled: true }).into_response()
                }
                None => (jar, Redirect::to("/security?done=totp-on")).into_response(),
            }
        }
        Err(ApiError::Conflict(_)) => message(
            StatusCode::CONFLICT,
            "error",
            "Start again",
            &["This set-up is no longer waiting for a code. Start again to get a new QR code."],
            Some(("Add an authenticator app", "/security/two-factor")),
        ),
        Err(e) => match refusal_text(&e) {
            Some(text) => {
                let shown = f.otpauth_uri.starts_with("otpauth://totp/")
                    && f.otpauth_uri.len() <= 512
                    && f.secret.len() <= 128
                    && f.secret.bytes().all(|b| b.is_ascii_alphanumeric());
                if !shown {
                    return confirm_first("/security/two-factor");
                }
                let (jar, csrf) = csrf_token(&state, jar);
                (e.parts().0, jar, scan_page(csrf, f.otpauth_uri, f.secret, Some(text))).into_response()
            }
            None => error_page(&e),
        },
    }
}

async fn remove_page(State(state): State<AppState>, PageUser(who): PageUser, jar: CookieJar) -> Response {
    if let Some(r) = step_up_first(&state, &who, "/security/two-factor/remove").await {
        return r;
    }
    let (jar, csrf) = csrf_token(&state, jar);
    let page = ActionPage {
        csrf,
        title: "Remove your authenticator app",
        paragraphs: vec![
            "If it is your only second factor, your password alone will be enough to sign in to your account, \
             and your recovery codes stop working too."
                .to_owned(),
        ],
        warning: Some(
            "Removing it signs out every other browser and app, and pauses withdrawals for 24 hours, in case \
             it isn't you doing this. This browser stays signed in."
                .to_owned(),
        ),
        action: "/security/two-factor/remove",
        button: "Remove the authenticator app",
        danger: true,
    };
    (jar, page).into_response()
}

async fn remove(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    client: Client,
    jar: CookieJar,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &f.csrf) {
        return error_page(&e);
    }
    let token = match factors::remove_totp(&state, &who, Some(client.ip)).await {
        Ok(t) => t,
        Err(ApiError::StepUpRequired(_)) => return confirm_first("/security/two-factor/remove"),
        Err(ApiError::NotFound) => return Redirect::to("/security").into_response(),
        Err(e) => return error_page(&e),
    };
    let jar = with_session(&state, jar, &token);
    let lock = match views::me(&state, &who).await {
        Ok(me) => me.withdrawal_lock_until,
        Err(e) => return error_page(&e),
    };
    let mut paragraphs = vec![
        "Codes from your authenticator app no longer work on this account.".to_owned(),
        "Every other browser and app was signed out. This one stays signed in.".to_owned(),
    ];
    if let Some(until) = lock {
        paragraphs.push(format!(
            "Withdrawals are paused until {}, in case it wasn't you. We emailed you about this change.",
            readable_time(&until)
        ));
    }
    let (jar, csrf) = csrf_token(&state, jar);
    (jar, Receipt { csrf, title: "Authenticator app removed", paragraphs }).into_response()
}

async fn recovery_codes_page(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    jar: CookieJar,
) -> Response {
    if let Some(r) = step_up_first(&state, &who, "/security/recovery-codes").await {
        return r;
    }
    let left = match views::me(&state, &who).await {
        Ok(me) => me.recovery_codes_left,
        Err(e) => return error_page(&e),
    };
    let (jar, csrf) = csrf_token(&state, jar);
    let page = ActionPage {
        csrf,
        title: "Make new recovery codes",
        paragraphs: vec![
            format!(
                "You have {left} unused recovery {} left. A recovery code signs you in, once, if you lose your phone.",
                if left == 1 { "code" } else { "codes" }
            ),
            "We'll show ten new codes, once. Every code you have now stops working.".to_owned(),
        ],
        warning: None,
        action: "/security/recovery-codes",
        button: "Make ten new codes",
        danger: false,
    };
    (jar, page).into_response()
}

async fn regenerate_recovery_codes(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    client: Client,
    jar: CookieJar,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &f.csrf) {
        return error_page(&e);
    }
    match factors::regenerate_recovery_codes(&state, &who, Some(client.ip)).await {
        Ok(codes) => {
            let (jar, csrf) = csrf_token(&state, jar);
            (jar, RecoveryCodesPage { csrf, codes, enrolled: false }).into_response()
        }
        Err(ApiError::StepUpRequired(_)) => confirm_first("/security/recovery-codes"),
        Err(ApiError::Conflict(_)) => Redirect::to("/security/two-factor").into_response(),
        Err(e) => error_page(&e),
    }
}
