//! The kill switch's pages: the "Freeze account" button on every security-center page, the
//! disable link from security emails (GET shows a confirmation and changes nothing — mail
//! scanners prefetch links; POST freezes; POST with `Accept: application/json` answers the receipt
//! as JSON), and the public `/freeze` page for the panic code. Each freeze ends on the receipt
//! page: the session is gone, so it stands on its own.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::Cookie;
use custos_core::freeze::FreezeReceipt;
use serde::Deserialize;

use super::{CsrfOnly, Form, check_csrf, csrf_token, error_page, readable_time};
use crate::error::ApiError;
use crate::extract::{Client, CookieNames, PageUser};
use crate::http::freeze_api::FreezeAnswer;
use crate::state::AppState;
use crate::usecases::freeze::{self, Frozen};
use crate::usecases::panic_code;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/security/freeze", axum::routing::post(freeze_own))
        .route("/disable/{token}", get(disable_page).post(disable_submit))
        .route("/freeze", get(public_page).post(public_submit))
}

#[derive(Template, WebTemplate)]
#[template(path = "freeze_receipt.html")]
struct ReceiptPage {
    already_frozen: bool,
    channel: &'static str,
    frozen_at: String,
    r: FreezeReceipt,
    case_link: Option<String>,
    case_emailed_to: Option<String>,
}

fn receipt_page(f: Frozen) -> Response {
    let (case_link, case_emailed_to) = match f.case {
        Some(c) => (Some(c.url), c.emailed_to),
        None => (None, None),
    };
    let page = ReceiptPage {
        case_link,
        case_emailed_to,
        already_frozen: f.already_frozen,
        channel: freeze::channel_words(f.receipt.channel),
        frozen_at: readable_time(&f.receipt.frozen_at.rfc3339()),
        r: f.receipt,
    };
    (StatusCode::OK, page).into_response()
}

/// The button in the security center's bar: one click, no step-up (it only tightens). The session
/// cookie is dropped with the session.
async fn freeze_own(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    jar: CookieJar,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &f.csrf) {
        return error_page(&e);
    }
    match freeze::by_session(&state, &who, None).await {
        Ok(frozen) => {
            let jar = jar.remove(Cookie::build(CookieNames::for_state(&state).session).path("/"));
            (jar, receipt_page(frozen)).into_response()
        }
        Err(e) => error_page(&e),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "disable_confirm.html")]
struct DisablePage {
    csrf: String,
    token: String,
    uid: u64,
    email_hint: String,
    already_frozen: bool,
}

async fn disable_page(State(state): State<AppState>, jar: CookieJar, Path(token): Path<String>) -> Response {
    match freeze::preview_link(&state, &token).await {
        Ok(p) => {
            let (jar, csrf) = csrf_token(&state, jar);
            let page = DisablePage {
                csrf,
                token,
                uid: p.uid,
                email_hint: p.email_hint,
                already_frozen: p.already_frozen,
            };
            (jar, page).into_response()
        }
        Err(e) => error_page(&e),
    }
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json") && !a.contains("text/html"))
}

/// Freezes with the link. A browser posts the page's form (double-submit token checked); a
/// program posts with `Accept: application/json` and no body, and gets the receipt as JSON. The
/// JSON path needs no form token: it carries no cookie a browser could be tricked into sending,
/// and the link itself is the capability — whoever holds it may freeze, and only freeze.
async fn disable_submit(
    State(state): State<AppState>,
    client: Client,
    jar: CookieJar,
    headers: HeaderMap,
    Path(token): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if wants_json(&headers) {
        return match freeze::by_link(&state, &token, Some(client.ip)).await {
            Ok(f) => axum::Json(FreezeAnswer::from(f)).into_response(),
            Err(e) => e.into_response(),
        };
    }
    let csrf = url::form_urlencoded::parse(&body).find(|(k, _)| k == "csrf").map(|(_, v)| v.into_owned());
    if let Err(e) = check_csrf(&state, &jar, csrf.as_deref().unwrap_or("")) {
        return error_page(&e);
    }
    match freeze::by_link(&state, &token, Some(client.ip)).await {
        Ok(f) => receipt_page(f),
        Err(e) => error_page(&e),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "freeze_public.html")]
struct PublicPage {
    csrf: String,
    account: String,
    error: Option<String>,
}

async fn public_page(State(state): State<AppState>, jar: CookieJar) -> Response {
    let (jar, csrf) = csrf_token(&state, jar);
    (jar, PublicPage { csrf, account: String::new(), error: None }).into_response()
}

#[derive(Deserialize)]
struct PanicForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    account: String,
    #[serde(default)]
    panic_code: String,
}

async fn public_submit(
    State(state): State<AppState>,
    client: Client,
    jar: CookieJar,
    Form(f): Form<PanicForm>,
) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &f.csrf) {
        return error_page(&e);
    }
    match panic_code::freeze(&state, &f.account, &f.panic_code, client.ip).await {
        Ok(frozen) => receipt_page(frozen),
        Err(e) => {
            let (status, text) = match &e {
                ApiError::CodeRefused(r) => (StatusCode::BAD_REQUEST, r.detail.clone()),
                ApiError::Throttled { retry_after } => (
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "Too many wrong attempts from here. Try again in {} seconds.",
                        retry_after.as_secs().max(1)
                    ),
                ),
                _ => return error_page(&e),
            };
            let (jar, csrf) = csrf_token(&state, jar);
            (status, jar, PublicPage { csrf, account: f.account, error: Some(text) }).into_response()
        }
    }
}
