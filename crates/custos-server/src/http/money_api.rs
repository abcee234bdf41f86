//! Money over the JSON API: balances, withdrawals (request, confirm, cancel, history) and the
//! integration endpoint the exchange's books feed.

use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use custos_core::api_key::Scope;
use custos_core::api_key::signing::HEADER_KEY;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::json::Json;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Client, Service, UserSession};
use crate::extract_api_key::ApiKeyCaller;
use crate::state::AppState;
use crate::usecases::authorize::{self, AuthorizeAnswer, AuthorizeRequest};
use crate::usecases::ledger::{self, BalanceView, IngestReport, LedgerEvent};
use crate::usecases::prices::{self, PriceQuote, PricesStored};
use crate::usecases::transfers::{self, TransferCancelledBy, TransferRequest, TransferView};
use crate::usecases::withdrawals::{self, CancelledBy, Requester, WithdrawalRequest, WithdrawalView};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(balances))
        .routes(routes!(request_withdrawal, list_withdrawals))
        .routes(routes!(get_withdrawal))
        .routes(routes!(cancel_withdrawal))
        .routes(routes!(confirm_withdrawal))
        .routes(routes!(ledger_events))
        .routes(routes!(integration_prices))
        .routes(routes!(integration_authorize))
        .routes(routes!(request_transfer, list_transfers))
        .routes(routes!(cancel_transfer))
}

/// The account's balances in every supported asset (available and locked by pending outflows).
#[utoipa::path(get, path = "/api/v1/balances", tag = "money", security(("session" = [])),
    responses((status = 200, body = Vec<BalanceView>), (status = 401, body = Problem)))]
async fn balances(State(state): State<AppState>, who: UserSession) -> ApiResult<Json<Vec<BalanceView>>> {
    Ok(Json(ledger::balances(&state, who.account_id).await?))
}

pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => v.to_str().map(|s| Some(s.trim())).map_err(|_| {
            ApiError::InvalidRequest("the Idempotency-Key header must be printable ASCII".into())
        }),
    }
}

/// Request a withdrawal, from a session (needs a recent step-up with a second factor) or as a
/// signed API-key request (`X-Custos-Key` …, docs/api-keys.md; the key needs the `withdraw` scope
/// and the request must come from its IP allowlist). The egress gate answers: refused (403 with
/// every reason, nothing changes), or accepted — the amount and fee are reserved and a
/// confirmation link is emailed; risk holds (new address, new device, large amount) apply once it
/// is confirmed. Send an `Idempotency-Key` header to make retries safe.
#[utoipa::path(post, path = "/api/v1/withdrawals", tag = "money", security(("session" = []), ("signed_api_key" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first result")),
    request_body = WithdrawalRequest,
    responses((status = 202, body = WithdrawalView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn request_withdrawal(
    State(state): State<AppState>,
    client: Client,
    req: Request,
) -> ApiResult<(StatusCode, Json<WithdrawalView>)> {
    let key = idempotency_key(req.headers())?.map(str::to_owned);
    let (who, body) = if req.headers().contains_key(HEADER_KEY) {
        let caller = ApiKeyCaller::from_request(req, &state).await?;
        let body: WithdrawalRequest = caller.json()?;
        (Requester::api_key(&caller, Scope::Withdraw, &state), body)
    } else {
        let (mut parts, body) = req.into_parts();
        let who = UserSession::from_request_parts(&mut parts, &state).await?;
        let Json(body) =
            Json::<WithdrawalRequest>::from_request(Request::from_parts(parts, body), &state).await?;
        (Requester::Session(who), body)
    };
    let w = withdrawals::request(&state, &who, &body, key.as_deref(), Some(client.ip)).await?;
    Ok((StatusCode::ACCEPTED, Json(w)))
}

/// The account's withdrawals, newest first, with every field (pending ones are `cancellable`).
#[utoipa::path(get, path = "/api/v1/withdrawals", tag = "money", security(("session" = [])),
    responses((status = 200, body = Vec<WithdrawalView>), (status = 401, body = Problem)))]
async fn list_withdrawals(
    State(state): State<AppState>,
    who: UserSession,
) -> ApiResult<Json<Vec<WithdrawalView>>> {
    Ok(Json(withdrawals::history(&state, who.account_id).await?))
}

fn parse_id(id: &str) -> Result<custos_core::ids::WithdrawalId, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound)
}

#[utoipa::path(get, path = "/api/v1/withdrawals/{id}", tag = "money", security(("session" = [])),
    responses((status = 200, body = WithdrawalView), (status = 404, body = Problem)))]
async fn get_withdrawal(
    State(state): State<AppState>,
    who: UserSession,
    Path(id): Path<String>,
) -> ApiResult<Json<WithdrawalView>> {
    let w = state.store.withdrawal(parse_id(&id)?).await?.filter(|w| w.account_id == who.account_id);
    let w = w.ok_or(ApiError::NotFound)?;
    Ok(Json(WithdrawalView::new(&w, &state.config.money.assets)))
}

/// Cancel a withdrawal the wallet has not taken yet (the funds return at once), or ask the wallet
/// to intercept one it is processing (409 `withdrawal-not-intercepted` if it was too late).
/// Broadcast withdrawals are final (409 `withdrawal-final`). No step-up: stopping money is never
/// made harder.
#[utoipa::path(post, path = "/api/v1/withdrawals/{id}/cancel", tag = "money", security(("session" = [])),
    responses((status = 200, body = WithdrawalView), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn cancel_withdrawal(
    State(state): State<AppState>,
    who: UserSession,
    Path(id): Path<String>,
) -> ApiResult<Json<WithdrawalView>> {
    let id = parse_id(&id)?;
    Ok(Json(withdrawals::cancel(&state, id, &CancelledBy::Owner(who)).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ConfirmBody {
    /// The token from the emailed confirmation link.
    token: String,
}

/// Confirm a withdrawal with the token from its emailed link (what the link's page does).
#[utoipa::path(post, path = "/api/v1/withdrawals/confirm", tag = "money", request_body = ConfirmBody,
    responses((status = 200, body = WithdrawalView), (status = 400, body = Problem), (status = 403, body = Problem)))]
async fn confirm_withdrawal(
    State(state): State<AppState>,
    client: Client,
    Json(b): Json<ConfirmBody>,
) -> ApiResult<Json<WithdrawalView>> {
    Ok(Json(withdrawals::confirm(&state, &b.token, Some(client.ip)).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LedgerEvents {
    events: Vec<LedgerEvent>,
}

#[derive(Serialize, ToSchema)]
struct LedgerEventsApplied {
    #[serde(flatten)]
    report: IngestReport,
}

/// Integration: deposits, trade fills and fees from the exchange's books, in batches of up to
/// 250. All-or-nothing per batch; idempotent by `event_id` (a repeat with the same content is
/// counted as a duplicate, with different content refused with 409 `event-id-reused`).
#[utoipa::path(post, path = "/api/v1/integration/ledger-events", tag = "integration",
    security(("service_token" = [])), request_body = LedgerEvents,
    responses((status = 200, body = LedgerEventsApplied), (status = 401, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn ledger_events(
    State(state): State<AppState>,
    service: Service,
    Json(b): Json<LedgerEvents>,
) -> ApiResult<Json<LedgerEventsApplied>> {
    let report = ledger::ingest(&state, &b.events).await?;
    tracing::info!(service = %service.name, applied = report.applied, duplicates = report.duplicates, "ledger events");
    Ok(Json(LedgerEventsApplied { report }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PriceQuotes {
    quotes: Vec<PriceQuote>,
}

/// Integration: the price feed, up to 500 quotes at once (quote per whole unit, six decimals,
/// USD by convention). The diagnosis uses it to tell a fall in portfolio value caused by prices
/// from one caused by money leaving. All-or-nothing per batch; a quote for an asset and instant
/// already recorded is counted as a duplicate and kept as first sent.
#[utoipa::path(post, path = "/api/v1/integration/prices", tag = "integration",
    security(("service_token" = [])), request_body = PriceQuotes,
    responses((status = 200, body = PricesStored), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn integration_prices(
    State(state): State<AppState>,
    service: Service,
    Json(b): Json<PriceQuotes>,
) -> ApiResult<Json<PricesStored>> {
    let report = prices::ingest(&state, &b.quotes).await?;
    tracing::info!(service = %service.name, stored = report.stored, duplicates = report.duplicates, "prices");
    Ok(Json(report))
}

/// Send value to another account on the platform by its UID, from a session (recent step-up
/// with a second factor) or a signed API-key request with the `transfer` scope. Through the same
/// egress gate as withdrawals: refused (403, every reason), settled at once, or held (the amount
/// is reserved, and the sender can cancel it until the hold ends).
#[utoipa::path(post, path = "/api/v1/transfers", tag = "money", security(("session" = []), ("signed_api_key" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first result")),
    request_body = TransferRequest,
    responses((status = 201, body = TransferView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn request_transfer(
    State(state): State<AppState>,
    client: Client,
    req: Request,
) -> ApiResult<(StatusCode, Json<TransferView>)> {
    let key = idempotency_key(req.headers())?.map(str::to_owned);
    let (who, body) = if req.headers().contains_key(HEADER_KEY) {
        let caller = ApiKeyCaller::from_request(req, &state).await?;
        let body: TransferRequest = caller.json()?;
        (Requester::api_key(&caller, Scope::Transfer, &state), body)
    } else {
        let (mut parts, body) = req.into_parts();
        let who = UserSession::from_request_parts(&mut parts, &state).await?;
        let Json(body) =
            Json::<TransferRequest>::from_request(Request::from_parts(parts, body), &state).await?;
        (Requester::Session(who), body)
    };
    let t = transfers::request(&state, &who, &body, key.as_deref(), Some(client.ip)).await?;
    Ok((StatusCode::CREATED, Json(t)))
}

/// Transfers sent and received, newest first.
#[utoipa::path(get, path = "/api/v1/transfers", tag = "money", security(("session" = [])),
    responses((status = 200, body = Vec<TransferView>), (status = 401, body = Problem)))]
async fn list_transfers(
    State(state): State<AppState>,
    who: UserSession,
) -> ApiResult<Json<Vec<TransferView>>> {
    Ok(Json(transfers::history(&state, who.account_id).await?))
}

/// Cancel a held transfer before it settles; the amount returns to the balance at once.
#[utoipa::path(post, path = "/api/v1/transfers/{id}/cancel", tag = "money", security(("session" = [])),
    responses((status = 200, body = TransferView), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn cancel_transfer(
    State(state): State<AppState>,
    who: UserSession,
    Path(id): Path<String>,
) -> ApiResult<Json<TransferView>> {
    let id = id.parse().map_err(|_| ApiError::NotFound)?;
    Ok(Json(transfers::cancel(&state, id, &TransferCancelledBy::Sender(who)).await?))
}

/// Integration: may this session or signed API-key request `read`, `trade`, `withdraw` or
/// `transfer` now? Always 200 with `decision` `allow` or `deny` and the reasons; 422 only when the
/// question itself is malformed. A forwarded signed request is verified like one sent to us
/// (its nonce is spent).
#[utoipa::path(post, path = "/api/v1/integration/authorize", tag = "integration",
    security(("service_token" = [])), request_body = AuthorizeRequest,
    responses((status = 200, body = AuthorizeAnswer), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn integration_authorize(
    State(state): State<AppState>,
    _service: Service,
    Json(b): Json<AuthorizeRequest>,
) -> ApiResult<Json<AuthorizeAnswer>> {
    Ok(Json(authorize::authorize(&state, b).await?))
}
