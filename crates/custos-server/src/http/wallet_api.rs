//! Integration: the exchange's wallet service reports what became of a withdrawal it was handed
//! (the `http` wallet connector, docs/wallet.md).

use axum::extract::{Path, State};
use custos_core::reason::Reason;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::json::Json;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::Service;
use crate::state::AppState;
use crate::usecases::withdrawals::WithdrawalView;
use crate::wallet::{self, WalletStep};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(wallet_report))
}

/// What the wallet reports.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "state", rename_all = "snake_case", deny_unknown_fields)]
enum WalletReport {
    /// Signed and sent to the network: final from here on.
    Broadcast { txid: String },
    /// Confirmed on chain.
    Confirmed,
    /// The wallet gave up before broadcasting; the reserved funds return to the balance.
    Failed { reason: String },
}

impl WalletReport {
    fn into_step(self) -> Result<WalletStep, ApiError> {
        let text = |field: &'static str, s: String, max: usize| {
            if s.is_empty() || s.len() > max || !s.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
                Err(ApiError::Validation(vec![Reason::new(
                    "wallet-report-invalid",
                    format!("`{field}` is 1–{max} printable ASCII characters."),
                )]))
            } else {
                Ok(s)
            }
        };
        Ok(match self {
            Self::Broadcast { txid } => WalletStep::Broadcast { txid: text("txid", txid, 128)? },
            Self::Confirmed => WalletStep::Confirmed,
            Self::Failed { reason } => WalletStep::Failed(text("reason", reason, 256)?),
        })
    }
}

/// Integration (wallet service): report a withdrawal `broadcast` (with its TxID), `confirmed` or
/// `failed`. Moves `processing → broadcast` (the funds leave the ledger), `broadcast → confirmed`,
/// or `processing → failed` (the reservation is released). Repeating a report already recorded
/// answers 200 and changes nothing; a report that does not fit the state is refused with 409
/// `wallet-report-out-of-order`.
#[utoipa::path(post, path = "/api/v1/integration/wallet/withdrawals/{id}", tag = "integration",
    security(("service_token" = [])), request_body = WalletReport,
    params(("id" = String, Path, description = "The withdrawal id custos handed the wallet")),
    responses((status = 200, body = WithdrawalView), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn wallet_report(
    State(state): State<AppState>,
    service: Service,
    Path(id): Path<String>,
    Json(body): Json<WalletReport>,
) -> ApiResult<Json<WithdrawalView>> {
    let id = id.parse().map_err(|_| ApiError::NotFound)?;
    let step = body.into_step()?;
    let w = wallet::report(&state, id, step).await?;
    tracing::info!(service = %service.name, withdrawal = %w.id, state = w.state.as_str(), "wallet report");
    Ok(Json(WithdrawalView::new(&w, &state.config.money.assets)))
}
