//! The support console's first pages: staff sign-in (password and TOTP in one form), the landing
//! page with the queue (ordered by SLA) and the account lookup, sign-out, and the one-time setup link (password, then an
//! authenticator app confirmed with a code).

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use custos_core::password::Password;
use serde::Deserialize;

use super::{CsrfOnly, Form, check_csrf, cookie, csrf_token, error_page};
use crate::error::ApiError;
use crate::extract::Client;
use crate::extract_staff::{StaffPage, staff_cookie_name};
use crate::http::qr;
use crate::state::AppState;
use crate::usecases::console::{self, QueueItem};
use crate::usecases::staff::{self, StaffLogin};
use crate::usecases::support::{self, AccountSummary};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/support", get(home))
        .route("/support/login", get(login_form).post(login_submit))
        .route("/support/logout", post(logout))
        .route("/support/setup/{token}", get(setup_page))
        .route("/support/setup", post(setup_password))
        .route("/support/setup/confirm", post(setup_confirm))
}

#[derive(Template, WebTemplate)]
#[template(path = "support_login.html")]
struct LoginPage {
    csrf: String,
    email: String,
    error: Option<String>,
    notice: Option<&'static str>,
}

#[derive(Deserialize)]
struct LoginNotice {
    done: Option<String>,
}

async fn login_form(State(state): State<AppState>, jar: CookieJar, Query(q): Query<LoginNotice>) -> Response {
    let notice = match q.done.as_deref() {
        Some("enrolled") => {
            Some("Your staff account is ready. Sign in with your password and the app's code.")
        }
        Some("signed-out") => Some("You are signed out."),
        _ => None,
    };
    let (jar, csrf) = csrf_token(&state, jar);
    (jar, LoginPage { csrf, email: String::new(), error: None, notice }).into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: String,
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
    let code: String = f.code.chars().filter(|c| !c.is_whitespace()).collect();
    let req = StaffLogin { email: f.email.clone(), password: Password::new(f.password), code };
    match staff::login(&state, req, &client).await {
        Ok(granted) => {
            let mut c = cookie(&state, staff_cookie_name(&state), granted.token.expose().to_owned());
            c.set_same_site(SameSite::Strict);
            (jar.add(c), Redirect::to("/support")).into_response()
        }
        Err(ApiError::Internal(_)) | Err(ApiError::Overloaded) => {
            error_page(&ApiError::Internal("staff login".into()))
        }
        Err(e) => {
            let text = match &e {
                ApiError::Throttled { retry_after } => {
                    format!("Too many attempts. Try again in {} seconds.", retry_after.as_secs().max(1))
                }
                ApiError::Validation(_) => "Enter your email address, password and code.".to_owned(),
                _ => "The email address, password or code is not correct.".to_owned(),
            };
            let (jar, csrf) = csrf_token(&state, jar);
            (e.parts().0, jar, LoginPage { csrf, email: f.email, error: Some(text), notice: None })
                .into_response()
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "support_home.html")]
struct HomePage {
    csrf: String,
    name: String,
    email: String,
    role: &'static str,
    staff_id: String,
    uid: String,
    error: Option<String>,
    account: Option<AccountSummary>,
    queue: Vec<QueueItem>,
}

#[derive(Deserialize)]
struct Lookup {
    uid: Option<String>,
}

/// The landing page; with `?uid=` it also shows that account's summary — a staff read, audited
/// like the API's.
async fn home(
    State(state): State<AppState>,
    StaffPage(who): StaffPage,
    jar: CookieJar,
    Query(q): Query<Lookup>,
) -> Response {
    let uid = q.uid.unwrap_or_default().trim().to_owned();
    let (account, error) = if uid.is_empty() {
        (None, None)
    } else {
        match support::account_summary(&state, &who, &uid).await {
            Ok(a) => (Some(a), None),
            Err(ApiError::NotFound) => (None, Some("No account has this UID.".to_owned())),
            Err(ApiError::Refused(r)) => (None, r.first().map(|r| r.detail.clone())),
            Err(e) => return error_page(&e),
        }
    };
    let queue = match console::queue(&state, &who).await {
        Ok(q) => q,
        Err(ApiError::Refused(_)) => Vec::new(),
        Err(e) => return error_page(&e),
    };
    let (jar, csrf) = csrf_token(&state, jar);
    let page = HomePage {
        csrf,
        name: who.name.clone(),
        email: who.email.clone(),
        role: who.role.as_str(),
        staff_id: who.code.to_string(),
        uid,
        error,
        account,
        queue,
    };
    (jar, page).into_response()
}

async fn logout(
    State(state): State<AppState>,
    StaffPage(who): StaffPage,
    jar: CookieJar,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &f.csrf) {
        return error_page(&e);
    }
    if let Err(e) = staff::logout(&state, &who).await {
        return error_page(&e);
    }
    let jar = jar.remove(Cookie::build(staff_cookie_name(&state)).path("/"));
    (jar, Redirect::to("/support/login?done=signed-out")).into_response()
}

#[derive(Template, WebTemplate)]
#[template(path = "support_setup.html")]
struct SetupPage {
    csrf: String,
    token: String,
    name: String,
    email: String,
    role: &'static str,
    staff_id: String,
    errors: Vec<String>,
}

async fn setup_page(State(state): State<AppState>, jar: CookieJar, Path(token): Path<String>) -> Response {
    setup_form(&state, jar, token, Vec::new()).await
}

async fn setup_form(state: &AppState, jar: CookieJar, token: String, errors: Vec<String>) -> Response {
    match staff::setup_view(state, &token).await {
        Ok(v) => {
            let (jar, csrf) = csrf_token(state, jar);
            let page = SetupPage {
                csrf,
                token,
                name: v.name,
                email: v.email,
                role: v.role.as_str(),
                staff_id: v.code.to_string(),
                errors,
            };
            (jar, page).into_response()
        }
        Err(e) => error_page(&e),
    }
}

#[derive(Deserialize)]
struct SetupForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
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
#[template(path = "support_setup_scan.html")]
struct ScanPage {
    csrf: String,
    token: String,
    qr_svg: String,
    otpauth_uri: String,
    secret: String,
    error: Option<String>,
}

fn scan_page(
    csrf: String,
    token: String,
    otpauth_uri: String,
    secret: String,
    error: Option<String>,
) -> ScanPage {
    // `qr::svg` draws the SVG from the URI's modules; no input text reaches the markup.
    let qr_svg = qr::svg(&otpauth_uri).unwrap_or_default();
    ScanPage { csrf, token, qr_svg, otpauth_uri, secret, error }
}

async fn setup_password(State(state): State<AppState>, jar: CookieJar, Form(f): Form<SetupForm>) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &f.csrf) {
        return error_page(&e);
    }
    match staff::setup_credentials(&state, &f.token, Password::new(f.password)).await {
        Ok(e) => {
            let (jar, csrf) = csrf_token(&state, jar);
            (jar, scan_page(csrf, f.token, e.otpauth_uri, e.secret, None)).into_response()
        }
        Err(ApiError::Validation(reasons)) => {
            setup_form(&state, jar, f.token, reasons.into_iter().map(|r| r.detail).collect()).await
        }
        Err(e) => error_page(&e),
    }
}

async fn setup_confirm(State(state): State<AppState>, jar: CookieJar, Form(f): Form<SetupForm>) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &f.csrf) {
        return error_page(&e);
    }
    let code: String = f.code.chars().filter(|c| !c.is_whitespace()).collect();
    match staff::setup_confirm(&state, &f.token, &code).await {
        Ok(_) => Redirect::to("/support/login?done=enrolled").into_response(),
        Err(ApiError::CodeRefused(r)) if f.otpauth_uri.starts_with("otpauth://totp/") => {
            let (jar, csrf) = csrf_token(&state, jar);
            (StatusCode::BAD_REQUEST, jar, scan_page(csrf, f.token, f.otpauth_uri, f.secret, Some(r.detail)))
                .into_response()
        }
        Err(e) => error_page(&e),
    }
}
