//! Money settings: assets, egress-gate holds, the wallet connector's timing, service tokens.

use std::time::Duration;

use custos_core::asset::{AssetSpec, demo_assets};
use custos_core::crypto::TokenHash;
use custos_core::link_token::LinkPurpose;

use super::{ConfigError, duration, invalid};

#[derive(Debug, Clone)]
pub struct MoneyConfig {
    /// The assets and networks withdrawals may use (the demo set: BTC, ETH, USDT on ETH and TRX).
    pub assets: Vec<AssetSpec>,
    /// How long a risk hold lasts (`CUSTOS_WITHDRAWAL_HOLD`, default 24h).
    pub hold_for: Duration,
    /// A session on a device first seen less than this long ago is held (24h).
    pub new_device_age: Duration,
    /// How long the emailed confirmation link of a withdrawal works (10 minutes).
    pub confirm_ttl: Duration,
    pub wallet: WalletConfig,
    /// How long a confirmed allowlist entry cools down before it can be used
    /// (`CUSTOS_ALLOWLIST_COOLING`, default 24h).
    pub allowlist_cooling: Duration,
    /// How long after it is asked for turning the allowlist off takes effect
    /// (`CUSTOS_ALLOWLIST_DISABLE_DELAY`, default 48h); turning it on before then cancels it.
    pub allowlist_disable_delay: Duration,
    /// Integration callers: (name, SHA-256 of the token) from `CUSTOS_SERVICE_TOKENS`. Tokens made
    /// with `custos service-token create` live in the database instead.
    pub service_tokens: Vec<(String, TokenHash)>,
}

/// The simulated wallet: it broadcasts a queued withdrawal after `broadcast_delay` and sees it
/// confirmed on chain `confirm_delay` later. Tests set long delays to keep withdrawals pending.
#[derive(Debug, Clone, Copy)]
pub struct WalletConfig {
    pub broadcast_delay: Duration,
    pub confirm_delay: Duration,
    /// How often the wallet worker looks for due work.
    pub poll: Duration,
}

#[derive(Debug, Default, Clone)]
pub struct RawMoney<'a> {
    pub withdrawal_hold: Option<&'a str>,
    pub wallet_broadcast_delay: Option<&'a str>,
    pub wallet_confirm_delay: Option<&'a str>,
    pub wallet_poll: Option<&'a str>,
    pub service_tokens: Option<&'a str>,
    pub allowlist_cooling: Option<&'a str>,
    pub allowlist_disable_delay: Option<&'a str>,
}

impl MoneyConfig {
    pub fn from_raw(raw: RawMoney<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            assets: demo_assets(),
            hold_for: duration(
                "CUSTOS_WITHDRAWAL_HOLD",
                raw.withdrawal_hold,
                Duration::from_secs(24 * 3600),
            )?,
            new_device_age: Duration::from_secs(24 * 3600),
            confirm_ttl: LinkPurpose::ConfirmWithdrawal.default_ttl(),
            wallet: WalletConfig {
                broadcast_delay: duration(
                    "CUSTOS_WALLET_BROADCAST_DELAY",
                    raw.wallet_broadcast_delay,
                    Duration::from_secs(30),
                )?,
                confirm_delay: duration(
                    "CUSTOS_WALLET_CONFIRM_DELAY",
                    raw.wallet_confirm_delay,
                    Duration::from_secs(600),
                )?,
                poll: duration("CUSTOS_WALLET_POLL", raw.wallet_poll, Duration::from_secs(1))?,
            },
            allowlist_cooling: duration(
                "CUSTOS_ALLOWLIST_COOLING",
                raw.allowlist_cooling,
                custos_core::allowlist::DEFAULT_COOLING,
            )?,
            allowlist_disable_delay: duration(
                "CUSTOS_ALLOWLIST_DISABLE_DELAY",
                raw.allowlist_disable_delay,
                custos_core::allowlist::DEFAULT_DISABLE_DELAY,
            )?,
            service_tokens: parse_service_tokens(raw.service_tokens.unwrap_or(""))?,
        })
    }
}

/// `name:token,name2:token2`; tokens are at least 32 characters and only their hashes are kept.
fn parse_service_tokens(s: &str) -> Result<Vec<(String, TokenHash)>, ConfigError> {
    s.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let (name, token) = entry.split_once(':').ok_or_else(|| {
                invalid("CUSTOS_SERVICE_TOKENS", "use name:token pairs separated by commas")
            })?;
            if name.is_empty() || token.len() < 32 {
                return Err(invalid(
                    "CUSTOS_SERVICE_TOKENS",
                    format!("{name:?}: a name and a token of at least 32 characters are needed"),
                ));
            }
            Ok((name.to_owned(), TokenHash::of(token.as_bytes())))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_tokens_are_kept_as_hashes_and_short_ones_are_refused() {
        let t = "x".repeat(32);
        let parsed = parse_service_tokens(&format!("ledger:{t}, wallet:{t}y")).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0], ("ledger".to_owned(), TokenHash::of(t.as_bytes())));
        assert!(parse_service_tokens("ledger:short").is_err());
        assert!(parse_service_tokens("no-colon").is_err());
        assert!(parse_service_tokens("").unwrap().is_empty());
    }
}
