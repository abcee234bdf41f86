//! The support console's case page (`/support/cases/{id}`): facts, SLA, the timeline, the thread
//! with a message form, notes with a note form, state and assign forms, a cancel or intercept
//! button on each open withdrawal and a freeze button while the account is not frozen. Every form
//! carries the CSRF token; every action goes through the same use case as the API
//! ([`crate::usecases::console`]), so roles, reasons and audit are the same.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use super::{Form, check_csrf, csrf_token, error_page, readable_time};
use crate::error::ApiError;
use crate::extract_staff::StaffPage;
use crate::state::AppState;
use crate::usecases::console::{self, StaffCaseView};
use crate::usecases::staff::StaffCaller;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/support/cases/{id}", get(page))
        .route("/support/cases/{id}/{action}", post(act))
        .route("/support/cases/{id}/withdrawals/{wid}/{action}", post(stop_withdrawal))
}

#[derive(Template, WebTemplate)]
#[template(path = "support_case.html")]
struct CasePage {
    csrf: String,
    staff_id: String,
    c: StaffCaseView,
    frozen: bool,
    notice: Option<&'static str>,
    error: Option<String>,
}

impl CasePage {
    fn when(&self, rfc3339: &str) -> String {
        readable_time(rfc3339)
    }
}

#[derive(Deserialize)]
struct Done {
    done: Option<String>,
}

fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "message" => "Your message was sent; the holder was told by email.",
        "note" => "Note added (staff only).",
        "state" => "State changed.",
        "assign" => "Assignment changed.",
        "freeze" => "The account is frozen.",
        "cancel" => "The withdrawal is cancelled; the funds are back.",
        "intercept" => "The wallet stopped the withdrawal; the funds are back.",
        _ => return None,
    })
}

/// Every reason's words, or the problem's detail.
fn error_words(e: &ApiError) -> String {
    let p = e.problem();
    if p.reasons.is_empty() {
        p.detail
    } else {
        p.reasons.iter().map(|r| r.detail.clone()).collect::<Vec<_>>().join(" ")
    }
}

async fn render(
    state: &AppState,
    who: &StaffCaller,
    jar: CookieJar,
    id: &str,
    status: StatusCode,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Response {
    match console::case(state, who, id).await {
        Ok(c) => {
            let (jar, csrf) = csrf_token(state, jar);
            let frozen = console::is_frozen(&c.account_status);
            let page = CasePage { csrf, staff_id: who.code.to_string(), c, frozen, notice, error };
            (status, jar, page).into_response()
        }
        Err(e) => error_page(&e),
    }
}

async fn page(
    State(state): State<AppState>,
    StaffPage(who): StaffPage,
    jar: CookieJar,
    Path(id): Path<String>,
    Query(q): Query<Done>,
) -> Response {
    render(&state, &who, jar, &id, StatusCode::OK, notice(q.done.as_deref()), None).await
}

#[derive(Deserialize)]
struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    staff_id: String,
}

/// After an action: back to the case (a GET, so a reload does not repeat it), or the case again
/// with the refusal in words and its status.
async fn answer(
    state: &AppState,
    who: &StaffCaller,
    jar: CookieJar,
    id: &str,
    done: &str,
    r: Result<(), ApiError>,
) -> Response {
    match r {
        Ok(()) => Redirect::to(&format!("/support/cases/{id}?done={done}")).into_response(),
        Err(e @ (ApiError::Internal(_) | ApiError::Overloaded | ApiError::NotFound)) => error_page(&e),
        Err(e) => render(state, who, jar, id, e.parts().0, None, Some(error_words(&e))).await,
    }
}

async fn act(
    State(state): State<AppState>,
    StaffPage(who): StaffPage,
    jar: CookieJar,
    Path((id, action)): Path<(String, String)>,
    Form(f): Form<ActionForm>,
) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &f.csrf) {
        return error_page(&e);
    }
    let reason = Some(f.reason.as_str());
    let r = match action.as_str() {
        "messages" => console::message(&state, &who, &id, &f.body, reason).await.map(|_| "message"),
        "notes" => console::note(&state, &who, &id, &f.body).await.map(|_| "note"),
        "state" => console::set_state(&state, &who, &id, &f.state, reason).await.map(|_| "state"),
        "assign" => console::assign(&state, &who, &id, &f.staff_id, reason).await.map(|_| "assign"),
        "freeze" => freeze(&state, &who, &id, reason).await.map(|_| "freeze"),
        _ => return error_page(&ApiError::NotFound),
    };
    match r {
        Ok(done) => answer(&state, &who, jar, &id, done, Ok(())).await,
        Err(e) => answer(&state, &who, jar, &id, "", Err(e)).await,
    }
}

/// The freeze button of a case freezes the account the case belongs to.
async fn freeze(state: &AppState, who: &StaffCaller, id: &str, reason: Option<&str>) -> Result<(), ApiError> {
    let case_id: custos_core::ids::IncidentId = id.parse().map_err(|_| ApiError::NotFound)?;
    let case = state.store.incident(case_id).await?.ok_or(ApiError::NotFound)?;
    console::freeze_account(state, who, &case.facts.uid.to_string(), reason).await.map(|_| ())
}

async fn stop_withdrawal(
    State(state): State<AppState>,
    StaffPage(who): StaffPage,
    jar: CookieJar,
    Path((id, wid, action)): Path<(String, String, String)>,
    Form(f): Form<ActionForm>,
) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &f.csrf) {
        return error_page(&e);
    }
    let intercept = match action.as_str() {
        "cancel" => false,
        "intercept" => true,
        _ => return error_page(&ApiError::NotFound),
    };
    let r = console::stop_withdrawal(&state, &who, &wid, Some(&f.reason), intercept).await.map(|_| ());
    answer(&state, &who, jar, &id, &action, r).await
}
