//! The allowlist page of the security center: on/off (with a pending turn-off's time and how to
//! cancel it), the entries with their state and the time each becomes usable, a form to add one,
//! remove buttons; and the page behind the emailed confirmation link (GET shows, POST confirms).

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use custos_core::crypto::BearerToken;
use serde::Deserialize;

use super::confirm::confirm_first;
use super::{CsrfOnly, TokenForm};
use super::{Form, MessagePage, check_csrf, csrf_token, error_page, readable_time};
use crate::error::ApiError;
use crate::extract::{Client, PageUser, UserSession};
use crate::state::AppState;
use crate::usecases::allowlist::{self, AllowlistView, EntryView, NewEntryRequest, in_words};

const HERE: &str = "/security/allowlist";

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(HERE, get(allowlist_page).post(add))
        .route("/security/allowlist/{id}/remove", post(remove))
        .route("/security/allowlist/mode", post(set_mode))
        .route("/confirm-allowlist-entry/{token}", get(confirm_page))
        .route("/confirm-allowlist-entry", post(confirm_submit))
}

#[derive(Default, Deserialize)]
struct AddForm {
    #[serde(default)]
    csrf: String,
    /// `ASSET/NETWORK`
    #[serde(default)]
    route: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    memo: String,
    #[serde(default)]
    label: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "security_allowlist.html")]
struct AllowlistPage {
    csrf: String,
    flash: Option<&'static str>,
    /// (reason code, sentence)
    errors: Vec<(String, String)>,
    list: AllowlistView,
    cooling: String,
    disable_delay: String,
    /// (`ASSET/NETWORK`, label)
    routes: Vec<(String, String)>,
    form: AddForm,
}

impl AllowlistPage {
    fn when(&self, rfc3339: &str) -> String {
        readable_time(rfc3339)
    }

    fn state_words(&self, e: &EntryView) -> &'static str {
        match e.state {
            "awaiting_confirmation" => "waiting for your email confirmation",
            "confirmation_expired" => "not confirmed in time",
            "cooling" => "cooling down",
            "active" => "usable",
            _ => "removed",
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn render(
    state: &AppState,
    who: &UserSession,
    jar: CookieJar,
    status: StatusCode,
    flash: Option<&'static str>,
    errors: Vec<(String, String)>,
    form: AddForm,
) -> Response {
    let list = match allowlist::list(state, who).await {
        Ok(l) => l,
        Err(e) => return error_page(&e),
    };
    let money = &state.config.money;
    let routes = money
        .assets
        .iter()
        .flat_map(|a| {
            a.networks
                .iter()
                .map(move |n| (format!("{}/{}", a.code, n.code), format!("{} on {}", a.code, n.name)))
        })
        .collect();
    let (jar, csrf) = csrf_token(state, jar);
    let page = AllowlistPage {
        csrf,
        flash,
        errors,
        list,
        cooling: in_words(money.allowlist_cooling),
        disable_delay: in_words(money.allowlist_disable_delay),
        routes,
        form,
    };
    (status, jar, page).into_response()
}

#[derive(Deserialize)]
struct Done {
    done: Option<String>,
}

async fn allowlist_page(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    jar: CookieJar,
    Query(q): Query<Done>,
) -> Response {
    let flash = match q.done.as_deref() {
        Some("added") => Some(
            "Check your email: we sent a link to confirm the address. It cools down after you confirm, and only \
             then can withdrawals use it.",
        ),
        Some("removed") => Some("The address was removed. Withdrawals can no longer use it."),
        Some("on") => Some("The allowlist is on: withdrawals only go to usable addresses on it."),
        Some("off-requested") => Some(
            "The allowlist turns off at the time shown. Until then it is still enforced, and turning it on again \
             cancels the turn-off.",
        ),
        _ => None,
    };
    render(&state, &who, jar, StatusCode::OK, flash, Vec::new(), AddForm::default()).await
}

fn reasons_of(e: &ApiError) -> Option<Vec<(String, String)>> {
    match e {
        ApiError::Validation(_) | ApiError::Conflict(_) | ApiError::Refused(_) => {
            Some(e.problem().reasons.iter().map(|r| (r.code.0.to_owned(), r.detail.clone())).collect())
        }
        ApiError::StepUpRequired(n) if n.enrol_second_factor => Some(vec![(
            "second-factor-required".to_owned(),
            "Changing the allowlist needs a second factor on your account. Add an authenticator app or a passkey \
             first."
                .to_owned(),
        )]),
        _ => None,
    }
}

async fn add(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    client: Client,
    jar: CookieJar,
    Form(f): Form<AddForm>,
) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &f.csrf) {
        return error_page(&e);
    }
    let (asset, network) = f.route.split_once('/').unwrap_or((f.route.as_str(), ""));
    let req = NewEntryRequest {
        asset: asset.to_owned(),
        network: network.to_owned(),
        address: f.address.clone(),
        memo: Some(f.memo.clone()),
        label: f.label.clone(),
    };
    match allowlist::add(&state, &who, &req, Some(client.ip)).await {
        Ok(_) => Redirect::to("/security/allowlist?done=added").into_response(),
        Err(e) => match reasons_of(&e) {
            Some(errors) => {
                let form = AddForm { csrf: String::new(), ..f };
                render(&state, &who, jar, e.parts().0, None, errors, form).await
            }
            None if matches!(e, ApiError::StepUpRequired(_)) => confirm_first(HERE),
            None => error_page(&e),
        },
    }
}

async fn remove(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    client: Client,
    jar: CookieJar,
    Path(id): Path<String>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let result = async {
        check_csrf(&state, &jar, &f.csrf)?;
        allowlist::remove(&state, &who, &id, Some(client.ip)).await
    };
    match result.await {
        Ok(()) => Redirect::to("/security/allowlist?done=removed").into_response(),
        Err(e) => error_page(&e),
    }
}

#[derive(Deserialize)]
struct ModeForm {
    #[serde(default)]
    csrf: String,
    /// `on` or `off`.
    #[serde(default)]
    enabled: String,
}

async fn set_mode(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    client: Client,
    jar: CookieJar,
    Form(f): Form<ModeForm>,
) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &f.csrf) {
        return error_page(&e);
    }
    let enabled = match f.enabled.as_str() {
        "on" => true,
        "off" => false,
        _ => return error_page(&ApiError::InvalidRequest("enabled must be on or off".into())),
    };
    match allowlist::set_mode(&state, &who, enabled, Some(client.ip)).await {
        Ok(_) if enabled => Redirect::to("/security/allowlist?done=on").into_response(),
        Ok(_) => Redirect::to("/security/allowlist?done=off-requested").into_response(),
        Err(e) => match reasons_of(&e) {
            Some(errors) => render(&state, &who, jar, e.parts().0, None, errors, AddForm::default()).await,
            None if matches!(e, ApiError::StepUpRequired(_)) => confirm_first(HERE),
            None => error_page(&e),
        },
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "allowlist_confirm.html")]
struct ConfirmPage {
    csrf: String,
    token: String,
    e: EntryView,
    cooling: String,
}

/// Shows the address; changes nothing (mail scanners open links).
async fn confirm_page(State(state): State<AppState>, jar: CookieJar, Path(token): Path<String>) -> Response {
    if BearerToken::parse(&token).is_none() {
        return error_page(&ApiError::LinkInvalid);
    }
    match allowlist::preview(&state, &token).await {
        Ok(e) => {
            let (jar, csrf) = csrf_token(&state, jar);
            let cooling = in_words(state.config.money.allowlist_cooling);
            (jar, ConfirmPage { csrf, token, e, cooling }).into_response()
        }
        Err(e) => error_page(&e),
    }
}

async fn confirm_submit(
    State(state): State<AppState>,
    client: Client,
    jar: CookieJar,
    Form(f): Form<TokenForm>,
) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &f.csrf) {
        return error_page(&e);
    }
    match allowlist::confirm(&state, &f.token, Some(client.ip)).await {
        Ok(e) => {
            let usable = e.usable_from.as_deref().map(readable_time).unwrap_or_default();
            let paragraphs = vec![
                format!("\"{}\" ({} on {}) is confirmed.", e.label, e.asset, e.network),
                format!(
                    "For your protection it cools down first: withdrawals can use it from {usable}. Until then you \
                     can remove it from the allowlist page in your security center."
                ),
            ];
            let page = MessagePage {
                title: "Address confirmed".to_owned(),
                tone: "ok",
                paragraphs,
                highlight: Some(("Usable from".to_owned(), usable)),
                next: Some(("Go to the allowlist".to_owned(), HERE.to_owned())),
            };
            (StatusCode::OK, page).into_response()
        }
        Err(e) => error_page(&e),
    }
}
