//! The anti-phishing code page: set or change the phrase every message from custos shows.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use super::confirm::{confirm_first, step_up_first};
use super::{Form, check_csrf, csrf_token, error_page, views};
use crate::error::ApiError;
use crate::extract::{Client, PageUser, UserSession};
use crate::state::AppState;
use crate::usecases::settings;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/security/anti-phishing-code", get(code_page).post(set_code))
}

#[derive(Template, WebTemplate)]
#[template(path = "anti_phishing.html")]
struct CodePage {
    csrf: String,
    /// The code now in use, masked.
    current: Option<String>,
    code: String,
    error: Option<String>,
}

/// `use 4 to 20 characters` as a sentence: `Use 4 to 20 characters.`
fn sentence(s: &str) -> String {
    let mut chars = s.trim().chars();
    let mut out: String = chars.next().map(|c| c.to_uppercase().collect()).unwrap_or_default();
    out.push_str(chars.as_str());
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

async fn form(
    state: &AppState,
    who: &UserSession,
    jar: CookieJar,
    status: StatusCode,
    code: String,
    error: Option<String>,
) -> Response {
    let current = match views::me(state, who).await {
        Ok(me) => me.anti_phishing_code,
        Err(e) => return error_page(&e),
    };
    let (jar, csrf) = csrf_token(state, jar);
    (status, jar, CodePage { csrf, current, code, error }).into_response()
}

async fn code_page(State(state): State<AppState>, PageUser(who): PageUser, jar: CookieJar) -> Response {
    if let Some(r) = step_up_first(&state, &who, "/security/anti-phishing-code").await {
        return r;
    }
    form(&state, &who, jar, StatusCode::OK, String::new(), None).await
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

async fn set_code(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    client: Client,
    jar: CookieJar,
    Form(f): Form<CodeForm>,
) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &f.csrf) {
        return error_page(&e);
    }
    match settings::set_anti_phishing_code(&state, &who, &f.code, Some(client.ip)).await {
        Ok(()) => Redirect::to("/security?done=anti-phishing-set").into_response(),
        Err(ApiError::StepUpRequired(_)) => confirm_first("/security/anti-phishing-code"),
        Err(ApiError::Validation(reasons)) => {
            let text = reasons.iter().map(|r| sentence(&r.detail)).collect::<Vec<_>>().join(" ");
            form(&state, &who, jar, StatusCode::UNPROCESSABLE_ENTITY, f.code, Some(text)).await
        }
        Err(e) => error_page(&e),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn refusals_read_as_sentences() {
        assert_eq!(super::sentence("use 4 to 20 characters"), "Use 4 to 20 characters.");
        assert_eq!(super::sentence("Done."), "Done.");
    }
}
