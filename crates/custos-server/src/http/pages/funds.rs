//! Funds: balances, the withdraw form, the withdrawal history with pending ones highlighted and
//! cancellable, and the page behind the emailed confirmation link.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
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
use crate::usecases::ledger::{self, BalanceView};
use crate::usecases::withdrawals::{self, CancelledBy, Requester, WithdrawalRequest, WithdrawalView};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/security/funds", get(funds_page))
        .route("/security/funds/withdraw", post(withdraw))
        .route("/security/funds/withdrawals/{id}/cancel", post(cancel))
        .route("/confirm-withdrawal/{token}", get(confirm_page))
        .route("/confirm-withdrawal", post(confirm_submit))
}

#[derive(Default, Deserialize)]
struct WithdrawForm {
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
    amount: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "funds.html")]
struct FundsPage {
    csrf: String,
    flash: Option<String>,
    /// (reason code, sentence)
    errors: Vec<(String, String)>,
    balances: Vec<BalanceView>,
    /// (`ASSET/NETWORK`, label)
    routes: Vec<(String, String)>,
    form: WithdrawForm,
    withdrawals: Vec<WithdrawalView>,
}

impl FundsPage {
    fn when(&self, rfc3339: &str) -> String {
        readable_time(rfc3339)
    }
}

async fn render(
    state: &AppState,
    who: &UserSession,
    jar: CookieJar,
    status: StatusCode,
    flash: Option<String>,
    errors: Vec<(String, String)>,
    form: WithdrawForm,
) -> Response {
    let (balances, withdrawals) = match (
        ledger::balances(state, who.account_id).await,
        withdrawals::history(state, who.account_id).await,
    ) {
        (Ok(b), Ok(w)) => (b, w),
        (Err(e), _) | (_, Err(e)) => return error_page(&e),
    };
    let routes = state
        .config
        .money
        .assets
        .iter()
        .flat_map(|a| {
            a.networks
                .iter()
                .map(move |n| (format!("{}/{}", a.code, n.code), format!("{} on {}", a.code, n.name)))
        })
        .collect();
    let (jar, csrf) = csrf_token(state, jar);
    (status, jar, FundsPage { csrf, flash, errors, balances, routes, form, withdrawals }).into_response()
}

async fn funds_page(State(state): State<AppState>, PageUser(who): PageUser, jar: CookieJar) -> Response {
    render(&state, &who, jar, StatusCode::OK, None, Vec::new(), WithdrawForm::default()).await
}

/// Reason codes and sentences of a refusal, for the page.
fn reasons_of(e: &ApiError) -> Option<Vec<(String, String)>> {
    let problem = e.problem();
    match e {
        ApiError::Validation(_) | ApiError::Refused(_) | ApiError::Conflict(_) => {
            Some(problem.reasons.iter().map(|r| (r.code.0.to_owned(), r.detail.clone())).collect())
        }
        _ => None,
    }
}

async fn withdraw(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    client: Client,
    jar: CookieJar,
    Form(f): Form<WithdrawForm>,
) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &f.csrf) {
        return error_page(&e);
    }
    let (asset, network) = f.route.split_once('/').unwrap_or((f.route.as_str(), ""));
    let req = WithdrawalRequest {
        asset: asset.to_owned(),
        network: network.to_owned(),
        address: f.address.clone(),
        memo: Some(f.memo.clone()),
        amount: f.amount.clone(),
    };
    match withdrawals::request(&state, &Requester::Session(who.clone()), &req, None, Some(client.ip)).await {
        Ok(w) => {
            let flash = format!(
                "Check your email: we sent a link to confirm the withdrawal of {} {}. Nothing is sent until you confirm.",
                w.amount, w.asset
            );
            render(&state, &who, jar, StatusCode::OK, Some(flash), Vec::new(), WithdrawForm::default()).await
        }
        Err(ApiError::StepUpRequired(_)) => confirm_first("/security/funds"),
        Err(e) => match reasons_of(&e) {
            Some(errors) => {
                let status = e.parts().0;
                render(&state, &who, jar, status, None, errors, WithdrawForm { csrf: String::new(), ..f })
                    .await
            }
            None => error_page(&e),
        },
    }
}

async fn cancel(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    jar: CookieJar,
    Path(id): Path<String>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Err(e) = check_csrf(&state, &jar, &f.csrf) {
        return error_page(&e);
    }
    let Ok(id) = id.parse() else { return error_page(&ApiError::NotFound) };
    match withdrawals::cancel(&state, id, &CancelledBy::Owner(who.clone())).await {
        Ok(w) => {
            let flash = match w.intercept.as_deref() {
                Some(outcome) => {
                    format!("The wallet was asked to stop it: {outcome}. The funds are back in your balance.")
                }
                None => "Cancelled. The funds are back in your balance.".to_owned(),
            };
            render(&state, &who, jar, StatusCode::OK, Some(flash), Vec::new(), WithdrawForm::default()).await
        }
        Err(e) => match reasons_of(&e) {
            Some(errors) => {
                render(&state, &who, jar, e.parts().0, None, errors, WithdrawForm::default()).await
            }
            None => error_page(&e),
        },
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "withdrawal_confirm.html")]
struct ConfirmPage {
    csrf: String,
    token: String,
    w: WithdrawalView,
}

/// Shows the withdrawal; changes nothing (mail scanners open links).
async fn confirm_page(State(state): State<AppState>, jar: CookieJar, Path(token): Path<String>) -> Response {
    if BearerToken::parse(&token).is_none() {
        return error_page(&ApiError::LinkInvalid);
    }
    match withdrawals::preview(&state, &token).await {
        Ok(w) if w.state == "awaiting_confirmation" => {
            let (jar, csrf) = csrf_token(&state, jar);
            (jar, ConfirmPage { csrf, token, w }).into_response()
        }
        Ok(_) => error_page(&ApiError::LinkInvalid),
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
    match withdrawals::confirm(&state, &f.token, Some(client.ip)).await {
        Ok(w) => {
            let paragraphs = match &w.hold_until {
                Some(until) => vec![
                    format!(
                        "Your withdrawal of {} {} is confirmed. For your protection it waits until {} before it is sent:",
                        w.amount,
                        w.asset,
                        readable_time(until)
                    ),
                    w.hold_reasons.iter().map(|r| r.detail.clone()).collect::<Vec<_>>().join(" "),
                    "You can cancel it until then from Funds in your security center.".to_owned(),
                ],
                None => vec![format!(
                    "Your withdrawal of {} {} is confirmed and queued for the wallet. You can still cancel it from Funds in your security center until it is sent.",
                    w.amount, w.asset
                )],
            };
            (
                StatusCode::OK,
                MessagePage {
                    title: "Withdrawal confirmed".to_owned(),
                    tone: "ok",
                    paragraphs,
                    highlight: None,
                    next: Some(("Go to Funds".to_owned(), "/security/funds".to_owned())),
                },
            )
                .into_response()
        }
        Err(e) => error_page(&e),
    }
}
