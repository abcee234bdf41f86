//! The panic code page: make (or replace) the offline code that freezes the account from the
//! public `/freeze` page. The code is shown once, on the answer to the POST.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;

use super::confirm::confirm_first;
use super::{CsrfOnly, Form, check_csrf, csrf_token, error_page};
use crate::error::ApiError;
use crate::extract::{PageUser, UserSession};
use crate::state::AppState;
use crate::usecases::panic_code;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/security/panic-code", get(page).post(make))
}

#[derive(Template, WebTemplate)]
#[template(path = "panic_code.html")]
struct PanicPage {
    csrf: String,
    has_code: bool,
    code: Option<String>,
    error: Option<&'static str>,
}

async fn render(
    state: &AppState,
    who: &UserSession,
    jar: CookieJar,
    error: Option<&'static str>,
) -> Response {
    let has_code = match state.store.has_panic_code(who.account_id).await {
        Ok(h) => h,
        Err(e) => return error_page(&e.into()),
    };
    let (jar, csrf) = csrf_token(state, jar);
    (jar, PanicPage { csrf, has_code, code: None, error }).into_response()
}

async fn page(State(state): State<AppState>, PageUser(who): PageUser, jar: CookieJar) -> Response {
    render(&state, &who, jar, None).await
}

async fn make(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    jar: CookieJar,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &f.csrf) {
        return error_page(&e);
    }
    match panic_code::generate(&state, &who).await {
        Ok(code) => {
            let (jar, csrf) = csrf_token(&state, jar);
            let page = PanicPage { csrf, has_code: true, code: Some(code.to_string()), error: None };
            (StatusCode::OK, jar, page).into_response()
        }
        Err(ApiError::StepUpRequired(n)) if n.enrol_second_factor || n.methods.is_empty() => {
            render(
                &state,
                &who,
                jar,
                Some("A panic code needs a second factor: add an authenticator app first."),
            )
            .await
        }
        Err(ApiError::StepUpRequired(_)) => confirm_first("/security/panic-code"),
        Err(e) => error_page(&e),
    }
}
