//! The kill switch over the JSON API: freeze from a session, make a panic code, and freeze with a
//! panic code without a session. (The disable link answers JSON at `POST /disable/{token}` with
//! `Accept: application/json`; see `pages::freeze`.)

use axum::extract::State;
use custos_core::freeze::FreezeReceipt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::json::Json;
use crate::error::{ApiResult, Problem};
use crate::extract::{Client, UserSession};
use crate::state::AppState;
use crate::usecases::{freeze, panic_code};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(freeze_own))
        .routes(routes!(new_panic_code))
        .routes(routes!(freeze_with_panic_code))
}

/// What a freeze answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct FreezeAnswer {
    /// True when the account was frozen already (by this or another channel): `receipt` is then
    /// that first freeze's, and nothing changed now.
    pub already_frozen: bool,
    /// What the freeze did: sessions and API keys revoked, withdrawals cancelled, intercepted, not
    /// stopped or beyond reach (with TxIDs), transfers cancelled.
    #[schema(value_type = Object)]
    pub receipt: FreezeReceipt,
    /// The private link to the account's incident case: it shows the case and lets its holder
    /// write to support, with no session, for 90 days. Keep it to yourself.
    pub case_link: Option<String>,
    /// The masked address the case link was also emailed to — only an address that predates the
    /// last email change; `null` when there is none (it was sent nowhere).
    pub case_link_emailed_to: Option<String>,
}

impl From<freeze::Frozen> for FreezeAnswer {
    fn from(f: freeze::Frozen) -> Self {
        let (case_link, case_link_emailed_to) = match f.case {
            Some(c) => (Some(c.url), c.emailed_to),
            None => (None, None),
        };
        Self { already_frozen: f.already_frozen, receipt: f.receipt, case_link, case_link_emailed_to }
    }
}

/// Freeze your own account now: every session (this one too) and API key ends, withdrawals and
/// transfers not yet sent are cancelled, and sign-in, trading and withdrawals are blocked until
/// support restores the account. No step-up: freezing only tightens.
#[utoipa::path(post, path = "/api/v1/security/freeze", tag = "security", security(("session" = [])),
    responses((status = 200, body = FreezeAnswer), (status = 401, body = Problem)))]
async fn freeze_own(State(state): State<AppState>, who: UserSession) -> ApiResult<Json<FreezeAnswer>> {
    Ok(Json(freeze::by_session(&state, &who, None).await?.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PanicCode {
    /// Shown once: write it down and keep it away from this device. Typed with your email
    /// address or UID at `/freeze`, it freezes the account and does nothing else. A new code
    /// replaces this one.
    pub code: String,
}

/// Make a new offline panic code (needs a recent step-up with a second factor).
#[utoipa::path(post, path = "/api/v1/security/panic-code", tag = "security", security(("session" = [])),
    responses((status = 200, body = PanicCode), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn new_panic_code(State(state): State<AppState>, who: UserSession) -> ApiResult<Json<PanicCode>> {
    let code = panic_code::generate(&state, &who).await?;
    Ok(Json(PanicCode { code: code.to_string() }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PanicFreeze {
    /// The account's email address or UID.
    pub account: String,
    pub panic_code: String,
}

/// Freeze an account with its panic code; no session needed. An unknown account and a wrong
/// code get the same answer; wrong attempts slow down the address they come from, never the
/// account.
#[utoipa::path(post, path = "/api/v1/freeze", tag = "security", request_body = PanicFreeze,
    responses((status = 200, body = FreezeAnswer), (status = 400, body = Problem), (status = 429, body = Problem)))]
async fn freeze_with_panic_code(
    State(state): State<AppState>,
    client: Client,
    Json(body): Json<PanicFreeze>,
) -> ApiResult<Json<FreezeAnswer>> {
    Ok(Json(panic_code::freeze(&state, &body.account, &body.panic_code, client.ip).await?.into()))
}
