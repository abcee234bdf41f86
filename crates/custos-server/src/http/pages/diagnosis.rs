//! The "Was I hacked?" page: the verdict in words, what to do next, and every indicator, vector
//! hint and benign explanation with its evidence.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;

use super::{csrf_token, error_page, readable_time};
use crate::extract::PageUser;
use crate::state::AppState;
use crate::usecases::diagnosis::{self, DiagnosisView};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/security/diagnosis", get(page))
}

#[derive(Template, WebTemplate)]
#[template(path = "security_diagnosis.html")]
struct DiagnosisPage {
    csrf: String,
    d: DiagnosisView,
    /// `bad`, `warn` or `ok`, for the verdict's colour.
    tone: &'static str,
    headline: &'static str,
    summary: &'static str,
}

impl DiagnosisPage {
    fn when(&self, rfc3339: &str) -> String {
        readable_time(rfc3339)
    }
}

async fn page(State(state): State<AppState>, PageUser(who): PageUser, jar: CookieJar) -> Response {
    let d = match diagnosis::diagnose(&state, &who).await {
        Ok(d) => d,
        Err(e) => return error_page(&e),
    };
    let (tone, headline, summary) = match d.verdict {
        "compromised" => (
            "bad",
            "Someone else has very likely been in your account",
            "Your account's own events show what the emergency protocol calls definitive signs of a \
             break-in. Disable the account now, then work through the steps below.",
        ),
        "suspicious" => (
            "warn",
            "Something in your account does not fit — treat it as a break-in",
            "Nothing here proves a break-in, but a credible suspicion must be handled as a confirmed one: \
             waiting can cost you your funds. Disable the account now; recovering it is possible.",
        ),
        _ => (
            "ok",
            "Nothing points to someone else in your account",
            "Its sign-ins, security changes and withdrawals from the last 30 days show none of the signs of a \
             break-in. If you still believe someone is in, disabling the account is always safe.",
        ),
    };
    let (jar, csrf) = csrf_token(&state, jar);
    (jar, DiagnosisPage { csrf, d, tone, headline, summary }).into_response()
}
