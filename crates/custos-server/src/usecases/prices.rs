//! The price feed: quotes per whole unit of an asset, pushed by the exchange through the
//! integration API (or simulated by `custos demo`), kept so the diagnosis can tell a fall in
//! portfolio value caused by the market from one caused by money leaving.

use custos_core::money::Amount;
use custos_core::portfolio::QUOTE_DECIMALS;
use custos_core::{Reason, Timestamp, asset};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;

use crate::error::ApiError;
use crate::state::AppState;

/// Largest batch the endpoint takes at once.
pub const MAX_BATCH: usize = 500;

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceQuote {
    /// An asset custos knows (`BTC`, `ETH`, `USDT`…).
    pub asset: String,
    /// The quote for one whole unit, a decimal string with at most 6 places (USD by convention).
    pub price: String,
    /// When the quote was taken (RFC 3339); now if absent. Not more than a minute ahead.
    #[serde(default)]
    pub at: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PricesStored {
    pub stored: u32,
    /// Quotes for an asset and instant already recorded (kept as first sent).
    pub duplicates: u32,
}

/// Validates the whole batch first (every problem reported, nothing stored on any), then stores
/// it in one transaction.
pub async fn ingest(state: &AppState, quotes: &[PriceQuote]) -> Result<PricesStored, ApiError> {
    let now = state.clock.now();
    if quotes.is_empty() || quotes.len() > MAX_BATCH {
        return Err(ApiError::Validation(vec![Reason::new(
            "batch-size",
            format!("Send between 1 and {MAX_BATCH} quotes at once."),
        )]));
    }
    let mut reasons = Vec::new();
    let mut parsed = Vec::new();
    for (i, q) in quotes.iter().enumerate() {
        let spec = asset::find(&state.config.money.assets, &q.asset);
        if spec.is_none() {
            reasons.push(Reason::new(
                "asset-unknown",
                format!("Quote {i}: unknown asset {:?}.", short(&q.asset)),
            ));
        }
        let price = Amount::parse_positive(&q.price, QUOTE_DECIMALS);
        if let Err(e) = &price {
            reasons.push(Reason::new("price-invalid", format!("Quote {i}: {e}.")));
        }
        let at = match q.at.as_deref() {
            None => Some(now),
            Some(s) => match time::OffsetDateTime::parse(s, &Rfc3339) {
                Ok(t)
                    if Timestamp::from_offset_datetime(t) <= now.plus(std::time::Duration::from_secs(60)) =>
                {
                    Some(Timestamp::from_offset_datetime(t))
                }
                Ok(_) => {
                    reasons.push(Reason::new("price-in-future", format!("Quote {i}: at is in the future.")));
                    None
                }
                Err(_) => {
                    reasons
                        .push(Reason::new("time-invalid", format!("Quote {i}: at is not an RFC 3339 time.")));
                    None
                }
            },
        };
        if let (Some(spec), Ok(price), Some(at)) = (spec, price, at) {
            parsed.push((spec.code, at, price));
        }
    }
    if !reasons.is_empty() {
        return Err(ApiError::Validation(reasons));
    }
    let mut tx = state.store.begin().await?;
    let (mut stored, mut duplicates) = (0, 0);
    for (asset, at, price) in &parsed {
        if tx.insert_price(asset, *at, *price).await? {
            stored += 1;
        } else {
            duplicates += 1;
        }
    }
    tx.commit().await?;
    Ok(PricesStored { stored, duplicates })
}

fn short(s: &str) -> String {
    s.chars().take(16).collect()
}
