//! Incident pages: "Report a problem · My cases" and a case's thread in the security center, and
//! the page behind the private case link (`/case/{token}`), which works with no session — the
//! account may be frozen and every session gone. A forged, malformed or expired case link is a
//! 404 page, like a case that does not exist.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use super::{Form, check_csrf, csrf_token, error_page, message, readable_time};
use crate::error::ApiError;
use crate::extract::{Client, PageUser};
use crate::state::AppState;
use crate::usecases::incidents::{self, CaseView, IncidentView, Report};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/security/cases", get(cases_page).post(report_submit))
        .route("/security/cases/{id}", get(case_page))
        .route("/security/cases/{id}/messages", post(case_message))
        .route("/case/{token}", get(link_page).post(link_message))
}

fn when(rfc3339: &str) -> String {
    readable_time(rfc3339)
}

#[derive(Deserialize)]
struct Flash {
    done: Option<String>,
}

fn flash(q: &Flash) -> Option<&'static str> {
    match q.done.as_deref() {
        Some("sent") => Some("Your message was sent to support."),
        Some("reported") => {
            Some("Your report was sent to support. The case below holds it and their answers.")
        }
        _ => None,
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "security_cases.html")]
struct CasesPage {
    csrf: String,
    cases: Vec<IncidentView>,
    errors: Vec<String>,
    noticed_at: String,
    description: String,
    actions: String,
    measures: String,
}

impl CasesPage {
    fn when(&self, s: &str) -> String {
        when(s)
    }
}

async fn cases_page(State(state): State<AppState>, PageUser(who): PageUser, jar: CookieJar) -> Response {
    let cases = match incidents::list(&state, &who).await {
        Ok(c) => c,
        Err(e) => return error_page(&e),
    };
    let (jar, csrf) = csrf_token(&state, jar);
    let page = CasesPage {
        csrf,
        cases,
        errors: vec![],
        noticed_at: String::new(),
        description: String::new(),
        actions: String::new(),
        measures: String::new(),
    };
    (jar, page).into_response()
}

#[derive(Deserialize)]
struct ReportForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    noticed_at: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    unauthorised_actions: String,
    #[serde(default)]
    measures_taken: String,
}

fn lines(s: &str) -> Vec<String> {
    s.lines().map(str::to_owned).collect()
}

/// `datetime-local` sends `2026-12-03T10:15` with no zone; the form says it is UTC.
fn as_rfc3339(s: &str) -> String {
    let s = s.trim();
    match s.len() {
        16 => format!("{s}:00Z"),
        19 => format!("{s}Z"),
        _ => s.to_owned(),
    }
}

async fn report_submit(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    jar: CookieJar,
    Form(f): Form<ReportForm>,
) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &f.csrf) {
        return error_page(&e);
    }
    let r = Report {
        noticed_at: as_rfc3339(&f.noticed_at),
        description: f.description.clone(),
        unauthorised_actions: lines(&f.unauthorised_actions),
        measures_taken: lines(&f.measures_taken),
    };
    match incidents::report(&state, &who, &r).await {
        Ok(case) => Redirect::to(&format!("/security/cases/{}?done=reported", case.id)).into_response(),
        Err(ApiError::Validation(reasons)) => {
            let cases = incidents::list(&state, &who).await.unwrap_or_default();
            let (jar, csrf) = csrf_token(&state, jar);
            let page = CasesPage {
                csrf,
                cases,
                errors: reasons.into_iter().map(|r| r.detail).collect(),
                noticed_at: f.noticed_at,
                description: f.description,
                actions: f.unauthorised_actions,
                measures: f.measures_taken,
            };
            (StatusCode::UNPROCESSABLE_ENTITY, jar, page).into_response()
        }
        Err(e) => error_page(&e),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "security_case.html")]
struct SessionCasePage {
    csrf: String,
    c: CaseView,
    post_to: String,
    flash: Option<&'static str>,
    error: Option<String>,
    draft: String,
}

impl SessionCasePage {
    fn when(&self, s: &str) -> String {
        when(s)
    }
}

async fn case_page(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    jar: CookieJar,
    Path(id): Path<String>,
    Query(q): Query<Flash>,
) -> Response {
    match incidents::thread(&state, &who, &id).await {
        Ok(c) => {
            let (jar, csrf) = csrf_token(&state, jar);
            let post_to = format!("/security/cases/{}/messages", c.incident.id);
            let page =
                SessionCasePage { csrf, c, post_to, flash: flash(&q), error: None, draft: String::new() };
            (jar, page).into_response()
        }
        Err(e) => error_page(&e),
    }
}

#[derive(Deserialize)]
struct MessageForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    body: String,
}

async fn case_message(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    jar: CookieJar,
    Path(id): Path<String>,
    Form(f): Form<MessageForm>,
) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &f.csrf) {
        return error_page(&e);
    }
    match incidents::post_message(&state, &who, &id, &f.body).await {
        Ok(_) => Redirect::to(&format!("/security/cases/{id}?done=sent")).into_response(),
        Err(ApiError::Validation(reasons)) => match incidents::thread(&state, &who, &id).await {
            Ok(c) => {
                let (jar, csrf) = csrf_token(&state, jar);
                let post_to = format!("/security/cases/{}/messages", c.incident.id);
                let error = reasons.into_iter().next().map(|r| r.detail);
                let page = SessionCasePage { csrf, c, post_to, flash: None, error, draft: f.body };
                (StatusCode::UNPROCESSABLE_ENTITY, jar, page).into_response()
            }
            Err(e) => error_page(&e),
        },
        Err(e) => error_page(&e),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "case_link.html")]
struct LinkCasePage {
    csrf: String,
    c: CaseView,
    post_to: String,
    flash: Option<&'static str>,
    error: Option<String>,
    draft: String,
}

impl LinkCasePage {
    fn when(&self, s: &str) -> String {
        when(s)
    }
}

/// One answer for every bad case link: it does not say whether a case exists.
fn not_found() -> Response {
    message(
        StatusCode::NOT_FOUND,
        "error",
        "This case link is not valid",
        &["The link is incomplete, has expired, or never existed. Use the link from your freeze receipt or \
           the email custos sent you, or sign in and open \"My cases\"."],
        Some(("Back to the start", "/")),
    )
}

fn link_error(e: &ApiError) -> Response {
    match e {
        ApiError::LinkInvalid | ApiError::NotFound => not_found(),
        other => error_page(other),
    }
}

async fn link_page(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(token): Path<String>,
    Query(q): Query<Flash>,
) -> Response {
    match incidents::case_by_link(&state, &token).await {
        Ok(c) => {
            let (jar, csrf) = csrf_token(&state, jar);
            let post_to = format!("/case/{token}");
            let page = LinkCasePage { csrf, c, post_to, flash: flash(&q), error: None, draft: String::new() };
            (jar, page).into_response()
        }
        Err(e) => link_error(&e),
    }
}

async fn link_message(
    State(state): State<AppState>,
    client: Client,
    jar: CookieJar,
    Path(token): Path<String>,
    Form(f): Form<MessageForm>,
) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &f.csrf) {
        return error_page(&e);
    }
    match incidents::post_by_link(&state, &token, &f.body, Some(client.ip)).await {
        Ok(_) => Redirect::to(&format!("/case/{token}?done=sent")).into_response(),
        Err(ApiError::Validation(reasons)) => match incidents::case_by_link(&state, &token).await {
            Ok(c) => {
                let (jar, csrf) = csrf_token(&state, jar);
                let error = reasons.into_iter().next().map(|r| r.detail);
                let post_to = format!("/case/{token}");
                let page = LinkCasePage { csrf, c, post_to, flash: None, error, draft: f.body };
                (StatusCode::UNPROCESSABLE_ENTITY, jar, page).into_response()
            }
            Err(e) => link_error(&e),
        },
        Err(e) => link_error(&e),
    }
}
